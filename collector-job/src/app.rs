//! The thin shell of each subcommand: reads files and the environment, connects, runs the
//! pure parts, and maps every failure to one line and the contract's exit code.

use std::time::Duration;

use audit::{AuditWriter, RunIdentity};
use sqlx::postgres::{PgConnection, PgPoolOptions};
use sqlx::{Connection, PgPool};

use crate::cli::{Cli, Command, ImportArgs, LoginArgs};
use crate::clock::{Clock, SystemClock};
use crate::collect::{Run, RunEnd, RunError, RunSettings};
use crate::config::{self, CollectConfig, RawCollectConfig};
use crate::session::SessionBlob;
use crate::shutdown;
use crate::store::{Store, is_unreachable};
use crate::telegram::Telegram;
use crate::{export, import, login};

/// Why the process exits non-zero; the message is one line and holds no secret.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error("{0}")]
    Config(String),
    #[error("{0}")]
    SessionInvalid(String),
    #[error("{0}")]
    Database(String),
    #[error("stopped by SIGTERM after the current batch (collection_end written)")]
    Terminated,
    #[error("{0}")]
    Other(String),
}

impl Failure {
    /// The exit codes of DESIGN.md's contract.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Config(_) => 2,
            Self::SessionInvalid(_) => 3,
            Self::Database(_) => 4,
            Self::Terminated => 5,
            Self::Other(_) => 1,
        }
    }
}

/// An error and its causes on one line.
pub fn one_line(error: &dyn std::error::Error) -> String {
    let mut line = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        // Many errors already print their cause; say it once.
        let text = cause.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        source = cause.source();
    }
    line.replace(['\n', '\r'], " ")
}

/// Removes the database URL and its password from a message, in case a driver quotes them.
fn redact(message: String, database_url: &str) -> String {
    let mut message = message.replace(database_url, "<DATABASE_URL>");
    if let Some(password) = url_password(database_url).filter(|p| p.len() >= 3) {
        message = message.replace(password, "<password>");
    }
    message
}

fn url_password(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let userinfo = rest.split_once('@')?.0;
    userinfo.split_once(':').map(|(_, password)| password)
}

/// How long to keep trying to reach the database at start (a pod may start before it).
fn connect_timeout() -> Result<Duration, Failure> {
    match std::env::var(config::DATABASE_CONNECT_TIMEOUT) {
        Err(_) => Ok(Duration::from_secs(15)),
        Ok(value) => config::parse_duration(&value).ok_or_else(|| {
            Failure::Config(format!(
                "{} {value:?} is not a duration like 15s",
                config::DATABASE_CONNECT_TIMEOUT
            ))
        }),
    }
}

