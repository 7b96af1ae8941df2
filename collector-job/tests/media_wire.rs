//! Media downloads on the wire: the real grammers source (`Telegram`) against the fake DC's
//! file API over loopback TCP, part by part as Telegram requires, every byte compared with
//! what the fake DC serves, through each fault the file API has.

use std::time::Duration;

use collector_job::store::model::StoredChannel;
use collector_job::telegram::client::{MAX_PART, Telegram};
use collector_job::telegram::session::SessionBlob;
use collector_job::telegram::source::{DownloadError, RemoteFile, Source};
use contract::channel::ChannelRef;
use contract::media::MediaKind;
use fake_dc::files::{self, MIB};
use fake_dc::{Account, Channel, FakeDc, Fault, FaultRule, File, FileKind, Outcome, Scenario};

const USER: i64 = 777_000_001;
const ALPHA: i64 = 1001;
const KIB: u64 = 1024;

/// Files on messages 1.. of `@alpha`; the channel has 20 messages.
fn scenario(files: &[File]) -> Scenario {
    let channel = files
        .iter()
        .fold(Channel::new(ALPHA, "alpha", 20), |channel, file| {
            channel.file(file.clone())
        });
    Scenario::new().account(Account::new(USER)).channel(channel)
}

struct Session {
    telegram: Telegram,
    channel: StoredChannel,
}

async fn connect(dc: &FakeDc) -> Session {
    let blob = SessionBlob::decode(&dc.session(USER).unwrap(), "fake.session").unwrap();
    let (mut telegram, _notices) = Telegram::start(blob, 12345, Duration::from_secs(60));
    let resolved = telegram
        .resolve(&ChannelRef::Username("alpha".into()))
        .await
        .expect("@alpha resolves");
    let channel = StoredChannel {
        id: resolved.id,
        access_hash: resolved.access_hash,
        legacy_hash: false,
        username: resolved.username,
        title: resolved.title,
        checkpoint: 0,
    };
    Session { telegram, channel }
}

impl Session {
    /// The file message `id` carries now, as `channels.getMessages` hands it out.
    async fn file_of(&mut self, id: i64) -> Option<RemoteFile> {
        let batch = self
            .telegram
            .fetch_by_id(&self.channel, &[id])
            .await
            .expect("channels.getMessages");
        batch.files.into_iter().find(|f| f.message_id == id)
    }

    /// Downloads `file` in parts of `limit`, comparing each part with the content the fake DC
    /// serves, as the pipeline would: an expired reference is refreshed by re-reading the
    /// message and the download goes on from the same offset. Returns the bytes downloaded
    /// and how often the reference was refreshed.
    async fn download(&mut self, file: &RemoteFile, file_id: i64, limit: u32) -> (u64, usize) {
        let mut file = file.clone();
        let (mut offset, mut refreshed) = (0, 0);
        loop {
            let part = match self.telegram.download_part(&file, offset, limit).await {
                Ok(part) => part,
                Err(DownloadError::ReferenceExpired) if refreshed < 3 => {
                    refreshed += 1;
                    let fresh = self.file_of(file.message_id).await.expect("still there");
                    assert_ne!(fresh.location, file.location, "a new reference");
                    assert_eq!(fresh.telegram_key, file.telegram_key);
                    file = fresh;
                    continue;
                }
                Err(e) => panic!("part at {offset} of {}: {e}", file.telegram_key),
            };
            let expected = files::content(file_id, file.size, offset, u64::from(limit));
            assert!(
                part == expected,
                "part at {offset} of {} ({} bytes, {} expected) differs",
                file.telegram_key,
                part.len(),
                expected.len()
            );
            offset += part.len() as u64;
            if part.len() < limit as usize {
                return (offset, refreshed);
            }
        }
    }
}

/// The `upload.getFile` requests served so far: (DC, file id, offset, outcome).
fn parts(dc: &FakeDc) -> Vec<(i32, i64, i64, Outcome)> {
    dc.served()
        .into_iter()
        .filter_map(|s| s.part.map(|p| (s.dc_id, p.file_id, p.offset, s.outcome)))
        .collect()
}

