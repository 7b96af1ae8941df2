//! The `media_files`, `media_telegram_keys` and `message_files` tables: what is stored in a
//! media destination, under which Telegram keys, and which messages carry it (or still wait
//! for it).

use chrono::{DateTime, Utc};
use contract::media::MediaKind;

use crate::media::destination::hex;
use crate::store::{ChatImport, Store, StoreError};

/// A wanted file a stored message carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CarriedFile {
    pub message_id: i64,
    pub kind: MediaKind,
    pub telegram_key: String,
    pub size: u64,
}

/// A file written to a destination, as `media_files` records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewFile<'a> {
    pub destination: &'a str,
    pub content_key: &'a str,
    pub sha256: &'a [u8; 32],
    pub size: u64,
    pub mime_type: Option<&'a str>,
    pub kind: MediaKind,
    /// Telegram's key for the file, the fast path next time; an export names none.
    pub telegram_key: Option<&'a str>,
}

/// A message of an imported chat and the stored file it carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportedLink<'a> {
    pub message_id: i64,
    pub kind: MediaKind,
    pub sha256: &'a [u8; 32],
    pub size: u64,
    pub file_id: i64,
}

/// The `message_files.telegram_key` of a file an import linked: an export names no Telegram
/// file id, so its bytes name it. A collection that reads the message again records the
/// Telegram key and stores the file under it (the same bytes are stored once).
pub fn imported_key(sha256: &[u8; 32]) -> String {
    format!("sha256:{}", hex(sha256))
}

/// Which files are still to download in a channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingQuery<'a> {
    pub channel_id: i64,
    pub kinds: &'a [MediaKind],
    /// Larger files are never downloaded: not pending.
    pub max_file_size: Option<u64>,
    pub newer_than: Option<DateTime<Utc>>,
    pub limit: i64,
}

