//! Command-line arguments; each may also come from the environment variable of the Job
//! contract (docs/job-contract.md).
//! Values are checked in `config`, so a missing one is reported as one line naming it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::app::config::{self, RawCollectConfig, RawShardConfig};
use crate::app::secret::Secret;
use telemetry::LogFormat;

#[derive(Parser, Debug)]
#[command(
    name = "collector-job",
    version,
    about = "Collects Telegram channel history into PostgreSQL"
)]
pub struct Cli {
    /// Log format on stderr.
    #[arg(
        long,
        global = true,
        env = "COLLECTOR_LOG_FORMAT",
        value_enum,
        default_value = "plain"
    )]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Apply the database migrations (under sqlx's advisory lock).
    Migrate {
        #[arg(long, env = contract::job::env::DATABASE_URL, hide_env_values = true)]
        database_url: Option<Secret>,
    },
    /// Collect new messages of the configured channels (what the Job runs).
    Collect(Box<CollectArgs>),
    /// Log in interactively and print a Kubernetes Secret holding the session.
    Login(LoginArgs),
    /// Import a Telegram Desktop JSON export (result.json) without any Telegram call.
    Import(ImportArgs),
}

#[derive(Args, Debug)]
pub struct CollectArgs {
    /// The run id (the Job's name).
    #[arg(long, env = contract::job::env::RUN_ID)]
    pub run_id: Option<String>,
    /// Namespace of the ChannelCollection.
    #[arg(long, env = contract::job::env::NAMESPACE)]
    pub namespace: Option<String>,
    /// Name of the ChannelCollection.
    #[arg(long, env = contract::job::env::NAME)]
    pub name: Option<String>,
    /// This pod's name (downward API); tells retries of one Job apart.
    #[arg(long, env = contract::job::env::POD_NAME)]
    pub pod_name: Option<String>,
    /// JSON array of the spec's channel strings.
    #[arg(long, env = contract::job::env::CHANNELS)]
    pub channels: Option<String>,
    /// JSON of spec.limits: {"maxMessagesPerChannel": n, "since": "30d", "refreshWindow": "48h"}.
    #[arg(long, env = contract::job::env::LIMITS)]
    pub limits: Option<String>,
    /// The media settings, JSON (docs/job-contract.md); media is off when unset.
    #[arg(long, env = contract::job::env::MEDIA)]
    pub media: Option<String>,
    #[arg(long, env = contract::job::env::DATABASE_URL, hide_env_values = true)]
    pub database_url: Option<Secret>,
    #[arg(long, env = contract::job::env::API_ID, hide_env_values = true)]
    pub api_id: Option<String>,
    /// A file holding the api id (instead of --api-id; a trailing newline is fine).
    #[arg(long, env = contract::job::env::API_ID_FILE)]
    pub api_id_file: Option<PathBuf>,
    /// The session blob made by `collector-job login`.
    #[arg(long, env = contract::job::env::SESSION_FILE, default_value = contract::job::SESSION_PATH)]
    pub session_file: PathBuf,
    /// How long to wait while another collector holds this session's lock, then give up.
    #[arg(long, env = config::SESSION_LOCK_TIMEOUT, default_value = config::DEFAULT_SESSION_LOCK_TIMEOUT)]
    pub session_lock_timeout: String,
    /// Sharded runs: how many indexes (accounts) the run has; unset for a run on one session.
    #[arg(long, env = contract::job::env::SHARD_COUNT)]
    pub shard_count: Option<String>,
    /// Sharded runs: this pod's Job completion index.
    #[arg(long, env = contract::job::env::SHARD_INDEX)]
    pub shard_index: Option<String>,
    /// Sharded runs: JSON array of one array of channel strings per index.
    #[arg(long, env = contract::job::env::ASSIGNMENT)]
    pub assignment: Option<String>,
    /// Longest flood wait slept through; a longer one fails the channel.
    #[arg(long, env = config::FLOOD_WAIT_THRESHOLD, default_value = "5m")]
    pub flood_wait_threshold: String,
    /// Least time between two progress rows inside one channel.
    #[arg(long, env = config::PROGRESS_INTERVAL, default_value = "5s")]
    pub progress_interval: String,
}