fn count(dc: &FakeDc, method: &str) -> usize {
    dc.served().iter().filter(|s| s.method == method).count()
}

#[tokio::test]
async fn files_of_every_size_download_byte_for_byte_in_parts() {
    let sizes = [0, 1_000, 4 * KIB, MIB, MIB + 1, 3 * MIB + 12_345];
    let kinds = [
        FileKind::Document,
        FileKind::Photo,
        FileKind::Voice,
        FileKind::Video,
        FileKind::Audio,
        FileKind::Animation,
    ];
    let files: Vec<File> = sizes
        .iter()
        .zip(kinds)
        .enumerate()
        .map(|(i, (&size, kind))| File::new(i as i32 + 1, 500 + i as i64, kind, size))
        .collect();
    let dc = FakeDc::start(scenario(&files)).await.unwrap();
    let mut session = connect(&dc).await;
    let ids: Vec<i64> = (1..=files.len() as i64).collect();
    let batch = session
        .telegram
        .fetch_by_id(&session.channel, &ids)
        .await
        .unwrap();
    assert_eq!(
        batch
            .files
            .iter()
            .map(|f| (f.message_id, f.size, f.kind))
            .collect::<Vec<_>>(),
        vec![
            (1, 0, MediaKind::Document),
            (2, 1_000, MediaKind::Photo),
            (3, 4 * KIB, MediaKind::Voice),
            (4, MIB, MediaKind::Video),
            (5, MIB + 1, MediaKind::Audio),
            (6, 3 * MIB + 12_345, MediaKind::Animation),
        ]
    );
    for limit in [256 * KIB as u32, MAX_PART] {
        for (remote, spec) in batch.files.iter().zip(&files) {
            let (downloaded, refreshed) = session.download(remote, spec.id, limit).await;
            assert_eq!((downloaded, refreshed), (spec.size, 0), "{}", spec.size);
        }
    }
    // Parts for a file of exactly 1 MiB: full parts, then an empty one that ends it.
    let one_mib: Vec<i64> = parts(&dc)
        .into_iter()
        .filter(|p| p.1 == 503)
        .map(|p| p.2 / KIB as i64)
        .collect();
    assert_eq!(one_mib, vec![0, 256, 512, 768, 1024, 0, 512, 1024]);
    assert!(
        parts(&dc)
            .iter()
            .all(|p| matches!(p.3, Outcome::Answered { .. })),
        "no part was refused"
    );
}

#[tokio::test]
async fn telegrams_part_rules_are_enforced_and_reported_as_rpc_errors() {
    let file = File::new(1, 700, FileKind::Document, 3 * MIB);
    let dc = FakeDc::start(scenario(&[file])).await.unwrap();
    let mut session = connect(&dc).await;
    let remote = session.file_of(1).await.unwrap();
    for (offset, limit, refused) in [
        (4096, 12 * 1024, "LIMIT_INVALID"),
        (100, 4096, "OFFSET_INVALID"),
        (MIB - 4096, 8192, "LIMIT_INVALID"),
    ] {
        let error = session
            .telegram
            .download_part(&remote, offset, limit)
            .await
            .unwrap_err();
        assert!(
            error.to_string().contains(refused),
            "{offset}+{limit}: {error}"
        );
    }
    // Past the end: no bytes.
    let past = session
        .telegram
        .download_part(&remote, 4 * MIB, MAX_PART)
        .await
        .unwrap();
    assert!(past.is_empty());
    // Telegram allows 1 MiB parts, but grammers cannot receive one: refused before sending,
    // and the connection lives on.
    let served = dc.served().len();
    let error = session
        .telegram
        .download_part(&remote, 0, MIB as u32)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("at most 524288"), "{error}");
    assert_eq!(dc.served().len(), served);
    let (downloaded, _) = session.download(&remote, 700, MAX_PART).await;
    assert_eq!(downloaded, 3 * MIB);
}

