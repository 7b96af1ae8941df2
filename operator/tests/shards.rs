//! A sharded run (four accounts, one Indexed Job): each index derived on its own, then
//! aggregated: sums, the slowest index's ETA, Collecting while any index collects, Waiting only
//! while every collecting index waits, and a failed index failing the run by name.

mod common;

use common::progress::*;
use contract::audit::{AuditRow, EndReason};
use contract::media::MediaCounts;
use crds::{CollectionState, RunResult, ShardState, ShardStatus};
use operator::job::ShardPlan;
use operator::status::{AuditInput, ChannelDurations, DerivedStatus, Followed, derive};

const RUN: &str = "news-29876543";
/// Two channels per index; index 2's are the slow ones.
const PLAN: [(&str, [&str; 2]); 4] = [
    ("tg-a", ["@a1", "@a2"]),
    ("tg-b", ["@b1", "@b2"]),
    ("tg-c", ["@c1", "@c2"]),
    ("tg-d", ["@d1", "@d2"]),
];

fn plan() -> Vec<ShardPlan> {
    PLAN.iter()
        .map(|(session, channels)| ShardPlan {
            session: session.to_string(),
            channels: channels.iter().map(|c| c.to_string()).collect(),
            failed: false,
        })
        .collect()
}

fn all_channels() -> Vec<&'static str> {
    PLAN.iter().flat_map(|(_, c)| c.iter().copied()).collect()
}

/// A previous run: every channel 10 s, index 2's 100 s.
fn history() -> ChannelDurations {
    let channels = all_channels();
    let durations: Vec<i64> = channels
        .iter()
        .map(|c| if c.starts_with("@c") { 100 } else { 10 })
        .collect();
    let past = past_run("news-1", &channels, &durations, -5_000);
    ChannelDurations::from_runs([past.as_slice()])
}

fn pod(index: u32, attempt: char) -> String {
    format!("{RUN}-{index}-{attempt}")
}

fn start(log: &mut Log, index: u32, secs: i64) -> Attempt {
    Attempt::start_in(log, RUN, &pod(index, 'x'), Some(index), 2, secs)
}

fn derived(
    rows: &[AuditRow],
    job: Option<&k8s_openapi::api::batch::v1::Job>,
    now: i64,
) -> DerivedStatus {
    let history = history();
    let plan = plan();
    let run = Followed {
        shards: &plan,
        ..tracked(
            RUN,
            job,
            AuditInput::Rows {
                rows,
                history: &history,
            },
        )
    };
    derive(&collection(&all_channels()), Some(&run), at(now))
}

fn states(d: &DerivedStatus) -> Vec<Option<ShardState>> {
    d.shards.iter().map(|s| s.state).collect()
}

/// Index 0 collects, index 1 sleeps through a flood wait, index 2 has not started, index 3 is
/// done.
fn mid_run() -> Log {
    let mut log = Log::new();
    let mut a = start(&mut log, 0, 0);
    a.done(&mut log, "@a1", 40, 10);
    let b = start(&mut log, 1, 0);
    b.flood(&mut log, "@b1", 30, 5);
    let mut d = start(&mut log, 3, 0);
    d.done(&mut log, "@d1", 5, 6);
    d.done(&mut log, "@d2", 7, 12);
    d.end(&mut log, 12, None);
    log
}

#[test]
fn progress_is_summed_and_the_eta_is_the_slowest_index() {
    let log = mid_run();
    let job = job_active(RUN, 0);
    let d = derived(&log.rows(RUN), Some(&job), 20);
    assert_eq!(d.state, CollectionState::Collecting);
    assert!(d.finished.is_none());
    // Index 2 counts its assigned channels before it starts.
    assert_eq!(d.progress.as_deref(), Some("3/8"));
    assert_eq!((d.channels_processed, d.channels_total), (3, 8));
    assert_eq!(d.messages_collected_current_run, 52);
    assert_eq!(d.flood_wait_seconds_current_run, 30);
    assert_eq!(d.current_channel.as_deref(), Some("@a2"));
    // Index 2 has 2 x 100 s ahead of it; the others less.
    assert_eq!(d.estimated_time_remaining, Some(200));
    assert_eq!(d.eta.as_deref(), Some("3m20s"));
    assert_eq!(d.collection_start_time, Some(operator::time::to_k8s(at(0))));
    assert_eq!(
        states(&d),
        [
            Some(ShardState::Collecting),
            Some(ShardState::Waiting),
            Some(ShardState::Starting),
            Some(ShardState::Succeeded)
        ]
    );
    assert_eq!(
        d.shards[1],
        ShardStatus {
            index: 1,
            session: "tg-b".into(),
            state: Some(ShardState::Waiting),
            current_channel: Some("@b1".into()),
            channels_processed: 0,
            channels_total: 2,
            messages: 0,
            errors: 0,
            // 15 s of wait, 5 s of @b1, 10 s of @b2.
            estimated_time_remaining: Some(30),
            reason: None,
        }
    );
    assert_eq!(d.shards[2].session, "tg-c");
    assert_eq!(d.shards[2].channels_total, 2);
    assert_eq!(d.shards[2].estimated_time_remaining, Some(200));
    assert_eq!(d.shards[3].estimated_time_remaining, Some(0));
    assert_eq!(d.finished, None);
}

