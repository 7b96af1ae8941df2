//! The process shell: the thin shell of each subcommand reads files and the environment,
//! connects, runs the pure parts, and maps every failure to one line and the contract's exit
//! code. Around it: the arguments (`cli`) and their checking (`config`), time (`clock`), the
//! stop request (`shutdown`), the database connection (`database`) and the lock that keeps
//! one session in one process (`session_lock`).

use std::hash::{BuildHasher, RandomState};

use chrono::{DateTime, Utc};
use contract::audit::{AuditLogError, AuditWriter, RunIdentity};
use sqlx::PgPool;

use crate::app::cli::{Cli, Command, ImportArgs, LoginArgs};
use crate::app::clock::{Clock, SystemClock};
use crate::app::config::CollectConfig;
use crate::app::secret::Secret;
use crate::app::session_lock::{LockError, SessionLock};
use crate::commands::collect::{Run, RunEnd, RunError, RunSettings};
use crate::commands::import::{ImportError, ImportReport, ImportRequest};
use crate::commands::{import, login};
use crate::media::Media;
use crate::store::{Store, is_unreachable};
use crate::telegram::client::Telegram;
use crate::telegram::session::SessionBlob;
use contract::media::MediaSettings;
use database::{connect, redact, refused};
use telemetry::one_line;

pub mod cli;
pub mod clock;
pub mod config;
mod database;
pub mod secret;
pub mod session_lock;
pub mod shutdown;

/// Why the process exits non-zero; the message is one line and holds no secret.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error("{0}")]
    Config(String),
    #[error("{0}")]
    SessionInvalid(String),
    #[error("{0}")]
    Database(String),
    /// Stopped by SIGTERM or SIGINT, with what was kept.
    #[error("{0}")]
    Terminated(String),
    #[error("{0}")]
    SessionInUse(String),
    #[error("{0}")]
    Other(String),
}

impl Failure {
    /// The exit codes of the Job contract (`contract::job::exit`, docs/job-contract.md).
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Config(_) => contract::job::exit::CONFIG,
            Self::SessionInvalid(_) => contract::job::exit::SESSION_INVALID,
            Self::Database(_) => contract::job::exit::DATABASE,
            Self::Terminated(_) => contract::job::exit::TERMINATED,
            Self::SessionInUse(_) => contract::job::exit::SESSION_IN_USE,
            Self::Other(_) => contract::job::exit::OTHER,
        }
    }
}

fn required(value: Option<String>, var: &'static str) -> Result<String, Failure> {
    value
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| missing(var))
}

fn required_secret(value: Option<Secret>, var: &'static str) -> Result<Secret, Failure> {
    value.filter(|v| !v.is_blank()).ok_or_else(|| missing(var))
}

fn missing(var: &'static str) -> Failure {
    Failure::Config(config::ConfigError::Missing { var }.to_string())
}

pub async fn run(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::Migrate { database_url } => {
            let url = required_secret(database_url, contract::job::env::DATABASE_URL)?;
            connect(url.expose()).await?.close().await;
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::Collect(mut args) => {
            let media = config::parse_media(args.media.take().as_deref())
                .map_err(|e| Failure::Config(one_line(&e)))?;
            let (raw, more) = args.into_raw();
            let config = raw
                .check_with(more)
                .map_err(|e| Failure::Config(one_line(&e)))?;
            collect(config, media).await
        }
        Command::Login(args) => login(args).await,
        Command::Import(args) => import(args).await,
    }
}

/// Opens the destination of `settings` (a directory is created), before anything is contacted.
fn open_media(settings: Option<MediaSettings>) -> Result<Option<Media>, Failure> {
    settings
        .map(Media::open)
        .transpose()
        .map_err(|e| Failure::Config(format!("{}: {}", contract::job::env::MEDIA, one_line(&e))))
}

async fn collect(config: CollectConfig, media: Option<MediaSettings>) -> Result<(), Failure> {
    let media = open_media(media)?;
    let session =
        SessionBlob::read(&config.session_file).map_err(|e| Failure::Config(e.to_string()))?;
    let key = session.auth_key_id().ok_or_else(|| {
        Failure::Config("the session file holds no auth key: log in again".into())
    })?;
    let pool = connect(config.database_url.expose()).await?;
    let outcome = match lock_session(&pool, key, &config).await {
        Ok(lock) => {
            let outcome = collect_on(&pool, config, session, media).await;
            lock.release().await;
            outcome
        }
        Err(failure) => Err(failure),
    };
    // Close every connection properly (a dropped pool just resets them).
    pool.close().await;
    outcome
}