#[tokio::test]
async fn a_flood_wait_and_a_dropped_connection_mid_file_are_survived() {
    let file = File::new(2, 801, FileKind::Video, 3 * MIB + 5);
    let dc = FakeDc::start(scenario(std::slice::from_ref(&file)))
        .await
        .unwrap();
    dc.arm(FaultRule::new("upload.getFile", 2, Fault::FloodWait(1)).file(801));
    dc.arm(FaultRule::new("upload.getFile", 4, Fault::DropConnection).file(801));
    let mut session = connect(&dc).await;
    let remote = session.file_of(2).await.unwrap();
    let (downloaded, _) = session.download(&remote, 801, MAX_PART).await;
    assert_eq!(downloaded, file.size);
    let offsets: Vec<(i64, bool)> = parts(&dc)
        .into_iter()
        .map(|p| {
            (
                p.2 / MAX_PART as i64,
                matches!(p.3, Outcome::Answered { .. }),
            )
        })
        .collect();
    assert_eq!(
        offsets,
        vec![
            (0, true),
            (1, false),
            (1, true),
            (2, false),
            (2, true),
            (3, true),
            (4, true),
            (5, true),
            (6, true)
        ],
        "each refused part asked again, none skipped"
    );
    let outcomes: Vec<Outcome> = parts(&dc).into_iter().map(|p| p.3).collect();
    assert_eq!(
        outcomes[1],
        Outcome::Error {
            code: 420,
            message: "FLOOD_WAIT_1".into()
        }
    );
    assert_eq!(outcomes[3], Outcome::Dropped);
}

#[tokio::test]
async fn an_expired_reference_is_refreshed_by_reading_the_message_again() {
    let file = File::new(3, 901, FileKind::Document, 2 * MIB + 77);
    let dc = FakeDc::start(scenario(std::slice::from_ref(&file)))
        .await
        .unwrap();
    dc.arm(FaultRule::new("upload.getFile", 3, Fault::ExpireReference).file(901));
    let mut session = connect(&dc).await;
    let stale = session.file_of(3).await.unwrap();
    let (downloaded, refreshed) = session.download(&stale, 901, MAX_PART).await;
    assert_eq!((downloaded, refreshed), (file.size, 1));
    let offsets: Vec<i64> = parts(&dc).into_iter().map(|p| p.2).collect();
    let half = 512 * KIB as i64;
    assert_eq!(
        offsets,
        vec![0, half, 2 * half, 2 * half, 3 * half, 4 * half],
        "the download went on from the offset that was refused"
    );
    assert_eq!(count(&dc, "channels.getMessages"), 2);
    // The old reference stays refused.
    assert_eq!(
        session.telegram.download_part(&stale, 0, 4096).await,
        Err(DownloadError::ReferenceExpired)
    );
    // A deleted message is absent from the answer.
    dc.delete(ALPHA, &[3]);
    let batch = session
        .telegram
        .fetch_by_id(&session.channel, &[3, 4])
        .await
        .unwrap();
    assert_eq!(
        batch.messages.iter().map(|m| m.id).collect::<Vec<_>>(),
        vec![4]
    );
    assert!(batch.files.iter().all(|f| f.message_id != 3));
}

