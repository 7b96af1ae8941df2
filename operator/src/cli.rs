//! Command line and environment.

use std::{fmt, net::SocketAddr, str::FromStr, time::Duration};

use clap::{Args, Parser, Subcommand};
use crds::MediaDestination;

use telemetry::LogFormat;

use crate::retention::{Retention, parse_retention};

#[derive(Debug, Parser)]
#[command(
    name = "operator",
    version,
    about = "Schedules collector Jobs for ChannelCollections"
)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// `operator [flags]` is `operator run [flags]`.
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the controller (the default).
    Run(Box<RunArgs>),
    /// Print the ChannelCollection CRD as YAML (`operator crd | kubectl apply -f -`).
    Crd,
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// kubeconfig context to use (default: the current context, or in-cluster config).
    #[arg(long, env = "KUBE_CONTEXT")]
    pub context: Option<String>,

    /// Watch only this namespace (default: all namespaces).
    #[arg(long, env = "WATCH_NAMESPACE")]
    pub namespace: Option<String>,

    /// Address of /healthz, /readyz, /metrics and the monitoring page.
    #[arg(long, env = "METRICS_ADDR", default_value = "0.0.0.0:8080")]
    pub metrics_addr: SocketAddr,

    /// Serve the read-only monitoring page (`/` and its live feed `/events`) on the metrics
    /// address: every watched collection's status, from the operator's cache.
    #[arg(long, env = "MONITORING_PAGE", default_value_t = true, action = clap::ArgAction::Set)]
    pub monitoring_page: bool,

    /// Log format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value = "json")]
    pub log_format: LogFormat,

    /// Collector image for collections without spec.collector.image.
    #[arg(
        long,
        env = "COLLECTOR_IMAGE",
        default_value = "ghcr.io/mtproto-dev/collector-job:latest"
    )]
    pub collector_image: String,

    /// Secret holding DATABASE_URL for collections without spec.database (in each
    /// collection's namespace).
    #[arg(long, env = "DEFAULT_DATABASE_SECRET")]
    pub default_database_secret: Option<String>,

    /// Key of DATABASE_URL in that Secret.
    #[arg(
        long,
        env = "DEFAULT_DATABASE_SECRET_KEY",
        default_value = "DATABASE_URL"
    )]
    pub default_database_secret_key: String,

    /// Where files go for collections whose `spec.media` names no destination (in each
    /// collection's namespace): the JSON of a `spec.media.destination`, e.g.
    /// `{"s3": {"bucket": "archive", "credentialsSecret": "media-s3"}}` or
    /// `{"directory": {"persistentVolumeClaim": "archive"}}`. Without it such collections are
    /// stalled.
    #[arg(long, env = "MEDIA_DESTINATION", value_parser = media_destination)]
    pub media_destination: Option<MediaDestination>,

    /// How often an active run's status is refreshed from the audit log even when no row
    /// announced itself (1s to 30s): the safety net; each row written wakes its collection
    /// at once.
    #[arg(long, env = "STATUS_REFRESH", default_value = "30s", value_parser = status_refresh)]
    pub status_refresh: Duration,

    /// Listen to the audit log's notifications (PostgreSQL `LISTEN`), so each row written
    /// refreshes its collection at once. Off only where the database URL goes through a
    /// pooler that does not pass `LISTEN` (PgBouncer in transaction mode): status then
    /// refreshes at `--status-refresh` alone.
    #[arg(long, env = "LISTEN_AUDIT_LOG", default_value_t = true, action = clap::ArgAction::Set)]
    pub listen_audit_log: bool,

    /// Most reconciles at once (a collection is never reconciled twice at the same time).
    /// At least the collections due in one minute: a reconcile waiting for its status write
    /// (behind the minute's Jobs) keeps its place, and a due collection without one would
    /// have to wait for it.
    #[arg(long, env = "MAX_CONCURRENT_RECONCILES", default_value_t = 10_000, value_parser = clap::value_parser!(u16).range(1..))]
    pub max_concurrent_reconciles: u16,

    /// Client-side limit of API requests per second (a token bucket, as client-go's).
    #[arg(long, env = "KUBE_API_QPS", default_value_t = 500.0, value_parser = positive)]
    pub kube_api_qps: f64,

    /// Requests the client may send at once above `--kube-api-qps`. The default covers a due
    /// minute of 1,000 collections (a Job and a status write each); Events only take tokens
    /// while more than half the burst is left.
    #[arg(long, env = "KUBE_API_BURST", default_value_t = 2000, value_parser = clap::value_parser!(u32).range(1..))]
    pub kube_api_burst: u32,

    /// Most API requests in flight at once (watches and the leader Lease aside). A due
    /// minute's Jobs take them first; status writes and Events wait until no Job is left to
    /// create. About what saturates the API server: more only adds connections it must serve.
    #[arg(long, env = "KUBE_API_IN_FLIGHT", default_value_t = 32, value_parser = clap::value_parser!(u16).range(1..))]
    pub kube_api_in_flight: u16,

    /// PostgreSQL URL of the audit log, for live progress (optional: without it, or while it
    /// is unreachable, only Job-level status is reported). Never printed.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<DatabaseUrl>,

    /// Delete audit-log rows older than this (at least 1d; `off` keeps them all). Each
    /// collection's latest runs, which status and ETAs read, are kept whatever their age.
    /// Hourly, by the leader, in small batches; needs DATABASE_URL.
    #[arg(long, env = "AUDIT_RETENTION", default_value = "30d", value_parser = parse_retention)]
    pub audit_retention: Retention,

    /// How long in-flight reconciles get to finish after SIGTERM.
    #[arg(long, env = "SHUTDOWN_GRACE", default_value = "10s", value_parser = humantime::parse_duration)]
    pub shutdown_grace: Duration,

    /// Use a Lease so only one replica reconciles.
    #[arg(long, env = "LEADER_ELECT", default_value_t = true, action = clap::ArgAction::Set)]
    pub leader_elect: bool,

    /// Name of the leader Lease.
    #[arg(
        long,
        env = "LEASE_NAME",
        default_value = "channel-collection-operator"
    )]
    pub lease_name: String,

    /// Namespace of the leader Lease (default: the operator's own, else the client's default).
    #[arg(long, env = "LEASE_NAMESPACE")]
    pub lease_namespace: Option<String>,

    /// This instance's identity in the Lease and Events (default: the pod's hostname).
    #[arg(long, env = "POD_NAME")]
    pub identity: Option<String>,
}