/// Takes the session's lock (see `session_lock`) on a connection of its own, held until the
/// run ends; before Telegram is contacted, so a second process never connects.
async fn lock_session(
    pool: &PgPool,
    key: i64,
    config: &CollectConfig,
) -> Result<SessionLock, Failure> {
    let database = |e: sqlx::Error| {
        let line = redact(
            format!("cannot take the session lock: {}", one_line(&e)),
            config.database_url.expose(),
        );
        if is_unreachable(&e) {
            Failure::Database(line)
        } else {
            Failure::Other(line)
        }
    };
    let connection = pool.acquire().await.map_err(database)?.detach();
    match SessionLock::acquire(connection, key, config.session_lock_timeout).await {
        Ok(lock) => {
            tracing::info!(auth_key_id = key, "session lock taken");
            Ok(lock)
        }
        Err(e @ LockError::InUse { .. }) => Err(Failure::SessionInUse(e.to_string())),
        Err(LockError::Database(e)) => Err(database(e)),
    }
}

async fn collect_on(
    pool: &PgPool,
    config: CollectConfig,
    session: SessionBlob,
    media: Option<Media>,
) -> Result<(), Failure> {
    tracing::info!(
        run_id = %config.run.run_id,
        shard = ?config.run.shard,
        channels = config.channels.len(),
        "collecting"
    );

    let (mut telegram, mut floods) =
        Telegram::start(session, config.api_id, config.flood_wait_threshold);
    let (trigger, stop) = shutdown::channel();
    shutdown::on_signals(trigger)
        .map_err(|e| Failure::Other(format!("cannot watch SIGTERM: {e}")))?;
    let retry = database::retry_budget()?;
    let store = Store::new(pool.clone()).with_retry(retry);
    let audit = AuditWriter::new(pool.clone(), config.run.clone()).with_retry(retry);
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
        media,
    };
    let summary = run
        .run(&settings)
        .await
        .map_err(|e| run_failure(e, config.database_url.expose()))?;
    tracing::info!(?summary, "run ended");
    match summary.end {
        RunEnd::Finished => Ok(()),
        RunEnd::SessionInvalid => Err(Failure::SessionInvalid(
            "the Telegram session is revoked or not authorised: run `collector-job login` and \
             update the session Secret"
                .into(),
        )),
        RunEnd::Terminated => Err(Failure::Terminated(
            "stopped by SIGTERM after the current batch (collection_end written)".into(),
        )),
    }
}

fn run_failure(error: RunError, database_url: &str) -> Failure {
    let (doing, source) = match &error {
        RunError::Database(e) => (e.to_string(), e.database_error()),
        RunError::Audit(
            e @ (AuditLogError::Write { source, .. } | AuditLogError::Read { source, .. }),
        ) => (e.to_string(), source),
    };
    refused(&doing, source, database_url)
}

async fn import(args: ImportArgs) -> Result<(), Failure> {
    let zone = match args.timezone.as_deref() {
        None => None,
        Some(name) => Some(name.parse::<chrono_tz::Tz>().map_err(|_| {
            Failure::Config(format!(
                "--timezone {name:?} is not an IANA time zone such as Europe/Berlin"
            ))
        })?),
    };
    let media =
        config::parse_media(args.media.as_deref()).map_err(|e| Failure::Config(one_line(&e)))?;
    let now = SystemClock.now();
    let request = ImportRequest {
        exported_at: args.exported_at,
        path: args.path,
        zone,
        media: open_media(media)?,
    };
    // The whole file is checked before anything is written, or even connected to.
    let checked = import::check(&request)
        .await
        .map_err(|e| Failure::Config(one_line(&e)))?;
    let database_url = required_secret(args.database_url, contract::job::env::DATABASE_URL)?;
    let url = database_url.expose();
    let run_id = args
        .run_id
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| default_run_id(now));
    let run = RunIdentity {
        run_id: run_id.clone(),
        namespace: args.namespace,
        name: args.name,
        pod_name: None,
        shard: None,
    };
    let pool = connect(url).await?;
    let store = Store::new(pool.clone());
    // Like its chats, an import's audit rows are not retried: a lost connection fails the
    // import at once with exit 4, and running it again writes only what is missing.
    let audit = AuditWriter::new(pool.clone(), run);
    let (trigger, stop) = shutdown::channel();
    shutdown::on_signals(trigger)
        .map_err(|e| Failure::Other(format!("cannot watch SIGTERM: {e}")))?;
    let outcome = import::import(&request, checked, &store, &audit, &SystemClock, stop).await;
    pool.close().await;
    let report = outcome.map_err(|e| match e {
        ImportError::Run(e) => run_failure(e, url),
        ImportError::Stopped { imported, channels } => Failure::Terminated(format!(
            "import stopped by a signal: {imported} of {channels} channels imported (run \
             {run_id}); the chat being imported was rolled back (collection_end written)"
        )),
        other => Failure::Other(one_line(&other)),
    })?;
    let shown = request.path.display();
    if let Some((chat, reason)) = report.failed.first() {
        return Err(Failure::Other(format!(
            "import {shown}: chat \"{chat}\" was not imported (nothing of it is stored): {reason}; \
             {} of {} channels imported, run {run_id}",
            report.summary.channels_synced,
            report.summary.channels_synced + report.summary.errors,
        )));
    }
    tracing::info!(summary = ?report.summary, "import finished");
    println!("{}", summary_line(&report, &run_id, zone));
    Ok(())
}

