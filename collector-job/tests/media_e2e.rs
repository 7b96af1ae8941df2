//! Media end to end: the built `collector-job collect` with `COLLECTOR_MEDIA` set, through the
//! real grammers client to the fake DC over loopback (files on the home DC and on DC 4, one
//! carried by two messages of a channel, one forwarded to a second channel, the channels'
//! generated photos), into a real S3-compatible server (`s3s-fs` on loopback) and into a
//! directory. Every file is downloaded once, in Telegram's parts, from the DC it lives on, and
//! stored byte for byte at its content address; the media tables and the audit rows' counts
//! say so; no credential reaches stderr or the audit log; a second run downloads nothing.
//! SIGKILLed mid-file, once an upload part of the file is in the destination, the collector
//! leaves nothing at a final key, and the next run stores the file whole.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path as FsPath;
use std::process::{Child, Output};
use std::time::{Duration, Instant};

use collector_job::media::destination::{Destination, UPLOAD_PART, content_key};
use collector_job::media::plan::PART_LIMIT;
use common::destinations::{Target, objects};
use common::s3::{ACCESS_KEY, BUCKET, SECRET_KEY};
use common::{Collect, USER, Wire, events, url_of};
use contract::audit::AuditEvent;
use contract::media::{MediaCounts, MediaKind};
use fake_dc::files::{self, MIB};
use fake_dc::history::Media;
use fake_dc::{Account, Channel, FakeDc, Fault, FaultRule, File, FileKind, Outcome, Scenario};
use sqlx::PgPool;

const ALPHA: i64 = 1_001;
const BETA: i64 = 1_002;
const CHANNELS: [&str; 2] = ["@alpha", "@beta"];
const PART: u64 = PART_LIMIT as u64;
/// How long a run, or a wait for a kill point, may take before the test gives up; nothing is
/// measured against it.
const PATIENCE: Duration = Duration::from_secs(120);

/// What these tests ask of a destination beyond what the media tests share.
trait EndToEnd {
    /// What `media_files.destination` calls it.
    fn name(&self) -> String;
    /// Run `run_id` of @alpha and @beta by the built binary.
    fn collect(&self, pool: &PgPool, session: &FsPath, run_id: &str) -> Collect;
    /// The size of the largest upload part held for an upload not yet complete.
    fn uploaded_part(&self) -> Option<u64>;
}

impl EndToEnd for Target {
    fn name(&self) -> String {
        match self {
            Self::Directory(path) => format!("directory:{}", path.display()),
            Self::S3(_) => format!("s3://{BUCKET}/tg/"),
        }
    }

    /// Run `run_id` of @alpha and @beta by the built binary, every kind of file wanted, the
    /// S3 credentials in the standard `AWS_*` environment, logging at debug level (so that a
    /// credential in any log line would show).
    fn collect(&self, pool: &PgPool, session: &FsPath, run_id: &str) -> Collect {
        let settings = self.settings();
        let mut collect = Collect::new(&url_of(pool), session, run_id, &CHANNELS)
            .env(
                "COLLECTOR_MEDIA",
                &serde_json::to_string(&settings).expect("JSON"),
            )
            .env("RUST_LOG", "debug");
        if let Self::S3(server) = self {
            for (key, value) in server.env() {
                collect = collect.env(&key, &value);
            }
        }
        collect
    }

    /// The size of the largest upload part the destination holds for an upload not yet
    /// complete: s3s-fs keeps a finished part as `.upload_id-<id>.part-<n>` in its data
    /// directory; a directory destination writes the parts into one file, anywhere but at a
    /// content address (the test then checks where).
    fn uploaded_part(&self) -> Option<u64> {
        match self {
            Self::S3(server) => std::fs::read_dir(&server.root)
                .ok()?
                .filter_map(|entry| entry.ok())
                .filter(|entry| {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    name.starts_with(".upload_id-") && name.contains(".part-")
                })
                .filter_map(|entry| entry.metadata().ok())
                .map(|meta| meta.len())
                .max(),
            Self::Directory(root) => files_on_disk(root)
                .into_iter()
                .filter(|path| !path.starts_with("sha256/"))
                .filter_map(|path| std::fs::metadata(root.join(path)).ok())
                .map(|meta| meta.len())
                .max(),
        }
    }
}

