//! The monitoring page in a real browser: headless Chromium, driven over WebDriver by
//! chromedriver, opens the page served from a cache this test writes to, shows a collection's
//! bar and numbers, then shows a status change without a reload (server-sent events).
//!
//! Skipped, with the reason printed, when `chromium` or `chromedriver` is not installed
//! (`scripts/test` installs both). `UPDATE_SCREENSHOT=1` saves the screenshot the
//! documentation shows, docs/monitoring-page.png.

use std::{
    io::Write as _,
    net::SocketAddr,
    os::unix::process::CommandExt as _,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::Arc,
    time::Duration,
};

use chrono::Utc;
use crds::{
    ChannelCollection, ChannelCollectionStatus, CollectionState, RecentError, RunResult,
    RunSummary, ShardState, ShardStatus, testing::TestCollection, time::to_k8s,
};
use kube::runtime::{
    reflector::{self, ObjectRef},
    watcher,
};
use operator::{cache::Feed, http::page};
use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    sync::watch,
};

fn on_path(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
}

/// Kills chromedriver and the browser it started however the test ends: chromedriver runs
/// in a process group of its own, which its browser processes inherit.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let group = format!("-{}", self.0.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One HTTP/1.1 request with a JSON body; the JSON answer (within 60 s).
async fn call(addr: SocketAddr, method: &str, path: &str, body: Option<Value>) -> Value {
    tokio::time::timeout(Duration::from_secs(60), request(addr, method, path, body))
        .await
        .unwrap_or_else(|_| panic!("{method} {path}: no answer from chromedriver"))
}

async fn request(addr: SocketAddr, method: &str, path: &str, body: Option<Value>) -> Value {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(
            format!(
                "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
                 Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    // chromedriver keeps the connection open despite `Connection: close`: read the headers,
    // then exactly Content-Length bytes.
    let mut response = Vec::new();
    let mut buffer = vec![0u8; 64 * 1024];
    let (head, length) = loop {
        let n = stream.read(&mut buffer).await.unwrap();
        assert!(
            n > 0,
            "{method} {path}: connection closed before the headers"
        );
        response.extend_from_slice(&buffer[..n]);
        if let Some(end) = response.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8(response[..end].to_vec()).unwrap();
            let length = head
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().unwrap())
                })
                .expect("a Content-Length");
            response.drain(..end + 4);
            break (head, length);
        }
    };
    while response.len() < length {
        let n = stream.read(&mut buffer).await.unwrap();
        assert!(n > 0, "{method} {path}: connection closed in the body");
        response.extend_from_slice(&buffer[..n]);
    }
    let body = String::from_utf8(response[..length].to_vec()).unwrap();
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{method} {path}: {e}: {head}\n{body}"))
}

/// Standard base64, for the screenshot (no dependency for twenty lines).
fn base64(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c}"),
    };
    let digits: Vec<u8> = text.bytes().filter(|c| *c != b'=').map(value).collect();
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, d)| n | u32::from(*d) << (18 - 6 * i));
        out.extend_from_slice(&n.to_be_bytes()[1..chunk.len()]);
    }
    out
}

fn collection(name: &str, channels: &[&str], status: ChannelCollectionStatus) -> ChannelCollection {
    ChannelCollection::test()
        .named(name)
        .channels(channels)
        .with_status(status)
}

/// A sharded collection, half way through its run.
fn news(processed: [i32; 2], messages: [i64; 2]) -> ChannelCollection {
    let now = Utc::now();
    let shard = |index: usize, channel: &str| ShardStatus {
        index: index as i32,
        session: format!("tg-session-{index}"),
        state: Some(ShardState::Collecting),
        current_channel: Some(channel.into()),
        channels_processed: processed[index],
        channels_total: 2,
        messages: messages[index],
        errors: 0,
        estimated_time_remaining: Some(240 - 60 * i64::from(processed[index])),
        reason: None,
    };
    collection(
        "news",
        &["@durov", "@telegram", "@bbcnews", "@reuters"],
        ChannelCollectionStatus {
            state: Some(CollectionState::Collecting),
            currently_collecting: true,
            current_channel: Some("@telegram".into()),
            channels_processed: processed.iter().sum(),
            channels_total: 4,
            messages_collected_current_run: messages.iter().sum(),
            collection_start_time: Some(to_k8s(now - chrono::Duration::seconds(130))),
            estimated_time_remaining: Some(240 - 60 * i64::from(processed.iter().sum::<i32>())),
            next_run_time: Some(to_k8s(now + chrono::Duration::minutes(12))),
            last_run: Some(RunSummary {
                job: "news-1".into(),
                start_time: Some(to_k8s(now - chrono::Duration::minutes(20))),
                end_time: Some(to_k8s(now - chrono::Duration::minutes(17))),
                result: Some(RunResult::Succeeded),
                messages: Some(2210),
                channels_synced: Some(4),
                channels_total: Some(4),
                errors: Some(0),
                ..RunSummary::default()
            }),
            shards: vec![shard(0, "@durov"), shard(1, "@telegram")],
            ..ChannelCollectionStatus::default()
        },
    )
    .sharded(&["tg-session-0", "tg-session-1"])
}

