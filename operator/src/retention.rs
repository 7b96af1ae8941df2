//! Audit-log retention on a schedule (`--audit-retention`): the leader deletes rows older than
//! the retention in small batches ([`contract::audit::RetentionPass`]), keeping every collection's latest
//! runs, which status and ETAs read. It stops between two batches when the lease is lost or the
//! operator shuts down (a batch in flight finishes: deleting old rows twice is harmless).

use std::{sync::Arc, time::Duration};

use chrono::TimeDelta;
use contract::audit::{RetentionError, RetentionPass, RetentionPolicy};
use sqlx::PgPool;
use tokio::sync::watch;
use tracing::{info, warn};

use telemetry::ErrorChain;

use crate::{metrics::Metrics, reconcile::Now};

/// Shortest retention accepted: anything shorter would delete what people read when looking
/// into yesterday's runs.
pub const MIN_RETENTION: TimeDelta = TimeDelta::days(1);

/// How long audit rows are kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retention {
    /// Never deleted.
    Off,
    /// Deleted once older than this.
    Keep(TimeDelta),
}

/// Parses `--audit-retention`: a duration of at least a day (`30d`, `90d`, `2160h`) or `off`.
pub fn parse_retention(value: &str) -> Result<Retention, String> {
    if value == "off" {
        return Ok(Retention::Off);
    }
    let keep = humantime::parse_duration(value)
        .ok()
        .and_then(|d| TimeDelta::from_std(d).ok())
        .ok_or_else(|| format!("{value:?} is not a duration such as 30d or 2160h, nor `off`"))?;
    if keep < MIN_RETENTION {
        return Err(format!(
            "{value:?} is shorter than the minimum of 1d (use `off` to keep the audit log whole)"
        ));
    }
    Ok(Retention::Keep(keep))
}

/// When passes run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Schedule {
    /// Wait after gaining the lease before the first pass, so start-up (the first list and
    /// reconcile of every collection) goes first.
    pub first_after: Duration,
    /// From the end of one pass to the start of the next.
    pub every: Duration,
    /// Between two batches of a pass, so a long first pass leaves the database room.
    pub pause: Duration,
}

impl Default for Schedule {
    fn default() -> Self {
        Self {
            first_after: Duration::from_secs(60),
            every: Duration::from_secs(3600),
            pause: Duration::from_millis(20),
        }
    }
}

/// The retention task and what it needs.
pub struct Worker {
    /// The operator's database (the audit log).
    pub pool: PgPool,
    /// What is deleted, in batches of what size.
    pub policy: RetentionPolicy,
    pub schedule: Schedule,
    /// Counts deleted rows and failed passes.
    pub metrics: Arc<Metrics>,
    /// The current time (each pass's cutoff is `now - retention`).
    pub now: Now,
}

/// Why a wait ended.
enum Wake {
    Elapsed,
    LostLease,
    Stop,
}

impl Worker {
    /// Runs passes while this instance leads, until `stop` turns true.
    pub async fn run(self, mut leader: watch::Receiver<bool>, mut stop: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                led = leader.wait_for(|l| *l) => if led.is_err() { return },
                _ = stop.wait_for(|s| *s) => return,
            }
            match wait(self.schedule.first_after, &mut leader, &mut stop).await {
                Wake::Elapsed => {}
                Wake::LostLease => continue,
                Wake::Stop => return,
            }
            loop {
                match self.pass(&leader, &stop).await {
                    Ok((deleted, true)) => info!(deleted, "audit-log retention pass done"),
                    Ok((deleted, false)) => {
                        info!(
                            deleted,
                            "audit-log retention pass stopped (lease lost or shutdown)"
                        )
                    }
                    Err(error) => {
                        self.metrics.audit_retention_failures.inc();
                        warn!(error = %ErrorChain(&error), "audit-log retention pass failed; retrying at the next one");
                    }
                }
                match wait(self.schedule.every, &mut leader, &mut stop).await {
                    Wake::Elapsed => {}
                    Wake::LostLease => break,
                    Wake::Stop => return,
                }
            }
        }
    }

    /// One pass: rows deleted, and whether it got to the end (else the lease was lost or the
    /// operator is stopping).
    async fn pass(
        &self,
        leader: &watch::Receiver<bool>,
        stop: &watch::Receiver<bool>,
    ) -> Result<(u64, bool), RetentionError> {
        let mut pass = RetentionPass::start(&self.pool, &self.policy, (self.now)()).await?;
        let mut deleted = 0;
        loop {
            if !*leader.borrow() || *stop.borrow() {
                return Ok((deleted, false));
            }
            match pass.next_batch(&self.pool).await? {
                Some(rows) => {
                    deleted += rows;
                    self.metrics.audit_rows_deleted.inc_by(rows);
                }
                None => return Ok((deleted, true)),
            }
            tokio::time::sleep(self.schedule.pause).await;
        }
    }
}

/// Sleeps `duration` unless the lease is lost or a stop is asked for first.
async fn wait(
    duration: Duration,
    leader: &mut watch::Receiver<bool>,
    stop: &mut watch::Receiver<bool>,
) -> Wake {
    tokio::select! {
        () = tokio::time::sleep(duration) => Wake::Elapsed,
        lost = leader.wait_for(|l| !*l) => if lost.is_ok() { Wake::LostLease } else { Wake::Stop },
        _ = stop.wait_for(|s| *s) => Wake::Stop,
    }
}
