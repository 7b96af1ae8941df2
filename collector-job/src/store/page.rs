//! A page of messages as one statement. The `messages` columns a page writes are described
//! once, in [`COLUMNS`] (name, SQL type, the value of a message, how two versions merge): the
//! column list, the UNNEST array parameters, their bindings and most of the merge rule are
//! generated from it, so adding a column is one entry there (and a migration).

use std::sync::LazyLock;

use sqlx::postgres::PgArguments;
use sqlx::{Arguments, Postgres};

use super::StoreError;
use crate::store::model::{MessageRow, OtherChatReply, ServiceAction, Sighting};
use crate::store::storable;

/// How a column's stored value and an incoming version's combine (docs/collector.md, "One
/// merge rule").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Merge {
    /// The row's identity (with the channel): the conflict target, never updated.
    Key,
    /// The newer version's value.
    Newer,
    /// The newer version's value, or the older one's where the newer lacks it (an export has
    /// no views): NULL never overwrites a value.
    KnownWins,
    /// The newer version's value; the older one's fills a NULL only when both are the same
    /// version (the same edit date): an earlier version's signature is not this one's.
    SameVersion,
    /// A rule of its own that involves other columns, written out in [`assignments`].
    Own,
}

/// A column of `messages` that each page writes, as one array parameter.
struct Column {
    name: &'static str,
    sql_type: &'static str,
    merge: Merge,
    /// Binds the array of the page's values (in the page's row order).
    bind: fn(&[&MessageRow], &mut PgArguments) -> Result<(), sqlx::Error>,
}

/// `column!(name, SQL type, merge, |message| value)`: a [`Column`] whose array holds `value`
/// of each message.
macro_rules! column {
    ($name:literal, $sql_type:literal, $merge:ident, |$m:ident| $value:expr) => {
        Column {
            name: $name,
            sql_type: $sql_type,
            merge: Merge::$merge,
            bind: |rows, args| add(args, rows.iter().map(|$m| $value).collect::<Vec<_>>()),
        }
    };
}

/// The columns each page writes, in the order of their parameters (see [`Param`]). Every text
/// and JSON value goes through [`storable`].
// A table: one line a column.
#[rustfmt::skip]
const COLUMNS: [Column; 20] = [
    column!("message_id",          "bigint",      Key,       |m| m.id),
    column!("date",                "timestamptz", Newer,     |m| m.date),
    column!("edit_date",           "timestamptz", Own,       |m| m.edit_date),
    column!("text",                "text",        Newer,     |m| text(&m.text)),
    column!("entities",            "jsonb",       Newer,     |m| json(m.entities_json())),
    column!("from_id",             "jsonb",       KnownWins, |m| m.from_id.map(|peer| peer.json())),
    column!("from_name",           "text",        KnownWins, |m| m.from_name.as_deref().map(text)),
    column!("views",               "int",         KnownWins, |m| m.views),
    column!("forwards",            "int",         KnownWins, |m| m.forwards),
    column!("replies",             "int",         KnownWins, |m| m.replies),
    column!("post_author",         "text",        SameVersion, |m| m.post_author.as_deref().map(text)),
    column!("grouped_id",          "bigint",      KnownWins, |m| m.grouped_id),
    column!("reply_to_message_id", "bigint",      Own,       |m| m.reply_to_message_id),
    column!("reply_to_other_chat", "jsonb",       Own,       |m| m.reply_to_other_chat.map(reply_json)),
    column!("forward",             "jsonb",       Own,       |m| json(m.forward.clone())),
    column!("media_kind",          "text",        Own,       |m| m.media.as_ref().map(|media| text(&media.kind))),
    column!("media",               "jsonb",       Own,       |m| json(m.media.as_ref().map(|media| media.metadata.clone()))),
    column!("reactions",           "jsonb",       KnownWins, |m| json(m.reactions_json())),
    column!("action",              "text",        KnownWins, |m| m.action.as_ref().map(|action| text(&action.kind))),
    column!("action_data",         "jsonb",       KnownWins, |m| json(m.action.as_ref().and_then(action_data))),
];

