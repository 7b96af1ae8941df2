//! Audit-log retention: how fast the operator's retention task deletes old rows, and what it
//! does to a collector writing audit rows at the same time (insert latency p50/p99 with and
//! without retention running, as ratios).
//!
//! Run: `DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench -p operator
//! --bench retention` (`BENCH_ROWS=2000000` rows over 120 days, 30 days kept;
//! `BENCH_BATCHES=5000` rows per DELETE, comma-separated to compare sizes;
//! `BENCH_BASELINE_SECS=10` of the collector alone before and after). Creates a scratch database, fills it with one
//! `INSERT ... SELECT generate_series` per batch size, and drops it at the end.
//!
//! The collector is the real `AuditWriter` in a closed loop (one insert after the other, as a
//! collector writing progress as fast as it can); retention is the operator's own
//! `retention::Worker` with its default pacing, watched through its metric.

use std::{
    str::FromStr,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use contract::audit::{
    AuditEvent, AuditWriter, ChannelProgress, RetentionPolicy, RunIdentity, kept_runs,
};
use operator::{
    metrics::Metrics,
    retention::{Schedule, Worker},
};
use sqlx::{
    AssertSqlSafe, ConnectOptions, Connection, PgPool,
    postgres::{PgConnectOptions, PgPoolOptions},
};
use tokio::sync::watch;

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

const COLLECTIONS: i64 = 50;
const RETENTION_DAYS: i64 = 30;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap()
}

