//! The Job <-> collector contract: what the operator puts in a collector Job and what the
//! collector reads from it. Defined once, here, where both binaries already meet.

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
    /// The collector's PostgreSQL URL (from a Secret).
    pub const DATABASE_URL: &str = "DATABASE_URL";
    /// The Telegram API id (from the API credentials Secret).
    pub const API_ID: &str = "TELEGRAM_API_ID";
    /// The Telegram API hash; only `login` needs it.
    pub const API_HASH: &str = "TELEGRAM_API_HASH";
    /// Path of the session blob; [`super::SESSION_PATH`] unless set.
    pub const SESSION_FILE: &str = "TELEGRAM_SESSION_FILE";

    /// Names the operator sets; a spec's extra env may not override them.
    pub const RESERVED: [&str; 10] = [
        RUN_ID,
        NAMESPACE,
        NAME,
        CHANNELS,
        LIMITS,
        POD_NAME,
        DATABASE_URL,
        API_ID,
        API_HASH,
        SESSION_FILE,
    ];
}

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