/// The statement's parameters, numbered once: the channel id, one array per column, the
/// version's source and when it was seen ([`Page::arguments`] binds these), then a collected
/// page's checkpoint move ([`Page::collect_arguments`]).
#[derive(Clone, Copy)]
enum Param {
    ChannelId,
    Column(usize),
    Source,
    ObservedAt,
    ThroughId,
    Now,
}

impl Param {
    /// Its position, 1-based as in `$n`.
    const fn number(self) -> usize {
        match self {
            Self::ChannelId => 1,
            Self::Column(i) => 2 + i,
            Self::Source => 2 + COLUMNS.len(),
            Self::ObservedAt => 3 + COLUMNS.len(),
            Self::ThroughId => 4 + COLUMNS.len(),
            Self::Now => 5 + COLUMNS.len(),
        }
    }
}

/// `$n`.
impl std::fmt::Display for Param {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "${}", self.number())
    }
}

fn text(value: &str) -> String {
    storable::text(value).into_owned()
}

fn json(value: Option<serde_json::Value>) -> Option<serde_json::Value> {
    value.map(storable::json)
}

fn reply_json(reply: OtherChatReply) -> serde_json::Value {
    serde_json::to_value(reply).expect("plain data")
}

/// A service action's details, when it has any.
fn action_data(action: &ServiceAction) -> Option<serde_json::Value> {
    (!action.details.is_empty()).then(|| serde_json::Value::Object(action.details.clone()))
}

fn add<'q, T>(args: &mut PgArguments, value: T) -> Result<(), sqlx::Error>
where
    T: 'q + sqlx::Encode<'q, Postgres> + sqlx::Type<Postgres>,
{
    args.add(value).map_err(sqlx::Error::Encode)
}

/// Messages of one channel written by one statement: each id once (`ON CONFLICT DO UPDATE`
/// refuses to touch one row twice in a statement).
pub(super) struct Page<'a> {
    channel_id: i64,
    observed: Sighting,
    rows: Vec<&'a MessageRow>,
}

impl<'a> Page<'a> {
    /// `messages` as statements, in order: an id listed n times (an export that lists a
    /// message twice) is in n of them, its copies in the order listed, so the merge rule meets
    /// every copy as it would on pages apart, and keeps each version: one copy is never
    /// dropped for another, and which one wins does not depend on how the reading was cut
    /// into pages. Always one at least (an empty page still moves a checkpoint).
    pub(super) fn split(
        channel_id: i64,
        messages: &'a [MessageRow],
        observed: Sighting,
    ) -> Vec<Self> {
        let mut pages = vec![Self {
            channel_id,
            observed,
            rows: Vec::with_capacity(messages.len()),
        }];
        let mut copies: std::collections::HashMap<i64, usize> =
            std::collections::HashMap::with_capacity(messages.len());
        for message in messages {
            let copy = copies.entry(message.id).or_default();
            if *copy == pages.len() {
                pages.push(Self {
                    channel_id,
                    observed,
                    rows: Vec::new(),
                });
            }
            pages[*copy].rows.push(message);
            *copy += 1;
        }
        // Rows in key order: concurrent writers lock them in the same order.
        for page in &mut pages {
            page.rows.sort_by_key(|message| message.id);
        }
        pages
    }

    /// Its messages, one per id.
    pub(super) fn len(&self) -> usize {
        self.rows.len()
    }

    /// How a failure of this page is reported.
    pub(super) fn error(&self) -> impl Fn(sqlx::Error) -> StoreError + Copy + use<> {
        let (channel_id, count) = (self.channel_id, self.rows.len());
        move |source| StoreError::StoreBatch {
            channel_id,
            count,
            source,
        }
    }

    /// The page's parameters, for [`IMPORT_PAGE`] (and the start of [`COLLECT_PAGE`]'s).
    pub(super) fn arguments(&self) -> Result<PgArguments, sqlx::Error> {
        let mut args = PgArguments::default();
        add(&mut args, self.channel_id)?;
        for column in &COLUMNS {
            (column.bind)(&self.rows, &mut args)?;
        }
        add(&mut args, self.observed.origin.as_str())?;
        add(&mut args, self.observed.at)?;
        debug_assert_eq!(args.len(), Param::ObservedAt.number());
        Ok(args)
    }

