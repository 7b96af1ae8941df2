//! The built binary on bad input: exit code of the contract, one line on stderr naming the
//! problem, never a secret, and nothing stored changed.

mod common;

use std::path::Path;
use std::sync::{Arc, Mutex};

use common::{count, failed_with, run, url_of};
use sqlx::PgPool;

const SESSION_SECRET: &str = "deadbeefdeadbeefdeadbeef";

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
fn a_malformed_media_setting_exits_2_naming_it() {
    let session = valid_session();
    let mut vars = collect_env(&session, "postgres://postgres@127.0.0.1:1/x");
    vars.push((
        "COLLECTOR_MEDIA",
        r#"{"kinds":[],"store":{"type":"directory","path":"/m"}}"#.into(),
    ));
    let line = failed_with(&run(&["collect"], &borrowed(&vars)), 2);
    assert!(
        line.contains("COLLECTOR_MEDIA names no kinds of files to download"),
        "{line}"
    );
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

#[sqlx::test(migrator = "contract::MIGRATOR")]
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
    assert_eq!(before.0, 6, "4 posts and 2 service messages");

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
        line.contains("export /nonexistent/result.json: cannot read it: no such file"),
        "{line}"
    );

    let after = (
        count(&pool, "messages").await,
        count(&pool, "mtproto_audit_log").await,
    );
    assert_eq!(after, before);
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
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

// ---- Regression tests: error texts, connecting, closing. ----

/// The test server's URL with another database or user (trust auth: no password needed).
fn server_url(pool: &PgPool, user: &str, database: &str) -> String {
    let options = pool.connect_options();
    format!(
        "postgres://{user}@{}:{}/{database}",
        options.get_host(),
        options.get_port()
    )
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn a_database_that_does_not_exist_exits_2_at_once_with_the_servers_reason(pool: PgPool) {
    let slow = ("COLLECTOR_DATABASE_CONNECT_TIMEOUT", "20s");
    let url = server_url(&pool, "postgres", "no_such_database_9");
    let line = failed_with(&run(&["migrate"], &[("DATABASE_URL", &url), slow]), 2);
    assert!(
        line.contains("database \"no_such_database_9\" does not exist"),
        "{line}"
    );
    let url = server_url(&pool, "no_such_role_9", "postgres");
    let line = failed_with(&run(&["migrate"], &[("DATABASE_URL", &url), slow]), 2);
    assert!(
        line.contains("role \"no_such_role_9\" does not exist"),
        "{line}"
    );
}

#[test]
fn a_url_that_is_not_postgres_exits_2_at_once() {
    let slow = ("COLLECTOR_DATABASE_CONNECT_TIMEOUT", "20s");
    let url = "mysql://root:hunter22secret@127.0.0.1:3306/telegram";
    let line = failed_with(&run(&["migrate"], &[("DATABASE_URL", url), slow]), 2);
    assert!(line.contains("not a PostgreSQL URL"), "{line}");
    assert!(!line.contains("hunter22secret"), "{line}");
}

#[test]
fn a_missing_export_file_says_so() {
    let line = failed_with(
        &run(
            &["import", "/nonexistent/result.json"],
            &[("DATABASE_URL", "postgres://postgres@127.0.0.1:1/x")],
        ),
        2,
    );
    assert!(line.contains("no such file"), "{line}");
    assert!(!line.contains("entity not found"), "{line}");
}

fn export_file(test: &str, content: &[u8]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("collector-job-cli-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("result.json");
    std::fs::write(&path, content).unwrap();
    path
}

#[test]
fn a_chat_name_in_an_error_is_printed_as_written() {
    let name = "أخبار َالعالم";
    let export = format!(
        r#"{{"name": "{name}", "type": "public_channel", "id": 9,
             "messages": [{{"id": 4, "type": "message", "text": "x"}}]}}"#
    );
    let path = export_file("arabic", export.as_bytes());
    let line = failed_with(
        &run(
            &["import", path.to_str().unwrap()],
            &[("DATABASE_URL", "postgres://postgres@127.0.0.1:1/x")],
        ),
        2,
    );
    assert!(line.contains(name), "{line}");
    assert!(!line.contains("\\u{"), "{line}");
}

