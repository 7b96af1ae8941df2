//! The file an export message names. Telegram Desktop writes a message's photo or file beside
//! `result.json` (`photos/`, `files/`, `video_files/`, `voice_messages/`, `stickers/`, ...)
//! and names it by a path relative to it, or says it left the file out. Pure: the message's
//! media as the mapping keeps it in, the file's path, kind and mime type out.

use std::path::PathBuf;

use contract::media::MediaKind;
use serde_json::Value;

use crate::store::model::Media;

/// How Telegram Desktop begins what it writes instead of a path for a file it did not
/// export: `(File not included. Change data exporting settings to download.)`, `(File exceeds
/// maximum size. ...)`, `(File unavailable, please try again later)`.
const LEFT_OUT: &str = "(File ";

/// The file a message names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExportFile {
    /// At `path`, relative to the export's directory and never outside it.
    Included {
        path: PathBuf,
        kind: MediaKind,
        mime_type: Option<String>,
    },
    /// The exporter left it out (its settings, or the file's size).
    LeftOut { kind: MediaKind },
}

impl ExportFile {
    pub fn kind(&self) -> MediaKind {
        match self {
            Self::Included { kind, .. } | Self::LeftOut { kind } => *kind,
        }
    }
}

/// The file `media` names, if any. A path that leads outside the export's directory (an
/// absolute one, or one through `..`) is refused: the error says so, without the path. A
/// message's thumbnail is not its file and is not named here.
pub fn named(media: &Media) -> Result<Option<ExportFile>, String> {
    let metadata = &media.metadata;
    let text = |key: &str| metadata.get(key).and_then(Value::as_str);
    let (path, kind, mime_type) = match media.kind.as_str() {
        "photo" => {
            let path = text("photo");
            let jpeg = path.is_some_and(|p| {
                let p = p.to_ascii_lowercase();
                p.ends_with(".jpg") || p.ends_with(".jpeg")
            });
            (path, MediaKind::Photo, jpeg.then_some("image/jpeg"))
        }
        "document" => (
            text("file"),
            document_kind(text("media_type")),
            text("mime_type"),
        ),
        _ => return Ok(None),
    };
    let Some(path) = path else {
        return Ok(None);
    };
    if path.is_empty() || path.starts_with(LEFT_OUT) {
        return Ok(Some(ExportFile::LeftOut { kind }));
    }
    if escapes(path) {
        return Err(
            "the file it names is outside the export's directory (an absolute path, or one \
             through \"..\")"
                .to_owned(),
        );
    }
    Ok(Some(ExportFile::Included {
        path: PathBuf::from(path),
        kind,
        mime_type: mime_type.map(str::to_owned),
    }))
}

/// Whether `path` leaves the directory it is relative to: rooted (`/x`, `\x`, `C:...`) or
/// through a `..` part, with either separator (an export made on Windows is read here too).
fn escapes(path: &str) -> bool {
    let mut parts = path.split(['/', '\\']);
    let first = parts.next().unwrap_or_default();
    first.is_empty() || first.contains(':') || first == ".." || parts.any(|part| part == "..")
}

