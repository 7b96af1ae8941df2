//! The `channels` and `messages` tables: the channel cache, and the batched upsert that both
//! `collect` and `import` write through, with its one merge rule (docs/collector.md).

use chrono::{DateTime, Utc};
use sqlx::postgres::PgPoolOptions;
use sqlx::{PgConnection, PgPool, Postgres, Transaction};

use crate::store::model::{MessageRow, Origin, ResolvedChannel, Sighting, StoredChannel};
use contract::channel::ChannelRef;
use contract::database::Retry;
use page::{COLLECT_NEW_PAGE, COLLECT_PAGE, IMPORT_NEW_PAGE, IMPORT_PAGE, Page};

pub mod media;
pub mod model;
mod page;
pub mod storable;
mod sweep;

pub use sweep::SweepState;

/// A failed read or write of collected data.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot look up channel {channel} in the channels table")]
    LookupChannel {
        channel: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("cannot remember channel {channel_id} in the channels table")]
    RememberChannel {
        channel_id: i64,
        #[source]
        source: sqlx::Error,
    },
    #[error("cannot store {count} messages of channel {channel_id}")]
    StoreBatch {
        channel_id: i64,
        count: usize,
        #[source]
        source: sqlx::Error,
    },
    #[error("cannot mark the deleted messages of channel {channel_id}")]
    MarkDeleted {
        channel_id: i64,
        #[source]
        source: sqlx::Error,
    },
    #[error("cannot read or record the deletion sweep of channel {channel_id}")]
    Sweep {
        channel_id: i64,
        #[source]
        source: sqlx::Error,
    },
    #[error("cannot {doing} channel {channel_id}")]
    Media {
        /// What was being done, e.g. `record the files of`.
        doing: &'static str,
        channel_id: i64,
        #[source]
        source: sqlx::Error,
    },
    #[error("cannot commit the import of channel {channel_id}")]
    Commit {
        channel_id: i64,
        #[source]
        source: sqlx::Error,
    },
}

impl StoreError {
    /// True when the database itself is gone (not one bad statement): the run cannot go on.
    pub fn is_unreachable(&self) -> bool {
        is_unreachable(self.database_error())
    }

    /// Whether the run cannot go on: the database is gone, or the role or database does not
    /// allow the write (a missing privilege, a read-only database), which every channel
    /// would meet.
    pub fn ends_run(&self) -> bool {
        let fault = contract::database::fault(self.database_error());
        fault == contract::database::Fault::Unreachable || fault.is_configuration()
    }

    /// PostgreSQL's error.
    pub fn database_error(&self) -> &sqlx::Error {
        match self {
            Self::LookupChannel { source, .. }
            | Self::RememberChannel { source, .. }
            | Self::StoreBatch { source, .. }
            | Self::MarkDeleted { source, .. }
            | Self::Sweep { source, .. }
            | Self::Media { source, .. }
            | Self::Commit { source, .. } => source,
        }
    }
}

/// Whether `error` means the database cannot be reached, not yet or no longer (see
/// `contract::database`): retried at start until the timeout, then exit 4; anything else at
/// start is configuration (exit 2: no such database or role, a wrong password).
pub use contract::database::is_unreachable;

/// What storing a page changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PageCounts {
    /// Rows inserted or changed: a message seen again unchanged is not written.
    pub written: u64,
    /// Versions kept in `message_versions`: edits found (a stored version superseded), or
    /// an older version that differs from the stored one.
    pub versions: u64,
}

impl std::ops::AddAssign for PageCounts {
    fn add_assign(&mut self, other: Self) {
        self.written += other.written;
        self.versions += other.versions;
    }
}

/// A stored page of a collected channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CollectedPage {
    /// The channel's checkpoint after the page.
    pub checkpoint: i64,
    pub counts: PageCounts,
}

/// `id, username, title, checkpoint` of a `channels` row.
type ChannelRecord = (i64, Option<String>, Option<String>, i64);

fn stored((id, username, title, checkpoint): ChannelRecord) -> StoredChannel {
    StoredChannel {
        id,
        access_hash: None,
        legacy_hash: false,
        username,
        title,
        checkpoint,
    }
}

