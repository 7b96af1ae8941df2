//! The database failing under the built binary: whatever fails, stderr holds exactly one
//! line, naming the database (not the audit log, which is only where it was noticed), and
//! the exit code is 4.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::cluster::Cluster;
use common::{BIN, failed_with, posts, run, temp_dir, write};
use serde_json::json;

/// A full export of `chats` channels of `posts` messages each.
fn full_export(chats: i64, per_chat: i64) -> String {
    let list: Vec<_> = (0..chats)
        .map(|i| {
            json!({"name": format!("Chat {i}"), "type": "public_channel", "id": 5000 + i,
                   "messages": posts(per_chat)})
        })
        .collect();
    json!({"about": "", "chats": {"about": "", "list": list}}).to_string()
}

#[test]
fn an_import_with_no_server_listening_exits_4_with_one_line() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let path = write(&temp_dir("no-server"), "result.json", full_export(1, 1));
    let url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
    let output = run(
        &["import", path.to_str().unwrap()],
        &[
            ("DATABASE_URL", &url),
            ("COLLECTOR_DATABASE_CONNECT_TIMEOUT", "1s"),
        ],
    );
    let line = failed_with(&output, 4);
    assert!(line.contains("cannot connect to the database"), "{line}");
}

#[tokio::test]
async fn an_import_whose_server_stops_midway_exits_4_with_one_line_naming_the_database() {
    let cluster = Cluster::start("stopped");
    let path = write(&temp_dir("stopped"), "result.json", full_export(400, 50));
    let mut child = Command::new(BIN)
        .env_clear()
        .args(["import", path.to_str().unwrap(), "--run-id", "stopped"])
        .env("DATABASE_URL", cluster.url())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Midway: once the first chat is stored (its progress row), with 399 still to go.
    let pool = sqlx::PgPool::connect(&cluster.url()).await.unwrap();
    loop {
        let stored: Option<i64> = sqlx::query_scalar(
            "SELECT count(*) FROM mtproto_audit_log WHERE action = 'collection_progress'",
        )
        .fetch_one(&pool)
        .await
        .ok();
        if stored.is_some_and(|n| n > 0) {
            break;
        }
        // An import that ended before its first chat was stored would leave this loop waiting.
        if let Some(status) = child.try_wait().unwrap() {
            let output = child.wait_with_output().unwrap();
            panic!(
                "the import ended ({status}) before storing its first chat: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    pool.close().await;
    cluster.stop();
    let output = tokio::task::spawn_blocking(|| child.wait_with_output().unwrap())
        .await
        .unwrap();
    let line = failed_with(&output, 4);
    assert!(
        line.starts_with("collector-job: the database could not be reached"),
        "{line}"
    );
}
