//! The operator's reads of the audit log for one active run.

use contract::audit::{AuditRow, PastRun, PastRunLimits};
use crds::RunId;
use sqlx::PgPool;

use super::derive::{AuditInput, ProgressUnavailable};
use super::durations::ChannelDurations;

/// A failed read; the operator logs it (cause chain included) and reports
/// [`ProgressUnavailable::Unreachable`], never the error text, in the status.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot read the audit rows of the run")]
    Run(#[source] contract::audit::AuditLogError),
    #[error("cannot read the per-channel history of the collection")]
    History(#[source] contract::audit::PastRunsError),
}

/// Everything the derivation needs from the database for one active run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AuditSnapshot {
    /// The run's rows, all attempts, oldest first.
    pub rows: Vec<AuditRow>,
    /// Per-channel durations of the collection's previous finished runs.
    pub history: ChannelDurations,
}

impl AuditSnapshot {
    /// The snapshot as derivation input.
    pub fn as_input(&self) -> AuditInput<'_> {
        AuditInput::Rows {
            rows: &self.rows,
            history: &self.history,
        }
    }
}

/// The rows of run `run`, all attempts, oldest first.
pub async fn read_run_rows(pool: &PgPool, run: &RunId) -> Result<Vec<AuditRow>, ReadError> {
    contract::audit::read_run(pool, run.as_str())
        .await
        .map_err(ReadError::Run)
}

/// The rows of run `run` with an id above `after`, oldest first.
pub async fn read_run_rows_after(
    pool: &PgPool,
    run: &RunId,
    after: i64,
) -> Result<Vec<AuditRow>, ReadError> {
    contract::audit::read_run_after(pool, run.as_str(), after)
        .await
        .map_err(ReadError::Run)
}

/// Per-channel history of collection `namespace/name` from its latest finished runs other
/// than `run`.
pub async fn read_durations(
    pool: &PgPool,
    namespace: &str,
    name: &str,
    run: &RunId,
    limits: PastRunLimits,
) -> Result<ChannelDurations, ReadError> {
    let runs: Vec<PastRun> =
        contract::audit::recent_finished_runs(pool, namespace, name, run.as_str(), limits)
            .await
            .map_err(ReadError::History)?;
    Ok(ChannelDurations::from_runs(
        runs.iter().map(|r| r.rows.as_slice()),
    ))
}

/// The derivation input for a read that may have failed or had no database to go to:
/// `Ok` rows as they are, a missing pool as [`ProgressUnavailable::NotConfigured`], an error
/// as [`ProgressUnavailable::Unreachable`] (log the error before calling this).
pub fn input_from<'a>(read: Option<&'a Result<AuditSnapshot, ReadError>>) -> AuditInput<'a> {
    match read {
        None => AuditInput::Unavailable(ProgressUnavailable::NotConfigured),
        Some(Err(_)) => AuditInput::Unavailable(ProgressUnavailable::Unreachable),
        Some(Ok(snapshot)) => snapshot.as_input(),
    }
}
