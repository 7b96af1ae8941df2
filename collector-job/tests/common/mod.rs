//! Helpers shared by the integration tests: the built binary, the test database's URL and
//! Telegram Desktop exports written on the fly.
#![allow(dead_code)] // each test file uses a different subset

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};
use sqlx::PgPool;

pub const BIN: &str = env!("CARGO_BIN_EXE_collector-job");

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

/// `DATABASE_URL` of the test's own database.
pub fn url_of(pool: &PgPool) -> String {
    let options = pool.connect_options();
    format!(
        "postgres://{}@{}:{}/{}",
        options.get_username(),
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap()
    )
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

pub async fn checkpoint(pool: &PgPool, channel: i64) -> Option<i64> {
    sqlx::query_scalar("SELECT checkpoint FROM channels WHERE id = $1")
        .bind(channel)
        .fetch_optional(pool)
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
