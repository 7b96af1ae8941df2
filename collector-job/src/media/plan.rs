//! What to do with a file a message carries, and how to read it in parts: plain functions of
//! the settings, what is stored and what the run has spent.

use chrono::{DateTime, Utc};
use contract::media::{MediaKind, MediaSettings};

/// Bytes asked for per `upload.getFile`: Telegram wants a multiple of 4 KiB that divides
/// 1 MiB, at an offset that is a multiple of it; 512 KiB is the largest every client may ask.
pub const PART_LIMIT: u32 = 512 * 1024;

/// Re-reads of a message for a fresh file reference, per file, before it counts as failed.
pub const MAX_REFRESHES: u32 = 3;

/// Messages re-read with `fetch_by_id` per request (Telegram's maximum).
pub const RESUME_BATCH: usize = 100;

/// Files left by earlier runs looked at per channel and run.
pub const RESUME_LIMIT: i64 = 1_000;

/// Whether the collection wants the files of this kind, in a message sent at `date`.
pub fn wanted(settings: &MediaSettings, kind: MediaKind, date: DateTime<Utc>) -> bool {
    settings.kinds.contains(&kind) && settings.newer_than.is_none_or(|after| date > after)
}

/// What happens to a wanted file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Its content is stored already (file id in `media_files`): link the message to it.
    Link(i64),
    /// Larger than `maxFileSize`: never downloaded.
    TooBig,
    /// It would take the run past `maxBytesPerRun`: a later run gets it.
    OverBudget,
    Download,
}

/// Decides about a wanted file of `size` bytes: `stored` is the stored file its Telegram key
/// names, `spent` the bytes this run has downloaded so far.
pub fn decide(settings: &MediaSettings, size: u64, stored: Option<i64>, spent: u64) -> Decision {
    if let Some(file) = stored {
        return Decision::Link(file);
    }
    if settings.max_file_size.is_some_and(|max| size > max) {
        return Decision::TooBig;
    }
    if settings
        .max_bytes_per_run
        .is_some_and(|budget| spent.saturating_add(size) > budget)
    {
        return Decision::OverBudget;
    }
    Decision::Download
}

/// What a part read at `offset` means for the download of a file of `size` bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartOutcome {
    /// Read the next part at this offset.
    Next(u64),
    /// The file is complete.
    Done,
    /// The source sent more than asked, or the file does not end at its stated size.
    Mismatch { received: u64 },
}

/// After `received` bytes of a part asked at `offset` with [`PART_LIMIT`]: a short part ends
/// the file, which must then be exactly `size` bytes; a full part at the stated size ends it
/// too (no empty read past the end).
pub fn after_part(size: u64, offset: u64, received: usize) -> PartOutcome {
    let total = offset + received as u64;
    if received > PART_LIMIT as usize || total > size {
        return PartOutcome::Mismatch { received: total };
    }
    if received < PART_LIMIT as usize || total == size {
        return if total == size {
            PartOutcome::Done
        } else {
            PartOutcome::Mismatch { received: total }
        };
    }
    PartOutcome::Next(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use contract::media::MediaStore;

    fn settings() -> MediaSettings {
        MediaSettings {
            kinds: vec![MediaKind::Photo, MediaKind::Video],
            max_file_size: Some(1_000),
            max_bytes_per_run: Some(5_000),
            newer_than: Some(at(100)),
            store: MediaStore::Directory { path: "/m".into() },
        }
    }

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + seconds, 0).unwrap()
    }

    #[test]
    fn only_the_chosen_kinds_of_messages_after_newer_than_are_wanted() {
        let s = settings();
        assert!(wanted(&s, MediaKind::Photo, at(101)));
        assert!(!wanted(&s, MediaKind::Photo, at(100)));
        assert!(!wanted(&s, MediaKind::Voice, at(500)));
        let all_dates = MediaSettings {
            newer_than: None,
            ..settings()
        };
        assert!(wanted(&all_dates, MediaKind::Video, at(-1_000)));
    }

    #[test]
    fn decisions_in_order_stored_too_big_over_budget() {
        let s = settings();
        let table = [
            // (size, stored, spent, decision)
            (10, Some(7), 0, Decision::Link(7)),
            (5_000, Some(7), 5_000, Decision::Link(7)),
            (1_001, None, 0, Decision::TooBig),
            (1_000, None, 0, Decision::Download),
            (1_000, None, 4_000, Decision::Download),
            (1_000, None, 4_001, Decision::OverBudget),
            (1, None, 5_000, Decision::OverBudget),
            (0, None, 5_000, Decision::Download),
        ];
        for (size, stored, spent, expected) in table {
            assert_eq!(
                decide(&s, size, stored, spent),
                expected,
                "{size} {stored:?} {spent}"
            );
        }
        let unlimited = MediaSettings {
            max_file_size: None,
            max_bytes_per_run: None,
            ..settings()
        };
        assert_eq!(
            decide(&unlimited, u64::MAX, None, u64::MAX),
            Decision::Download
        );
    }

    #[test]
    fn parts_follow_telegrams_rules() {
        assert_eq!(PART_LIMIT % 4096, 0);
        assert_eq!((1 << 20) % PART_LIMIT, 0);
    }

    #[test]
    fn a_short_part_or_the_stated_size_ends_the_file() {
        let limit = PART_LIMIT as usize;
        let part = PART_LIMIT as u64;
        assert_eq!(after_part(3 * part, 0, limit), PartOutcome::Next(part));
        assert_eq!(after_part(2 * part, part, limit), PartOutcome::Done);
        assert_eq!(after_part(part + 5, part, 5), PartOutcome::Done);
        assert_eq!(after_part(0, 0, 0), PartOutcome::Done);
        // Ends early, runs long, or sends more than asked.
        assert_eq!(
            after_part(part + 5, part, 4),
            PartOutcome::Mismatch { received: part + 4 }
        );
        assert_eq!(
            after_part(10, 0, 11),
            PartOutcome::Mismatch { received: 11 }
        );
        assert_eq!(
            after_part(10 * part, 0, limit + 1),
            PartOutcome::Mismatch { received: part + 1 }
        );
    }
}
