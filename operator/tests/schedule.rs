//! Table-driven scheduling tests at fixed instants (as CronJob's `utils_test.go`).

mod common;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use common::at;
use crds::testing::{TestCollection, t0};
use crds::{ChannelCollection, ConcurrencyPolicy};
use operator::schedule::{Action, Activity, Cadence, Due, Inputs, Missed, Trigger, due};

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
}

/// One row: the collection, what the status says, and the instant.
struct Case {
    name: &'static str,
    cc: ChannelCollection,
    last: Option<DateTime<Utc>>,
    activity: Activity,
    requested: Option<&'static str>,
    handled: Option<&'static str>,
    previous_next_run: Option<DateTime<Utc>>,
    held_until: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    action: Action,
    next_run: Option<DateTime<Utc>>,
    missed: Option<Missed>,
}

fn case(name: &'static str, cc: ChannelCollection, now: DateTime<Utc>) -> Case {
    Case {
        name,
        cc,
        last: None,
        activity: Activity::None,
        requested: None,
        handled: None,
        previous_next_run: None,
        held_until: None,
        now,
        action: Action::Wait,
        next_run: None,
        missed: None,
    }
}

impl Case {
    fn last(mut self, t: DateTime<Utc>) -> Self {
        self.last = Some(t);
        self
    }
    fn active(mut self, a: Activity) -> Self {
        self.activity = a;
        self
    }
    fn request(mut self, value: &'static str, handled: Option<&'static str>) -> Self {
        self.requested = Some(value);
        self.handled = handled;
        self
    }
    fn shown_next(mut self, t: DateTime<Utc>) -> Self {
        self.previous_next_run = Some(t);
        self
    }
    fn held(mut self, until: DateTime<Utc>) -> Self {
        self.held_until = Some(until);
        self
    }
    fn expect(mut self, action: Action, next_run: Option<DateTime<Utc>>) -> Self {
        self.action = action;
        self.next_run = next_run;
        self
    }
    fn missed(mut self, m: Missed) -> Self {
        self.missed = Some(m);
        self
    }

    fn run(&self) -> Due {
        let cadence =
            Cadence::from_spec(&self.cc.spec).unwrap_or_else(|e| panic!("{}: {e}", self.name));
        let created = self
            .cc
            .metadata
            .creation_timestamp
            .as_ref()
            .map(operator::time::from_k8s)
            .unwrap();
        due(
            &cadence,
            &Inputs {
                created,
                last_schedule_time: self.last,
                suspend: self.cc.spec.suspend,
                starting_deadline: self
                    .cc
                    .spec
                    .starting_deadline_seconds
                    .map(TimeDelta::seconds),
                concurrency: self.cc.spec.concurrency_policy,
                activity: self.activity,
                requested_at: self.requested,
                last_handled_requested_at: self.handled,
                previous_next_run: self.previous_next_run,
                held_until: self.held_until,
                now: self.now,
            },
        )
    }
}

fn start(t: DateTime<Utc>) -> Action {
    Action::Start {
        scheduled: t,
        trigger: Trigger::Schedule,
    }
}

fn cc() -> ChannelCollection {
    ChannelCollection::test()
}