#[test]
fn waiting_only_while_every_collecting_index_waits() {
    let mut log = mid_run();
    // Index 0 waits too, until 60; index 1 until 35: the run resumes at 35.
    Attempt::start_in(&mut log, RUN, &pod(0, 'x'), Some(0), 2, 0);
    let a = Attempt {
        run: RUN.into(),
        pod: pod(0, 'x'),
        shard: Some(0),
        total: 2,
        processed: 0,
        errors: 0,
        messages: 0,
        edits: 0,
        deletions: 0,
        media: Default::default(),
    };
    a.flood(&mut log, "@a1", 40, 20);
    let job = job_active(RUN, 0);
    let d = derived(&log.rows(RUN), Some(&job), 25);
    assert_eq!(d.state, CollectionState::Waiting);
    assert_eq!(d.waiting_until, Some(operator::time::to_k8s(at(35))));

    // Index 2 starts and collects: the run collects.
    let c = start(&mut log, 2, 26);
    c.inside(&mut log, "@c1", 10, Some(100), 28);
    let d = derived(&log.rows(RUN), Some(&job), 30);
    assert_eq!(d.state, CollectionState::Collecting);
    assert_eq!(d.waiting_until, None);
}

#[test]
fn before_any_index_starts_the_run_is_starting() {
    let job = job_active(RUN, 0);
    let d = derived(&[], Some(&job), 5);
    assert_eq!(d.state, CollectionState::Starting);
    assert_eq!(d.progress.as_deref(), Some("0/8"));
    assert_eq!(states(&d), vec![Some(ShardState::Starting); 4]);
    let sessions: Vec<&str> = d.shards.iter().map(|s| s.session.as_str()).collect();
    assert_eq!(sessions, ["tg-a", "tg-b", "tg-c", "tg-d"]);
}

#[test]
fn a_revoked_session_fails_the_run_naming_its_index_and_secret() {
    let mut log = mid_run();
    let c = start(&mut log, 2, 20);
    c.end(&mut log, 21, Some(EndReason::SessionInvalid));
    let job = job_failed(
        RUN,
        0,
        22,
        "PodFailurePolicy",
        "Container collector for pod media/news-29876543-2-x failed with exit code 3",
    );
    let d = derived(&log.rows(RUN), Some(&job), 30);
    let finished = d.finished.as_ref().expect("the run is over");
    assert_eq!(finished.result, Some(RunResult::Failed));
    assert_eq!(finished.reason.as_deref(), Some("SessionInvalid"));
    let message = finished.message.as_deref().unwrap();
    assert!(
        message.starts_with("shard 2 (secret tg-c): the Telegram session is revoked"),
        "{message}"
    );
    assert!(d.session_invalid);
    assert_eq!(d.state, CollectionState::Failed);
    assert_eq!(d.shards[2].state, Some(ShardState::Failed));
    assert_eq!(d.shards[2].reason.as_deref(), Some("SessionInvalid"));
    // The indexes that had not finished when the Job failed failed with it.
    assert_eq!(d.shards[3].state, Some(ShardState::Succeeded));
    assert_eq!(d.shards[0].state, Some(ShardState::Failed));
    assert_eq!(finished.messages, Some(52));
    assert_eq!(finished.channels_total, Some(8));
}

#[test]
fn an_index_that_died_without_its_end_fails_the_run_with_the_job_s_reason() {
    let mut log = Log::new();
    for index in [0, 2, 3] {
        let mut s = start(&mut log, index, 0);
        for (i, channel) in PLAN[index as usize].1.iter().enumerate() {
            s.done(&mut log, channel, 10, 10 * (i as i64 + 1));
        }
        s.end(&mut log, 20, None);
    }
    let mut b = start(&mut log, 1, 0);
    b.done(&mut log, "@b1", 3, 10);
    let job = job_failed(RUN, 0, 40, "FailedIndexes", "Job has failed indexes");
    let d = derived(&log.rows(RUN), Some(&job), 50);
    let finished = d.finished.as_ref().unwrap();
    assert_eq!(finished.result, Some(RunResult::Failed));
    assert_eq!(finished.reason.as_deref(), Some("FailedIndexes"));
    assert_eq!(
        finished.message.as_deref(),
        Some(
            "shard 1 (secret tg-b): the collector did not record the end of the run; Job has failed indexes"
        )
    );
    assert!(!d.session_invalid);
    assert_eq!(finished.channels_synced, Some(7));
    assert_eq!(d.shards[1].reason.as_deref(), Some("NoCollectionEnd"));
}

