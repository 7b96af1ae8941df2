//! The `fake-dc serve` binary: session blobs where it is told, pointing at where it listens.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_fake-dc");

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("fake-dc-serve-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn serve(scenario: &Path, session_out: Option<&Path>) -> Child {
    let mut command = Command::new(BIN);
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--scenario"])
        .arg(scenario)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(out) = session_out {
        command.arg("--session-out").arg(out);
    }
    command.spawn().expect("fake-dc starts")
}

/// The address a session blob points at, checked for the fields collector-job reads.
fn address(blob: &str) -> std::net::SocketAddr {
    let value: serde_json::Value = serde_json::from_str(blob).expect("a JSON blob");
    assert_eq!(value["version"], 1);
    assert_eq!(
        value["dc_options"][0]["auth_key"].as_str().map(str::len),
        Some(512)
    );
    value["dc_options"][0]["ipv4"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

fn wait_for(path: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(text) = std::fs::read_to_string(path)
            && !text.is_empty()
        {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "{} was not written",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn one_account_gets_its_blob_on_stdout_pointing_at_the_listening_port() {
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenario.example.json");
    let mut child = serve(&scenario, None);
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = address(line.trim());
    assert_ne!(addr.port(), 0, "the real port, not the requested 0");
    assert!(
        std::net::TcpStream::connect(addr).is_ok(),
        "it listens there"
    );
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn several_accounts_get_one_file_each_in_the_directory() {
    let dir = scratch("many");
    let scenario = dir.join("scenario.json");
    std::fs::write(
        &scenario,
        r#"{"accounts": [{"user_id": 1}, {"user_id": 2}], "channels": []}"#,
    )
    .unwrap();

    let mut child = serve(&scenario, Some(&dir));
    let first = wait_for(&dir.join("1.session"));
    let second = wait_for(&dir.join("2.session"));
    child.kill().unwrap();
    child.wait().unwrap();

    assert_eq!(address(&first), address(&second));
    assert_ne!(first, second, "each account has its own key");

    let output = serve(&scenario, None).wait_with_output().unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--session-out"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_broken_scenario_is_refused_with_its_name() {
    let dir = scratch("broken");
    let scenario = dir.join("broken.json");
    std::fs::write(&scenario, r#"{"accounts": []}"#).unwrap();
    let output = serve(&scenario, None).wait_with_output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no accounts"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn logs_on_a_pipe_carry_no_colour_codes() {
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenario.example.json");
    let mut command = Command::new(BIN);
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--scenario"])
        .arg(&scenario)
        // Colour would be on without the terminal check: NO_COLOR must not be what saves it.
        .env_remove("NO_COLOR")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("fake-dc starts");
    let mut logged = Vec::new();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    loop {
        let mut line = Vec::new();
        let read = stderr.read_until(b'\n', &mut line).unwrap();
        logged.extend_from_slice(&line);
        if read == 0 || String::from_utf8_lossy(&line).contains("serving until Ctrl-C") {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let shown = String::from_utf8_lossy(&logged);
    assert!(shown.contains("fake DC listening"), "{shown}");
    assert!(!logged.contains(&0x1b), "ANSI escape on a pipe: {shown:?}");
}