#[test]
fn scheduling_table() {
    let berlin = Some("Europe/Berlin");
    let cases = vec![
        // interval: first run right at creation, then every interval since the last one.
        case("interval: first run at creation", cc(), at(12, 0, 5))
            .expect(start(t0()), Some(at(12, 10, 0))),
        case("interval: not yet due", cc(), at(12, 5, 0))
            .last(t0())
            .expect(Action::Wait, Some(at(12, 10, 0))),
        case("interval: due exactly now", cc(), at(12, 10, 0))
            .last(t0())
            .expect(start(at(12, 10, 0)), Some(at(12, 20, 0))),
        case(
            "interval: three missed, start the latest",
            cc(),
            at(12, 35, 0),
        )
        .last(t0())
        .expect(start(at(12, 30, 0)), Some(at(12, 40, 0))),
        case("interval: 1h30m", cc().interval("1h30m"), at(13, 0, 0))
            .last(t0())
            .expect(Action::Wait, Some(at(13, 30, 0))),
        // cron in UTC.
        case(
            "cron: before the first time",
            cc().cron("0 13 * * *", None),
            at(12, 30, 0),
        )
        .expect(Action::Wait, Some(at(13, 0, 0))),
        case("cron: due", cc().cron("0 13 * * *", None), at(13, 0, 30))
            .expect(start(at(13, 0, 0)), Some(utc(2026, 11, 29, 13, 0))),
        case(
            "cron: creation time itself is not a run",
            cc().cron("0 12 * * *", None),
            at(12, 0, 0),
        )
        .expect(Action::Wait, Some(utc(2026, 11, 29, 12, 0))),
        case(
            "cron macro @hourly",
            cc().cron("@hourly", None),
            at(12, 59, 0),
        )
        .expect(Action::Wait, Some(at(13, 0, 0))),
        // Time zones: 09:00 in Berlin is 08:00Z in winter and 07:00Z in summer.
        case(
            "tz: 09:00 Berlin in winter",
            cc().cron("0 9 * * *", berlin),
            at(12, 0, 0),
        )
        .expect(Action::Wait, Some(utc(2026, 11, 29, 8, 0))),
        case(
            "tz: across the spring DST change",
            cc().cron("0 9 * * *", berlin)
                .created(utc(2026, 3, 27, 0, 0)),
            utc(2026, 3, 28, 10, 0),
        )
        .last(utc(2026, 3, 28, 8, 0))
        .expect(Action::Wait, Some(utc(2026, 3, 29, 7, 0))),
        case(
            "tz: a time inside the spring gap runs once, right after the gap",
            cc().cron("30 2 * * *", berlin)
                .created(utc(2026, 3, 27, 0, 0)),
            utc(2026, 3, 28, 12, 0),
        )
        .last(utc(2026, 3, 28, 1, 30))
        .expect(Action::Wait, Some(utc(2026, 3, 29, 1, 0))),
        case(
            "tz: a time repeated by the autumn change runs once",
            cc().cron("30 2 * * *", berlin)
                .created(utc(2026, 10, 20, 0, 0)),
            Utc.with_ymd_and_hms(2026, 10, 25, 1, 31, 0).unwrap(),
        )
        .last(utc(2026, 10, 25, 0, 30))
        .expect(Action::Wait, Some(utc(2026, 10, 26, 1, 30))),
        case(
            "tz: UTC when unset",
            cc().cron("0 9 * * *", None),
            at(12, 0, 0),
        )
        .expect(Action::Wait, Some(utc(2026, 11, 29, 9, 0))),
        // startingDeadlineSeconds.
        case(
            "deadline: late but within the window",
            cc().cron("*/5 * * * *", None).deadline(60),
            at(12, 5, 30),
        )
        .last(t0())
        .expect(start(at(12, 5, 0)), Some(at(12, 10, 0))),
        case(
            "deadline: window closed, reported once",
            cc().cron("*/5 * * * *", None).deadline(60),
            at(12, 7, 0),
        )
        .last(t0())
        .shown_next(at(12, 5, 0))
        .expect(Action::Wait, Some(at(12, 10, 0)))
        .missed(Missed::PastDeadline {
            count: 1,
            latest: at(12, 5, 0),
        }),
        case(
            "deadline: already reported",
            cc().cron("*/5 * * * *", None).deadline(60),
            at(12, 8, 0),
        )
        .last(t0())
        .shown_next(at(12, 10, 0))
        .expect(Action::Wait, Some(at(12, 10, 0))),
        case(
            "deadline: several missed while down",
            cc().cron("*/5 * * * *", None).deadline(60),
            at(12, 31, 0),
        )
        .last(t0())
        .shown_next(at(12, 5, 0))
        .expect(Action::Wait, Some(at(12, 35, 0)))
        .missed(Missed::PastDeadline {
            count: 6,
            latest: at(12, 30, 0),
        }),
        case("deadline: interval", cc().deadline(30), at(12, 11, 0))
            .last(t0())
            .shown_next(at(12, 10, 0))
            .expect(Action::Wait, Some(at(12, 20, 0)))
            .missed(Missed::PastDeadline {
                count: 1,
                latest: at(12, 10, 0),
            }),
        // suspend / resume.
        case(
            "suspend: nothing starts, no next run",
            cc().suspended(),
            at(12, 35, 0),
        )
        .last(t0())
        .expect(Action::Wait, None),
        case(
            "suspend: manual requests wait too",
            cc().suspended(),
            at(12, 5, 0),
        )
        .last(t0())
        .request("now", None)
        .expect(Action::Wait, None),
        case(
            "resume: the most recent missed run starts",
            cc(),
            at(14, 3, 0),
        )
        .last(t0())
        .expect(start(at(14, 0, 0)), Some(at(14, 10, 0))),
        case(
            "resume with a deadline: missed runs are skipped",
            cc().deadline(60),
            at(14, 3, 0),
        )
        .last(t0())
        .expect(Action::Wait, Some(at(14, 10, 0)))
        .missed(Missed::PastDeadline {
            count: 12,
            latest: at(14, 0, 0),
        }),
        // More than 100 missed runs: start the most recent, warn once, do not wedge.
        case(
            "too many missed: interval",
            cc().interval("1m"),
            at(14, 0, 30),
        )
        .last(t0())
        .expect(start(at(14, 0, 0)), Some(at(14, 1, 0)))
        .missed(Missed::TooMany {
            latest: at(14, 0, 0),
        }),
        case(
            "too many missed: a year of cron minutes",
            cc().cron("* * * * *", None),
            utc(2027, 11, 28, 12, 0),
        )
        .last(t0())
        .expect(
            start(utc(2027, 11, 28, 12, 0)),
            Some(utc(2027, 11, 28, 12, 1)),
        )
        .missed(Missed::TooMany {
            latest: utc(2027, 11, 28, 12, 0),
        }),
        case(
            "exactly 100 missed is not too many",
            cc().interval("1m"),
            at(13, 40, 0),
        )
        .last(t0())
        .expect(start(at(13, 40, 0)), Some(at(13, 41, 0))),
        // Manual requests (requestedAt annotation).
        case("manual: new value runs now", cc(), at(12, 5, 0))
            .last(t0())
            .request("2026-11-28T12:05:00Z", Some("older"))
            .expect(
                Action::Start {
                    scheduled: at(12, 5, 0),
                    trigger: Trigger::Manual,
                },
                Some(at(12, 15, 0)),
            ),
        case("manual: already handled", cc(), at(12, 5, 0))
            .last(t0())
            .request("same", Some("same"))
            .expect(Action::Wait, Some(at(12, 10, 0))),
        case("manual and scheduled at once: one run", cc(), at(12, 10, 0))
            .last(t0())
            .request("x", None)
            .expect(start(at(12, 10, 0)), Some(at(12, 20, 0))),
        case(
            "manual with cron keeps the cron times",
            cc().cron("0 13 * * *", None),
            at(12, 5, 0),
        )
        .request("x", None)
        .expect(
            Action::Start {
                scheduled: at(12, 5, 0),
                trigger: Trigger::Manual,
            },
            Some(at(13, 0, 0)),
        ),
        // A revoked session's retries are held: scheduled times before the hold are skipped
        // (not missed), the first at or after it runs, a manual request is not held.
        case(
            "held: a due time inside the hold waits",
            cc(),
            at(12, 20, 0),
        )
        .last(t0())
        .held(at(12, 25, 0))
        .expect(Action::Wait, Some(at(12, 30, 0))),
        case(
            "held: the first time after the hold runs",
            cc(),
            at(12, 30, 10),
        )
        .last(t0())
        .held(at(12, 25, 0))
        .expect(start(at(12, 30, 0)), Some(at(12, 40, 0))),
        case(
            "held: skipped times are not missed runs",
            cc().deadline(60),
            at(12, 30, 10),
        )
        .last(t0())
        .held(at(12, 25, 0))
        .expect(start(at(12, 30, 0)), Some(at(12, 40, 0))),
        case(
            "held: a hold at a scheduled time runs it",
            cc(),
            at(12, 20, 0),
        )
        .last(t0())
        .held(at(12, 20, 0))
        .expect(start(at(12, 20, 0)), Some(at(12, 30, 0))),
        case("held: a manual request goes at once", cc(), at(12, 20, 0))
            .last(t0())
            .held(at(13, 0, 0))
            .request("retry", None)
            .expect(
                Action::Start {
                    scheduled: at(12, 20, 0),
                    trigger: Trigger::Manual,
                },
                Some(at(12, 30, 0)),
            ),
        // Concurrency: Forbid waits for the active run, Replace stops it.
        case("forbid: due while active waits", cc(), at(12, 10, 0))
            .last(t0())
            .active(Activity::Running)
            .expect(
                Action::Blocked {
                    scheduled: at(12, 10, 0),
                },
                Some(at(12, 10, 0)),
            ),
        case("forbid: manual request waits too", cc(), at(12, 5, 0))
            .last(t0())
            .active(Activity::Running)
            .request("x", None)
            .expect(
                Action::Blocked {
                    scheduled: at(12, 5, 0),
                },
                Some(at(12, 10, 0)),
            ),
        case("forbid: not due, active run is fine", cc(), at(12, 5, 0))
            .last(t0())
            .active(Activity::Running)
            .expect(Action::Wait, Some(at(12, 10, 0))),
        case(
            "forbid: blocked past the deadline is reported once",
            cc().deadline(60),
            at(12, 12, 0),
        )
        .last(t0())
        .shown_next(at(12, 10, 0))
        .expect(Action::Wait, Some(at(12, 20, 0)))
        .missed(Missed::PastDeadline {
            count: 1,
            latest: at(12, 10, 0),
        }),
        case(
            "replace: due while active replaces",
            cc().replace(),
            at(12, 10, 0),
        )
        .last(t0())
        .active(Activity::Running)
        .expect(
            Action::ReplaceActive {
                scheduled: at(12, 10, 0),
            },
            Some(at(12, 10, 0)),
        ),
        case(
            "replace: waits until the old pods are gone",
            cc().replace(),
            at(12, 10, 5),
        )
        .last(t0())
        .active(Activity::Terminating)
        .expect(
            Action::Blocked {
                scheduled: at(12, 10, 0),
            },
            Some(at(12, 10, 0)),
        ),
        case(
            "replace: starts once the old run is gone",
            cc().replace(),
            at(12, 10, 9),
        )
        .last(t0())
        .expect(start(at(12, 10, 0)), Some(at(12, 20, 0))),
    ];

    let mut failures = Vec::new();
    for c in &cases {
        let got = c.run();
        if got.action != c.action || got.next_run != c.next_run || got.missed != c.missed {
            failures.push(format!(
                "{}:\n  want action {:?} next {:?} missed {:?}\n  got  action {:?} next {:?} missed {:?}",
                c.name, c.action, c.next_run, c.missed, got.action, got.next_run, got.missed
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn requeue_is_exactly_the_next_run() {
    let c = case("", cc(), at(12, 5, 0)).last(t0());
    let p = c.run();
    assert_eq!(p.requeue_at, Some(at(12, 10, 0)));
    let c = case(
        "",
        cc().cron("0 9 * * *", Some("Europe/Berlin")),
        at(12, 0, 0),
    );
    assert_eq!(c.run().requeue_at, Some(utc(2026, 11, 29, 8, 0)));
    assert_eq!(
        case("", cc().suspended(), at(12, 0, 0)).run().requeue_at,
        None
    );
}

#[test]
fn a_started_manual_request_is_echoed() {
    let p = case("", cc(), at(12, 5, 0))
        .last(t0())
        .request("v2", Some("v1"))
        .run();
    assert_eq!(p.handles_request.as_deref(), Some("v2"));
    let p = case("", cc(), at(12, 5, 0))
        .last(t0())
        .active(Activity::Running)
        .request("v2", Some("v1"))
        .run();
    assert_eq!(
        p.handles_request, None,
        "a blocked request is not handled yet"
    );
}

#[test]
fn schedule_text() {
    let describe =
        |c: ChannelCollection| Cadence::from_spec(&c.spec).unwrap().describe().to_string();
    assert_eq!(describe(cc()), "every 10m");
    assert_eq!(
        describe(cc().cron("0 3 * * *", Some("Europe/Berlin"))),
        "0 3 * * * Europe/Berlin"
    );
    assert_eq!(describe(cc().cron("@daily", None)), "@daily");
}

#[test]
fn forbid_is_the_default_policy() {
    assert_eq!(cc().spec.concurrency_policy, ConcurrencyPolicy::Forbid);
}
