//! The database connection at start: only PostgreSQL URLs, retried while the server cannot
//! be reached yet, migrations applied; and the URL and its password kept out of every message.

use std::str::FromStr;
use std::time::Duration;

use contract::database::{Fault, fault};
use sqlx::migrate::MigrateError;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{Connection, PgPool};

use super::Failure;
use crate::app::config;
use crate::store::is_unreachable;
use telemetry::{database_reason, one_line};

/// Removes the database URL and its password from a message, in case a driver quotes them.
pub(super) fn redact(message: String, database_url: &str) -> String {
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

/// How long a run keeps retrying a statement while the database cannot be reached mid-run (a
/// restart, a failover) before it ends with exit 4.
pub(super) fn retry_budget() -> Result<contract::database::Retry, Failure> {
    let budget = match std::env::var(config::DATABASE_RETRY_BUDGET) {
        Err(_) => Duration::from_secs(60),
        Ok(value) => config::parse_duration(&value).ok_or_else(|| {
            Failure::Config(format!(
                "{} {value:?} is not a duration like 60s",
                config::DATABASE_RETRY_BUDGET
            ))
        })?,
    };
    Ok(contract::database::Retry { budget })
}

/// The connection settings of `database_url`; only `postgres://` and `postgresql://` URLs
/// (anything else would be tried, and retried, as PostgreSQL).
fn connect_options(database_url: &str) -> Result<PgConnectOptions, Failure> {
    let scheme = database_url.split_once("://").map(|(scheme, _)| scheme);
    if !scheme
        .is_some_and(|s| s.eq_ignore_ascii_case("postgres") || s.eq_ignore_ascii_case("postgresql"))
    {
        return Err(Failure::Config(
            "DATABASE_URL is not a PostgreSQL URL (it must start with postgres://)".into(),
        ));
    }
    let options = PgConnectOptions::from_str(database_url).map_err(|e| {
        Failure::Config(redact(
            format!("DATABASE_URL is not a PostgreSQL URL: {}", one_line(&e)),
            database_url,
        ))
    })?;
    // The migrator's "already exists, skipping" notices are not news on every start.
    Ok(options.options([("client_min_messages", "warning")]))
}

/// A failed connection at start: unreachable (exit 4) or refused for good (configuration,
/// exit 2), as one line without the URL.
fn connect_failure(error: &sqlx::Error, database_url: &str) -> Failure {
    let reason = match error {
        sqlx::Error::Database(db) => database_reason(db.as_ref()),
        other => one_line(other),
    };
    let line = redact(
        format!("cannot connect to the database: {reason}"),
        database_url,
    );
    if is_unreachable(error) {
        Failure::Database(line)
    } else {
        Failure::Config(line)
    }
}

pub(super) async fn connect(database_url: &str) -> Result<PgPool, Failure> {
    let options = connect_options(database_url)?;
    let describe = |e: &sqlx::Error| connect_failure(e, database_url);
    // One probe connection first, retried until the timeout while the server cannot be
    // reached: the pool alone would only report "timed out", not why. An answer that will
    // not change (no such database, a wrong password) fails at once.
    let deadline = tokio::time::Instant::now() + connect_timeout()?;
    loop {
        match PgConnection::connect_with(&options).await {
            Ok(probe) => {
                let _ = probe.close().await;
                break;
            }
            Err(e) if is_unreachable(&e) && tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => return Err(describe(&e)),
        }
    }
    let pool = crate::store::pool_options()
        .connect_with(options)
        .await
        .map_err(|e| describe(&e))?;
    if let Err(e) = contract::migrations::apply(&contract::MIGRATOR, &pool).await {
        pool.close().await;
        return Err(migrate_failure(&e, database_url));
    }
    Ok(pool)
}

/// Migrations that could not be applied: the database's own reason when it gave one (the
/// migrator's wrapping quotes the server's source line, which matches no migration).
fn migrate_failure(error: &MigrateError, database_url: &str) -> Failure {
    match error {
        MigrateError::Execute(e) | MigrateError::ExecuteMigration(e, _) => {
            refused("cannot apply the migrations", e, database_url)
        }
        other => Failure::Database(redact(
            format!("cannot apply the migrations: {}", one_line(other)),
            database_url,
        )),
    }
}

/// What `doing` failed with, as the run's one line: the database unreachable (exit 4), a
/// role or database that does not allow it (configuration, exit 2), or the migrations'
/// failure (exit 4) or a run's (exit 1) otherwise.
pub(super) fn refused(doing: &str, error: &sqlx::Error, database_url: &str) -> Failure {
    let reason = match error {
        sqlx::Error::Database(db) => database_reason(db.as_ref()),
        other => one_line(other),
    };
    let line = |what: String| redact(what, database_url);
    // The cause first: it is what the user has to mend; what was being done follows.
    match fault(error) {
        Fault::Unreachable => Failure::Database(line(format!(
            "the database could not be reached: {reason} ({doing})"
        ))),
        Fault::Privilege => Failure::Config(line(format!(
            "the database role lacks a privilege: {reason} ({doing})"
        ))),
        Fault::ReadOnly => Failure::Config(line(format!(
            "the database is read-only (default_transaction_read_only, or a standby): \
             {reason} ({doing})"
        ))),
        Fault::Refused if doing.contains("migrations") => {
            Failure::Database(line(format!("{doing}: {reason}")))
        }
        Fault::Refused => Failure::Other(line(format!("{doing}: {reason}"))),
    }
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
    fn an_unreachable_database_exits_4_and_a_refusing_one_exits_2() {
        use crate::store::tests::sqlstate;
        let url = "postgres://collector:hunter22@db/x";
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        for unreachable in [
            sqlx::Error::Io(refused),
            sqlstate("57P03"),
            sqlstate("57P01"),
        ] {
            assert_eq!(connect_failure(&unreachable, url).exit_code(), 4);
        }
        for wrong in [sqlstate("28P01"), sqlstate("3D000")] {
            let failure = connect_failure(&wrong, url);
            assert_eq!(failure.exit_code(), 2, "{failure}");
            assert!(!failure.to_string().contains("hunter22"), "{failure}");
        }
    }

    #[test]
    fn only_postgres_urls_are_accepted_and_never_echoed() {
        for url in ["mysql://u:pw12345@db/x", "db:5432", "http://db/x"] {
            let Err(Failure::Config(line)) = connect_options(url) else {
                panic!("{url} accepted")
            };
            assert!(line.contains("not a PostgreSQL URL"), "{line}");
            assert!(!line.contains("pw12345"), "{line}");
        }
        assert!(connect_options("postgresql://u@db/x").is_ok());
    }
}