impl CollectArgs {
    /// The raw values, for `config` to check.
    pub fn into_raw(self) -> (RawCollectConfig, RawShardConfig) {
        let a = self;
        let more = RawShardConfig {
            api_id_file: a.api_id_file,
            session_lock_timeout: Some(a.session_lock_timeout),
            shard_count: a.shard_count,
            shard_index: a.shard_index,
            assignment: a.assignment,
        };
        let raw = RawCollectConfig {
            run_id: a.run_id,
            namespace: a.namespace,
            name: a.name,
            pod_name: a.pod_name,
            channels: a.channels,
            limits: a.limits,
            database_url: a.database_url,
            api_id: a.api_id,
            session_file: a.session_file,
            flood_wait_threshold: a.flood_wait_threshold,
            progress_interval: a.progress_interval,
        };
        (raw, more)
    }
}

#[derive(Args, Debug)]
pub struct LoginArgs {
    #[arg(long, env = contract::job::env::API_ID, hide_env_values = true)]
    pub api_id: Option<String>,
    #[arg(long, env = contract::job::env::API_HASH, hide_env_values = true)]
    pub api_hash: Option<Secret>,
    /// Name of the Secret in the printed manifest.
    #[arg(long, default_value = "telegram-session")]
    pub secret_name: String,
    /// Key of the session blob in the Secret (spec.session.secretRef.key).
    #[arg(long, default_value = "session")]
    pub secret_key: String,
    /// Namespace of the Secret; omitted from the manifest when unset.
    #[arg(long)]
    pub namespace: Option<String>,
    /// Start from this session blob instead of a key exchange with Telegram: a key the
    /// datacenter knows but has not signed in (for tests against the fake DC, whose `serve
    /// --session-out` writes one; the fake cannot do the key exchange).
    #[arg(long, hide = true)]
    pub initial_session: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// The export's result.json.
    pub path: PathBuf,
    #[arg(long, env = contract::job::env::DATABASE_URL, hide_env_values = true)]
    pub database_url: Option<Secret>,
    /// Run id of the audit rows; `import-<unix time>-<random>` when unset.
    #[arg(long, env = contract::job::env::RUN_ID)]
    pub run_id: Option<String>,
    /// IANA time zone (e.g. Europe/Berlin) of dates written without date_unixtime: exports
    /// made before 2021 give only the exporter's local time. UTC when unset.
    #[arg(long)]
    pub timezone: Option<String>,
    /// When the export was made (RFC 3339, e.g. 2026-03-05T18:00:00Z): how its versions rank
    /// against what is stored. Unset, its latest message date or edit date is taken (an
    /// export records no time of its own; its file's time changes with every copy).
    #[arg(long)]
    pub exported_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The media settings, JSON as for `collect` (docs/job-contract.md): the files the
    /// export holds beside result.json are stored there. Unset, they are not read.
    #[arg(long, env = contract::job::env::MEDIA)]
    pub media: Option<String>,
    /// Collection the imported channels belong to, for the audit log.
    #[arg(long, env = contract::job::env::NAMESPACE, default_value = "default")]
    pub namespace: String,
    #[arg(long, env = contract::job::env::NAME, default_value = "import")]
    pub name: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsed_arguments_never_show_the_database_url_or_the_api_hash() {
        let url = "postgres://collector:hunter22@db/x";
        for args in [
            vec!["migrate", "--database-url", url],
            vec!["collect", "--database-url", url],
            vec!["import", "result.json", "--database-url", url],
            vec!["login", "--api-id", "1", "--api-hash", "0123456789abcdef"],
        ] {
            let cli = Cli::try_parse_from(["collector-job"].into_iter().chain(args)).unwrap();
            let shown = format!("{cli:?}");
            assert!(!shown.contains("hunter22"), "{shown}");
            assert!(!shown.contains("0123456789abcdef"), "{shown}");
            assert!(shown.contains("<redacted>"), "{shown}");
        }
    }
}
