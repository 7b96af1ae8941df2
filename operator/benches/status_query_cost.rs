//! Status query cost against audit-log size: the seed's method (latest start/end/progress of a
//! user by timestamp, plus a scan of today's rows for errors) against ours (the run's rows by
//! run id, then `derive`), at 10^4, 10^6 and 10^7 rows.
//!
//! Run: `DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench -p operator
//! --bench status_query_cost` (sizes and repetitions: `BENCH_SIZES=10000,1000000`,
//! `BENCH_REPS=21`, `BENCH_SEED_REPS=5`). Creates a scratch database, fills it with `INSERT ... SELECT
//! generate_series`, prints medians, and drops the database.

#[path = "../tests/common/progress.rs"]
mod common;

use std::str::FromStr;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use contract::audit::PastRunLimits;
use operator::status::{ChannelDurations, Followed, derive, reader};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, PgPool, Row};

/// Rows per run: a start, 20 channels, an end; 50 collections (one seed "user" each).
const ROWS_PER_RUN: i64 = 22;
const COLLECTIONS: i64 = 50;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow_free::Result {
    let url = std::env::var("DATABASE_URL").map_err(|_| "set DATABASE_URL to an admin URL")?;
    let sizes: Vec<i64> = std::env::var("BENCH_SIZES")
        .unwrap_or_else(|_| "10000,1000000,10000000".into())
        .split(',')
        .map(|s| s.trim().parse::<i64>())
        .collect::<Result<_, _>>()?;
    let reps: usize = std::env::var("BENCH_REPS")
        .ok()
        .map(|r| r.parse())
        .transpose()?
        .unwrap_or(21);
    let seed_reps: usize = std::env::var("BENCH_SEED_REPS")
        .ok()
        .map(|r| r.parse())
        .transpose()?
        .unwrap_or(5);

    let admin_options = PgConnectOptions::from_str(&url)?;
    let scratch = format!("run_status_bench_{}", std::process::id());
    let mut admin = admin_options.connect().await?;
    // The name is ours (a fixed prefix and the process id), not input.
    sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {scratch}")))
        .execute(&mut admin)
        .await?;
    let result = run(
        admin_options.clone().database(&scratch),
        &sizes,
        reps,
        seed_reps,
    )
    .await;
    // Always drop the scratch database, even when the bench failed.
    sqlx::query(AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {scratch} WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await?;
    admin.close().await?;
    result
}

async fn run(
    options: PgConnectOptions,
    sizes: &[i64],
    reps: usize,
    seed_reps: usize,
) -> anyhow_free::Result {
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .connect_with(options)
        .await?;
    contract::MIGRATOR.run(&pool).await?;

    println!(
        "status query cost vs audit-log size (medians: ours of {reps}, seed of {seed_reps} repetitions, warm cache)"
    );
    println!(
        "{:>12} {:>10} | {:>14} {:>18} | {:>16} {:>20}",
        "rows", "fill", "seed", "seed+user index", "ours (run+derive)", "ours +history query"
    );
    let mut ours_by_size = Vec::new();
    let mut seed_by_size = Vec::new();
    for &n in sizes {
        let fill = Instant::now();
        let anchor = fill_table(&pool, n).await?;
        let fill = fill.elapsed();
        let target_run = latest_run(n);
        let user = (n - 1) / ROWS_PER_RUN % COLLECTIONS;

        let seed = median(seed_reps, || seed_status(&pool, user, anchor)).await?;
        sqlx::query("CREATE INDEX seed_user_idx ON mtproto_audit_log (user_id, action, timestamp)")
            .execute(&pool)
            .await?;
        sqlx::query("ANALYZE mtproto_audit_log")
            .execute(&pool)
            .await?;
        let seed_indexed = median(seed_reps, || seed_status(&pool, user, anchor)).await?;
        sqlx::query("DROP INDEX seed_user_idx")
            .execute(&pool)
            .await?;

        let ours = median(reps, || our_status(&pool, &target_run, false, anchor)).await?;
        let ours_history = median(reps, || our_status(&pool, &target_run, true, anchor)).await?;
        println!(
            "{n:>12} {:>9.1}s | {:>14} {:>18} | {:>16} {:>20}",
            fill.as_secs_f64(),
            ms(seed),
            ms(seed_indexed),
            ms(ours),
            ms(ours_history)
        );
        ours_by_size.push((n, ours));
        seed_by_size.push((n, seed));
    }

    if let (Some(first), Some(last)) = (ours_by_size.first(), ours_by_size.last()) {
        let ratio = |v: &[(i64, Duration)]| {
            v.last().unwrap().1.as_secs_f64() / v.first().unwrap().1.as_secs_f64()
        };
        println!(
            "ratio {}/{} rows: ours {:.2}x (must stay under 2x), seed {:.1}x",
            last.0,
            first.0,
            ratio(&ours_by_size),
            ratio(&seed_by_size)
        );
    }
    let plan: Vec<String> = sqlx::query("EXPLAIN SELECT id, timestamp, pod_name, action, metadata FROM mtproto_audit_log WHERE run_id = 'x' ORDER BY id")
        .fetch_all(&pool)
        .await?
        .iter()
        .map(|r| r.get::<String, _>(0))
        .collect();
    println!(
        "our run query plan: {}",
        plan.join(" / ")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    );
    pool.close().await;
    Ok(())
}

/// Empties the table and fills it with `n` rows of 50 collections' runs, one row per second
/// ending at the returned instant, so the newest run is the one a status refresh looks at.
async fn fill_table(pool: &PgPool, n: i64) -> anyhow_free::Result<DateTime<Utc>> {
    sqlx::query("TRUNCATE mtproto_audit_log RESTART IDENTITY")
        .execute(pool)
        .await?;
    // Bulk load without the secondary indexes, then rebuild them exactly as the migrations
    // define them: building an index once is far faster than 10^7 index inserts.
    let indexes: Vec<(String, String)> = sqlx::query_as(
        "SELECT indexname, indexdef FROM pg_indexes
          WHERE tablename = 'mtproto_audit_log' AND indexname <> 'mtproto_audit_log_pkey'",
    )
    .fetch_all(pool)
    .await?;
    for (name, _) in &indexes {
        sqlx::query(AssertSqlSafe(format!("DROP INDEX {name}")))
            .execute(pool)
            .await?;
    }
    let anchor: DateTime<Utc> = sqlx::query_scalar("SELECT date_trunc('second', now())")
        .fetch_one(pool)
        .await?;
    sqlx::query(
        "INSERT INTO mtproto_audit_log
             (user_id, action, timestamp, metadata, run_id, collection_namespace, collection_name, pod_name)
         SELECT c, action, ts,
                CASE action
                  WHEN 'collection_start' THEN jsonb_build_object('total_channels', 20, 'start_time', t)
                  WHEN 'collection_end' THEN jsonb_build_object(
                      'total_messages', 950, 'channels_synced', 19, 'total_channels', 20,
                      'errors', 1, 'end_time', t)
                  ELSE jsonb_build_object(
                      'channel_name', '@channel' || k, 'messages_collected', CASE WHEN k = 7 THEN 0 ELSE 50 END,
                      'channels_processed', k, 'total_channels', 20,
                      'errors', CASE WHEN k >= 7 THEN 1 ELSE 0 END, 'progress_time', t)
                    || CASE WHEN k = 7 THEN jsonb_build_object('error', jsonb_build_object(
                           'reason', 'channel_private', 'message', 'channel is private'))
                       ELSE '{}'::jsonb END
                END,
                'c' || c || '-' || r, 'bench', 'c' || c, 'c' || c || '-' || r || '-pod'
           FROM generate_series(0, $1 - 1) AS g,
                LATERAL (SELECT g / $2 AS r, g % $2 AS k, (g / $2) % $3 AS c,
                                $4::timestamptz - make_interval(secs => $1 - 1 - g) AS ts) AS x,
                LATERAL (SELECT CASE k WHEN 0 THEN 'collection_start'
                                       WHEN $2 - 1 THEN 'collection_end'
                                       ELSE 'collection_progress' END AS action,
                                to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS t) AS y",
    )
    .bind(n)
    .bind(ROWS_PER_RUN)
    .bind(COLLECTIONS)
    .bind(anchor)
    .execute(pool)
    .await?;
    for (_, definition) in indexes {
        // Definitions read back from pg_indexes, not input.
        sqlx::query(AssertSqlSafe(definition)).execute(pool).await?;
    }
    sqlx::query("VACUUM ANALYZE mtproto_audit_log")
        .execute(pool)
        .await?;
    Ok(anchor)
}

/// The run id of the newest run in a table of `n` rows (possibly still going on).
fn latest_run(n: i64) -> String {
    let r = (n - 1) / ROWS_PER_RUN;
    format!("c{}-{r}", r % COLLECTIONS)
}

/// The seed's `_get_worker_status`: the user's latest start, end and progress by timestamp,
/// and today's failed channels by a timestamp scan.
async fn seed_status(pool: &PgPool, user: i64, now: DateTime<Utc>) -> anyhow_free::Result<()> {
    let latest = |action: &'static str| {
        sqlx::query(
            "SELECT timestamp, metadata FROM mtproto_audit_log
              WHERE user_id = $1 AND action = $2 ORDER BY timestamp DESC LIMIT 1",
        )
        .bind(user)
        .bind(action)
        .fetch_optional(pool)
    };
    let start = latest("collection_start").await?;
    let end = latest("collection_end").await?;
    let progress = latest("collection_progress").await?;
    let errors: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM mtproto_audit_log
          WHERE user_id = $1 AND action = 'collection_progress' AND metadata ? 'error'
            AND timestamp >= date_trunc('day', $2::timestamptz)",
    )
    .bind(user)
    .bind(now)
    .fetch_one(pool)
    .await?;
    let ts = |r: &Option<sqlx::postgres::PgRow>| r.as_ref().map(|r| r.get::<DateTime<Utc>, _>(0));
    let collecting = ts(&start) > ts(&end);
    let processed = progress
        .as_ref()
        .map(|r| r.get::<serde_json::Value, _>(1)["channels_processed"].as_i64());
    std::hint::black_box((collecting, processed, errors));
    Ok(())
}