/// The account of access hashes cached before they were kept per account.
pub const UNKNOWN_ACCOUNT: i64 = 0;

/// The channel with username `$1` or id `$2` (one of them NULL), and the access hash account
/// `$3` should use: its own, else account 0's.
const CHANNEL_FOR_ACCOUNT: &str = "
    SELECT c.id, c.username, c.title, c.checkpoint, h.access_hash, h.account_id
      FROM channels c
      LEFT JOIN LATERAL (
          SELECT access_hash, account_id FROM channel_access_hashes
           WHERE channel_id = c.id AND account_id IN ($3, 0)
           ORDER BY account_id = 0
           LIMIT 1
      ) h ON true
     WHERE c.username = $1 OR c.id = $2";

type AccountChannelRecord = (
    i64,
    Option<String>,
    Option<String>,
    i64,
    Option<i64>,
    Option<i64>,
);

/// The pool a run stores through: a handful of connections, and no ping before each
/// statement. sqlx already pings a connection as it goes back to the pool; a second ping as it
/// is taken out was one more round trip to the server on every page. A connection the server
/// dropped while it sat idle fails its statement instead, which the run's retry budget
/// repeats on a fresh connection.
pub fn pool_options() -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(std::time::Duration::from_secs(30))
        .test_before_acquire(false)
}

/// The collected data in PostgreSQL.
#[derive(Clone, Debug)]
pub struct Store {
    pool: PgPool,
    retry: Retry,
}

