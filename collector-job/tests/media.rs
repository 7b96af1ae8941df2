//! Media files (`spec.media`) with the scripted fake Telegram and real PostgreSQL, into a real
//! S3-compatible server (`s3s-fs` on loopback) and into a directory: files stored once by
//! content and read back byte for byte, skips and failures counted, an expired reference
//! refreshed, and a run killed mid-file leaving nothing visible for the next run to finish.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use collector_job::app::clock::ManualClock;
use collector_job::app::config::Limits;
use collector_job::app::shutdown::Shutdown;
use collector_job::commands::collect::{Run, RunEnd, RunSettings, RunTotals};
use collector_job::media::Media;
use collector_job::media::destination::{Destination, content_key};
use collector_job::media::plan::PART_LIMIT;
use collector_job::store::Store;
use collector_job::telegram::fake::{Call, FakeChannel, FakeFile, FakeTelegram, Step, epoch};
use collector_job::telegram::flood::{FloodNotice, FloodPolicy};
use common::destinations::{Target, bytes, objects, sha256};
use common::s3::BUCKET;
use contract::audit::{AuditEvent, AuditWriter, RunIdentity};
use contract::channel::ChannelRef;
use contract::media::{MediaCounts, MediaKind, MediaSettings};
use object_store::ObjectStoreExt;
use object_store::path::Path;
use sqlx::PgPool;
use tokio::sync::mpsc::UnboundedReceiver;

const ALPHA: i64 = 1_001;
const BETA: i64 = 1_002;
const PART: u64 = PART_LIMIT as u64;

struct World {
    telegram: FakeTelegram,
    floods: UnboundedReceiver<FloodNotice>,
    clock: ManualClock,
}

fn world(channels: Vec<FakeChannel>) -> World {
    let clock = ManualClock::at(t(0));
    let (policy, floods) = FloodPolicy::new(Duration::from_secs(60));
    World {
        telegram: FakeTelegram::new(channels, policy, clock.clone()),
        floods,
        clock,
    }
}

fn t(seconds: i64) -> DateTime<Utc> {
    epoch() + chrono::Duration::days(365) + chrono::Duration::seconds(seconds)
}

fn settings(channels: &[&str]) -> RunSettings {
    RunSettings {
        channels: channels
            .iter()
            .map(|c| ((*c).to_owned(), ChannelRef::parse(c).unwrap()))
            .collect(),
        limits: Limits::default(),
        progress_interval: Duration::from_secs(60),
    }
}

async fn run_future(
    store: &Store,
    audit: &AuditWriter,
    world: &mut World,
    settings: &RunSettings,
    media: Media,
) -> RunTotals {
    Run {
        source: &mut world.telegram,
        store,
        audit,
        clock: &world.clock,
        floods: &mut world.floods,
        shutdown: Shutdown::never(),
        media: Some(media),
    }
    .run(settings)
    .await
    .expect("run writes its audit trail")
}

async fn run(
    pool: &PgPool,
    world: &mut World,
    channels: &[&str],
    run_id: &str,
    media: Media,
) -> RunTotals {
    let store = Store::new(pool.clone());
    let audit = AuditWriter::new(pool.clone(), identity(run_id));
    run_future(&store, &audit, world, &settings(channels), media).await
}

fn identity(run_id: &str) -> RunIdentity {
    RunIdentity {
        run_id: run_id.into(),
        namespace: "news".into(),
        name: "daily".into(),
        pod_name: None,
        shard: None,
    }
}

/// The media counts of each channel's `collection_progress` row and of `collection_end`.
async fn audited_counts(pool: &PgPool, run_id: &str) -> (Vec<MediaCounts>, MediaCounts) {
    let mut channels = Vec::new();
    let mut end = None;
    for row in contract::audit::read_run(pool, run_id).await.unwrap() {
        match row.event.unwrap() {
            AuditEvent::Progress(p) => channels.push(p.media),
            AuditEvent::End(e) => end = Some(e.media),
            _ => {}
        }
    }
    (channels, end.expect("a collection_end row"))
}

