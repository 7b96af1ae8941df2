//! ETA on scripted runs whose channels differ wildly in size.

mod common;

use chrono::TimeDelta;
use common::progress::*;
use contract::audit::AuditRow;
use operator::status::runlog::RunLog;
use operator::status::{AuditInput, ChannelDurations, Followed, derive, eta};

const RUN: &str = "news-2";
const SPEC: [&str; 4] = ["@small1", "@huge", "@small2", "@small3"];
/// What the collector writes as `channel_name`: the spec's reference.
const NAMES: [&str; 4] = SPEC;

/// Three previous runs: `huge` takes about 300 s, the others about 10 s.
fn history() -> ChannelDurations {
    let runs = [
        past_run("news-1c", &NAMES, &[11, 310, 9, 10], -1_000),
        past_run("news-1b", &NAMES, &[10, 300, 10, 10], -2_000),
        past_run("news-1a", &NAMES, &[9, 290, 11, 10], -3_000),
    ];
    ChannelDurations::from_runs(runs.iter().map(Vec::as_slice))
}

/// Seconds left per our estimator (before the status rounds it), and per the seed's flat
/// average.
fn etas(rows: &[AuditRow], history: &ChannelDurations, now: i64) -> (Option<i64>, Option<i64>) {
    let spec: Vec<String> = SPEC.iter().map(|c| c.to_string()).collect();
    let log = RunLog::from_rows(rows);
    let attempt = log.newest().unwrap();
    let ours = eta::remaining(attempt, history, &spec, at(now)).map(|d| d.num_seconds());
    let seed = flat_average(attempt, at(now)).map(|d| d.num_seconds());
    (ours, seed)
}

#[test]
fn history_median_per_channel() {
    let history = history();
    assert_eq!(history.expected("@huge"), Some(TimeDelta::seconds(300)));
    assert_eq!(
        history.expected("https://t.me/small1"),
        Some(TimeDelta::seconds(10))
    );
    assert_eq!(history.expected("small2"), Some(TimeDelta::seconds(10)));
    assert_eq!(history.expected("@unknown"), None);
    assert!(ChannelDurations::from_runs(std::iter::empty()).is_empty());
}

/// A channel id and its Bot API spelling share their history, as they share everything else.
#[test]
fn history_knows_a_channel_id_by_either_spelling() {
    let runs = [past_run("ids-1", &["-1001006503122"], &[42], -1_000)];
    let history = ChannelDurations::from_runs(runs.iter().map(Vec::as_slice));
    assert_eq!(history.expected("1006503122"), Some(TimeDelta::seconds(42)));
}

#[test]
fn history_keeps_only_the_newest_samples() {
    let runs: Vec<Vec<AuditRow>> = (0..8)
        .map(|i| {
            past_run(
                &format!("r{i}"),
                &["@c"],
                &[if i < 5 { 100 } else { 1 }],
                -10_000 * i,
            )
        })
        .collect();
    let history = ChannelDurations::from_runs(runs.iter().map(Vec::as_slice));
    // The five newest runs (100 s each) decide; the three old 1 s samples are dropped.
    assert_eq!(history.expected("@c"), Some(TimeDelta::seconds(100)));
}

#[test]
fn big_channel_ahead_history_knows_the_flat_average_does_not() {
    let history = history();
    let mut log = Log::new();
    let mut a = Attempt::start(&mut log, RUN, "pod", 4, 0);
    a.done(&mut log, "@small1", 5, 10);
    // 10 s into `huge`: 290 s of it left, then two 10 s channels.
    let (ours, seed) = etas(&log.rows(RUN), &history, 20);
    assert_eq!(ours, Some(310));
    assert_eq!(seed, Some(60));

    // Past `huge`: 5 s of small2 left and small3's 10 s; the flat average now overshoots.
    a.done(&mut log, "@huge", 5_000, 310);
    let (ours, seed) = etas(&log.rows(RUN), &history, 315);
    assert_eq!(ours, Some(15));
    assert_eq!(seed, Some(315));
}

#[test]
fn history_gives_an_eta_before_the_first_channel_is_done() {
    let mut log = Log::new();
    Attempt::start(&mut log, RUN, "pod", 4, 0);
    let rows = log.rows(RUN);
    assert_eq!(etas(&rows, &history(), 5), (Some(325), None));
    // Without history nothing is known yet: no ETA rather than a made-up one.
    assert_eq!(etas(&rows, &ChannelDurations::default(), 5), (None, None));
}

