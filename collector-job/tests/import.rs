//! Telegram Desktop export import against real PostgreSQL: the library on the fixtures in
//! `tests/fixtures/` (exact rows and audit trail at a fixed clock), and the binary as a user
//! runs it on exports written by each test.

mod common;

use chrono::{DateTime, Utc};
use collector_job::app::clock::ManualClock;
use collector_job::app::shutdown::Shutdown;
use collector_job::commands::collect::{RunEnd, RunTotals};
use collector_job::commands::import::{self, ImportError, ImportReport, ImportRequest};
use collector_job::store::Store;
use collector_job::store::model::{Media, MessageRow, ResolvedChannel};
use common::{
    audit_errors, chat_export, checkpoint, column, count, message_ids, post, posts, succeeded,
    temp_dir, write,
};
use contract::audit::{
    AuditEvent, AuditWriter, CollectionEnd, CollectionProgress, CollectionStart, RunIdentity,
};
use serde_json::{Value, json};
use sqlx::PgPool;

fn at(unix: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(unix, 0).unwrap()
}

fn request(path: impl Into<std::path::PathBuf>) -> ImportRequest {
    ImportRequest {
        path: path.into(),
        zone: None,
        exported_at: Some(at(1_763_000_000)),
        media: None,
    }
}

async fn run_import(pool: &PgPool, fixture: &str, run_id: &str) -> ImportReport {
    import_with(pool, fixture, run_id, Shutdown::never())
        .await
        .unwrap()
}

async fn import_with(
    pool: &PgPool,
    fixture: &str,
    run_id: &str,
    shutdown: Shutdown,
) -> Result<ImportReport, ImportError> {
    let run = RunIdentity {
        run_id: run_id.into(),
        namespace: "news".into(),
        name: "archive".into(),
        pod_name: None,
        shard: None,
    };
    let clock = ManualClock::at(at(1_764_000_000));
    let request = request(common::fixture(fixture));
    let checked = import::check(&request).await.unwrap();
    import::import(
        &request,
        checked,
        &Store::new(pool.clone()),
        &AuditWriter::new(pool.clone(), run),
        &clock,
        shutdown,
    )
    .await
}

type Row = (
    i64,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    String,
    Option<String>,
    Option<i64>,
    Option<Value>,
    Option<String>,
    Option<Value>,
    Option<Value>,
);