    /// The parameters of [`COLLECT_PAGE`]: the page's, then the checkpoint move.
    pub(super) fn collect_arguments(
        &self,
        through_id: i64,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<PgArguments, sqlx::Error> {
        let mut args = self.arguments()?;
        add(&mut args, through_id)?;
        add(&mut args, now)?;
        debug_assert_eq!(args.len(), Param::Now.number());
        Ok(args)
    }
}

/// Whether an incoming version (edit date `edit`, source `source`, seen at `observed`) is
/// newer than the stored row `stored`: (edit_date, source rank, observed_at) compared in
/// order, no edit sorting first, collect outranking import, rows from before the rule ranking
/// lowest and counting as observed when they were written. On a full tie only a live read
/// wins: two exports whose ages cannot be told apart never replace each other.
fn newer(edit: &str, source: &str, observed: &str, stored: &str) -> String {
    let rank = |source: &str| {
        format!("CASE {source} WHEN 'collect' THEN 2 WHEN 'import' THEN 1 ELSE 0 END")
    };
    format!(
        "((COALESCE({edit}, '-infinity'), {}, {observed}, \
           CASE {source} WHEN 'collect' THEN 1 ELSE 0 END) >= \
          (COALESCE({stored}.edit_date, '-infinity'), {}, \
           COALESCE({stored}.observed_at, {stored}.collected_at), 1))",
        rank(source),
        rank(&format!("{stored}.source"))
    )
}

/// The counters whose earlier values `message_stats` keeps.
const COUNTERS: [&str; 4] = ["views", "forwards", "replies", "reactions"];

/// The columns that make a version of a message (what an edit changes), kept per version in
/// `message_versions`.
const CONTENT: [&str; 6] = [
    "edit_date",
    "text",
    "entities",
    "post_author",
    "media_kind",
    "media",
];

/// Whether version `a` is version `b`, or `b` describes it more completely (a live read and
/// an export of one version each know things the other does not): the same edit date, text
/// and entities, and `a`'s author and media, where it has them, found in `b`.
fn same_version(a: impl Fn(&str) -> String, b: impl Fn(&str) -> String) -> String {
    let equal = |column: &str| format!("{} IS NOT DISTINCT FROM {}", a(column), b(column));
    let known_in_b = |column: &str| format!("({} IS NULL OR {})", a(column), equal(column));
    format!(
        "({} AND {} AND {} AND {} AND ({kind} IS NULL OR ({} AND ({media} IS NULL OR {} @> {media}))))",
        equal("edit_date"),
        equal("text"),
        known_in_b("entities"),
        known_in_b("post_author"),
        equal("media_kind"),
        b("media"),
        kind = a("media_kind"),
        media = a("media"),
    )
}

/// `alias.column`, as a closure for [`same_version`].
fn of(alias: &str) -> impl Fn(&str) -> String + '_ {
    move |column| format!("{alias}.{column}")
}

/// The SET list of the upsert: the merge rule (docs/collector.md, "One merge rule"), with
/// `newer` the incoming version being the newer one:
/// - source and observed_at, and the [`Merge::Newer`] columns (date, text, entities), come
///   from the newer version;
/// - the [`Merge::KnownWins`] columns (counters, sender, album, service action) take the newer
///   version's value, or the older one's where the newer lacks it (NULL never overwrites a
///   value: an export has no views);
/// - the [`Merge::SameVersion`] column (the author's signature) is the newer version's, and
///   the older one's fills a NULL only when both are the same version (same edit date);
/// - and the [`Merge::Own`] rules: edit_date is the later one; `forward` merges key by key,
///   the newer version's keys winning; `media` of the same kind and the same version merges
///   so too, otherwise it comes whole from one version, as the reply (this chat or another)
///   and the media kind do;
/// - the message is not (or no longer) deleted: a read returned it.
fn assignments(newer: &str) -> Vec<(String, String)> {
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
    let same_edit = "EXCLUDED.edit_date IS NOT DISTINCT FROM messages.edit_date";

    let mut set: Vec<(String, String)> = Vec::new();
    for Column { name, merge, .. } in &COLUMNS {
        let value = match merge {
            Merge::Key | Merge::Own => continue,
            Merge::Newer => pick(newer, name),
            Merge::KnownWins => format!(
                "CASE WHEN {newer} THEN COALESCE(EXCLUDED.{name}, messages.{name}) \
                 ELSE COALESCE(messages.{name}, EXCLUDED.{name}) END"
            ),
            Merge::SameVersion => format!(
                "COALESCE({}, CASE WHEN {same_edit} THEN {} END)",
                pick(newer, name),
                pick(&format!("NOT {newer}"), name)
            ),
        };
        set.push((name.to_string(), value));
    }
    set.extend(
        [
            (
                "edit_date",
                "GREATEST(messages.edit_date, EXCLUDED.edit_date)".to_owned(),
            ),
            ("forward", merged_fields("forward")),
            (
                "reply_to_message_id",
                pick(&reply_from_incoming, "reply_to_message_id"),
            ),
            (
                "reply_to_other_chat",
                pick(&reply_from_incoming, "reply_to_other_chat"),
            ),
            ("media_kind", pick(&media_from_incoming, "media_kind")),
            (
                "media",
                format!(
                    "CASE WHEN EXCLUDED.media_kind IS DISTINCT FROM messages.media_kind \
                     OR NOT ({same_edit}) THEN {} ELSE {} END",
                    pick(&media_from_incoming, "media"),
                    merged_fields("media")
                ),
            ),
            ("source", pick(newer, "source")),
            ("deleted_at", "NULL".to_owned()),
        ]
        .map(|(name, value)| (name.to_owned(), value)),
    );
    set
}

