//! `collector-job collect` end to end on the wire: the real grammers client over loopback TCP
//! to the fake Telegram DC (fake-dc), the real `Telegram` source, mapping and store, into a
//! fresh PostgreSQL database per test. Runs go through `app::run` (what `main` calls) or the
//! built binary as a child process (exit codes, SIGKILL, SIGTERM).

mod common;

use std::collections::BTreeSet;
use std::process::Output;
use std::time::Duration;

use collector_job::app::config::PAGES_PER_STATEMENT;
use collector_job::telegram::session::SessionBlob;
use common::{
    Collect, USER, Wire, assert_prefix_stored, assert_stored_as_posted, checkpoint, events,
    progress, stored, summary, url_of,
};
use contract::audit::{AuditEvent, EndReason, ErrorReason};
use fake_dc::{Account, Channel, Fault, FaultRule, Outcome, Scenario, Served};
use sqlx::PgPool;

const ALPHA: i64 = 1001;
const BETA: i64 = 1002;
const GAMMA: i64 = 1003;
/// Nothing in these tests takes longer (a stuck run fails instead of hanging CI).
const PATIENCE: Duration = Duration::from_secs(60);

/// `@alpha`: 250 ids with a service message and two deleted ones; `@beta`: 30 posts.
fn two_channels() -> Scenario {
    Scenario::new()
        .account(Account::new(USER))
        .channel(
            Channel::new(ALPHA, "alpha", 250)
                .service([50])
                .deleted([120, 121]),
        )
        .channel(Channel::new(BETA, "beta", 30))
}

/// The scenario's first account collecting `channels` into the test's database.
fn collect(pool: &PgPool, wire: &Wire, run_id: &str, channels: &[&str]) -> Collect {
    Collect::new(&url_of(pool), &wire.session(USER), run_id, channels)
}

async fn run(collect: &Collect) -> Result<(), collector_job::app::Failure> {
    tokio::time::timeout(PATIENCE, collect.in_process())
        .await
        .expect("the run ends")
}

fn answered(served: &[Served]) -> Vec<usize> {
    served
        .iter()
        .filter_map(|s| match s.outcome {
            Outcome::Answered { messages } => Some(messages),
            _ => None,
        })
        .collect()
}

