//! Storage throughput: N synthetic messages through the project's storage path (pages of 100,
//! one statement per page: UNNEST upsert plus the checkpoint move) against a per-message
//! INSERT baseline, in one fresh database. Both run in alternating rounds (the machine may be
//! busy with other work); prints the median messages/second of each and their ratio.
//!
//!     DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
//!         cargo bench -p collector-job --bench storage
//!
//! The bench prints whether its connection uses TLS; add `?sslmode=disable` to compare.
//! (sqlx 0.9.0 alone lacks TCP_NODELAY and stalls ~40 ms per round trip over TLS; the
//! workspace patches it, see vendor/README.md.)
//!
//! BENCH_MESSAGES (default 20000) and BENCH_BASELINE_MESSAGES (default 2000) set the sizes
//! per round, BENCH_ROUNDS (default 5) the rounds; BENCH_TEXT_REPEAT (default 7, about 300
//! characters) the length of each message's text.

use std::time::Instant;

use chrono::{DateTime, Utc};
use collector_job::app::config::MAX_BATCH;
use collector_job::store::Store;
use collector_job::store::model::MessageRow;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

mod common;
use common::{ScratchDatabase, env_number};

/// Channel-post-like rows: ~300 characters of text, views, reactions of every kind, every
/// fifth with media and every seventh forwarded.
fn synthetic(count: usize, first_id: i64) -> Vec<MessageRow> {
    let start = DateTime::from_timestamp(1_762_673_674, 0).expect("valid instant");
    common::posts(first_id, count, env_number("BENCH_TEXT_REPEAT", 7), start)
}

/// The baseline: what a naive collector does, one INSERT statement (and commit) per message.
async fn insert_one(pool: &PgPool, channel_id: i64, m: &MessageRow) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO messages (channel_id, message_id, date, edit_date, text, views, forwards,
                               replies, post_author, grouped_id, reply_to_message_id, forward,
                               media_kind, media, reactions)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
         ON CONFLICT (channel_id, message_id) DO UPDATE SET text = EXCLUDED.text,
             edit_date = EXCLUDED.edit_date, views = EXCLUDED.views,
             reactions = EXCLUDED.reactions",
    )
    .bind(channel_id)
    .bind(m.id)
    .bind(m.date)
    .bind(m.edit_date)
    .bind(&m.text)
    .bind(m.views)
    .bind(m.forwards)
    .bind(m.replies)
    .bind(&m.post_author)
    .bind(m.grouped_id)
    .bind(m.reply_to_message_id)
    .bind(&m.forward)
    .bind(m.media.as_ref().map(|media| media.kind.as_str()))
    .bind(m.media.as_ref().map(|media| &media.metadata))
    .bind(m.reactions_json())
    .execute(pool)
    .await?;
    Ok(())
}

/// Sorts `rates` and returns their median.
fn median(rates: &mut [f64]) -> f64 {
    rates.sort_by(f64::total_cmp);
    rates[rates.len() / 2]
}

async fn channel(store: &Store, id: i64) {
    common::remember_channel(store, id, "bench").await;
}

async fn batched(store: &Store, channel_id: i64, rows: &[MessageRow], now: DateTime<Utc>) -> f64 {
    let started = Instant::now();
    for page in rows.chunks(MAX_BATCH) {
        let through = page.last().map_or(0, |m| m.id);
        store
            .store_batch(channel_id, page, through, now)
            .await
            .expect("batch stored");
    }
    rows.len() as f64 / started.elapsed().as_secs_f64()
}

async fn per_message(pool: &PgPool, channel_id: i64, rows: &[MessageRow]) -> f64 {
    let started = Instant::now();
    for row in rows {
        insert_one(pool, channel_id, row).await.expect("row stored");
    }
    rows.len() as f64 / started.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() {
    // `cargo bench` passes `--bench`; test runners (`cargo test --all-targets`, nextest's
    // `--list`) must find no tests here rather than run a benchmark.
    if !std::env::args().any(|arg| arg == "--bench") {
        return;
    }
    let admin_url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let n = env_number::<usize>("BENCH_MESSAGES", 20_000);
    let n_baseline = env_number::<usize>("BENCH_BASELINE_MESSAGES", 2_000);

    let scratch = ScratchDatabase::create(&admin_url, "collector_bench").await;
    let database = scratch.name.clone();
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .connect(&scratch.url)
        .await
        .expect("connect to the bench database");
    contract::MIGRATOR.run(&pool).await.expect("migrate");
    let tls: bool = sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .fetch_one(&pool)
        .await
        .expect("read the connection's TLS state");
    let store = Store::new(pool.clone());
    let now = Utc::now();
    let rounds = env_number::<usize>("BENCH_ROUNDS", 5).max(1);
    let channels = 2 + 2 * rounds as i64;
    for id in 1..=channels {
        channel(&store, id).await;
    }

    // Warm-up (connections, prepared statements, caches), not measured.
    batched(&store, 1, &synthetic(500, 1), now).await;
    per_message(&pool, 2, &synthetic(200, 1)).await;

    let mut batch_rates = Vec::with_capacity(rounds);
    let mut baseline_rates = Vec::with_capacity(rounds);
    for round in 0..rounds as i64 {
        batch_rates.push(batched(&store, 3 + 2 * round, &synthetic(n, 1), now).await);
        baseline_rates.push(per_message(&pool, 4 + 2 * round, &synthetic(n_baseline, 1)).await);
    }
    let (batch_rate, baseline_rate) = (median(&mut batch_rates), median(&mut baseline_rates));

    let transport = if tls { "TLS" } else { "plain TCP" };
    println!(
        "storage benchmark (PostgreSQL over {transport}, fresh database {database}, {rounds} rounds)"
    );
    println!(
        "  batched (pages of {MAX_BATCH}, one upsert+checkpoint statement each): {n} messages/round, median {batch_rate:.0} msg/s (min {:.0}, max {:.0})",
        batch_rates[0],
        batch_rates[rounds - 1]
    );
    println!(
        "  baseline (one INSERT per message, autocommit): {n_baseline} messages/round, median {baseline_rate:.0} msg/s (min {:.0}, max {:.0})",
        baseline_rates[0],
        baseline_rates[rounds - 1]
    );
    println!(
        "  ratio batched / baseline (medians): {:.1}x",
        batch_rate / baseline_rate
    );
    println!(
        "  Telegram's ceiling is about 100 msg/s per account: batched storage is {:.0}x that",
        batch_rate / 100.0
    );

    pool.close().await;
    scratch.drop().await;
}
