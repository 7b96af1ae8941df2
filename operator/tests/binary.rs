//! The binary against a kubeconfig whose API server is unreachable: it starts, serves
//! its health endpoint, logs a clear connection error, keeps retrying, and exits 0 on
//! SIGTERM. (No cluster here; this is what "starts against a kubeconfig" can show.)

use std::{
    io::{Read, Write},
    net::{TcpListener, TcpStream},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

/// A port nothing listens on.
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn kubeconfig(dir: &std::path::Path, port: u16) -> std::path::PathBuf {
    let path = dir.join("kubeconfig");
    let mut file = std::fs::File::create(&path).unwrap();
    write!(
        file,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:{port}\n    insecure-skip-tls-verify: true\n\
         contexts:\n- name: c\n  context:\n    cluster: c\n    user: u\n    namespace: telegram\ncurrent-context: c\nusers:\n- name: u\n  user:\n    token: t\n"
    )
    .unwrap();
    path
}

fn healthz(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response.starts_with("HTTP/1.1 200")
}

fn run_until_sigterm(extra: &[&str], expect_in_log: &str) {
    let dir = std::env::temp_dir().join(format!(
        "operator-binary-test-{}-{}",
        std::process::id(),
        extra.len()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let config = kubeconfig(&dir, closed_port());
    let metrics_port = closed_port();
    let log = dir.join("log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_operator"))
        .args([
            "run",
            "--log-format",
            "json",
            "--shutdown-grace",
            "1s",
            "--metrics-addr",
        ])
        .arg(format!("127.0.0.1:{metrics_port}"))
        .args(extra)
        .env("KUBECONFIG", &config)
        .env_remove("KUBE_CONTEXT")
        .env_remove("WATCH_NAMESPACE")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();

    // Up and retrying: health answers and the log names the connection problem.
    let start = Instant::now();
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if healthz(metrics_port)
            && text.contains(expect_in_log)
            && text.contains("Connection refused")
        {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the operator exited early:\n{text}"
        );
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no connection error logged:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let start = Instant::now();
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(exit.success(), "exit {exit:?}:\n{text}");
    assert!(!text.contains("panicked"), "{text}");
    for line in text.lines() {
        serde_json::from_str::<serde_json::Value>(line)
            .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn starts_retries_and_stops_on_sigterm_with_leader_election() {
    run_until_sigterm(&[], "cannot reach the Lease; retrying");
}

#[test]
fn starts_retries_and_stops_on_sigterm_without_leader_election() {
    run_until_sigterm(
        &["--leader-elect", "false"],
        "failed to perform initial object list",
    );
}
