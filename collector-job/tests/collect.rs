//! The collection loop against real PostgreSQL (a fresh migrated database per test) with the
//! scripted fake Telegram: the rows stored and the exact audit trail at fixed instants. The
//! same behaviour over real MTProto, and the process killed and restarted, is in `wire.rs`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use collector_job::app::clock::{Clock, ManualClock};
use collector_job::app::config::Limits;
use collector_job::app::shutdown::{self, Shutdown};
use collector_job::commands::collect::{Run, RunEnd, RunSettings, RunTotals};
use collector_job::store::Store;
use collector_job::store::model::MessageRow;
use collector_job::telegram::fake::{Call, FAKE_ACCOUNT, FakeChannel, FakeTelegram, Step, epoch};
use collector_job::telegram::flood::{FloodNotice, FloodPolicy};
use collector_job::telegram::source::Cursor;
use contract::audit::{
    AuditEvent, AuditWriter, ChannelError, ChannelProgress, CollectionEnd, CollectionProgress,
    CollectionStart, EndReason, ErrorReason, FloodWait, RunIdentity,
};
use contract::channel::ChannelRef;
use sqlx::PgPool;
use tokio::sync::mpsc::UnboundedReceiver;

const ALPHA: i64 = 1_001;
const BETA: i64 = 1_002;

/// The fake Telegram and what a run needs besides it.
struct World {
    telegram: FakeTelegram,
    floods: UnboundedReceiver<FloodNotice>,
    clock: ManualClock,
}

/// Channels `@alpha` (250 messages) and `@beta` (30); flood waits up to 60 s are slept.
fn world() -> World {
    world_with(vec![
        FakeChannel::new(ALPHA, "alpha", 250),
        FakeChannel::new(BETA, "beta", 30),
    ])
}

fn world_with(channels: Vec<FakeChannel>) -> World {
    let clock = ManualClock::at(t(0));
    let (policy, floods) = FloodPolicy::new(Duration::from_secs(60));
    World {
        telegram: FakeTelegram::new(channels, policy, clock.clone()),
        floods,
        clock,
    }
}

/// `epoch()` plus a year and `seconds`: the run happens long after the fake's messages.
fn t(seconds: i64) -> DateTime<Utc> {
    epoch() + chrono::Duration::days(365) + chrono::Duration::seconds(seconds)
}

fn settings(channels: &[&str]) -> RunSettings {
    RunSettings {
        channels: channels
            .iter()
            .map(|c| ((*c).to_owned(), ChannelRef::parse(c).unwrap()))
            .collect(),
        limits: Limits::default(),
        progress_interval: Duration::from_secs(60),
    }
}

fn identity(run_id: &str) -> RunIdentity {
    RunIdentity {
        run_id: run_id.into(),
        namespace: "news".into(),
        name: "daily".into(),
        pod_name: Some(format!("{run_id}-pod")),
        shard: None,
    }
}

async fn run(
    pool: &PgPool,
    world: &mut World,
    settings: &RunSettings,
    run_id: &str,
    shutdown: Shutdown,
) -> RunTotals {
    let store = Store::new(pool.clone());
    let audit = AuditWriter::new(pool.clone(), identity(run_id));
    Run {
        source: &mut world.telegram,
        store: &store,
        audit: &audit,
        clock: &world.clock,
        floods: &mut world.floods,
        shutdown,
        media: None,
    }
    .run(settings)
    .await
    .expect("run writes its audit trail")
}

async fn events(pool: &PgPool, run_id: &str) -> Vec<AuditEvent> {
    contract::audit::read_run(pool, run_id)
        .await
        .unwrap()
        .into_iter()
        .map(|row| {
            assert_eq!(
                row.pod_name.as_deref(),
                Some(format!("{run_id}-pod").as_str())
            );
            row.event.unwrap()
        })
        .collect()
}

/// `(message_id, text)` of a channel, in id order.
async fn stored(pool: &PgPool, channel: i64) -> Vec<(i64, String)> {
    sqlx::query_as(
        "SELECT message_id, text FROM messages WHERE channel_id = $1 ORDER BY message_id",
    )
    .bind(channel)
    .fetch_all(pool)
    .await
    .unwrap()
}