/// A status refresh interval: 1 s to 30 s (no slower than the seed's page).
fn status_refresh(value: &str) -> Result<Duration, String> {
    let refresh = humantime::parse_duration(value).map_err(|e| e.to_string())?;
    if (Duration::from_secs(1)..=Duration::from_secs(30)).contains(&refresh) {
        Ok(refresh)
    } else {
        Err(format!("{value} is not between 1s and 30s"))
    }
}

/// The default media destination: JSON of a `spec.media.destination` that the CRD would
/// accept, with no key it does not know (a typo would otherwise be ignored silently).
fn media_destination(value: &str) -> Result<MediaDestination, String> {
    let json: serde_json::Value =
        serde_json::from_str(value).map_err(|e| format!("not JSON: {e}"))?;
    let destination: MediaDestination = serde_json::from_value(json.clone())
        .map_err(|e| format!("not a media destination: {e}"))?;
    let known = serde_json::to_value(&destination).map_err(|e| e.to_string())?;
    let mut problems: Vec<String> = unknown_keys(&json, &known, "")
        .into_iter()
        .map(|key| format!("unknown key {key}"))
        .collect();
    problems.extend(crate::validate::media_destination(
        "the default media destination",
        &destination,
    ));
    if problems.is_empty() {
        Ok(destination)
    } else {
        Err(problems.join("; "))
    }
}

/// Paths of the keys of `given` that `known` (what was read from it, written back) lacks.
fn unknown_keys(given: &serde_json::Value, known: &serde_json::Value, at: &str) -> Vec<String> {
    let Some(given) = given.as_object() else {
        return Vec::new();
    };
    given
        .iter()
        .flat_map(|(key, value)| {
            let path = if at.is_empty() {
                key.clone()
            } else {
                format!("{at}.{key}")
            };
            match known.get(key) {
                None if !value.is_null() => vec![path],
                None => Vec::new(),
                Some(inner) => unknown_keys(value, inner, &path),
            }
        })
        .collect()
}

fn positive(value: &str) -> Result<f64, String> {
    match value.parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() => Ok(v),
        _ => Err(format!("{value} is not a positive number")),
    }
}

impl Cli {
    /// `run` with defaults (from env) when no subcommand is given.
    pub fn command(self) -> Command {
        self.command
            .unwrap_or_else(|| Command::Run(Box::new(self.run)))
    }
}

/// A database URL: it holds the password, so it is never shown (`Debug` is redacted).
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    /// The URL itself, for connecting only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl FromStr for DatabaseUrl {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_string()))
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DatabaseUrl(<redacted>)")
    }
}
