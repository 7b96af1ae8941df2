//! Files the fake DC serves through `upload.getFile`: their content (a pure function of the
//! file id and the offset, so a 2 GB file costs no memory and a test recomputes any byte),
//! their file references (which rotate when a scenario expires them), and Telegram's rules for
//! a part (<https://core.telegram.org/api/files>).

use grammers_tl_types as tl;
use sha2::{Digest, Sha256};

use crate::answer::PHOTO_SIZE_TYPE;
use crate::scenario::{File, FileKind, mix};

/// One MiB: no part may cross a multiple of it, and every limit divides it.
pub const MIB: u64 = 1 << 20;

/// The bytes of file `file_id` from `offset`, as many as `buf` holds. Byte `p` of a file is
/// byte `p % 8` (little endian) of a 64-bit mix of the file id and `p / 8`.
pub fn fill(file_id: i64, offset: u64, buf: &mut [u8]) {
    let seed = mix(file_id as u64 ^ 0xf11e_c0de) as u64;
    let mut position = offset;
    let mut at = 0;
    while at < buf.len() {
        let word = mix(seed ^ (position / 8)).to_le_bytes();
        let from = (position % 8) as usize;
        let take = (8 - from).min(buf.len() - at);
        buf[at..at + take].copy_from_slice(&word[from..from + take]);
        at += take;
        position += take as u64;
    }
}

/// `len` bytes of file `file_id` from `offset` (fewer, or none, past its `size`).
pub fn content(file_id: i64, size: u64, offset: u64, len: u64) -> Vec<u8> {
    let end = size.min(offset.saturating_add(len));
    let mut bytes = vec![0; end.saturating_sub(offset) as usize];
    fill(file_id, offset, &mut bytes);
    bytes
}

/// The SHA-256 of a whole file of `size` bytes, computed in 1 MiB steps.
pub fn sha256(file_id: i64, size: u64) -> [u8; 32] {
    let mut hasher = Sha256::new();
    let mut chunk = vec![0; MIB as usize];
    let mut offset = 0;
    while offset < size {
        let len = (size - offset).min(MIB) as usize;
        fill(file_id, offset, &mut chunk[..len]);
        hasher.update(&chunk[..len]);
        offset += len as u64;
    }
    hasher.finalize().into()
}

/// The file reference messages carry for a file after `generation` expiries.
pub fn reference(file_id: i64, generation: u32) -> Vec<u8> {
    let mut bytes = b"ref".to_vec();
    bytes.extend_from_slice(&mix(file_id as u64 ^ (u64::from(generation) << 32)).to_le_bytes());
    bytes
}

/// The access hash of a photo or document (the same for every account, as Telegram's are
/// only bound to the file reference's context).
pub fn access_hash(file_id: i64) -> i64 {
    mix(file_id as u64 ^ 0x00ac_ce55)
}

/// Why a part request is refused, as Telegram names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartError {
    LimitInvalid,
    OffsetInvalid,
}

impl PartError {
    pub fn name(self) -> &'static str {
        match self {
            Self::LimitInvalid => "LIMIT_INVALID",
            Self::OffsetInvalid => "OFFSET_INVALID",
        }
    }
}

/// Telegram's rules for `upload.getFile`'s `offset` and `limit`: both multiples of 4 KiB
/// (1 KiB with `precise`), `limit` dividing 1 MiB (without `precise`), and the part inside
/// one MiB.
pub fn check_part(offset: i64, limit: i32, precise: bool) -> Result<(), PartError> {
    let Ok(offset) = u64::try_from(offset) else {
        return Err(PartError::OffsetInvalid);
    };
    let limit = match u64::try_from(limit) {
        Ok(limit) if limit > 0 && limit <= MIB => limit,
        _ => return Err(PartError::LimitInvalid),
    };
    let granularity = if precise { 1024 } else { 4096 };
    if !limit.is_multiple_of(granularity) || (!precise && !MIB.is_multiple_of(limit)) {
        return Err(PartError::LimitInvalid);
    }
    if !offset.is_multiple_of(granularity) {
        return Err(PartError::OffsetInvalid);
    }
    if offset / MIB != (offset + limit - 1) / MIB {
        return Err(PartError::LimitInvalid);
    }
    Ok(())
}

