//! The pure merge of live progress into the Job-level status (`operator::progress`).

mod common;

use common::{at, t0};
use crds::{ChannelCollectionStatus, CollectionState, RunResult, RunSummary};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use operator::{
    decide::Notice,
    progress::{Finish, finish, record_end},
    time::to_k8s,
};
use run_status::{DerivedStatus, ProgressUnavailable};

fn derived() -> DerivedStatus {
    DerivedStatus {
        state: CollectionState::Collecting,
        progress: Some("1/3".into()),
        eta: None,
        currently_collecting: true,
        current_channel: None,
        channels_processed: 1,
        channels_total: 3,
        messages_collected_current_run: 5,
        errors_current_run: 0,
        flood_wait_seconds_current_run: 0,
        collection_start_time: None,
        estimated_time_remaining: None,
        waiting_until: None,
        recent_errors: Vec::new(),
        finished: None,
        session_invalid: false,
        progress_unavailable: None,
    }
}

fn summary(job: &str, result: RunResult, reason: Option<&str>) -> RunSummary {
    RunSummary {
        job: job.into(),
        end_time: Some(to_k8s(at(12, 5, 0))),
        result: Some(result),
        reason: reason.map(Into::into),
        message: reason.map(|r| format!("because {r}")),
        ..RunSummary::default()
    }
}

fn condition(type_: &str, status: &str, reason: &str) -> Condition {
    Condition {
        type_: type_.into(),
        status: status.into(),
        reason: reason.into(),
        message: String::new(),
        observed_generation: Some(1),
        last_transition_time: to_k8s(t0()),
    }
}

fn ready() -> Vec<Condition> {
    vec![condition("Ready", "True", "Collecting")]
}

fn input(derived: &DerivedStatus) -> Finish<'_> {
    Finish {
        derived,
        invalid: false,
        spec_database: false,
        generation: Some(1),
        now: at(12, 6, 0),
    }
}

fn find<'a>(status: &'a ChannelCollectionStatus, type_: &str) -> Option<&'a Condition> {
    status.conditions.iter().find(|c| c.type_ == type_)
}

#[test]
fn record_end_stops_naming_the_run_and_moves_last_successful_time() {
    let cases = [
        // (activeJob, ended run, result, lastSuccessfulTime before) -> (activeJob, lastSuccessfulTime)
        (
            Some("a"),
            "a",
            RunResult::Succeeded,
            None,
            None,
            Some(at(12, 5, 0)),
        ),
        (
            Some("b"),
            "a",
            RunResult::Succeeded,
            None,
            Some("b"),
            Some(at(12, 5, 0)),
        ),
        (Some("a"), "a", RunResult::Failed, None, None, None),
        (
            None,
            "a",
            RunResult::Succeeded,
            Some(at(13, 0, 0)),
            None,
            Some(at(13, 0, 0)),
        ),
    ];
    for (active, ended, result, before, want_active, want_success) in cases {
        let mut status = ChannelCollectionStatus {
            active_job: active.map(Into::into),
            last_successful_time: before.map(to_k8s),
            ..ChannelCollectionStatus::default()
        };
        let run = summary(ended, result, None);
        record_end(&mut status, &run);
        assert_eq!(status.last_run.as_ref(), Some(&run));
        assert_eq!(
            status.active_job.as_deref(),
            want_active,
            "{active:?} {ended}"
        );
        assert_eq!(
            status.last_successful_time,
            want_success.map(to_k8s),
            "{active:?} {ended} {result:?}"
        );
    }
}

#[test]
fn progress_unavailable_is_present_only_while_the_active_run_cannot_be_read() {
    let unavailable = DerivedStatus {
        progress_unavailable: Some(ProgressUnavailable::Unreachable),
        ..derived()
    };
    let mut status = ChannelCollectionStatus {
        conditions: ready(),
        ..ChannelCollectionStatus::default()
    };
    finish(
        &mut status,
        &ChannelCollectionStatus::default(),
        &[],
        &input(&unavailable),
    );
    let c = find(&status, "ProgressUnavailable").expect("set while unreadable");
    assert_eq!(
        (c.status.as_str(), c.reason.as_str()),
        ("True", "AuditLogUnreachable")
    );

    // Readable again: gone (Job-level conditions are rebuilt on every reconcile).
    let previous = status.clone();
    let mut status = ChannelCollectionStatus {
        conditions: ready(),
        ..ChannelCollectionStatus::default()
    };
    finish(&mut status, &previous, &[], &input(&derived()));
    assert_eq!(find(&status, "ProgressUnavailable"), None);

    // A run that ended unread: nothing live to be unavailable.
    let ended = DerivedStatus {
        currently_collecting: false,
        ..unavailable.clone()
    };
    let mut status = ChannelCollectionStatus {
        conditions: ready(),
        ..ChannelCollectionStatus::default()
    };
    finish(&mut status, &previous, &[], &input(&ended));
    assert_eq!(find(&status, "ProgressUnavailable"), None);
}