/// A file as the fake DC serves it, with the messages carrying it in the order the run
/// collects them (channels as listed, messages oldest first).
struct Carried {
    file: File,
    messages: Vec<(i64, i64)>,
}

/// Every file the channels' messages carry now (scenario files and generated media), by id.
fn carried(dc: &FakeDc, channels: &[i64]) -> BTreeMap<i64, Carried> {
    let mut all: BTreeMap<i64, Carried> = BTreeMap::new();
    for &channel in channels {
        let timeline = dc.timeline(channel).expect("a channel of the scenario");
        for post in timeline.posts() {
            let Some(Media::File { file, .. }) = post.content.and_then(|c| c.media) else {
                continue;
            };
            all.entry(file.id)
                .or_insert_with(|| Carried {
                    file: file.clone(),
                    messages: Vec::new(),
                })
                .messages
                .push((channel, i64::from(post.id)));
        }
    }
    all
}

/// The collector's kind of a fake DC file (from its Telegram attributes).
fn kind(kind: FileKind) -> MediaKind {
    match kind {
        FileKind::Photo => MediaKind::Photo,
        FileKind::Video | FileKind::Round => MediaKind::Video,
        FileKind::Animation => MediaKind::Animation,
        FileKind::Voice => MediaKind::Voice,
        FileKind::Audio => MediaKind::Audio,
        FileKind::Sticker => MediaKind::Sticker,
        FileKind::Document => MediaKind::Document,
    }
}

fn telegram_key(file: &File) -> String {
    match file.kind {
        FileKind::Photo => format!("photo:{}", file.id),
        _ => format!("document:{}", file.id),
    }
}

fn key_of(destination: &Destination, file: &File) -> String {
    content_key(destination.prefix(), &files::sha256(file.id, file.size))
}

/// The `upload.getFile` parts of the file the DC answered with bytes: (DC, offset, limit).
fn answered_parts(dc: &FakeDc, file_id: i64) -> Vec<(i32, i64, i32)> {
    dc.served()
        .into_iter()
        .filter(|s| matches!(s.outcome, Outcome::Answered { .. }))
        .filter_map(|s| s.part.map(|p| (s.dc_id, p)))
        .filter(|(_, p)| p.file_id == file_id)
        .map(|(dc, p)| (dc, p.offset, p.limit))
        .collect()
}

/// The parts one whole download of `file` asks for, from the DC it lives on: 512 KiB each,
/// ending with a short part or at the stated size (one empty read for an empty file).
fn whole_download(file: &File, home_dc: i32) -> Vec<(i32, i64, i32)> {
    let parts = file.size.div_ceil(PART).max(1);
    (0..parts)
        .map(|i| {
            (
                file.dc_id.unwrap_or(home_dc),
                (i * PART) as i64,
                PART_LIMIT as i32,
            )
        })
        .collect()
}

fn count_of(dc: &FakeDc, method: &str) -> usize {
    dc.served().iter().filter(|s| s.method == method).count()
}

/// Every regular file under `root`, as paths relative to it (read while a collector may be
/// writing: an entry gone meanwhile is skipped).
fn files_on_disk(root: &FsPath) -> BTreeSet<String> {
    fn walk(dir: &FsPath, root: &FsPath, found: &mut BTreeSet<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, root, found);
            } else {
                let relative = path.strip_prefix(root).expect("under the root");
                found.insert(relative.display().to_string());
            }
        }
    }
    let mut found = BTreeSet::new();
    walk(root, root, &mut found);
    found
}