/// In a flood wait, with an error.
fn archive() -> ChannelCollection {
    let now = Utc::now();
    collection(
        "archive",
        &["@a", "@b", "@c", "@d", "@e", "@f", "@g", "@h", "@i", "@j"],
        ChannelCollectionStatus {
            state: Some(CollectionState::Waiting),
            currently_collecting: true,
            current_channel: Some("@g".into()),
            channels_processed: 6,
            channels_total: 10,
            messages_collected_current_run: 48_113,
            errors_current_run: 1,
            flood_wait_seconds_current_run: 300,
            collection_start_time: Some(to_k8s(now - chrono::Duration::minutes(41))),
            estimated_time_remaining: Some(1500),
            waiting_until: Some(to_k8s(now + chrono::Duration::seconds(95))),
            recent_errors: vec![RecentError {
                channel: "@c".into(),
                reason: "ChannelPrivate".into(),
                message: "the channel is private or the account was banned from it".into(),
                time: to_k8s(now - chrono::Duration::minutes(30)),
            }],
            ..ChannelCollectionStatus::default()
        },
    )
    .namespaced("research")
}

/// Idle after a failed run.
fn weekly() -> ChannelCollection {
    let now = Utc::now();
    collection(
        "weekly",
        &["@durov", "@telegram"],
        ChannelCollectionStatus {
            state: Some(CollectionState::Failed),
            next_run_time: Some(to_k8s(now + chrono::Duration::hours(26))),
            last_run: Some(RunSummary {
                job: "weekly-1".into(),
                start_time: Some(to_k8s(now - chrono::Duration::minutes(185))),
                end_time: Some(to_k8s(now - chrono::Duration::hours(3))),
                result: Some(RunResult::Failed),
                reason: Some("SessionInvalid".into()),
                message: Some("the session was revoked; log in again".into()),
                ..RunSummary::default()
            }),
            ..ChannelCollectionStatus::default()
        },
    )
}

