//! `import` with a media destination: the files an export holds beside its result.json
//! stored into a directory and into a real S3-compatible server (`s3s-fs` on loopback), read
//! back byte for byte, once per content; the settings' kinds and maximum size honoured,
//! missing files counted, a path outside the export refused before anything is written, a
//! chat rolled back leaving only content-addressed objects, and an export imported again
//! writing nothing.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use collector_job::app::clock::ManualClock;
use collector_job::app::shutdown::Shutdown;
use collector_job::commands::import::{self, ExportFiles, ImportReport, ImportRequest};
use collector_job::media::destination::content_key;
use collector_job::store::Store;
use common::destinations::{Target, bytes, objects, sha256};
use common::s3::scratch_dir;
use common::{chat_export, count, failed_with, post, succeeded};
use contract::audit::{AuditEvent, AuditWriter, RunIdentity};
use contract::media::{MediaCounts, MediaKind, MediaSettings};
use serde_json::{Value, json};
use sqlx::PgPool;

const CHANNEL: i64 = 1001;

fn at(unix: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(unix, 0).unwrap()
}

/// An export directory written by a test, inside a scratch directory of its own (where a
/// path leading out of the export goes); both removed when dropped.
struct Export {
    dir: PathBuf,
}

impl Export {
    /// `result.json` with `messages`, and `files` (path, bytes) beside it.
    fn new(messages: Vec<Value>, files: &[(&str, &[u8])]) -> Self {
        let dir = scratch_dir("export").join("export");
        for (path, content) in files {
            let path = dir.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, content).unwrap();
        }
        std::fs::create_dir_all(&dir).unwrap();
        common::write(
            &dir,
            "result.json",
            chat_export("Alpha", "public_channel", CHANNEL, messages),
        );
        Self { dir }
    }

    fn result(&self) -> PathBuf {
        self.dir.join("result.json")
    }
}

impl Drop for Export {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(self.dir.parent().unwrap());
    }
}

fn photo(id: i64, path: &str) -> Value {
    let mut message = post(id, 1_761_987_600 + id, "");
    message["photo"] = json!(path);
    message["width"] = json!(1280);
    message["height"] = json!(720);
    message
}

fn file(id: i64, path: &str, media_type: Option<&str>, mime_type: &str) -> Value {
    let mut message = post(id, 1_761_987_600 + id, "");
    message["file"] = json!(path);
    message["mime_type"] = json!(mime_type);
    if let Some(media_type) = media_type {
        message["media_type"] = json!(media_type);
    }
    message
}

const NOT_INCLUDED: &str = "(File not included. Change data exporting settings to download.)";

/// The bytes of the sample export's files.
struct Samples {
    picture: Vec<u8>,
    /// Over one read chunk (1 MiB) and one upload part (5 MiB).
    report: Vec<u8>,
    voice: Vec<u8>,
}

fn samples() -> Samples {
    Samples {
        picture: bytes(1, 300_000),
        report: bytes(2, 6 * 1024 * 1024 + 123),
        voice: bytes(3, 40_000),
    }
}

/// Seven messages: a photo, a PDF, the same photo under another name, a photo the exporter
/// left out, a video absent on disk, a voice message, and a text.
fn sample_export(s: &Samples) -> Export {
    Export::new(
        vec![
            photo(1, "photos/photo_1@01-11-2025_10-00-00.jpg"),
            file(2, "files/report.pdf", None, "application/pdf"),
            photo(3, "photos/photo_2@01-11-2025_10-05-00.jpg"),
            photo(4, NOT_INCLUDED),
            file(5, "video_files/clip.mp4", Some("video_file"), "video/mp4"),
            file(
                6,
                "voice_messages/audio_1.ogg",
                Some("voice_message"),
                "audio/ogg",
            ),
            post(7, 1_761_987_607, "just text"),
        ],
        &[
            ("photos/photo_1@01-11-2025_10-00-00.jpg", &s.picture),
            ("files/report.pdf", &s.report),
            ("photos/photo_2@01-11-2025_10-05-00.jpg", &s.picture),
            ("voice_messages/audio_1.ogg", &s.voice),
        ],
    )
}

