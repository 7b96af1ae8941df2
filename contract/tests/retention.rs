//! Audit-log retention against real PostgreSQL (a fresh database per test).

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use contract::audit::{
    PastRunLimits, RetentionPass, RetentionPolicy, kept_runs, recent_finished_runs,
};
use sqlx::PgPool;

/// The instant every test runs at.
fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap()
}

fn days_ago(days: i64) -> DateTime<Utc> {
    now() - TimeDelta::days(days)
}

fn policy(days: i64) -> RetentionPolicy {
    RetentionPolicy::new(TimeDelta::days(days))
}

/// Writes one run of `namespace/name`: a start, one progress row per channel a minute apart,
/// and an end when `finished`.
async fn run(
    pool: &PgPool,
    name: &str,
    run_id: &str,
    start: DateTime<Utc>,
    channels: i64,
    finished: bool,
) {
    let mut rows = vec![("collection_start", start)];
    for i in 1..=channels {
        rows.push(("collection_progress", start + TimeDelta::minutes(i)));
    }
    if finished {
        rows.push((
            "collection_end",
            start + TimeDelta::minutes(channels) + TimeDelta::seconds(1),
        ));
    }
    for (action, at) in rows {
        sqlx::query(
            "INSERT INTO mtproto_audit_log
                 (action, timestamp, metadata, run_id, collection_namespace, collection_name, pod_name)
             VALUES ($1, $2, '{}', $3, 'telegram', $4, 'pod')",
        )
        .bind(action)
        .bind(at)
        .bind(run_id)
        .bind(name)
        .execute(pool)
        .await
        .unwrap();
    }
}

/// A row of the seed's kind: no run id, no collection.
async fn legacy(pool: &PgPool, at: DateTime<Utc>) {
    sqlx::query("INSERT INTO mtproto_audit_log (user_id, action, timestamp) VALUES (1, 'collection_progress', $1)")
        .bind(at)
        .execute(pool)
        .await
        .unwrap();
}

async fn count(pool: &PgPool, condition: &str) -> i64 {
    let sql = format!("SELECT count(*) FROM mtproto_audit_log WHERE {condition}");
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .fetch_one(pool)
        .await
        .unwrap()
}

async fn runs_left(pool: &PgPool, name: &str) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT run_id FROM mtproto_audit_log WHERE collection_name = $1
          GROUP BY run_id ORDER BY min(id)",
    )
    .bind(name)
    .fetch_all(pool)
    .await
    .unwrap()
}