#[test]
fn a_message_without_an_id_is_named_by_its_place() {
    let export = r#"{"name": "News", "type": "public_channel", "id": 9, "messages": [
        {"id": 41, "type": "message", "date_unixtime": "1761987600", "text": "a"},
        {"type": "message", "date_unixtime": "1761987660", "text": "b"}
    ]}"#;
    let path = export_file("no-id", export.as_bytes());
    let line = failed_with(
        &run(
            &["import", path.to_str().unwrap()],
            &[("DATABASE_URL", "postgres://postgres@127.0.0.1:1/x")],
        ),
        2,
    );
    assert!(line.contains("News"), "{line}");
    assert!(line.contains("after message 41"), "{line}");
    assert!(line.contains("line 3"), "{line}");
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn an_export_with_a_utf8_bom_is_imported(pool: PgPool) {
    let url = url_of(&pool);
    let good = std::fs::read(format!(
        "{}/tests/fixtures/channel_result.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let path = export_file("bom", &[b"\xEF\xBB\xBF".as_slice(), &good].concat());
    let output = run(
        &["import", path.to_str().unwrap(), "--run-id", "bom"],
        &[("DATABASE_URL", &url)],
    );
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(count(&pool, "messages").await, 6);
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn logs_on_a_pipe_carry_no_colour_codes(pool: PgPool) {
    let url = url_of(&pool);
    // A full export with a private chat: the import logs that it skips it.
    let full = format!(
        "{}/tests/fixtures/full_export/result.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let output = run(
        &["import", &full, "--run-id", "colours"],
        &[("DATABASE_URL", &url), ("RUST_LOG", "info")],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("Bob"), "the skip is logged: {stderr}");
    assert!(
        !stderr.contains('\u{1b}'),
        "ANSI escape on a pipe: {stderr:?}"
    );
}

/// A TCP proxy to PostgreSQL that records, per client connection, whether the client's last
/// bytes were a Terminate message (`X`, length 4): a pool closed properly sends one on every
/// connection, a dropped pool just resets the sockets.
async fn terminate_recording_proxy(target: (String, u16)) -> (u16, Arc<Mutex<Connections>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let connections = Arc::new(Mutex::new(Connections::default()));
    let recorded = connections.clone();
    tokio::spawn(async move {
        loop {
            let (client, _) = listener.accept().await.unwrap();
            recorded.lock().unwrap().opened += 1;
            let server = tokio::net::TcpStream::connect(target.clone())
                .await
                .unwrap();
            let recorded = recorded.clone();
            tokio::spawn(async move {
                let (mut client_read, mut client_write) = client.into_split();
                let (mut server_read, mut server_write) = server.into_split();
                tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
                });
                let mut tail = Vec::new();
                let mut buffer = vec![0; 64 * 1024];
                loop {
                    match client_read.read(&mut buffer).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            tail.extend_from_slice(&buffer[..n]);
                            let keep = tail.len().saturating_sub(5);
                            tail.drain(..keep);
                            if server_write.write_all(&buffer[..n]).await.is_err() {
                                break;
                            }
                        }
                    }
                }
                recorded
                    .lock()
                    .unwrap()
                    .terminated
                    .push(tail == [b'X', 0, 0, 0, 4]);
            });
        }
    });
    (port, connections)
}

/// What the proxy saw: connections opened, and for each one that ended, whether it ended
/// with a Terminate message.
#[derive(Clone, Debug, Default)]
struct Connections {
    opened: usize,
    terminated: Vec<bool>,
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn every_database_connection_is_closed_properly_on_exit(pool: PgPool) {
    let options = pool.connect_options();
    let (port, connections) =
        terminate_recording_proxy((options.get_host().to_owned(), options.get_port())).await;
    // Plain TCP, so the proxy can see the Terminate message.
    let url = format!(
        "postgres://{}@127.0.0.1:{port}/{}?sslmode=disable",
        options.get_username(),
        options.get_database().unwrap()
    );
    let export = format!(
        "{}/tests/fixtures/channel_result.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let url_for_child = url.clone();
    let output = tokio::task::spawn_blocking(move || {
        run(
            &["import", &export, "--run-id", "closing"],
            &[("DATABASE_URL", &url_for_child)],
        )
    })
    .await
    .unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // The proxy notices a connection's end a moment after the process exits.
    let mut seen = Connections::default();
    for _ in 0..500 {
        seen = connections.lock().unwrap().clone();
        if seen.terminated.len() == seen.opened {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(seen.terminated.len(), seen.opened, "{seen:?}");
    assert!(seen.opened >= 2, "probe and pool connections: {seen:?}");
    assert!(
        seen.terminated.iter().all(|terminated| *terminated),
        "connections dropped without Terminate: {seen:?}"
    );
}
