//! The whole reconcile decision as a pure function: status fields, kstatus conditions and
//! which Jobs to touch, for states the mocked-API tests do not reach.

mod common;

use common::{TestJob, at, defaults, job_for, reconcile_pure as decide};
use crds::testing::{TestCollection, t0};
use crds::{ChannelCollection, CollectionState};
use operator::job::JobPhase;
use operator::{
    job::JobDefaults,
    runs::{beyond_history, owned_runs},
    time::to_k8s,
};

fn condition<'a>(
    status: &'a crds::ChannelCollectionStatus,
    type_: &str,
) -> Option<&'a k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition> {
    status.conditions.iter().find(|c| c.type_ == type_)
}

#[test]
fn no_database_anywhere_is_an_invalid_spec() {
    let cc = ChannelCollection::test();
    let no_default = JobDefaults {
        database: None,
        ..defaults()
    };
    let d = decide(&cc, &[], &no_default, at(12, 0, 5));
    assert!(d.plan.stall.is_some() && d.plan.create.is_none());
    let stalled = condition(&d.status, "Stalled").unwrap();
    assert!(
        stalled.message.contains("--default-database-secret"),
        "{}",
        stalled.message
    );
    // With spec.database it is fine.
    let d = decide(&cc.database("db", "url"), &[], &no_default, at(12, 0, 5));
    assert!(d.plan.stall.is_none() && d.plan.create.is_some());
}

#[test]
fn transition_times_survive_unchanged_conditions() {
    let cc = ChannelCollection::test().cron("0 13 * * *", None);
    let first = decide(&cc, &[], &defaults(), at(12, 0, 5)).status;
    let later = decide(
        &cc.clone().with_status(first.clone()),
        &[],
        &defaults(),
        at(12, 30, 0),
    )
    .status;
    assert_eq!(later, first, "nothing changed, so nothing to write");
    let ready = condition(&later, "Ready").unwrap();
    assert_eq!(ready.last_transition_time, to_k8s(at(12, 0, 5)));

    // Stalled appears only while true, and Ready flips with a new transition time.
    let broken = cc.clone().cron("not cron", None).with_status(first);
    let stalled = decide(&broken, &[], &defaults(), at(12, 40, 0)).status;
    assert_eq!(condition(&stalled, "Ready").unwrap().status, "False");
    assert_eq!(
        condition(&stalled, "Ready").unwrap().last_transition_time,
        to_k8s(at(12, 40, 0))
    );
    let fixed = decide(&cc.with_status(stalled), &[], &defaults(), at(12, 50, 0)).status;
    assert!(condition(&fixed, "Stalled").is_none());
    assert_eq!(condition(&fixed, "Ready").unwrap().status, "True");
}

#[test]
fn collecting_is_ready_once_the_pod_runs() {
    let cc = ChannelCollection::test().last_scheduled(t0());
    let starting = decide(
        &cc,
        &[job_for(&cc, t0()).running(false)],
        &defaults(),
        at(12, 1, 0),
    )
    .status;
    assert_eq!(starting.state, Some(CollectionState::Starting));
    assert_eq!(
        condition(&starting, "Reconciling").unwrap().reason,
        "RunStarting"
    );
    let running = decide(
        &cc,
        &[job_for(&cc, t0()).running(true)],
        &defaults(),
        at(12, 1, 0),
    )
    .status;
    assert_eq!(condition(&running, "Ready").unwrap().status, "True");
    assert_eq!(condition(&running, "Ready").unwrap().reason, "Collecting");
    assert!(condition(&running, "Reconciling").is_none());
    assert_eq!(running.active_job, Some("news-29931120".into()));
}

#[test]
fn a_replaced_run_still_terminating_blocks_the_next_one() {
    let cc = ChannelCollection::test().replace().last_scheduled(t0());
    let mut old = job_for(&cc, t0()).running(true);
    old.metadata.deletion_timestamp = Some(to_k8s(at(12, 10, 1)));
    let d = decide(&cc, &[old], &defaults(), at(12, 10, 3));
    assert!(
        d.plan.create.is_none(),
        "no second pod on the session while the old one terminates"
    );
    assert!(d.plan.replace.is_empty(), "already being deleted");
    assert_eq!(
        condition(&d.status, "Reconciling").unwrap().reason,
        "ReplacingRun"
    );
}

#[test]
fn jobs_of_a_namesake_are_ignored() {
    let cc = ChannelCollection::test().last_scheduled(t0());
    let foreign = job_for(&cc, t0()).running(true).foreign();
    assert!(owned_runs(&cc, std::slice::from_ref(&foreign)).is_empty());
    let d = decide(&cc, &[foreign], &defaults(), at(12, 1, 0));
    assert_eq!(d.status.active_job, None);
}