impl Store {
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            retry: Retry::NEVER,
        }
    }

    /// Retries a collected page, a deletion mark and a channel lookup while the database
    /// cannot be reached (a restart, a failover), within `retry`'s budget: each is one
    /// statement that is safe to repeat. An import's chat is one transaction, which a lost
    /// connection ends: it is not retried.
    pub fn with_retry(self, retry: Retry) -> Self {
        Self { retry, ..self }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The stored channel a reference names, if we resolved or imported it before, with the
    /// access hash account `account_id` (a Telegram user id) should use: its own, else one
    /// cached before hashes were per account ([`StoredChannel::legacy_hash`]).
    pub async fn channel(
        &self,
        channel: &ChannelRef,
        account_id: i64,
    ) -> Result<Option<StoredChannel>, StoreError> {
        let (username, id) = match channel {
            ChannelRef::Username(name) => (Some(name.as_str()), None),
            ChannelRef::Id(id) => (None, Some(*id)),
        };
        self.retry
            .run(|| {
                sqlx::query_as::<_, AccountChannelRecord>(CHANNEL_FOR_ACCOUNT)
                    .bind(username)
                    .bind(id)
                    .bind(account_id)
                    .fetch_optional(&self.pool)
            })
            .await
            .map(|row| {
                row.map(
                    |(id, username, title, checkpoint, hash, owner)| StoredChannel {
                        access_hash: hash,
                        legacy_hash: owner == Some(UNKNOWN_ACCOUNT),
                        ..stored((id, username, title, checkpoint))
                    },
                )
            })
            .map_err(|source| StoreError::LookupChannel {
                channel: channel.to_string(),
                source,
            })
    }

    /// Records what resolving told account `account_id` about a channel at `now`: its row
    /// (keeping what we knew and it did not say) and, when it has one, the account's access
    /// hash. Returns the stored row with that hash.
    pub async fn remember_channel(
        &self,
        channel: &ResolvedChannel,
        account_id: i64,
        now: DateTime<Utc>,
    ) -> Result<StoredChannel, StoreError> {
        let error = |source| StoreError::RememberChannel {
            channel_id: channel.id,
            source,
        };
        let mut tx = self.pool.begin().await.map_err(error)?;
        let row = remember_channel_on(&mut tx, channel, now).await?;
        if let Some(hash) = channel.access_hash {
            sqlx::query(
                "INSERT INTO channel_access_hashes (account_id, channel_id, access_hash)
                 VALUES ($1, $2, $3)
                 ON CONFLICT (account_id, channel_id) DO UPDATE SET
                     access_hash = EXCLUDED.access_hash, updated_at = now()",
            )
            .bind(account_id)
            .bind(channel.id)
            .bind(hash)
            .execute(&mut *tx)
            .await
            .map_err(error)?;
        }
        tx.commit().await.map_err(error)?;
        Ok(StoredChannel {
            access_hash: channel.access_hash,
            ..row
        })
    }

    /// Drops account `account_id`'s cached access hash Telegram refused, so the channel is
    /// resolved again. (A refused hash of the unknown account 0 stays: it may be another
    /// account's; this one gets its own by resolving, which then takes precedence.)
    pub async fn forget_access_hash(
        &self,
        account_id: i64,
        channel_id: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM channel_access_hashes WHERE account_id = $1 AND channel_id = $2")
            .bind(account_id)
            .bind(channel_id)
            .execute(&self.pool)
            .await
            .map_err(|source| StoreError::RememberChannel { channel_id, source })?;
        Ok(())
    }

    /// Telegram accepted account 0's `access_hash` from account `account_id`: it is this
    /// account's, so it is stored as such and account 0's copy goes.
    pub async fn claim_legacy_hash(
        &self,
        account_id: i64,
        channel_id: i64,
        access_hash: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "WITH claimed AS (
                 INSERT INTO channel_access_hashes (account_id, channel_id, access_hash)
                 VALUES ($1, $2, $3)
                 ON CONFLICT (account_id, channel_id) DO NOTHING
             )
             DELETE FROM channel_access_hashes
              WHERE account_id = 0 AND channel_id = $2 AND access_hash = $3",
        )
        .bind(account_id)
        .bind(channel_id)
        .bind(access_hash)
        .execute(&self.pool)
        .await
        .map_err(|source| StoreError::RememberChannel { channel_id, source })?;
        Ok(())
    }

    /// Upserts collected messages (seen live at `now`) and moves the channel's checkpoint to
    /// `through_id` in the statement (a data-modifying CTE, atomic) that stores the last of
    /// them: a run killed at any point leaves the checkpoint no further than what is stored,
    /// so a rerun has no gap and no duplicate. No BEGIN/COMMIT. The checkpoint never moves
    /// back (refreshed pages lie below it).
    ///
    /// A page none of whose messages is stored (nearly every page of a run) is inserted as
    /// it is, with its checkpoint move; one that meets stored rows is then merged whole by the
    /// full statement, which moves the checkpoint instead. Each statement is atomic and
    /// retried on its own: what the first stored, the second finds unchanged. An id listed
    /// twice goes to a statement of its own ([`Page::split`]), the checkpoint moving with the
    /// last.
    pub async fn store_batch(
        &self,
        channel_id: i64,
        messages: &[MessageRow],
        through_id: i64,
        now: DateTime<Utc>,
    ) -> Result<CollectedPage, StoreError> {
        let observed = Sighting {
            origin: Origin::Collect,
            at: now,
        };
        let pages = Page::split(channel_id, messages, observed);
        let last = pages.len() - 1;
        let mut stored = CollectedPage {
            checkpoint: 0,
            counts: PageCounts::default(),
        };
        for (index, page) in pages.iter().enumerate() {
            // GREATEST(checkpoint, 0) leaves it where it is.
            let through = if index == last { through_id } else { 0 };
            let one = self.store_page(page, through, now).await?;
            stored.checkpoint = one.checkpoint;
            stored.counts += one.counts;
        }
        Ok(stored)
    }

    /// One statement's messages, as [`store_batch`](Self::store_batch) says.
    async fn store_page(
        &self,
        page: &Page<'_>,
        through_id: i64,
        now: DateTime<Utc>,
    ) -> Result<CollectedPage, StoreError> {
        let (inserted, moved): (i64, Option<i64>) = self
            .collect_statement(&COLLECT_NEW_PAGE, page, through_id, now)
            .await?;
        if let Some(checkpoint) = moved {
            return Ok(CollectedPage {
                checkpoint,
                counts: counts(inserted, 0),
            });
        }
        let (checkpoint, written, versions): (i64, i64, i64) = self
            .collect_statement(&COLLECT_PAGE, page, through_id, now)
            .await?;
        Ok(CollectedPage {
            checkpoint,
            counts: counts(inserted + written, versions),
        })
    }

    /// `statement` run with `page`'s parameters and the checkpoint move, retried within the
    /// budget: each is one statement that is safe to repeat.
    async fn collect_statement<T>(
        &self,
        statement: &'static str,
        page: &Page<'_>,
        through_id: i64,
        now: DateTime<Utc>,
    ) -> Result<T, StoreError>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
    {
        self.retry
            .run(|| async {
                let args = page.collect_arguments(through_id, now)?;
                sqlx::query_as_with(statement, args)
                    .fetch_one(&self.pool)
                    .await
            })
            .await
            .map_err(page.error())
    }

    /// Marks as deleted, at `now`, the stored messages of `channel_id` with an id in
    /// `covered` that a read returned all of but not these: Telegram no longer has them.
    /// Only the first time is kept (`deleted_at` is when they were first seen missing); rows
    /// are never removed. A message seen again is unmarked by the page that stores it.
    /// Returns how many were newly marked.
    pub async fn mark_missing(
        &self,
        channel_id: i64,
        covered: std::ops::RangeInclusive<i64>,
        returned: &[i64],
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        // A range scan of the primary key: the cost of the range read, not of the channel.
        let marked = self
            .retry
            .run(|| {
                sqlx::query(
                    "UPDATE messages SET deleted_at = $5
                      WHERE channel_id = $1 AND message_id BETWEEN $2 AND $3
                        AND deleted_at IS NULL AND message_id <> ALL($4)",
                )
                .bind(channel_id)
                .bind(covered.start())
                .bind(covered.end())
                .bind(returned)
                .bind(now)
                .execute(&self.pool)
            })
            .await
            .map_err(|source| StoreError::MarkDeleted { channel_id, source })?;
        Ok(marked.rows_affected())
    }

    /// Starts importing one chat: everything it writes (the channel row, every page, the
    /// checkpoint) is one transaction, so a chat is imported whole or not at all.
    pub async fn begin_import(
        &self,
        channel: &ResolvedChannel,
        observed: Sighting,
    ) -> Result<ChatImport, StoreError> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(|source| StoreError::RememberChannel {
                channel_id: channel.id,
                source,
            })?;
        remember_channel_on(&mut tx, channel, observed.at).await?;
        Ok(ChatImport {
            tx,
            channel_id: channel.id,
            observed,
            through_id: 0,
        })
    }
}

