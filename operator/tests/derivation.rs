//! Table-driven derivation: one collection, one followed run, fixed instants.

mod common;

use common::progress::*;
use contract::audit::{AuditEvent, AuditRow, EndReason, ErrorReason};
use contract::media::MediaCounts;
use crds::testing::TestCollection;
use crds::{
    ChannelCollection, ChannelCollectionStatus, CollectionState, RunMedia, RunResult, RunSummary,
};
use k8s_openapi::api::batch::v1::Job;
use operator::status::{
    AuditInput, ChannelDurations, DerivedStatus, Followed, ProgressUnavailable, derive,
};
use operator::time::to_k8s;

const CHANNELS: [&str; 4] = ["@alpha", "bravo", "https://t.me/charlie", "delta"];
const RUN: &str = "news-29876543";
const OTHER_RUN: &str = "sports-29876543";

/// How the run is seen in a case.
enum Audit {
    Rows(Vec<AuditRow>),
    Unavailable(ProgressUnavailable),
}

struct Case {
    name: &'static str,
    collection: ChannelCollection,
    /// `None`: no run is followed.
    run: Option<(Option<Job>, Audit)>,
    now: i64,
    expect: Expect,
}

#[derive(Debug, PartialEq)]
struct Expect {
    state: CollectionState,
    progress: Option<&'static str>,
    current_channel: Option<&'static str>,
    messages: i64,
    errors: i32,
    flood_wait_seconds: i64,
    eta: Option<&'static str>,
    waiting_until: Option<i64>,
    finished: Option<(RunResult, Option<&'static str>)>,
    session_invalid: bool,
    unavailable: Option<ProgressUnavailable>,
}

impl Expect {
    fn of(d: &DerivedStatus) -> Self {
        Expect {
            state: d.state,
            progress: d.progress.as_deref().map(leak),
            current_channel: d.current_channel.as_deref().map(leak),
            messages: d.messages_collected_current_run,
            errors: d.errors_current_run,
            flood_wait_seconds: d.flood_wait_seconds_current_run,
            eta: d.eta.as_deref().map(leak),
            waiting_until: d
                .waiting_until
                .as_ref()
                .map(|t| (operator::time::from_k8s(t) - t0()).num_seconds()),
            finished: d
                .finished
                .as_ref()
                .map(|f| (f.result.unwrap(), f.reason.as_deref().map(leak))),
            session_invalid: d.session_invalid,
            unavailable: d.progress_unavailable,
        }
    }
}

fn leak(s: &str) -> &'static str {
    Box::leak(s.to_owned().into_boxed_str())
}

/// Expected values for an active run; cases override what differs.
fn collecting(progress: &'static str, messages: i64) -> Expect {
    Expect {
        state: CollectionState::Collecting,
        progress: Some(progress),
        current_channel: None,
        messages,
        errors: 0,
        flood_wait_seconds: 0,
        eta: None,
        waiting_until: None,
        finished: None,
        session_invalid: false,
        unavailable: None,
    }
}

/// Expected values for a run that just ended.
fn ended(state: CollectionState, result: RunResult, reason: Option<&'static str>) -> Expect {
    Expect {
        state,
        finished: Some((result, reason)),
        ..collecting("0/4", 0)
    }
}

/// A run that did `alpha` (100 messages) at 10 s and nothing else.
fn one_channel_done() -> Vec<AuditRow> {
    let mut log = Log::new();
    let mut a = Attempt::start(&mut log, RUN, "pod-a", 4, 0);
    a.done(&mut log, "alpha", 100, 10);
    log.rows(RUN)
}

/// A run that finished all four channels (10 messages each) at 10, 20, 30, 40 s.
fn finished_run() -> Vec<AuditRow> {
    let mut log = Log::new();
    let mut a = Attempt::start(&mut log, RUN, "pod-a", 4, 0);
    for (i, channel) in ["alpha", "bravo", "charlie", "delta"].iter().enumerate() {
        a.done(&mut log, channel, 10, 10 * (i as i64 + 1));
    }
    a.end(&mut log, 41, None);
    log.rows(RUN)
}