/// `(channel_id, message_id, sha256)` of every message linked to a stored file.
async fn links(pool: &PgPool) -> Vec<(i64, i64, Vec<u8>)> {
    sqlx::query_as(
        "SELECT m.channel_id, m.message_id, f.sha256
           FROM message_files m JOIN media_files f ON f.id = m.file_id
          ORDER BY m.channel_id, m.message_id",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

fn file(message_id: i64, kind: MediaKind, key: &str, content: &[u8]) -> FakeFile {
    FakeFile::new(message_id, kind, key, content.to_vec())
}

/// Each object is the bytes its key names, and the stored set is exactly `expected`.
fn assert_stored(destination: &Destination, found: &BTreeMap<String, Vec<u8>>, expected: &[&[u8]]) {
    let mut wanted: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for content in expected {
        wanted.insert(
            content_key(destination.prefix(), &sha256(content)),
            content.to_vec(),
        );
    }
    assert_eq!(
        found.keys().collect::<Vec<_>>(),
        wanted.keys().collect::<Vec<_>>(),
        "the objects stored"
    );
    for (key, content) in &wanted {
        assert!(found[key] == *content, "{key} holds other bytes");
    }
}

async fn files_are_stored_once_and_read_back_byte_for_byte(pool: PgPool, target: Target) {
    let tiny = bytes(1, 1);
    let small = bytes(2, 100_000);
    let one_part = bytes(3, PART as usize);
    let parts = bytes(4, 1_300_000);
    // More than one 5 MiB upload part.
    let large = bytes(5, 6 * 1024 * 1024 + 7);
    let mut alpha = FakeChannel::new(ALPHA, "alpha", 10);
    alpha.files = vec![
        file(1, MediaKind::Photo, "photo:1", &tiny),
        file(2, MediaKind::Document, "document:2", &small),
        file(3, MediaKind::Voice, "document:3", &one_part),
        file(4, MediaKind::Audio, "document:4", &parts),
        file(5, MediaKind::Video, "document:5", &large),
        // The same file again, in a later message.
        file(6, MediaKind::Photo, "photo:1", &tiny),
    ];
    let mut beta = FakeChannel::new(BETA, "beta", 3);
    beta.files = vec![
        // The same Telegram file in another channel: linked, not downloaded.
        file(2, MediaKind::Video, "document:5", &large),
        // The same bytes under another Telegram key: downloaded, stored once.
        file(3, MediaKind::Document, "document:99", &small),
    ];
    let mut world = world(vec![alpha, beta]);
    let media = target.media(target.settings());
    let destination = media.destination.clone();

    let totals = run(&pool, &mut world, &["@alpha", "@beta"], "run-1", media).await;

    assert_eq!(totals.end, RunEnd::Finished);
    let downloaded = [&tiny, &small, &one_part, &parts, &large, &small];
    let expected = MediaCounts {
        files_downloaded: 6,
        bytes_downloaded: downloaded.iter().map(|b| b.len() as u64).sum(),
        ..MediaCounts::default()
    };
    assert_eq!(totals.media, expected);
    let (channels, end) = audited_counts(&pool, "run-1").await;
    assert_eq!(end, expected);
    assert_eq!(channels[1].files_downloaded, 1, "beta downloads one file");
    assert_eq!(channels[0].files_downloaded + 1, 6);

    // Each Telegram file was read once, in aligned parts.
    for (key, size) in [
        ("photo:1", 1),
        ("document:2", small.len()),
        ("document:3", one_part.len()),
        ("document:4", parts.len()),
        ("document:5", large.len()),
    ] {
        let reads = world.telegram.downloads_of(key);
        let offsets: Vec<u64> = (0..(size as u64).div_ceil(PART))
            .map(|i| i * PART)
            .collect();
        assert_eq!(
            reads,
            offsets.iter().map(|o| (*o, PART_LIMIT)).collect::<Vec<_>>(),
            "{key}"
        );
    }

    let found = objects(&destination).await;
    assert_stored(
        &destination,
        &found,
        &[&tiny, &small, &one_part, &parts, &large],
    );
    let mut linked = links(&pool).await;
    linked.sort();
    let expected_links: Vec<(i64, i64, Vec<u8>)> = [
        (ALPHA, 1, &tiny),
        (ALPHA, 2, &small),
        (ALPHA, 3, &one_part),
        (ALPHA, 4, &parts),
        (ALPHA, 5, &large),
        (ALPHA, 6, &tiny),
        (BETA, 2, &large),
        (BETA, 3, &small),
    ]
    .into_iter()
    .map(|(c, m, b)| (c, m, sha256(b).to_vec()))
    .collect();
    assert_eq!(linked, expected_links);
    let recorded: Vec<(String, i64, String)> =
        sqlx::query_as("SELECT content_key, size, kind FROM media_files ORDER BY size")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(
        recorded,
        vec![
            (
                content_key(destination.prefix(), &sha256(&tiny)),
                1,
                "photo".into()
            ),
            (
                content_key(destination.prefix(), &sha256(&small)),
                100_000,
                "document".into()
            ),
            (
                content_key(destination.prefix(), &sha256(&one_part)),
                PART as i64,
                "voice".into()
            ),
            (
                content_key(destination.prefix(), &sha256(&parts)),
                1_300_000,
                "audio".into()
            ),
            (
                content_key(destination.prefix(), &sha256(&large)),
                large.len() as i64,
                "video".into()
            ),
        ]
    );

    // A second run finds nothing to do: no read, no new object.
    world.telegram.calls.clear();
    let media = target.media(target.settings());
    let again = run(&pool, &mut world, &["@alpha", "@beta"], "run-2", media).await;
    assert_eq!(again.media, MediaCounts::default());
    assert!(
        !world
            .telegram
            .calls
            .iter()
            .any(|c| matches!(c, Call::Download { .. } | Call::FetchById { .. })),
        "{:?}",
        world.telegram.calls
    );
    assert_eq!(objects(&destination).await.len(), 5);
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn into_s3_files_are_stored_once_and_read_back_byte_for_byte(pool: PgPool) {
    let target = Target::s3();
    let shown = format!("{:?}", target.destination());
    assert!(shown.contains(BUCKET), "{shown}");
    assert!(
        !shown.contains(common::s3::SECRET_KEY),
        "the secret key is never shown"
    );
    files_are_stored_once_and_read_back_byte_for_byte(pool, target).await;
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn into_a_directory_files_are_stored_once_and_read_back_byte_for_byte(pool: PgPool) {
    files_are_stored_once_and_read_back_byte_for_byte(pool, Target::directory()).await;
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn too_big_and_over_budget_files_are_counted_and_the_next_run_takes_the_rest(pool: PgPool) {
    let target = Target::directory();
    let (a, b, c, big) = (
        bytes(1, 300_000),
        bytes(2, 300_000),
        bytes(3, 300_000),
        bytes(4, 2_000_000),
    );
    let mut alpha = FakeChannel::new(ALPHA, "alpha", 6);
    alpha.files = vec![
        file(1, MediaKind::Photo, "photo:a", &a),
        file(2, MediaKind::Photo, "photo:big", &big),
        file(3, MediaKind::Photo, "photo:b", &b),
        file(4, MediaKind::Photo, "photo:c", &c),
        // Not a wanted kind: not downloaded, not counted.
        file(5, MediaKind::Sticker, "document:s", &bytes(5, 10)),
    ];
    let mut world = world(vec![alpha]);
    let settings = MediaSettings {
        kinds: vec![MediaKind::Photo],
        max_file_size: Some(1_000_000),
        max_bytes_per_run: Some(700_000),
        ..target.settings()
    };

    let first = run(
        &pool,
        &mut world,
        &["@alpha"],
        "run-1",
        target.media(settings.clone()),
    )
    .await;
    assert_eq!(
        first.media,
        MediaCounts {
            files_downloaded: 2,
            bytes_downloaded: 600_000,
            files_skipped_too_big: 1,
            files_skipped_over_budget: 1,
            bytes_skipped: 2_300_000,
            files_failed: 0,
        }
    );
    assert!(world.telegram.downloads_of("photo:big").is_empty());
    assert!(world.telegram.downloads_of("document:s").is_empty());
    let destination = target.destination();
    assert_stored(&destination, &objects(&destination).await, &[&a, &b]);

    // The next run reads message 4 again (its file waited) and stores it; the too-big file
    // is not looked at again.
    world.telegram.calls.clear();
    let second = run(
        &pool,
        &mut world,
        &["@alpha"],
        "run-2",
        target.media(settings),
    )
    .await;
    assert_eq!(
        second.media,
        MediaCounts {
            files_downloaded: 1,
            bytes_downloaded: 300_000,
            ..MediaCounts::default()
        }
    );
    assert!(world.telegram.calls.contains(&Call::FetchById {
        channel_id: ALPHA,
        ids: vec![4],
    }));
    assert_stored(&destination, &objects(&destination).await, &[&a, &b, &c]);
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn an_expired_reference_is_refreshed_and_the_download_goes_on_from_the_same_offset(
    pool: PgPool,
) {
    let target = Target::s3();
    let content = bytes(7, 3 * PART as usize + 10);
    let mut alpha = FakeChannel::new(ALPHA, "alpha", 3);
    alpha.files = vec![file(2, MediaKind::Video, "document:7", &content)];
    let mut world = world(vec![alpha]);
    world.telegram = world
        .telegram
        .on_download("document:7", PART, Step::ExpireReference);

    let totals = run(
        &pool,
        &mut world,
        &["@alpha"],
        "run-1",
        target.media(target.settings()),
    )
    .await;

    assert_eq!(totals.media.files_downloaded, 1);
    assert_eq!(totals.media.files_failed, 0);
    assert_eq!(
        world.telegram.downloads_of("document:7"),
        vec![
            (0, PART_LIMIT),
            (PART, PART_LIMIT),
            (PART, PART_LIMIT),
            (2 * PART, PART_LIMIT),
            (3 * PART, PART_LIMIT)
        ]
    );
    assert!(world.telegram.calls.contains(&Call::FetchById {
        channel_id: ALPHA,
        ids: vec![2],
    }));
    let destination = target.destination();
    assert_stored(&destination, &objects(&destination).await, &[&content]);
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn a_failed_file_is_counted_without_failing_the_channel_and_the_next_run_retries_it(
    pool: PgPool,
) {
    let target = Target::directory();
    let (good, bad) = (bytes(1, 50_000), bytes(2, PART as usize * 2 + 1));
    let mut alpha = FakeChannel::new(ALPHA, "alpha", 4);
    alpha.files = vec![
        file(1, MediaKind::Document, "document:bad", &bad),
        file(2, MediaKind::Document, "document:good", &good),
    ];
    let mut world = world(vec![alpha]);
    world.telegram =
        world
            .telegram
            .on_download("document:bad", PART, Step::error(500, "FILE_READ_FAILED"));

    let first = run(
        &pool,
        &mut world,
        &["@alpha"],
        "run-1",
        target.media(target.settings()),
    )
    .await;
    assert_eq!(first.channels_synced, 1);
    assert_eq!(first.errors, 0);
    assert_eq!(first.media.files_failed, 1);
    assert_eq!(first.media.files_downloaded, 1);
    let destination = target.destination();
    assert_stored(&destination, &objects(&destination).await, &[&good]);

    let second = run(
        &pool,
        &mut world,
        &["@alpha"],
        "run-2",
        target.media(target.settings()),
    )
    .await;
    assert_eq!(
        second.media,
        MediaCounts {
            files_downloaded: 1,
            bytes_downloaded: bad.len() as u64,
            ..MediaCounts::default()
        }
    );
    assert_stored(&destination, &objects(&destination).await, &[&good, &bad]);
}

async fn a_run_killed_mid_file_leaves_no_object_and_the_next_run_finishes_it(
    pool: PgPool,
    target: Target,
) {
    let first_file = bytes(1, 10_000);
    // Killed after 6 MiB: one 5 MiB part is already uploaded.
    let content = bytes(2, 8 * 1024 * 1024 + 3);
    let mut alpha = FakeChannel::new(ALPHA, "alpha", 3);
    alpha.files = vec![
        file(1, MediaKind::Photo, "photo:1", &first_file),
        file(2, MediaKind::Video, "document:2", &content),
    ];
    let mut world = world(vec![alpha]);
    world.telegram = world
        .telegram
        .on_download("document:2", 6 * 1024 * 1024, Step::Hang);
    let reached = world.telegram.reached.clone();
    let destination = target.destination();

    {
        let store = Store::new(pool.clone());
        let audit = AuditWriter::new(pool.clone(), identity("run-1"));
        let run_settings = settings(&["@alpha"]);
        let media = target.media(target.settings());
        let killed = run_future(&store, &audit, &mut world, &run_settings, media);
        tokio::select! {
            _ = killed => panic!("the run passed the hang"),
            () = reached.notified() => {}
        }
        // The run is dropped here, mid-file, as a killed process stops.
    }
    assert_stored(&destination, &objects(&destination).await, &[&first_file]);
    if let Target::Directory(root) = &target {
        let at_final = root.join(content_key("", &sha256(&content)));
        assert!(!at_final.exists(), "no file at {}", at_final.display());
    }

    let second = run(
        &pool,
        &mut world,
        &["@alpha"],
        "run-2",
        target.media(target.settings()),
    )
    .await;
    assert_eq!(second.media.files_downloaded, 1);
    assert_eq!(second.media.bytes_downloaded, content.len() as u64);
    assert_stored(
        &destination,
        &objects(&destination).await,
        &[&first_file, &content],
    );
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn into_s3_a_run_killed_mid_file_leaves_no_object_and_the_next_run_finishes_it(pool: PgPool) {
    a_run_killed_mid_file_leaves_no_object_and_the_next_run_finishes_it(pool, Target::s3()).await;
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn into_a_directory_a_run_killed_mid_file_leaves_no_object_and_the_next_run_finishes_it(
    pool: PgPool,
) {
    a_run_killed_mid_file_leaves_no_object_and_the_next_run_finishes_it(pool, Target::directory())
        .await;
}

#[tokio::test]
async fn the_sweep_removes_only_staging_objects_older_than_its_cutoff() {
    for target in [Target::directory(), Target::s3()] {
        let destination = target.destination();
        let store = destination.store();
        let staged = Path::from(format!(
            "{}staging/left-by-a-killed-run",
            destination.prefix()
        ));
        store
            .put(&staged, b"partial".to_vec().into())
            .await
            .unwrap();
        let kept = Path::from(format!("{}sha256/ab/cd", destination.prefix()));
        store.put(&kept, b"kept".to_vec().into()).await.unwrap();
        let written = store.head(&staged).await.unwrap().last_modified;

        // Written after the cutoff: an upload that may still be running.
        let removed = destination
            .sweep(written - chrono::Duration::hours(1))
            .await
            .unwrap();
        assert_eq!(removed, 0);
        let removed = destination
            .sweep(written + chrono::Duration::hours(1))
            .await
            .unwrap();
        assert_eq!(removed, 1);
        assert_eq!(
            objects(&destination).await.into_keys().collect::<Vec<_>>(),
            vec![kept.to_string()]
        );
    }
}