/// One chat being imported (see [`Store::begin_import`]); dropped without
/// [`commit`](Self::commit), nothing of it is stored.
pub struct ChatImport {
    tx: Transaction<'static, Postgres>,
    channel_id: i64,
    observed: Sighting,
    /// Highest message id stored so far: the checkpoint at commit.
    through_id: i64,
}

impl ChatImport {
    /// The channel being imported.
    pub fn channel_id(&self) -> i64 {
        self.channel_id
    }

    /// Upserts one page of the export (pages joined included).
    pub async fn store(&mut self, messages: &[MessageRow]) -> Result<PageCounts, StoreError> {
        let mut total = PageCounts::default();
        for page in Page::split(self.channel_id, messages, self.observed) {
            let error = page.error();
            // As a collected page: inserted as it is when nothing of it is stored, else merged.
            let args = page.arguments().map_err(error)?;
            let inserted: i64 = sqlx::query_scalar_with(IMPORT_NEW_PAGE.as_str(), args)
                .fetch_one(&mut *self.tx)
                .await
                .map_err(error)?;
            total += if inserted == page.len() as i64 {
                counts(inserted, 0)
            } else {
                let args = page.arguments().map_err(error)?;
                let (written, versions): (i64, i64) =
                    sqlx::query_as_with(IMPORT_PAGE.as_str(), args)
                        .fetch_one(&mut *self.tx)
                        .await
                        .map_err(error)?;
                counts(inserted + written, versions)
            };
        }
        let highest = messages.iter().map(|m| m.id).max().unwrap_or(0);
        self.through_id = self.through_id.max(highest);
        Ok(total)
    }