/// The storage type `upload.file` names for a MIME type.
pub fn storage_type(mime_type: &str) -> tl::enums::storage::FileType {
    use tl::enums::storage::FileType as T;
    match mime_type {
        "image/jpeg" => T::FileJpeg,
        "image/png" => T::FilePng,
        "image/gif" => T::FileGif,
        "image/webp" => T::FileWebp,
        "application/pdf" => T::FilePdf,
        "audio/mpeg" => T::FileMp3,
        "video/mp4" => T::FileMp4,
        "video/quicktime" => T::FileMov,
        _ => T::FilePartial,
    }
}

/// The photo or document id an `InputFileLocation` names, if it names one.
pub fn location_id(location: &tl::enums::InputFileLocation) -> Option<i64> {
    match location {
        tl::enums::InputFileLocation::InputPhotoFileLocation(l) => Some(l.id),
        tl::enums::InputFileLocation::InputDocumentFileLocation(l) => Some(l.id),
        _ => None,
    }
}

/// An `upload.getFile` refused: the RPC error's code and message.
pub type Refusal = (i32, String);

fn refused(code: i32, message: &str) -> Refusal {
    (code, message.to_owned())
}

/// What `upload.getFile` answers on DC `this_dc` for `file` (the file its location names),
/// whose current reference is `reference`; `home_dc` holds files without a DC of their own.
pub fn part(
    request: &tl::functions::upload::GetFile,
    file: &File,
    reference: &[u8],
    this_dc: i32,
    home_dc: i32,
    now: i32,
) -> Result<tl::enums::upload::File, Refusal> {
    check_part(request.offset, request.limit, request.precise)
        .map_err(|e| refused(400, e.name()))?;
    let (access_hash, file_reference, wanted) = match &request.location {
        tl::enums::InputFileLocation::InputPhotoFileLocation(l) if file.kind == FileKind::Photo => {
            (
                l.access_hash,
                &l.file_reference,
                l.thumb_size == PHOTO_SIZE_TYPE,
            )
        }
        tl::enums::InputFileLocation::InputDocumentFileLocation(l)
            if file.kind != FileKind::Photo =>
        {
            (l.access_hash, &l.file_reference, l.thumb_size.is_empty())
        }
        _ => return Err(refused(400, "LOCATION_INVALID")),
    };
    // Only a photo's largest size and a document itself are served, not thumbnails.
    if access_hash != self::access_hash(file.id) || !wanted {
        return Err(refused(400, "LOCATION_INVALID"));
    }
    let lives_in = file.dc_id.unwrap_or(home_dc);
    if lives_in != this_dc {
        return Err(refused(303, &format!("FILE_MIGRATE_{lives_in}")));
    }
    if file_reference.as_slice() != reference {
        return Err(refused(400, "FILE_REFERENCE_EXPIRED"));
    }
    // check_part proved both non-negative.
    let (offset, limit) = (request.offset as u64, request.limit as u64);
    Ok(tl::enums::upload::File::File(tl::types::upload::File {
        r#type: storage_type(file.mime_type()),
        mtime: now,
        bytes: content(file.id, file.size, offset, limit),
    }))
}