#[test]
fn a_collection_naming_its_own_database_is_told_where_the_operator_reads() {
    let not_configured = DerivedStatus {
        progress_unavailable: Some(ProgressUnavailable::NotConfigured),
        ..derived()
    };
    for (spec_database, mentions) in [(false, false), (true, true)] {
        let mut status = ChannelCollectionStatus {
            conditions: ready(),
            ..ChannelCollectionStatus::default()
        };
        finish(
            &mut status,
            &ChannelCollectionStatus::default(),
            &[],
            &Finish {
                spec_database,
                ..input(&not_configured)
            },
        );
        let c = find(&status, "ProgressUnavailable").unwrap();
        assert_eq!(c.reason, "DatabaseNotConfigured");
        assert_eq!(
            c.message.contains("spec.database"),
            mentions,
            "{}",
            c.message
        );
    }
}

#[test]
fn a_revoked_session_stalls_and_is_announced_once() {
    let over = DerivedStatus {
        state: CollectionState::Failed,
        currently_collecting: false,
        session_invalid: true,
        ..derived()
    };
    let fresh = || ChannelCollectionStatus {
        conditions: vec![condition("Ready", "False", "RunFailed")],
        last_run: Some(summary("a", RunResult::Failed, Some("SessionInvalid"))),
        ..ChannelCollectionStatus::default()
    };
    let mut status = fresh();
    let notices = finish(
        &mut status,
        &ChannelCollectionStatus::default(),
        &[],
        &input(&over),
    );
    let stalled = find(&status, "Stalled").unwrap();
    assert_eq!(
        (stalled.status.as_str(), stalled.reason.as_str()),
        ("True", "SessionInvalid")
    );
    assert_eq!(
        stalled.message, "because SessionInvalid",
        "the run's own message"
    );
    assert_eq!(find(&status, "Ready").unwrap().reason, "SessionInvalid");
    let reasons: Vec<&str> = notices.iter().map(|n| n.reason).collect();
    assert_eq!(reasons, ["RunFailed", "SessionInvalid"]);
    assert!(notices.iter().all(|n| n.warning));

    let previous = status.clone();
    let mut again = fresh();
    let notices = finish(&mut again, &previous, &[], &input(&over));
    assert!(notices.is_empty(), "{notices:?}");
    assert_eq!(
        again.conditions, previous.conditions,
        "transition times kept"
    );
}

#[test]
fn an_invalid_spec_wins_over_the_derived_state_and_the_session() {
    let over = DerivedStatus {
        state: CollectionState::Idle,
        currently_collecting: false,
        session_invalid: true,
        ..derived()
    };
    let mut status = ChannelCollectionStatus {
        state: Some(CollectionState::Idle),
        conditions: vec![
            condition("Ready", "False", "InvalidSpec"),
            condition("Stalled", "True", "InvalidSpec"),
        ],
        ..ChannelCollectionStatus::default()
    };
    let decided = [Notice {
        warning: true,
        reason: "InvalidSpec",
        note: "bad cron".into(),
    }];
    let notices = finish(
        &mut status,
        &ChannelCollectionStatus::default(),
        &decided,
        &Finish {
            invalid: true,
            ..input(&over)
        },
    );
    assert_eq!(status.state, Some(CollectionState::Failed));
    assert_eq!(find(&status, "Stalled").unwrap().reason, "InvalidSpec");
    assert_eq!(find(&status, "Ready").unwrap().reason, "InvalidSpec");
    assert_eq!(status.conditions.len(), 2);
    assert_eq!(notices[0], decided[0]);
}

#[test]
fn a_run_recorded_as_ended_is_not_active_while_its_job_terminates() {
    let mut status = ChannelCollectionStatus {
        active_job: Some("a".into()),
        last_run: Some(summary("a", RunResult::Failed, Some("DeadlineExceeded"))),
        conditions: ready(),
        ..ChannelCollectionStatus::default()
    };
    let previous = status.clone();
    finish(&mut status, &previous, &[], &input(&derived()));
    assert_eq!(status.active_job, None);

    let mut other = ChannelCollectionStatus {
        active_job: Some("b".into()),
        ..previous.clone()
    };
    finish(&mut other, &previous, &[], &input(&derived()));
    assert_eq!(
        other.active_job.as_deref(),
        Some("b"),
        "a newer run stays active"
    );
}