async fn import_into(
    pool: &PgPool,
    export: &Export,
    target: &Target,
    settings: MediaSettings,
    run_id: &str,
) -> ImportReport {
    let request = ImportRequest {
        path: export.result(),
        zone: None,
        exported_at: Some(at(1_763_000_000)),
        media: Some(target.media(settings)),
    };
    let run = RunIdentity {
        run_id: run_id.into(),
        namespace: "news".into(),
        name: "archive".into(),
        pod_name: None,
        shard: None,
    };
    let checked = import::check(&request).await.expect("the export is valid");
    import::import(
        &request,
        checked,
        &Store::new(pool.clone()),
        &AuditWriter::new(pool.clone(), run),
        &ManualClock::at(at(1_764_000_000)),
        Shutdown::never(),
    )
    .await
    .expect("the import runs")
}

/// `(message_id, kind, telegram_key, size, sha256)` of each message's linked file.
type Linked = (i64, String, String, i64, Vec<u8>);

async fn linked(pool: &PgPool) -> Vec<Linked> {
    sqlx::query_as(
        "SELECT mf.message_id, mf.kind, mf.telegram_key, mf.size, f.sha256
           FROM message_files mf JOIN media_files f ON f.id = mf.file_id
          WHERE mf.channel_id = $1 ORDER BY mf.message_id",
    )
    .bind(CHANNEL)
    .fetch_all(pool)
    .await
    .unwrap()
}

/// Every `media_files` and `message_files` row, as text: what a second import must not change.
async fn media_rows(pool: &PgPool) -> (Vec<String>, Vec<String>) {
    let files = sqlx::query_scalar("SELECT f::text FROM media_files f ORDER BY id")
        .fetch_all(pool)
        .await
        .unwrap();
    let links =
        sqlx::query_scalar("SELECT mf::text FROM message_files mf ORDER BY channel_id, message_id")
            .fetch_all(pool)
            .await
            .unwrap();
    (files, links)
}

fn key(target: &Target, content: &[u8]) -> String {
    let prefix = match target {
        Target::S3(_) => "tg/",
        Target::Directory(_) => "",
    };
    content_key(prefix, &sha256(content))
}