async fn retain(pool: &PgPool, policy: &RetentionPolicy) -> u64 {
    RetentionPass::start(pool, policy, now())
        .await
        .unwrap()
        .run_to_end(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn rows_older_than_the_cutoff_go_newer_ones_stay(pool: PgPool) {
    for days in [100, 60, 31] {
        legacy(&pool, days_ago(days)).await;
    }
    for days in [29, 1, 0] {
        legacy(&pool, days_ago(days)).await;
    }
    assert_eq!(retain(&pool, &policy(30)).await, 3);
    assert_eq!(count(&pool, "true").await, 3);
    assert_eq!(
        count(
            &pool,
            &format!("timestamp < '{}'", days_ago(30).to_rfc3339())
        )
        .await,
        0
    );
    // A second pass finds nothing left to do.
    assert_eq!(retain(&pool, &policy(30)).await, 0);
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn each_collections_latest_runs_are_kept_whatever_their_age(pool: PgPool) {
    // `news`: ten finished runs long ago, then a run that never ended (also long ago).
    for i in 0..10 {
        run(
            &pool,
            "news",
            &format!("news-{i}"),
            days_ago(200 - i),
            3,
            true,
        )
        .await;
    }
    run(&pool, "news", "news-crashed", days_ago(150), 2, false).await;
    // `quiet`: two old runs, all it has.
    run(&pool, "quiet", "quiet-0", days_ago(90), 2, true).await;
    run(&pool, "quiet", "quiet-1", days_ago(80), 2, true).await;

    retain(&pool, &policy(30)).await;

    let max_runs = PastRunLimits::default().max_runs as usize;
    let mut expected: Vec<String> = (10 - (max_runs + 1)..10)
        .map(|i| format!("news-{i}"))
        .collect();
    expected.push("news-crashed".to_string());
    assert_eq!(runs_left(&pool, "news").await, expected);
    assert_eq!(runs_left(&pool, "quiet").await, ["quiet-0", "quiet-1"]);
    // Kept runs are kept whole.
    assert_eq!(count(&pool, "run_id = 'news-9'").await, 5);
    assert_eq!(count(&pool, "run_id = 'news-crashed'").await, 3);
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn a_retried_run_with_several_ends_counts_once(pool: PgPool) {
    for i in 0..8 {
        run(
            &pool,
            "news",
            &format!("news-{i}"),
            days_ago(100 - i),
            2,
            true,
        )
        .await;
    }
    // The newest run was retried: two attempts, two ends.
    run(
        &pool,
        "news",
        "news-7",
        days_ago(92) + TimeDelta::hours(1),
        2,
        true,
    )
    .await;

    let kept = kept_runs(&pool, PastRunLimits::default()).await.unwrap();
    let mut kept: Vec<&str> = kept.iter().map(String::as_str).collect();
    kept.sort();
    assert_eq!(
        kept,
        ["news-2", "news-3", "news-4", "news-5", "news-6", "news-7"]
    );
}

/// The property that matters: retention never changes what the ETA history reads, for the run
/// in progress (not finished yet) nor for a retried run that already wrote an end.
#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn the_eta_history_reads_the_same_after_retention(pool: PgPool) {
    for i in 0..12 {
        run(
            &pool,
            "news",
            &format!("news-{i:02}"),
            days_ago(120 - 5 * i),
            4,
            true,
        )
        .await;
    }
    run(&pool, "news", "news-now", days_ago(40), 2, false).await;
    run(&pool, "other", "other-0", days_ago(45), 3, true).await;
    let limits = PastRunLimits::default();
    let before_running = recent_finished_runs(&pool, "telegram", "news", "news-now", limits)
        .await
        .unwrap();
    let before_retried = recent_finished_runs(&pool, "telegram", "news", "news-11", limits)
        .await
        .unwrap();
    assert_eq!(before_running.len(), limits.max_runs as usize);

    let deleted = retain(&pool, &policy(30)).await;
    assert!(deleted > 0, "old runs beyond the history were deleted");

    let after_running = recent_finished_runs(&pool, "telegram", "news", "news-now", limits)
        .await
        .unwrap();
    let after_retried = recent_finished_runs(&pool, "telegram", "news", "news-11", limits)
        .await
        .unwrap();
    assert_eq!(after_running, before_running);
    assert_eq!(after_retried, before_retried);
    assert_eq!(runs_left(&pool, "other").await, ["other-0"]);
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn a_pass_deletes_in_batches_of_the_policys_size(pool: PgPool) {
    for minute in 0..100 {
        legacy(&pool, days_ago(40) + TimeDelta::minutes(minute)).await;
    }
    legacy(&pool, days_ago(1)).await;
    let policy = RetentionPolicy {
        batch_rows: 30,
        ..policy(30)
    };
    let mut pass = RetentionPass::start(&pool, &policy, now()).await.unwrap();
    let mut batches = Vec::new();
    while let Some(deleted) = pass.next_batch(&pool).await.unwrap() {
        batches.push(deleted);
    }
    assert_eq!(batches, [30, 30, 30, 10]);
    assert_eq!(count(&pool, "true").await, 1);
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn kept_rows_between_batches_do_not_stop_a_pass(pool: PgPool) {
    // Old rows, then an old kept run, then more old rows: batches step over the kept run.
    for minute in 0..10 {
        legacy(&pool, days_ago(50) + TimeDelta::minutes(minute)).await;
    }
    run(&pool, "news", "news-0", days_ago(49), 3, true).await;
    for minute in 0..10 {
        legacy(&pool, days_ago(48) + TimeDelta::minutes(minute)).await;
    }
    let policy = RetentionPolicy {
        batch_rows: 4,
        ..policy(30)
    };
    assert_eq!(retain(&pool, &policy).await, 20);
    assert_eq!(runs_left(&pool, "news").await, ["news-0"]);
    assert_eq!(count(&pool, "run_id IS NULL").await, 0);
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn an_empty_table_is_a_pass_with_nothing_to_do(pool: PgPool) {
    assert_eq!(retain(&pool, &policy(30)).await, 0);
}

/// Two million rows over 120 days (50 busy collections, runs of 22 rows) and a dormant
/// collection whose runs are all old: one pass deletes every row older than 30 days except the
/// dormant collection's kept runs, and nothing newer.
#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn millions_of_rows(pool: PgPool) {
    // A whole number of runs per collection: 1,819 runs of 22 rows for each of 50.
    const ROWS: i64 = 22 * 50 * 1_819;
    for i in 0..8 {
        run(
            &pool,
            "dormant",
            &format!("dormant-{i}"),
            days_ago(100 - i),
            3,
            true,
        )
        .await;
    }
    sqlx::query(
        "INSERT INTO mtproto_audit_log
             (action, timestamp, metadata, run_id, collection_namespace, collection_name, pod_name)
         SELECT CASE g % 22 WHEN 0 THEN 'collection_start' WHEN 21 THEN 'collection_end'
                            ELSE 'collection_progress' END,
                $2 - interval '120 days' + g * (interval '120 days' / $1),
                '{}'::jsonb,
                'c' || (g / 22) % 50 || '-' || g / 22 / 50,
                'telegram',
                'c' || (g / 22) % 50,
                'pod'
           FROM generate_series(0, $1 - 1) AS g",
    )
    .bind(ROWS)
    .bind(now())
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query("ANALYZE mtproto_audit_log")
        .execute(&pool)
        .await
        .unwrap();
    let cutoff = days_ago(30).to_rfc3339();
    let old = format!("timestamp < '{cutoff}'");
    let newer = count(&pool, &format!("timestamp >= '{cutoff}'")).await;
    let policy = policy(30);
    // Each collection keeps its 6 newest finished runs (its latest run is one of them).
    let kept = kept_runs(&pool, policy.history).await.unwrap();
    assert_eq!(kept.len(), 51 * 6);

    let deleted = retain(&pool, &policy).await;

    let dormant_kept = 6 * 5;
    assert_eq!(deleted as i64, ROWS + 8 * 5 - newer - dormant_kept);
    assert_eq!(count(&pool, &old).await, dormant_kept);
    assert_eq!(
        runs_left(&pool, "dormant").await,
        (2..8).map(|i| format!("dormant-{i}")).collect::<Vec<_>>()
    );
    assert_eq!(count(&pool, &format!("NOT ({old})")).await, newer);
}
