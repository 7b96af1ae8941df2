//! Helpers shared by the integration tests and benches: the fake Telegram DC with session
//! files, the real `collector-job collect` (in-process through `app::run`, or the built binary
//! as a child process), Telegram Desktop exports written on the fly, and what PostgreSQL holds
//! afterwards.
#![allow(dead_code)] // each test file uses a different subset

pub mod cluster;
pub mod destinations;
pub mod s3;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{DateTime, Utc};
use clap::Parser;
use collector_job::app::cli::Cli;
use collector_job::app::{self, Failure};
use contract::audit::AuditEvent;
use fake_dc::{FakeDc, Scenario};
use serde_json::{Value, json};
use sqlx::PgPool;

pub const BIN: &str = env!("CARGO_BIN_EXE_collector-job");
pub const API_ID: &str = "12345";
/// The account of the single-account scenarios.
pub const USER: i64 = 777_000_001;
pub const NAMESPACE: &str = "news";
pub const NAME: &str = "daily";

/// A fake DC and a directory holding its accounts' session files; both go when dropped.
pub struct Wire {
    pub dc: FakeDc,
    dir: PathBuf,
}

impl Wire {
    pub async fn start(scenario: Scenario) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dc = FakeDc::start(scenario).await.expect("the fake DC starts");
        let dir = std::env::temp_dir().join(format!(
            "collector-wire-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("a scratch directory");
        Self { dc, dir }
    }

    /// The session file of account `user_id`, as `collector-job login` would have written it.
    pub fn session(&self, user_id: i64) -> PathBuf {
        let path = self.dir.join(format!("{user_id}.session"));
        let blob = self
            .dc
            .session(user_id)
            .expect("an account of the scenario");
        std::fs::write(&path, blob).expect("the session file is written");
        path
    }

    /// `messages.getHistory` requests of channel `channel_id` served so far.
    pub fn history_requests(&self, channel_id: i64) -> Vec<fake_dc::Served> {
        self.dc
            .served()
            .into_iter()
            .filter(|s| s.method == "messages.getHistory" && s.channel == Some(channel_id))
            .collect()
    }
}

impl Drop for Wire {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One `collector-job collect` invocation.
#[derive(Clone, Debug)]
pub struct Collect {
    args: Vec<String>,
    /// Environment variables of the child process ([`Self::spawn`] only).
    env: Vec<(String, String)>,
}

impl Collect {
    /// A run `run_id` of `channels` (the spec's strings) into `database_url` with `session`.
    pub fn new(database_url: &str, session: &Path, run_id: &str, channels: &[&str]) -> Self {
        let args = [
            ("--run-id", run_id.to_owned()),
            ("--namespace", NAMESPACE.to_owned()),
            ("--name", NAME.to_owned()),
            ("--pod-name", format!("{run_id}-pod")),
            (
                "--channels",
                serde_json::to_string(channels).expect("strings"),
            ),
            ("--database-url", database_url.to_owned()),
            ("--api-id", API_ID.to_owned()),
            ("--session-file", session.display().to_string()),
            // Fast enough for tests to see rows inside a channel.
            ("--progress-interval", "1s".to_owned()),
        ];
        let mut all = vec!["collector-job".to_owned(), "collect".to_owned()];
        for (flag, value) in args {
            all.push(flag.to_owned());
            all.push(value);
        }
        Self {
            args: all,
            env: Vec::new(),
        }
    }

    pub fn arg(mut self, flag: &str, value: &str) -> Self {
        self.args.push(flag.to_owned());
        self.args.push(value.to_owned());
        self
    }

    /// Without `flag` (and its value).
    pub fn without(mut self, flag: &str) -> Self {
        if let Some(at) = self.args.iter().position(|a| a == flag) {
            self.args.drain(at..at + 2);
        }
        self
    }

