use crate::database::Retry;
use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::event::{AuditEvent, ParseEventError};

/// Which run (and which pod attempt of it) audit rows belong to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunIdentity {
    /// The run id: the Job's name.
    pub run_id: String,
    /// Namespace of the `ChannelCollection`.
    pub namespace: String,
    /// Name of the `ChannelCollection`.
    pub name: String,
    /// The pod of this attempt; retries of one Job write their own rows.
    pub pod_name: Option<String>,
    /// The Job completion index of a sharded run's pod (one account's part of the run);
    /// `None` for a run on one session.
    pub shard: Option<u32>,
}

/// A failed audit-log read or write.
#[derive(Debug, thiserror::Error)]
pub enum AuditLogError {
    #[error("cannot write audit event {action} for run {run_id}")]
    Write {
        action: &'static str,
        run_id: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("cannot read the audit log of run {run_id}")]
    Read {
        run_id: String,
        #[source]
        source: sqlx::Error,
    },
}

/// Appends audit rows for one run.
#[derive(Clone, Debug)]
pub struct AuditWriter {
    pool: PgPool,
    run: RunIdentity,
    retry: Retry,
}

impl AuditWriter {
    pub fn new(pool: PgPool, run: RunIdentity) -> Self {
        Self {
            pool,
            run,
            retry: Retry::NEVER,
        }
    }

    /// Retries a write while the database cannot be reached, within `retry`'s budget. (A
    /// write whose commit went through but whose answer was lost is written twice: readers
    /// take a run's rows in order, and a repeated row repeats a state.)
    pub fn with_retry(self, retry: Retry) -> Self {
        Self { retry, ..self }
    }

    pub fn run(&self) -> &RunIdentity {
        &self.run
    }

    /// Appends one event; its row is stamped with the database's clock.
    pub async fn record(&self, event: &AuditEvent) -> Result<(), AuditLogError> {
        let metadata = event.metadata();
        self.retry
            .run(|| {
                sqlx::query(
                    "INSERT INTO mtproto_audit_log
                         (action, metadata, run_id, collection_namespace, collection_name,
                          pod_name, shard_index)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(event.action())
                .bind(&metadata)
                .bind(&self.run.run_id)
                .bind(&self.run.namespace)
                .bind(&self.run.name)
                .bind(&self.run.pod_name)
                .bind(self.run.shard.map(|i| i as i32))
                .execute(&self.pool)
            })
            .await
            .map_err(|source| AuditLogError::Write {
                action: event.action(),
                run_id: self.run.run_id.clone(),
                source,
            })?;
        Ok(())
    }
}

/// One audit row of a run, in write order.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditRow {
    pub id: i64,
    pub timestamp: DateTime<Utc>,
    pub pod_name: Option<String>,
    /// The shard (Job completion index) that wrote it; `None` for unsharded runs.
    pub shard: Option<u32>,
    /// The event, or why this version could not read it (rows from newer collectors).
    pub event: Result<AuditEvent, String>,
}

/// `id, timestamp, pod_name, shard_index, action, metadata` of one row of a run.
type RunRow = (
    i64,
    DateTime<Utc>,
    Option<String>,
    Option<i32>,
    String,
    serde_json::Value,
);

/// All rows of one run, oldest first: an index lookup on `(run_id, id)`, so its cost does not
/// grow with the size of the table.
pub async fn read_run(pool: &PgPool, run_id: &str) -> Result<Vec<AuditRow>, AuditLogError> {
    read_run_after(pool, run_id, 0).await
}

/// The rows of one run with an id above `after`, oldest first: what a reader that has the
/// rest still lacks, by the same index lookup.
pub async fn read_run_after(
    pool: &PgPool,
    run_id: &str,
    after: i64,
) -> Result<Vec<AuditRow>, AuditLogError> {
    let rows: Vec<RunRow> = sqlx::query_as(
        "SELECT id, timestamp, pod_name, shard_index, action, metadata
               FROM mtproto_audit_log
              WHERE run_id = $1 AND id > $2
              ORDER BY id",
    )
    .bind(run_id)
    .bind(after)
    .fetch_all(pool)
    .await
    .map_err(|source| AuditLogError::Read {
        run_id: run_id.to_owned(),
        source,
    })?;
    Ok(rows
        .into_iter()
        .map(
            |(id, timestamp, pod_name, shard, action, metadata)| AuditRow {
                id,
                timestamp,
                pod_name,
                shard: shard.and_then(|i| u32::try_from(i).ok()),
                event: AuditEvent::parse(&action, metadata)
                    .map_err(|e: ParseEventError| e.to_string()),
            },
        )
        .collect())
}