/// What a `messages.getHistory` answer's ids say: the page is exactly the `n` existing ids
/// right above `after`.
fn assert_page_above(wire: &Wire, request: &Served, after: i32) {
    let timeline = wire.dc.timeline(request.channel.unwrap()).unwrap();
    let expected: Vec<i32> = (after + 1..=timeline.last_id())
        .filter(|id| timeline.exists(*id))
        .take(100)
        .collect();
    let mut got = request.ids.clone();
    got.sort_unstable();
    assert_eq!(got, expected, "page above {after}: {request:?}");
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn a_first_run_stores_every_message_and_a_second_run_only_the_new_ones(pool: PgPool) {
    let wire = Wire::start(two_channels()).await;
    let channels = ["@alpha", "https://t.me/beta"];

    run(&collect(&pool, &wire, "run-1", &channels))
        .await
        .unwrap();

    assert_stored_as_posted(&pool, &wire.dc, ALPHA).await;
    assert_stored_as_posted(&pool, &wire.dc, BETA).await;
    assert_eq!(stored(&pool, ALPHA).await.len(), 248);
    assert_eq!(checkpoint(&pool, ALPHA).await, Some(250));
    let run1 = events(&pool, "run-1").await;
    let [
        AuditEvent::Start(start),
        AuditEvent::Progress(alpha),
        AuditEvent::Progress(beta),
        AuditEvent::End(end),
    ] = run1.as_slice()
    else {
        panic!("start, one progress per channel, end: {run1:?}");
    };
    assert_eq!(start.total_channels, 2);
    assert_eq!(
        (
            alpha.channel_name.as_str(),
            alpha.messages_collected,
            alpha.error.is_none()
        ),
        ("@alpha", 248, true)
    );
    assert_eq!(
        (
            beta.channel_name.as_str(),
            beta.messages_collected,
            beta.channels_processed
        ),
        ("https://t.me/beta", 30, 2)
    );
    assert_eq!(
        (
            end.total_messages,
            end.channels_synced,
            end.errors,
            end.aborted
        ),
        (278, 2, 0, false)
    );

    // One request per page: the 100 ids right above the checkpoint, then an empty page.
    let requests = wire.history_requests(ALPHA);
    assert_eq!(answered(&requests), vec![100, 100, 48, 0]);
    for (request, after) in requests.iter().zip([0, 100, 202]) {
        assert_page_above(&wire, request, after);
    }

    wire.dc.post(ALPHA, 20);
    run(&collect(&pool, &wire, "run-2", &channels))
        .await
        .unwrap();

    assert_stored_as_posted(&pool, &wire.dc, ALPHA).await;
    assert_eq!(checkpoint(&pool, ALPHA).await, Some(270));
    let run2 = events(&pool, "run-2").await;
    assert_eq!(summary(&run2).unwrap().total_messages, 20);
    let resolves = wire
        .dc
        .served()
        .iter()
        .filter(|s| s.method == "contacts.resolveUsername")
        .count();
    assert_eq!(resolves, 2, "the second run uses the cached access hashes");
    let second = &wire.history_requests(ALPHA)[4];
    assert_page_above(&wire, second, 250);
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn every_audit_row_carries_the_contracts_keys(pool: PgPool) {
    let wire = Wire::start(two_channels().channel(Channel::new(GAMMA, "gamma", 3).private())).await;
    run(&collect(&pool, &wire, "run-1", &["@alpha", "@gamma"]))
        .await
        .unwrap();

    type Row = (
        String,
        serde_json::Value,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT action, metadata, run_id, collection_namespace, collection_name, pod_name
           FROM mtproto_audit_log ORDER BY id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let keys = |action: &str| -> &[&str] {
        match action {
            "collection_start" => &["total_channels", "start_time"],
            "collection_progress" => &[
                "channel_name",
                "messages_collected",
                "channels_processed",
                "total_channels",
                "errors",
                "progress_time",
            ],
            "collection_channel_progress" => {
                &["channel_name", "messages_collected", "progress_time"]
            }
            "collection_end" => &[
                "total_messages",
                "channels_synced",
                "total_channels",
                "errors",
                "end_time",
            ],
            other => panic!("unexpected action {other}"),
        }
    };
    assert!(rows.len() >= 4);
    for (action, metadata, run_id, namespace, name, pod) in &rows {
        for key in keys(action) {
            assert!(
                metadata.get(key).is_some(),
                "{action} lacks {key}: {metadata}"
            );
        }
        assert_eq!(
            (
                run_id.as_deref(),
                namespace.as_deref(),
                name.as_deref(),
                pod.as_deref()
            ),
            (
                Some("run-1"),
                Some("news"),
                Some("daily"),
                Some("run-1-pod")
            )
        );
    }
    let failed = rows
        .iter()
        .find(|(_, m, ..)| m["channel_name"] == "@gamma" && m.get("error").is_some())
        .expect("gamma's progress row has an error");
    assert_eq!(failed.1["error"]["reason"], "channel_private");
    assert!(failed.1["error"]["message"].is_string());
}

/// Collects both channels with `fault` on alpha's second page, which must be asked for again
/// and leave every post stored and no channel failed; returns the DC, the run's events and
/// what alpha's second request got.
async fn survives(pool: &PgPool, fault: Fault) -> (Wire, Vec<AuditEvent>, Outcome) {
    let scenario =
        two_channels().fault(FaultRule::new("messages.getHistory", 2, fault).channel(ALPHA));
    let wire = Wire::start(scenario).await;

    run(&collect(pool, &wire, "run-1", &["@alpha", "@beta"]))
        .await
        .unwrap();

    assert_stored_as_posted(pool, &wire.dc, ALPHA).await;
    assert_stored_as_posted(pool, &wire.dc, BETA).await;
    let events = events(pool, "run-1").await;
    assert_eq!(summary(&events).unwrap().errors, 0);
    let requests = wire.history_requests(ALPHA);
    assert_eq!(
        requests[2].history, requests[1].history,
        "the same page, asked again"
    );
    let outcome = requests[1].outcome.clone();
    (wire, events, outcome)
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn a_flood_wait_under_the_threshold_is_slept_through_and_audited(pool: PgPool) {
    let (_, events, outcome) = survives(&pool, Fault::FloodWait(1)).await;

    let floods: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            AuditEvent::FloodWait(f) => Some((f.channel_name.as_str(), f.seconds)),
            _ => None,
        })
        .collect();
    assert_eq!(floods, vec![("@alpha", 1)]);
    let flood = Outcome::Error {
        code: 420,
        message: "FLOOD_WAIT_1".into(),
    };
    assert_eq!(outcome, flood);
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn a_flood_wait_over_the_threshold_fails_only_that_channel(pool: PgPool) {
    let scenario = two_channels()
        .fault(FaultRule::new("messages.getHistory", 2, Fault::FloodWait(3600)).channel(ALPHA));
    let wire = Wire::start(scenario).await;
    let collect = |run_id| {
        collect(&pool, &wire, run_id, &["@alpha", "@beta"]).arg("--flood-wait-threshold", "1m")
    };

    run(&collect("run-1")).await.unwrap();

    let events = events(&pool, "run-1").await;
    let progress = progress(&events);
    let error = progress[0].error.as_ref().expect("alpha failed");
    assert_eq!(error.reason, ErrorReason::FloodWait);
    assert!(error.message.contains("3600s"), "{}", error.message);
    assert_eq!(
        progress[0].messages_collected, 100,
        "the first page, its service message included"
    );
    assert!(progress[1].error.is_none());
    assert_stored_as_posted(&pool, &wire.dc, BETA).await;
    assert_eq!(assert_prefix_stored(&pool, &wire.dc, ALPHA).await, 100);

    // The next run picks alpha up where its first page left it.
    run(&collect("run-2")).await.unwrap();
    assert_stored_as_posted(&pool, &wire.dc, ALPHA).await;
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn an_account_over_its_flood_limit_waits_as_told_and_loses_nothing(pool: PgPool) {
    // 300 messages a second: every few pages Telegram answers FLOOD_WAIT_1.
    let scenario = Scenario::new()
        .account(Account::new(USER).flood(300.0))
        .channel(Channel::new(ALPHA, "alpha", 900));
    let wire = Wire::start(scenario).await;

    run(&collect(&pool, &wire, "run-1", &["@alpha"]))
        .await
        .unwrap();

    assert_stored_as_posted(&pool, &wire.dc, ALPHA).await;
    let events = events(&pool, "run-1").await;
    let waits: Vec<u32> = events
        .iter()
        .filter_map(|e| match e {
            AuditEvent::FloodWait(f) => Some(f.seconds),
            _ => None,
        })
        .collect();
    let refused = wire
        .history_requests(ALPHA)
        .iter()
        .filter(|s| matches!(&s.outcome, Outcome::Error { code: 420, .. }))
        .count();
    assert!(refused >= 1, "the limit was reached");
    assert_eq!(
        waits,
        vec![1; refused],
        "each FLOOD_WAIT_1 slept and audited"
    );
    assert_eq!(summary(&events).unwrap().errors, 0);
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn private_and_unknown_channels_are_channel_errors_and_the_run_goes_on(pool: PgPool) {
    let wire =
        Wire::start(two_channels().channel(Channel::new(GAMMA, "secret", 5).private())).await;

    run(&collect(
        &pool,
        &wire,
        "run-1",
        &["@secret", "@nobody", "@beta"],
    ))
    .await
    .unwrap();

    let events = events(&pool, "run-1").await;
    let reasons: Vec<_> = progress(&events)
        .iter()
        .map(|p| p.error.as_ref().map(|e| (e.reason, e.message.clone())))
        .collect();
    assert_eq!(
        reasons,
        vec![
            Some((
                ErrorReason::ChannelPrivate,
                "Telegram error 400 CHANNEL_PRIVATE".into()
            )),
            Some((
                ErrorReason::UsernameNotFound,
                "Telegram error 400 USERNAME_NOT_OCCUPIED".into()
            )),
            None,
        ]
    );
    let end = summary(&events).unwrap();
    assert_eq!(
        (end.channels_synced, end.errors, end.total_messages),
        (1, 2, 30)
    );
    assert_stored_as_posted(&pool, &wire.dc, BETA).await;
    assert!(stored(&pool, GAMMA).await.is_empty());
}

/// Runs the binary to its end (or fails the test after `PATIENCE`).
async fn finished(collect: &Collect) -> Output {
    let child = collect.spawn();
    tokio::time::timeout(
        PATIENCE,
        tokio::task::spawn_blocking(move || child.wait_with_output()),
    )
    .await
    .expect("the collector exits")
    .expect("joined")
    .expect("waited")
}

/// The exit code, and that stderr's last line is the one `main` prints for a failure.
fn failed(output: &Output, code: i32) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(code), "stderr: {stderr}");
    let line = stderr.lines().last().unwrap_or_default().to_owned();
    assert!(line.starts_with("collector-job: "), "{line}");
    line
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn an_unregistered_auth_key_ends_the_run_with_session_invalid_and_exit_3(pool: PgPool) {
    let wire = Wire::start(
        Scenario::new()
            .account(Account::new(USER).unregistered())
            .channel(Channel::new(ALPHA, "alpha", 10)),
    )
    .await;
    let session = wire.session(USER);

    let output = finished(&Collect::new(
        &url_of(&pool),
        &session,
        "run-1",
        &["@alpha"],
    ))
    .await;

    let line = failed(&output, 3);
    assert!(line.contains("collector-job login"), "{line}");
    let events = events(&pool, "run-1").await;
    let end = summary(&events).unwrap();
    assert_eq!(
        (end.aborted, end.reason),
        (true, Some(EndReason::SessionInvalid))
    );
    assert_eq!(wire.dc.served().last().unwrap().method, "updates.getState");
    assert!(stored(&pool, ALPHA).await.is_empty());
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn a_session_revoked_or_forgotten_mid_run_ends_it_and_keeps_what_was_stored(pool: PgPool) {
    // AUTH_KEY_UNREGISTERED, and a key the DC no longer knows: transport error -404 on a live
    // connection (grammers handles a 404 itself only on a new connection's first request).
    let revoked = Outcome::Error {
        code: 401,
        message: "AUTH_KEY_UNREGISTERED".into(),
    };
    for (fault, outcome) in [
        (Fault::Revoke, revoked),
        (Fault::ForgetKey, Outcome::UnknownKey),
    ] {
        truncate(&pool).await;
        let scenario =
            two_channels().fault(FaultRule::new("messages.getHistory", 2, fault).channel(ALPHA));
        let wire = Wire::start(scenario).await;

        let failure = run(&collect(&pool, &wire, "run-1", &["@alpha", "@beta"]))
            .await
            .unwrap_err();

        assert_eq!(failure.exit_code(), 3);
        let end = summary(&events(&pool, "run-1").await).cloned().unwrap();
        assert_eq!(
            (end.reason, end.total_messages),
            (Some(EndReason::SessionInvalid), 100)
        );
        assert_eq!(assert_prefix_stored(&pool, &wire.dc, ALPHA).await, 100);
        assert_eq!(wire.history_requests(ALPHA)[1].outcome, outcome);
        assert!(
            !wire.dc.served().iter().any(|s| s.channel == Some(BETA)),
            "nothing is asked after the session is gone"
        );
    }
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn a_connection_dropped_mid_page_is_retried_without_losing_the_page(pool: PgPool) {
    let (wire, _, outcome) = survives(&pool, Fault::DropConnection).await;

    assert_eq!(outcome, Outcome::Dropped);
    let connections = wire
        .dc
        .served()
        .iter()
        .filter(|s| s.method == "help.getConfig")
        .count();
    assert_eq!(connections, 2, "one reconnection");
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn a_slow_answer_is_waited_for(pool: PgPool) {
    let scenario = two_channels()
        .fault(FaultRule::new("messages.getHistory", 1, Fault::Delay(1_500)).channel(BETA));
    let wire = Wire::start(scenario).await;

    run(&collect(&pool, &wire, "run-1", &["@beta"]))
        .await
        .unwrap();

    assert_stored_as_posted(&pool, &wire.dc, BETA).await;
}

fn resolves(wire: &Wire, account: i64) -> usize {
    wire.dc
        .served()
        .iter()
        .filter(|s| s.method == "contacts.resolveUsername" && s.account == account)
        .count()
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn each_account_caches_and_uses_its_own_access_hash(pool: PgPool) {
    const OTHER: i64 = USER + 1;
    let wire = Wire::start(two_channels().account(Account::new(OTHER))).await;
    let url = url_of(&pool);
    run(&Collect::new(
        &url,
        &wire.session(USER),
        "run-1",
        &["@beta"],
    ))
    .await
    .unwrap();
    wire.dc.post(BETA, 5);

    // Another account never tries the first one's hash: it resolves for itself.
    let other = wire.session(OTHER);
    run(&Collect::new(&url, &other, "run-2", &["@beta"]))
        .await
        .unwrap();
    run(&Collect::new(&url, &other, "run-3", &["@beta"]))
        .await
        .unwrap();

    assert_stored_as_posted(&pool, &wire.dc, BETA).await;
    assert_eq!(summary(&events(&pool, "run-2").await).unwrap().errors, 0);
    assert_eq!((resolves(&wire, USER), resolves(&wire, OTHER)), (1, 1));
    let refused = wire
        .dc
        .served()
        .iter()
        .filter(|s| matches!(&s.outcome, Outcome::Error { message, .. } if message == "CHANNEL_INVALID"))
        .count();
    assert_eq!(refused, 0);
    let scenario = wire.dc.scenario();
    assert_eq!(
        common::access_hashes(&pool, BETA).await,
        vec![
            (USER, scenario.access_hash(BETA, USER).unwrap()),
            (OTHER, scenario.access_hash(BETA, OTHER).unwrap()),
        ]
    );
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn a_hash_cached_before_hashes_were_per_account_is_resolved_again_or_claimed(pool: PgPool) {
    const OTHER: i64 = USER + 1;
    let wire = Wire::start(two_channels().account(Account::new(OTHER))).await;
    let url = url_of(&pool);
    let first = wire.dc.scenario().access_hash(BETA, USER).unwrap();
    // What migration 20261202000002 makes of a hash the first account cached before.
    sqlx::query("INSERT INTO channels (id, username) VALUES ($1, 'beta')")
        .bind(BETA)
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO channel_access_hashes (account_id, channel_id, access_hash) VALUES (0, $1, $2)",
    )
    .bind(BETA)
    .bind(first)
    .execute(&pool)
    .await
    .unwrap();

    // The other account tries it, Telegram refuses it, it resolves at once: no channel error.
    run(&Collect::new(
        &url,
        &wire.session(OTHER),
        "run-1",
        &["@beta"],
    ))
    .await
    .unwrap();
    assert_eq!(summary(&events(&pool, "run-1").await).unwrap().errors, 0);
    let requests = wire.history_requests(BETA);
    assert_eq!(
        requests[0].outcome,
        Outcome::Error {
            code: 400,
            message: "CHANNEL_INVALID".into()
        }
    );
    assert_eq!(resolves(&wire, OTHER), 1);
    assert_stored_as_posted(&pool, &wire.dc, BETA).await;

    // The first account uses it without resolving; it is now known to be its own.
    wire.dc.post(BETA, 5);
    run(&Collect::new(
        &url,
        &wire.session(USER),
        "run-2",
        &["@beta"],
    ))
    .await
    .unwrap();
    assert_eq!(resolves(&wire, USER), 0);
    assert_eq!(
        summary(&events(&pool, "run-2").await)
            .unwrap()
            .total_messages,
        5
    );
    let scenario = wire.dc.scenario();
    assert_eq!(
        common::access_hashes(&pool, BETA).await,
        vec![
            (USER, first),
            (OTHER, scenario.access_hash(BETA, OTHER).unwrap()),
        ],
        "account 0's copy is gone once its account is known"
    );
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn a_numeric_id_is_found_among_the_dialogs(pool: PgPool) {
    let wire = Wire::start(two_channels()).await;

    run(&collect(&pool, &wire, "run-1", &["-1001002", "4242"]))
        .await
        .unwrap();

    assert_stored_as_posted(&pool, &wire.dc, BETA).await;
    let events = events(&pool, "run-1").await;
    let unknown = progress(&events)[1].error.clone().unwrap();
    assert_eq!(unknown.reason, ErrorReason::ChannelInvalid);
    assert!(
        wire.dc
            .served()
            .iter()
            .any(|s| s.method == "messages.getDialogs")
    );
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn limits_bound_a_run_by_count_and_a_first_run_by_age(pool: PgPool) {
    let now = chrono::Utc::now().timestamp();
    // Message n of gamma was sent (250 - n) minutes ago, 30 s off the minute.
    let mut recent = Channel::new(GAMMA, "gamma", 250);
    recent.first_date = now - 249 * 60 - 30;
    let wire = Wire::start(two_channels().channel(recent)).await;

    let count = r#"{"maxMessagesPerChannel": 120}"#;
    run(&collect(&pool, &wire, "run-1", &["@alpha"]).arg("--limits", count))
        .await
        .unwrap();
    assert_eq!(assert_prefix_stored(&pool, &wire.dc, ALPHA).await, 120);

    let age = r#"{"since": "100m"}"#;
    run(&collect(&pool, &wire, "run-2", &["@gamma"]).arg("--limits", age))
        .await
        .unwrap();
    let gamma: Vec<i64> = stored(&pool, GAMMA).await.iter().map(|p| p.id).collect();
    assert_eq!(
        gamma,
        (151..=250).collect::<Vec<_>>(),
        "the last 100 minutes only"
    );
    let first_gamma = wire.history_requests(GAMMA)[0].history.unwrap();
    assert!(
        first_gamma.offset_date > 0,
        "a first run with since asks by date"
    );
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn long_channels_report_progress_with_the_remaining_estimate(pool: PgPool) {
    let scenario = Scenario::new()
        .account(Account::new(USER))
        .channel(Channel::new(ALPHA, "alpha", 1_500))
        // Slow pages, so more than the progress interval (1 s) passes inside the channel.
        .fault(FaultRule::new(
            "messages.getHistory",
            2,
            Fault::Delay(1_100),
        ))
        .fault(FaultRule::new(
            "messages.getHistory",
            5,
            Fault::Delay(1_100),
        ));
    let wire = Wire::start(scenario).await;

    run(&collect(&pool, &wire, "run-1", &["@alpha"]))
        .await
        .unwrap();

    let inside: Vec<_> = events(&pool, "run-1")
        .await
        .into_iter()
        .filter_map(|e| match e {
            AuditEvent::ChannelProgress(p) => Some(p),
            _ => None,
        })
        .collect();
    assert!(!inside.is_empty());
    for report in &inside {
        let remaining = report
            .remaining_estimate
            .expect("Telegram's offset_id_offset");
        assert_eq!(remaining + report.messages_collected, 1_500, "{report:?}");
    }
}

#[test]
fn the_fake_dcs_session_blob_is_one_collector_job_reads() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let wire = runtime.block_on(Wire::start(two_channels()));
    let text = std::fs::read_to_string(wire.session(USER)).unwrap();
    let blob = SessionBlob::decode(&text, "fake.session").unwrap();
    assert_eq!(blob.encode(), text, "the exact format login writes");
    // The session lock's key is the auth key id the DC routes the client's packets by.
    let account = &wire.dc.scenario().accounts[0];
    assert_eq!(
        blob.auth_key_id(),
        Some(fake_dc::crypto::AuthKey::new(account.key()).id())
    );
}

/// A deterministic pseudo-random sequence for the kill points.
fn lcg(seed: u64) -> impl FnMut() -> u64 {
    let mut state = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        state >> 33
    }
}

fn three_channels() -> Scenario {
    Scenario::new()
        .account(Account::new(USER))
        .channel(
            Channel::new(ALPHA, "alpha", 620)
                .service([50, 333])
                .deleted([101, 102, 499]),
        )
        .channel(Channel::new(BETA, "beta", 250))
        .channel(Channel::new(GAMMA, "gamma", 130).service([130]))
}

/// Messages (service messages included) among the ids the DC answered for `channel`.
fn answered_posts(served: &[Served], channel: i64) -> BTreeSet<i64> {
    served
        .iter()
        .filter(|s| s.channel == Some(channel) && matches!(s.outcome, Outcome::Answered { .. }))
        .flat_map(|s| s.ids.iter().copied())
        .map(i64::from)
        .collect()
}

async fn truncate(pool: &PgPool) {
    sqlx::query("TRUNCATE messages, channel_access_hashes, channels, mtproto_audit_log")
        .execute(pool)
        .await
        .unwrap();
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn killed_at_20_seeded_points_and_run_again_no_message_is_lost_or_duplicated(pool: PgPool) {
    let url = url_of(&pool);
    let channels = ["@alpha", "@beta", "@gamma"];
    let total_pages = 7 + 1 + 3 + 1 + 2 + 1;
    for seed in 0..20u64 {
        truncate(&pool).await;
        let mut random = lcg(seed);
        // Most kill points are inside a page fetch; a few while resolving a username.
        let (method, nth) = if seed % 7 == 3 {
            ("contacts.resolveUsername", 1 + random() % 3)
        } else {
            ("messages.getHistory", 1 + random() % total_pages)
        };
        // Even seeds: the request is held and the process killed while it waits (exactly
        // the pages answered before are stored). Odd seeds: killed right after the answer
        // went out, while the page is mapped or stored (either outcome is fine).
        let held = seed % 2 == 0;
        let fault = if held { Fault::Hold } else { Fault::Delay(0) };
        let scenario = three_channels().fault(FaultRule::new(method, nth as u32, fault));
        let wire = Wire::start(scenario).await;
        let session = wire.session(USER);
        let mut child = Collect::new(&url, &session, &format!("kill-{seed}"), &channels).spawn();

        let reached = |served: &[Served]| {
            served
                .iter()
                .filter(|s| s.method == method)
                .nth(nth as usize - 1)
                .is_some_and(|s| {
                    if held {
                        s.outcome == Outcome::Held
                    } else {
                        matches!(s.outcome, Outcome::Answered { .. } | Outcome::Error { .. })
                    }
                })
        };
        tokio::time::timeout(PATIENCE, wire.dc.wait_until(reached))
            .await
            .unwrap_or_else(|_| {
                panic!("seed {seed}: the kill point {method} #{nth} was not reached")
            });
        child.kill().unwrap();
        child.wait().unwrap();

        let served = wire.dc.served();
        for channel in [ALPHA, BETA, GAMMA] {
            assert_prefix_stored(&pool, &wire.dc, channel).await;
            let ids: BTreeSet<i64> = stored(&pool, channel).await.iter().map(|p| p.id).collect();
            let answered = answered_posts(&served, channel);
            assert!(
                ids.is_subset(&answered),
                "seed {seed}: stored what was never sent"
            );
            if held {
                // Pages are stored while the next ones are fetched: at a held request, every
                // answered page is stored but the ones of the last store, whose write may be
                // in flight when the process dies, and the ones fetched beside it (at most
                // PAGES_PER_STATEMENT each).
                let unstored: Vec<i64> = answered.difference(&ids).copied().collect();
                assert!(
                    unstored.len() <= 2 * 100 * PAGES_PER_STATEMENT
                        && unstored.iter().all(|id| ids.iter().all(|s| s < id)),
                    "seed {seed}: answered pages left unstored: {unstored:?}"
                );
            }
        }

        let output = finished(&Collect::new(
            &url,
            &session,
            &format!("rerun-{seed}"),
            &channels,
        ))
        .await;
        assert!(
            output.status.success(),
            "seed {seed}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        for channel in [ALPHA, BETA, GAMMA] {
            assert_stored_as_posted(&pool, &wire.dc, channel).await;
        }
        let end = summary(&events(&pool, &format!("rerun-{seed}")).await)
            .cloned()
            .unwrap();
        assert_eq!((end.channels_synced, end.errors), (3, 0), "seed {seed}");
    }
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn sigterm_mid_channel_writes_an_aborted_end_and_exits_5(pool: PgPool) {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;

    let scenario =
        two_channels().fault(FaultRule::new("messages.getHistory", 3, Fault::Hold).channel(ALPHA));
    let wire = Wire::start(scenario).await;
    let child = collect(&pool, &wire, "run-1", &["@alpha", "@beta"]).spawn();

    tokio::time::timeout(
        PATIENCE,
        wire.dc
            .wait_until(|served| served.iter().any(|s| s.outcome == Outcome::Held)),
    )
    .await
    .expect("alpha's third page is asked for");
    kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).unwrap();
    let output = tokio::time::timeout(
        PATIENCE,
        tokio::task::spawn_blocking(move || child.wait_with_output()),
    )
    .await
    .expect("the collector stops")
    .unwrap()
    .unwrap();

    let line = failed(&output, 5);
    assert!(line.contains("SIGTERM"), "{line}");
    let events = events(&pool, "run-1").await;
    let end = summary(&events).unwrap();
    assert_eq!(
        (
            end.aborted,
            end.reason,
            end.total_messages,
            end.channels_synced
        ),
        (true, Some(EndReason::Terminated), 200, 0)
    );
    assert_eq!(assert_prefix_stored(&pool, &wire.dc, ALPHA).await, 200);
    assert_eq!(checkpoint(&pool, ALPHA).await, Some(202));
}

/// Telegram edits one message and deletes two between runs. The refresh window's re-read
/// finds both: the row holds the new text and the earlier version is kept beside it; the
/// deleted messages are marked, not removed; the run's audit rows count both; a third run
/// that finds nothing new counts nothing and writes nothing.
#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn a_refresh_finds_edits_and_deletions_and_the_archive_keeps_everything(pool: PgPool) {
    let now = chrono::Utc::now().timestamp();
    let mut alpha = Channel::new(ALPHA, "alpha", 250);
    alpha.first_date = now - 250 * 60;
    let wire = Wire::start(Scenario::new().account(Account::new(USER)).channel(alpha)).await;
    let refresh = r#"{"refreshWindow": "1d"}"#;
    let collect_run =
        |run_id: &str| collect(&pool, &wire, run_id, &["@alpha"]).arg("--limits", refresh);

    run(&collect_run("run-1")).await.unwrap();
    let original: String = text_of(&pool, 240).await;
    assert!(original.starts_with("Post 240 of @alpha."), "{original}");

    assert!(wire.dc.edit(ALPHA, 240, "Post 240, corrected", now));
    assert!(wire.dc.delete(ALPHA, &[245, 246]));
    run(&collect_run("run-2")).await.unwrap();

    assert_eq!(text_of(&pool, 240).await, "Post 240, corrected");
    let versions: Vec<(
        String,
        Option<chrono::DateTime<chrono::Utc>>,
        Option<String>,
    )> = sqlx::query_as(
        "SELECT text, edit_date, source FROM message_versions
              WHERE channel_id = $1 AND message_id = 240",
    )
    .bind(ALPHA)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(versions, vec![(original, None, Some("collect".to_owned()))]);
    assert_eq!(deleted(&pool).await, vec![245, 246]);
    assert_eq!(stored(&pool, ALPHA).await.len(), 250, "nothing is removed");
    let run2 = events(&pool, "run-2").await;
    let end = summary(&run2).unwrap();
    assert_eq!((end.edits_found, end.deletions_found), (1, 2), "{end:?}");
    let progress = progress(&run2);
    assert_eq!(
        (progress[0].edits_found, progress[0].deletions_found),
        (1, 2)
    );

    run(&collect_run("run-3")).await.unwrap();
    let end = summary(&events(&pool, "run-3").await).cloned().unwrap();
    assert_eq!((end.edits_found, end.deletions_found), (0, 0));
    let kept: i64 = sqlx::query_scalar("SELECT count(*) FROM message_versions")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(kept, 1, "seeing a message again unchanged keeps no version");
    assert_eq!(deleted(&pool).await, vec![245, 246]);

    // The queries docs/collector.md gives users answer on this archive.
    let [versions_of, as_of, deletions] = documented_queries();
    let texts: Vec<String> = sqlx::query(sqlx::AssertSqlSafe(versions_of))
        .fetch_all(&pool)
        .await
        .unwrap()
        .iter()
        .map(|row| sqlx::Row::get(row, "text"))
        .collect();
    assert_eq!(texts.len(), 2);
    assert_eq!(texts[1], "Post 240, corrected");
    sqlx::query(sqlx::AssertSqlSafe(as_of))
        .fetch_all(&pool)
        .await
        .unwrap();
    let gone: Vec<i64> = sqlx::query(sqlx::AssertSqlSafe(deletions))
        .fetch_all(&pool)
        .await
        .unwrap()
        .iter()
        .map(|row| sqlx::Row::get(row, "message_id"))
        .collect();
    assert_eq!(gone, vec![245, 246]);
}

/// Messages deleted long after they were posted, far outside any refresh window: only the
/// deletion sweep finds them. It re-reads the channel's stored ids by id (`channels.getMessages`,
/// 100 a request) once per `deletionSweep` interval, from the run after the first (a first
/// run has just read everything): the pass marks exactly the deleted ones and counts them,
/// removing nothing; a run before the interval has passed sweeps nothing; once it has, the
/// next pass finds what was deleted since.
#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn the_deletion_sweep_finds_old_messages_deleted_on_the_wire(pool: PgPool) {
    let wire = Wire::start(
        Scenario::new()
            .account(Account::new(USER))
            .channel(Channel::new(ALPHA, "alpha", 250)),
    )
    .await;
    let sweep = r#"{"deletionSweep": "1h"}"#;
    let collect_run =
        |run_id: &str| collect(&pool, &wire, run_id, &["@alpha"]).arg("--limits", sweep);
    let by_id = |wire: &Wire| {
        wire.dc
            .served()
            .iter()
            .filter(|s| s.method == "channels.getMessages")
            .count()
    };
    let deletions_found = async |run_id: &str| {
        summary(&events(&pool, run_id).await)
            .unwrap()
            .deletions_found
    };

    run(&collect_run("run-1")).await.unwrap();
    assert_eq!(by_id(&wire), 0, "a first run has just read every message");

    assert!(wire.dc.delete(ALPHA, &[7, 8, 130]));
    run(&collect_run("run-2")).await.unwrap();
    assert_eq!(by_id(&wire), 3, "250 stored ids, 100 a request");
    assert_eq!(deleted(&pool).await, vec![7, 8, 130]);
    assert_eq!(stored(&pool, ALPHA).await.len(), 250, "nothing is removed");
    assert_eq!(deletions_found("run-2").await, 3);

    assert!(wire.dc.delete(ALPHA, &[201]));
    run(&collect_run("run-3")).await.unwrap();
    assert_eq!(by_id(&wire), 3, "no pass before the interval has passed");
    assert_eq!(deletions_found("run-3").await, 0);

    // An hour on: the last pass ended before it.
    sqlx::query("UPDATE channels SET swept_at = swept_at - interval '61 minutes' WHERE id = $1")
        .bind(ALPHA)
        .execute(&pool)
        .await
        .unwrap();
    run(&collect_run("run-4")).await.unwrap();
    assert_eq!(by_id(&wire), 6);
    assert_eq!(deleted(&pool).await, vec![7, 8, 130, 201]);
    assert_eq!(
        deletions_found("run-4").await,
        1,
        "a deletion is counted once"
    );
}

/// The statements of the SQL example in docs/collector.md's "Versions and deletions".
fn documented_queries() -> [String; 3] {
    let docs = include_str!("../../docs/collector.md");
    let section = docs
        .split_once("## Versions and deletions")
        .expect("the section")
        .1;
    let sql = section
        .split_once("```sql")
        .and_then(|(_, rest)| rest.split_once("```"))
        .expect("an SQL example")
        .0;
    let statements: Vec<String> = sql
        .split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    statements.try_into().expect("three statements")
}

async fn text_of(pool: &PgPool, id: i64) -> String {
    sqlx::query_scalar("SELECT text FROM messages WHERE channel_id = $1 AND message_id = $2")
        .bind(ALPHA)
        .bind(id)
        .fetch_one(pool)
        .await
        .unwrap()
}

async fn deleted(pool: &PgPool) -> Vec<i64> {
    sqlx::query_scalar(
        "SELECT message_id FROM messages
          WHERE channel_id = $1 AND deleted_at IS NOT NULL ORDER BY message_id",
    )
    .bind(ALPHA)
    .fetch_all(pool)
    .await
    .unwrap()
}

/// PostgreSQL restarts while a page is being stored (a restart, a failover): the statement
/// the server cut off is retried with backoff (`COLLECTOR_DATABASE_RETRY_BUDGET`, 60 s by
/// default) and the channel finishes in the same run, every message stored once and no error
/// counted. Before, the channel failed with "terminating connection due to administrator
/// command".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_restart_while_a_page_is_stored_is_retried_and_the_channel_finishes() {
    let cluster = common::cluster::Cluster::start("restart-mid-page");
    let admin = PgPool::connect(&cluster.url()).await.unwrap();
    contract::MIGRATOR.run(&admin).await.unwrap();
    // Holds the first page's statement (it writes messages) until the restart cuts it off.
    let mut blocker = admin.begin().await.unwrap();
    sqlx::query("LOCK TABLE messages IN SHARE MODE")
        .execute(&mut *blocker)
        .await
        .unwrap();
    let wire = Wire::start(
        Scenario::new()
            .account(Account::new(USER))
            .channel(Channel::new(ALPHA, "alpha", 300)),
    )
    .await;
    let collect = common::Collect::new(&cluster.url(), &wire.session(USER), "run-1", &["@alpha"]);
    let running = tokio::spawn(async move { run(&collect).await });

    let probe = PgPool::connect(&cluster.url()).await.unwrap();
    let started = std::time::Instant::now();
    loop {
        assert!(
            started.elapsed() < PATIENCE,
            "the first page never reached the lock"
        );
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity
              WHERE wait_event_type = 'Lock' AND query LIKE '%INSERT INTO messages%'",
        )
        .fetch_one(&probe)
        .await
        .unwrap();
        if waiting > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    probe.close().await;
    let cluster = tokio::task::spawn_blocking(move || {
        cluster.restart();
        cluster
    })
    .await
    .unwrap();
    // Its session ended with the restart.
    drop(blocker);
    admin.close().await;

    running.await.unwrap().expect("the run ends well");
    let pool = PgPool::connect(&cluster.url()).await.unwrap();
    let end = summary(&events(&pool, "run-1").await).cloned().unwrap();
    assert_eq!((end.total_messages, end.errors), (300, 0), "{end:?}");
    assert_eq!(stored(&pool, ALPHA).await.len(), 300);
    assert_eq!(checkpoint(&pool, ALPHA).await, Some(300));
}