/// The page statement: the page's rows (`input`, one array parameter per column, so the
/// text is fixed and prepared once per connection whatever the page size), the rows they
/// meet (`stored`), the counters and versions they supersede (`history`, `versions`), and
/// the upsert with the merge rule ([`assignments`]), which writes a row only when the merge
/// changes it: seeing a message again unchanged writes nothing.
///
/// `then` ends the statement: the checkpoint move of a collected page, or nothing. Either
/// way its last two columns are the rows written and the versions kept.
fn page_statement(then: &str) -> String {
    let source = format!("{}::text", Param::Source);
    let observed_at = format!("{}::timestamptz", Param::ObservedAt);
    let channel_id = Param::ChannelId;
    let newer_than_stored = newer(
        "EXCLUDED.edit_date",
        "EXCLUDED.source",
        "EXCLUDED.observed_at",
        "messages",
    );
    let set = assignments(&newer_than_stored);
    // Whether the merge changes the stored row (observed_at and collected_at aside: a version
    // seen again is not news).
    let changed = format!(
        "({}) IS DISTINCT FROM ({})",
        set.iter()
            .map(|(_, value)| value.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        set.iter()
            .map(|(name, _)| format!("messages.{name}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut assigned: Vec<String> = set
        .iter()
        .map(|(name, value)| format!("{name} = {value}"))
        .collect();
    assigned.extend([
        format!(
            "observed_at = CASE WHEN {newer_than_stored} THEN EXCLUDED.observed_at \
             ELSE messages.observed_at END"
        ),
        "collected_at = now()".to_owned(),
    ]);

    // The stored rows of the page: each input row looks its row up by the primary key, so a
    // page costs the same in a channel of any size (docs/collector.md, "Cost per page"):
    // `OFFSET 0` keeps the planner from flattening the lookup into a join on `channel_id`
    // alone (a hash or merge join over the whole channel, which it picks when it expects few
    // rows per channel), and `(SELECT $1)` hides the channel's value from a custom plan, which
    // would otherwise estimate a channel ANALYZE has not met at one row and filter it through
    // the (channel_id, date) index per row. The statement's snapshot holds these rows as they
    // were before the upsert.
    let stored = format!(
        "SELECT m.* FROM input i
           CROSS JOIN LATERAL (
               SELECT * FROM messages
                WHERE channel_id = (SELECT {channel_id}::bigint) AND message_id = i.message_id
               OFFSET 0) m"
    );

    // Counters over time: the stored values a newer version changes, as of when they were
    // seen; and an older version's values that differ from the stored ones (an older export),
    // as of when it was made: kept, never applied.
    let incoming_newer = newer("i.edit_date", &source, &observed_at, "s");
    let merged_counters: Vec<String> = COUNTERS
        .iter()
        .map(|c| format!("COALESCE(i.{c}, s.{c})"))
        .collect();
    let counters_of = |alias: &str| -> String {
        COUNTERS
            .iter()
            .map(|c| format!("{alias}.{c}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let nulls = vec!["NULL"; COUNTERS.len()].join(", ");
    let history = format!(
        "INSERT INTO message_stats (channel_id, message_id, observed_at, {counters})
         SELECT s.channel_id, s.message_id, COALESCE(s.observed_at, s.collected_at), {stored}
           FROM input i JOIN stored s USING (message_id)
          WHERE {incoming_newer}
            AND ({merged}) IS DISTINCT FROM ({stored})
            AND ({stored}) IS DISTINCT FROM ({nulls})
         UNION ALL
         SELECT s.channel_id, s.message_id, {observed_at}, {incoming}
           FROM input i JOIN stored s USING (message_id)
          WHERE NOT {incoming_newer}
            AND ({merged}) IS DISTINCT FROM ({stored})
            AND ({incoming}) IS DISTINCT FROM ({nulls})
         ON CONFLICT DO NOTHING",
        counters = COUNTERS.join(", "),
        stored = counters_of("s"),
        incoming = counters_of("i"),
        merged = merged_counters.join(", "),
    );

    // Versions: the stored one when the row moves on to another, and an incoming one the row
    // does not hold (older than the stored version, or different from it at the same time).
    let content = CONTENT.join(", ");
    let content_of = |alias: &str| -> String {
        CONTENT
            .iter()
            .map(|c| format!("{alias}.{c}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let row_now = |column: &str| {
        format!("CASE WHEN u.message_id IS NULL THEN s.{column} ELSE u.{column} END")
    };
    let versions = format!(
        "INSERT INTO message_versions (channel_id, message_id, observed_at, source, {content},
                                       content_md5)
         SELECT {channel_id}, v.message_id, v.observed_at, v.source, {v_content},
                md5(row(extract(epoch FROM v.edit_date), v.text, v.entities, v.post_author,
                        v.media_kind, v.media)::text)::uuid
           FROM (SELECT s.message_id, COALESCE(s.observed_at, s.collected_at) AS observed_at,
                        s.source, {s_content}
                   FROM stored s JOIN upserted u USING (message_id)
                  WHERE NOT {superseded_kept}
                 UNION ALL
                 SELECT i.message_id, {observed_at}, {source}, {i_content}
                   FROM input i JOIN stored s USING (message_id)
                   LEFT JOIN upserted u USING (message_id)
                  WHERE NOT {incoming_kept}) v
         ON CONFLICT DO NOTHING
         RETURNING 1",
        v_content = content_of("v"),
        s_content = content_of("s"),
        i_content = content_of("i"),
        superseded_kept = same_version(of("s"), of("u")),
        incoming_kept = same_version(of("i"), row_now),
    );

    let columns = column_names();
    format!(
        "WITH input AS (SELECT * FROM {unnested}),
         stored AS ({stored}),
         history AS ({history}),
         upserted AS (
             INSERT INTO messages (channel_id, {columns}, source, observed_at)
             SELECT {channel_id}, i.*, {source}, {observed_at} FROM input i
             ON CONFLICT (channel_id, message_id) DO UPDATE SET {assigned}
              WHERE {changed}
             RETURNING message_id, {content}),
         versions AS ({versions})
         {then}",
        unnested = unnested(),
        assigned = assigned.join(",\n "),
    )
}

/// The columns a page writes, as a list.
fn column_names() -> String {
    COLUMNS
        .iter()
        .map(|column| column.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The page's rows as the table `i`: one array parameter a column, unnested side by side.
fn unnested() -> String {
    let arrays: Vec<String> = COLUMNS
        .iter()
        .enumerate()
        .map(|(i, column)| format!("{}::{}[]", Param::Column(i), column.sql_type))
        .collect();
    format!("UNNEST({}) AS i({})", arrays.join(", "), column_names())
}

/// The counts every page statement ends with: rows written, versions kept.
const COUNTS: &str = "(SELECT count(*) FROM upserted), (SELECT count(*) FROM versions)";

/// The page inserted as it is, for a page none of whose messages is stored yet (a new
/// channel, or the history past the checkpoint: nearly every page a run writes). Without a
/// stored row there is nothing to merge, no counter or version to keep: the same rows
/// [`page_statement`] would insert, at the cost of a plain INSERT (no lookups of stored rows,
/// and a plan a fraction of the size to start for each page). A message stored already, or
/// by a writer beside this one, is left alone here (`DO NOTHING`) and `inserted` falls short
/// of the page: the caller then stores the page with [`page_statement`], in which the rows
/// inserted here are stored and unchanged, so nothing is written twice.
///
/// `then` ends the statement; its first column is the rows inserted.
fn new_rows_statement(then: &str) -> String {
    format!(
        "WITH inserted AS (
             INSERT INTO messages (channel_id, {columns}, source, observed_at)
             SELECT {channel_id}, i.*, {source}::text, {observed_at}::timestamptz
               FROM {unnested}
             ON CONFLICT (channel_id, message_id) DO NOTHING
             RETURNING 1)
         {then}",
        columns = column_names(),
        unnested = unnested(),
        channel_id = Param::ChannelId,
        source = Param::Source,
        observed_at = Param::ObservedAt,
    )
}

/// A collected page none of whose messages is stored: the rows inserted, and the checkpoint
/// moved only when all of them were (otherwise [`COLLECT_PAGE`] follows and moves it).
/// Returns the rows inserted and the checkpoint, NULL when it did not move.
pub(super) static COLLECT_NEW_PAGE: LazyLock<String> = LazyLock::new(|| {
    new_rows_statement(&format!(
        ", moved AS (
             UPDATE channels
                SET checkpoint = GREATEST(checkpoint, {through_id}), last_collected_at = {now}
              WHERE id = {channel_id}
                AND (SELECT count(*) FROM inserted) = cardinality({ids}::bigint[])
          RETURNING checkpoint)
         SELECT (SELECT count(*) FROM inserted), (SELECT checkpoint FROM moved)",
        through_id = Param::ThroughId,
        now = Param::Now,
        channel_id = Param::ChannelId,
        ids = Param::Column(0),
    ))
});

/// An imported page none of whose messages is stored: the rows inserted.
pub(super) static IMPORT_NEW_PAGE: LazyLock<String> =
    LazyLock::new(|| new_rows_statement("SELECT count(*) FROM inserted"));

/// A collected page: the rows and the checkpoint move in one statement. Data-modifying CTEs
/// always run to completion, also for an empty page.
pub(super) static COLLECT_PAGE: LazyLock<String> = LazyLock::new(|| {
    page_statement(&format!(
        "UPDATE channels
            SET checkpoint = GREATEST(checkpoint, {through_id}), last_collected_at = {now}
          WHERE id = {channel_id}
      RETURNING checkpoint, {COUNTS}",
        through_id = Param::ThroughId,
        now = Param::Now,
        channel_id = Param::ChannelId,
    ))
});

/// An imported page: the rows alone (the checkpoint moves once, at the chat's commit).
pub(super) static IMPORT_PAGE: LazyLock<String> =
    LazyLock::new(|| page_statement(&format!("SELECT {COUNTS}")));

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};

    fn at(minute: i64) -> DateTime<Utc> {
        DateTime::UNIX_EPOCH + chrono::Duration::minutes(minute)
    }

    #[test]
    fn an_id_listed_twice_goes_to_a_second_statement_in_the_order_listed() {
        let observed = Sighting {
            origin: crate::store::model::Origin::Import,
            at: at(1),
        };
        let rows = vec![
            MessageRow::text(3, at(0), "three"),
            MessageRow::text(2, at(0), "two"),
            MessageRow::text(1, at(0), "first copy"),
            MessageRow::text(2, at(0), "two again"),
            MessageRow::text(1, at(0), "second copy"),
            MessageRow::text(1, at(0), "third copy"),
        ];
        let texts: Vec<Vec<(i64, &str)>> = Page::split(7, &rows, observed)
            .iter()
            .map(|page| page.rows.iter().map(|m| (m.id, m.text.as_str())).collect())
            .collect();
        assert_eq!(
            texts,
            vec![
                vec![(1, "first copy"), (2, "two"), (3, "three")],
                vec![(1, "second copy"), (2, "two again")],
                vec![(1, "third copy")],
            ]
        );
        assert_eq!(Page::split(7, &[], observed).len(), 1);
    }

    #[test]
    fn every_column_is_written_and_merged_once() {
        let set = assignments("true");
        for Column { name, merge, .. } in COLUMNS {
            if merge == Merge::Key {
                assert!(COLLECT_PAGE.contains(&format!("ON CONFLICT (channel_id, {name})")));
                continue;
            }
            let times = set.iter().filter(|(column, _)| column == name).count();
            assert_eq!(times, 1, "{name} is merged {times} times");
        }
    }

    /// The `$n` a statement uses.
    fn placeholders(statement: &str) -> std::collections::BTreeSet<usize> {
        statement
            .split('$')
            .skip(1)
            .filter_map(|rest| {
                let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                digits.parse().ok()
            })
            .collect()
    }

    /// The SQL types the store binds, in parameter order: what PostgreSQL prepares.
    fn parameter_types(count: usize) -> Vec<String> {
        let mut types = vec!["bigint".to_owned()];
        types.extend(COLUMNS.iter().map(|c| format!("{}[]", c.sql_type)));
        types.extend(["text", "timestamptz", "bigint", "timestamptz"].map(String::from));
        types.truncate(count);
        types
    }

    /// Every scan of `messages` in a JSON plan (the upsert's own node aside).
    fn messages_scans(node: &serde_json::Value, out: &mut Vec<serde_json::Value>) {
        if node["Relation Name"] == "messages" && node["Node Type"] != "ModifyTable" {
            out.push(node.clone());
        }
        for child in node["Plans"].as_array().into_iter().flatten() {
            messages_scans(child, out);
        }
    }

    /// A page's cost must not grow with its channel: whatever the plan (generic, as a
    /// prepared statement gets after five runs, or custom), the full statements read
    /// `messages` only one row per input row, by primary key, and the insert-only ones not at
    /// all (beyond `ON CONFLICT`'s own probe). Asserted on the plan, never on time.
    #[sqlx::test(migrator = "contract::MIGRATOR")]
    async fn a_page_reads_its_stored_rows_by_primary_key_whatever_the_channel_holds(
        pool: sqlx::PgPool,
    ) {
        let mut conn = pool.acquire().await.unwrap();
        // One big channel among many small ones. Analyzed (autovacuum does so in production),
        // a generic plan expects a dozen rows per channel, and a join on `channel_id` alone
        // looks cheaper than 100 lookups by key.
        sqlx::raw_sql(
            "INSERT INTO channels (id) SELECT generate_series(1, 5002);
             INSERT INTO messages (channel_id, message_id, date, views, source, observed_at)
             SELECT 1, g, now(), g, 'collect', now() FROM generate_series(1, 50000) g;
             INSERT INTO messages (channel_id, message_id, date, views, source, observed_at)
             SELECT c, g, now(), g, 'collect', now()
               FROM generate_series(2, 5001) c, generate_series(1, 2) g;",
        )
        .execute(&mut *conn)
        .await
        .unwrap();
        // Name, text, parameters, whether it reads stored rows.
        let statements = [
            (
                "import_page",
                IMPORT_PAGE.as_str(),
                Param::ObservedAt.number(),
                true,
            ),
            (
                "collect_page",
                COLLECT_PAGE.as_str(),
                Param::Now.number(),
                true,
            ),
            (
                "import_new_page",
                IMPORT_NEW_PAGE.as_str(),
                Param::ObservedAt.number(),
                false,
            ),
            (
                "collect_new_page",
                COLLECT_NEW_PAGE.as_str(),
                Param::Now.number(),
                false,
            ),
        ];
        // Each state of the table, what brings it about, and the pages to plan: the big
        // channel's last page again (every row is stored already), and one of a channel filled
        // since ANALYZE, which a custom plan takes for empty.
        let states = [
            ("not analyzed", "", &[(1, 50_000)][..]),
            ("analyzed", "ANALYZE messages;", &[(1, 50_000)][..]),
            (
                "a channel filled since ANALYZE",
                "DELETE FROM messages WHERE channel_id <> 1;
                 ANALYZE messages;
                 INSERT INTO messages (channel_id, message_id, date, views, source, observed_at)
                 SELECT 5002, g, now(), g, 'collect', now() FROM generate_series(1, 20000) g;",
                &[(1, 50_000), (5002, 20_000)][..],
            ),
        ];
        for (stats, setup, pages) in states {
            sqlx::raw_sql(setup).execute(&mut *conn).await.unwrap();
            for (name, statement, count, reads) in statements {
                let prepare = format!(
                    "PREPARE {name} ({}) AS {statement}",
                    parameter_types(count).join(", ")
                );
                sqlx::raw_sql(sqlx::AssertSqlSafe(prepare))
                    .execute(&mut *conn)
                    .await
                    .unwrap();
                for mode in ["force_generic_plan", "force_custom_plan"] {
                    let set = format!("SET plan_cache_mode = {mode}");
                    sqlx::raw_sql(sqlx::AssertSqlSafe(set))
                        .execute(&mut *conn)
                        .await
                        .unwrap();
                    for &(channel, last) in pages {
                        let explain = format!(
                            "EXPLAIN (FORMAT JSON) EXECUTE {name} ({})",
                            page_literals(channel, last)[..count].join(", ")
                        );
                        let plan: serde_json::Value =
                            sqlx::query_scalar(sqlx::AssertSqlSafe(explain))
                                .fetch_one(&mut *conn)
                                .await
                                .unwrap();
                        let context = format!("{name}, {stats}, {mode}, channel {channel}");
                        if reads {
                            assert_reads_by_key(&plan, &context);
                        } else {
                            let mut scans = Vec::new();
                            messages_scans(&plan[0]["Plan"], &mut scans);
                            assert!(scans.is_empty(), "{context}: reads messages: {scans:#?}");
                        }
                    }
                }
            }
            // By name: sqlx's own prepared statements on this connection stay.
            let names: Vec<&str> = statements.iter().map(|statement| statement.0).collect();
            let deallocate = format!("DEALLOCATE {};", names.join("; DEALLOCATE "));
            sqlx::raw_sql(sqlx::AssertSqlSafe(deallocate))
                .execute(&mut *conn)
                .await
                .unwrap();
        }
    }

    /// EXECUTE takes no bound parameters, so a page as literals: the channel and the ids of
    /// the 100 messages up to `last` (what a custom plan looks at), empty arrays for the rest.
    fn page_literals(channel: i64, last: i64) -> Vec<String> {
        let ids: Vec<String> = (last - 99..=last).map(|id| id.to_string()).collect();
        let mut values = vec![channel.to_string(), format!("'{{{}}}'", ids.join(","))];
        values.extend(COLUMNS[1..].iter().map(|_| "'{}'".to_owned()));
        values.extend(["'collect'".to_owned(), "now()".to_owned()]);
        values.extend([last.to_string(), "now()".to_owned()]);
        values
    }

    /// Every read of `messages` in `plan` is an index scan of its primary key by message id.
    fn assert_reads_by_key(plan: &serde_json::Value, context: &str) {
        let mut scans = Vec::new();
        messages_scans(&plan[0]["Plan"], &mut scans);
        assert!(!scans.is_empty(), "{context}: no read of messages?");
        for scan in scans {
            let by_key = ["Index Scan", "Index Only Scan"]
                .contains(&scan["Node Type"].as_str().unwrap_or_default())
                && scan["Index Name"] == "messages_pkey"
                && scan["Index Cond"]
                    .as_str()
                    .is_some_and(|cond| cond.contains("message_id = "));
            assert!(
                by_key,
                "{context}: a read of messages not bounded by message_id: {scan:#}"
            );
        }
    }

    #[test]
    fn every_parameter_is_bound_in_its_place() {
        let mut message = MessageRow::text(1, at(0), "one");
        message.views = Some(3);
        let messages = [message];
        let observed = Sighting {
            origin: crate::store::model::Origin::Collect,
            at: at(1),
        };
        let page = Page::split(7, &messages, observed).remove(0);
        let import = page.arguments().unwrap().len();
        let collect = page.collect_arguments(1, at(2)).unwrap().len();
        assert_eq!(placeholders(&IMPORT_PAGE), (1..=import).collect());
        assert_eq!(placeholders(&COLLECT_PAGE), (1..=collect).collect());
        assert_eq!(placeholders(&IMPORT_NEW_PAGE), (1..=import).collect());
        assert_eq!(placeholders(&COLLECT_NEW_PAGE), (1..=collect).collect());
        assert_eq!(
            (import, collect),
            (Param::ObservedAt.number(), Param::Now.number())
        );
    }
}
