//! Telegram Desktop export import against real PostgreSQL, on the fixtures in
//! `tests/fixtures/` (written for these tests).

use audit::{
    AuditEvent, AuditWriter, CollectionEnd, CollectionProgress, CollectionStart, RunIdentity,
};
use chrono::{DateTime, Utc};
use collector_job::clock::ManualClock;
use collector_job::collect::{RunEnd, RunSummary};
use collector_job::export::{self, Export};
use collector_job::import::import;
use collector_job::model::ResolvedChannel;
use collector_job::store::Store;
use serde_json::{Value, json};
use sqlx::PgPool;

fn fixture(name: &str) -> Export {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    export::parse(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn at(unix: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(unix, 0).unwrap()
}

async fn run_import(pool: &PgPool, export: &Export, run_id: &str) -> RunSummary {
    let run = RunIdentity {
        run_id: run_id.into(),
        namespace: "news".into(),
        name: "archive".into(),
        pod_name: None,
    };
    let clock = ManualClock::at(at(1_764_000_000));
    import(
        export,
        &Store::new(pool.clone()),
        &AuditWriter::new(pool.clone(), run),
        &clock,
    )
    .await
    .unwrap()
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
           FROM messages WHERE channel_id = $1 ORDER BY message_id",
    )
    .bind(channel)
    .fetch_all(pool)
    .await
    .unwrap()
}

#[sqlx::test(migrator = "audit::MIGRATOR")]
async fn a_single_chat_export_is_stored_with_every_field_and_audited(pool: PgPool) {
    let summary = run_import(&pool, &fixture("channel_result.json"), "import-1").await;

    assert_eq!(
        summary,
        RunSummary {
            total_messages: 4,
            channels_synced: 1,
            errors: 0,
            end: RunEnd::Finished
        }
    );
    let rows = rows(&pool, 1001).await;
    assert_eq!(
        rows.iter().map(|r| r.0).collect::<Vec<_>>(),
        vec![2, 3, 4, 5],
        "service messages are skipped"
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
    let forwarded = &rows[2];
    assert_eq!(forwarded.2, Some(at(1_762_072_200)));
    assert_eq!(forwarded.6, Some(json!({"from_name": "Beta Daily"})));
    let video = &rows[3];
    assert_eq!(video.7.as_deref(), Some("document"));
    assert_eq!(video.8.as_ref().unwrap()["mime_type"], "video/mp4");

    let (title, checkpoint): (String, i64) =
        sqlx::query_as("SELECT title, checkpoint FROM channels WHERE id = 1001")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(
        (title.as_str(), checkpoint),
        ("Alpha News", 6),
        "the trailing pin still moves the checkpoint"
    );

    let events: Vec<_> = audit::read_run(&pool, "import-1")
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
                channel_name: "Alpha News".into(),
                messages_collected: 4,
                channels_processed: 1,
                total_channels: 1,
                errors: 0,
                progress_time: now,
                error: None,
            }),
            AuditEvent::End(CollectionEnd {
                total_messages: 4,
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

#[sqlx::test(migrator = "audit::MIGRATOR")]
async fn a_full_export_imports_channels_and_supergroups_and_updates_edits_in_place(pool: PgPool) {
    // The channel was collected before: its access hash and username must survive the import.
    Store::new(pool.clone())
        .remember_channel(&ResolvedChannel {
            id: 1001,
            access_hash: Some(77),
            username: Some("alpha".into()),
            title: Some("Alpha News".into()),
        })
        .await
        .unwrap();
    run_import(&pool, &fixture("channel_result.json"), "import-1").await;

    let full = fixture("full_export/result.json");
    assert_eq!(
        full.skipped,
        vec!["Bob".to_owned()],
        "private chats are not channels"
    );
    let summary = run_import(&pool, &full, "import-2").await;
    assert_eq!(
        summary,
        RunSummary {
            total_messages: 4,
            channels_synced: 2,
            errors: 0,
            end: RunEnd::Finished
        }
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
    let (hash, username, checkpoint): (Option<i64>, Option<String>, i64) =
        sqlx::query_as("SELECT access_hash, username, checkpoint FROM channels WHERE id = 1001")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(
        (hash, username.as_deref(), checkpoint),
        (Some(77), Some("alpha"), 7)
    );

    // Importing the same file again changes nothing.
    run_import(&pool, &full, "import-3").await;
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM messages")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(count, 7);
}

#[test]
fn a_truncated_export_is_refused_before_anything_is_stored() {
    let path = format!(
        "{}/tests/fixtures/broken_result.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let error = export::parse(&std::fs::read_to_string(path).unwrap()).unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("not a Telegram Desktop JSON export"),
        "{error}"
    );
    assert!(
        error.to_string().contains("syntax error at line"),
        "{error}"
    );
}
