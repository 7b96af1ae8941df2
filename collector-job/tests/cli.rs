//! The built binary on bad input: exit code of the contract, one line on stderr naming the
//! problem, never a secret, and nothing stored changed.

use std::path::Path;
use std::process::{Command, Output};

use sqlx::PgPool;

const BIN: &str = env!("CARGO_BIN_EXE_collector-job");
const SESSION_SECRET: &str = "deadbeefdeadbeefdeadbeef";

/// The binary with a clean environment plus `vars`.
fn run(args: &[&str], vars: &[(&str, &str)]) -> Output {
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

/// Asserts the exit code and that stderr is exactly one line; returns it.
fn failed_with(output: &Output, code: i32) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).trim().to_owned();
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

fn temp_file(name: &str, content: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("collector-job-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path
}

/// A full, valid `collect` environment except for what the test overrides.
fn collect_env(session: &Path, database_url: &str) -> Vec<(&'static str, String)> {
    vec![
        ("COLLECTOR_RUN_ID", "news-29384756".into()),
        ("COLLECTOR_NAMESPACE", "default".into()),
        ("COLLECTOR_NAME", "news".into()),
        ("COLLECTOR_CHANNELS", r#"["@durov"]"#.into()),
        ("DATABASE_URL", database_url.into()),
        ("TELEGRAM_API_ID", "12345".into()),
        ("TELEGRAM_SESSION_FILE", session.display().to_string()),
    ]
}

fn borrowed<'a>(vars: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    vars.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// A session blob with an auth key for its home datacenter (never used to connect here).
fn valid_session() -> std::path::PathBuf {
    let key = "07".repeat(256);
    let blob = format!(
        r#"{{"version":1,"home_dc":2,"dc_options":[{{"id":2,"ipv4":"149.154.167.51:443","ipv6":"[2001:67c:4e8:f002::a]:443","auth_key":"{key}"}}]}}"#
    );
    temp_file("session-valid", &blob)
}

#[test]
fn a_missing_variable_exits_2_naming_it() {
    let output = run(&["collect"], &[]);
    let line = failed_with(&output, 2);
    assert!(line.contains("COLLECTOR_RUN_ID"), "{line}");
}

#[test]
fn a_malformed_channel_list_exits_2_naming_the_variable() {
    let session = valid_session();
    let mut vars = collect_env(&session, "postgres://postgres@127.0.0.1:1/x");
    vars[3].1 = "@durov".into();
    let line = failed_with(&run(&["collect"], &borrowed(&vars)), 2);
    assert!(line.contains("COLLECTOR_CHANNELS"), "{line}");
}

#[test]
fn a_malformed_session_blob_exits_2_without_echoing_it() {
    let session = temp_file(
        "session-bad",
        &format!("{{\"version\": 1, \"home_dc\": \"{SESSION_SECRET}\"}}"),
    );
    let vars = collect_env(&session, "postgres://postgres@127.0.0.1:1/x");
    let line = failed_with(&run(&["collect"], &borrowed(&vars)), 2);
    assert!(
        line.contains("session file") && line.contains("session-bad"),
        "{line}"
    );
    assert!(!line.contains(SESSION_SECRET), "{line}");
}

#[test]
fn an_unreachable_database_exits_4_without_the_password() {
    let session = valid_session();
    let url = "postgres://collector:hunter22secret@127.0.0.1:1/telegram";
    let mut vars = collect_env(&session, url);
    vars.push(("COLLECTOR_DATABASE_CONNECT_TIMEOUT", "1s".into()));
    let line = failed_with(&run(&["collect"], &borrowed(&vars)), 4);
    assert!(line.contains("cannot connect to the database"), "{line}");
    assert!(!line.contains("hunter22secret"), "{line}");
    let quick = ("COLLECTOR_DATABASE_CONNECT_TIMEOUT", "1s");
    let line = failed_with(&run(&["migrate"], &[("DATABASE_URL", url), quick]), 4);
    assert!(!line.contains("hunter22secret"), "{line}");
}

#[test]
fn login_without_the_api_hash_exits_2_naming_it() {
    let line = failed_with(&run(&["login"], &[("TELEGRAM_API_ID", "12345")]), 2);
    assert!(line.contains("TELEGRAM_API_HASH"), "{line}");
}

/// `DATABASE_URL` of the test's own database.
fn url_of(pool: &PgPool) -> String {
    let options = pool.connect_options();
    format!(
        "postgres://{}@{}:{}/{}",
        options.get_username(),
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap()
    )
}

async fn count(pool: &PgPool, table: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
        .fetch_one(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrator = "audit::MIGRATOR")]
async fn an_unparseable_export_exits_2_and_changes_nothing(pool: PgPool) {
    let url = url_of(&pool);
    let good = format!(
        "{}/tests/fixtures/channel_result.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let output = run(
        &["import", &good, "--run-id", "import-good"],
        &[("DATABASE_URL", &url)],
    );
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let before = (
        count(&pool, "messages").await,
        count(&pool, "mtproto_audit_log").await,
    );
    assert_eq!(before.0, 4);

    let broken = format!(
        "{}/tests/fixtures/broken_result.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let line = failed_with(&run(&["import", &broken], &[("DATABASE_URL", &url)]), 2);
    assert!(
        line.contains("broken_result.json") && line.contains("not a Telegram Desktop JSON export"),
        "{line}"
    );
    let line = failed_with(
        &run(
            &["import", "/nonexistent/result.json"],
            &[("DATABASE_URL", &url)],
        ),
        2,
    );
    assert!(
        line.contains("cannot read export /nonexistent/result.json"),
        "{line}"
    );

    let after = (
        count(&pool, "messages").await,
        count(&pool, "mtproto_audit_log").await,
    );
    assert_eq!(after, before);
}

#[sqlx::test(migrator = "audit::MIGRATOR")]
async fn migrate_applies_the_schema_idempotently(pool: PgPool) {
    let url = url_of(&pool);
    for _ in 0..2 {
        let output = run(&["migrate"], &[("DATABASE_URL", &url)]);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    assert_eq!(count(&pool, "channels").await, 0);
}

#[test]
fn help_never_shows_secret_environment_values() {
    let secrets = [
        ("DATABASE_URL", "postgres://u:dbsecret42@db/x"),
        ("TELEGRAM_API_ID", "998877"),
        ("TELEGRAM_API_HASH", "hashsecret42"),
    ];
    for command in ["collect", "login", "import", "migrate"] {
        let output = run(&[command, "--help"], &secrets);
        assert_eq!(output.status.code(), Some(0));
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(
            text.contains("DATABASE_URL") || text.contains("TELEGRAM_API_HASH"),
            "{text}"
        );
        for (_, secret) in secrets {
            assert!(!text.contains(secret), "{command} --help shows {secret}");
        }
    }
}
