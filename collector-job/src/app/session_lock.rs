//! Never two processes on one Telegram session (two connections with one auth key get it
//! revoked, AUTH_KEY_DUPLICATED): before connecting, `collect` takes a PostgreSQL
//! session-level advisory lock keyed by the session's auth key id and holds it, on a
//! connection of its own, for the whole run. Another collector of the same session (a retried
//! pod whose predecessor still runs, a second collection naming the same Secret) waits for
//! it, and gives up after a timeout.

use std::time::Duration;

use sqlx::{Connection, PgConnection};

/// How often a waiting collector asks again.
const POLL: Duration = Duration::from_millis(250);

/// Why the lock was not taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("session already in use by another collector (waited {waited:?} for it to finish)")]
    InUse { waited: Duration },
    #[error("cannot take the session lock")]
    Database(#[source] sqlx::Error),
}

/// The held lock; released when [`release`](Self::release)d or when its connection closes
/// (the process exits or is killed: PostgreSQL drops the lock with the connection).
pub struct SessionLock {
    connection: PgConnection,
    key: i64,
}

impl SessionLock {
    /// Takes the lock `key` on `connection`, asking every 250 ms until `timeout` has passed.
    pub async fn acquire(
        mut connection: PgConnection,
        key: i64,
        timeout: Duration,
    ) -> Result<Self, LockError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut waiting = false;
        loop {
            let taken: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                .bind(key)
                .fetch_one(&mut connection)
                .await
                .map_err(LockError::Database)?;
            if taken {
                return Ok(Self { connection, key });
            }
            if !waiting {
                tracing::warn!(
                    auth_key_id = key,
                    "another collector holds this session; waiting for it"
                );
                waiting = true;
            }
            if tokio::time::Instant::now() + POLL > deadline {
                let _ = connection.close().await;
                return Err(LockError::InUse { waited: timeout });
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Releases the lock and closes its connection.
    pub async fn release(mut self) {
        let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(self.key)
            .execute(&mut self.connection)
            .await;
        let _ = self.connection.close().await;
    }
}