/// What a message says about its file's kind, as Telegram's photo or document attributes.
pub fn default_mime_type(kind: FileKind) -> &'static str {
    match kind {
        FileKind::Photo => "image/jpeg",
        FileKind::Video | FileKind::Round | FileKind::Animation => "video/mp4",
        FileKind::Voice => "audio/ogg",
        FileKind::Audio => "audio/mpeg",
        FileKind::Sticker => "image/webp",
        FileKind::Document => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_is_the_same_however_it_is_cut() {
        let whole = content(7, 100, 0, 100);
        assert_eq!(whole.len(), 100);
        for (offset, len) in [(0, 1), (3, 9), (8, 8), (13, 50), (99, 10)] {
            let part = content(7, 100, offset, len);
            let end = (offset + len).min(100) as usize;
            assert_eq!(part, whole[offset as usize..end], "{offset}+{len}");
        }
        assert!(content(7, 100, 100, 10).is_empty());
        assert!(content(7, 100, 500, 10).is_empty());
        assert_ne!(content(8, 100, 0, 100), whole, "another file, other bytes");
    }

    #[test]
    fn the_digest_is_the_digest_of_the_content() {
        for size in [0, 1, 4095, MIB + 1] {
            let bytes = content(9, size, 0, size);
            assert_eq!(sha256(9, size), <[u8; 32]>::from(Sha256::digest(&bytes)));
        }
    }

    #[test]
    fn parts_follow_telegrams_rules() {
        assert_eq!(check_part(0, 512 * 1024, false), Ok(()));
        assert_eq!(check_part(512 * 1024, 512 * 1024, false), Ok(()));
        assert_eq!(check_part(3 * MIB as i64, MIB as i32, false), Ok(()));
        assert_eq!(check_part(4096, 4096, false), Ok(()));
        // 12 KiB is a multiple of 4 KiB but does not divide 1 MiB.
        assert_eq!(
            check_part(0, 12 * 1024, false),
            Err(PartError::LimitInvalid)
        );
        assert_eq!(check_part(0, 1000, false), Err(PartError::LimitInvalid));
        assert_eq!(check_part(0, 0, false), Err(PartError::LimitInvalid));
        assert_eq!(
            check_part(0, 2 * MIB as i32, false),
            Err(PartError::LimitInvalid)
        );
        assert_eq!(check_part(100, 4096, false), Err(PartError::OffsetInvalid));
        assert_eq!(
            check_part(-4096, 4096, false),
            Err(PartError::OffsetInvalid)
        );
        // Aligned to 4 KiB, but the part crosses the first MiB.
        assert_eq!(
            check_part(MIB as i64 - 4096, 8192, false),
            Err(PartError::LimitInvalid)
        );
        assert_eq!(check_part(1024, 3 * 1024, true), Ok(()));
        assert_eq!(
            check_part(1024, 3 * 1024, false),
            Err(PartError::LimitInvalid)
        );
        assert_eq!(
            check_part(MIB as i64 - 1024, 2048, true),
            Err(PartError::LimitInvalid)
        );
    }

    fn get_file(
        location: tl::enums::InputFileLocation,
        offset: i64,
        limit: i32,
    ) -> tl::functions::upload::GetFile {
        tl::functions::upload::GetFile {
            precise: false,
            cdn_supported: false,
            location,
            offset,
            limit,
        }
    }

    fn document_location(file: &File, reference: Vec<u8>) -> tl::enums::InputFileLocation {
        tl::enums::InputFileLocation::InputDocumentFileLocation(
            tl::types::InputDocumentFileLocation {
                id: file.id,
                access_hash: access_hash(file.id),
                file_reference: reference,
                thumb_size: String::new(),
            },
        )
    }

    fn bytes(answer: Result<tl::enums::upload::File, Refusal>) -> Vec<u8> {
        match answer {
            Ok(tl::enums::upload::File::File(f)) => f.bytes,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_part_is_served_from_where_the_file_lives_with_its_current_reference() {
        let file = File::new(1, 77, FileKind::Document, MIB + 10);
        let current = reference(77, 0);
        let request =
            |offset, reference| get_file(document_location(&file, reference), offset, MIB as i32);
        assert_eq!(
            bytes(part(&request(0, current.clone()), &file, &current, 2, 2, 0)),
            content(77, file.size, 0, MIB)
        );
        assert_eq!(
            bytes(part(
                &request(MIB as i64, current.clone()),
                &file,
                &current,
                2,
                2,
                0
            )),
            content(77, file.size, MIB, 10)
        );
        assert!(
            bytes(part(
                &request(2 * MIB as i64, current.clone()),
                &file,
                &current,
                2,
                2,
                0
            ))
            .is_empty()
        );
        assert_eq!(
            part(
                &request(0, reference(77, 0)),
                &file,
                &reference(77, 1),
                2,
                2,
                0
            )
            .unwrap_err(),
            (400, "FILE_REFERENCE_EXPIRED".to_owned())
        );
        let elsewhere = file.clone().on_dc(4);
        assert_eq!(
            part(&request(0, current.clone()), &elsewhere, &current, 2, 2, 0).unwrap_err(),
            (303, "FILE_MIGRATE_4".to_owned())
        );
        assert!(part(&request(0, current.clone()), &elsewhere, &current, 4, 2, 0).is_ok());
        let misaligned = get_file(document_location(&file, current.clone()), 100, 4096);
        assert_eq!(
            part(&misaligned, &file, &current, 2, 2, 0).unwrap_err(),
            (400, "OFFSET_INVALID".to_owned())
        );
        let photo = File::new(1, 77, FileKind::Photo, 10);
        assert_eq!(
            part(&request(0, current.clone()), &photo, &current, 2, 2, 0).unwrap_err(),
            (400, "LOCATION_INVALID".to_owned()),
            "a photo is not a document"
        );
    }

    #[test]
    fn references_rotate() {
        assert_ne!(reference(5, 0), reference(5, 1));
        assert_ne!(reference(5, 0), reference(6, 0));
        assert_eq!(reference(5, 1), reference(5, 1));
    }
}
