//! Sharded runs (docs/sharding.md): several accounts collecting one run, each
//! index a `collector-job collect` process configured as the operator's Indexed Job configures
//! its pods (`COLLECTOR_SHARD_COUNT`, `COLLECTOR_SHARD_INDEX`, `COLLECTOR_ASSIGNMENT`), on the
//! fake DC with one account per index, into a fresh database per test. And the session lock:
//! never two collectors on one session.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Output};
use std::time::Duration;

use common::{Collect, Wire, access_hashes, assert_stored_as_posted, rows, stored, url_of};
use contract::audit::{AuditEvent, AuditRow, EndReason};
use fake_dc::{Account, Channel, Fault, FaultRule, Outcome, Scenario};
use sqlx::PgPool;

const PATIENCE: Duration = Duration::from_secs(60);
const FIRST: i64 = 777_000_001;
const SECOND: i64 = 777_000_002;

/// Six channels of different sizes (ids 2001..=2006, `@chan1`..`@chan6`).
fn six_channels(scenario: Scenario) -> Scenario {
    (1..=6).fold(scenario, |scenario, i| {
        scenario.channel(Channel::new(
            2000 + i,
            &format!("chan{i}"),
            40 * i as i32 + 7,
        ))
    })
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

async fn output_of(child: Child) -> Output {
    tokio::time::timeout(
        PATIENCE,
        tokio::task::spawn_blocking(move || child.wait_with_output()),
    )
    .await
    .expect("the collector exits")
    .expect("joined")
    .expect("waited")
}

/// The last line of stderr (the one `main` prints for a failure) and the exit code.
fn failure(output: &Output) -> (Option<i32>, String) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    let line = stderr.lines().last().unwrap_or_default().to_owned();
    (output.status.code(), line)
}

fn events_of(rows: &[AuditRow], shard: u32) -> Vec<AuditEvent> {
    rows.iter()
        .filter(|row| row.shard == Some(shard))
        .map(|row| row.event.clone().expect("an event this version reads"))
        .collect()
}

fn end(events: &[AuditEvent]) -> &contract::audit::CollectionEnd {
    events
        .iter()
        .find_map(|e| match e {
            AuditEvent::End(end) => Some(end),
            _ => None,
        })
        .expect("collection_end")
}