fn env<T: FromStr>(name: &str, default: T) -> Result<T>
where
    T::Err: std::error::Error + Send + Sync + 'static,
{
    match std::env::var(name) {
        Ok(value) => Ok(value.parse()?),
        Err(_) => Ok(default),
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result {
    let url = std::env::var("DATABASE_URL").map_err(|_| "set DATABASE_URL to an admin URL")?;
    let rows: i64 = env("BENCH_ROWS", 2_000_000)?;
    let baseline = Duration::from_secs(env("BENCH_BASELINE_SECS", 10)?);
    let batches: Vec<i64> = std::env::var("BENCH_BATCHES")
        .unwrap_or_else(|_| RetentionPolicy::DEFAULT_BATCH_ROWS.to_string())
        .split(',')
        .map(|s| s.trim().parse::<i64>())
        .collect::<std::result::Result<_, _>>()?;

    let admin_options = PgConnectOptions::from_str(&url)?;
    let scratch = format!("retention_bench_{}", std::process::id());
    let mut admin = admin_options.connect().await?;
    // The name is ours (a fixed prefix and the process id), not input.
    sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {scratch}")))
        .execute(&mut admin)
        .await?;
    let result = run(
        admin_options.clone().database(&scratch),
        rows,
        baseline,
        &batches,
    )
    .await;
    sqlx::query(AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {scratch} WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await?;
    admin.close().await?;
    result
}

async fn run(options: PgConnectOptions, rows: i64, baseline: Duration, batches: &[i64]) -> Result {
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .connect_with(options)
        .await?;
    contract::MIGRATOR.run(&pool).await?;
    println!(
        "audit-log retention: {rows} rows over 120 days, {COLLECTIONS} collections, keep {RETENTION_DAYS} days"
    );
    println!(
        "{:>7} {:>10} {:>8} {:>9} | {:>18} {:>18} | {:>14}",
        "batch", "deleted", "secs", "rows/s", "insert p50 (x)", "insert p99 (x)", "inserts/s (x)"
    );
    for &batch_rows in batches {
        fill(&pool, rows).await?;
        let policy = RetentionPolicy {
            batch_rows,
            ..RetentionPolicy::new(TimeDelta::days(RETENTION_DAYS))
        };
        let doomed = doomed_rows(&pool, &policy).await?;

        // The collector alone right before and right after, so drift on a shared machine
        // shows (and is averaged) rather than read as the effect of retention.
        let before = collect_while(&pool, idle(baseline)).await?;
        let started = Instant::now();
        let during = collect_while(&pool, retain(&pool, policy, doomed)).await?;
        let took = started.elapsed();
        let after = collect_while(&pool, idle(baseline)).await?;
        let alone = Inserts::mean(&before, &after);

        let ratio = |a: Duration, b: Duration| b.as_secs_f64() / a.as_secs_f64().max(1e-9);
        println!(
            "{batch_rows:>7} {doomed:>10} {:>8.1} {:>9.0} | {:>8.2}ms ({:>5.2}x) {:>8.2}ms ({:>5.2}x) | {:>6.0} ({:>4.2}x)",
            took.as_secs_f64(),
            doomed as f64 / took.as_secs_f64(),
            ms(during.p50),
            ratio(alone.p50, during.p50),
            ms(during.p99),
            ratio(alone.p99, during.p99),
            during.rate,
            during.rate / alone.rate,
        );
        for (when, alone) in [("before", &before), ("after", &after)] {
            println!(
                "        collector alone {when}: p50 {:.2}ms p99 {:.2}ms, {:.0} inserts/s",
                ms(alone.p50),
                ms(alone.p99),
                alone.rate
            );
        }
    }
    pool.close().await;
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A fresh table of `rows` rows over 120 days, runs of 22 rows (start, 20 channels, end).
async fn fill(pool: &PgPool, rows: i64) -> Result {
    sqlx::query("TRUNCATE mtproto_audit_log")
        .execute(pool)
        .await?;
    sqlx::query(
        "INSERT INTO mtproto_audit_log
             (action, timestamp, metadata, run_id, collection_namespace, collection_name, pod_name)
         SELECT CASE g % 22 WHEN 0 THEN 'collection_start' WHEN 21 THEN 'collection_end'
                            ELSE 'collection_progress' END,
                $2 - interval '120 days' + g * (interval '120 days' / $1),
                jsonb_build_object('channel_name', 'channel' || g % 22, 'messages_collected', g % 1000),
                'c' || (g / 22) % $3 || '-' || g / 22 / $3,
                'bench',
                'c' || (g / 22) % $3,
                'pod'
           FROM generate_series(0, $1 - 1) AS g",
    )
    .bind(rows)
    .bind(now())
    .bind(COLLECTIONS)
    .execute(pool)
    .await?;
    sqlx::query("VACUUM ANALYZE mtproto_audit_log")
        .execute(pool)
        .await?;
    Ok(())
}

/// Rows a pass will delete: the old ones outside the kept runs.
async fn doomed_rows(pool: &PgPool, policy: &RetentionPolicy) -> Result<i64> {
    let kept = kept_runs(pool, policy.history).await?;
    Ok(sqlx::query_scalar(
        "SELECT count(*) FROM mtproto_audit_log
          WHERE timestamp < $1 AND (run_id IS NULL OR NOT run_id = ANY($2))",
    )
    .bind(policy.cutoff(now()))
    .bind(&kept)
    .fetch_one(pool)
    .await?)
}

/// The operator's retention task, leading, until it has deleted `doomed` rows.
async fn retain(pool: &PgPool, policy: RetentionPolicy, doomed: i64) -> Result {
    let metrics = Arc::new(Metrics::default());
    let worker = Worker {
        pool: pool.clone(),
        policy,
        schedule: Schedule {
            first_after: Duration::ZERO,
            every: Duration::from_secs(3600),
            ..Schedule::default()
        },
        metrics: metrics.clone(),
        now: Arc::new(now),
    };
    let (_leader, leading) = watch::channel(true);
    let (stop, stopping) = watch::channel(false);
    let task = tokio::spawn(worker.run(leading, stopping));
    while metrics.audit_rows_deleted.get() < u64::try_from(doomed)? {
        if task.is_finished() || metrics.audit_retention_failures.get() > 0 {
            return Err("the retention pass failed".into());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.send_replace(true);
    task.await?;
    Ok(())
}

/// Latencies of a collector's inserts while `during` runs.
struct Inserts {
    p50: Duration,
    p99: Duration,
    rate: f64,
}

impl Inserts {
    fn mean(a: &Inserts, b: &Inserts) -> Inserts {
        Inserts {
            p50: (a.p50 + b.p50) / 2,
            p99: (a.p99 + b.p99) / 2,
            rate: (a.rate + b.rate) / 2.0,
        }
    }
}

/// Nothing but time passing.
async fn idle(duration: Duration) -> Result {
    tokio::time::sleep(duration).await;
    Ok(())
}

async fn collect_while(pool: &PgPool, during: impl Future<Output = Result>) -> Result<Inserts> {
    let writer = AuditWriter::new(
        pool.clone(),
        RunIdentity {
            run_id: "bench-collector".into(),
            namespace: "bench".into(),
            name: "collector".into(),
            pod_name: Some("bench-collector-pod".into()),
            shard: None,
        },
    );
    let done = Arc::new(AtomicBool::new(false));
    let collector = tokio::spawn({
        let done = done.clone();
        async move {
            let mut latencies = Vec::new();
            let started = Instant::now();
            let mut n = 0u64;
            while !done.load(Ordering::Acquire) {
                n += 1;
                let event = AuditEvent::ChannelProgress(ChannelProgress {
                    channel_name: "@durov".into(),
                    messages_collected: n,
                    remaining_estimate: None,
                    progress_time: Utc::now(),
                });
                let at = Instant::now();
                writer.record(&event).await?;
                latencies.push(at.elapsed());
            }
            Ok::<_, contract::audit::AuditLogError>((latencies, started.elapsed()))
        }
    });
    let outcome = during.await;
    done.store(true, Ordering::Release);
    let (mut latencies, elapsed) = collector.await??;
    outcome?;
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
    Ok(Inserts {
        p50: at(0.50),
        p99: at(0.99),
        rate: latencies.len() as f64 / elapsed.as_secs_f64(),
    })
}