/// The destination lists exactly `expected`, each object the file's bytes at its content key;
/// a directory holds no other file but, when `staging_may_remain`, a killed run's part file
/// under `staging/` (the sweep removes it once it is a day old).
async fn assert_holds_exactly(target: &Target, expected: &[&File], staging_may_remain: bool) {
    let destination = target.destination();
    let found = objects(&destination).await;
    let wanted: BTreeMap<String, &File> = expected
        .iter()
        .map(|file| (key_of(&destination, file), *file))
        .collect();
    assert_eq!(
        found.keys().collect::<Vec<_>>(),
        wanted.keys().collect::<Vec<_>>(),
        "the objects stored"
    );
    for (key, file) in &wanted {
        assert!(
            found[key] == files::content(file.id, file.size, 0, file.size),
            "{key} (file {}) does not hold the file's bytes",
            file.id
        );
    }
    if let Target::Directory(root) = target {
        for path in files_on_disk(root) {
            assert!(
                wanted.contains_key(&path) || (staging_may_remain && path.starts_with("staging/")),
                "{path} left in the directory"
            );
        }
    }
}

/// Waits for the binary's end (or fails the test after [`PATIENCE`]).
async fn finished(child: Child) -> Output {
    tokio::time::timeout(
        PATIENCE,
        tokio::task::spawn_blocking(move || child.wait_with_output()),
    )
    .await
    .expect("the collector exits")
    .expect("joined")
    .expect("waited")
}

/// Everything `pipe` yields until it closes, read on a thread of its own.
fn drained(mut pipe: impl std::io::Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut all = Vec::new();
        let _ = pipe.read_to_end(&mut all);
        all
    })
}

/// The run succeeded, and its log names no S3 credential.
fn assert_succeeded_without_credentials(output: &Output) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "stderr: {stderr}");
    for secret in [SECRET_KEY, ACCESS_KEY] {
        assert!(!stderr.contains(secret), "{secret} in stderr");
    }
}