/// A document's kind from the exporter's `media_type`, as `collect` tells them apart by their
/// attributes (a round video message is a video).
fn document_kind(media_type: Option<&str>) -> MediaKind {
    match media_type {
        Some("sticker") => MediaKind::Sticker,
        Some("animation") => MediaKind::Animation,
        Some("video_file" | "video_message") => MediaKind::Video,
        Some("voice_message") => MediaKind::Voice,
        Some("audio_file") => MediaKind::Audio,
        _ => MediaKind::Document,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn media(kind: &str, metadata: Value) -> Media {
        Media {
            kind: kind.to_owned(),
            metadata,
        }
    }

    fn included(path: &str, kind: MediaKind, mime_type: Option<&str>) -> Option<ExportFile> {
        Some(ExportFile::Included {
            path: path.into(),
            kind,
            mime_type: mime_type.map(str::to_owned),
        })
    }

    #[test]
    fn photos_and_each_kind_of_file_are_named_with_their_path_kind_and_mime_type() {
        let table = [
            (
                media(
                    "photo",
                    json!({"photo": "photos/photo_1@01-11-2025_10-00-00.jpg"}),
                ),
                included(
                    "photos/photo_1@01-11-2025_10-00-00.jpg",
                    MediaKind::Photo,
                    Some("image/jpeg"),
                ),
            ),
            (
                media(
                    "document",
                    json!({"file": "files/report.pdf", "mime_type": "application/pdf"}),
                ),
                included(
                    "files/report.pdf",
                    MediaKind::Document,
                    Some("application/pdf"),
                ),
            ),
            (
                media(
                    "document",
                    json!({"file": "video_files/clip.mp4", "media_type": "video_file",
                                         "mime_type": "video/mp4", "thumbnail": "video_files/clip.mp4_thumb.jpg"}),
                ),
                included("video_files/clip.mp4", MediaKind::Video, Some("video/mp4")),
            ),
            (
                media(
                    "document",
                    json!({"file": "round_video_messages/r.mp4", "media_type": "video_message"}),
                ),
                included("round_video_messages/r.mp4", MediaKind::Video, None),
            ),
            (
                media(
                    "document",
                    json!({"file": "voice_messages/a.ogg", "media_type": "voice_message"}),
                ),
                included("voice_messages/a.ogg", MediaKind::Voice, None),
            ),
            (
                media(
                    "document",
                    json!({"file": "files/song.mp3", "media_type": "audio_file"}),
                ),
                included("files/song.mp3", MediaKind::Audio, None),
            ),
            (
                media(
                    "document",
                    json!({"file": "stickers/s.webp", "media_type": "sticker"}),
                ),
                included("stickers/s.webp", MediaKind::Sticker, None),
            ),
            (
                media(
                    "document",
                    json!({"file": "video_files/g.mp4", "media_type": "animation"}),
                ),
                included("video_files/g.mp4", MediaKind::Animation, None),
            ),
            (
                media("photo", json!({"photo": "photos/p.png"})),
                included("photos/p.png", MediaKind::Photo, None),
            ),
        ];
        for (media, expected) in table {
            assert_eq!(named(&media), Ok(expected), "{media:?}");
        }
    }

    #[test]
    fn a_file_the_exporter_left_out_is_named_as_left_out() {
        for placeholder in [
            "(File not included. Change data exporting settings to download.)",
            "(File exceeds maximum size. Change data exporting settings to download.)",
            "(File unavailable, please try again later)",
            "",
        ] {
            let photo = media("photo", json!({"photo": placeholder}));
            assert_eq!(
                named(&photo),
                Ok(Some(ExportFile::LeftOut {
                    kind: MediaKind::Photo
                }))
            );
        }
    }

    #[test]
    fn media_without_a_file_names_none() {
        for media in [
            media("poll", json!({"question": "q"})),
            media("document", json!({"media_type": "sticker"})),
            media("photo", json!({"photo": 7})),
        ] {
            assert_eq!(named(&media), Ok(None), "{media:?}");
        }
    }

    #[test]
    fn a_path_outside_the_export_is_refused_without_being_quoted() {
        for path in [
            "../secret.jpg",
            "photos/../../secret.jpg",
            "photos/..",
            "/etc/passwd",
            "\\server\\share\\x.jpg",
            "photos\\..\\..\\x.jpg",
            "C:/Users/x.jpg",
            "c:x.jpg",
        ] {
            let problem = named(&media("photo", json!({"photo": path}))).unwrap_err();
            assert!(problem.contains("outside the export's directory"), "{path}");
            assert!(!problem.contains(path), "{problem}");
        }
        for inside in ["photos/a..b.jpg", "./photos/x.jpg", "files/..hidden"] {
            assert!(
                named(&media("photo", json!({"photo": inside}))).is_ok(),
                "{inside}"
            );
        }
    }
}