    /// Moves the checkpoint past the export's last message and commits the whole chat.
    pub async fn commit(mut self, now: DateTime<Utc>) -> Result<(), StoreError> {
        let error = |source| StoreError::Commit {
            channel_id: self.channel_id,
            source,
        };
        sqlx::query(
            "UPDATE channels SET checkpoint = GREATEST(checkpoint, $2), last_collected_at = $3
              WHERE id = $1",
        )
        .bind(self.channel_id)
        .bind(self.through_id)
        .bind(now)
        .execute(&mut *self.tx)
        .await
        .map_err(error)?;
        self.tx.commit().await.map_err(error)
    }
}

fn counts(written: i64, versions: i64) -> PageCounts {
    PageCounts {
        written: written.try_into().unwrap_or_default(),
        versions: versions.try_into().unwrap_or_default(),
    }
}

/// Stores what a source said of a channel, as seen at `observed`: the title only when it is
/// no older than the stored one's (an older export does not revert it; rows from before
/// titles had a time count as seen when last collected).
async fn remember_channel_on(
    conn: &mut PgConnection,
    channel: &ResolvedChannel,
    observed: DateTime<Utc>,
) -> Result<StoredChannel, StoreError> {
    let error = |source| StoreError::RememberChannel {
        channel_id: channel.id,
        source,
    };
    if let Some(username) = &channel.username {
        // Usernames move between channels; the newest answer owns it.
        sqlx::query("UPDATE channels SET username = NULL WHERE username = $1 AND id <> $2")
            .bind(username)
            .bind(channel.id)
            .execute(&mut *conn)
            .await
            .map_err(error)?;
    }
    let title = channel.title.as_deref().map(storable::text);
    // Access hashes are per account (`channel_access_hashes`); `channels.access_hash` is no
    // longer written.
    let row: ChannelRecord = sqlx::query_as(
        "INSERT INTO channels (id, username, title, title_observed_at)
         VALUES ($1, $2, $3, CASE WHEN $3 IS NOT NULL THEN $4::timestamptz END)
         ON CONFLICT (id) DO UPDATE SET
             username = COALESCE(EXCLUDED.username, channels.username),
             (title, title_observed_at) = (
                 SELECT CASE WHEN newer THEN EXCLUDED.title ELSE channels.title END,
                        CASE WHEN newer THEN $4 ELSE channels.title_observed_at END
                   FROM (SELECT EXCLUDED.title IS NOT NULL AND $4 >= COALESCE(
                                    channels.title_observed_at, channels.last_collected_at,
                                    '-infinity') AS newer) t)
         RETURNING id, username, title, checkpoint",
    )
    .bind(channel.id)
    .bind(&channel.username)
    .bind(title.as_deref())
    .bind(observed)
    .fetch_one(&mut *conn)
    .await
    .map_err(error)?;
    Ok(stored(row))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An error the server answered with SQLSTATE `code`.
    pub(crate) fn sqlstate(code: &'static str) -> sqlx::Error {
        #[derive(Debug, thiserror::Error)]
        #[error("SQLSTATE {0}")]
        struct Answer(&'static str);

        impl sqlx::error::DatabaseError for Answer {
            fn message(&self) -> &str {
                self.0
            }
            fn code(&self) -> Option<std::borrow::Cow<'_, str>> {
                Some(self.0.into())
            }
            fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
                self
            }
            fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
                self
            }
            fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
                self
            }
            fn kind(&self) -> sqlx::error::ErrorKind {
                sqlx::error::ErrorKind::Other
            }
        }

        sqlx::Error::Database(Box::new(Answer(code)))
    }

    #[test]
    fn a_database_is_unreachable_when_it_cannot_serve_us_now_not_when_it_refuses() {
        let io = |kind: std::io::ErrorKind| sqlx::Error::Io(kind.into());
        let unreachable = [
            io(std::io::ErrorKind::ConnectionRefused),
            io(std::io::ErrorKind::ConnectionReset),
            io(std::io::ErrorKind::TimedOut),
            sqlx::Error::PoolTimedOut,
            sqlx::Error::PoolClosed,
            sqlx::Error::WorkerCrashed,
            // Shut down by an administrator or a crash; starting up or shutting down.
            sqlstate("57P01"),
            sqlstate("57P02"),
            sqlstate("57P03"),
            // Too many connections; connection exceptions.
            sqlstate("53300"),
            sqlstate("08006"),
            sqlstate("08001"),
        ];
        for error in unreachable {
            assert!(is_unreachable(&error), "{error:?}");
        }
        let refused = [
            // A wrong password, no such role, no such database, no permission to connect.
            sqlstate("28P01"),
            sqlstate("28000"),
            sqlstate("3D000"),
            sqlstate("42501"),
            // A statement refused: a constraint, a bad value.
            sqlstate("23505"),
            sqlstate("22P02"),
            sqlx::Error::Protocol("not PostgreSQL".into()),
            sqlx::Error::Tls("cannot load the CA certificate".into()),
            sqlx::Error::Configuration("bad option".into()),
        ];
        for error in refused {
            assert!(!is_unreachable(&error), "{error:?}");
        }
    }

    /// A page none of whose messages is stored is inserted as it is; one that meets stored
    /// rows is merged whole after its new rows went in, and each change is counted once.
    #[sqlx::test(migrator = "contract::MIGRATOR")]
    async fn a_page_that_meets_stored_rows_is_merged_and_its_new_rows_counted_once(pool: PgPool) {
        let at = |minute: i64| DateTime::UNIX_EPOCH + chrono::Duration::minutes(minute);
        sqlx::query("INSERT INTO channels (id) VALUES (7)")
            .execute(&pool)
            .await
            .unwrap();
        let store = Store::new(pool.clone());
        let first: Vec<MessageRow> = (1..=3)
            .map(|id| MessageRow::text(id, at(0), format!("post {id}")))
            .collect();
        let page = store.store_batch(7, &first, 3, at(1)).await.unwrap();
        assert_eq!(
            (page.checkpoint, page.counts),
            (
                3,
                PageCounts {
                    written: 3,
                    versions: 0
                }
            )
        );

        let mut edited = MessageRow::text(3, at(0), "post 3, edited");
        edited.edit_date = Some(at(2));
        let second = vec![
            MessageRow::text(2, at(0), "post 2"),
            edited,
            MessageRow::text(4, at(3), "post 4"),
            MessageRow::text(5, at(3), "post 5"),
        ];
        let page = store.store_batch(7, &second, 5, at(4)).await.unwrap();
        // Two new rows and one edit written; the unchanged message not at all.
        assert_eq!(
            (page.checkpoint, page.counts),
            (
                5,
                PageCounts {
                    written: 3,
                    versions: 1
                }
            )
        );
        let rows: Vec<(i64, String, String)> = sqlx::query_as(
            "SELECT message_id, text, source FROM messages WHERE channel_id = 7 ORDER BY 1",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        let texts: Vec<(i64, &str)> = rows
            .iter()
            .map(|(id, text, _)| (*id, text.as_str()))
            .collect();
        assert_eq!(
            texts,
            [
                (1, "post 1"),
                (2, "post 2"),
                (3, "post 3, edited"),
                (4, "post 4"),
                (5, "post 5")
            ]
        );
        assert!(rows.iter().all(|(_, _, source)| source == "collect"));
        let kept: Vec<(i64, String)> =
            sqlx::query_as("SELECT message_id, text FROM message_versions WHERE channel_id = 7")
                .fetch_all(&pool)
                .await
                .unwrap();
        assert_eq!(kept, [(3, "post 3".to_owned())]);

        // The same page again changes nothing, and the checkpoint stays.
        let page = store.store_batch(7, &second, 5, at(5)).await.unwrap();
        assert_eq!((page.checkpoint, page.counts), (5, PageCounts::default()));
    }
}
