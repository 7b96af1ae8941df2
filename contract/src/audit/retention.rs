//! Audit-log retention: rows older than a cutoff are deleted in small batches, except the rows
//! the operator still reads.
//!
//! Kept whatever their age, per collection: its latest run (the one the operator may be
//! following) and the finished runs [`super::recent_finished_runs`] can return for the ETA's
//! per-channel history (one more than [`PastRunLimits::max_runs`], since the history leaves out
//! the run in progress). Runs are kept or deleted whole by run id; rows without a run id (the
//! seed's) and rows of runs beyond those go by age alone.
//!
//! One pass ([`RetentionPass`]) works through the rows below the first one newer than the
//! cutoff in id order, one short `DELETE` of at most [`RetentionPolicy::batch_rows`] rows at a
//! time: row locks on the deleted rows only, held for one batch, so collectors keep inserting.

use chrono::{DateTime, TimeDelta, Utc};
use sqlx::PgPool;

use super::event::AuditEvent;
use super::past_runs::PastRunLimits;

/// What retention deletes, and how much at a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Rows older than this are deleted (unless kept, see the module docs).
    pub max_age: TimeDelta,
    /// The bounds the ETA history is read with ([`super::recent_finished_runs`]): the runs it
    /// can return are kept.
    pub history: PastRunLimits,
    /// Most rows one `DELETE` removes.
    pub batch_rows: i64,
}

impl RetentionPolicy {
    /// Rows per batch when not set otherwise: about 30 ms per `DELETE` on a modest server.
    pub const DEFAULT_BATCH_ROWS: i64 = 5_000;

    /// Deletes rows older than `max_age`, keeping what the default history reads.
    pub fn new(max_age: TimeDelta) -> Self {
        Self {
            max_age,
            history: PastRunLimits::default(),
            batch_rows: Self::DEFAULT_BATCH_ROWS,
        }
    }

    /// Rows stamped before this instant are candidates for deletion.
    pub fn cutoff(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now - self.max_age
    }
}

/// A failed step of retention.
#[derive(Debug, thiserror::Error)]
pub enum RetentionError {
    #[error("cannot list the audit-log runs retention keeps")]
    KeptRuns(#[source] sqlx::Error),
    #[error("cannot find the first audit-log row newer than {cutoff}")]
    Boundary {
        cutoff: DateTime<Utc>,
        #[source]
        source: sqlx::Error,
    },
    #[error("deleting a batch of audit-log rows older than {cutoff} failed")]
    DeleteBatch {
        cutoff: DateTime<Utc>,
        #[source]
        source: sqlx::Error,
    },
}

/// Run ids whose rows retention keeps: each collection's latest run and its latest
/// `history.max_runs + 1` finished runs.
///
/// Cost: a skip scan over the collection index (one probe per collection), then per
/// collection one probe for its latest row and a short backward scan of its run ends
/// (`mtproto_audit_log_collection_end_idx`), whatever the size of the table.
pub async fn kept_runs(
    pool: &PgPool,
    history: PastRunLimits,
) -> Result<Vec<String>, RetentionError> {
    let runs: Vec<(String,)> = sqlx::query_as(
        // `ends` has the same shape as recent_finished_runs' (a run has one end per index and
        // attempt, hence MAX_ENDS_PER_RUN): the runs it keeps are the first ones that query
        // can find.
        "WITH RECURSIVE collections(ns, name) AS (
             (SELECT collection_namespace, collection_name
                FROM mtproto_audit_log
               WHERE run_id IS NOT NULL
                 AND collection_namespace IS NOT NULL AND collection_name IS NOT NULL
               ORDER BY collection_namespace, collection_name
               LIMIT 1)
             UNION ALL
             SELECT next.ns, next.name
               FROM collections c
              CROSS JOIN LATERAL (
                    SELECT collection_namespace AS ns, collection_name AS name
                      FROM mtproto_audit_log
                     WHERE run_id IS NOT NULL
                       AND (collection_namespace, collection_name) > (c.ns, c.name)
                     ORDER BY collection_namespace, collection_name
                     LIMIT 1) next
         )
         SELECT latest.run_id
           FROM collections c
          CROSS JOIN LATERAL (
                SELECT run_id
                  FROM mtproto_audit_log
                 WHERE collection_namespace = c.ns AND collection_name = c.name
                   AND run_id IS NOT NULL
                 ORDER BY id DESC
                 LIMIT 1) latest
         UNION
         SELECT finished.run_id
           FROM collections c
          CROSS JOIN LATERAL (
                SELECT run_id, max(id) AS end_id
                  FROM (SELECT run_id, id
                          FROM mtproto_audit_log
                         WHERE collection_namespace = c.ns AND collection_name = c.name
                           AND run_id IS NOT NULL AND action = $2
                         ORDER BY id DESC
                         LIMIT $1 * $3) AS ends
                 GROUP BY run_id
                 ORDER BY end_id DESC
                 LIMIT $1) finished",
    )
    .bind(history.max_runs + 1)
    .bind(AuditEvent::END)
    .bind(super::past_runs::MAX_ENDS_PER_RUN)
    .fetch_all(pool)
    .await
    .map_err(RetentionError::KeptRuns)?;
    Ok(runs.into_iter().map(|(run,)| run).collect())
}