/// The channel names of a shard's `collection_progress` rows, in order.
fn progressed(events: &[AuditEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            AuditEvent::Progress(p) => Some(p.channel_name.clone()),
            _ => None,
        })
        .collect()
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn two_accounts_collect_disjoint_shards_of_one_run_at_once(pool: PgPool) {
    let wire = Wire::start(six_channels(
        Scenario::new()
            .account(Account::new(FIRST))
            .account(Account::new(SECOND)),
    ))
    .await;
    let url = url_of(&pool);
    let spec = [
        "@chan1",
        "@chan2",
        "https://t.me/chan3",
        "@chan4",
        "@chan5",
        "@chan6",
    ];
    let assignment = vec![
        names(&["@chan5", "@chan1", "https://t.me/chan3"]),
        names(&["@chan2", "@chan6", "@chan4"]),
    ];
    let api_id = std::env::temp_dir().join(format!("shards-api-id-{}", std::process::id()));
    std::fs::write(&api_id, format!("{}\n", common::API_ID)).unwrap();
    // Index 1 reads its api id from a file, as the sharded Job's projected volume gives it.
    let children = [
        Collect::new(&url, &wire.session(FIRST), "run-1", &spec)
            .without("--pod-name")
            .arg("--pod-name", "run-1-0-abcde")
            .shard(0, &assignment),
        Collect::new(&url, &wire.session(SECOND), "run-1", &spec)
            .without("--api-id")
            .without("--pod-name")
            .arg("--pod-name", "run-1-1-fghij")
            .env("TELEGRAM_API_ID_FILE", api_id.to_str().unwrap())
            .shard(1, &assignment),
    ]
    .map(|collect| collect.spawn());
    for child in children {
        let output = output_of(child).await;
        assert!(output.status.success(), "{:?}", failure(&output));
    }
    let _ = std::fs::remove_file(&api_id);

    let rows = rows(&pool, "run-1").await;
    assert!(
        rows.iter().all(|row| row.shard.is_some()),
        "every row names its shard"
    );
    for (index, account) in [(0, FIRST), (1, SECOND)] {
        let pod = format!("run-1-{index}-");
        assert!(
            rows.iter()
                .filter(|row| row.shard == Some(index))
                .all(|row| row.pod_name.as_deref().is_some_and(|p| p.starts_with(&pod)))
        );
        let events = events_of(&rows, index);
        let AuditEvent::Start(start) = &events[0] else {
            panic!("each shard starts its own trail: {events:?}")
        };
        assert_eq!(start.total_channels, 3, "its assigned count");
        assert_eq!(
            progressed(&events),
            assignment[index as usize],
            "its channels, in order"
        );
        let end = end(&events);
        assert_eq!(
            (end.channels_synced, end.errors, end.aborted),
            (3, 0, false)
        );

        // Each channel was asked for by its shard's account only, and its hash is cached
        // under that account.
        for name in &assignment[index as usize] {
            let number: i64 = name
                .trim_start_matches(|c: char| !c.is_ascii_digit())
                .parse()
                .unwrap();
            let id = 2000 + number;
            let askers: Vec<i64> = wire
                .history_requests(id)
                .iter()
                .map(|s| s.account)
                .collect();
            assert!(
                !askers.is_empty() && askers.iter().all(|a| *a == account),
                "{name}: {askers:?}"
            );
            let hash = wire.dc.scenario().access_hash(id, account).unwrap();
            assert_eq!(
                access_hashes(&pool, id).await,
                vec![(account, hash)],
                "{name}"
            );
        }
    }
    // No message lost or duplicated, and the run's totals add up to what was posted.
    let mut total = 0;
    for id in 2001..=2006 {
        assert_stored_as_posted(&pool, &wire.dc, id).await;
        total += stored(&pool, id).await.len() as u64;
    }
    let collected: u64 = [0, 1]
        .iter()
        .map(|i| end(&events_of(&rows, *i)).total_messages)
        .sum();
    assert_eq!(collected, total);
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn a_shard_whose_session_is_revoked_exits_3_and_its_rows_name_its_index(pool: PgPool) {
    let wire = Wire::start(six_channels(
        Scenario::new()
            .account(Account::new(FIRST))
            .account(Account::new(SECOND))
            .fault(FaultRule::new("messages.getHistory", 2, Fault::Revoke).account(SECOND)),
    ))
    .await;
    let url = url_of(&pool);
    let spec = ["@chan1", "@chan2", "@chan3", "@chan4"];
    let assignment = vec![names(&["@chan1", "@chan3"]), names(&["@chan4", "@chan2"])];
    let children = [(0, FIRST), (1, SECOND)].map(|(index, account)| {
        Collect::new(&url, &wire.session(account), "run-1", &spec)
            .shard(index, &assignment)
            .spawn()
    });
    let [first, second] = children;
    let (first, second) = (output_of(first).await, output_of(second).await);

    assert!(first.status.success(), "{:?}", failure(&first));
    let (code, line) = failure(&second);
    assert_eq!(code, Some(3), "{line}");
    assert!(line.contains("collector-job login"), "{line}");
    let rows = rows(&pool, "run-1").await;
    let revoked = events_of(&rows, 1);
    let end_1 = end(&revoked);
    assert_eq!(
        (
            end_1.aborted,
            end_1.reason,
            end_1.total_messages,
            end_1.total_channels
        ),
        (true, Some(EndReason::SessionInvalid), 100, 2),
        "index 1 stored chan4's first page, then its session was gone"
    );
    let first_events = events_of(&rows, 0);
    let end_0 = end(&first_events);
    assert_eq!(
        (end_0.aborted, end_0.channels_synced),
        (false, 2),
        "index 0 is not affected"
    );
    assert!(
        !wire
            .dc
            .served()
            .iter()
            .any(|s| s.account == SECOND && s.channel == Some(2002)),
        "nothing is asked after the session is gone"
    );
}

/// Spawns `collect` with stderr read line by line; returns the child and a receiver that gets
/// each line.
fn spawn_watched(collect: &Collect) -> (Child, std::sync::mpsc::Receiver<String>) {
    let mut child = collect.spawn();
    let stderr = child.stderr.take().expect("piped stderr");
    let (lines, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

/// Waits (off the runtime) for a line containing `needle`; returns every line read so far.
async fn wait_for_line(rx: &std::sync::mpsc::Receiver<String>, needle: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + PATIENCE;
    while std::time::Instant::now() < deadline {
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(line) => {
                let found = line.contains(needle);
                seen.push(line);
                if found {
                    return seen;
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => tokio::task::yield_now().await,
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    panic!("no line with {needle:?}: {seen:?}");
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn a_second_collector_on_one_session_waits_for_the_first_then_gives_up_with_exit_6(
    pool: PgPool,
) {
    // The first collector's first page is never answered: it holds the session meanwhile.
    let scenario = six_channels(Scenario::new().account(Account::new(FIRST)))
        .fault(FaultRule::new("messages.getHistory", 1, Fault::Hold));
    let wire = Wire::start(scenario).await;
    let url = url_of(&pool);
    let session = wire.session(FIRST);
    let mut holder = Collect::new(&url, &session, "run-1", &["@chan1"]).spawn();
    tokio::time::timeout(
        PATIENCE,
        wire.dc
            .wait_until(|served| served.iter().any(|s| s.outcome == Outcome::Held)),
    )
    .await
    .expect("the first collector is collecting");
    let connections = |wire: &Wire| {
        wire.dc
            .served()
            .iter()
            .filter(|s| s.method == "help.getConfig")
            .count()
    };
    assert_eq!(connections(&wire), 1);

    // A second one (a retried pod, another collection on the same Secret) gives up.
    let second = Collect::new(&url, &session, "run-2", &["@chan2"])
        .arg("--session-lock-timeout", "1s")
        .spawn();
    let output = output_of(second).await;
    let (code, line) = failure(&output);
    assert_eq!(code, Some(6), "{line}");
    assert!(
        line.contains("session already in use by another collector"),
        "{line}"
    );
    let blob = std::fs::read_to_string(&session).unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains(blob.trim()) && !stderr.contains("auth_key\""),
        "{stderr}"
    );
    assert_eq!(connections(&wire), 1, "it never connected to Telegram");
    assert!(rows(&pool, "run-2").await.is_empty(), "nor started a run");

    // A third one waits; once the first is gone (killed: PostgreSQL drops its lock with its
    // connection) it takes the session and collects.
    let (third, lines) = spawn_watched(&Collect::new(&url, &session, "run-3", &["@chan2"]));
    wait_for_line(&lines, "another collector holds this session").await;
    assert_eq!(connections(&wire), 1, "waiting, not connected");
    holder.kill().unwrap();
    holder.wait().unwrap();
    let output = output_of(third).await;
    let rest: Vec<String> = lines.try_iter().collect();
    assert!(output.status.success(), "{rest:?}");
    assert_stored_as_posted(&pool, &wire.dc, 2002).await;
}

#[test]
fn an_inconsistent_assignment_exits_2_with_one_line_before_anything_else() {
    // Nothing listens on this database: the configuration is refused before connecting.
    let base = [
        ("COLLECTOR_RUN_ID", "run-1"),
        ("COLLECTOR_NAMESPACE", "news"),
        ("COLLECTOR_NAME", "daily"),
        ("COLLECTOR_CHANNELS", r#"["@chan1", "@chan2"]"#),
        (
            "DATABASE_URL",
            "postgres://collector:hunter22@127.0.0.1:1/telegram",
        ),
        ("TELEGRAM_API_ID", "12345"),
        ("COLLECTOR_SHARD_COUNT", "2"),
    ];
    let cases = [
        (
            [
                ("COLLECTOR_SHARD_INDEX", "1"),
                ("COLLECTOR_ASSIGNMENT", r#"[["@chan1"]]"#),
            ],
            "COLLECTOR_ASSIGNMENT has 1 lists of channels, COLLECTOR_SHARD_COUNT is 2",
        ),
        (
            [
                ("COLLECTOR_SHARD_INDEX", "2"),
                ("COLLECTOR_ASSIGNMENT", r#"[["@chan1"], []]"#),
            ],
            "COLLECTOR_SHARD_INDEX 2 is not below COLLECTOR_SHARD_COUNT 2",
        ),
        (
            [
                ("COLLECTOR_SHARD_INDEX", "0"),
                ("COLLECTOR_ASSIGNMENT", r#"[["@chan1"], ["@chan3"]]"#),
            ],
            "COLLECTOR_ASSIGNMENT gives index 1 channel \"@chan3\", which is not in COLLECTOR_CHANNELS",
        ),
    ];
    for (shard, expected) in cases {
        let vars: Vec<(&str, &str)> = base.iter().chain(shard.iter()).copied().collect();
        let output = common::run(&["collect"], &vars);
        let line = common::failed_with(&output, 2);
        assert_eq!(line, format!("collector-job: {expected}"));
        assert!(!line.contains("hunter22"), "{line}");
    }
}
