//! The one status computation (`operator::status::status`), table-driven at fixed instants:
//! what the audit log, the Jobs, the pods and the plan each add, and the Events of transitions.

mod common;

use common::{TestJob, at, defaults, job_for};
use contract::audit::{AuditEvent, AuditRow, CollectionEnd, CollectionStart, EndReason};
use crds::testing::{TestCollection, t0};
use crds::{
    ChannelCollection, ChannelCollectionStatus, CollectionState, RunId, RunResult, RunSummary,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use operator::job::JobPhase;
use operator::status::{AuditInput, ChannelDurations, ProgressUnavailable};
use operator::{
    decide::decide,
    pods::PodProblem,
    runs::{RunView, owned_runs},
    status::{Followed, Notice, StatusInput, status},
    time::to_k8s,
};

const RUN: &str = "news-29931120";

/// How the followed run's audit log reads in a case.
#[derive(Clone)]
enum Audit {
    Rows(Vec<AuditRow>),
    Unavailable(ProgressUnavailable),
}

fn row(id: i64, event: AuditEvent) -> AuditRow {
    AuditRow {
        id,
        timestamp: at(12, 0, 10),
        pod_name: Some("pod-a".into()),
        shard: None,
        event: Ok(event),
    }
}

fn started() -> Vec<AuditRow> {
    vec![row(
        1,
        AuditEvent::Start(CollectionStart {
            total_channels: 3,
            start_time: at(12, 0, 10),
        }),
    )]
}

fn revoked() -> Vec<AuditRow> {
    let mut rows = started();
    rows.push(row(
        2,
        AuditEvent::End(CollectionEnd {
            edits_found: 0,
            deletions_found: 0,
            media: Default::default(),
            total_messages: 0,
            channels_synced: 0,
            total_channels: 3,
            errors: 0,
            end_time: at(12, 0, 12),
            aborted: true,
            reason: Some(EndReason::SessionInvalid),
        }),
    ));
    rows
}

/// The status of `cc` (its previous status included) with `jobs`, following run [`RUN`] with
/// `audit`, at `now`.
fn compute(
    cc: &ChannelCollection,
    jobs: &[k8s_openapi::api::batch::v1::Job],
    audit: Option<Audit>,
    pod: Option<PodProblem>,
    now: chrono::DateTime<chrono::Utc>,
) -> (ChannelCollectionStatus, Vec<Notice>) {
    compute_run(cc, jobs, RUN, audit, pod, now)
}

/// [`compute`], following the run `run`.
fn compute_run(
    cc: &ChannelCollection,
    jobs: &[k8s_openapi::api::batch::v1::Job],
    run: &str,
    audit: Option<Audit>,
    pod: Option<PodProblem>,
    now: chrono::DateTime<chrono::Utc>,
) -> (ChannelCollectionStatus, Vec<Notice>) {
    let runs: Vec<RunView> = owned_runs(cc, jobs);
    let plan = decide(cc, &runs, &defaults(), now);
    let id = RunId::from(run);
    let run = runs.iter().find(|r| r.id == id);
    let history = ChannelDurations::default();
    let followed = audit.as_ref().map(|audit| Followed {
        id: id.clone(),
        phase: run.map_or_else(|| operator::job::phase(None), |r| r.phase.clone()),
        job_started: run.and_then(|r| r.started),
        audit: match audit {
            Audit::Rows(rows) => AuditInput::Rows {
                rows,
                history: &history,
            },
            Audit::Unavailable(why) => AuditInput::Unavailable(*why),
        },
        shards: run.map_or(&[], |r| r.shards.as_slice()),
    });
    status(&StatusInput {
        collection: cc,
        runs: &runs,
        followed,
        pod_problem: pod.as_ref(),
        plan: &plan,
        name_taken: None,
        now,
    })
}

fn condition<'a>(status: &'a ChannelCollectionStatus, type_: &str) -> Option<&'a Condition> {
    status.conditions.iter().find(|c| c.type_ == type_)
}

fn reasons(notices: &[Notice]) -> Vec<&str> {
    notices.iter().map(|n| n.reason).collect()
}