/// Runs `script` in the page until it returns `want` (20 s at most).
async fn wait_for(driver: SocketAddr, session: &str, script: &str, want: &Value) {
    let mut last = Value::Null;
    for _ in 0..200 {
        last = call(
            driver,
            "POST",
            &format!("/session/{session}/execute/sync"),
            Some(json!({"script": script, "args": []})),
        )
        .await["value"]
            .clone();
        if &last == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{script} returned {last}, not {want}");
}

/// A script returning the text of the element matching `selector` in the card of `key`.
fn text(key: &str, selector: &str) -> String {
    format!(
        "const e = document.querySelector('[data-key=\"{key}\"] {selector}'); \
         return e ? e.textContent : null;"
    )
}

/// Its digits only: the browser's locale decides the thousands separator.
fn digits(key: &str, selector: &str) -> String {
    format!(
        "const e = document.querySelector('[data-key=\"{key}\"] {selector}'); \
         return e ? e.textContent.replace(/[^0-9]/g, '') : null;"
    )
}

#[tokio::test]
async fn the_page_shows_collections_and_their_changes_live() {
    let (Some(chromium), Some(chromedriver)) = (on_path("chromium"), on_path("chromedriver"))
    else {
        // Straight to stderr: the test harness swallows `println!` of a passing test.
        let _ = writeln!(
            std::io::stderr(),
            "page::the_page_shows_collections_and_their_changes_live skipped: chromium or \
             chromedriver is not installed (scripts/test installs both)"
        );
        return;
    };

    let (store, mut writer) = reflector::store::<ChannelCollection>();
    writer.apply_watcher_event(&watcher::Event::Init);
    for cc in [news([0, 1], [20, 100]), archive(), weekly()] {
        writer.apply_watcher_event(&watcher::Event::InitApply(cc));
    }
    writer.apply_watcher_event(&watcher::Event::InitDone);
    let feed = Feed::new(store.clone());
    let (stop_tx, stop) = watch::channel(false);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = page::router(page::Page {
        collections: feed.clone(),
        stop: stop.clone(),
        now: Arc::new(Utc::now),
    });
    let server = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(operator::app::stopped(stop))
            .await
    });

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let _driver = Driver(
        Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting chromedriver"),
    );
    let driver: SocketAddr = ([127, 0, 0, 1], port).into();
    let mut up = false;
    for _ in 0..100 {
        if TcpStream::connect(driver).await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(up, "chromedriver did not listen on {driver}");
    let session = call(
        driver,
        "POST",
        "/session",
        Some(
            json!({"capabilities": {"alwaysMatch": {"goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless", "--no-sandbox", "--disable-gpu",
                         "--disable-background-networking", "--disable-dev-shm-usage",
                         "--window-size=1280,860", "--lang=en-US"]
            }}}}),
        ),
    )
    .await;
    let session = session["value"]["sessionId"]
        .as_str()
        .unwrap_or_else(|| panic!("no WebDriver session: {session}"))
        .to_string();
    call(
        driver,
        "POST",
        &format!("/session/{session}/url"),
        Some(json!({"url": format!("http://{addr}/")})),
    )
    .await;

    let news_key = "telegram/news";
    wait_for(
        driver,
        &session,
        &text(news_key, ".bar .label"),
        &json!("1 / 4 channels (25%)"),
    )
    .await;
    wait_for(
        driver,
        &session,
        &digits(news_key, ".messages"),
        &json!("120"),
    )
    .await;
    wait_for(
        driver,
        &session,
        &text(news_key, ".current"),
        &json!("@telegram"),
    )
    .await;
    wait_for(
        driver,
        &session,
        &text(news_key, ".shard[data-index=\"1\"] .bar .label"),
        &json!("1 / 2 channels (50%)"),
    )
    .await;
    wait_for(
        driver,
        &session,
        "return document.querySelectorAll('.card').length",
        &json!(3),
    )
    .await;
    // The flood wait counts down in the browser, between status updates.
    let countdown = text("research/archive", ".countdown");
    let first = call(
        driver,
        "POST",
        &format!("/session/{session}/execute/sync"),
        Some(json!({"script": countdown, "args": []})),
    )
    .await["value"]
        .clone();
    assert!(
        first.as_str().is_some_and(|s| s.starts_with("1m ")),
        "{first}"
    );
    // No secret or session name is on the page.
    wait_for(
        driver,
        &session,
        "return document.documentElement.outerHTML.includes('tg-session')",
        &json!(false),
    )
    .await;

    // A status change in the cache reaches the open page, which is not reloaded.
    call(
        driver,
        "POST",
        &format!("/session/{session}/execute/sync"),
        Some(json!({"script": "window.notReloaded = true; return true", "args": []})),
    )
    .await;
    writer.apply_watcher_event(&watcher::Event::Apply(news([2, 1], [1000, 234])));
    feed.publish(
        store
            .get(&ObjectRef::new("news").within("telegram"))
            .unwrap(),
    );
    wait_for(
        driver,
        &session,
        &text(news_key, ".bar .label"),
        &json!("3 / 4 channels (75%)"),
    )
    .await;
    wait_for(
        driver,
        &session,
        &digits(news_key, ".messages"),
        &json!("1234"),
    )
    .await;
    wait_for(
        driver,
        &session,
        &text(news_key, ".shard[data-index=\"0\"] .bar .label"),
        &json!("2 / 2 channels (100%)"),
    )
    .await;
    wait_for(
        driver,
        &session,
        "return window.notReloaded === true",
        &json!(true),
    )
    .await;
    // A deleted collection leaves the page.
    let deleted = store
        .get(&ObjectRef::new("weekly").within("telegram"))
        .unwrap();
    writer.apply_watcher_event(&watcher::Event::Delete(deleted.as_ref().clone()));
    feed.publish(deleted);
    wait_for(
        driver,
        &session,
        "return document.querySelectorAll('.card').length",
        &json!(2),
    )
    .await;
    writer.apply_watcher_event(&watcher::Event::Apply(weekly()));
    feed.publish(
        store
            .get(&ObjectRef::new("weekly").within("telegram"))
            .unwrap(),
    );
    wait_for(
        driver,
        &session,
        "return document.querySelectorAll('.card').length",
        &json!(3),
    )
    .await;

    let screenshot = call(
        driver,
        "GET",
        &format!("/session/{session}/screenshot"),
        None,
    )
    .await;
    let png = base64(screenshot["value"].as_str().expect("a screenshot"));
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "a PNG");
    if std::env::var_os("UPDATE_SCREENSHOT").is_some_and(|v| v == "1") {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/monitoring-page.png");
        std::fs::write(&path, &png).unwrap();
        println!("saved {}", path.display());
    }

    // Open event streams end at shutdown, so the server stops with the page still open.
    stop_tx.send_replace(true);
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("the server stops with a page open")
        .unwrap()
        .unwrap();
    call(driver, "DELETE", &format!("/session/{session}"), None).await;
}
