//! The `channels` and `messages` tables: the channel cache and the batched, checkpointed upsert.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::channel_ref::ChannelRef;
use crate::model::{MessageRow, ResolvedChannel, StoredChannel};

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
}

impl StoreError {
    /// True when the database itself is gone (not one bad statement): the run cannot go on.
    pub fn is_unreachable(&self) -> bool {
        let source = match self {
            Self::LookupChannel { source, .. }
            | Self::RememberChannel { source, .. }
            | Self::StoreBatch { source, .. } => source,
        };
        is_unreachable(source)
    }
}

/// Connection-level failures, as opposed to a statement the database refused.
pub fn is_unreachable(error: &sqlx::Error) -> bool {
    matches!(
        error,
        sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
    )
}

type ChannelRecord = (i64, Option<i64>, Option<String>, Option<String>, i64);

fn stored((id, access_hash, username, title, checkpoint): ChannelRecord) -> StoredChannel {
    StoredChannel {
        id,
        access_hash,
        username,
        title,
        checkpoint,
    }
}

/// The collected data in PostgreSQL.
#[derive(Clone, Debug)]
pub struct Store {
    pool: PgPool,
}

impl Store {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The stored channel a reference names, if we resolved or imported it before.
    pub async fn channel(&self, channel: &ChannelRef) -> Result<Option<StoredChannel>, StoreError> {
        let query = match channel {
            ChannelRef::Username(name) => sqlx::query_as::<_, ChannelRecord>(
                "SELECT id, access_hash, username, title, checkpoint FROM channels
                  WHERE username = $1",
            )
            .bind(name.clone()),
            ChannelRef::Id(id) => sqlx::query_as::<_, ChannelRecord>(
                "SELECT id, access_hash, username, title, checkpoint FROM channels WHERE id = $1",
            )
            .bind(*id),
        };
        query
            .fetch_optional(&self.pool)
            .await
            .map(|row| row.map(stored))
            .map_err(|source| StoreError::LookupChannel {
                channel: channel.to_string(),
                source,
            })
    }

    /// Records what resolving (or an export) told us about a channel, keeping what we knew
    /// and it did not say (an export has no access hash). Returns the stored row.
    pub async fn remember_channel(
        &self,
        channel: &ResolvedChannel,
    ) -> Result<StoredChannel, StoreError> {
        let error = |source| StoreError::RememberChannel {
            channel_id: channel.id,
            source,
        };
        let mut tx = self.pool.begin().await.map_err(error)?;
        if let Some(username) = &channel.username {
            // Usernames move between channels; the newest answer owns it.
            sqlx::query("UPDATE channels SET username = NULL WHERE username = $1 AND id <> $2")
                .bind(username)
                .bind(channel.id)
                .execute(&mut *tx)
                .await
                .map_err(error)?;
        }
        let row: ChannelRecord = sqlx::query_as(
            "INSERT INTO channels (id, access_hash, username, title)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (id) DO UPDATE SET
                 access_hash = COALESCE(EXCLUDED.access_hash, channels.access_hash),
                 username = COALESCE(EXCLUDED.username, channels.username),
                 title = COALESCE(EXCLUDED.title, channels.title)
             RETURNING id, access_hash, username, title, checkpoint",
        )
        .bind(channel.id)
        .bind(channel.access_hash)
        .bind(&channel.username)
        .bind(&channel.title)
        .fetch_one(&mut *tx)
        .await
        .map_err(error)?;
        tx.commit().await.map_err(error)?;
        Ok(stored(row))
    }

    /// Drops a cached access hash Telegram refused, so the channel is resolved again.
    pub async fn forget_access_hash(&self, channel_id: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE channels SET access_hash = NULL WHERE id = $1")
            .bind(channel_id)
            .execute(&self.pool)
            .await
            .map_err(|source| StoreError::RememberChannel { channel_id, source })?;
        Ok(())
    }

    /// Upserts up to a page of messages and moves the channel's checkpoint to `through_id`
    /// in ONE statement (a data-modifying CTE), which PostgreSQL runs atomically: a run killed
    /// at any point leaves either the whole page and its checkpoint or neither, so a rerun has
    /// no gap and no duplicate. One round trip per page, no BEGIN/COMMIT. Returns the new
    /// checkpoint.
    pub async fn store_batch(
        &self,
        channel_id: i64,
        messages: &[MessageRow],
        through_id: i64,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let (checkpoint,): (i64,) = page_statement(channel_id, messages, through_id, now)
            .fetch_one(&self.pool)
            .await
            .map_err(|source| StoreError::StoreBatch {
                channel_id,
                count: messages.len(),
                source,
            })?;
        Ok(checkpoint)
    }
}