async fn checkpoint(pool: &PgPool, channel: i64) -> i64 {
    sqlx::query_scalar("SELECT checkpoint FROM channels WHERE id = $1")
        .bind(channel)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// The stored ids in order (compared with a range: no gap, no duplicate).
fn ids(rows: &[(i64, String)]) -> Vec<i64> {
    rows.iter().map(|(id, _)| *id).collect()
}

fn start(total_channels: u32, at: i64) -> AuditEvent {
    AuditEvent::Start(CollectionStart {
        total_channels,
        start_time: t(at),
    })
}

fn progress(channel: &str, messages: u64, processed: u32, errors: u32, at: i64) -> AuditEvent {
    AuditEvent::Progress(CollectionProgress {
        edits_found: 0,
        deletions_found: 0,
        media: Default::default(),
        channel_name: channel.into(),
        messages_collected: messages,
        channels_processed: processed,
        total_channels: 2,
        errors,
        progress_time: t(at),
        error: None,
    })
}

fn failed(event: AuditEvent, reason: ErrorReason, message: &str) -> AuditEvent {
    let AuditEvent::Progress(progress) = event else {
        unreachable!()
    };
    AuditEvent::Progress(CollectionProgress {
        edits_found: 0,
        deletions_found: 0,
        media: Default::default(),
        error: Some(ChannelError {
            reason,
            message: message.into(),
        }),
        ..progress
    })
}

fn end(messages: u64, synced: u32, errors: u32, at: i64, reason: Option<EndReason>) -> AuditEvent {
    AuditEvent::End(CollectionEnd {
        edits_found: 0,
        deletions_found: 0,
        media: Default::default(),
        total_messages: messages,
        channels_synced: synced,
        total_channels: 2,
        errors,
        end_time: t(at),
        aborted: reason.is_some(),
        reason,
    })
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn a_full_run_stores_every_message_and_writes_exactly_the_expected_audit_trail(pool: PgPool) {
    let mut world = world();
    let summary = run(
        &pool,
        &mut world,
        &settings(&["@alpha", "https://t.me/beta"]),
        "run-1",
        Shutdown::never(),
    )
    .await;

    assert_eq!(
        summary,
        RunTotals {
            edits_found: 0,
            deletions_found: 0,
            media: Default::default(),
            total_messages: 280,
            channels_synced: 2,
            errors: 0,
            end: RunEnd::Finished
        }
    );
    assert_eq!(
        ids(&stored(&pool, ALPHA).await),
        (1..=250).collect::<Vec<_>>()
    );
    assert_eq!(stored(&pool, BETA).await.len(), 30);
    assert_eq!(stored(&pool, ALPHA).await[0].1, "post 1 of alpha");
    assert_eq!(
        (
            checkpoint(&pool, ALPHA).await,
            checkpoint(&pool, BETA).await
        ),
        (250, 30)
    );
    // Each fetch takes one (fake) second: alpha needs three pages and an empty one, beta one
    // page and an empty one.
    assert_eq!(
        events(&pool, "run-1").await,
        vec![
            start(2, 0),
            progress("@alpha", 250, 1, 0, 4),
            progress("https://t.me/beta", 30, 2, 0, 6),
            end(280, 2, 0, 6, None),
        ]
    );
    // Telegram was asked for pages of 100 just above each checkpoint.
    let alpha_fetches: Vec<_> = world
        .telegram
        .calls
        .iter()
        .filter_map(|call| match call {
            Call::Fetch {
                channel_id: ALPHA,
                cursor,
                limit,
            } => Some((*cursor, *limit)),
            _ => None,
        })
        .collect();
    assert_eq!(
        alpha_fetches,
        vec![
            (Cursor::After(0), 100),
            (Cursor::After(100), 100),
            (Cursor::After(200), 100),
            (Cursor::After(250), 100)
        ]
    );
    let (username, account, hash): (String, i64, i64) = sqlx::query_as(
        "SELECT username, account_id, h.access_hash
           FROM channels c JOIN channel_access_hashes h ON h.channel_id = c.id
          WHERE c.id = $1",
    )
    .bind(ALPHA)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        (username.as_str(), account, hash),
        ("alpha", FAKE_ACCOUNT, ALPHA * 7 + 1),
        "the hash is cached under the session's account"
    );
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn a_second_run_fetches_only_newer_messages_without_resolving_again(pool: PgPool) {
    let mut world = world();
    let channels = settings(&["@alpha", "@beta"]);
    run(&pool, &mut world, &channels, "run-1", Shutdown::never()).await;
    world.telegram.channel_mut(ALPHA).post(20);
    world.telegram.calls.clear();
    world.clock.advance(chrono::Duration::seconds(94));

    let summary = run(&pool, &mut world, &channels, "run-2", Shutdown::never()).await;

    assert_eq!(summary.total_messages, 20);
    assert_eq!(
        ids(&stored(&pool, ALPHA).await),
        (1..=270).collect::<Vec<_>>()
    );
    assert_eq!(stored(&pool, BETA).await.len(), 30);
    assert!(
        !world
            .telegram
            .calls
            .iter()
            .any(|call| matches!(call, Call::Resolve(_))),
        "cached channels are not resolved again: {:?}",
        world.telegram.calls
    );
    assert!(world.telegram.calls.contains(&Call::Fetch {
        channel_id: ALPHA,
        cursor: Cursor::After(250),
        limit: 100
    }));
    assert_eq!(
        events(&pool, "run-2").await,
        vec![
            start(2, 100),
            progress("@alpha", 20, 1, 0, 102),
            progress("@beta", 0, 2, 0, 103),
            end(20, 2, 0, 103, None),
        ]
    );
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn edited_messages_update_in_place(pool: PgPool) {
    let store = Store::new(pool.clone());
    let channel = store
        .remember_channel(
            &collector_job::store::model::ResolvedChannel {
                id: ALPHA,
                access_hash: Some(1),
                username: Some("alpha".into()),
                title: Some("Alpha".into()),
            },
            FAKE_ACCOUNT,
            t(0),
        )
        .await
        .unwrap();
    let rows: Vec<_> = (1..=3)
        .map(|id| MessageRow::text(id, epoch(), format!("first {id}")))
        .collect();
    store.store_batch(channel.id, &rows, 3, t(0)).await.unwrap();

    let mut edited = MessageRow::text(2, epoch(), "second version");
    edited.edit_date = Some(epoch() + chrono::Duration::minutes(5));
    edited.views = Some(10);
    let checkpoint_after = store
        .store_batch(channel.id, &[edited], 2, t(1))
        .await
        .unwrap()
        .checkpoint;

    assert_eq!(
        checkpoint_after, 3,
        "an older page never moves the checkpoint back"
    );
    assert_eq!(
        stored(&pool, ALPHA).await,
        vec![
            (1, "first 1".into()),
            (2, "second version".into()),
            (3, "first 3".into())
        ]
    );
    let (edit_date, views): (Option<DateTime<Utc>>, Option<i32>) =
        sqlx::query_as("SELECT edit_date, views FROM messages WHERE message_id = 2")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(
        (edit_date, views),
        (Some(epoch() + chrono::Duration::minutes(5)), Some(10))
    );
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn a_flood_wait_under_the_threshold_is_slept_through_and_recorded(pool: PgPool) {
    let mut world = world();
    world.telegram = world.telegram.on_fetch(ALPHA, 2, Step::FloodWait(30));

    let summary = run(
        &pool,
        &mut world,
        &settings(&["@alpha", "@beta"]),
        "run-1",
        Shutdown::never(),
    )
    .await;

    assert_eq!(
        summary,
        RunTotals {
            edits_found: 0,
            deletions_found: 0,
            media: Default::default(),
            total_messages: 280,
            channels_synced: 2,
            errors: 0,
            end: RunEnd::Finished
        }
    );
    assert_eq!(
        ids(&stored(&pool, ALPHA).await),
        (1..=250).collect::<Vec<_>>()
    );
    assert_eq!(
        events(&pool, "run-1").await,
        vec![
            start(2, 0),
            AuditEvent::FloodWait(FloodWait {
                channel_name: "@alpha".into(),
                seconds: 30,
                until: t(31)
            }),
            progress("@alpha", 250, 1, 0, 34),
            progress("@beta", 30, 2, 0, 36),
            end(280, 2, 0, 36, None),
        ]
    );
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn a_flood_wait_over_the_threshold_fails_only_that_channel(pool: PgPool) {
    let mut world = world();
    world.telegram = world.telegram.on_fetch(ALPHA, 2, Step::FloodWait(3600));
    let channels = settings(&["@alpha", "@beta"]);

    let summary = run(&pool, &mut world, &channels, "run-1", Shutdown::never()).await;

    assert_eq!(
        summary,
        RunTotals {
            edits_found: 0,
            deletions_found: 0,
            media: Default::default(),
            total_messages: 130,
            channels_synced: 1,
            errors: 1,
            end: RunEnd::Finished
        }
    );
    assert_eq!(
        events(&pool, "run-1").await,
        vec![
            start(2, 0),
            failed(
                progress("@alpha", 100, 1, 1, 1),
                ErrorReason::FloodWait,
                "Telegram asked to wait 3600s (FLOOD_WAIT), above the 60s threshold"
            ),
            progress("@beta", 30, 2, 1, 3),
            end(130, 1, 1, 3, None),
        ]
    );
    // The next run picks alpha up where the first page left it.
    run(&pool, &mut world, &channels, "run-2", Shutdown::never()).await;
    assert_eq!(
        ids(&stored(&pool, ALPHA).await),
        (1..=250).collect::<Vec<_>>()
    );
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn private_and_unknown_channels_are_channel_errors_and_the_run_goes_on(pool: PgPool) {
    let mut secret = FakeChannel::new(1_003, "secret", 5);
    secret.private = true;
    let mut world = world_with(vec![secret, FakeChannel::new(BETA, "beta", 30)]);
    let channels = settings(&["@secret", "@nobody", "@beta"]);

    let summary = run(&pool, &mut world, &channels, "run-1", Shutdown::never()).await;

    assert_eq!(
        summary,
        RunTotals {
            edits_found: 0,
            deletions_found: 0,
            media: Default::default(),
            total_messages: 30,
            channels_synced: 1,
            errors: 2,
            end: RunEnd::Finished
        }
    );
    let with_three = |event| match event {
        AuditEvent::Progress(p) => AuditEvent::Progress(CollectionProgress {
            edits_found: 0,
            deletions_found: 0,
            media: Default::default(),
            total_channels: 3,
            ..p
        }),
        AuditEvent::Start(s) => AuditEvent::Start(CollectionStart {
            total_channels: 3,
            ..s
        }),
        AuditEvent::End(e) => AuditEvent::End(CollectionEnd {
            edits_found: 0,
            deletions_found: 0,
            media: Default::default(),
            total_channels: 3,
            ..e
        }),
        other => other,
    };
    assert_eq!(
        events(&pool, "run-1").await,
        [
            start(3, 0),
            failed(
                progress("@secret", 0, 1, 1, 1),
                ErrorReason::ChannelPrivate,
                "Telegram error 400 CHANNEL_PRIVATE"
            ),
            failed(
                progress("@nobody", 0, 2, 2, 1),
                ErrorReason::UsernameNotFound,
                "Telegram error 400 USERNAME_NOT_OCCUPIED"
            ),
            progress("@beta", 30, 3, 2, 3),
            end(30, 1, 2, 3, None),
        ]
        .map(with_three)
    );
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn a_revoked_session_ends_the_run_at_once(pool: PgPool) {
    let mut world = world();
    world.telegram = world
        .telegram
        .on_fetch(ALPHA, 2, Step::error(401, "SESSION_REVOKED"));

    let summary = run(
        &pool,
        &mut world,
        &settings(&["@alpha", "@beta"]),
        "run-1",
        Shutdown::never(),
    )
    .await;

    assert_eq!(
        summary,
        RunTotals {
            edits_found: 0,
            deletions_found: 0,
            media: Default::default(),
            total_messages: 100,
            channels_synced: 0,
            errors: 0,
            end: RunEnd::SessionInvalid
        }
    );
    assert_eq!(
        events(&pool, "run-1").await,
        vec![
            start(2, 0),
            end(100, 0, 0, 1, Some(EndReason::SessionInvalid))
        ]
    );
    assert!(
        !world
            .telegram
            .calls
            .iter()
            .any(|c| matches!(c, Call::Resolve(ChannelRef::Username(u)) if u == "beta")),
        "nothing is tried after the session is revoked"
    );
    assert_eq!(
        stored(&pool, ALPHA).await.len(),
        100,
        "what was stored stays"
    );
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn a_session_that_is_not_authorised_at_start_ends_the_run_before_any_channel(pool: PgPool) {
    let mut world = world();
    world.telegram = world
        .telegram
        .on_check_session(Step::error(401, "AUTH_KEY_UNREGISTERED"));

    let summary = run(
        &pool,
        &mut world,
        &settings(&["@alpha", "@beta"]),
        "run-1",
        Shutdown::never(),
    )
    .await;

    assert_eq!(summary.end, RunEnd::SessionInvalid);
    assert_eq!(world.telegram.calls, vec![Call::CheckSession]);
    assert_eq!(
        events(&pool, "run-1").await,
        vec![
            start(2, 0),
            end(0, 0, 0, 0, Some(EndReason::SessionInvalid))
        ]
    );
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn sigterm_finishes_the_current_batch_then_ends_the_run_aborted(pool: PgPool) {
    let (trigger, stop) = shutdown::channel();
    let mut world = world();
    // The stop arrives while alpha's second page is being fetched.
    world.telegram = world.telegram.on_fetch(ALPHA, 2, Step::Stop(trigger));

    let summary = run(
        &pool,
        &mut world,
        &settings(&["@alpha", "@beta"]),
        "run-1",
        stop,
    )
    .await;

    assert_eq!(
        summary,
        RunTotals {
            edits_found: 0,
            deletions_found: 0,
            media: Default::default(),
            total_messages: 200,
            channels_synced: 0,
            errors: 0,
            end: RunEnd::Terminated
        }
    );
    assert_eq!(
        ids(&stored(&pool, ALPHA).await),
        (1..=200).collect::<Vec<_>>()
    );
    assert_eq!(checkpoint(&pool, ALPHA).await, 200);
    assert_eq!(
        events(&pool, "run-1").await,
        vec![start(2, 0), end(200, 0, 0, 2, Some(EndReason::Terminated))]
    );
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn sigterm_during_a_pending_request_abandons_the_request(pool: PgPool) {
    let (trigger, stop) = shutdown::channel();
    let mut world = world();
    world.telegram = world.telegram.on_fetch(ALPHA, 2, Step::Hang);
    let reached = world.telegram.reached.clone();
    tokio::spawn(async move {
        reached.notified().await;
        trigger.trigger();
    });

    let summary = run(
        &pool,
        &mut world,
        &settings(&["@alpha", "@beta"]),
        "run-1",
        stop,
    )
    .await;

    assert_eq!(summary.end, RunEnd::Terminated);
    assert_eq!(summary.total_messages, 100);
    assert_eq!(
        events(&pool, "run-1").await,
        vec![start(2, 0), end(100, 0, 0, 1, Some(EndReason::Terminated))]
    );
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn long_channels_report_progress_at_most_every_interval(pool: PgPool) {
    let mut world = world_with(vec![FakeChannel::new(ALPHA, "alpha", 750)]);
    world.telegram = world.telegram.fetch_takes(chrono::Duration::seconds(2));
    let mut channels = settings(&["@alpha"]);
    channels.progress_interval = Duration::from_secs(5);

    run(&pool, &mut world, &channels, "run-1", Shutdown::never()).await;

    let inside: Vec<_> = events(&pool, "run-1")
        .await
        .into_iter()
        .filter_map(|e| match e {
            AuditEvent::ChannelProgress(p) => Some(p),
            _ => None,
        })
        .collect();
    // Fetches end at 2, 4, 6, ... s. What was fetched is stored while the next pages are
    // fetched, and fetching goes on while the store is busy (the fake answers at once, so for
    // five pages): page 1 is stored beside fetches 2-6 (done at 12 s), pages 2-6 beside
    // fetches 7-9 (the ninth finds nothing, 18 s), pages 7-8 then. Reports at 12 s (100
    // stored) and 18 s (600); the last store comes within the interval of that one.
    let report = |messages, remaining, at| ChannelProgress {
        channel_name: "@alpha".into(),
        messages_collected: messages,
        remaining_estimate: Some(remaining),
        progress_time: t(at),
    };
    assert_eq!(inside, vec![report(100, 650, 12), report(600, 150, 18)]);
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn max_messages_per_channel_bounds_each_run_and_the_next_run_continues(pool: PgPool) {
    let mut world = world_with(vec![FakeChannel::new(ALPHA, "alpha", 250)]);
    let mut channels = settings(&["@alpha"]);
    channels.limits.max_messages_per_channel = Some(120);

    let first = run(&pool, &mut world, &channels, "run-1", Shutdown::never()).await;
    assert_eq!(first.total_messages, 120);
    assert_eq!(
        ids(&stored(&pool, ALPHA).await),
        (1..=120).collect::<Vec<_>>()
    );
    assert!(world.telegram.calls.contains(&Call::Fetch {
        channel_id: ALPHA,
        cursor: Cursor::After(100),
        limit: 20
    }));

    let second = run(&pool, &mut world, &channels, "run-2", Shutdown::never()).await;
    assert_eq!(second.total_messages, 120);
    assert_eq!(
        ids(&stored(&pool, ALPHA).await),
        (1..=240).collect::<Vec<_>>()
    );
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn since_bounds_only_the_first_run(pool: PgPool) {
    // Message n was sent n minutes after the epoch; the run happens 300 minutes after it.
    let mut world = world_with(vec![FakeChannel::new(ALPHA, "alpha", 250)]);
    world.clock = ManualClock::at(epoch() + chrono::Duration::minutes(300));
    let (policy, floods) = FloodPolicy::new(Duration::from_secs(60));
    world.floods = floods;
    world.telegram =
        FakeTelegram::new(world.telegram.channels.clone(), policy, world.clock.clone());
    let mut channels = settings(&["@alpha"]);
    channels.limits.since = Some(Duration::from_secs(100 * 60));

    let first = run(&pool, &mut world, &channels, "run-1", Shutdown::never()).await;
    assert_eq!(
        first.total_messages, 51,
        "messages 200..=250 are at most 100 minutes old"
    );
    assert_eq!(
        ids(&stored(&pool, ALPHA).await),
        (200..=250).collect::<Vec<_>>()
    );
    let cutoff = epoch() + chrono::Duration::minutes(200);
    assert_eq!(
        world
            .telegram
            .calls
            .iter()
            .find(|c| matches!(c, Call::Fetch { .. })),
        Some(&Call::Fetch {
            channel_id: ALPHA,
            cursor: Cursor::Since(cutoff),
            limit: 100
        })
    );

    world.telegram.channel_mut(ALPHA).post(5);
    world.clock.advance(chrono::Duration::days(30));
    let second = run(&pool, &mut world, &channels, "run-2", Shutdown::never()).await;
    assert_eq!(
        second.total_messages, 5,
        "later runs continue from the checkpoint"
    );
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn service_messages_are_stored_with_their_action_and_move_the_checkpoint(pool: PgPool) {
    let mut alpha = FakeChannel::new(ALPHA, "alpha", 3);
    alpha.service_ids = (4..=150).collect();
    let mut world = world_with(vec![alpha]);
    world.telegram.channel_mut(ALPHA).post(2);

    let summary = run(
        &pool,
        &mut world,
        &settings(&["@alpha"]),
        "run-1",
        Shutdown::never(),
    )
    .await;

    assert_eq!(summary.total_messages, 152);
    assert_eq!(
        ids(&stored(&pool, ALPHA).await),
        (1..=152).collect::<Vec<_>>()
    );
    let pins: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM messages WHERE channel_id = $1 AND action = 'pin_message'",
    )
    .bind(ALPHA)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(pins, 147);
    assert_eq!(checkpoint(&pool, ALPHA).await, 152);
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn numeric_ids_use_the_cached_access_hash_and_unknown_ids_fail_clearly(pool: PgPool) {
    let mut world = world();
    run(
        &pool,
        &mut world,
        &settings(&["@alpha"]),
        "run-1",
        Shutdown::never(),
    )
    .await;
    world.telegram.channel_mut(ALPHA).post(1);

    let by_id = settings(&["-1001001", "4242"]);
    let summary = run(&pool, &mut world, &by_id, "run-2", Shutdown::never()).await;

    assert_eq!(
        summary,
        RunTotals {
            edits_found: 0,
            deletions_found: 0,
            media: Default::default(),
            total_messages: 1,
            channels_synced: 1,
            errors: 1,
            end: RunEnd::Finished
        }
    );
    let events = events(&pool, "run-2").await;
    let AuditEvent::Progress(unknown) = &events[2] else {
        panic!("{events:?}")
    };
    assert_eq!(
        unknown.error.as_ref().unwrap().reason,
        ErrorReason::ChannelInvalid
    );
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn a_flood_wait_during_the_session_check_names_no_channel(pool: PgPool) {
    let mut world = world();
    world.telegram = world.telegram.on_check_session(Step::FloodWait(5));

    run(
        &pool,
        &mut world,
        &settings(&["@alpha", "@beta"]),
        "run-1",
        Shutdown::never(),
    )
    .await;

    let events = events(&pool, "run-1").await;
    assert_eq!(
        events[1],
        AuditEvent::FloodWait(FloodWait {
            channel_name: String::new(),
            seconds: 5,
            until: t(5)
        })
    );
    assert!(matches!(events.last(), Some(AuditEvent::End(e)) if e.total_messages == 280));
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn a_refused_cached_access_hash_is_dropped_and_resolved_again_at_once(pool: PgPool) {
    let mut world = world_with(vec![FakeChannel::new(ALPHA, "alpha", 10)]);
    let channels = settings(&["@alpha"]);
    run(&pool, &mut world, &channels, "run-1", Shutdown::never()).await;
    world.telegram.channel_mut(ALPHA).access_hash = 999;
    world.telegram.channel_mut(ALPHA).post(5);
    world.telegram.calls.clear();

    let again = run(&pool, &mut world, &channels, "run-2", Shutdown::never()).await;

    assert_eq!(
        again,
        RunTotals {
            edits_found: 0,
            deletions_found: 0,
            media: Default::default(),
            total_messages: 5,
            channels_synced: 1,
            errors: 0,
            end: RunEnd::Finished
        }
    );
    let fetch = |cursor| Call::Fetch {
        channel_id: ALPHA,
        cursor,
        limit: 100,
    };
    assert_eq!(
        world.telegram.calls,
        vec![
            Call::CheckSession,
            fetch(Cursor::After(10)),
            Call::Resolve(ChannelRef::Username("alpha".into())),
            fetch(Cursor::After(10)),
            fetch(Cursor::After(15)),
        ],
        "refused once, resolved once, then collected with the new hash"
    );
    assert_eq!(
        ids(&stored(&pool, ALPHA).await),
        (1..=15).collect::<Vec<_>>()
    );
    let hashes: Vec<(i64, i64)> =
        sqlx::query_as("SELECT account_id, access_hash FROM channel_access_hashes")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(hashes, vec![(FAKE_ACCOUNT, 999)]);
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn a_hash_refused_again_after_resolving_fails_only_that_channel(pool: PgPool) {
    // Telegram answers CHANNEL_INVALID to every history request: resolved once, not looped.
    let mut world = world_with(vec![
        FakeChannel::new(ALPHA, "alpha", 10),
        FakeChannel::new(BETA, "beta", 3),
    ]);
    run(
        &pool,
        &mut world,
        &settings(&["@alpha"]),
        "run-1",
        Shutdown::never(),
    )
    .await;
    world.telegram.calls.clear();
    // Run 1 fetched alpha twice (a page and an empty one): run 2's are its 3rd and 4th.
    for nth in 3..=4 {
        world.telegram = world
            .telegram
            .on_fetch(ALPHA, nth, Step::error(400, "CHANNEL_INVALID"));
    }

    let summary = run(
        &pool,
        &mut world,
        &settings(&["@alpha", "@beta"]),
        "run-2",
        Shutdown::never(),
    )
    .await;

    assert_eq!((summary.errors, summary.channels_synced), (1, 1));
    let resolves = world
        .telegram
        .calls
        .iter()
        .filter(|c| matches!(c, Call::Resolve(ChannelRef::Username(name)) if name == "alpha"))
        .count();
    assert_eq!(resolves, 1);
    let events = events(&pool, "run-2").await;
    let AuditEvent::Progress(alpha) = &events[1] else {
        panic!("{events:?}")
    };
    assert_eq!(
        alpha.error.as_ref().map(|e| e.reason),
        Some(ErrorReason::ChannelInvalid)
    );
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn a_hash_cached_before_hashes_were_per_account_is_tried_then_claimed(pool: PgPool) {
    let mut world = world_with(vec![
        FakeChannel::new(ALPHA, "alpha", 10),
        FakeChannel::new(BETA, "beta", 3),
    ]);
    // What migration 20261202000002 leaves: alpha's hash is this account's, beta's another's.
    for (id, username, hash) in [(ALPHA, "alpha", ALPHA * 7 + 1), (BETA, "beta", 4242)] {
        sqlx::query("INSERT INTO channels (id, username) VALUES ($1, $2)")
            .bind(id)
            .bind(username)
            .execute(&pool)
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO channel_access_hashes (account_id, channel_id, access_hash)
             VALUES (0, $1, $2)",
        )
        .bind(id)
        .bind(hash)
        .execute(&pool)
        .await
        .unwrap();
    }

    let summary = run(
        &pool,
        &mut world,
        &settings(&["@alpha", "@beta"]),
        "run-1",
        Shutdown::never(),
    )
    .await;

    assert_eq!((summary.errors, summary.total_messages), (0, 13));
    assert_eq!(
        world
            .telegram
            .calls
            .iter()
            .filter(|c| matches!(c, Call::Resolve(_)))
            .collect::<Vec<_>>(),
        vec![&Call::Resolve(ChannelRef::Username("beta".into()))],
        "alpha's old hash worked; beta's was another account's"
    );
    let hashes: Vec<(i64, i64, i64)> = sqlx::query_as(
        "SELECT account_id, channel_id, access_hash FROM channel_access_hashes ORDER BY 1, 2",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        hashes,
        vec![
            (0, BETA, 4242),
            (FAKE_ACCOUNT, ALPHA, ALPHA * 7 + 1),
            (FAKE_ACCOUNT, BETA, BETA * 7 + 1),
        ],
        "alpha's claimed by the account; beta's unknown one kept for whoever it belongs to"
    );
}

// ---- Regression tests: storage failures and merging, from the collect side. ----

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn a_nul_character_in_a_collected_message_does_not_fail_the_channel(pool: PgPool) {
    let mut alpha = FakeChannel::new(ALPHA, "alpha", 3);
    alpha.messages[1].text = "nul\u{0}here".into();
    alpha.messages[1].post_author = Some("Ed\u{0}".into());
    alpha.messages[1].media = Some(collector_job::store::model::Media {
        kind: "webpage".into(),
        metadata: serde_json::json!({"title": "t\u{0}", "nested": ["\u{0}"]}),
    });
    alpha.messages[1].forward = Some(serde_json::json!({"from_name": "\u{0}x"}));
    let mut world = world_with(vec![alpha]);

    let summary = run(
        &pool,
        &mut world,
        &settings(&["@alpha"]),
        "run-1",
        Shutdown::never(),
    )
    .await;

    assert_eq!((summary.total_messages, summary.errors), (3, 0));
    assert_eq!(stored(&pool, ALPHA).await[1].1, "nul\u{FFFD}here");
    let (media, forward): (serde_json::Value, serde_json::Value) =
        sqlx::query_as("SELECT media, forward FROM messages WHERE message_id = 2")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(
        media,
        serde_json::json!({"title": "t\u{FFFD}", "nested": ["\u{FFFD}"]})
    );
    assert_eq!(forward, serde_json::json!({"from_name": "\u{FFFD}x"}));
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn a_page_the_database_refuses_fails_only_that_channel_with_postgres_reason(pool: PgPool) {
    sqlx::query("ALTER TABLE messages ADD CONSTRAINT no_spam CHECK (text <> 'spam')")
        .execute(&pool)
        .await
        .unwrap();
    let mut alpha = FakeChannel::new(ALPHA, "alpha", 3);
    alpha.messages[1].text = "spam".into();
    let mut world = world_with(vec![alpha, FakeChannel::new(BETA, "beta", 30)]);

    let summary = run(
        &pool,
        &mut world,
        &settings(&["@alpha", "@beta"]),
        "run-1",
        Shutdown::never(),
    )
    .await;

    assert_eq!((summary.channels_synced, summary.errors), (1, 1));
    assert_eq!(stored(&pool, BETA).await.len(), 30, "the run goes on");
    let events = events(&pool, "run-1").await;
    let AuditEvent::Progress(alpha) = &events[1] else {
        panic!("{events:?}")
    };
    let error = alpha.error.as_ref().expect("alpha failed");
    assert_eq!(error.reason, ErrorReason::Storage);
    assert!(
        error
            .message
            .contains("violates check constraint \"no_spam\""),
        "{}",
        error.message
    );
    assert!(!error.message.contains("unreachable"), "{}", error.message);
    assert!(!error.message.contains(" at line "), "{}", error.message);
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn collecting_over_imported_rows_keeps_what_only_the_export_knew(pool: PgPool) {
    // The export (channel 1001, messages 2..=5) is imported first, as a user migrating an archive.
    let url = {
        let options = pool.connect_options();
        format!(
            "postgres://{}@{}:{}/{}",
            options.get_username(),
            options.get_host(),
            options.get_port(),
            options.get_database().unwrap()
        )
    };
    let fixture = format!(
        "{}/tests/fixtures/channel_result.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_collector-job"))
        .args(["import", &fixture, "--run-id", "import-1"])
        .env("DATABASE_URL", &url)
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // Then the channel is collected, re-reading its recent messages (which are below the
    // checkpoint the import set): Telegram reports views, no signature and no reactions (as
    // for a post whose reactions the fake does not model), and message 4 unedited.
    let mut alpha = FakeChannel::new(1001, "alpha", 5);
    for message in &mut alpha.messages {
        message.views = Some(100 * message.id as i32);
    }
    let mut world = world_with(vec![alpha]);
    let mut channels = settings(&["@alpha"]);
    channels.limits.refresh_window = Some(Duration::from_secs(400 * 86_400));

    run(&pool, &mut world, &channels, "run-1", Shutdown::never()).await;

    let (text, author, views, reactions): (
        String,
        Option<String>,
        Option<i32>,
        Option<serde_json::Value>,
    ) = sqlx::query_as(
        "SELECT text, post_author, views, reactions FROM messages
              WHERE channel_id = 1001 AND message_id = 2",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(views, Some(200), "the collected counter is added");
    assert_eq!(
        author.as_deref(),
        Some("Editor"),
        "the export's signature stays"
    );
    assert!(reactions.is_some(), "the export's reactions stay");
    assert_eq!(
        text, "post 2 of alpha",
        "the same edit, seen live, is fresher"
    );
    let (text, edit_date): (String, Option<DateTime<Utc>>) = sqlx::query_as(
        "SELECT text, edit_date FROM messages WHERE channel_id = 1001 AND message_id = 4",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        (text.as_str(), edit_date),
        ("Forwarded news", DateTime::from_timestamp(1_762_072_200, 0)),
        "an edit is never reverted by an older version"
    );
}

/// A world whose clock stands `minutes` after the fake's first message.
fn world_at(channels: Vec<FakeChannel>, minutes: i64) -> World {
    let clock = ManualClock::at(epoch() + chrono::Duration::minutes(minutes));
    let (policy, floods) = FloodPolicy::new(Duration::from_secs(60));
    World {
        telegram: FakeTelegram::new(channels, policy, clock.clone()),
        floods,
        clock,
    }
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn a_refresh_window_rereads_recent_messages_and_merges_their_counters_and_edits(
    pool: PgPool,
) {
    // Message n was sent n minutes after the epoch; the runs happen at minute 300.
    let mut world = world_at(vec![FakeChannel::new(ALPHA, "alpha", 250)], 300);
    let mut channels = settings(&["@alpha"]);
    run(&pool, &mut world, &channels, "run-1", Shutdown::never()).await;

    // Since then: the last posts gained views, one was edited, an old one changed too, and
    // three were posted.
    let alpha = world.telegram.channel_mut(ALPHA);
    alpha.post(3);
    for message in &mut alpha.messages {
        message.views = Some(1000 + message.id as i32);
    }
    alpha.messages[244].text = "post 245, corrected".into();
    alpha.messages[244].edit_date = Some(epoch() + chrono::Duration::minutes(290));
    world.telegram.calls.clear();
    world.clock.advance(chrono::Duration::minutes(1));
    channels.limits.refresh_window = Some(Duration::from_secs(100 * 60));
    let cutoff = world.clock.now() - chrono::Duration::minutes(100);

    let summary = run(&pool, &mut world, &channels, "run-2", Shutdown::never()).await;

    assert_eq!(
        summary.total_messages, 3,
        "refreshed messages are not new ones"
    );
    let views: Vec<(i64, Option<i32>)> = sqlx::query_as(
        "SELECT message_id, views FROM messages WHERE channel_id = $1 AND message_id IN (150, 202, 250, 253)
          ORDER BY 1",
    )
    .bind(ALPHA)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        views,
        vec![
            (150, None),
            (202, Some(1202)),
            (250, Some(1250)),
            (253, Some(1253))
        ],
        "messages sent in the last 100 minutes are refreshed, older ones not"
    );
    assert_eq!(stored(&pool, ALPHA).await[244].1, "post 245, corrected");
    assert_eq!(checkpoint(&pool, ALPHA).await, 253);
    // One page covers the window, then the usual fetch of new messages.
    let fetches: Vec<Cursor> = world
        .telegram
        .calls
        .iter()
        .filter_map(|call| match call {
            Call::Fetch { cursor, .. } => Some(*cursor),
            _ => None,
        })
        .collect();
    assert_eq!(
        fetches,
        vec![
            Cursor::Since(cutoff),
            Cursor::After(250),
            Cursor::After(253)
        ]
    );

    // The counters they had before are kept, once per change.
    world.clock.advance(chrono::Duration::minutes(1));
    let run_3 = world.clock.now();
    run(&pool, &mut world, &channels, "run-3", Shutdown::never()).await;
    let history: Vec<(i64, Option<i32>)> = sqlx::query_as(
        "SELECT message_id, views FROM message_stats WHERE channel_id = $1 ORDER BY 1",
    )
    .bind(ALPHA)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(
        history.is_empty(),
        "first views are not a change: {history:?}"
    );
    world
        .telegram
        .channel_mut(ALPHA)
        .messages
        .iter_mut()
        .for_each(|m| m.views = m.views.map(|v| v + 1));
    world.clock.advance(chrono::Duration::minutes(1));
    run(&pool, &mut world, &channels, "run-4", Shutdown::never()).await;
    let history: Vec<(i64, DateTime<Utc>, Option<i32>)> = sqlx::query_as(
        "SELECT message_id, observed_at, views FROM message_stats
          WHERE channel_id = $1 AND message_id IN (150, 210, 253) ORDER BY 1",
    )
    .bind(ALPHA)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        history
            .iter()
            .map(|(id, _, views)| (*id, *views))
            .collect::<Vec<_>>(),
        vec![(210, Some(1210)), (253, Some(1253))],
        "the values run 3 saw, replaced by run 4's; message 150 is outside the window"
    );
    // Run 3 saw them unchanged and wrote nothing: they are kept as of when first seen.
    assert!(
        history.iter().all(|(_, seen, _)| *seen <= run_3),
        "{history:?}"
    );
}

/// `(message_id, deleted_at is set)` of a channel, in id order.
async fn deletion_marks(pool: &PgPool, channel: i64) -> Vec<i64> {
    sqlx::query_scalar(
        "SELECT message_id FROM messages WHERE channel_id = $1 AND deleted_at IS NOT NULL
          ORDER BY message_id",
    )
    .bind(channel)
    .fetch_all(pool)
    .await
    .unwrap()
}

fn sweeps(world: &World) -> Vec<Vec<i64>> {
    world
        .telegram
        .calls
        .iter()
        .filter_map(|call| match call {
            Call::FetchById { ids, .. } => Some(ids.clone()),
            _ => None,
        })
        .collect()
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn a_deletion_sweep_marks_what_telegram_no_longer_has_once_per_interval(pool: PgPool) {
    let mut world = world_with(vec![FakeChannel::new(ALPHA, "alpha", 250)]);
    let mut settings = settings(&["@alpha"]);
    settings.limits.deletion_sweep = Some(Duration::from_secs(7 * 86_400));
    run(&pool, &mut world, &settings, "run-1", Shutdown::never()).await;
    assert!(
        sweeps(&world).is_empty(),
        "a first run has nothing stored to sweep"
    );

    // Deleted long ago, far outside any refresh window.
    world
        .telegram
        .channel_mut(ALPHA)
        .messages
        .retain(|m| ![10, 20, 150].contains(&m.id));
    let summary = run(&pool, &mut world, &settings, "run-2", Shutdown::never()).await;
    assert_eq!(summary.deletions_found, 3);
    assert_eq!(deletion_marks(&pool, ALPHA).await, [10, 20, 150]);
    let swept = sweeps(&world);
    assert_eq!(swept.len(), 3, "250 stored ids, 100 a request");
    assert_eq!(swept.concat(), (1..=250).collect::<Vec<_>>());
    let progress = events(&pool, "run-2").await;
    assert!(progress.iter().any(|e| matches!(
        e,
        AuditEvent::Progress(p) if p.deletions_found == 3
    )));
    assert_eq!(stored(&pool, ALPHA).await.len(), 250, "nothing is removed");

    // Within the interval: no new pass.
    world.clock.advance(chrono::Duration::days(1));
    run(&pool, &mut world, &settings, "run-3", Shutdown::never()).await;
    assert_eq!(sweeps(&world).len(), 3);

    // A week on, message 20 is back: the next pass unmarks it.
    world.clock.advance(chrono::Duration::days(7));
    let back = MessageRow::text(
        20,
        epoch() + chrono::Duration::minutes(20),
        "post 20 of alpha",
    );
    let messages = &mut world.telegram.channel_mut(ALPHA).messages;
    messages.push(back);
    messages.sort_by_key(|m| m.id);
    let summary = run(&pool, &mut world, &settings, "run-4", Shutdown::never()).await;
    assert_eq!(sweeps(&world).len(), 6);
    assert_eq!(summary.deletions_found, 0);
    assert_eq!(deletion_marks(&pool, ALPHA).await, [10, 150]);
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn a_sweep_pass_of_a_long_channel_goes_on_where_the_last_run_stopped(pool: PgPool) {
    let mut world = world_with(vec![FakeChannel::new(ALPHA, "alpha", 10_250)]);
    let mut settings = settings(&["@alpha"]);
    settings.limits.deletion_sweep = Some(Duration::from_secs(86_400));
    run(&pool, &mut world, &settings, "run-1", Shutdown::never()).await;
    world
        .telegram
        .channel_mut(ALPHA)
        .messages
        .retain(|m| m.id != 10_200);

    run(&pool, &mut world, &settings, "run-2", Shutdown::never()).await;
    assert_eq!(sweeps(&world).len(), 100, "at most 10,000 stored ids a run");
    assert!(deletion_marks(&pool, ALPHA).await.is_empty());

    run(&pool, &mut world, &settings, "run-3", Shutdown::never()).await;
    let swept = sweeps(&world);
    assert_eq!(swept.len(), 103);
    assert_eq!(
        swept[100].first(),
        Some(&10_001),
        "the pass goes on after 10,000"
    );
    assert_eq!(deletion_marks(&pool, ALPHA).await, [10_200]);
}