fn size(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

impl Store {
    /// Records that these messages of `channel_id` carry these wanted files, still to store
    /// (a row already linked to the same Telegram key keeps its link; a message whose file
    /// changed with an edit waits for the new one).
    pub async fn record_carried(
        &self,
        channel_id: i64,
        files: &[CarriedFile],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        if files.is_empty() {
            return Ok(());
        }
        let ids: Vec<i64> = files.iter().map(|f| f.message_id).collect();
        let kinds: Vec<&str> = files.iter().map(|f| f.kind.as_str()).collect();
        let keys: Vec<&str> = files.iter().map(|f| f.telegram_key.as_str()).collect();
        let sizes: Vec<i64> = files.iter().map(|f| size(f.size)).collect();
        self.retry
            .run(|| {
                sqlx::query(
                    "INSERT INTO message_files
                         (channel_id, message_id, kind, telegram_key, size, seen_at)
                     SELECT $1, id, kind, key, size, $6
                       FROM UNNEST($2::bigint[], $3::text[], $4::text[], $5::bigint[])
                            AS f(id, kind, key, size)
                     ON CONFLICT (channel_id, message_id) DO UPDATE SET
                         kind = EXCLUDED.kind,
                         telegram_key = EXCLUDED.telegram_key,
                         size = EXCLUDED.size,
                         seen_at = EXCLUDED.seen_at,
                         unavailable_at = NULL,
                         file_id = CASE WHEN message_files.telegram_key = EXCLUDED.telegram_key
                                        THEN message_files.file_id END,
                         linked_at = CASE WHEN message_files.telegram_key = EXCLUDED.telegram_key
                                          THEN message_files.linked_at END",
                )
                .bind(channel_id)
                .bind(&ids)
                .bind(&kinds)
                .bind(&keys)
                .bind(&sizes)
                .bind(now)
                .execute(&self.pool)
            })
            .await
            .map_err(|source| StoreError::Media {
                doing: "record the files of",
                channel_id,
                source,
            })?;
        Ok(())
    }

    /// The stored file `telegram_key` names in `destination`.
    pub async fn file_by_telegram_key(
        &self,
        channel_id: i64,
        destination: &str,
        telegram_key: &str,
    ) -> Result<Option<i64>, StoreError> {
        self.retry
            .run(|| {
                sqlx::query_scalar(
                    "SELECT file_id FROM media_telegram_keys
                      WHERE destination = $1 AND telegram_key = $2",
                )
                .bind(destination)
                .bind(telegram_key)
                .fetch_optional(&self.pool)
            })
            .await
            .map_err(|source| StoreError::Media {
                doing: "look up a stored file of",
                channel_id,
                source,
            })
    }

    /// Records a file written at `now` (or finds the row of the same bytes stored before)
    /// with its Telegram key, if it has one; returns its id. One statement: safe to repeat.
    /// An import's files are recorded outside the chat's transaction: the row says what the
    /// destination holds, which stays true if the chat is rolled back.
    pub async fn record_file(
        &self,
        channel_id: i64,
        file: &NewFile<'_>,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        self.retry
            .run(|| {
                sqlx::query_scalar(
                    "WITH inserted AS (
                         INSERT INTO media_files
                             (destination, content_key, sha256, size, mime_type, kind, stored_at)
                         VALUES ($1, $2, $3, $4, $5, $6, $7)
                         ON CONFLICT (destination, sha256) DO NOTHING
                         RETURNING id
                     ), file AS (
                         SELECT id FROM inserted
                         UNION ALL
                         SELECT id FROM media_files WHERE destination = $1 AND sha256 = $3
                         LIMIT 1
                     ), key AS (
                         INSERT INTO media_telegram_keys (destination, telegram_key, file_id)
                         SELECT $1, $8, id FROM file WHERE $8::text IS NOT NULL
                         ON CONFLICT (destination, telegram_key) DO NOTHING
                     )
                     SELECT id FROM file",
                )
                .bind(file.destination)
                .bind(file.content_key)
                .bind(file.sha256.as_slice())
                .bind(size(file.size))
                .bind(file.mime_type)
                .bind(file.kind.as_str())
                .bind(now)
                .bind(file.telegram_key)
                .fetch_one(&self.pool)
            })
            .await
            .map_err(|source| StoreError::Media {
                doing: "record a stored file of",
                channel_id,
                source,
            })
    }

    /// The stored file of `destination` whose bytes have this sha256.
    pub async fn file_by_content(
        &self,
        channel_id: i64,
        destination: &str,
        sha256: &[u8; 32],
    ) -> Result<Option<i64>, StoreError> {
        self.retry
            .run(|| {
                sqlx::query_scalar(
                    "SELECT id FROM media_files WHERE destination = $1 AND sha256 = $2",
                )
                .bind(destination)
                .bind(sha256.as_slice())
                .fetch_optional(&self.pool)
            })
            .await
            .map_err(|source| StoreError::Media {
                doing: "look up a stored file of",
                channel_id,
                source,
            })
    }

    /// Links message `message_id` of `channel_id` to stored file `file_id` at `now`.
    pub async fn link_file(
        &self,
        channel_id: i64,
        message_id: i64,
        file_id: i64,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.retry
            .run(|| {
                sqlx::query(
                    "UPDATE message_files SET file_id = $3, linked_at = $4
                      WHERE channel_id = $1 AND message_id = $2",
                )
                .bind(channel_id)
                .bind(message_id)
                .bind(file_id)
                .bind(now)
                .execute(&self.pool)
            })
            .await
            .map_err(|source| StoreError::Media {
                doing: "link a stored file to a message of",
                channel_id,
                source,
            })?;
        Ok(())
    }

    /// Messages whose wanted file is not stored yet (a killed or failed download, or one
    /// over an earlier run's budget), oldest first.
    pub async fn pending_files(&self, query: &PendingQuery<'_>) -> Result<Vec<i64>, StoreError> {
        let kinds: Vec<&str> = query.kinds.iter().map(|k| k.as_str()).collect();
        self.retry
            .run(|| {
                sqlx::query_scalar(
                    "SELECT f.message_id
                       FROM message_files f
                       JOIN messages m USING (channel_id, message_id)
                      WHERE f.channel_id = $1 AND f.file_id IS NULL
                        AND f.unavailable_at IS NULL
                        AND f.kind = ANY($2::text[])
                        AND ($3::bigint IS NULL OR f.size <= $3)
                        AND ($4::timestamptz IS NULL OR m.date > $4)
                      ORDER BY f.message_id
                      LIMIT $5",
                )
                .bind(query.channel_id)
                .bind(&kinds)
                .bind(query.max_file_size.map(size))
                .bind(query.newer_than)
                .bind(query.limit)
                .fetch_all(&self.pool)
            })
            .await
            .map_err(|source| StoreError::Media {
                doing: "look up the files still to download of",
                channel_id: query.channel_id,
                source,
            })
    }

    /// Marks these messages' files as no longer available at `now` (the message is gone or
    /// carries no file any more): no later run looks for them.
    pub async fn mark_files_unavailable(
        &self,
        channel_id: i64,
        message_ids: &[i64],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        if message_ids.is_empty() {
            return Ok(());
        }
        self.retry
            .run(|| {
                sqlx::query(
                    "UPDATE message_files SET unavailable_at = $3
                      WHERE channel_id = $1 AND message_id = ANY($2) AND file_id IS NULL",
                )
                .bind(channel_id)
                .bind(message_ids)
                .bind(now)
                .execute(&self.pool)
            })
            .await
            .map_err(|source| StoreError::Media {
                doing: "mark the unavailable files of",
                channel_id,
                source,
            })?;
        Ok(())
    }
}

impl ChatImport {
    /// Links a message of the chat to the stored file it carries, in the chat's transaction;
    /// whether a row was written. A message linked already keeps its file (one a collection
    /// stored, or this same file imported before); one a collection left to download gets
    /// this one.
    pub async fn link_file(
        &mut self,
        link: &ImportedLink<'_>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let linked = sqlx::query(
            "INSERT INTO message_files
                 (channel_id, message_id, kind, telegram_key, size, file_id, seen_at, linked_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
             ON CONFLICT (channel_id, message_id) DO UPDATE SET
                 file_id = EXCLUDED.file_id,
                 linked_at = EXCLUDED.linked_at
             WHERE message_files.file_id IS NULL",
        )
        .bind(self.channel_id)
        .bind(link.message_id)
        .bind(link.kind.as_str())
        .bind(imported_key(link.sha256))
        .bind(size(link.size))
        .bind(link.file_id)
        .bind(now)
        .execute(&mut *self.tx)
        .await
        .map_err(|source| StoreError::Media {
            doing: "link a stored file to a message of",
            channel_id: self.channel_id,
            source,
        })?;
        Ok(linked.rows_affected() > 0)
    }
}