fn last_run(result: RunResult, reason: Option<&str>) -> ChannelCollectionStatus {
    ChannelCollectionStatus {
        progress: Some("4/4".into()),
        channels_processed: 4,
        channels_total: 4,
        messages_collected_current_run: 40,
        collection_start_time: Some(to_k8s(at(-600))),
        last_run: Some(RunSummary {
            job: "news-1".into(),
            result: Some(result),
            reason: reason.map(Into::into),
            ..RunSummary::default()
        }),
        ..ChannelCollectionStatus::default()
    }
}

fn cases() -> Vec<Case> {
    let base = || collection(&CHANNELS);
    let rows = |r: Vec<AuditRow>| Audit::Rows(r);
    let mut cases = vec![Case {
        name: "no run yet",
        collection: base(),
        run: None,
        now: 0,
        expect: Expect {
            state: CollectionState::Idle,
            progress: None,
            ..collecting("", 0)
        },
    }];

    cases.push(Case {
        name: "idle after a successful run keeps its final numbers, not live",
        collection: with_status(base(), last_run(RunResult::Succeeded, None)),
        run: None,
        now: 0,
        expect: Expect {
            state: CollectionState::Idle,
            ..collecting("4/4", 40)
        },
    });

    cases.push(Case {
        name: "idle after a failed run",
        collection: with_status(
            base(),
            last_run(RunResult::Failed, Some("DeadlineExceeded")),
        ),
        run: None,
        now: 0,
        expect: Expect {
            state: CollectionState::Failed,
            ..collecting("4/4", 40)
        },
    });

    cases.push(Case {
        name: "Job created, pod not started yet: starting, not collecting",
        collection: base(),
        run: Some((Some(job_pending(RUN)), rows(vec![]))),
        now: 1,
        expect: Expect {
            state: CollectionState::Starting,
            ..collecting("0/4", 0)
        },
    });

    cases.push(Case {
        name: "pod not started, a channel written twice in the spec counts once",
        collection: collection(&["@alpha", "https://t.me/Alpha", "bravo"]),
        run: Some((Some(job_pending(RUN)), rows(vec![]))),
        now: 1,
        expect: Expect {
            state: CollectionState::Starting,
            ..collecting("0/2", 0)
        },
    });

    {
        let mut log = Log::new();
        Attempt::start(&mut log, RUN, "pod-a", 4, 0);
        cases.push(Case {
            name: "run started",
            collection: base(),
            run: Some((Some(job_active(RUN, 0)), rows(log.rows(RUN)))),
            now: 2,
            // Nothing is known yet about how long a channel takes: no ETA rather than a guess.
            expect: Expect {
                current_channel: Some("@alpha"),
                ..collecting("0/4", 0)
            },
        });
    }

    {
        let mut log = Log::new();
        let mut a = Attempt::start(&mut log, RUN, "pod-a", 4, 0);
        a.done(&mut log, "alpha", 100, 10);
        a.done(&mut log, "bravo", 50, 30);
        cases.push(Case {
            name: "mid-run with progress (no history: this run's pace)",
            collection: base(),
            run: Some((Some(job_active(RUN, 0)), rows(log.rows(RUN)))),
            now: 40,
            // 15 s per channel: charlie has 5 s left (10 s in), delta 15 s.
            expect: Expect {
                current_channel: Some("https://t.me/charlie"),
                eta: Some("20s"),
                ..collecting("2/4", 150)
            },
        });
    }

    {
        let mut log = Log::new();
        let mut a = Attempt::start(&mut log, RUN, "pod-a", 4, 0);
        a.done(&mut log, "alpha", 30, 10);
        a.flood(&mut log, "bravo", 60, 20);
        let flood_rows = log.rows(RUN);
        cases.push(Case {
            name: "flood wait",
            collection: base(),
            run: Some((Some(job_active(RUN, 0)), rows(flood_rows.clone()))),
            now: 30,
            // 50 s of waiting left, then bravo (already past its 10 s) and two 10 s channels.
            expect: Expect {
                state: CollectionState::Waiting,
                current_channel: Some("bravo"),
                waiting_until: Some(80),
                flood_wait_seconds: 60,
                eta: Some("1m10s"),
                ..collecting("1/4", 30)
            },
        });
        cases.push(Case {
            name: "flood wait whose end has passed",
            collection: base(),
            run: Some((Some(job_active(RUN, 0)), rows(flood_rows))),
            now: 90,
            expect: Expect {
                current_channel: Some("bravo"),
                flood_wait_seconds: 60,
                eta: Some("20s"),
                ..collecting("1/4", 30)
            },
        });
    }

    {
        let mut log = Log::new();
        let mut a = Attempt::start(&mut log, RUN, "pod-a", 4, 0);
        a.done(&mut log, "alpha", 10, 10);
        a.fail(
            &mut log,
            "bravo",
            ErrorReason::ChannelPrivate,
            "channel is private",
            12,
        );
        a.fail(
            &mut log,
            "charlie",
            ErrorReason::UsernameNotFound,
            "no such username",
            14,
        );
        cases.push(Case {
            name: "errors on some channels",
            collection: base(),
            run: Some((Some(job_active(RUN, 0)), rows(log.rows(RUN)))),
            now: 16,
            // 14 s / 3 channels; delta is 2 s in: about 3 s left, shown in 5 s steps.
            expect: Expect {
                errors: 2,
                current_channel: Some("delta"),
                eta: Some("5s"),
                ..collecting("3/4", 10)
            },
        });
    }

    cases.push(Case {
        name: "run finished",
        collection: base(),
        run: Some((Some(job_complete(RUN, 0, 42)), rows(finished_run()))),
        now: 45,
        expect: Expect {
            progress: Some("4/4"),
            messages: 40,
            ..ended(CollectionState::Idle, RunResult::Succeeded, None)
        },
    });

    cases.push(Case {
        name: "run finished while suspended",
        collection: suspended(base()),
        run: Some((Some(job_complete(RUN, 0, 42)), rows(finished_run()))),
        now: 45,
        expect: Expect {
            progress: Some("4/4"),
            messages: 40,
            ..ended(CollectionState::Suspended, RunResult::Succeeded, None)
        },
    });

    cases.push(Case {
        name: "collection_end written, Job not yet complete: still active",
        collection: base(),
        run: Some((Some(job_active(RUN, 0)), rows(finished_run()))),
        now: 42,
        expect: Expect {
            eta: Some("0s"),
            ..collecting("4/4", 40)
        },
    });

    for reason in ["DeadlineExceeded", "BackoffLimitExceeded"] {
        cases.push(Case {
            name: "Job failed without collection_end",
            collection: base(),
            run: Some((
                Some(job_failed(
                    RUN,
                    0,
                    600,
                    reason,
                    "Job has reached the specified limit",
                )),
                rows(one_channel_done()),
            )),
            now: 601,
            expect: Expect {
                progress: Some("1/4"),
                messages: 100,
                ..ended(CollectionState::Failed, RunResult::Failed, Some(reason))
            },
        });
    }

    cases.push(Case {
        name: "Job deleted",
        collection: base(),
        run: Some((None, rows(one_channel_done()))),
        now: 100,
        expect: Expect {
            progress: Some("1/4"),
            messages: 100,
            ..ended(
                CollectionState::Failed,
                RunResult::Failed,
                Some("JobDeleted"),
            )
        },
    });

    {
        // Two runs (of two collections sharing the table) whose rows interleave in time.
        let mut log = Log::new();
        let mut a = Attempt::start(&mut log, RUN, "pod-a", 4, 0);
        let mut b = Attempt::start(&mut log, OTHER_RUN, "pod-b", 2, 1);
        a.done(&mut log, "alpha", 7, 10);
        b.done(&mut log, "x", 1000, 11);
        b.done(&mut log, "y", 1000, 12);
        b.end(&mut log, 13, None);
        a.done(&mut log, "bravo", 8, 20);
        // The seed's rule (latest start vs latest end by time) says nothing is collecting.
        assert!(!seed_currently_collecting(&log));
        cases.push(Case {
            name: "two runs whose rows interleave in time",
            collection: base(),
            run: Some((Some(job_active(RUN, 0)), rows(log.rows(RUN)))),
            now: 25,
            expect: Expect {
                current_channel: Some("https://t.me/charlie"),
                eta: Some("15s"),
                ..collecting("2/4", 15)
            },
        });
    }

    {
        let mut log = Log::new();
        let a = Attempt::start(&mut log, RUN, "pod-a", 4, 0);
        a.end(&mut log, 2, Some(EndReason::SessionInvalid));
        let revoked = log.rows(RUN);
        cases.push(Case {
            name: "revoked session, Job failed",
            collection: base(),
            run: Some((
                Some(job_failed(
                    RUN,
                    0,
                    5,
                    "BackoffLimitExceeded",
                    "Job has reached the specified backoff limit",
                )),
                rows(revoked.clone()),
            )),
            now: 6,
            expect: Expect {
                session_invalid: true,
                ..ended(
                    CollectionState::Failed,
                    RunResult::Failed,
                    Some("SessionInvalid"),
                )
            },
        });
        cases.push(Case {
            name: "revoked session, Job still retrying",
            collection: base(),
            run: Some((Some(job_active(RUN, 0)), rows(revoked))),
            now: 3,
            expect: Expect {
                session_invalid: true,
                eta: Some("0s"),
                ..collecting("0/4", 0)
            },
        });
        cases.push(Case {
            name: "idle after a revoked session",
            collection: with_status(base(), last_run(RunResult::Failed, Some("SessionInvalid"))),
            run: None,
            now: 100,
            expect: Expect {
                state: CollectionState::Failed,
                session_invalid: true,
                ..collecting("4/4", 40)
            },
        });
    }

    {
        let mut log = Log::new();
        let a = Attempt::start(&mut log, RUN, "pod-a", 4, 0);
        a.end(&mut log, 30, Some(EndReason::Terminated));
        cases.push(Case {
            name: "collector stopped by SIGTERM",
            collection: base(),
            run: Some((
                Some(job_failed(RUN, 0, 31, "PodFailurePolicy", "stopped")),
                rows(log.rows(RUN)),
            )),
            now: 32,
            expect: ended(CollectionState::Failed, RunResult::Failed, Some("Aborted")),
        });
    }

    cases.push(Case {
        name: "suspended, no run",
        collection: suspended(base()),
        run: None,
        now: 0,
        expect: Expect {
            state: CollectionState::Suspended,
            progress: None,
            ..collecting("", 0)
        },
    });

    cases.push(Case {
        name: "suspended while a run is active: the run goes on",
        collection: suspended(base()),
        run: Some((Some(job_active(RUN, 0)), rows(one_channel_done()))),
        now: 15,
        // 10 s per channel: bravo 5 s in.
        expect: Expect {
            current_channel: Some("bravo"),
            eta: Some("25s"),
            ..collecting("1/4", 100)
        },
    });

    {
        // The first pod died after alpha; its replacement starts over (from checkpoints).
        let mut log = Log::new();
        let mut first = Attempt::start(&mut log, RUN, "pod-a", 4, 0);
        first.done(&mut log, "alpha", 100, 10);
        let mut second = Attempt::start(&mut log, RUN, "pod-b", 4, 60);
        // A late row of the dying pod does not move the new attempt.
        first.done(&mut log, "bravo", 50, 61);
        second.done(&mut log, "alpha", 0, 65);
        cases.push(Case {
            name: "a retried pod: status follows the newest attempt",
            collection: base(),
            run: Some((Some(job_active(RUN, 0)), rows(log.rows(RUN)))),
            now: 70,
            // 5 s per channel in the new attempt: bravo 5 s in, then two more.
            expect: Expect {
                current_channel: Some("bravo"),
                eta: Some("10s"),
                ..collecting("1/4", 150)
            },
        });
    }

    cases.push(Case {
        name: "progress unavailable, pod not running yet: starting",
        collection: base(),
        run: Some((
            Some(job_pending(RUN)),
            Audit::Unavailable(ProgressUnavailable::Unreachable),
        )),
        now: 1,
        expect: Expect {
            state: CollectionState::Starting,
            progress: None,
            unavailable: Some(ProgressUnavailable::Unreachable),
            ..collecting("", 0)
        },
    });

    for why in [
        ProgressUnavailable::Unreachable,
        ProgressUnavailable::NotConfigured,
    ] {
        cases.push(Case {
            name: "progress unavailable, run active: Job-level status only",
            collection: base(),
            run: Some((Some(job_active(RUN, 0)), Audit::Unavailable(why))),
            now: 30,
            expect: Expect {
                progress: None,
                unavailable: Some(why),
                ..collecting("", 0)
            },
        });
        cases.push(Case {
            name: "progress unavailable, Job failed",
            collection: base(),
            run: Some((
                Some(job_failed(
                    RUN,
                    0,
                    600,
                    "DeadlineExceeded",
                    "Job was active longer than specified deadline",
                )),
                Audit::Unavailable(why),
            )),
            now: 601,
            expect: Expect {
                progress: None,
                unavailable: Some(why),
                ..ended(
                    CollectionState::Failed,
                    RunResult::Failed,
                    Some("DeadlineExceeded"),
                )
            },
        });
    }

    cases
}