fn imported_key(content: &[u8]) -> String {
    let hex: String = sha256(content).iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

async fn the_exports_files_are_stored_once_and_read_back_byte_for_byte(
    pool: PgPool,
    target: Target,
) {
    let s = samples();
    let export = sample_export(&s);

    let report = import_into(&pool, &export, &target, target.settings(), "import-1").await;

    let uploaded = (s.picture.len() + s.report.len() + s.voice.len()) as u64;
    let media = MediaCounts {
        files_downloaded: 3,
        bytes_downloaded: uploaded,
        ..MediaCounts::default()
    };
    assert_eq!(report.summary.media, media);
    assert_eq!(
        report.files,
        Some(ExportFiles {
            already_stored: 1,
            missing: 2
        })
    );
    assert_eq!(report.summary.total_messages, 7);
    // Stored once per content, at its content address, byte for byte; nothing left staged.
    let expected: BTreeMap<String, Vec<u8>> = [&s.picture, &s.report, &s.voice]
        .into_iter()
        .map(|content| (key(&target, content), content.clone()))
        .collect();
    assert_eq!(objects(&target.destination()).await, expected);
    // Kind and mime type from the export; the twice-exported photo is one file.
    let files: Vec<(String, i64, Option<String>, String)> = sqlx::query_as(
        "SELECT content_key, size, mime_type, kind FROM media_files ORDER BY content_key",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let mut described = vec![
        (
            key(&target, &s.picture),
            s.picture.len() as i64,
            Some("image/jpeg".to_owned()),
            "photo".to_owned(),
        ),
        (
            key(&target, &s.report),
            s.report.len() as i64,
            Some("application/pdf".to_owned()),
            "document".to_owned(),
        ),
        (
            key(&target, &s.voice),
            s.voice.len() as i64,
            Some("audio/ogg".to_owned()),
            "voice".to_owned(),
        ),
    ];
    described.sort();
    assert_eq!(files, described);
    let link = |id: i64, kind: &str, content: &[u8]| {
        (
            id,
            kind.to_owned(),
            imported_key(content),
            content.len() as i64,
            sha256(content).to_vec(),
        )
    };
    assert_eq!(
        linked(&pool).await,
        vec![
            link(1, "photo", &s.picture),
            link(2, "document", &s.report),
            link(3, "photo", &s.picture),
            link(6, "voice", &s.voice),
        ]
    );
    // The audit rows count the files as a collection's do.
    let events: Vec<AuditEvent> = contract::audit::read_run(&pool, "import-1")
        .await
        .unwrap()
        .into_iter()
        .map(|row| row.event.unwrap())
        .collect();
    let progress: Vec<MediaCounts> = events
        .iter()
        .filter_map(|e| match e {
            AuditEvent::Progress(p) => Some(p.media),
            _ => None,
        })
        .collect();
    assert_eq!(progress, vec![media]);
    let end = events.iter().find_map(|e| match e {
        AuditEvent::End(end) => Some(end.media),
        _ => None,
    });
    assert_eq!(end, Some(media));

    // The same export again: nothing uploaded, no row written, every file already stored.
    let rows_before = media_rows(&pool).await;
    let again = import_into(&pool, &export, &target, target.settings(), "import-2").await;
    assert_eq!(again.summary.media, MediaCounts::default());
    assert_eq!(
        again.files,
        Some(ExportFiles {
            already_stored: 4,
            missing: 2
        })
    );
    assert_eq!(again.changed, 0);
    assert_eq!(media_rows(&pool).await, rows_before);
    assert_eq!(objects(&target.destination()).await, expected);
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn into_a_directory_the_exports_files_are_stored_once_and_read_back(pool: PgPool) {
    the_exports_files_are_stored_once_and_read_back_byte_for_byte(pool, Target::directory()).await;
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn into_s3_the_exports_files_are_stored_once_and_read_back(pool: PgPool) {
    the_exports_files_are_stored_once_and_read_back_byte_for_byte(pool, Target::s3()).await;
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn only_the_wanted_kinds_up_to_the_maximum_size_are_stored(pool: PgPool) {
    let s = samples();
    let big_photo = bytes(4, s.picture.len() + 1);
    let export = Export::new(
        vec![
            photo(1, "photos/photo_1.jpg"),
            photo(2, "photos/photo_2.jpg"),
            file(3, "files/report.pdf", None, "application/pdf"),
            photo(4, NOT_INCLUDED),
            file(5, "video_files/clip.mp4", Some("video_file"), "video/mp4"),
            file(
                6,
                "voice_messages/audio_1.ogg",
                Some("voice_message"),
                "audio/ogg",
            ),
        ],
        &[
            ("photos/photo_1.jpg", &s.picture),
            ("photos/photo_2.jpg", &big_photo),
            ("files/report.pdf", &s.report),
            ("voice_messages/audio_1.ogg", &s.voice),
        ],
    );
    let target = Target::directory();
    let settings = MediaSettings {
        kinds: vec![MediaKind::Photo, MediaKind::Voice],
        max_file_size: Some(s.picture.len() as u64),
        ..target.settings()
    };

    let report = import_into(&pool, &export, &target, settings, "import-1").await;

    assert_eq!(
        report.summary.media,
        MediaCounts {
            files_downloaded: 2,
            bytes_downloaded: (s.picture.len() + s.voice.len()) as u64,
            files_skipped_too_big: 1,
            bytes_skipped: big_photo.len() as u64,
            ..MediaCounts::default()
        }
    );
    // The video is not a wanted kind: not counted missing.
    assert_eq!(
        report.files,
        Some(ExportFiles {
            already_stored: 0,
            missing: 1
        })
    );
    let stored: Vec<i64> = linked(&pool).await.into_iter().map(|l| l.0).collect();
    assert_eq!(stored, vec![1, 6]);
    let expected: BTreeMap<String, Vec<u8>> = [&s.picture, &s.voice]
        .into_iter()
        .map(|content| (key(&target, content), content.clone()))
        .collect();
    assert_eq!(objects(&target.destination()).await, expected);
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn over_the_byte_budget_files_are_skipped_and_an_import_again_takes_the_rest(pool: PgPool) {
    let s = samples();
    let export = sample_export(&s);
    let target = Target::directory();
    // Room for the picture and the voice message, not the report.
    let settings = MediaSettings {
        max_bytes_per_run: Some((s.picture.len() + s.voice.len()) as u64),
        ..target.settings()
    };

    let first = import_into(&pool, &export, &target, settings.clone(), "import-1").await;

    assert_eq!(
        (
            first.summary.media.files_downloaded,
            first.summary.media.files_skipped_over_budget,
            first.summary.media.bytes_skipped,
        ),
        (2, 1, s.report.len() as u64)
    );
    let again = import_into(&pool, &export, &target, target.settings(), "import-2").await;
    assert_eq!(
        (
            again.summary.media.files_downloaded,
            again.summary.media.bytes_downloaded
        ),
        (1, s.report.len() as u64)
    );
    let stored: Vec<i64> = linked(&pool).await.into_iter().map(|l| l.0).collect();
    assert_eq!(stored, vec![1, 2, 3, 6]);
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn a_chat_rolled_back_keeps_its_objects_and_importing_again_links_them(pool: PgPool) {
    sqlx::query("ALTER TABLE messages ADD CONSTRAINT no_spam CHECK (text <> 'spam')")
        .execute(&pool)
        .await
        .unwrap();
    let s = samples();
    // The photo is on the first page; a page refused comes later than the pages one
    // statement may join (PAGES_PER_STATEMENT), so the photo's page is stored before it.
    let mut messages = common::posts(700);
    messages[0] = photo(1, "photos/photo_1.jpg");
    messages[649] = post(650, 1_761_996_600, "spam");
    let export = Export::new(messages, &[("photos/photo_1.jpg", &s.picture)]);
    let target = Target::directory();

    let refused = import_into(&pool, &export, &target, target.settings(), "import-1").await;

    assert_eq!(refused.failed.len(), 1, "{:?}", refused.failed);
    assert_eq!(refused.summary.media.files_downloaded, 1);
    assert_eq!(count(&pool, "messages").await, 0);
    assert_eq!(
        count(&pool, "message_files").await,
        0,
        "the link is rolled back"
    );
    // The object and its row stay: they name the bytes, not the message.
    assert_eq!(count(&pool, "media_files").await, 1);
    let expected = BTreeMap::from([(key(&target, &s.picture), s.picture.clone())]);
    assert_eq!(objects(&target.destination()).await, expected);

    sqlx::query("ALTER TABLE messages DROP CONSTRAINT no_spam")
        .execute(&pool)
        .await
        .unwrap();
    let again = import_into(&pool, &export, &target, target.settings(), "import-2").await;

    assert_eq!(again.summary.media, MediaCounts::default());
    assert_eq!(again.files.map(|f| f.already_stored), Some(1));
    let stored: Vec<i64> = linked(&pool).await.into_iter().map(|l| l.0).collect();
    assert_eq!(stored, vec![1]);
    assert_eq!(count(&pool, "media_files").await, 1);
    assert_eq!(objects(&target.destination()).await, expected);
}

/// `collector-job import` with `COLLECTOR_MEDIA` (and the S3 credentials) in its environment.
fn import_binary(
    pool: &PgPool,
    export: &Path,
    run_id: &str,
    settings: &MediaSettings,
    env: &[(String, String)],
) -> std::process::Output {
    let url = common::url_of(pool);
    let media = serde_json::to_string(settings).unwrap();
    let mut vars: Vec<(&str, &str)> = vec![("DATABASE_URL", &url), ("COLLECTOR_MEDIA", &media)];
    vars.extend(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    common::run(
        &["import", export.to_str().unwrap(), "--run-id", run_id],
        &vars,
    )
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn the_binary_stores_into_s3_and_its_summary_counts_the_files(pool: PgPool) {
    let s = samples();
    let export = sample_export(&s);
    let target = Target::s3();
    let Target::S3(server) = &target else {
        unreachable!()
    };

    let first = succeeded(&import_binary(
        &pool,
        &export.result(),
        "import-1",
        &target.settings(),
        &server.env(),
    ));

    let bytes = s.picture.len() + s.report.len() + s.voice.len();
    assert!(
        first.contains(&format!(
            "7 rows written; 3 files stored ({bytes} bytes), 1 already stored, 2 missing from \
             the export"
        )),
        "{first}"
    );
    assert_eq!(objects(&target.destination()).await.len(), 3);
    let again = succeeded(&import_binary(
        &pool,
        &export.result(),
        "import-2",
        &target.settings(),
        &server.env(),
    ));
    assert!(
        again.contains(
            "0 rows written; 0 files stored (0 bytes), 4 already stored, 2 missing from the export"
        ),
        "{again}"
    );
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn a_path_outside_the_export_is_refused_before_anything_is_written(pool: PgPool) {
    let s = samples();
    let export = Export::new(
        vec![photo(1, "photos/photo_1.jpg"), photo(2, "../outside.jpg")],
        &[("photos/photo_1.jpg", &s.picture)],
    );
    // The file the path leads to exists: only the path refuses it.
    let outside = export.dir.parent().unwrap().join("outside.jpg");
    std::fs::write(&outside, &s.voice).unwrap();
    let target = Target::directory();

    let output = import_binary(&pool, &export.result(), "import-1", &target.settings(), &[]);

    let line = failed_with(&output, 2);
    assert!(
        line.contains("message 2: the file it names is outside the export's directory"),
        "{line}"
    );
    assert!(!line.contains("outside.jpg"), "{line}");
    for table in ["messages", "channels", "mtproto_audit_log", "media_files"] {
        assert_eq!(count(&pool, table).await, 0, "{table}");
    }
    assert!(objects(&target.destination()).await.is_empty());
    // Without a media destination the path is only metadata: the export imports.
    succeeded(&common::import(&pool, &export.result(), "import-2", &[]));
    assert_eq!(count(&pool, "messages").await, 2);
    assert_eq!(count(&pool, "media_files").await, 0);
}

/// An export made by someone else may hold a link where a file should be: a link to a file
/// outside the export is not followed into the archive; it is counted as failed (and a link
/// inside the export is stored as its target).
#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn a_link_to_a_file_outside_the_export_is_not_stored(pool: PgPool) {
    let s = samples();
    let export = Export::new(
        vec![
            photo(1, "photos/photo_1.jpg"),
            photo(2, "photos/photo_2.jpg"),
            photo(3, "photos/photo_3.jpg"),
        ],
        &[("photos/photo_1.jpg", &s.picture)],
    );
    let outside = export.dir.parent().unwrap().join("secret.txt");
    std::fs::write(&outside, &s.voice).unwrap();
    std::os::unix::fs::symlink(&outside, export.dir.join("photos/photo_2.jpg")).unwrap();
    std::os::unix::fs::symlink("photo_1.jpg", export.dir.join("photos/photo_3.jpg")).unwrap();
    let target = Target::directory();

    let report = import_into(&pool, &export, &target, target.settings(), "import-1").await;

    assert_eq!(
        (
            report.summary.media.files_downloaded,
            report.summary.media.files_failed
        ),
        (1, 1)
    );
    let stored = objects(&target.destination()).await;
    assert_eq!(
        stored.into_values().collect::<Vec<_>>(),
        vec![s.picture.clone()],
        "only the export's own bytes are stored"
    );
    let linked: Vec<i64> = linked(&pool).await.iter().map(|l| l.0).collect();
    assert_eq!(linked, vec![1, 3]);
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn a_media_setting_that_is_not_one_is_refused_naming_the_variable(pool: PgPool) {
    let export = Export::new(vec![post(1, 1_761_987_601, "x")], &[]);
    let url = common::url_of(&pool);
    let output = common::run(
        &["import", export.result().to_str().unwrap()],
        &[
            ("DATABASE_URL", &url),
            ("COLLECTOR_MEDIA", r#"{"kinds": []}"#),
        ],
    );
    let line = failed_with(&output, 2);
    assert!(line.contains("COLLECTOR_MEDIA"), "{line}");
    assert_eq!(count(&pool, "messages").await, 0);
}