fn following(cc: ChannelCollection) -> ChannelCollection {
    cc.last_scheduled(t0())
        .with_status(ChannelCollectionStatus {
            active_job: Some(RUN.into()),
            last_schedule_time: Some(to_k8s(t0())),
            ..ChannelCollectionStatus::default()
        })
}

#[test]
fn states_of_a_run() {
    let cc = || following(ChannelCollection::test());
    let job = || job_for(&ChannelCollection::test(), t0());
    let missing = PodProblem {
        pod: "news-29931120-abcde".into(),
        reason: "CreateContainerConfigError".into(),
        message: "secret \"telegram-session\" not found".into(),
    };
    // (case, jobs, audit, pod problem) -> (state, currentlyCollecting, Ready, Reconciling reason)
    struct Case {
        name: &'static str,
        jobs: Vec<k8s_openapi::api::batch::v1::Job>,
        audit: Option<Audit>,
        pod: Option<PodProblem>,
        want: Want,
    }
    type Want = (CollectionState, bool, &'static str, Option<&'static str>);
    let case = |name, jobs, audit, pod, want: Want| Case {
        name,
        jobs,
        audit,
        pod,
        want,
    };
    let rows = |r: Vec<AuditRow>| Some(Audit::Rows(r));
    let unavailable = |why| Some(Audit::Unavailable(why));
    use CollectionState::*;
    let cases = vec![
        case(
            "pod pending, no collection_start yet",
            vec![job().running(false)],
            rows(vec![]),
            None,
            (Starting, false, "False", Some("RunStarting")),
        ),
        case(
            "pod running, collector not started yet",
            vec![job().running(true)],
            rows(vec![]),
            None,
            (Starting, false, "False", Some("RunStarting")),
        ),
        case(
            "a missing Secret says so",
            vec![job().running(false)],
            rows(vec![]),
            Some(missing.clone()),
            (Starting, false, "False", Some("CreateContainerConfigError")),
        ),
        case(
            "collecting once collection_start is written",
            vec![job().running(true)],
            rows(started()),
            None,
            (Collecting, true, "True", None),
        ),
        case(
            "no audit log: a running pod is collecting",
            vec![job().running(true)],
            unavailable(ProgressUnavailable::NotConfigured),
            None,
            (Collecting, true, "True", None),
        ),
        case(
            "no audit log, pod pending: starting",
            vec![job().running(false)],
            unavailable(ProgressUnavailable::Unreachable),
            None,
            (Starting, false, "False", Some("RunStarting")),
        ),
        case(
            "succeeded",
            vec![job().succeeded(at(12, 4, 0))],
            rows(started()),
            None,
            (Idle, false, "True", None),
        ),
        case(
            "failed",
            vec![job().failed(at(12, 4, 0), "DeadlineExceeded")],
            rows(started()),
            None,
            (Failed, false, "False", None),
        ),
        case(
            "Job vanished",
            vec![],
            rows(started()),
            None,
            (Failed, false, "False", None),
        ),
    ];
    let mut failures = Vec::new();
    for Case {
        name,
        jobs,
        audit,
        pod,
        want: (state, collecting, ready, reconciling),
    } in cases
    {
        let (status, _) = compute(&cc(), &jobs, audit, pod, at(12, 1, 0));
        let got = (
            status.state,
            status.currently_collecting,
            condition(&status, "Ready").map(|c| c.status.as_str()),
            condition(&status, "Reconciling").map(|c| c.reason.as_str()),
        );
        let want = (Some(state), collecting, Some(ready), reconciling);
        if got != want {
            failures.push(format!("{name}: expected {want:?}, got {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_pod_that_cannot_start_is_told_once_within_one_refresh() {
    let cc = following(ChannelCollection::test());
    let jobs = [job_for(&ChannelCollection::test(), t0()).running(false)];
    let missing = PodProblem {
        pod: "news-29931120-abcde".into(),
        reason: "CreateContainerConfigError".into(),
        message: "secret \"telegram-session\" not found".into(),
    };
    let (first, notices) = compute(
        &cc,
        &jobs,
        Some(Audit::Rows(vec![])),
        Some(missing.clone()),
        at(12, 0, 30),
    );
    let reconciling = condition(&first, "Reconciling").unwrap();
    assert!(
        reconciling
            .message
            .contains("secret \"telegram-session\" not found"),
        "{}",
        reconciling.message
    );
    assert_eq!(reasons(&notices), ["PodNotStarting"]);
    assert!(notices[0].warning && notices[0].note.contains("telegram-session"));
    let (again, notices) = compute(
        &cc.clone().with_status(first.clone()),
        &jobs,
        Some(Audit::Rows(vec![])),
        Some(missing),
        at(12, 0, 35),
    );
    assert!(notices.is_empty(), "told once: {notices:?}");
    assert_eq!(again, first, "settled");
}

#[test]
fn a_revoked_session_stalls_and_is_announced_once() {
    let cc = following(ChannelCollection::test());
    let jobs =
        [job_for(&ChannelCollection::test(), t0()).failed(at(12, 2, 0), "BackoffLimitExceeded")];
    let (first, notices) = compute(
        &cc,
        &jobs,
        Some(Audit::Rows(revoked())),
        None,
        at(12, 2, 30),
    );
    let stalled = condition(&first, "Stalled").unwrap();
    assert_eq!(
        (stalled.status.as_str(), stalled.reason.as_str()),
        ("True", "SessionInvalid")
    );
    assert_eq!(condition(&first, "Ready").unwrap().reason, "SessionInvalid");
    assert_eq!(
        first.last_run.as_ref().unwrap().reason.as_deref(),
        Some("SessionInvalid")
    );
    assert_eq!(reasons(&notices), ["RunFailed", "SessionInvalid"]);
    // Idle afterwards: nothing followed, the audit log's account stays, nothing is told again.
    let (again, notices) = compute(
        &cc.with_status(first.clone()),
        &jobs,
        None,
        None,
        at(12, 3, 0),
    );
    assert!(notices.is_empty(), "{notices:?}");
    assert_eq!(again, first);
}

#[test]
fn progress_unavailable_only_while_the_active_run_cannot_be_read() {
    let cc = following(ChannelCollection::test());
    let active = [job_for(&ChannelCollection::test(), t0()).running(true)];
    let ended =
        [job_for(&ChannelCollection::test(), t0()).failed(at(12, 4, 0), "DeadlineExceeded")];
    let unreachable = Some(Audit::Unavailable(ProgressUnavailable::Unreachable));
    let reason =
        |s: &ChannelCollectionStatus| condition(s, "ProgressUnavailable").map(|c| c.reason.clone());
    let (s, _) = compute(&cc, &active, unreachable.clone(), None, at(12, 1, 0));
    assert_eq!(reason(&s).as_deref(), Some("AuditLogUnreachable"));
    let (s, _) = compute(
        &cc,
        &active,
        Some(Audit::Rows(started())),
        None,
        at(12, 1, 0),
    );
    assert_eq!(reason(&s), None, "readable again");
    let (s, _) = compute(&cc, &ended, unreachable, None, at(12, 5, 0));
    assert_eq!(reason(&s), None, "nothing live to be unavailable");

    // A collection naming its own database is told where the operator reads.
    let not_configured = Some(Audit::Unavailable(ProgressUnavailable::NotConfigured));
    for (cc, mentions) in [(cc.clone(), false), (cc.database("db", "url"), true)] {
        let (s, _) = compute(&cc, &active, not_configured.clone(), None, at(12, 1, 0));
        let c = condition(&s, "ProgressUnavailable").unwrap();
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
fn an_invalid_spec_wins_over_the_run_and_the_session() {
    let cc = following(ChannelCollection::test()).cron("61 * * * *", None);
    let jobs =
        [job_for(&ChannelCollection::test(), t0()).failed(at(12, 2, 0), "BackoffLimitExceeded")];
    let (s, notices) = compute(
        &cc,
        &jobs,
        Some(Audit::Rows(revoked())),
        None,
        at(12, 2, 30),
    );
    assert_eq!(s.state, Some(CollectionState::Failed));
    assert_eq!(condition(&s, "Stalled").unwrap().reason, "InvalidSpec");
    assert_eq!(condition(&s, "Ready").unwrap().reason, "InvalidSpec");
    assert_eq!(s.conditions.len(), 2);
    assert_eq!(reasons(&notices), ["InvalidSpec", "RunFailed"]);
}

#[test]
fn a_run_whose_failure_is_decided_is_not_active_while_its_pods_terminate() {
    let cc = following(ChannelCollection::test());
    let mut job = job_for(&ChannelCollection::test(), t0()).running(true);
    job.status.as_mut().unwrap().conditions =
        Some(vec![k8s_openapi::api::batch::v1::JobCondition {
            type_: "FailureTarget".into(),
            status: "True".into(),
            reason: Some("DeadlineExceeded".into()),
            message: Some("too long".into()),
            last_transition_time: Some(to_k8s(at(12, 3, 0))),
            last_probe_time: None,
        }]);
    let runs = owned_runs(&cc, std::slice::from_ref(&job));
    assert!(runs[0].holds_session, "its pods may still hold the session");
    assert!(matches!(runs[0].phase, JobPhase::Failed { .. }));
    let (s, _) = compute(
        &cc,
        &[job],
        Some(Audit::Rows(started())),
        None,
        at(12, 3, 5),
    );
    assert_eq!(s.active_job, None);
    assert_eq!(
        s.last_run,
        Some(RunSummary {
            result: Some(RunResult::Failed),
            ..s.last_run.clone().unwrap()
        })
    );
}

/// A row of index `shard` of the sharded run, written by its pod.
fn shard_row(id: i64, shard: u32, secs: u32, event: AuditEvent) -> AuditRow {
    AuditRow {
        id,
        timestamp: at(12, 1, secs),
        pod_name: Some(format!("{RUN}-{shard}-x")),
        shard: Some(shard),
        event: Ok(event),
    }
}

#[test]
fn a_four_shard_run_from_its_job_and_audit_rows() {
    let mut spec_cc = ChannelCollection::test().sharded(&["tg-a", "tg-b", "tg-c", "tg-d"]);
    spec_cc.spec.channels = (0..8).map(|i| format!("@channel{i}")).collect();
    let cc = following(spec_cc.clone());
    let job = job_for(&spec_cc, t0()).running(true);
    let assigned: Vec<Vec<String>> = serde_json::from_str(
        job.spec
            .as_ref()
            .unwrap()
            .template
            .spec
            .as_ref()
            .unwrap()
            .containers[0]
            .env
            .iter()
            .flatten()
            .find(|e| e.name == "COLLECTOR_ASSIGNMENT")
            .and_then(|e| e.value.as_deref())
            .unwrap(),
    )
    .unwrap();
    let total = |i: usize| assigned[i].len() as u32;
    let progress = |id: i64, shard: usize, done: u32, secs: u32| {
        shard_row(
            id,
            shard as u32,
            secs,
            AuditEvent::Progress(contract::audit::CollectionProgress {
                edits_found: 0,
                deletions_found: 0,
                media: Default::default(),
                channel_name: assigned[shard][done as usize - 1].clone(),
                messages_collected: 10,
                channels_processed: done,
                total_channels: total(shard),
                errors: 0,
                progress_time: at(12, 1, secs),
                error: None,
            }),
        )
    };
    let start = |id: i64, shard: usize, secs: u32| {
        shard_row(
            id,
            shard as u32,
            secs,
            AuditEvent::Start(CollectionStart {
                total_channels: total(shard),
                start_time: at(12, 1, secs),
            }),
        )
    };
    // Index 0 has done one channel, index 1 all of its own, index 2 has not started, index 3
    // has just started.
    assert!(assigned.iter().all(|a| !a.is_empty()), "{assigned:?}");
    let mut rows = vec![start(1, 0, 0), start(2, 1, 0), progress(3, 0, 1, 5)];
    for (n, id) in (1..=total(1)).zip(4..) {
        rows.push(progress(id, 1, n, 5 + n));
    }
    rows.push(start(20, 3, 9));

    let (s, _) = compute(
        &cc,
        std::slice::from_ref(&job),
        Some(Audit::Rows(rows.clone())),
        None,
        at(12, 1, 20),
    );
    assert_eq!(s.state, Some(CollectionState::Collecting));
    assert!(s.currently_collecting);
    assert_eq!(s.active_job, Some(RUN.into()));
    assert_eq!(s.channels_total, 8);
    assert_eq!(s.channels_processed as u32, 1 + total(1));
    assert_eq!(
        s.messages_collected_current_run,
        10 * i64::from(1 + total(1))
    );
    let shards: Vec<(i32, &str, i32)> = s
        .shards
        .iter()
        .map(|x| (x.index, x.session.as_str(), x.channels_total))
        .collect();
    assert_eq!(
        shards,
        [
            (0, "tg-a", total(0) as i32),
            (1, "tg-b", total(1) as i32),
            (2, "tg-c", total(2) as i32),
            (3, "tg-d", total(3) as i32),
        ]
    );
    assert_eq!(
        s.shards.iter().map(|x| x.state).collect::<Vec<_>>(),
        [
            Some(crds::ShardState::Collecting),
            Some(crds::ShardState::Collecting),
            Some(crds::ShardState::Starting),
            Some(crds::ShardState::Collecting),
        ]
    );

    // Index 2 starts on a revoked session; its exit code fails the Job.
    rows.push(start(30, 2, 25));
    rows.push(shard_row(
        31,
        2,
        26,
        AuditEvent::End(CollectionEnd {
            edits_found: 0,
            deletions_found: 0,
            media: Default::default(),
            total_messages: 0,
            channels_synced: 0,
            total_channels: total(2),
            errors: 0,
            end_time: at(12, 1, 26),
            aborted: true,
            reason: Some(EndReason::SessionInvalid),
        }),
    ));
    let failed = job.clone().failed(at(12, 1, 30), "PodFailurePolicy");
    let (s, notices) = compute(&cc, &[failed], Some(Audit::Rows(rows)), None, at(12, 1, 40));
    assert_eq!(s.active_job, None);
    assert_eq!(s.state, Some(CollectionState::Failed));
    let last = s.last_run.as_ref().unwrap();
    assert_eq!(last.result, Some(RunResult::Failed));
    assert_eq!(last.reason.as_deref(), Some("SessionInvalid"));
    let message = last.message.as_deref().unwrap();
    assert!(
        message.starts_with("shard 2 (secret tg-c): the Telegram session is revoked"),
        "{message}"
    );
    let stalled = condition(&s, "Stalled").expect("a revoked session stalls");
    assert_eq!(stalled.reason, "SessionInvalid");
    assert!(
        stalled.message.contains("shard 2 (secret tg-c)"),
        "{}",
        stalled.message
    );
    assert!(reasons(&notices).contains(&"RunFailed"), "{notices:?}");
    let failed_note = &notices
        .iter()
        .find(|n| n.reason == "RunFailed")
        .unwrap()
        .note;
    assert!(
        failed_note.contains("shard 2 (secret tg-c)"),
        "{failed_note}"
    );
    assert_eq!(s.shards[2].reason.as_deref(), Some("SessionInvalid"));
}

/// A run whose collector started at `start` and found the session revoked two seconds later.
fn revoked_at(start: chrono::DateTime<chrono::Utc>) -> Vec<AuditRow> {
    let at_start = |id, event| AuditRow {
        timestamp: start,
        ..row(id, event)
    };
    vec![
        at_start(
            1,
            AuditEvent::Start(CollectionStart {
                total_channels: 3,
                start_time: start,
            }),
        ),
        at_start(
            2,
            AuditEvent::End(CollectionEnd {
                edits_found: 0,
                deletions_found: 0,
                media: Default::default(),
                total_messages: 0,
                channels_synced: 0,
                total_channels: 3,
                errors: 0,
                end_time: start + chrono::TimeDelta::seconds(2),
                aborted: true,
                reason: Some(EndReason::SessionInvalid),
            }),
        ),
    ]
}

/// Seen on a real API server: a new Job every interval on the same revoked session, and
/// `Stalled` dropping while each retry started. Now `Stalled` holds with one transition time,
/// the retries are spaced out, and a spec change or a manual request retries at once.
#[test]
fn a_revoked_session_stays_stalled_and_its_retries_are_spaced_out() {
    let cc = ChannelCollection::test();
    let first_job = job_for(&cc, t0()).failed(at(12, 0, 20), "PodFailurePolicy");
    // The first run finds the session revoked.
    let (found, _) = compute(
        &following(cc.clone()),
        std::slice::from_ref(&first_job),
        Some(Audit::Rows(revoked_at(at(12, 0, 10)))),
        None,
        at(12, 0, 30),
    );
    let since = condition(&found, "Stalled")
        .unwrap()
        .last_transition_time
        .clone();
    assert_eq!(since, to_k8s(at(12, 0, 30)));

    // The first retry waits at least five minutes; at a 10m interval that is the next run.
    let resting = cc.clone().with_status(found.clone());
    let runs = owned_runs(&resting, std::slice::from_ref(&first_job));
    let plan = decide(&resting, &runs, &defaults(), at(12, 10, 0));
    let retry = plan
        .create
        .expect("the first retry runs at the next interval")
        .job;
    let retry_id = retry.metadata.name.clone().unwrap();

    // While the retry starts and until it has done a channel, the collection stays Stalled,
    // with the transition time of when the session was found revoked.
    let retry_job = job_for(&cc, at(12, 10, 0)).running(true);
    let mut retrying_status = found.clone();
    retrying_status.active_job = Some(retry_id.clone().into());
    retrying_status.last_schedule_time = Some(to_k8s(at(12, 10, 0)));
    let retrying = cc.clone().with_status(retrying_status);
    let jobs = [first_job.clone(), retry_job];
    for (audit, now) in [
        (None, at(12, 10, 5)),
        (Some(Audit::Rows(started())), at(12, 10, 12)),
    ] {
        let (status, _) = compute_run(&retrying, &jobs, &retry_id, audit, None, now);
        let stalled = condition(&status, "Stalled").expect("still stalled while retrying");
        assert_eq!(stalled.reason, "SessionInvalid");
        assert_eq!(
            stalled.last_transition_time, since,
            "one transition, not one per retry"
        );
        assert_eq!(
            condition(&status, "Ready").unwrap().reason,
            "SessionInvalid"
        );
    }

    // The retry fails the same way: the next one waits twice as long as the session has been
    // known revoked (2 x 9m40s after 12:10:10, so 12:29:30): 12:20 is skipped, 12:30 runs.
    let jobs = [
        first_job.clone(),
        job_for(&cc, at(12, 10, 0)).failed(at(12, 10, 20), "PodFailurePolicy"),
    ];
    let (failed_again, _) = compute_run(
        &retrying,
        &jobs,
        &retry_id,
        Some(Audit::Rows(revoked_at(at(12, 10, 10)))),
        None,
        at(12, 10, 30),
    );
    assert_eq!(
        condition(&failed_again, "Stalled")
            .unwrap()
            .last_transition_time,
        since
    );
    let held = cc.clone().with_status(failed_again.clone());
    let runs = owned_runs(&held, &jobs);
    let plan = decide(&held, &runs, &defaults(), at(12, 20, 0));
    assert!(plan.create.is_none(), "12:20 is inside the hold");
    assert_eq!(plan.schedule.next_run, Some(at(12, 30, 0)));
    assert!(plan.notices.is_empty(), "a held run is not a missed run");
    let (waiting, _) = compute_run(&held, &jobs, &retry_id, None, None, at(12, 20, 0));
    assert_eq!(waiting.next_run_time, Some(to_k8s(at(12, 30, 0))));
    assert_eq!(
        condition(&waiting, "Stalled").unwrap().last_transition_time,
        since
    );
    assert!(
        decide(&held, &runs, &defaults(), at(12, 30, 0))
            .create
            .is_some(),
        "the first scheduled time after the hold runs"
    );

    // A spec change since the session was found revoked retries at once...
    let mut changed = held.clone();
    changed.metadata.generation = Some(2);
    changed.spec.channels.push("@newchannel".to_string());
    assert!(
        decide(&changed, &runs, &defaults(), at(12, 20, 0))
            .create
            .is_some()
    );
    // ...and so does a manual request.
    let requested = held.requested("2026-11-28T12:20:00Z");
    assert!(
        decide(&requested, &runs, &defaults(), at(12, 20, 0))
            .create
            .is_some()
    );
}

/// A retry that gets a channel done proves the session works again: `Stalled` clears while it
/// is still running.
#[test]
fn a_retry_that_collects_clears_the_stall() {
    let cc = ChannelCollection::test();
    let first_job = job_for(&cc, t0()).failed(at(12, 0, 20), "PodFailurePolicy");
    let (found, _) = compute(
        &following(cc.clone()),
        std::slice::from_ref(&first_job),
        Some(Audit::Rows(revoked_at(at(12, 0, 10)))),
        None,
        at(12, 0, 30),
    );
    let retry_job = job_for(&cc, at(12, 10, 0)).running(true);
    let retry_id = retry_job.metadata.name.clone().unwrap();
    let mut status = found;
    status.active_job = Some(retry_id.clone().into());
    status.last_schedule_time = Some(to_k8s(at(12, 10, 0)));
    let mut rows = started();
    rows.push(row(
        2,
        AuditEvent::Progress(contract::audit::CollectionProgress {
            edits_found: 0,
            deletions_found: 0,
            media: Default::default(),
            channel_name: "@durov".into(),
            messages_collected: 5,
            channels_processed: 1,
            total_channels: 3,
            errors: 0,
            progress_time: at(12, 10, 20),
            error: None,
        }),
    ));
    let (collecting, _) = compute_run(
        &cc.clone().with_status(status),
        &[first_job, retry_job],
        &retry_id,
        Some(Audit::Rows(rows)),
        None,
        at(12, 10, 30),
    );
    assert!(
        condition(&collecting, "Stalled").is_none(),
        "{collecting:?}"
    );
    assert_eq!(collecting.state, Some(CollectionState::Collecting));
}

/// `status.recentRuns` (what `kubectl chc history` reads): a finished run enters it once however
/// often the status is recomputed, its entry follows its summary as that gains the audit log's
/// counts, and the list keeps the newest ten, newest first.
#[test]
fn a_finished_run_enters_recent_runs_once_and_the_list_stays_bounded() {
    let cc = following(ChannelCollection::test());
    let jobs = [job_for(&ChannelCollection::test(), t0()).succeeded(at(12, 4, 0))];

    // Seen from the Job alone first.
    let (first, _) = compute(&cc, &jobs, None, None, at(12, 4, 5));
    let summary = first.last_run.clone().expect("the run is over");
    assert_eq!(summary.job, RunId::from(RUN));
    assert_eq!(first.recent_runs, [summary]);

    // Then with its collection_end: the same entry, with the counts.
    let mut rows = started();
    rows.push(row(
        2,
        AuditEvent::End(CollectionEnd {
            edits_found: 0,
            deletions_found: 0,
            media: Default::default(),
            total_messages: 42,
            channels_synced: 3,
            total_channels: 3,
            errors: 0,
            end_time: at(12, 3, 50),
            aborted: false,
            reason: None,
        }),
    ));
    let (counted, _) = compute(
        &cc.clone().with_status(first.clone()),
        &jobs,
        Some(Audit::Rows(rows)),
        None,
        at(12, 4, 10),
    );
    assert_eq!(counted.recent_runs.len(), 1, "{:?}", counted.recent_runs);
    assert_eq!(counted.recent_runs[0].messages, Some(42));
    assert_eq!(counted.recent_runs.first(), counted.last_run.as_ref());

    // Recomputed while idle: unchanged, so no patch.
    let (again, _) = compute(
        &cc.clone().with_status(counted.clone()),
        &jobs,
        None,
        None,
        at(12, 5, 0),
    );
    assert_eq!(again.recent_runs, counted.recent_runs);

    // Ten older runs already listed: the new one goes first and the oldest drops out.
    let older: Vec<RunSummary> = (0..crds::MAX_RECENT_RUNS)
        .map(|i| RunSummary {
            job: format!("news-old-{i}").into(),
            result: Some(RunResult::Succeeded),
            end_time: Some(to_k8s(at(11, 50 - i as u32, 0))),
            ..RunSummary::default()
        })
        .collect();
    let full = cc.with_status(ChannelCollectionStatus {
        active_job: Some(RUN.into()),
        last_schedule_time: Some(to_k8s(t0())),
        last_run: Some(older[0].clone()),
        recent_runs: older.clone(),
        ..ChannelCollectionStatus::default()
    });
    let (bounded, _) = compute(&full, &jobs, None, None, at(12, 4, 5));
    let listed: Vec<&str> = bounded.recent_runs.iter().map(|r| r.job.as_str()).collect();
    let mut want = vec![RUN.to_string()];
    want.extend((0..crds::MAX_RECENT_RUNS - 1).map(|i| format!("news-old-{i}")));
    assert_eq!(listed, want);
}