async fn rows(pool: &PgPool, channel: i64) -> Vec<Row> {
    sqlx::query_as(
        "SELECT message_id, date, edit_date, text, post_author, reply_to_message_id, forward,
                media_kind, media, reactions
           FROM messages WHERE channel_id = $1 AND action IS NULL ORDER BY message_id",
    )
    .bind(channel)
    .fetch_all(pool)
    .await
    .unwrap()
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn a_single_chat_export_is_stored_with_every_field_and_audited(pool: PgPool) {
    let report = run_import(&pool, "channel_result.json", "import-1").await;

    assert_eq!(
        report.summary,
        RunTotals {
            edits_found: 0,
            deletions_found: 0,
            media: Default::default(),
            total_messages: 6,
            channels_synced: 1,
            errors: 0,
            end: RunEnd::Finished
        }
    );
    let rows = rows(&pool, 1001).await;
    assert_eq!(
        rows.iter().map(|r| r.0).collect::<Vec<_>>(),
        vec![2, 3, 4, 5]
    );
    let hello = &rows[0];
    assert_eq!(
        (hello.1, hello.3.as_str(), hello.4.as_deref()),
        (at(1_761_987_900), "Hello, readers", Some("Editor"))
    );
    assert_eq!(
        hello.9,
        Some(json!([
            {"type": "emoji", "emoji": "👍", "count": 31},
            {"type": "custom_emoji", "document_id": "5368324170671202286", "count": 4},
            {"type": "paid", "count": 250}
        ]))
    );
    let picture = &rows[1];
    assert_eq!(
        (picture.3.as_str(), picture.5, picture.7.as_deref()),
        ("See this picture", Some(2), Some("photo"))
    );
    assert_eq!(
        picture.8,
        Some(
            json!({"photo": "photos/photo_1@01-11-2025_10-00-00.jpg", "width": 1280, "height": 720})
        )
    );
    let entities: Value = column(&pool, 1001, 3, "entities").await;
    assert_eq!(
        entities,
        json!([{"type": "bold", "offset": 4, "length": 4}])
    );
    let forwarded = &rows[2];
    assert_eq!(forwarded.2, Some(at(1_762_072_200)));
    assert_eq!(forwarded.6, Some(json!({"from_name": "Beta Daily"})));
    let video = &rows[3];
    assert_eq!(video.7.as_deref(), Some("document"));
    assert_eq!(video.8.as_ref().unwrap()["mime_type"], "video/mp4");
    let (from_id, from_name, source): (Value, String, String) = sqlx::query_as(
        "SELECT from_id, from_name, source FROM messages WHERE channel_id = 1001 AND message_id = 2",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        (from_id, from_name.as_str(), source.as_str()),
        (
            json!({"type": "channel", "id": 1001}),
            "Alpha News",
            "import"
        )
    );

    // Service messages are stored with their action.
    let services: Vec<(i64, String, Option<Value>)> = sqlx::query_as(
        "SELECT message_id, action, action_data FROM messages
          WHERE channel_id = 1001 AND action IS NOT NULL ORDER BY message_id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        services,
        vec![
            (
                1,
                "create_channel".into(),
                Some(json!({"title": "Alpha News"}))
            ),
            (6, "pin_message".into(), Some(json!({"message_id": 5}))),
        ]
    );

    let (title, checkpoint): (String, i64) =
        sqlx::query_as("SELECT title, checkpoint FROM channels WHERE id = 1001")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(
        (title.as_str(), checkpoint),
        ("Alpha News", 6),
        "the trailing pin moves the checkpoint"
    );

    let events: Vec<_> = contract::audit::read_run(&pool, "import-1")
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.event.unwrap())
        .collect();
    let now = at(1_764_000_000);
    assert_eq!(
        events,
        vec![
            AuditEvent::Start(CollectionStart {
                total_channels: 1,
                start_time: now
            }),
            AuditEvent::Progress(CollectionProgress {
                edits_found: 0,
                deletions_found: 0,
                media: Default::default(),
                channel_name: "Alpha News".into(),
                messages_collected: 6,
                channels_processed: 1,
                total_channels: 1,
                errors: 0,
                progress_time: now,
                error: None,
            }),
            AuditEvent::End(CollectionEnd {
                edits_found: 0,
                deletions_found: 0,
                media: Default::default(),
                total_messages: 6,
                channels_synced: 1,
                total_channels: 1,
                errors: 0,
                end_time: now,
                aborted: false,
                reason: None,
            }),
        ]
    );
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn a_full_export_imports_channels_and_supergroups_and_updates_edits_in_place(pool: PgPool) {
    // The channel was collected before: its access hash and username must survive the import.
    Store::new(pool.clone())
        .remember_channel(
            &ResolvedChannel {
                id: 1001,
                access_hash: Some(77),
                username: Some("alpha".into()),
                title: Some("Alpha News".into()),
            },
            1,
            at(1_762_400_000),
        )
        .await
        .unwrap();
    run_import(&pool, "channel_result.json", "import-1").await;

    let report = run_import(&pool, "full_export/result.json", "import-2").await;
    assert_eq!(
        report.skipped,
        vec!["Bob".to_owned()],
        "private chats are not channels"
    );
    assert_eq!(
        report.summary,
        RunTotals {
            // Message 2's edit: its first version is kept.
            edits_found: 1,
            deletions_found: 0,
            media: Default::default(),
            total_messages: 4,
            channels_synced: 2,
            errors: 0,
            end: RunEnd::Finished
        }
    );
    assert_eq!(
        report.local_dates, 2,
        "the left supergroup's dates have no unixtime"
    );

    let alpha = rows(&pool, 1001).await;
    assert_eq!(
        alpha.iter().map(|r| r.0).collect::<Vec<_>>(),
        vec![2, 3, 4, 5, 7]
    );
    assert_eq!(alpha[0].3, "Hello, readers (corrected)");
    assert_eq!(alpha[0].2, Some(at(1_762_250_400)));
    assert_eq!(
        alpha[0].9,
        Some(json!([{"type": "emoji", "emoji": "👍", "count": 40}]))
    );
    let old = rows(&pool, 2002).await;
    assert_eq!(
        old.iter().map(|r| (r.0, r.1)).collect::<Vec<_>>(),
        vec![(10, at(1_704_067_200)), (11, at(1_704_067_260)),]
    );
    let (hash, username, checkpoint): (Option<i64>, Option<String>, i64) = sqlx::query_as(
        "SELECT h.access_hash, username, checkpoint
           FROM channels c LEFT JOIN channel_access_hashes h ON h.channel_id = c.id
          WHERE c.id = 1001",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        (hash, username.as_deref(), checkpoint),
        (Some(77), Some("alpha"), 7)
    );

    // Importing the same file again changes nothing.
    run_import(&pool, "full_export/result.json", "import-3").await;
    assert_eq!(count(&pool, "messages").await, 9);
}

#[tokio::test]
async fn a_truncated_export_is_refused_before_anything_is_stored() {
    let error = import::check(&request(common::fixture("broken_result.json")))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("not a Telegram Desktop JSON export"),
        "{error}"
    );
    assert!(error.contains("at line"), "{error}");
}