#[test]
fn history_keeps_the_newest_and_skips_jobs_already_deleting() {
    let cc = ChannelCollection::test();
    let mut jobs: Vec<_> = (0..4)
        .map(|i| job_for(&cc, at(11, i * 10, 0)).succeeded(at(11, i * 10 + 5, 0)))
        .collect();
    jobs[0].metadata.deletion_timestamp = Some(to_k8s(at(11, 59, 0)));
    let runs = owned_runs(&cc, &jobs);
    assert!(
        runs.iter()
            .all(|r| matches!(r.phase, JobPhase::Succeeded { .. }))
    );
    // Keep 1: the two older ones not yet deleting go, the newest stays.
    assert_eq!(
        beyond_history(&runs, 1, 1),
        ["news-29931070".into(), "news-29931080".into()] as [crds::RunId; 2]
    );
    assert_eq!(beyond_history(&runs, 0, 0).len(), 3);
    assert!(beyond_history(&runs, 5, 5).is_empty());
}

/// Every steady state settles: deciding again a little later, with the status just
/// written, writes nothing new (a status that depends on `now` would make each write
/// trigger the next reconcile, forever).
#[test]
fn steady_states_settle() {
    let base = || ChannelCollection::test().last_scheduled(t0());
    let running = |cc: &ChannelCollection, ready: bool| job_for(cc, t0()).running(ready);
    let mut terminating = job_for(&base().replace(), t0()).running(true);
    terminating.metadata.deletion_timestamp = Some(to_k8s(at(12, 10, 1)));
    // Between runs (the next is at 12:10), and after 12:10 for the runs that wait.
    let between = (at(12, 5, 10), at(12, 5, 40));
    let overdue = (at(12, 10, 30), at(12, 10, 50));
    let cases: Vec<(
        &str,
        ChannelCollection,
        Vec<k8s_openapi::api::batch::v1::Job>,
        _,
    )> = vec![
        ("interval idle", base(), vec![], between),
        (
            "cron idle",
            base().cron("0 13 * * *", Some("Europe/Berlin")),
            vec![],
            between,
        ),
        (
            "suspended",
            base().suspended().requested("r"),
            vec![],
            overdue,
        ),
        ("invalid", base().cron("bad", None), vec![], overdue),
        ("collecting", base(), vec![running(&base(), true)], between),
        ("starting", base(), vec![running(&base(), false)], between),
        (
            "forbid blocks a scheduled run",
            base(),
            vec![running(&base(), true)],
            overdue,
        ),
        (
            "forbid blocks a manual run",
            base().requested("r"),
            vec![running(&base(), true)],
            between,
        ),
        (
            "replace waits for termination",
            base().replace(),
            vec![terminating],
            overdue,
        ),
        (
            "succeeded",
            base(),
            vec![job_for(&base(), t0()).succeeded(at(12, 4, 0))],
            between,
        ),
        (
            "failed",
            base(),
            vec![job_for(&base(), t0()).failed(at(12, 4, 0), "DeadlineExceeded")],
            between,
        ),
    ];
    for (name, cc, jobs, (now, later)) in cases {
        let first = decide(&cc, &jobs, &defaults(), now);
        assert!(
            first.plan.create.is_none(),
            "{name}: expected a steady state, not a new run"
        );
        let again = decide(
            &cc.with_status(first.status.clone()),
            &jobs,
            &defaults(),
            later,
        );
        assert_eq!(
            again.status, first.status,
            "{name}: status changed without anything happening"
        );
        assert!(
            again.notices.is_empty(),
            "{name}: repeated Events {:?}",
            again.notices
        );
    }
}

/// The reconcile after the one that created a run's Job (woken by the Job's own watch event,
/// or by the status it wrote) writes nothing: at 1,000 collections a second status write per
/// run would double the API requests of a due minute.
#[test]
fn a_started_run_settles_at_the_next_reconcile() {
    let cc = ChannelCollection::test().last_scheduled(t0() - chrono::TimeDelta::minutes(10));
    let first = decide(&cc, &[], &defaults(), t0());
    let created = first.plan.create.as_ref().expect("due").job.clone();
    let mut job = created;
    job.metadata.uid = Some("job-uid".into());
    job.metadata.creation_timestamp = Some(to_k8s(t0()));
    let again = decide(
        &cc.with_status(first.status.clone()),
        &[job],
        &defaults(),
        t0() + chrono::TimeDelta::milliseconds(300),
    );
    assert!(again.plan.create.is_none());
    assert_eq!(again.status, first.status, "nothing new to write");
    assert!(again.notices.is_empty(), "{:?}", again.notices);
}

/// Seen on a real API server: `1006503122` and `-1001006503122` in one sharded collection were
/// accepted, counted as two channels, and assigned to two accounts. They are one channel: the
/// spec is refused before any Job exists.
#[test]
fn two_spellings_of_one_channel_never_reach_a_sharded_job() {
    let mut cc = ChannelCollection::test().sharded(&["tg-a", "tg-b"]);
    cc.spec.channels = vec!["1006503122".to_string(), "-1001006503122".to_string()];
    let d = decide(&cc, &[], &defaults(), at(12, 0, 5));
    assert!(
        d.plan.create.is_none(),
        "no Job for a spec naming a channel twice"
    );
    let stalled = condition(&d.status, "Stalled").unwrap();
    assert!(
        stalled.message.contains("names the same channel"),
        "{}",
        stalled.message
    );
}