    /// An environment variable of the child process.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Index `index` of a sharded run, as the operator's Indexed Job configures its pods:
    /// `COLLECTOR_SHARD_COUNT`, `COLLECTOR_SHARD_INDEX` and `COLLECTOR_ASSIGNMENT` (the whole
    /// assignment), with `--channels` the whole spec list. For [`Self::spawn`].
    pub fn shard(self, index: usize, assignment: &[Vec<String>]) -> Self {
        let json = serde_json::to_string(assignment).expect("strings");
        self.env("COLLECTOR_SHARD_COUNT", &assignment.len().to_string())
            .env("COLLECTOR_SHARD_INDEX", &index.to_string())
            .env("COLLECTOR_ASSIGNMENT", &json)
    }

    /// Runs it in this process, through the same `app::run` as the binary's `main`.
    pub async fn in_process(&self) -> Result<(), Failure> {
        let cli = Cli::try_parse_from(&self.args).expect("valid arguments");
        app::run(cli).await
    }

    /// The built binary as a child process (clean environment, output captured).
    pub fn spawn(&self) -> Child {
        let mut command = Command::new(BIN);
        command
            .env_clear()
            .args(&self.args[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Ok(path) = std::env::var("PATH") {
            command.env("PATH", path);
        }
        command.envs(self.env.iter().map(|(k, v)| (k, v)));
        command.spawn().expect("the collector binary starts")
    }
}

/// `DATABASE_URL` of the test's own database.
pub fn url_of(pool: &PgPool) -> String {
    let options = pool.connect_options();
    format!(
        "postgres://{}@{}:{}/{}",
        options.get_username(),
        options.get_host(),
        options.get_port(),
        options.get_database().expect("a database name")
    )
}

/// The audit rows of a run, in order.
pub async fn rows(pool: &PgPool, run_id: &str) -> Vec<contract::audit::AuditRow> {
    contract::audit::read_run(pool, run_id)
        .await
        .expect("the audit log reads")
}

/// The `(account_id, access_hash)` rows cached for channel `channel_id`, by account.
pub async fn access_hashes(pool: &PgPool, channel_id: i64) -> Vec<(i64, i64)> {
    sqlx::query_as(
        "SELECT account_id, access_hash FROM channel_access_hashes
          WHERE channel_id = $1 ORDER BY account_id",
    )
    .bind(channel_id)
    .fetch_all(pool)
    .await
    .expect("channel_access_hashes read")
}

/// The audit events of a run, in order; every row names the run's pod.
pub async fn events(pool: &PgPool, run_id: &str) -> Vec<AuditEvent> {
    contract::audit::read_run(pool, run_id)
        .await
        .expect("the audit log reads")
        .into_iter()
        .map(|row| {
            assert_eq!(row.pod_name, Some(format!("{run_id}-pod")));
            row.event.expect("an event this version reads")
        })
        .collect()
}

pub fn summary(events: &[AuditEvent]) -> Option<&contract::audit::CollectionEnd> {
    events.iter().find_map(|e| match e {
        AuditEvent::End(end) => Some(end),
        _ => None,
    })
}

/// The `collection_progress` rows of a run.
pub fn progress(events: &[AuditEvent]) -> Vec<&contract::audit::CollectionProgress> {
    events
        .iter()
        .filter_map(|e| match e {
            AuditEvent::Progress(p) => Some(p),
            _ => None,
        })
        .collect()
}

/// A channel post as the wire tests compare it: the fake DC's post (what Telegram sent) and
/// the `messages` row (what the collector stored) both reduce to this.
///
/// This is the one place that spells out how a post is stored; when the stored formats change
/// (typed forwards, entities), update [`posted`] and [`stored`] here.
#[derive(Clone, Debug, PartialEq)]
pub struct Post {
    pub id: i64,
    pub date: DateTime<Utc>,
    pub edit_date: Option<DateTime<Utc>>,
    pub text: String,
    pub views: Option<i32>,
    pub forwards: Option<i32>,
    pub replies: Option<i32>,
    pub post_author: Option<String>,
    pub grouped_id: Option<i64>,
    pub reply_to_message_id: Option<i64>,
    pub forwarded: bool,
    pub media_kind: Option<String>,
    /// How many kinds of reaction (emoji, custom emoji, paid) the post has.
    pub reaction_kinds: i32,
    /// A service message's action, in Telegram Desktop's export names.
    pub action: Option<String>,
}

fn at(unix: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(unix, 0).expect("a valid instant")
}

/// What channel `channel_id` holds on the fake DC now, oldest first, service messages
/// included.
pub fn posted(dc: &FakeDc, channel_id: i64) -> Vec<Post> {
    let timeline = dc.timeline(channel_id).expect("a channel of the scenario");
    timeline
        .posts()
        .map(|post| {
            let Some(content) = post.content else {
                // `fake_dc::answer::message`: a pin on even ids, a title change on odd ones.
                let action = if post.id % 2 == 0 {
                    "pin_message"
                } else {
                    "edit_group_title"
                };
                return Post {
                    id: i64::from(post.id),
                    date: at(post.date),
                    edit_date: None,
                    text: String::new(),
                    views: None,
                    forwards: None,
                    replies: None,
                    post_author: None,
                    grouped_id: None,
                    reply_to_message_id: None,
                    forwarded: false,
                    media_kind: None,
                    reaction_kinds: 0,
                    action: Some(action.to_owned()),
                };
            };
            Post {
                id: i64::from(post.id),
                date: at(post.date),
                edit_date: content.edit_date.map(at),
                text: content.text,
                views: Some(content.views),
                forwards: Some(content.forwards),
                replies: Some(content.replies),
                post_author: content.post_author,
                grouped_id: content.grouped_id,
                reply_to_message_id: content.reply_to.map(i64::from),
                forwarded: content.forward.is_some(),
                media_kind: content.media.map(|m| m.kind().to_owned()),
                reaction_kinds: content.reactions.len() as i32,
                action: None,
            }
        })
        .collect()
}

type Row = (
    i64,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    String,
    Option<i32>,
    Option<i32>,
    Option<i32>,
    Option<String>,
    Option<i64>,
    Option<i64>,
    bool,
    Option<String>,
    i32,
    Option<String>,
);

/// What the collector stored for channel `channel_id`, in id order.
pub async fn stored(pool: &PgPool, channel_id: i64) -> Vec<Post> {
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT message_id, date, edit_date, text, views, forwards, replies, post_author,
                grouped_id, reply_to_message_id, forward IS NOT NULL, media_kind,
                COALESCE(jsonb_array_length(reactions), 0), action
           FROM messages WHERE channel_id = $1 ORDER BY message_id",
    )
    .bind(channel_id)
    .fetch_all(pool)
    .await
    .expect("messages read");
    rows.into_iter()
        .map(|r| Post {
            id: r.0,
            date: r.1,
            edit_date: r.2,
            text: r.3,
            views: r.4,
            forwards: r.5,
            replies: r.6,
            post_author: r.7,
            grouped_id: r.8,
            reply_to_message_id: r.9,
            forwarded: r.10,
            media_kind: r.11,
            reaction_kinds: r.12,
            action: r.13,
        })
        .collect()
}

/// Every post of the channel is stored exactly once, as posted.
pub async fn assert_stored_as_posted(pool: &PgPool, dc: &FakeDc, channel_id: i64) {
    let kept = assert_prefix_stored(pool, dc, channel_id).await;
    assert_eq!(
        kept,
        posted(dc, channel_id).len(),
        "channel {channel_id}: posts missing"
    );
}

/// The stored rows are the channel's oldest posts, as posted, in order, with no gap and no
/// duplicate; returns how many there are.
pub async fn assert_prefix_stored(pool: &PgPool, dc: &FakeDc, channel_id: i64) -> usize {
    let posted = posted(dc, channel_id);
    let stored = stored(pool, channel_id).await;
    let expected = &posted[..stored.len().min(posted.len())];
    let ids = |posts: &[Post]| posts.iter().map(|p| p.id).collect::<Vec<_>>();
    assert_eq!(
        ids(&stored),
        ids(expected),
        "channel {channel_id}: stored ids are not the oldest posts without gaps"
    );
    assert_eq!(stored, expected, "channel {channel_id}: stored rows differ");
    stored.len()
}

pub async fn checkpoint(pool: &PgPool, channel_id: i64) -> Option<i64> {
    sqlx::query_scalar("SELECT checkpoint FROM channels WHERE id = $1")
        .bind(channel_id)
        .fetch_optional(pool)
        .await
        .expect("channels read")
}

/// The binary with a clean environment plus `vars`.
pub fn run(args: &[&str], vars: &[(&str, &str)]) -> Output {
    let mut command = Command::new(BIN);
    command.env_clear().args(args);
    if let Ok(path) = std::env::var("PATH") {
        command.env("PATH", path);
    }
    for (key, value) in vars {
        command.env(key, value);
    }
    command.output().expect("the binary runs")
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).trim().to_owned()
}

/// Asserts the exit code and that stderr is exactly one line; returns it.
pub fn failed_with(output: &Output, code: i32) -> String {
    let stderr = stderr(output);
    assert_eq!(output.status.code(), Some(code), "stderr: {stderr}");
    assert_eq!(
        stderr.lines().count(),
        1,
        "one line expected, got: {stderr}"
    );
    assert!(
        output.stdout.is_empty(),
        "stdout: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    stderr
}

/// Asserts exit 0; returns stdout.
pub fn succeeded(output: &Output) -> String {
    assert_eq!(
        output.status.code(),
        Some(0),
        "stderr: {}\nstdout: {}",
        stderr(output),
        String::from_utf8_lossy(&output.stdout)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A directory of its own for one test (process id + name: tests run in parallel).
pub fn temp_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("collector-job-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn write(dir: &Path, name: &str, content: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path
}

pub fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// `collector-job import <path> --run-id <run_id>` against the test's database.
pub fn import(pool: &PgPool, path: &Path, run_id: &str, extra: &[&str]) -> Output {
    let url = url_of(pool);
    let mut args = vec!["import", path.to_str().unwrap(), "--run-id", run_id];
    args.extend_from_slice(extra);
    run(&args, &[("DATABASE_URL", &url)])
}

pub async fn count(pool: &PgPool, table: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
        .fetch_one(pool)
        .await
        .unwrap()
}

/// A single-chat export (`result.json` of "Export chat history").
pub fn chat_export(name: &str, kind: &str, id: i64, messages: Vec<Value>) -> String {
    serde_json::to_string_pretty(&json!({
        "name": name, "type": kind, "id": id, "messages": messages
    }))
    .unwrap()
}

/// A plain channel post as Telegram Desktop writes it (dates in UTC here).
pub fn post(id: i64, unix: i64, text: &str) -> Value {
    json!({
        "id": id,
        "type": "message",
        "date": chrono::DateTime::from_timestamp(unix, 0).unwrap().format("%Y-%m-%dT%H:%M:%S").to_string(),
        "date_unixtime": unix.to_string(),
        "from": "Alpha News",
        "from_id": "channel1001",
        "text": text,
        "text_entities": [{"type": "plain", "text": text}]
    })
}

/// `n` posts with ids `1..=n`, a minute apart.
pub fn posts(n: i64) -> Vec<Value> {
    (1..=n)
        .map(|id| post(id, 1_761_987_600 + id * 60, &format!("post {id}")))
        .collect()
}

/// The value of one column of one stored message.
pub async fn column<T>(pool: &PgPool, channel: i64, message: i64, column: &str) -> T
where
    T: for<'r> sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> + Send + Unpin,
{
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT {column} FROM messages WHERE channel_id = $1 AND message_id = $2"
    )))
    .bind(channel)
    .bind(message)
    .fetch_one(pool)
    .await
    .unwrap_or_else(|e| panic!("{column} of message {message}: {e}"))
}

pub async fn message_ids(pool: &PgPool, channel: i64) -> Vec<i64> {
    sqlx::query_scalar("SELECT message_id FROM messages WHERE channel_id = $1 ORDER BY 1")
        .bind(channel)
        .fetch_all(pool)
        .await
        .unwrap()
}

/// The `error` of the run's `collection_progress` rows, as stored.
pub async fn audit_errors(pool: &PgPool, run_id: &str) -> Vec<Value> {
    sqlx::query_scalar(
        "SELECT metadata->'error' FROM mtproto_audit_log
          WHERE run_id = $1 AND action = 'collection_progress' AND metadata ? 'error'
          ORDER BY id",
    )
    .bind(run_id)
    .fetch_all(pool)
    .await
    .unwrap()
}