/// One retention pass: the rows older than the cutoff, deleted batch by batch in id order.
#[derive(Clone, Debug)]
pub struct RetentionPass {
    cutoff: DateTime<Utc>,
    kept: Vec<String>,
    batch_rows: i64,
    /// Rows with an id above this are left to look at.
    after: i64,
    /// The first row newer than the cutoff: the pass ends below it. Rows are stamped by the
    /// database clock as they are inserted, so ids grow with time; a row a little out of order
    /// waits for the next pass.
    until: i64,
    done: bool,
}

impl RetentionPass {
    /// Starts a pass over the rows older than `policy.cutoff(now)`: finds the runs to keep and
    /// where old rows end (an index scan over the old rows only).
    pub async fn start(
        pool: &PgPool,
        policy: &RetentionPolicy,
        now: DateTime<Utc>,
    ) -> Result<Self, RetentionError> {
        let cutoff = policy.cutoff(now);
        let kept = kept_runs(pool, policy.history).await?;
        let (until,): (i64,) = sqlx::query_as(
            "SELECT COALESCE(
                 (SELECT id FROM mtproto_audit_log WHERE timestamp >= $1 ORDER BY id LIMIT 1),
                 (SELECT max(id) + 1 FROM mtproto_audit_log),
                 0)",
        )
        .bind(cutoff)
        .fetch_one(pool)
        .await
        .map_err(|source| RetentionError::Boundary { cutoff, source })?;
        Ok(Self {
            cutoff,
            kept,
            batch_rows: policy.batch_rows.max(1),
            after: 0,
            until,
            done: false,
        })
    }

    /// Rows stamped before this instant are deleted.
    pub fn cutoff(&self) -> DateTime<Utc> {
        self.cutoff
    }

    /// Run ids kept whatever their age.
    pub fn kept(&self) -> &[String] {
        &self.kept
    }

    /// Deletes the next batch: `Some(rows deleted)`, or `None` once the pass is over.
    pub async fn next_batch(&mut self, pool: &PgPool) -> Result<Option<u64>, RetentionError> {
        if self.done {
            return Ok(None);
        }
        let (deleted, last): (i64, Option<i64>) = sqlx::query_as(
            // Walks the primary key from where the last batch stopped; the kept runs are a
            // hashed subplan, so a batch costs its rows, not rows x kept runs.
            "WITH doomed AS (
                 SELECT id
                   FROM mtproto_audit_log
                  WHERE id > $1 AND id < $2 AND timestamp < $3
                    AND (run_id IS NULL OR run_id NOT IN (SELECT unnest($4::text[])))
                  ORDER BY id
                  LIMIT $5
             ), gone AS (
                 DELETE FROM mtproto_audit_log
                  WHERE id IN (SELECT id FROM doomed)
              RETURNING id
             )
             SELECT count(*), max(id) FROM gone",
        )
        .bind(self.after)
        .bind(self.until)
        .bind(self.cutoff)
        .bind(&self.kept)
        .bind(self.batch_rows)
        .fetch_one(pool)
        .await
        .map_err(|source| RetentionError::DeleteBatch {
            cutoff: self.cutoff,
            source,
        })?;
        // A short batch means nothing is left below `until`.
        match last {
            Some(last) if deleted >= self.batch_rows => self.after = last,
            _ => self.done = true,
        }
        Ok(Some(u64::try_from(deleted).unwrap_or(0)))
    }

    /// Runs the pass to its end in one go; returns the rows deleted.
    pub async fn run_to_end(&mut self, pool: &PgPool) -> Result<u64, RetentionError> {
        let mut total = 0;
        while let Some(deleted) = self.next_batch(pool).await? {
            total += deleted;
        }
        Ok(total)
    }
}
