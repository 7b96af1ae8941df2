//! What can fail in a reconcile and be retried. Errors a retry cannot fix (an invalid spec, a
//! Job that cannot be built, a Job name taken by something else) are not here: they become a
//! `Stalled` condition and an Event, and the reconcile waits for a change.

/// A transient failure of a reconcile (retried with backoff).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("not the leader: writes are stopped")]
    NotLeader,
    #[error("creating Job {job} failed")]
    CreateJob {
        job: String,
        #[source]
        source: kube::Error,
    },
    #[error("reading the existing Job {job} failed")]
    GetJob {
        job: String,
        #[source]
        source: kube::Error,
    },
    #[error("deleting Job {job} failed")]
    DeleteJob {
        job: String,
        #[source]
        source: kube::Error,
    },
    #[error("writing the status of {collection} failed")]
    PatchStatus {
        collection: String,
        #[source]
        source: kube::Error,
    },
}

impl Error {
    /// Stable metric label.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::NotLeader => "not_leader",
            Error::CreateJob { .. } => "create_job",
            Error::GetJob { .. } => "get_job",
            Error::DeleteJob { .. } => "delete_job",
            Error::PatchStatus { .. } => "patch_status",
        }
    }
}