#[tokio::test]
async fn a_file_on_another_dc_is_fetched_there_with_the_authorization_copied_once() {
    let first = File::new(4, 1_001, FileKind::Photo, 700 * KIB).on_dc(4);
    let second = File::new(5, 1_002, FileKind::Document, MIB + 3).on_dc(4);
    let dc = FakeDc::start(scenario(&[first.clone(), second.clone()]))
        .await
        .unwrap();
    assert_eq!(dc.addresses().len(), 2, "DC 2 and DC 4 listen");
    let mut session = connect(&dc).await;
    let photo = session.file_of(4).await.unwrap();
    assert_eq!(photo.location.dc_id, 4);
    let (downloaded, _) = session.download(&photo, 1_001, MAX_PART).await;
    assert_eq!(downloaded, first.size);

    // A location that names the wrong DC: home answers FILE_MIGRATE_4, later parts go to 4.
    let mut misplaced = session.file_of(5).await.unwrap();
    misplaced.location.dc_id = 2;
    let (downloaded, _) = session.download(&misplaced, 1_002, MAX_PART).await;
    assert_eq!(downloaded, second.size);

    assert_eq!(count(&dc, "auth.exportAuthorization"), 1);
    assert_eq!(count(&dc, "auth.importAuthorization"), 1);
    let served = parts(&dc);
    let unauthorized = Outcome::Error {
        code: 401,
        message: "AUTH_KEY_UNREGISTERED".into(),
    };
    let migrate = Outcome::Error {
        code: 303,
        message: "FILE_MIGRATE_4".into(),
    };
    assert_eq!(served[0], (4, 1_001, 0, unauthorized));
    assert_eq!(
        served
            .iter()
            .filter(|p| p.1 == 1_002)
            .map(|p| (p.0, p.2, p.3 == migrate))
            .collect::<Vec<_>>(),
        vec![
            (2, 0, true),
            (4, 0, false),
            (4, 512 * KIB as i64, false),
            (4, MIB as i64, false)
        ],
        "one migration, then every part on DC 4"
    );
}

#[tokio::test]
async fn the_other_dcs_address_is_learned_from_help_get_config() {
    let file = File::new(4, 1_003, FileKind::Audio, 5_000).on_dc(4);
    let dc = FakeDc::start(scenario(std::slice::from_ref(&file)))
        .await
        .unwrap();
    // A session that knows DC 4's key but an address where nothing listens (port 9, discard),
    // as one written before that DC moved: the config the home DC sends on connect corrects it.
    let port = dc.addresses()[1].1.port();
    let text = dc
        .session(USER)
        .unwrap()
        .replace(&format!("127.0.0.1:{port}\""), "127.0.0.1:9\"")
        .replace(
            &format!("[::ffff:127.0.0.1]:{port}\""),
            "[::ffff:127.0.0.1]:9\"",
        );
    assert!(
        !text.contains(&format!(":{port}\"")),
        "DC 4's address replaced"
    );
    let blob = SessionBlob::decode(&text, "stale.session").unwrap();
    let (mut telegram, _notices) = Telegram::start(blob, 12345, Duration::from_secs(60));
    let resolved = telegram
        .resolve(&ChannelRef::Username("alpha".into()))
        .await
        .unwrap();
    let mut session = Session {
        telegram,
        channel: StoredChannel {
            id: resolved.id,
            access_hash: resolved.access_hash,
            legacy_hash: false,
            username: None,
            title: None,
            checkpoint: 0,
        },
    };
    let remote = session.file_of(4).await.unwrap();
    let (downloaded, _) = session.download(&remote, 1_003, MAX_PART).await;
    assert_eq!(downloaded, 5_000);
    assert!(
        parts(&dc)
            .iter()
            .any(|p| p.0 == 4 && matches!(p.3, Outcome::Answered { .. }))
    );
}

/// The process's resident set now and at its peak, in bytes (Linux).
fn rss() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| {
                rest.trim()
                    .trim_end_matches(" kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
            .unwrap()
            * 1024
    };
    (field("VmRSS:"), field("VmHWM:"))
}

#[tokio::test]
async fn a_large_file_streams_in_flat_memory() {
    const SIZE: u64 = 256 * MIB + 4_321;
    let dc = FakeDc::start(scenario(&[File::new(6, 1_100, FileKind::Video, SIZE)]))
        .await
        .unwrap();
    let mut session = connect(&dc).await;
    let remote = session.file_of(6).await.unwrap();
    let (before, _) = rss();
    let (downloaded, _) = session.download(&remote, 1_100, MAX_PART).await;
    let (_, peak) = rss();
    assert_eq!(downloaded, SIZE);
    let grown = peak.saturating_sub(before);
    eprintln!(
        "RSS before {} MiB, peak {} MiB, for a {} MiB file",
        before / MIB,
        peak / MIB,
        SIZE / MIB
    );
    assert!(
        grown < 48 * MIB,
        "peak RSS grew by {} MiB for a {} MiB file",
        grown / MIB,
        SIZE / MIB
    );
}