/// The page statement: a multi-row `INSERT … SELECT FROM UNNEST(…)` (fixed text, prepared
/// once per connection whatever the page size, one array parameter per column) feeding the
/// checkpoint `UPDATE`. Data-modifying CTEs always run to completion, also for an empty page.
fn page_statement<'a>(
    channel_id: i64,
    messages: &'a [MessageRow],
    through_id: i64,
    now: DateTime<Utc>,
) -> sqlx::query::QueryAs<'a, sqlx::Postgres, (i64,), sqlx::postgres::PgArguments> {
    let mut ids = Vec::with_capacity(messages.len());
    let mut dates = Vec::with_capacity(messages.len());
    let mut edit_dates = Vec::with_capacity(messages.len());
    let mut texts = Vec::with_capacity(messages.len());
    let mut views = Vec::with_capacity(messages.len());
    let mut forwards = Vec::with_capacity(messages.len());
    let mut replies = Vec::with_capacity(messages.len());
    let mut authors = Vec::with_capacity(messages.len());
    let mut groups = Vec::with_capacity(messages.len());
    let mut reply_tos = Vec::with_capacity(messages.len());
    let mut forward_headers = Vec::with_capacity(messages.len());
    let mut media_kinds = Vec::with_capacity(messages.len());
    let mut media = Vec::with_capacity(messages.len());
    let mut reactions = Vec::with_capacity(messages.len());
    for m in messages {
        ids.push(m.id);
        dates.push(m.date);
        edit_dates.push(m.edit_date);
        texts.push(m.text.as_str());
        views.push(m.views);
        forwards.push(m.forwards);
        replies.push(m.replies);
        authors.push(m.post_author.as_deref());
        groups.push(m.grouped_id);
        reply_tos.push(m.reply_to_message_id);
        forward_headers.push(m.forward.clone());
        media_kinds.push(m.media.as_ref().map(|media| media.kind.as_str()));
        media.push(m.media.as_ref().map(|media| media.metadata.clone()));
        reactions.push(m.reactions_json());
    }
    sqlx::query_as(
        "WITH upserted AS (
         INSERT INTO messages (channel_id, message_id, date, edit_date, text, views, forwards,
                               replies, post_author, grouped_id, reply_to_message_id, forward,
                               media_kind, media, reactions)
         SELECT $1, * FROM UNNEST($2::bigint[], $3::timestamptz[], $4::timestamptz[], $5::text[],
                                  $6::int[], $7::int[], $8::int[], $9::text[], $10::bigint[],
                                  $11::bigint[], $12::jsonb[], $13::text[], $14::jsonb[],
                                  $15::jsonb[])
         ON CONFLICT (channel_id, message_id) DO UPDATE SET
             date = EXCLUDED.date,
             edit_date = EXCLUDED.edit_date,
             text = EXCLUDED.text,
             views = EXCLUDED.views,
             forwards = EXCLUDED.forwards,
             replies = EXCLUDED.replies,
             post_author = EXCLUDED.post_author,
             grouped_id = EXCLUDED.grouped_id,
             reply_to_message_id = EXCLUDED.reply_to_message_id,
             forward = EXCLUDED.forward,
             media_kind = EXCLUDED.media_kind,
             media = EXCLUDED.media,
             reactions = EXCLUDED.reactions,
             collected_at = now()
         )
         UPDATE channels
            SET checkpoint = GREATEST(checkpoint, $16), last_collected_at = $17
          WHERE id = $1
      RETURNING checkpoint",
    )
    .bind(channel_id)
    .bind(ids)
    .bind(dates)
    .bind(edit_dates)
    .bind(texts)
    .bind(views)
    .bind(forwards)
    .bind(replies)
    .bind(authors)
    .bind(groups)
    .bind(reply_tos)
    .bind(forward_headers)
    .bind(media_kinds)
    .bind(media)
    .bind(reactions)
    .bind(through_id)
    .bind(now)
}
