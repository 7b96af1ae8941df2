//! Reads of a collection's previous runs (for per-channel durations in the ETA).

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::event::AuditEvent;
use super::store::AuditRow;

/// Most `collection_end` rows one run is expected to have: every index of a sharded run (at
/// most 20, `spec.sessions`) writes its own, once per pod attempt that ends (a few). The
/// lookups of a collection's latest finished runs read up to this many ends per run wanted,
/// so a run of many indexes does not crowd the runs before it out of the history.
pub const MAX_ENDS_PER_RUN: i64 = 4 * 20;

/// Bounds of [`recent_finished_runs`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PastRunLimits {
    /// Most previous runs returned.
    pub max_runs: i64,
    /// Most of the collection's newest rows looked at to find them, so the cost stays bounded
    /// even when no recent run finished.
    pub max_scanned_rows: i64,
}

impl Default for PastRunLimits {
    fn default() -> Self {
        Self {
            max_runs: 5,
            max_scanned_rows: 20_000,
        }
    }
}

/// A failed read of a collection's previous runs.
#[derive(Debug, thiserror::Error)]
#[error("cannot read the previous runs of collection {namespace}/{name}")]
pub struct PastRunsError {
    pub namespace: String,
    pub name: String,
    #[source]
    pub source: sqlx::Error,
}

/// `run_id, id, timestamp, pod_name, action, metadata` of a previous run's row.
type PastRunRow = (
    String,
    i64,
    DateTime<Utc>,
    Option<String>,
    Option<i32>,
    String,
    serde_json::Value,
);

/// One previous run: its id and its `collection_start` / `collection_progress` rows, oldest
/// first.
#[derive(Clone, Debug, PartialEq)]
pub struct PastRun {
    pub run_id: String,
    pub rows: Vec<AuditRow>,
}

/// The latest runs of collection `namespace/name` that wrote a `collection_end` (other than
/// `exclude_run_id`, the run in progress), newest first, with their start and progress rows.
///
/// A backward scan of the `(collection_namespace, collection_name, id)` index finds the runs: it
/// stops at the `max_runs`-th run's end, and never reads more than `limits.max_scanned_rows`
/// rows; their rows come from the `(run_id, id)` index.
/// The cost depends on the limits, not on the size of the table.
pub async fn recent_finished_runs(
    pool: &PgPool,
    namespace: &str,
    name: &str,
    exclude_run_id: &str,
    limits: PastRunLimits,
) -> Result<Vec<PastRun>, PastRunsError> {
    let rows: Vec<PastRunRow> = sqlx::query_as(
        // Each stage is lazy up to the GROUP BY: the backward index scan stops as soon as enough
        // `collection_end` rows are found: a run has one per index and attempt, hence up to
        // MAX_ENDS_PER_RUN per run wanted; the scan bound ($5) caps the cost either way.
        "WITH ends AS (
             SELECT run_id, id
               FROM (SELECT run_id, id, action
                       FROM mtproto_audit_log
                      WHERE collection_namespace = $1 AND collection_name = $2
                        AND run_id IS NOT NULL
                      ORDER BY id DESC
                      LIMIT $5) AS recent
              WHERE action = $6 AND run_id <> $3
              LIMIT $4 * $9
         ), finished AS (
             SELECT run_id, max(id) AS end_id
               FROM ends
              GROUP BY run_id
              ORDER BY end_id DESC
              LIMIT $4
         )
         SELECT f.run_id, l.id, l.timestamp, l.pod_name, l.shard_index, l.action, l.metadata
           FROM finished f
           JOIN mtproto_audit_log l ON l.run_id = f.run_id AND l.run_id IS NOT NULL
          WHERE l.action IN ($7, $8)
          ORDER BY f.end_id DESC, l.id",
    )
    .bind(namespace)
    .bind(name)
    .bind(exclude_run_id)
    .bind(limits.max_runs)
    .bind(limits.max_scanned_rows)
    .bind(AuditEvent::END)
    .bind(AuditEvent::START)
    .bind(AuditEvent::PROGRESS)
    .bind(MAX_ENDS_PER_RUN)
    .fetch_all(pool)
    .await
    .map_err(|source| PastRunsError {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        source,
    })?;

    let mut runs: Vec<PastRun> = Vec::new();
    for (run_id, id, timestamp, pod_name, shard, action, metadata) in rows {
        let row = AuditRow {
            id,
            timestamp,
            pod_name,
            shard: shard.and_then(|i| u32::try_from(i).ok()),
            event: AuditEvent::parse(&action, metadata).map_err(|e| e.to_string()),
        };
        match runs.last_mut() {
            Some(run) if run.run_id == run_id => run.rows.push(row),
            _ => runs.push(PastRun {
                run_id,
                rows: vec![row],
            }),
        }
    }
    Ok(runs)
}
