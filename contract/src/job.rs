//! The Job <-> collector contract (docs/job-contract.md): what the operator puts in a
//! collector Job and what the collector reads from it, and the labels and annotations the
//! operator marks its collections' Jobs with.

/// Environment the operator sets on the collector container.
pub mod env {
    /// The run id (the Job's name), shared by every attempt and every shard of the run.
    pub const RUN_ID: &str = "COLLECTOR_RUN_ID";
    /// Namespace of the `ChannelCollection`.
    pub const NAMESPACE: &str = "COLLECTOR_NAMESPACE";
    /// Name of the `ChannelCollection`.
    pub const NAME: &str = "COLLECTOR_NAME";
    /// The pod (downward API), so each attempt's audit rows are its own.
    pub const POD_NAME: &str = "COLLECTOR_POD_NAME";
    /// `spec.channels` as a JSON array of the strings the user wrote.
    pub const CHANNELS: &str = "COLLECTOR_CHANNELS";
    /// `spec.limits` as JSON (`crds::Limits`).
    pub const LIMITS: &str = "COLLECTOR_LIMITS";
    /// `spec.media` resolved for the collector, as JSON (`contract::media::MediaSettings`);
    /// unset: no files are downloaded.
    pub const MEDIA: &str = "COLLECTOR_MEDIA";
    /// The collector's PostgreSQL URL (from a Secret).
    pub const DATABASE_URL: &str = "DATABASE_URL";
    /// The Telegram API id (from the API credentials Secret).
    pub const API_ID: &str = "TELEGRAM_API_ID";
    /// The Telegram API hash; only `login` needs it.
    pub const API_HASH: &str = "TELEGRAM_API_HASH";
    /// Path of the session blob; [`super::SESSION_PATH`] unless set.
    pub const SESSION_FILE: &str = "TELEGRAM_SESSION_FILE";
    /// A file holding the Telegram API id, instead of [`API_ID`] (a sharded Job's per-index
    /// credentials are files in the index's own mount).
    pub const API_ID_FILE: &str = "TELEGRAM_API_ID_FILE";
    /// Sharded runs: how many indexes (accounts) the run has. Absent: one session.
    pub const SHARD_COUNT: &str = "COLLECTOR_SHARD_COUNT";
    /// Sharded runs: this pod's index (the Job completion index, downward API).
    pub const SHARD_INDEX: &str = "COLLECTOR_SHARD_INDEX";
    /// Sharded runs: a JSON array of one array of `spec.channels` strings per index.
    pub const ASSIGNMENT: &str = "COLLECTOR_ASSIGNMENT";

    /// Names the operator sets; a spec's extra env may not override them.
    pub const RESERVED: [&str; 15] = [
        RUN_ID,
        MEDIA,
        NAMESPACE,
        NAME,
        CHANNELS,
        LIMITS,
        POD_NAME,
        DATABASE_URL,
        API_ID,
        API_HASH,
        SESSION_FILE,
        API_ID_FILE,
        SHARD_COUNT,
        SHARD_INDEX,
        ASSIGNMENT,
    ];
}

/// Annotations on a `ChannelCollection` and on its Jobs.
pub mod annotation {
    /// On the collection: every new value asks for one run now (as Flux's `requestedAt`).
    pub const REQUESTED_AT: &str = "collection.mtproto.dev/requestedAt";
    /// On a Job: the scheduled time it runs for (RFC 3339), so the schedule can be rebuilt
    /// from Jobs.
    pub const SCHEDULED_AT: &str = "collection.mtproto.dev/scheduled-at";
    /// On a sharded run's Job: the JSON array of its session Secret names, in index order.
    pub const ASSIGNMENT_SESSIONS: &str = "collection.mtproto.dev/assignment-sessions";
}

/// Labels on the collection's Jobs.
pub mod label {
    /// The owning collection's name (hashed when longer than a label value may be).
    pub const COLLECTION: &str = "collection.mtproto.dev/collection";
    /// Standard label naming the operator as the manager of the Job.
    pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
    /// Value of [`MANAGED_BY`].
    pub const MANAGED_BY_OPERATOR: &str = "channel-collection-operator";
}

/// Name of the collector container in the Job's pods (what `kubectl logs -c` and the pod
/// failure policy name).
pub const CONTAINER: &str = "collector";

/// Where the session Secret is mounted in the collector container.
pub const SESSION_DIR: &str = "/var/run/secrets/telegram";
/// File name of the session blob inside [`SESSION_DIR`].
pub const SESSION_FILE_NAME: &str = "session";
/// The session blob's path when [`env::SESSION_FILE`] is not set.
pub const SESSION_PATH: &str = "/var/run/secrets/telegram/session";
/// Key of the API credentials Secret holding the API id.
pub const API_ID_KEY: &str = "api_id";

/// The collector's exit codes, which the operator's pod failure policy acts on.
pub mod exit {
    /// Something else failed (a bug, an unexpected error): worth a retry.
    pub const OTHER: u8 = 1;
    /// Bad configuration (env, arguments, a database that refuses us for good).
    pub const CONFIG: u8 = 2;
    /// The Telegram session is revoked or unknown: only a new login helps.
    pub const SESSION_INVALID: u8 = 3;
    /// The database stayed unreachable.
    pub const DATABASE: u8 = 4;
    /// Stopped by SIGTERM/SIGINT (the pod was deleted or the Job's deadline passed).
    pub const TERMINATED: u8 = 5;
    /// Another collector holds the session (its advisory lock) for longer than the lock
    /// timeout; nothing was written and Telegram was not contacted.
    pub const SESSION_IN_USE: u8 = 6;
    /// Exit codes after which retrying cannot help: the Job fails at once.
    pub const FATAL: [u8; 2] = [CONFIG, SESSION_INVALID];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_path_is_the_file_in_the_mounted_dir() {
        assert_eq!(SESSION_PATH, format!("{SESSION_DIR}/{SESSION_FILE_NAME}"));
    }

    #[test]
    fn reserved_names_are_distinct() {
        let mut names = env::RESERVED.to_vec();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), env::RESERVED.len());
    }
}