// ---- Regression tests, through the binary as a user runs it. ----

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn a_nul_character_is_stored_as_a_replacement_character_in_every_field(pool: PgPool) {
    let mut messages = posts(208);
    messages[149] = json!({
        "id": 150, "type": "message", "date_unixtime": "1761996600",
        "from": "Alpha\u{0}News", "from_id": "channel1001", "author": "Ed\u{0}itor",
        "text": ["bad\u{0}text ", {"type": "text_link", "text": "link", "href": "https://x.test/\u{0}"}],
        "poll": {"question": "q\u{0}?", "closed": false, "total_voters": 0, "answers": []},
        "reactions": [{"type": "emoji", "count": 2, "emoji": "\u{0}"}]
    });
    let dir = temp_dir("nul");
    let path = write(
        &dir,
        "result.json",
        chat_export("Alpha\u{0}", "public_channel", 1001, messages),
    );

    succeeded(&common::import(&pool, &path, "import-nul", &[]));

    assert_eq!(
        message_ids(&pool, 1001).await,
        (1..=208).collect::<Vec<_>>()
    );
    assert_eq!(checkpoint(&pool, 1001).await, Some(208));
    let text: String = column(&pool, 1001, 150, "text").await;
    assert_eq!(text, "bad\u{FFFD}text link");
    let author: String = column(&pool, 1001, 150, "post_author").await;
    assert_eq!(author, "Ed\u{FFFD}itor");
    let media: Value = column(&pool, 1001, 150, "media").await;
    assert_eq!(media["question"], "q\u{FFFD}?");
    let reactions: Value = column(&pool, 1001, 150, "reactions").await;
    assert_eq!(reactions[0]["emoji"], "\u{FFFD}");
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn a_message_id_twice_in_one_export_is_stored_once_with_the_later_edit(pool: PgPool) {
    let mut messages = posts(3);
    let mut corrected = post(2, 1_761_987_720, "post 2 corrected");
    corrected["edited_unixtime"] = json!("1761990000");
    messages.push(corrected);
    let dir = temp_dir("duplicate");
    let path = write(
        &dir,
        "result.json",
        chat_export("Alpha", "public_channel", 1001, messages),
    );

    succeeded(&common::import(&pool, &path, "import-dup", &[]));

    assert_eq!(message_ids(&pool, 1001).await, vec![1, 2, 3]);
    let text: String = column(&pool, 1001, 2, "text").await;
    assert_eq!(text, "post 2 corrected");
    assert_eq!(checkpoint(&pool, 1001).await, Some(3));
}

/// Seen on a real export: a message listed twice was counted twice ("imported 214 messages",
/// 213 stored). The second copy comes pages later, where a page's own dedup cannot see it.
#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn a_message_listed_twice_pages_apart_counts_once(pool: PgPool) {
    let mut messages = posts(150);
    messages.push(post(5, 1_761_987_720, "post 5 again"));
    let dir = temp_dir("duplicate-count");
    let path = write(
        &dir,
        "result.json",
        chat_export("Alpha", "public_channel", 1001, messages),
    );

    let out = succeeded(&common::import(&pool, &path, "import-dup-count", &[]));

    assert_eq!(message_ids(&pool, 1001).await.len(), 150);
    assert!(out.contains("imported 150 messages"), "{out}");
    // Two copies of one version an export cannot date apart: the first stays, and the other
    // is kept beside it, not dropped; whether the reading put them in one statement or two.
    let text: String = column(&pool, 1001, 5, "text").await;
    assert_eq!(text, "post 5");
    let kept: Vec<String> = sqlx::query_scalar(
        "SELECT text FROM message_versions WHERE channel_id = 1001 AND message_id = 5",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(kept, ["post 5 again"]);
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn a_page_the_database_refuses_fails_the_import_loudly_and_stores_nothing_of_that_chat(
    pool: PgPool,
) {
    sqlx::query("ALTER TABLE messages ADD CONSTRAINT no_spam CHECK (text <> 'spam')")
        .execute(&pool)
        .await
        .unwrap();
    let mut messages = posts(208);
    messages[149] = post(150, 1_761_996_600, "spam");
    let dir = temp_dir("refused");
    let path = write(
        &dir,
        "result.json",
        chat_export("Alpha", "public_channel", 1001, messages),
    );

    let output = common::import(&pool, &path, "import-refused", &[]);

    let line = common::stderr(&output);
    assert_ne!(output.status.code(), Some(0), "{line}");
    assert_eq!(line.lines().count(), 1, "{line}");
    assert!(
        line.contains("violates check constraint \"no_spam\""),
        "{line}"
    );
    assert!(line.contains("Alpha"), "{line}");
    assert!(
        !line.contains(" at line "),
        "no PostgreSQL source location: {line}"
    );
    assert_eq!(count(&pool, "messages").await, 0, "never half-done");
    assert_eq!(count(&pool, "channels").await, 0);
    let errors = audit_errors(&pool, "import-refused").await;
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0]["reason"], "storage");
    let message = errors[0]["message"].as_str().unwrap();
    assert!(
        message.contains("violates check constraint \"no_spam\""),
        "{message}"
    );
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn importing_over_collected_rows_keeps_counters_and_newer_edits(pool: PgPool) {
    let store = Store::new(pool.clone());
    store
        .remember_channel(
            &ResolvedChannel {
                id: 1001,
                access_hash: Some(77),
                username: Some("alpha".into()),
                title: Some("Alpha News".into()),
            },
            1,
            at(1_762_400_000),
        )
        .await
        .unwrap();
    let mut hello = MessageRow::text(2, at(1_761_987_900), "Hello (edited twice)");
    hello.edit_date = Some(at(1_762_300_000));
    hello.views = Some(1500);
    hello.forwards = Some(12);
    hello.replies = Some(7);
    hello.grouped_id = Some(99);
    hello.reply_to_message_id = Some(1);
    let mut picture = MessageRow::text(3, at(1_761_991_200), "See this picture");
    picture.views = Some(900);
    picture.media = Some(Media {
        kind: "photo".into(),
        metadata: json!({"photo_id": "456", "spoiler": false}),
    });
    store
        .store_batch(1001, &[hello, picture], 3, at(1_762_400_000))
        .await
        .unwrap();

    let mut older_edit = post(2, 1_761_987_900, "Hello (edited once)");
    older_edit["edited_unixtime"] = json!("1762250400");
    let mut photo = post(3, 1_761_991_200, "See this picture");
    photo["photo"] = json!("photos/photo_1.jpg");
    photo["width"] = json!(1280);
    photo["height"] = json!(720);
    let dir = temp_dir("over-collected");
    let path = write(
        &dir,
        "result.json",
        chat_export(
            "Alpha News",
            "public_channel",
            1001,
            vec![older_edit, photo],
        ),
    );

    succeeded(&common::import(&pool, &path, "import-over", &[]));

    let text: String = column(&pool, 1001, 2, "text").await;
    assert_eq!(
        text, "Hello (edited twice)",
        "an older edit never reverts a newer one"
    );
    let edit: Option<DateTime<Utc>> = column(&pool, 1001, 2, "edit_date").await;
    assert_eq!(edit, Some(at(1_762_300_000)));
    let counters: Vec<Option<i64>> = sqlx::query_scalar(
        "SELECT unnest(ARRAY[views, forwards, replies, grouped_id, reply_to_message_id])
           FROM messages WHERE channel_id = 1001 AND message_id = 2",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(counters, [Some(1500), Some(12), Some(7), Some(99), Some(1)]);
    let views: Option<i32> = column(&pool, 1001, 3, "views").await;
    assert_eq!(views, Some(900), "what the export lacks is kept");
    let media: Value = column(&pool, 1001, 3, "media").await;
    assert_eq!(
        media["photo_id"], "456",
        "collected media metadata is kept: {media}"
    );
    assert_eq!(media["photo"], "photos/photo_1.jpg", "{media}");
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn forwards_name_their_origin_in_one_typed_form(pool: PgPool) {
    let mut from_channel = post(2, 1_761_987_900, "forwarded");
    from_channel["forwarded_from"] = json!("Beta Daily");
    from_channel["forwarded_from_id"] = json!("channel3397140320");
    let mut from_user = post(3, 1_761_988_000, "forwarded too");
    from_user["forwarded_from"] = json!("Bob");
    from_user["forwarded_from_id"] = json!("user5684517693");
    let dir = temp_dir("forward");
    let path = write(
        &dir,
        "result.json",
        chat_export(
            "Alpha",
            "public_channel",
            1001,
            vec![from_channel, from_user],
        ),
    );

    succeeded(&common::import(&pool, &path, "import-forward", &[]));

    let forward: Value = column(&pool, 1001, 2, "forward").await;
    assert_eq!(
        forward,
        json!({"from_id": {"type": "channel", "id": 3_397_140_320_i64}, "from_name": "Beta Daily"})
    );
    let forward: Value = column(&pool, 1001, 3, "forward").await;
    assert_eq!(
        forward["from_id"],
        json!({"type": "user", "id": 5_684_517_693_i64})
    );
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn a_reply_into_another_chat_is_not_attached_to_this_channels_message(pool: PgPool) {
    let mut here = post(5, 1_761_988_000, "reply here");
    here["reply_to_message_id"] = json!(2);
    let mut elsewhere = post(6, 1_761_988_060, "reply elsewhere");
    elsewhere["reply_to_message_id"] = json!(2);
    elsewhere["reply_to_peer_id"] = json!("channel777");
    let dir = temp_dir("reply");
    let path = write(
        &dir,
        "result.json",
        chat_export(
            "Alpha",
            "public_channel",
            1001,
            vec![post(2, 1_761_987_900, "root"), here, elsewhere],
        ),
    );

    succeeded(&common::import(&pool, &path, "import-reply", &[]));

    let same: Option<i64> = column(&pool, 1001, 5, "reply_to_message_id").await;
    assert_eq!(same, Some(2));
    let other: Option<i64> = column(&pool, 1001, 6, "reply_to_message_id").await;
    assert_eq!(
        other, None,
        "message 2 of channel 777 is not message 2 of this channel"
    );
    let peer: Value = column(&pool, 1001, 6, "reply_to_other_chat").await;
    assert_eq!(
        peer,
        json!({"peer": {"type": "channel", "id": 777}, "message_id": 2})
    );
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn an_old_format_export_gets_the_bare_channel_id_and_its_local_dates_are_explained(
    pool: PgPool,
) {
    // A 2021 export: the channel id carries 0x200000000 and dates are local, without unixtime.
    let old = json!({"id": 7, "type": "message", "date": "2021-03-01T12:00:00", "from": "Old",
                     "from_id": 10083966286_i64, "text": "old post"});
    let dir = temp_dir("old-format");
    let path = write(
        &dir,
        "result.json",
        chat_export("Old Channel", "public_channel", 10_083_966_286, vec![old]),
    );

    let stdout = succeeded(&common::import(&pool, &path, "import-old", &[]));

    assert_eq!(message_ids(&pool, 1_494_031_694).await, vec![7]);
    assert_eq!(count(&pool, "channels").await, 1);
    assert!(
        stdout.contains("1 date without date_unixtime read as UTC")
            && stdout.contains("--timezone"),
        "{stdout}"
    );
    let date: DateTime<Utc> = column(&pool, 1_494_031_694, 7, "date").await;
    assert_eq!(
        date,
        "2021-03-01T12:00:00Z".parse::<DateTime<Utc>>().unwrap()
    );

    let stdout = succeeded(&common::import(
        &pool,
        &path,
        "import-old-berlin",
        // A reading that corrects an earlier one says it is the newer one.
        &[
            "--timezone",
            "Europe/Berlin",
            "--exported-at",
            "2026-12-01T00:00:00Z",
        ],
    ));
    assert!(stdout.contains("Europe/Berlin"), "{stdout}");
    let date: DateTime<Utc> = column(&pool, 1_494_031_694, 7, "date").await;
    assert_eq!(
        date,
        "2021-03-01T11:00:00Z".parse::<DateTime<Utc>>().unwrap()
    );
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn two_imports_in_the_same_second_get_different_run_ids(pool: PgPool) {
    let url = common::url_of(&pool);
    let path = common::fixture("channel_result.json");
    for _ in 0..2 {
        succeeded(&common::run(&["import", &path], &[("DATABASE_URL", &url)]));
    }
    let runs: i64 = sqlx::query_scalar(
        "SELECT count(DISTINCT run_id) FROM mtproto_audit_log WHERE action = 'collection_start'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(runs, 2);
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn an_unknown_reaction_type_is_stored_as_unknown(pool: PgPool) {
    let mut message = post(2, 1_761_987_900, "reacted");
    message["reactions"] = json!([
        {"type": "emoji", "count": 3, "emoji": "👍"},
        {"type": "sparkle", "count": 2}
    ]);
    let dir = temp_dir("unknown-reaction");
    let path = write(
        &dir,
        "result.json",
        chat_export("Alpha", "public_channel", 1001, vec![message]),
    );

    succeeded(&common::import(&pool, &path, "import-reaction", &[]));

    let reactions: Value = column(&pool, 1001, 2, "reactions").await;
    assert_eq!(
        reactions,
        json!([
            {"type": "emoji", "emoji": "👍", "count": 3},
            {"type": "unknown", "source_type": "sparkle", "count": 2}
        ])
    );
}

/// A stop (SIGTERM, SIGINT) during an import: the chats committed stay, the one being stored is
/// rolled back, and the run's `collection_end` says it was aborted by a signal, as a collect
/// run's does; the binary exits 5.
#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn a_stopped_import_ends_its_run_as_aborted(pool: PgPool) {
    let (trigger, stop) = collector_job::app::shutdown::channel();
    trigger.trigger();
    let stopped = import_with(&pool, "channel_result.json", "import-stopped", stop).await;
    assert!(
        matches!(stopped, Err(ImportError::Stopped { imported: 0, .. })),
        "{stopped:?}"
    );
    let rows = contract::audit::read_run(&pool, "import-stopped")
        .await
        .unwrap();
    let Some(Ok(AuditEvent::End(end))) = rows.last().map(|r| r.event.clone()) else {
        panic!("the run ends with collection_end: {rows:?}");
    };
    assert!(end.aborted);
    assert_eq!(end.reason, Some(contract::audit::EndReason::Terminated));
}

/// A post with reactions and, when `voters` is given, a poll of that many voters.
fn counted_post(id: i64, unix: i64, thumbs: i64, voters: Option<i64>) -> Value {
    let mut message = post(id, unix, &format!("post {id}"));
    message["reactions"] = json!([{"type": "emoji", "count": thumbs, "emoji": "👍"}]);
    if let Some(voters) = voters {
        message["poll"] = json!({
            "question": "Which?", "closed": false, "total_voters": voters,
            "answers": [{"text": "A", "voters": voters}]
        });
    }
    message
}

/// Seen on real exports: an older export copied without its file time (`cp`, `git`, a
/// download) looked newer than the one imported before it, and reverted its reactions
/// (101 -> 1) and poll total (116 -> 109). An export's age now comes from what it holds, so
/// the older one never replaces a newer value, and what it showed is kept, not dropped.
#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn an_older_export_imported_later_reverts_nothing_and_its_values_are_kept(pool: PgPool) {
    let dir = temp_dir("older-export");
    // The newer export has one more post: it was made later.
    let newer = chat_export(
        "Alpha",
        "public_channel",
        1001,
        vec![
            counted_post(1, 1_761_987_660, 101, Some(116)),
            post(2, 1_762_000_000, "a later post"),
        ],
    );
    let older = chat_export(
        "Alpha",
        "public_channel",
        1001,
        vec![counted_post(1, 1_761_987_660, 1, Some(109))],
    );
    let newer = write(&dir, "newer.json", newer);
    succeeded(&common::import(&pool, &newer, "import-newer", &[]));
    // Copied today: the older file is the newest on disk.
    let older = write(&dir, "older.json", older);
    succeeded(&common::import(&pool, &older, "import-older", &[]));

    let reactions: Value = column(&pool, 1001, 1, "reactions").await;
    assert_eq!(reactions[0]["count"], 101);
    let media: Value = column(&pool, 1001, 1, "media").await;
    assert_eq!(media["total_voters"], 116);
    // The older export's values are history, at the older export's time.
    let kept: Vec<Value> = sqlx::query_scalar(
        "SELECT reactions FROM message_stats WHERE channel_id = 1001 AND message_id = 1",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0][0]["count"], 1);
    let older_poll: Vec<Value> = sqlx::query_scalar(
        "SELECT media FROM message_versions WHERE channel_id = 1001 AND message_id = 1",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(older_poll.len(), 1);
    assert_eq!(older_poll[0]["total_voters"], 109);

    // Said explicitly, an export's time wins over what its messages suggest.
    let flagged = write(
        &dir,
        "flagged.json",
        chat_export(
            "Alpha",
            "public_channel",
            1001,
            vec![counted_post(1, 1_761_987_660, 150, Some(120))],
        ),
    );
    succeeded(&common::import(
        &pool,
        &flagged,
        "import-flagged",
        &["--exported-at", "2026-01-01T00:00:00Z"],
    ));
    let reactions: Value = column(&pool, 1001, 1, "reactions").await;
    assert_eq!(reactions[0]["count"], 150);
}

/// Seen on real exports: an older export reverted the channel's title, and a chat without a
/// name replaced the title with its id.
#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn an_older_or_nameless_export_keeps_the_newer_title(pool: PgPool) {
    let dir = temp_dir("titles");
    let newer = chat_export(
        "Alpha, renamed",
        "public_channel",
        1001,
        vec![post(1, 1_761_987_660, "one"), post(2, 1_762_000_000, "two")],
    );
    succeeded(&common::import(
        &pool,
        &write(&dir, "newer.json", newer),
        "i-1",
        &[],
    ));
    let older = chat_export(
        "Alpha",
        "public_channel",
        1001,
        vec![post(1, 1_761_987_660, "one")],
    );
    succeeded(&common::import(
        &pool,
        &write(&dir, "older.json", older),
        "i-2",
        &[],
    ));
    let nameless = json!({"type": "public_channel", "id": 1001,
                          "messages": [post(3, 1_762_100_000, "three")]});
    succeeded(&common::import(
        &pool,
        &write(&dir, "nameless.json", nameless.to_string()),
        "i-3",
        &[],
    ));

    let title: Option<String> = sqlx::query_scalar("SELECT title FROM channels WHERE id = 1001")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(title.as_deref(), Some("Alpha, renamed"));
}

/// Seen on real exports: importing the same file again rewrote every row (`collected_at` of
/// all 924 rows). Now nothing is written, and the summary says so.
#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn importing_an_identical_export_again_writes_nothing(pool: PgPool) {
    let dir = temp_dir("identical");
    let path = write(
        &dir,
        "result.json",
        chat_export("Alpha", "public_channel", 1001, posts(120)),
    );
    let first = succeeded(&common::import(&pool, &path, "import-1", &[]));
    assert!(first.contains("120 rows written"), "{first}");
    let written_at: Vec<DateTime<Utc>> = sqlx::query_scalar(
        "SELECT collected_at FROM messages WHERE channel_id = 1001 ORDER BY message_id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();

    let again = succeeded(&common::import(&pool, &path, "import-2", &[]));

    assert!(again.contains("0 rows written"), "{again}");
    let after: Vec<DateTime<Utc>> = sqlx::query_scalar(
        "SELECT collected_at FROM messages WHERE channel_id = 1001 ORDER BY message_id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(after, written_at);
    assert_eq!(count(&pool, "message_versions").await, 0);
    assert_eq!(count(&pool, "message_stats").await, 0);
}

/// Seen on real exports: an older version filled the newer row's NULL `post_author` and
/// merged its photo's keys into the newer row's different photo (one row describing two
/// photos). An older version fills nothing of a newer edit, and is kept as a version.
#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn an_older_version_fills_nothing_of_a_newer_edit(pool: PgPool) {
    let store = Store::new(pool.clone());
    let channel = ResolvedChannel {
        id: 1001,
        access_hash: Some(77),
        username: Some("alpha".into()),
        title: Some("Alpha".into()),
    };
    store
        .remember_channel(&channel, 1, at(1_762_400_000))
        .await
        .unwrap();
    // Live: the post was edited to a new photo, unsigned.
    let mut edited = MessageRow::text(5, at(1_761_987_660), "new caption");
    edited.edit_date = Some(at(1_762_300_000));
    edited.media = Some(Media {
        kind: "photo".into(),
        metadata: json!({"id": "900", "sizes": ["x"]}),
    });
    store
        .store_batch(1001, &[edited], 5, at(1_762_400_000))
        .await
        .unwrap();

    // An export made before the edit: the first photo, signed.
    let mut first = counted_post(5, 1_761_987_660, 3, None);
    first["text"] = json!("old caption");
    first["text_entities"] = json!([{"type": "plain", "text": "old caption"}]);
    first["author"] = json!("Editor");
    first["photo"] = json!("photos/photo_5.jpg");
    first["width"] = json!(1280);
    first["height"] = json!(720);
    let dir = temp_dir("older-version");
    let path = write(
        &dir,
        "result.json",
        chat_export("Alpha", "public_channel", 1001, vec![first]),
    );
    succeeded(&common::import(
        &pool,
        &path,
        "import-old",
        &["--exported-at", "2025-11-05T00:00:00Z"],
    ));

    let author: Option<String> = column(&pool, 1001, 5, "post_author").await;
    assert_eq!(author, None);
    let media: Value = column(&pool, 1001, 5, "media").await;
    assert_eq!(media, json!({"id": "900", "sizes": ["x"]}));
    let text: String = column(&pool, 1001, 5, "text").await;
    assert_eq!(text, "new caption");
    let older: Vec<(String, Option<String>, Value)> = sqlx::query_as(
        "SELECT text, post_author, media FROM message_versions
          WHERE channel_id = 1001 AND message_id = 5",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(older.len(), 1);
    assert_eq!(older[0].0, "old caption");
    assert_eq!(older[0].1.as_deref(), Some("Editor"));
    assert_eq!(older[0].2["photo"], "photos/photo_5.jpg");
}
