//! The `channels` and `messages` tables: the channel cache, and the batched upsert that both
//! `collect` and `import` write through, with its one merge rule (docs/collector.md).

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use sqlx::Arguments;
use sqlx::postgres::PgArguments;
use sqlx::{PgConnection, PgPool, Postgres, Transaction};

use crate::store::model::{MessageRow, Observed, Origin, ResolvedChannel, StoredChannel};
use contract::channel::ChannelRef;

pub mod model;
pub mod storable;

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
        let source = match self {
            Self::LookupChannel { source, .. }
            | Self::RememberChannel { source, .. }
            | Self::StoreBatch { source, .. }
            | Self::Commit { source, .. } => source,
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
        sqlx::query_as::<_, AccountChannelRecord>(CHANNEL_FOR_ACCOUNT)
            .bind(username)
            .bind(id)
            .bind(account_id)
            .fetch_optional(&self.pool)
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

    /// Records what resolving told account `account_id` about a channel: its row (keeping
    /// what we knew and it did not say) and, when it has one, the account's access hash.
    /// Returns the stored row with that hash.
    pub async fn remember_channel(
        &self,
        channel: &ResolvedChannel,
        account_id: i64,
    ) -> Result<StoredChannel, StoreError> {
        let error = |source| StoreError::RememberChannel {
            channel_id: channel.id,
            source,
        };
        let mut tx = self.pool.begin().await.map_err(error)?;
        let row = remember_channel_on(&mut tx, channel).await?;
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

    /// Upserts up to a page of collected messages (seen live at `now`) and moves the channel's
    /// checkpoint to `through_id` in ONE statement (a data-modifying CTE), which PostgreSQL
    /// runs atomically: a run killed at any point leaves either the whole page and its
    /// checkpoint or neither, so a rerun has no gap and no duplicate. One round trip per page,
    /// no BEGIN/COMMIT. The checkpoint never moves back (refreshed pages lie below it).
    /// Returns the checkpoint.
    pub async fn store_batch(
        &self,
        channel_id: i64,
        messages: &[MessageRow],
        through_id: i64,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let observed = Observed {
            origin: Origin::Collect,
            at: now,
        };
        let page = Page::new(channel_id, messages, observed);
        let error = page.error();
        let mut args = page.arguments().map_err(error)?;
        add(&mut args, through_id).map_err(error)?;
        add(&mut args, now).map_err(error)?;
        let (checkpoint,): (i64,) = sqlx::query_as_with(COLLECT_PAGE.as_str(), args)
            .fetch_one(&self.pool)
            .await
            .map_err(error)?;
        Ok(checkpoint)
    }

    /// Starts importing one chat: everything it writes (the channel row, every page, the
    /// checkpoint) is one transaction, so a chat is imported whole or not at all.
    pub async fn begin_import(
        &self,
        channel: &ResolvedChannel,
        observed: Observed,
    ) -> Result<ChatImport, StoreError> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(|source| StoreError::RememberChannel {
                channel_id: channel.id,
                source,
            })?;
        remember_channel_on(&mut tx, channel).await?;
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
    observed: Observed,
    /// Highest message id stored so far: the checkpoint at commit.
    through_id: i64,
}

impl ChatImport {
    /// Upserts one page of the export.
    pub async fn store(&mut self, messages: &[MessageRow]) -> Result<(), StoreError> {
        let page = Page::new(self.channel_id, messages, self.observed);
        let error = page.error();
        let args = page.arguments().map_err(error)?;
        sqlx::query_with(IMPORT_PAGE.as_str(), args)
            .execute(&mut *self.tx)
            .await
            .map_err(error)?;
        let highest = messages.iter().map(|m| m.id).max().unwrap_or(0);
        self.through_id = self.through_id.max(highest);
        Ok(())
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

async fn remember_channel_on(
    conn: &mut PgConnection,
    channel: &ResolvedChannel,
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
        "INSERT INTO channels (id, username, title)
         VALUES ($1, $2, $3)
         ON CONFLICT (id) DO UPDATE SET
             username = COALESCE(EXCLUDED.username, channels.username),
             title = COALESCE(EXCLUDED.title, channels.title)
         RETURNING id, username, title, checkpoint",
    )
    .bind(channel.id)
    .bind(&channel.username)
    .bind(title.as_deref())
    .fetch_one(&mut *conn)
    .await
    .map_err(error)?;
    Ok(stored(row))
}

/// A page as the statement's column arrays: deduplicated by message id and with every NUL
/// replaced (see [`storable`]).
struct Page {
    channel_id: i64,
    observed: Observed,
    ids: Vec<i64>,
    dates: Vec<DateTime<Utc>>,
    edit_dates: Vec<Option<DateTime<Utc>>>,
    texts: Vec<String>,
    entities: Vec<Option<serde_json::Value>>,
    from_ids: Vec<Option<serde_json::Value>>,
    from_names: Vec<Option<String>>,
    views: Vec<Option<i32>>,
    forwards: Vec<Option<i32>>,
    replies: Vec<Option<i32>>,
    authors: Vec<Option<String>>,
    groups: Vec<Option<i64>>,
    reply_tos: Vec<Option<i64>>,
    reply_elsewhere: Vec<Option<serde_json::Value>>,
    forward_headers: Vec<Option<serde_json::Value>>,
    media_kinds: Vec<Option<String>>,
    media: Vec<Option<serde_json::Value>>,
    reactions: Vec<Option<serde_json::Value>>,
    actions: Vec<Option<String>>,
    action_data: Vec<Option<serde_json::Value>>,
}

fn text(value: &str) -> String {
    storable::text(value).into_owned()
}

fn json(value: Option<serde_json::Value>) -> Option<serde_json::Value> {
    value.map(storable::json)
}

impl Page {
    fn new(channel_id: i64, messages: &[MessageRow], observed: Observed) -> Self {
        let messages = freshest_per_id(messages);
        let n = messages.len();
        let mut page = Self {
            channel_id,
            observed,
            ids: Vec::with_capacity(n),
            dates: Vec::with_capacity(n),
            edit_dates: Vec::with_capacity(n),
            texts: Vec::with_capacity(n),
            entities: Vec::with_capacity(n),
            from_ids: Vec::with_capacity(n),
            from_names: Vec::with_capacity(n),
            views: Vec::with_capacity(n),
            forwards: Vec::with_capacity(n),
            replies: Vec::with_capacity(n),
            authors: Vec::with_capacity(n),
            groups: Vec::with_capacity(n),
            reply_tos: Vec::with_capacity(n),
            reply_elsewhere: Vec::with_capacity(n),
            forward_headers: Vec::with_capacity(n),
            media_kinds: Vec::with_capacity(n),
            media: Vec::with_capacity(n),
            reactions: Vec::with_capacity(n),
            actions: Vec::with_capacity(n),
            action_data: Vec::with_capacity(n),
        };
        for m in messages {
            page.ids.push(m.id);
            page.dates.push(m.date);
            page.edit_dates.push(m.edit_date);
            page.texts.push(text(&m.text));
            page.entities.push(json(m.entities_json()));
            page.from_ids.push(m.from_id.map(|peer| peer.json()));
            page.from_names.push(m.from_name.as_deref().map(text));
            page.views.push(m.views);
            page.forwards.push(m.forwards);
            page.replies.push(m.replies);
            page.authors.push(m.post_author.as_deref().map(text));
            page.groups.push(m.grouped_id);
            page.reply_tos.push(m.reply_to_message_id);
            page.reply_elsewhere.push(
                m.reply_to_other_chat
                    .map(|reply| serde_json::to_value(reply).expect("plain data")),
            );
            page.forward_headers.push(json(m.forward.clone()));
            page.media_kinds
                .push(m.media.as_ref().map(|media| text(&media.kind)));
            page.media
                .push(json(m.media.as_ref().map(|media| media.metadata.clone())));
            page.reactions.push(json(m.reactions_json()));
            page.actions
                .push(m.action.as_ref().map(|action| text(&action.kind)));
            page.action_data
                .push(json(m.action.as_ref().and_then(|action| {
                    (!action.details.is_empty())
                        .then(|| serde_json::Value::Object(action.details.clone()))
                })));
        }
        page
    }

    /// How a failure of this page is reported.
    fn error(&self) -> impl Fn(sqlx::Error) -> StoreError + Copy + use<> {
        let (channel_id, count) = (self.channel_id, self.ids.len());
        move |source| StoreError::StoreBatch {
            channel_id,
            count,
            source,
        }
    }

    /// The page's parameters `$1..=$23`, in the order of [`upsert`]'s UNNEST.
    fn arguments(self) -> Result<PgArguments, sqlx::Error> {
        let mut args = PgArguments::default();
        add(&mut args, self.channel_id)?;
        add(&mut args, self.ids)?;
        add(&mut args, self.dates)?;
        add(&mut args, self.edit_dates)?;
        add(&mut args, self.texts)?;
        add(&mut args, self.entities)?;
        add(&mut args, self.from_ids)?;
        add(&mut args, self.from_names)?;
        add(&mut args, self.views)?;
        add(&mut args, self.forwards)?;
        add(&mut args, self.replies)?;
        add(&mut args, self.authors)?;
        add(&mut args, self.groups)?;
        add(&mut args, self.reply_tos)?;
        add(&mut args, self.reply_elsewhere)?;
        add(&mut args, self.forward_headers)?;
        add(&mut args, self.media_kinds)?;
        add(&mut args, self.media)?;
        add(&mut args, self.reactions)?;
        add(&mut args, self.actions)?;
        add(&mut args, self.action_data)?;
        add(&mut args, self.observed.origin.as_str())?;
        add(&mut args, self.observed.at)?;
        Ok(args)
    }
}

fn add<'q, T>(args: &mut PgArguments, value: T) -> Result<(), sqlx::Error>
where
    T: 'q + sqlx::Encode<'q, Postgres> + sqlx::Type<Postgres>,
{
    args.add(value).map_err(sqlx::Error::Encode)
}

/// One row per message id, the freshest of a page's copies (latest `edit_date`, then the
/// later copy): `ON CONFLICT DO UPDATE` refuses to touch one row twice in a statement.
fn freshest_per_id(messages: &[MessageRow]) -> Vec<&MessageRow> {
    let mut order: Vec<usize> = (0..messages.len()).collect();
    // Stable: equal keys keep their order, so the later copy sorts last.
    order.sort_by_key(|&i| (messages[i].id, messages[i].edit_date));
    let mut out: Vec<&MessageRow> = Vec::with_capacity(messages.len());
    for i in order {
        match out.last_mut() {
            Some(last) if last.id == messages[i].id => *last = &messages[i],
            _ => out.push(&messages[i]),
        }
    }
    out
}

/// The columns each page writes, in the order of the UNNEST parameters `$2..=$21`.
const COLUMNS: [(&str, &str); 20] = [
    ("message_id", "bigint"),
    ("date", "timestamptz"),
    ("edit_date", "timestamptz"),
    ("text", "text"),
    ("entities", "jsonb"),
    ("from_id", "jsonb"),
    ("from_name", "text"),
    ("views", "int"),
    ("forwards", "int"),
    ("replies", "int"),
    ("post_author", "text"),
    ("grouped_id", "bigint"),
    ("reply_to_message_id", "bigint"),
    ("reply_to_other_chat", "jsonb"),
    ("forward", "jsonb"),
    ("media_kind", "text"),
    ("media", "jsonb"),
    ("reactions", "jsonb"),
    ("action", "text"),
    ("action_data", "jsonb"),
];

/// Columns a version may lack (an export has no views): the known value is kept.
const KNOWN_WINS: [&str; 10] = [
    "views",
    "forwards",
    "replies",
    "post_author",
    "from_id",
    "from_name",
    "grouped_id",
    "reactions",
    "action",
    "action_data",
];

/// Whether an incoming version (edit date `edit`, source `source`, seen at `observed`) is at
/// least as new as the stored row `stored`: (edit_date, source rank, observed_at) compared in
/// order, no edit sorting first, collect outranking import, rows from before the rule ranking
/// lowest and counting as observed when they were written.
fn newer(edit: &str, source: &str, observed: &str, stored: &str) -> String {
    let rank = |source: &str| {
        format!("CASE {source} WHEN 'collect' THEN 2 WHEN 'import' THEN 1 ELSE 0 END")
    };
    format!(
        "((COALESCE({edit}, '-infinity'), {}, {observed}) >= \
          (COALESCE({stored}.edit_date, '-infinity'), {}, \
           COALESCE({stored}.observed_at, {stored}.collected_at)))",
        rank(source),
        rank(&format!("{stored}.source"))
    )
}

/// The counters whose earlier values `message_stats` keeps.
const COUNTERS: [&str; 4] = ["views", "forwards", "replies", "reactions"];

/// The page statement: the page's rows (`input`, one array parameter per column, so the
/// text is fixed and prepared once per connection whatever the page size), the counters
/// they replace (`history`), and the upsert with the merge rule (docs/collector.md, "One
/// merge rule"). The incoming version is NEWER per [`newer`]; then:
/// - text and its entities, date, source and observed_at come from the newer version;
/// - edit_date is the later one;
/// - any other column takes the newer version's value, or the older one's where the newer
///   lacks it (NULL never overwrites a value);
/// - `forward` and `media` (same kind) merge key by key, the newer version's keys winning;
/// - the reply (this chat or another) and the media kind come from one version as a whole.
///
/// `then` ends the statement: the checkpoint move of a collected page, or nothing.
fn page_statement(then: &str) -> String {
    let newer_than_stored = newer(
        "EXCLUDED.edit_date",
        "EXCLUDED.source",
        "EXCLUDED.observed_at",
        "messages",
    );
    let newer = newer_than_stored.as_str();
    let pick = |when: &str, column: &str| {
        format!("CASE WHEN {when} THEN EXCLUDED.{column} ELSE messages.{column} END")
    };
    let fields = |older: &str, newer_: &str| {
        format!(
            "CASE WHEN {older} IS NULL THEN {newer_} WHEN {newer_} IS NULL THEN {older} \
             ELSE {older} || {newer_} END"
        )
    };
    let merged_fields = |column: &str| {
        format!(
            "CASE WHEN {newer} THEN {} ELSE {} END",
            fields(&format!("messages.{column}"), &format!("EXCLUDED.{column}")),
            fields(&format!("EXCLUDED.{column}"), &format!("messages.{column}"))
        )
    };
    let has_reply = |row: &str| {
        format!("({row}.reply_to_message_id IS NOT NULL OR {row}.reply_to_other_chat IS NOT NULL)")
    };
    let reply_from_incoming = format!(
        "(({newer} AND {}) OR NOT {})",
        has_reply("EXCLUDED"),
        has_reply("messages")
    );
    let media_from_incoming =
        format!("(({newer} AND EXCLUDED.media_kind IS NOT NULL) OR messages.media_kind IS NULL)");

    let mut set = vec![
        format!("date = {}", pick(newer, "date")),
        format!("text = {}", pick(newer, "text")),
        format!("entities = {}", pick(newer, "entities")),
        "edit_date = GREATEST(messages.edit_date, EXCLUDED.edit_date)".to_owned(),
        format!("forward = {}", merged_fields("forward")),
        format!(
            "reply_to_message_id = {}",
            pick(&reply_from_incoming, "reply_to_message_id")
        ),
        format!(
            "reply_to_other_chat = {}",
            pick(&reply_from_incoming, "reply_to_other_chat")
        ),
        format!("media_kind = {}", pick(&media_from_incoming, "media_kind")),
        format!(
            "media = CASE WHEN EXCLUDED.media_kind IS DISTINCT FROM messages.media_kind \
             THEN {} ELSE {} END",
            pick(&media_from_incoming, "media"),
            merged_fields("media")
        ),
        format!("source = {}", pick(newer, "source")),
        format!("observed_at = {}", pick(newer, "observed_at")),
        "collected_at = now()".to_owned(),
    ];
    set.extend(KNOWN_WINS.iter().map(|column| {
        format!(
            "{column} = CASE WHEN {newer} THEN COALESCE(EXCLUDED.{column}, messages.{column}) \
             ELSE COALESCE(messages.{column}, EXCLUDED.{column}) END"
        )
    }));

    // The stored counters a newer version changes: the values before it, as of when they
    // were seen (the statement's snapshot still holds them).
    let merged_counters: Vec<String> = COUNTERS
        .iter()
        .map(|c| format!("COALESCE(i.{c}, m.{c})"))
        .collect();
    let stored_counters: Vec<String> = COUNTERS.iter().map(|c| format!("m.{c}")).collect();
    let history = format!(
        "INSERT INTO message_stats (channel_id, message_id, observed_at, {counters})
         SELECT m.channel_id, m.message_id, COALESCE(m.observed_at, m.collected_at), {stored}
           FROM input i
           JOIN messages m ON m.channel_id = $1 AND m.message_id = i.message_id
          WHERE {newer}
            AND ({merged}) IS DISTINCT FROM ({stored})
            AND ({stored}) IS DISTINCT FROM ({nulls})
         ON CONFLICT DO NOTHING",
        counters = COUNTERS.join(", "),
        stored = stored_counters.join(", "),
        newer = self::newer("i.edit_date", "$22::text", "$23::timestamptz", "m"),
        merged = merged_counters.join(", "),
        nulls = vec!["NULL"; COUNTERS.len()].join(", "),
    );

    let columns: Vec<&str> = COLUMNS.iter().map(|(name, _)| *name).collect();
    let arrays: Vec<String> = COLUMNS
        .iter()
        .enumerate()
        .map(|(i, (_, kind))| format!("${}::{kind}[]", i + 2))
        .collect();
    format!(
        "WITH input AS (SELECT * FROM UNNEST({arrays}) AS i({columns})),
         history AS ({history}),
         upserted AS (
             INSERT INTO messages (channel_id, {columns}, source, observed_at)
             SELECT $1, i.*, $22::text, $23::timestamptz FROM input i
             ON CONFLICT (channel_id, message_id) DO UPDATE SET {set})
         {then}",
        arrays = arrays.join(", "),
        columns = columns.join(", "),
        set = set.join(",\n "),
    )
}

/// A collected page: the rows and the checkpoint move ($24 through id, $25 now) in one
/// statement. Data-modifying CTEs always run to completion, also for an empty page.
static COLLECT_PAGE: LazyLock<String> = LazyLock::new(|| {
    page_statement(
        "UPDATE channels
            SET checkpoint = GREATEST(checkpoint, $24), last_collected_at = $25
          WHERE id = $1
      RETURNING checkpoint",
    )
});

/// An imported page: the rows alone (the checkpoint moves once, at the chat's commit).
static IMPORT_PAGE: LazyLock<String> = LazyLock::new(|| page_statement("SELECT 1"));

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minute: i64) -> DateTime<Utc> {
        DateTime::UNIX_EPOCH + chrono::Duration::minutes(minute)
    }

    #[test]
    fn a_page_keeps_the_freshest_copy_of_each_message() {
        let mut edited = MessageRow::text(2, at(0), "edited");
        edited.edit_date = Some(at(5));
        let rows = vec![
            MessageRow::text(3, at(0), "three"),
            edited,
            MessageRow::text(2, at(0), "original, listed later"),
            MessageRow::text(1, at(0), "first copy"),
            MessageRow::text(1, at(0), "second copy"),
        ];
        let texts: Vec<(i64, &str)> = freshest_per_id(&rows)
            .iter()
            .map(|m| (m.id, m.text.as_str()))
            .collect();
        assert_eq!(texts, vec![(1, "second copy"), (2, "edited"), (3, "three")]);
    }

    #[test]
    fn every_column_is_written_and_merged() {
        let statement = COLLECT_PAGE.as_str();
        for (column, _) in COLUMNS {
            assert!(
                statement.contains(&format!("{column} = ")),
                "{column} is not merged"
            );
        }
        assert!(statement.contains("$25"));
        assert!(!IMPORT_PAGE.contains("$24"));
    }
}