async fn connect(database_url: &str) -> Result<PgPool, Failure> {
    let describe = |e: sqlx::Error| {
        let line = redact(one_line(&e), database_url);
        match e {
            sqlx::Error::Configuration(_) => {
                Failure::Config(format!("DATABASE_URL is not a PostgreSQL URL: {line}"))
            }
            _ => Failure::Database(format!("cannot connect to the database: {line}")),
        }
    };
    // One probe connection first, retried until the timeout: the pool alone would only
    // report "timed out", not why.
    let deadline = tokio::time::Instant::now() + connect_timeout()?;
    loop {
        match PgConnection::connect(database_url).await {
            Ok(probe) => {
                let _ = probe.close().await;
                break;
            }
            Err(e @ sqlx::Error::Configuration(_)) => return Err(describe(e)),
            Err(e) if tokio::time::Instant::now() >= deadline => return Err(describe(e)),
            Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(Duration::from_secs(30))
        .connect(database_url)
        .await
        .map_err(describe)?;
    audit::MIGRATOR.run(&pool).await.map_err(|e| {
        Failure::Database(redact(
            format!("cannot apply migrations: {}", one_line(&e)),
            database_url,
        ))
    })?;
    Ok(pool)
}

fn required(value: Option<String>, var: &'static str) -> Result<String, Failure> {
    value
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| Failure::Config(config::ConfigError::Missing { var }.to_string()))
}

pub async fn run(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::Migrate { database_url } => {
            let url = required(database_url, config::DATABASE_URL)?;
            connect(&url).await?;
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::Collect(args) => {
            let config = RawCollectConfig::from(args)
                .check()
                .map_err(|e| Failure::Config(one_line(&e)))?;
            collect(config).await
        }
        Command::Login(args) => login(args).await,
        Command::Import(args) => import(args).await,
    }
}

async fn collect(config: CollectConfig) -> Result<(), Failure> {
    let session =
        SessionBlob::read(&config.session_file).map_err(|e| Failure::Config(e.to_string()))?;
    let pool = connect(&config.database_url).await?;
    tracing::info!(run_id = %config.run.run_id, channels = config.channels.len(), "collecting");

    let (mut telegram, mut floods) =
        Telegram::start(session, config.api_id, config.flood_wait_threshold);
    let (trigger, stop) = shutdown::channel();
    shutdown::on_signals(trigger)
        .map_err(|e| Failure::Other(format!("cannot watch SIGTERM: {e}")))?;
    let store = Store::new(pool.clone());
    let audit = AuditWriter::new(pool, config.run.clone());
    let settings = RunSettings {
        channels: config.channels,
        limits: config.limits,
        progress_interval: config.progress_interval,
    };
    let run = Run {
        source: &mut telegram,
        store: &store,
        audit: &audit,
        clock: &SystemClock,
        floods: &mut floods,
        shutdown: stop,
    };
    let summary = run
        .run(&settings)
        .await
        .map_err(|e| run_failure(e, &config.database_url))?;
    tracing::info!(?summary, "run ended");
    match summary.end {
        RunEnd::Finished => Ok(()),
        RunEnd::SessionInvalid => Err(Failure::SessionInvalid(
            "the Telegram session is revoked or not authorised: run `collector-job login` and \
             update the session Secret"
                .into(),
        )),
        RunEnd::Terminated => Err(Failure::Terminated),
    }
}

fn run_failure(error: RunError, database_url: &str) -> Failure {
    let unreachable = match &error {
        RunError::Database(_) => true,
        RunError::Audit(audit::StoreError::Write { source, .. })
        | RunError::Audit(audit::StoreError::Read { source, .. }) => is_unreachable(source),
    };
    let line = redact(one_line(&error), database_url);
    if unreachable {
        Failure::Database(line)
    } else {
        Failure::Other(line)
    }
}

async fn import(args: ImportArgs) -> Result<(), Failure> {
    let shown = args.path.display().to_string();
    let text = std::fs::read_to_string(&args.path)
        .map_err(|e| Failure::Config(format!("cannot read export {shown}: {}", e.kind())))?;
    let export =
        export::parse(&text).map_err(|e| Failure::Config(format!("export {shown}: {e}")))?;
    for skipped in &export.skipped {
        tracing::info!(chat = %skipped, "skipping a chat that is not a channel");
    }
    let url = required(args.database_url, config::DATABASE_URL)?;
    let pool = connect(&url).await?;
    let run = RunIdentity {
        run_id: args
            .run_id
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| format!("import-{}", SystemClock.now().timestamp())),
        namespace: args.namespace,
        name: args.name,
        pod_name: None,
    };
    let store = Store::new(pool.clone());
    let audit = AuditWriter::new(pool, run);
    let summary = import::import(&export, &store, &audit, &SystemClock)
        .await
        .map_err(|e| run_failure(e, &url))?;
    tracing::info!(?summary, "import finished");
    Ok(())
}

async fn login(args: LoginArgs) -> Result<(), Failure> {
    let api_id = required(args.api_id, config::API_ID)?
        .trim()
        .parse()
        .map_err(|_| Failure::Config(format!("{} is not a number", config::API_ID)))?;
    let api_hash = required(args.api_hash, config::API_HASH)?;
    let target = login::SecretTarget {
        name: args.secret_name,
        namespace: args.namespace,
        key: args.secret_key,
    };
    let manifest = login::login(api_id, &api_hash, &target)
        .await
        .map_err(|e| Failure::Other(one_line(&e)))?;
    print!("{manifest}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls_and_passwords_are_redacted() {
        let url = "postgres://collector:hunter22@db:5432/telegram";
        let message = format!("cannot connect to {url}: password hunter22 rejected");
        let redacted = redact(message, url);
        assert!(!redacted.contains("hunter22"), "{redacted}");
        assert_eq!(url_password("postgres://db/x"), None);
    }

    #[test]
    fn causes_are_joined_on_one_line() {
        let error = config::ConfigError::Channel {
            var: config::CHANNELS,
            source: crate::channel_ref::ChannelRefError::Malformed("a\nb".into()),
        };
        assert!(!one_line(&error).contains('\n'));
        assert!(one_line(&error).contains("COLLECTOR_CHANNELS"));
    }

    #[test]
    fn exit_codes_follow_the_contract() {
        assert_eq!(Failure::Config(String::new()).exit_code(), 2);
        assert_eq!(Failure::SessionInvalid(String::new()).exit_code(), 3);
        assert_eq!(Failure::Database(String::new()).exit_code(), 4);
        assert_eq!(Failure::Terminated.exit_code(), 5);
    }
}
