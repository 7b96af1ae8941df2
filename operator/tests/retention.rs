//! Audit-log retention in the operator: `--audit-retention` parsing, and the scheduled task
//! against real PostgreSQL, deleting only while this instance leads.

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use clap::Parser;
use contract::audit::RetentionPolicy;
use operator::{
    cli::{Cli, Command},
    metrics::Metrics,
    retention::{Retention, Schedule, Worker, parse_retention},
};
use sqlx::PgPool;
use tokio::sync::watch;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap()
}

#[test]
fn retention_is_a_duration_of_a_day_or_more_or_off() {
    assert_eq!(
        parse_retention("90d"),
        Ok(Retention::Keep(TimeDelta::days(90)))
    );
    assert_eq!(
        parse_retention("36h"),
        Ok(Retention::Keep(TimeDelta::hours(36)))
    );
    assert_eq!(parse_retention("off"), Ok(Retention::Off));
    let short = parse_retention("12h").unwrap_err();
    assert!(short.contains("minimum of 1d"), "{short}");
    let bad = parse_retention("a month").unwrap_err();
    assert!(bad.contains("not a duration"), "{bad}");

    let run = |args: &[&str]| match Cli::try_parse_from(args).unwrap().command() {
        Command::Run(args) => args.audit_retention,
        Command::Crd => unreachable!(),
    };
    assert_eq!(
        run(&["operator"]),
        Retention::Keep(TimeDelta::days(30)),
        "on by default"
    );
    assert_eq!(
        run(&["operator", "--audit-retention", "off"]),
        Retention::Off
    );
    assert!(Cli::try_parse_from(["operator", "--audit-retention", "1h"]).is_err());
}

/// `rows` seed-style rows stamped 40 days before [`now`].
async fn old_rows(pool: &PgPool, rows: i64) {
    sqlx::query(
        "INSERT INTO mtproto_audit_log (user_id, action, timestamp)
         SELECT 1, 'collection_progress', $1 FROM generate_series(1, $2)",
    )
    .bind(now() - TimeDelta::days(40))
    .bind(rows)
    .execute(pool)
    .await
    .unwrap();
}

async fn rows_left(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM mtproto_audit_log")
        .fetch_one(pool)
        .await
        .unwrap()
}

fn worker(pool: &PgPool, metrics: &Arc<Metrics>, batch_rows: i64, pause: Duration) -> Worker {
    Worker {
        pool: pool.clone(),
        policy: RetentionPolicy {
            batch_rows,
            ..RetentionPolicy::new(TimeDelta::days(30))
        },
        schedule: Schedule {
            first_after: Duration::from_millis(10),
            every: Duration::from_millis(50),
            pause,
        },
        metrics: metrics.clone(),
        now: Arc::new(now),
    }
}

async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn the_leader_deletes_old_rows_and_counts_them(pool: PgPool) {
    old_rows(&pool, 100).await;
    let metrics = Arc::new(Metrics::default());
    let (gate, leader) = watch::channel(false);
    let (stop, stopping) = watch::channel(false);
    let task = tokio::spawn(worker(&pool, &metrics, 30, Duration::ZERO).run(leader, stopping));

    // A standby never deletes: the rows are still there after several of its periods.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rows_left(&pool).await, 100);
    assert_eq!(metrics.audit_rows_deleted.get(), 0);

    gate.send_replace(true);
    eventually("the leader deleted every old row", async || {
        rows_left(&pool).await == 0
    })
    .await;
    eventually("the deletions are counted", async || {
        metrics.audit_rows_deleted.get() == 100
    })
    .await;
    assert!(
        metrics
            .render()
            .contains("channel_collection_operator_audit_rows_deleted_total 100")
    );

    stop.send_replace(true);
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("stops when asked")
        .unwrap();
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn losing_the_lease_stops_a_pass_between_two_batches(pool: PgPool) {
    old_rows(&pool, 1_000).await;
    let metrics = Arc::new(Metrics::default());
    let (gate, leader) = watch::channel(true);
    let (_stop, stopping) = watch::channel(false);
    // One row per batch, slowly: the pass is long enough to lose the lease in the middle.
    let task =
        tokio::spawn(worker(&pool, &metrics, 1, Duration::from_millis(20)).run(leader, stopping));
    eventually("the pass started", async || rows_left(&pool).await < 1_000).await;

    gate.send_replace(false);
    // At most the batch in flight finishes after the lease is gone.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let left = rows_left(&pool).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        rows_left(&pool).await,
        left,
        "no deletions without the lease"
    );
    assert!(left > 0);
    assert_eq!(metrics.audit_rows_deleted.get(), 1_000 - left as u64);

    // Leading again, a new pass takes up the work.
    gate.send_replace(true);
    eventually("a new leader term deletes again", async || {
        rows_left(&pool).await < left
    })
    .await;
    task.abort();
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn a_failed_pass_is_counted_and_the_next_one_runs(pool: PgPool) {
    let metrics = Arc::new(Metrics::default());
    let (_gate, leader) = watch::channel(true);
    let (_stop, stopping) = watch::channel(false);
    // The table is gone (someone dropped it): every pass fails, none ends the task.
    sqlx::query("ALTER TABLE mtproto_audit_log RENAME TO elsewhere")
        .execute(&pool)
        .await
        .unwrap();
    let task = tokio::spawn(worker(&pool, &metrics, 10, Duration::ZERO).run(leader, stopping));
    eventually("two failed passes are counted", async || {
        metrics.audit_retention_failures.get() >= 2
    })
    .await;
    assert!(!task.is_finished());
    task.abort();
}