#[test]
fn remaining_estimate_inside_a_long_channel() {
    let mut log = Log::new();
    let mut a = Attempt::start(&mut log, RUN, "pod", 4, 0);
    a.done(&mut log, "@small1", 5, 10);
    // 1000 messages in the 50 s since `huge` began, 4000 to go: 200 s at that pace.
    a.inside(&mut log, "@huge", 1_000, Some(4_000), 60);
    let rows = log.rows(RUN);
    // No history: 190 s of huge, then two channels at this run's 10 s pace.
    assert_eq!(etas(&rows, &ChannelDurations::default(), 70).0, Some(210));
    // The collector's count beats history for the channel in progress; history costs the rest.
    assert_eq!(etas(&rows, &history(), 70).0, Some(210));
    // Without a remaining_estimate the channel falls back to its history (300 - 60 s in).
    let mut log = Log::new();
    let mut a = Attempt::start(&mut log, RUN, "pod", 4, 0);
    a.done(&mut log, "@small1", 5, 10);
    a.inside(&mut log, "@huge", 1_000, None, 60);
    assert_eq!(etas(&log.rows(RUN), &history(), 70).0, Some(260));
}

#[test]
fn channels_new_since_the_last_run_use_this_runs_pace() {
    let spec = ["@small1", "@huge", "@fresh", "@small3"];
    let mut log = Log::new();
    let mut a = Attempt::start(&mut log, RUN, "pod", 4, 0);
    a.done(&mut log, "@small1", 5, 20);
    let rows = log.rows(RUN);
    let history = history();
    let job = job_active(RUN, 0);
    let run = tracked(
        RUN,
        Some(&job),
        AuditInput::Rows {
            rows: &rows,
            history: &history,
        },
    );
    let derived = derive(&collection(&spec), Some(&run), at(25));
    // huge: 300 - 5; fresh: 20 s (this run's pace so far); small3: 10: 325 s, shown rounded.
    assert_eq!(derived.estimated_time_remaining, Some(330));
    assert_eq!(derived.eta.as_deref(), Some("5m30s"));
    assert_eq!(derived.current_channel.as_deref(), Some("@huge"));
}

#[test]
fn names_that_are_not_spec_references_follow_the_previous_runs_order() {
    // A collector writing channel titles: the spec cannot tell which are left, the history can.
    let titles = ["Small One", "Huge Channel", "Small Two", "Small Three"];
    let runs = [past_run("p1", &titles, &[10, 300, 10, 10], -1_000)];
    let history = ChannelDurations::from_runs(runs.iter().map(Vec::as_slice));
    let mut log = Log::new();
    let mut a = Attempt::start(&mut log, RUN, "pod", 4, 0);
    a.done(&mut log, "Small One", 5, 10);
    let (ours, _) = etas(&log.rows(RUN), &history, 20);
    assert_eq!(ours, Some(310));
}

#[test]
fn a_flood_wait_adds_its_remaining_time() {
    let mut log = Log::new();
    let mut a = Attempt::start(&mut log, RUN, "pod", 4, 0);
    a.done(&mut log, "@small1", 5, 10);
    a.flood(&mut log, "@huge", 120, 15);
    // Waiting until 135: 115 s of wait, then huge's 300 s less the 5 s worked before the wait,
    // then 20 s.
    assert_eq!(etas(&log.rows(RUN), &history(), 20).0, Some(430));
}

#[test]
fn duplicate_spec_references_count_once() {
    let spec = ["@small1", "https://t.me/small1", "@huge"];
    let mut log = Log::new();
    let mut a = Attempt::start(&mut log, RUN, "pod", 2, 0);
    a.done(&mut log, "@small1", 5, 10);
    let rows = log.rows(RUN);
    let history = history();
    let job = job_active(RUN, 0);
    let run = tracked(
        RUN,
        Some(&job),
        AuditInput::Rows {
            rows: &rows,
            history: &history,
        },
    );
    let derived = derive(&collection(&spec), Some(&run), at(20));
    assert_eq!(derived.progress.as_deref(), Some("1/2"));
    assert_eq!(derived.current_channel.as_deref(), Some("@huge"));
    assert_eq!(derived.estimated_time_remaining, Some(290));
    assert_eq!(derived.eta.as_deref(), Some("4m50s"));
}

#[test]
fn a_countdown_between_audit_rows_does_not_patch_every_refresh() {
    let history = history();
    let mut log = Log::new();
    let mut a = Attempt::start(&mut log, RUN, "pod", 4, 0);
    a.done(&mut log, "@small1", 5, 10);
    let rows = log.rows(RUN);
    let job = job_active(RUN, 0);
    let run = tracked(
        RUN,
        Some(&job),
        AuditInput::Rows {
            rows: &rows,
            history: &history,
        },
    );
    // 310 s left at 20 s, 305 s at 25 s: both shown as 5m0s.
    let first = derive(&collection(&SPEC), Some(&run), at(20));
    assert_eq!(first.eta.as_deref(), Some("5m0s"));
    let second = derive(&collection(&SPEC), Some(&run), at(25));
    assert_eq!(second, first, "the same status: no patch");
    // A new row does change it.
    a.done(&mut log, "@huge", 5_000, 26);
    let rows = log.rows(RUN);
    let run = Followed {
        audit: AuditInput::Rows {
            rows: &rows,
            history: &history,
        },
        ..run
    };
    let third = derive(&collection(&SPEC), Some(&run), at(27));
    assert_ne!(third, first);
}