/// Ours: the run's rows by run id (and, optionally, the collection's history), then `derive`.
async fn our_status(
    pool: &PgPool,
    run_id: &str,
    with_history: bool,
    now: DateTime<Utc>,
) -> anyhow_free::Result<()> {
    let collection_name = run_id.split('-').next().unwrap_or_default();
    let snapshot = if with_history {
        common::read_snapshot(
            pool,
            "bench",
            collection_name,
            &run_id.into(),
            PastRunLimits::default(),
        )
        .await?
    } else {
        reader::AuditSnapshot {
            rows: reader::read_run_rows(pool, &run_id.into()).await?,
            history: ChannelDurations::default(),
        }
    };
    let job = common::job_active(run_id, 0);
    let collection = common::collection(&["@channel1"]);
    let tracked = Followed {
        id: run_id.into(),
        phase: operator::job::phase(Some(&job)),
        job_started: operator::job::start_time(&job),
        audit: snapshot.as_input(),
        shards: &[],
    };
    let status = derive(&collection, Some(&tracked), now);
    assert!(status.progress.is_some(), "the run's rows were found");
    std::hint::black_box(status);
    Ok(())
}

/// Median wall time of `reps` runs of `f`, after one warm-up run.
async fn median<F, Fut>(reps: usize, mut f: F) -> anyhow_free::Result<Duration>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow_free::Result<()>>,
{
    f().await?;
    let mut times = Vec::with_capacity(reps);
    for _ in 0..reps {
        let start = Instant::now();
        f().await?;
        times.push(start.elapsed());
    }
    times.sort();
    Ok(times[times.len() / 2])
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

/// Errors at the bench's edge: boxed, printed by `main`.
mod anyhow_free {
    pub type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;
}