/// The seed's rule: collecting while the latest `collection_start` is newer than the latest
/// `collection_end`, both by timestamp, whatever run they belong to.
fn seed_currently_collecting(log: &Log) -> bool {
    let latest = |action: &str| {
        log.all()
            .iter()
            .filter(|(_, r)| r.event.as_ref().map(AuditEvent::action).ok() == Some(action))
            .map(|(_, r)| r.timestamp)
            .max()
    };
    match (latest(AuditEvent::START), latest(AuditEvent::END)) {
        (Some(start), Some(end)) => start > end,
        (Some(_), None) => true,
        _ => false,
    }
}

fn run_case(case: &Case) -> DerivedStatus {
    let history = ChannelDurations::default();
    let run = case.run.as_ref().map(|(job, audit)| {
        tracked(
            RUN,
            job.as_ref(),
            match audit {
                Audit::Rows(rows) => AuditInput::Rows {
                    rows,
                    history: &history,
                },
                Audit::Unavailable(why) => AuditInput::Unavailable(*why),
            },
        )
    });
    derive(&case.collection, run.as_ref(), at(case.now))
}

#[test]
fn derivation_table() {
    let mut failures = Vec::new();
    for case in cases() {
        let got = Expect::of(&run_case(&case));
        if got != case.expect {
            failures.push(format!(
                "{}:\n  expected {:?}\n       got {:?}",
                case.name, case.expect, got
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn finished_run_summary_counts_come_from_the_audit_log() {
    let mut log = Log::new();
    let mut a = Attempt::start(&mut log, RUN, "pod-a", 4, 0);
    a.done(&mut log, "alpha", 10, 10);
    a.fail(
        &mut log,
        "bravo",
        ErrorReason::ChannelPrivate,
        "channel is private",
        12,
    );
    a.done(&mut log, "charlie", 5, 20);
    a.done(&mut log, "delta", 7, 30);
    (a.edits, a.deletions) = (3, 2);
    a.end(&mut log, 31, None);
    let rows = log.rows(RUN);
    let history = ChannelDurations::default();
    let job = job_complete(RUN, 0, 33);
    let run = tracked(
        RUN,
        Some(&job),
        AuditInput::Rows {
            rows: &rows,
            history: &history,
        },
    );
    let derived = derive(&collection(&CHANNELS), Some(&run), at(40));
    assert_eq!(
        derived.finished,
        Some(RunSummary {
            job: RUN.into(),
            start_time: Some(to_k8s(at(0))),
            end_time: Some(to_k8s(at(31))),
            result: Some(RunResult::Succeeded),
            reason: None,
            message: None,
            messages: Some(22),
            channels_synced: Some(3),
            channels_total: Some(4),
            errors: Some(1),
            edits: Some(3),
            deletions: Some(2),
            media: None,
        })
    );
    assert_eq!(derived.collection_start_time, Some(to_k8s(at(0))));
}

#[test]
fn job_failure_without_end_says_why() {
    let rows = one_channel_done();
    let history = ChannelDurations::default();
    let job = job_failed(
        RUN,
        0,
        600,
        "DeadlineExceeded",
        "Job was active longer than specified deadline",
    );
    let run = tracked(
        RUN,
        Some(&job),
        AuditInput::Rows {
            rows: &rows,
            history: &history,
        },
    );
    let summary = derive(&collection(&CHANNELS), Some(&run), at(700))
        .finished
        .unwrap();
    assert_eq!(summary.end_time, Some(to_k8s(at(600))));
    assert_eq!(summary.messages, Some(100));
    assert_eq!(summary.channels_synced, Some(1));
    let message = summary.message.unwrap();
    assert!(
        message.contains("longer than specified deadline"),
        "{message}"
    );
    assert!(message.contains("did not record the end"), "{message}");

    let deleted = tracked(RUN, None, run.audit);
    let summary = derive(&collection(&CHANNELS), Some(&deleted), at(700))
        .finished
        .unwrap();
    assert_eq!(
        summary.end_time,
        Some(to_k8s(at(700))),
        "a vanished Job ends when it is noticed"
    );
    assert!(summary.message.unwrap().contains("deleted"));
}

#[test]
fn without_the_audit_log_a_failed_run_gives_kubernetes_reason_only() {
    let job = job_failed(
        RUN,
        0,
        600,
        "DeadlineExceeded",
        "Job was active longer than specified deadline",
    );
    let run = tracked(
        RUN,
        Some(&job),
        AuditInput::Unavailable(ProgressUnavailable::Unreachable),
    );
    let summary = derive(&collection(&CHANNELS), Some(&run), at(700))
        .finished
        .unwrap();
    assert_eq!(summary.reason.as_deref(), Some("DeadlineExceeded"));
    assert_eq!(
        summary.message.as_deref(),
        Some("Job was active longer than specified deadline")
    );
    assert_eq!(
        (summary.messages, summary.errors, summary.channels_synced),
        (None, None, None)
    );
    assert_eq!(summary.start_time, Some(to_k8s(at(0))));
    assert_eq!(summary.end_time, Some(to_k8s(at(600))));
}

#[test]
fn recent_errors_are_newest_first_merged_and_bounded() {
    let mut log = Log::new();
    let mut a = Attempt::start(&mut log, RUN, "pod-a", 14, 0);
    for i in 0..12 {
        a.fail(
            &mut log,
            &format!("chan{i}"),
            ErrorReason::ChannelPrivate,
            "channel is private",
            10 + i,
        );
    }
    let earlier = crds::RecentError {
        channel: "old".into(),
        reason: "UsernameNotFound".into(),
        message: "no such username".into(),
        time: to_k8s(at(-600)),
    };
    let status = ChannelCollectionStatus {
        recent_errors: vec![earlier.clone()],
        ..Default::default()
    };
    let rows = log.rows(RUN);
    let history = ChannelDurations::default();
    let job = job_active(RUN, 0);
    let run = tracked(
        RUN,
        Some(&job),
        AuditInput::Rows {
            rows: &rows[..4],
            history: &history,
        },
    );
    let coll = with_status(collection(&CHANNELS), status);

    // Three errors so far: newest first, the earlier run's error last.
    let derived = derive(&coll, Some(&run), at(13));
    let channels: Vec<&str> = derived
        .recent_errors
        .iter()
        .map(|e| e.channel.as_str())
        .collect();
    assert_eq!(channels, ["chan2", "chan1", "chan0", "old"]);
    assert_eq!(derived.recent_errors[0].reason, "ChannelPrivate");
    assert_eq!(derived.recent_errors[0].time, to_k8s(at(12)));

    // Re-deriving over its own output adds nothing twice.
    let mut status = coll.status.clone().unwrap();
    status.recent_errors = derived.recent_errors.clone();
    let again = derive(
        &with_status(collection(&CHANNELS), status),
        Some(&run),
        at(14),
    );
    assert_eq!(again.recent_errors, derived.recent_errors);

    // Twelve errors: only the newest ten stay.
    let run = Followed {
        audit: AuditInput::Rows {
            rows: &rows,
            history: &history,
        },
        ..run
    };
    let derived = derive(&coll, Some(&run), at(30));
    assert_eq!(derived.recent_errors.len(), crds::MAX_RECENT_ERRORS);
    assert_eq!(derived.recent_errors[0].channel, "chan11");
    assert_eq!(derived.recent_errors[9].channel, "chan2");
}

#[test]
fn retried_pod_status_starts_at_the_newest_attempt() {
    let mut log = Log::new();
    let mut first = Attempt::start(&mut log, RUN, "pod-a", 4, 0);
    first.done(&mut log, "alpha", 100, 10);
    Attempt::start(&mut log, RUN, "pod-b", 4, 60);
    let rows = log.rows(RUN);
    let history = ChannelDurations::default();
    let job = job_complete(RUN, 0, 200);
    let run = tracked(
        RUN,
        Some(&job_active(RUN, 0)),
        AuditInput::Rows {
            rows: &rows,
            history: &history,
        },
    );
    let derived = derive(&collection(&CHANNELS), Some(&run), at(61));
    assert_eq!(derived.collection_start_time, Some(to_k8s(at(60))));
    assert_eq!(derived.channels_processed, 0);
    assert_eq!(derived.messages_collected_current_run, 100);

    // The run as a whole started with its first attempt.
    let run = tracked(RUN, Some(&job), run.audit);
    let summary = derive(&collection(&CHANNELS), Some(&run), at(201))
        .finished
        .unwrap();
    assert_eq!(summary.start_time, Some(to_k8s(at(0))));
}

#[test]
fn eta_is_never_negative_when_a_run_overruns() {
    // Long past every estimate: the ETA is zero, never negative.
    let rows = one_channel_done();
    let history = ChannelDurations::default();
    let job = job_active(RUN, 0);
    let run = tracked(
        RUN,
        Some(&job),
        AuditInput::Rows {
            rows: &rows,
            history: &history,
        },
    );
    let derived = derive(&collection(&CHANNELS), Some(&run), at(10_000));
    assert_eq!(derived.estimated_time_remaining, Some(20));
    assert_eq!(derived.eta.as_deref(), Some("20s"));
}

fn files(downloaded: u64, bytes: u64, too_big: u64, over_budget: u64, failed: u64) -> MediaCounts {
    MediaCounts {
        files_downloaded: downloaded,
        bytes_downloaded: bytes,
        files_skipped_too_big: too_big,
        files_skipped_over_budget: over_budget,
        bytes_skipped: (too_big + over_budget) * 1000,
        files_failed: failed,
    }
}

fn media_collection() -> ChannelCollection {
    collection(&CHANNELS).media(crds::testing::media_s3())
}

#[test]
fn a_run_s_files_are_counted_live_and_in_its_summary() {
    let mut log = Log::new();
    let mut a = Attempt::start(&mut log, RUN, "pod-a", 4, 0);
    a.done_with_media(&mut log, "alpha", 10, files(3, 3_000, 1, 0, 0), 10);
    let history = ChannelDurations::default();
    let job = job_active(RUN, 0);
    let rows = log.rows(RUN);
    let live = derive(
        &media_collection(),
        Some(&tracked(
            RUN,
            Some(&job),
            AuditInput::Rows {
                rows: &rows,
                history: &history,
            },
        )),
        at(15),
    );
    assert_eq!(
        live.media_current_run,
        Some(files(3, 3_000, 1, 0, 0).into())
    );
    assert_eq!(live.finished, None);

    a.done_with_media(&mut log, "bravo", 10, files(2, 500, 0, 4, 1), 20);
    a.done(&mut log, "charlie", 10, 30);
    a.done(&mut log, "delta", 10, 40);
    a.end(&mut log, 41, None);
    let rows = log.rows(RUN);
    let job = job_complete(RUN, 0, 42);
    let done = derive(
        &media_collection(),
        Some(&tracked(
            RUN,
            Some(&job),
            AuditInput::Rows {
                rows: &rows,
                history: &history,
            },
        )),
        at(45),
    );
    let expected = RunMedia {
        files_downloaded: 5,
        bytes_downloaded: 3_500,
        files_skipped_too_big: 1,
        files_skipped_over_budget: 4,
        bytes_skipped: 5_000,
        files_failed: 1,
    };
    assert_eq!(done.media_current_run, Some(expected));
    assert_eq!(done.finished.unwrap().media, Some(expected));
}

#[test]
fn a_killed_attempt_s_files_count_with_its_retry_s() {
    let mut log = Log::new();
    let mut first = Attempt::start(&mut log, RUN, "pod-a", 4, 0);
    first.done_with_media(&mut log, "alpha", 10, files(2, 2_000, 0, 0, 0), 10);
    // pod-a is killed without collection_end; pod-b retries and finishes.
    let mut second = Attempt::start(&mut log, RUN, "pod-b", 4, 60);
    second.done_with_media(&mut log, "bravo", 10, files(1, 100, 0, 0, 0), 70);
    second.end(&mut log, 80, None);
    let rows = log.rows(RUN);
    let history = ChannelDurations::default();
    let job = job_complete(RUN, 0, 81);
    let summary = derive(
        &media_collection(),
        Some(&tracked(
            RUN,
            Some(&job),
            AuditInput::Rows {
                rows: &rows,
                history: &history,
            },
        )),
        at(90),
    )
    .finished
    .unwrap();
    let media = summary.media.unwrap();
    assert_eq!((media.files_downloaded, media.bytes_downloaded), (3, 2_100));
}

#[test]
fn a_run_without_files_says_so_only_where_media_is_on() {
    let rows = finished_run();
    let history = ChannelDurations::default();
    let job = job_complete(RUN, 0, 42);
    let summary = |cc: &ChannelCollection| {
        derive(
            cc,
            Some(&tracked(
                RUN,
                Some(&job),
                AuditInput::Rows {
                    rows: &rows,
                    history: &history,
                },
            )),
            at(45),
        )
    };
    let off = summary(&collection(&CHANNELS));
    assert_eq!(off.finished.unwrap().media, None);
    assert_eq!(off.media_current_run, None);
    let on = summary(&media_collection());
    assert_eq!(on.finished.unwrap().media, Some(RunMedia::default()));
    assert_eq!(on.media_current_run, None);
}