/// No audit row of any run, and no media table row, names an S3 credential.
async fn assert_no_credentials_stored(pool: &PgPool) {
    let texts: Vec<String> = sqlx::query_scalar(
        "SELECT COALESCE(metadata::text, '') || ' ' || action FROM mtproto_audit_log
         UNION ALL SELECT destination || ' ' || content_key FROM media_files",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert!(!texts.is_empty());
    for secret in [SECRET_KEY, ACCESS_KEY] {
        assert!(
            texts.iter().all(|t| !t.contains(secret)),
            "{secret} is stored"
        );
    }
}

/// The media counts of each channel's `collection_progress` row, by channel, and of
/// `collection_end`.
async fn audited_counts(
    pool: &PgPool,
    run_id: &str,
) -> (BTreeMap<String, MediaCounts>, MediaCounts) {
    let mut channels = BTreeMap::new();
    let mut end = None;
    for event in events(pool, run_id).await {
        match event {
            AuditEvent::Progress(p) => {
                assert!(p.error.is_none(), "{}: {:?}", p.channel_name, p.error);
                channels.insert(p.channel_name, p.media);
            }
            AuditEvent::End(e) => end = Some(e.media),
            _ => {}
        }
    }
    (channels, end.expect("a collection_end row"))
}

/// `media_files` as (destination, content_key, sha256, size, mime_type, kind), by key.
type FileRow = (String, String, Vec<u8>, i64, Option<String>, String);

async fn media_files(pool: &PgPool) -> Vec<FileRow> {
    sqlx::query_as(
        "SELECT destination, content_key, sha256, size, mime_type, kind
           FROM media_files ORDER BY content_key",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

/// `message_files` as (channel, message, kind, telegram_key, size, the stored file's sha256,
/// linked, unavailable), by message.
type LinkRow = (i64, i64, String, String, i64, Option<Vec<u8>>, bool, bool);

async fn message_files(pool: &PgPool) -> Vec<LinkRow> {
    sqlx::query_as(
        "SELECT m.channel_id, m.message_id, m.kind, m.telegram_key, m.size, f.sha256,
                m.linked_at IS NOT NULL, m.unavailable_at IS NOT NULL
           FROM message_files m LEFT JOIN media_files f ON f.id = m.file_id
          ORDER BY m.channel_id, m.message_id",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

/// @alpha: generated photos on messages 1-3, 5 and 10; a 6 MiB document (a 5 MiB upload part
/// and a shorter last one) that @beta forwards; a voice note on messages 6 and 11; a video on DC 4; an empty
/// document; a sticker of exactly one 512 KiB part. @beta: generated photos on 1-3 and 5.
fn scenario() -> Scenario {
    let forwarded = File::new(4, 9_001, FileKind::Document, 6 * MIB + 7);
    let voice = File::new(6, 9_002, FileKind::Voice, 1_000);
    Scenario::new()
        .account(Account::new(USER))
        .channel(
            Channel::new(ALPHA, "alpha", 12)
                .file(forwarded.clone())
                .file(voice.clone())
                .file(File::new(7, 9_003, FileKind::Video, MIB + 3).on_dc(4))
                .file(File::new(8, 9_004, FileKind::Document, 0))
                .file(File::new(9, 9_005, FileKind::Sticker, PART))
                .file(File {
                    message: 11,
                    ..voice
                }),
        )
        .channel(Channel::new(BETA, "beta", 6).file(File {
            message: 4,
            ..forwarded
        }))
}

async fn every_file_is_downloaded_once_and_stored_byte_for_byte(pool: PgPool, target: Target) {
    let wire = Wire::start(scenario()).await;
    let session = wire.session(USER);
    let home_dc = wire.dc.scenario().dc_id;
    let carried = carried(&wire.dc, &[ALPHA, BETA]);
    assert!(
        carried.values().any(|c| c.file.dc_id == Some(4)),
        "a file lives on DC 4"
    );
    assert!(
        carried.values().any(|c| c
            .messages
            .iter()
            .map(|m| m.0)
            .collect::<BTreeSet<_>>()
            .len()
            == 2),
        "a file is in both channels"
    );
    assert!(
        carried
            .values()
            .any(|c| c.messages.len() == 2 && c.messages[0].0 == c.messages[1].0),
        "a file is on two messages of one channel"
    );

    let first = finished(target.collect(&pool, &session, "run-1").spawn()).await;
    assert_succeeded_without_credentials(&first);

    // Each file read once, whole, in aligned parts, from the DC holding it.
    for (id, c) in &carried {
        assert_eq!(
            answered_parts(&wire.dc, *id),
            whole_download(&c.file, home_dc),
            "file {id}"
        );
    }
    let served_parts: BTreeSet<i64> = wire
        .dc
        .served()
        .iter()
        .filter_map(|s| s.part.map(|p| p.file_id))
        .collect();
    assert_eq!(
        served_parts,
        carried.keys().copied().collect(),
        "no other file asked for"
    );
    assert!(
        answered_parts(&wire.dc, 9_003).iter().all(|p| p.0 == 4),
        "the DC 4 file came from DC 4"
    );

    let all: Vec<&File> = carried.values().map(|c| &c.file).collect();
    assert_holds_exactly(&target, &all, false).await;

    // The media tables: one row per stored file, one link per carrying message.
    let destination = target.destination();
    let mut expected_files: Vec<FileRow> = carried
        .values()
        .map(|c| {
            (
                target.name(),
                key_of(&destination, &c.file),
                files::sha256(c.file.id, c.file.size).to_vec(),
                c.file.size as i64,
                Some(c.file.mime_type().to_owned()),
                kind(c.file.kind).as_str().to_owned(),
            )
        })
        .collect();
    expected_files.sort_by(|a, b| a.1.cmp(&b.1));
    assert_eq!(media_files(&pool).await, expected_files);
    let mut expected_links: Vec<LinkRow> = carried
        .values()
        .flat_map(|c| {
            c.messages.iter().map(|&(channel, message)| {
                (
                    channel,
                    message,
                    kind(c.file.kind).as_str().to_owned(),
                    telegram_key(&c.file),
                    c.file.size as i64,
                    Some(files::sha256(c.file.id, c.file.size).to_vec()),
                    true,
                    false,
                )
            })
        })
        .collect();
    expected_links.sort_by_key(|l| (l.0, l.1));
    assert_eq!(message_files(&pool).await, expected_links);

    // A file counts where it is first met; where it is met again it is only linked.
    let mut expected: BTreeMap<String, MediaCounts> = BTreeMap::new();
    for (name, channel) in [("@alpha", ALPHA), ("@beta", BETA)] {
        let counts = expected.entry(name.to_owned()).or_default();
        for c in carried.values().filter(|c| c.messages[0].0 == channel) {
            counts.files_downloaded += 1;
            counts.bytes_downloaded += c.file.size;
        }
    }
    let mut whole_run = MediaCounts::default();
    expected.values().for_each(|c| whole_run.add(c));
    assert_eq!(audited_counts(&pool, "run-1").await, (expected, whole_run));
    assert_eq!(whole_run.files_downloaded, carried.len() as u64);

    // A second run downloads nothing, reads no message again and adds no object.
    let parts_before = count_of(&wire.dc, "upload.getFile");
    let second = finished(target.collect(&pool, &session, "run-2").spawn()).await;
    assert_succeeded_without_credentials(&second);
    assert_eq!(count_of(&wire.dc, "upload.getFile"), parts_before);
    assert_eq!(count_of(&wire.dc, "channels.getMessages"), 0);
    let (channels, end) = audited_counts(&pool, "run-2").await;
    assert_eq!(end, MediaCounts::default());
    assert_eq!(channels.len(), 2);
    assert!(channels.values().all(MediaCounts::is_empty), "{channels:?}");
    assert_holds_exactly(&target, &all, false).await;
    assert_eq!(media_files(&pool).await, expected_files);
    assert_eq!(message_files(&pool).await, expected_links);
    assert_no_credentials_stored(&pool).await;
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn into_s3_every_file_is_downloaded_once_and_stored_byte_for_byte(pool: PgPool) {
    every_file_is_downloaded_once_and_stored_byte_for_byte(pool, Target::s3()).await;
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn into_a_directory_every_file_is_downloaded_once_and_stored_byte_for_byte(pool: PgPool) {
    every_file_is_downloaded_once_and_stored_byte_for_byte(pool, Target::directory()).await;
}

/// The file the kill lands in: 12 MiB and a bit, 25 parts; its 13th part (at 6 MiB, past the
/// first 5 MiB upload part) is held by the DC until the process is killed.
const BIG: i64 = 9_100;
const HELD_PART: u32 = 13;

/// @alpha: generated photos on 1-3 and 5 around the big file on 4; a small file on 6, after it.
fn kill_scenario() -> Scenario {
    Scenario::new()
        .account(Account::new(USER))
        .channel(
            Channel::new(ALPHA, "alpha", 6)
                .file(File::new(4, BIG, FileKind::Video, 12 * MIB + 5))
                .file(File::new(6, 9_101, FileKind::Document, 70_000)),
        )
        .channel(Channel::new(BETA, "beta", 1))
        .fault(FaultRule::new("upload.getFile", HELD_PART, Fault::Hold).file(BIG))
}

async fn killed_mid_file_leaves_nothing_at_a_final_key_and_the_next_run_stores_it(
    pool: PgPool,
    target: Target,
) {
    let wire = Wire::start(kill_scenario()).await;
    let session = wire.session(USER);
    let home_dc = wire.dc.scenario().dc_id;
    let carried = carried(&wire.dc, &[ALPHA, BETA]);
    let big = carried[&BIG].file.clone();
    let destination = target.destination();

    let mut child = target.collect(&pool, &session, "killed").spawn();
    // Read at debug level, the log fills a pipe's buffer long before the kill point.
    let stderr = drained(child.stderr.take().expect("stderr is piped"));
    let held = |served: &[fake_dc::Served]| {
        served
            .iter()
            .any(|s| s.outcome == Outcome::Held && s.part.is_some_and(|p| p.file_id == BIG))
    };
    if tokio::time::timeout(PATIENCE, wire.dc.wait_until(held))
        .await
        .is_err()
    {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "the big file's part was never asked for; stderr: {}",
            String::from_utf8_lossy(&stderr.join().expect("read"))
        );
    }
    // The parts before the held one fill more than one upload part: wait until the
    // destination has one, so the kill leaves part of the file written.
    let started = Instant::now();
    while target
        .uploaded_part()
        .is_none_or(|size| size < UPLOAD_PART as u64)
    {
        assert!(
            started.elapsed() < PATIENCE,
            "no upload part reached the destination"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().expect("SIGKILL");
    let killed = child.wait().expect("waited");
    assert!(!killed.success());
    let stderr = String::from_utf8_lossy(&stderr.join().expect("read")).into_owned();
    assert!(!stderr.contains(SECRET_KEY) && !stderr.contains(ACCESS_KEY));

    let answered = answered_parts(&wire.dc, BIG);
    assert_eq!(
        answered,
        whole_download(&big, home_dc)[..HELD_PART as usize - 1],
        "killed mid-file"
    );

    // Nothing at the big file's key or at any key but those of files read whole before it.
    let done: Vec<&File> = carried
        .values()
        .map(|c| &c.file)
        .filter(|f| answered_parts(&wire.dc, f.id) == whole_download(f, home_dc))
        .collect();
    assert!(!done.iter().any(|f| f.id == BIG));
    let found = objects(&destination).await;
    let final_keys: BTreeSet<String> = done.iter().map(|f| key_of(&destination, f)).collect();
    let staging = format!("{}staging/", destination.prefix());
    for (key, bytes) in &found {
        if key.starts_with(&staging) {
            continue;
        }
        assert!(final_keys.contains(key), "{key} is visible after the kill");
        let file = done
            .iter()
            .find(|f| key_of(&destination, f) == *key)
            .unwrap();
        assert!(
            *bytes == files::content(file.id, file.size, 0, file.size),
            "{key} holds other bytes"
        );
    }
    assert!(!found.contains_key(&key_of(&destination, &big)));
    if let Target::Directory(root) = &target {
        for path in files_on_disk(root) {
            assert!(
                path.starts_with("staging/") || final_keys.contains(&path),
                "{path} left in the directory"
            );
        }
        assert!(!root.join(key_of(&destination, &big)).exists());
    }
    // The message waits for its file.
    let waiting: Vec<(i64, i64)> = message_files(&pool)
        .await
        .into_iter()
        .filter(|l| l.5.is_none())
        .map(|l| (l.0, l.1))
        .collect();
    assert!(waiting.contains(&(ALPHA, 4)), "{waiting:?}");

    // The next run reads the message again for a fresh location and stores the file whole.
    let parts_before: BTreeMap<i64, usize> = carried
        .keys()
        .map(|&id| (id, answered_parts(&wire.dc, id).len()))
        .collect();
    let reads_before = count_of(&wire.dc, "channels.getMessages");
    let rerun = finished(target.collect(&pool, &session, "rerun").spawn()).await;
    assert_succeeded_without_credentials(&rerun);
    let reads: Vec<Vec<i32>> = wire
        .dc
        .served()
        .into_iter()
        .filter(|s| s.method == "channels.getMessages")
        .skip(reads_before)
        .map(|s| s.ids)
        .collect();
    assert!(
        reads.iter().any(|ids| ids.contains(&4)),
        "message 4 read again: {reads:?}"
    );
    assert_eq!(
        answered_parts(&wire.dc, BIG)[parts_before[&BIG]..],
        whole_download(&big, home_dc),
        "read again from its start"
    );
    let all: Vec<&File> = carried.values().map(|c| &c.file).collect();
    assert_holds_exactly(&target, &all, true).await;
    let (_, end) = audited_counts(&pool, "rerun").await;
    let left: Vec<&File> = all
        .iter()
        .copied()
        .filter(|f| !done.iter().any(|d| d.id == f.id))
        .collect();
    assert_eq!(
        end,
        MediaCounts {
            files_downloaded: left.len() as u64,
            bytes_downloaded: left.iter().map(|f| f.size).sum(),
            ..MediaCounts::default()
        }
    );
    assert!(
        message_files(&pool).await.iter().all(|l| l.5.is_some()),
        "every message linked"
    );
    assert_no_credentials_stored(&pool).await;
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn into_s3_killed_mid_file_leaves_nothing_at_a_final_key_and_the_next_run_stores_it(
    pool: PgPool,
) {
    killed_mid_file_leaves_nothing_at_a_final_key_and_the_next_run_stores_it(pool, Target::s3())
        .await;
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn into_a_directory_killed_mid_file_leaves_nothing_at_a_final_key_and_the_next_run_stores_it(
    pool: PgPool,
) {
    killed_mid_file_leaves_nothing_at_a_final_key_and_the_next_run_stores_it(
        pool,
        Target::directory(),
    )
    .await;
}