#[test]
fn every_index_done_is_a_success_with_summed_counts() {
    let mut log = Log::new();
    for index in 0..4u32 {
        let mut s = start(&mut log, index, i64::from(index));
        for (i, channel) in PLAN[index as usize].1.iter().enumerate() {
            // Each channel downloads one file of 1,000 bytes.
            let media = MediaCounts {
                files_downloaded: 1,
                bytes_downloaded: 1_000,
                ..MediaCounts::default()
            };
            s.done_with_media(
                &mut log,
                channel,
                100,
                media,
                10 * (i as i64 + 1) + i64::from(index),
            );
        }
        s.end(&mut log, 30 + i64::from(index), None);
    }
    let job = job_complete(RUN, 0, 40);
    let d = derived(&log.rows(RUN), Some(&job), 50);
    let finished = d.finished.as_ref().unwrap();
    assert_eq!(finished.result, Some(RunResult::Succeeded));
    assert_eq!(finished.reason, None);
    assert_eq!(finished.messages, Some(800));
    assert_eq!(finished.channels_synced, Some(8));
    assert_eq!(finished.channels_total, Some(8));
    assert_eq!(finished.errors, Some(0));
    let media = finished.media.unwrap();
    assert_eq!((media.files_downloaded, media.bytes_downloaded), (8, 8_000));
    // Ended when the last index ended; started when the first one started.
    assert_eq!(finished.end_time, Some(operator::time::to_k8s(at(33))));
    assert_eq!(finished.start_time, Some(operator::time::to_k8s(at(0))));
    assert_eq!(states(&d), vec![Some(ShardState::Succeeded); 4]);
    assert_eq!(d.state, CollectionState::Idle);
}

#[test]
fn a_retried_index_counts_its_newest_attempt() {
    let mut log = mid_run();
    // Index 2's first pod dies after one channel; its replacement starts over.
    let mut first = Attempt::start_in(&mut log, RUN, &pod(2, 'a'), Some(2), 2, 14);
    first.done(&mut log, "@c1", 500, 15);
    let second = Attempt::start_in(&mut log, RUN, &pod(2, 'b'), Some(2), 1, 18);
    second.inside(&mut log, "@c2", 20, Some(80), 19);
    let job = job_active(RUN, 0);
    let d = derived(&log.rows(RUN), Some(&job), 20);
    // The retry resumes with one channel left; both attempts' messages count.
    assert_eq!(d.shards[2].channels_total, 1);
    assert_eq!(d.shards[2].channels_processed, 0);
    assert_eq!(d.shards[2].messages, 520);
    assert_eq!(d.shards[2].state, Some(ShardState::Collecting));
    assert_eq!(d.shards[2].current_channel.as_deref(), Some("@c2"));
    assert_eq!(d.progress.as_deref(), Some("3/7"));
}

#[test]
fn an_index_out_of_retries_shows_failed_while_the_others_go_on() {
    let log = mid_run();
    let job = job_active(RUN, 0);
    let history = history();
    let rows = log.rows(RUN);
    let mut plan = plan();
    plan[2].failed = true;
    let run = Followed {
        shards: &plan,
        ..tracked(
            RUN,
            Some(&job),
            AuditInput::Rows {
                rows: &rows,
                history: &history,
            },
        )
    };
    let d = derive(&collection(&all_channels()), Some(&run), at(20));
    assert_eq!(d.state, CollectionState::Collecting, "the run goes on");
    assert_eq!(d.shards[2].state, Some(ShardState::Failed));
    assert_eq!(d.shards[2].reason.as_deref(), Some("RetriesExhausted"));
    assert_eq!(d.shards[2].estimated_time_remaining, Some(0));
    // The slowest index left is index 1 now.
    assert_eq!(d.estimated_time_remaining, Some(30));

    // Once the others are done, the Job fails for its failed index.
    let failed = job_failed(RUN, 0, 40, "FailedIndexes", "Job has failed indexes");
    let run = Followed {
        phase: operator::job::phase(Some(&failed)),
        ..run
    };
    let d = derive(&collection(&all_channels()), Some(&run), at(50));
    assert_eq!(
        d.finished.unwrap().message.as_deref(),
        Some(
            "shard 2 (secret tg-c): its pods failed more often than spec.backoffLimit; Job has failed indexes"
        )
    );
}