/// `import-<unix seconds>-<8 random hex digits>`: unique across imports started in the
/// same second (the seconds keep them sortable).
fn default_run_id(now: DateTime<Utc>) -> String {
    // RandomState is seeded from the OS's randomness per instance: a random u32 without a
    // dependency.
    let random = RandomState::new().hash_one(now.timestamp_nanos_opt()) as u32;
    format!("import-{}-{random:08x}", now.timestamp())
}

/// The line `import` prints on success.
fn summary_line(report: &ImportReport, run_id: &str, zone: Option<chrono_tz::Tz>) -> String {
    let plural = |n: u64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let mut line = format!(
        "imported {} of {} (run {run_id})",
        plural(report.summary.total_messages, "message", "messages"),
        plural(
            u64::from(report.summary.channels_synced),
            "channel",
            "channels"
        ),
    );
    line.push_str(&format!(
        "; {} written",
        plural(report.changed, "row", "rows")
    ));
    if report.summary.edits_found > 0 {
        line.push_str(&format!(
            ", {} kept beside the stored ones",
            plural(
                report.summary.edits_found,
                "other version",
                "other versions"
            )
        ));
    }
    if let Some(files) = &report.files {
        let media = &report.summary.media;
        line.push_str(&format!(
            "; {} stored ({} bytes)",
            plural(media.files_downloaded, "file", "files"),
            media.bytes_downloaded
        ));
        for (count, what) in [
            (files.already_stored, "already stored"),
            (media.files_skipped_too_big, "over maxFileSize"),
            (media.files_skipped_over_budget, "over maxBytesPerRun"),
            (files.missing, "missing from the export"),
            (media.files_failed, "failed"),
        ] {
            if count > 0 {
                line.push_str(&format!(", {count} {what}"));
            }
        }
    }
    if !report.skipped.is_empty() {
        line.push_str(&format!(
            "; skipped {} that {} not a channel",
            plural(report.skipped.len() as u64, "chat", "chats"),
            if report.skipped.len() == 1 {
                "is"
            } else {
                "are"
            }
        ));
    }
    if report.local_dates > 0 {
        let dates = plural(
            report.local_dates,
            "date without date_unixtime",
            "dates without date_unixtime",
        );
        match zone {
            Some(zone) => line.push_str(&format!("; {dates} read in {zone}")),
            None => line.push_str(&format!(
                "; {dates} read as UTC (pass --timezone with the exporter's zone to read them \
                 in its local time)"
            )),
        }
    }
    line
}

async fn login(args: LoginArgs) -> Result<(), Failure> {
    let api_id = required(args.api_id, contract::job::env::API_ID)?
        .trim()
        .parse()
        .map_err(|_| Failure::Config(format!("{} is not a number", contract::job::env::API_ID)))?;
    let api_hash = required_secret(args.api_hash, contract::job::env::API_HASH)?;
    let target = login::SecretTarget {
        name: args.secret_name,
        namespace: args.namespace,
        key: args.secret_key,
    };
    let initial = args
        .initial_session
        .as_deref()
        .map(SessionBlob::read)
        .transpose()
        .map_err(|e| Failure::Config(e.to_string()))?;
    let manifest = login::login(api_id, api_hash.expose(), &target, initial)
        .await
        .map_err(|e| Failure::Other(one_line(&e)))?;
    print!("{manifest}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_run_ids_differ_within_one_second() {
        let now = DateTime::from_timestamp(1_764_000_000, 0).unwrap();
        let (a, b) = (default_run_id(now), default_run_id(now));
        assert_ne!(a, b);
        assert!(a.starts_with("import-1764000000-"), "{a}");
    }

    #[test]
    fn causes_are_joined_on_one_line() {
        let error = config::ConfigError::Channel {
            var: contract::job::env::CHANNELS,
            source: contract::channel::ChannelRefError::Malformed("a\nb".into()),
        };
        assert!(!one_line(&error).contains('\n'));
        assert!(one_line(&error).contains("COLLECTOR_CHANNELS"));
    }

    #[test]
    fn exit_codes_follow_the_contract() {
        assert_eq!(Failure::Config(String::new()).exit_code(), 2);
        assert_eq!(Failure::SessionInvalid(String::new()).exit_code(), 3);
        assert_eq!(Failure::Database(String::new()).exit_code(), 4);
        assert_eq!(Failure::Terminated(String::new()).exit_code(), 5);
        assert_eq!(Failure::SessionInUse(String::new()).exit_code(), 6);
    }
}
