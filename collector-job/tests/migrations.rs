//! The data migrations (typed peers, bare channel ids) on rows stored by earlier versions: a database at the last
//! schema before them gets old-format rows, then the whole migrator runs, as an upgrade does.

use serde_json::{Value, json};
use sqlx::PgPool;

/// The last migration of the schema these rows were written under.
const BEFORE: i64 = 20_261_130_999_999;

async fn old_database(pool: &PgPool) {
    contract::MIGRATOR.run_to(BEFORE, pool).await.unwrap();
}

async fn message(pool: &PgPool, channel: i64, id: i64, forward: Option<Value>) {
    sqlx::query(
        "INSERT INTO messages (channel_id, message_id, date, text, forward)
         VALUES ($1, $2, now(), 'x', $3)",
    )
    .bind(channel)
    .bind(id)
    .bind(forward)
    .execute(pool)
    .await
    .unwrap();
}

async fn forward(pool: &PgPool, channel: i64, id: i64) -> Option<Value> {
    sqlx::query_scalar("SELECT forward FROM messages WHERE channel_id = $1 AND message_id = $2")
        .bind(channel)
        .bind(id)
        .fetch_one(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrations = false)]
async fn forward_origins_of_both_old_formats_become_typed_peers(pool: PgPool) {
    old_database(&pool).await;
    sqlx::query("INSERT INTO channels (id) VALUES (1001)")
        .execute(&pool)
        .await
        .unwrap();
    let date = json!("2025-11-08T11:06:40Z");
    // What `collect` wrote, what `import` wrote, and forwards without an origin id.
    message(
        &pool,
        1001,
        1,
        Some(json!({"from_id": "channel:777", "date": date})),
    )
    .await;
    message(&pool, 1001, 2, Some(json!({"from_id": "user:45"}))).await;
    message(&pool, 1001, 3, Some(json!({"from_id": "chat:6"}))).await;
    message(
        &pool,
        1001,
        4,
        Some(json!({"from_id": "channel3397140320", "from_name": "Beta"})),
    )
    .await;
    message(&pool, 1001, 5, Some(json!({"from_id": "user5684517693"}))).await;
    message(&pool, 1001, 6, Some(json!({"from_name": "Hidden"}))).await;
    message(&pool, 1001, 7, None).await;

    contract::MIGRATOR.run(&pool).await.unwrap();

    let typed = |kind: &str, id: i64| json!({"type": kind, "id": id});
    assert_eq!(
        forward(&pool, 1001, 1).await,
        Some(json!({"from_id": typed("channel", 777), "date": date}))
    );
    assert_eq!(
        forward(&pool, 1001, 2).await,
        Some(json!({"from_id": typed("user", 45)}))
    );
    assert_eq!(
        forward(&pool, 1001, 3).await,
        Some(json!({"from_id": typed("chat", 6)}))
    );
    assert_eq!(
        forward(&pool, 1001, 4).await,
        Some(json!({"from_id": typed("channel", 3_397_140_320), "from_name": "Beta"}))
    );
    assert_eq!(
        forward(&pool, 1001, 5).await,
        Some(json!({"from_id": typed("user", 5_684_517_693)}))
    );
    assert_eq!(
        forward(&pool, 1001, 6).await,
        Some(json!({"from_name": "Hidden"}))
    );
    assert_eq!(forward(&pool, 1001, 7).await, None);
}

#[sqlx::test(migrations = false)]
async fn channels_imported_under_old_format_ids_move_to_their_bare_ids(pool: PgPool) {
    old_database(&pool).await;
    // 10083966286 = 0x200000000 + 1494031694: imported from a 2021 export. The same channel was
    // also collected (message 8 both ways, 9 only collected).
    for insert in [
        "INSERT INTO channels (id, title, checkpoint) VALUES (10083966286, 'Old', 8)",
        "INSERT INTO channels (id, access_hash, username, title, checkpoint)
              VALUES (1494031694, 5, 'old', 'Old (live)', 9)",
    ] {
        sqlx::query(insert).execute(&pool).await.unwrap();
    }
    for id in [7, 8] {
        message(&pool, 10_083_966_286, id, None).await;
    }
    for id in [8, 9] {
        message(&pool, 1_494_031_694, id, None).await;
    }
    sqlx::query("UPDATE messages SET text = 'live' WHERE channel_id = 1494031694")
        .execute(&pool)
        .await
        .unwrap();

    contract::MIGRATOR.run(&pool).await.unwrap();

    let rows: Vec<(i64, i64, String)> = sqlx::query_as(
        "SELECT channel_id, message_id, text FROM messages ORDER BY channel_id, message_id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        rows,
        vec![
            (1_494_031_694, 7, "x".into()),
            (1_494_031_694, 8, "live".into()),
            (1_494_031_694, 9, "live".into()),
        ]
    );
    type Channel = (i64, Option<i64>, Option<String>, Option<String>, i64);
    let channels: Vec<Channel> =
        sqlx::query_as("SELECT id, access_hash, username, title, checkpoint FROM channels")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(
        channels,
        vec![(
            1_494_031_694,
            Some(5),
            Some("old".into()),
            Some("Old (live)".into()),
            9
        )]
    );
}

#[sqlx::test(migrations = false)]
async fn cached_access_hashes_move_to_the_unknown_account(pool: PgPool) {
    // The schema just before access hashes became per account (migration 20261202000002).
    contract::MIGRATOR
        .run_to(20_261_202_000_001, &pool)
        .await
        .unwrap();
    for insert in [
        "INSERT INTO channels (id, access_hash, username) VALUES (1001, -77, 'alpha')",
        "INSERT INTO channels (id, username) VALUES (1002, 'beta')",
    ] {
        sqlx::query(insert).execute(&pool).await.unwrap();
    }

    contract::MIGRATOR.run(&pool).await.unwrap();

    let hashes: Vec<(i64, i64, i64)> = sqlx::query_as(
        "SELECT account_id, channel_id, access_hash FROM channel_access_hashes ORDER BY 2",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        hashes,
        vec![(0, 1001, -77)],
        "only channels that had a hash"
    );
}
