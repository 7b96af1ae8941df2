//! `collector-job login` end to end against the fake Telegram DC: the built binary starts from
//! the fake's session for an account not signed in yet (`--initial-session`: the fake cannot
//! do the key exchange), answers its prompts from stdin (phone, code, 2FA password), and prints
//! a Secret manifest whose session the collector then collects with. Wrong answers fail with
//! the command's own one-line error and a non-zero exit, and no secret is ever printed.

mod common;

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use collector_job::telegram::session::SessionBlob;
use common::{API_ID, BIN, Collect, USER, Wire, assert_stored_as_posted, stderr, url_of};
use fake_dc::{Account, Channel, Fault, FaultRule, Login, Scenario};
use sqlx::PgPool;

const ALPHA: i64 = 1001;
const PHONE: &str = "+49 151 0000001";
const CODE: &str = "24680";
const PASSWORD: &str = "correct horse";
const API_HASH: &str = "0123456789abcdef0123456789abcdef";
/// A login (with 2FA's 100,000 PBKDF2 rounds on each side) ends well within this.
const PATIENCE: Duration = Duration::from_secs(120);

fn scenario(login: Login) -> Scenario {
    Scenario::new()
        .account(Account::new(USER).logging_in(login))
        .channel(Channel::new(ALPHA, "alpha", 120))
}

fn with_2fa() -> Login {
    Login::new(PHONE, CODE).password(PASSWORD, Some("horse"))
}

/// `collector-job login` from the fake's starting session, typing `answers` one a line.
async fn login(wire: &Wire, answers: &[&str]) -> Output {
    let session = wire.session(USER);
    let typed: String = answers.iter().map(|a| format!("{a}\n")).collect();
    let run = tokio::task::spawn_blocking(move || {
        let mut child = Command::new(BIN)
            .args([
                "login",
                "--api-id",
                API_ID,
                "--secret-name",
                "telegram-session",
            ])
            .args(["--namespace", "news", "--initial-session"])
            .arg(&session)
            .env("TELEGRAM_API_HASH", API_HASH)
            .env_remove("RUST_LOG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary runs");
        let mut stdin = child.stdin.take().expect("piped");
        stdin
            .write_all(typed.as_bytes())
            .expect("the answers are typed");
        drop(stdin);
        child.wait_with_output().expect("the login ends")
    });
    tokio::time::timeout(PATIENCE, run)
        .await
        .expect("the login ends in time")
        .expect("the login task")
}

/// Asserts a failed login: exit 1, the command's error, nothing on stdout, no secret shown.
fn assert_refused(output: &Output, reason: &str) {
    let stderr = stderr(output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("collector-job: {reason}")),
        "{stderr}"
    );
    assert!(output.stdout.is_empty(), "no manifest");
    assert_no_secret(&stderr);
}

fn assert_no_secret(text: &str) {
    for secret in [CODE, PASSWORD, API_HASH] {
        assert!(!text.contains(secret), "a secret was printed: {text}");
    }
}

/// The session blob of a printed Secret manifest.
fn session_of(manifest: &str) -> SessionBlob {
    let manifest: serde_norway::Value = serde_norway::from_str(manifest).expect("YAML");
    assert_eq!(manifest["kind"], "Secret");
    assert_eq!(manifest["metadata"]["name"], "telegram-session");
    assert_eq!(manifest["metadata"]["namespace"], "news");
    let blob = manifest["stringData"]["session"]
        .as_str()
        .expect("the session key");
    SessionBlob::decode(blob, "the manifest").expect("a session blob")
}

/// Logs in with `answers`, then collects `@alpha` with the printed session.
async fn login_then_collect(pool: &PgPool, login_spec: Login, answers: &[&str]) {
    let wire = Wire::start(scenario(login_spec)).await;
    let output = login(&wire, answers).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_no_secret(&stderr(&output));
    let session = session_of(&String::from_utf8_lossy(&output.stdout));
    let path = wire.session(USER).with_extension("logged-in");
    std::fs::write(&path, session.encode()).expect("the session file is written");

    let collect = Collect::new(&url_of(pool), &path, "after-login", &["@alpha"]);
    tokio::time::timeout(PATIENCE, collect.in_process())
        .await
        .expect("the run ends")
        .expect("the run succeeds with the new session");
    assert_stored_as_posted(pool, &wire.dc, ALPHA).await;
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn a_2fa_login_prints_a_secret_whose_session_collects(pool: PgPool) {
    login_then_collect(&pool, with_2fa(), &[PHONE, CODE, PASSWORD]).await;
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn a_login_without_2fa_asks_no_password_and_its_session_collects(pool: PgPool) {
    // No third answer: a password prompt would read end of input and fail the login.
    login_then_collect(&pool, Login::new(PHONE, CODE), &[PHONE, CODE]).await;
}

#[tokio::test]
async fn a_login_with_a_wrong_code_fails_clearly() {
    let wire = Wire::start(scenario(with_2fa())).await;
    let output = login(&wire, &[PHONE, "13579"]).await;
    assert_refused(&output, "the login code was not accepted");
}

#[tokio::test]
async fn a_login_with_a_wrong_2fa_password_fails_clearly() {
    let wire = Wire::start(scenario(with_2fa())).await;
    let output = login(&wire, &[PHONE, CODE, "battery staple"]).await;
    assert_refused(&output, "the 2FA password was not accepted");
}

#[tokio::test]
async fn a_login_met_by_a_long_flood_wait_says_how_long() {
    let scenario =
        scenario(with_2fa()).fault(FaultRule::new("auth.sendCode", 1, Fault::FloodWait(3_600)));
    let wire = Wire::start(scenario).await;
    let output = login(&wire, &[PHONE]).await;
    assert_refused(
        &output,
        "Telegram asks to wait 3600 s before the next login attempt",
    );
}
