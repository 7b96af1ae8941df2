//! When runs are due: interval and cron (with time zone) cadences, missed runs,
//! `startingDeadlineSeconds`, `suspend`, `concurrencyPolicy` and manual requests.
//!
//! Pure: every function takes `now`. The shape follows the Kubernetes CronJob
//! controller v2 (`mostRecentScheduleTime`): look at the scheduled times after the last
//! one handled, start only the most recent, and never walk an unbounded list of misses.

use std::sync::LazyLock;

use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;
use crds::{ChannelCollectionSpec, ConcurrencyPolicy, DURATION_PATTERN};
use croner::{
    Cron,
    parser::{CronParser, Seconds, Year},
};
use regex::Regex;

/// More missed runs than this are reported as "too many" (CronJob's limit); only the most
/// recent one is started.
pub const MAX_COUNTED_MISSES: u64 = 100;

/// Shortest allowed `spec.interval`.
pub const MIN_INTERVAL: TimeDelta = TimeDelta::minutes(1);

/// How soon to look again while replaced runs are being torn down.
pub const REPLACE_RECHECK: TimeDelta = TimeDelta::seconds(5);

static DURATION_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(DURATION_PATTERN).expect("DURATION_PATTERN is a valid regex"));

/// Why a cadence cannot be built from a spec.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("exactly one of spec.interval and spec.schedule must be set")]
    NotExactlyOne,
    #[error("spec.interval {value:?} is not a duration such as 10m or 1h30m")]
    Interval { value: String },
    #[error("spec.interval {value:?} is shorter than the minimum of 1m")]
    IntervalTooShort { value: String },
    #[error("spec.schedule {value:?} is not a valid cron expression: {reason}")]
    Cron { value: String, reason: String },
    #[error("spec.schedule {value:?} must not carry a TZ= prefix; set spec.timeZone instead")]
    CronTimeZonePrefix { value: String },
    #[error("spec.timeZone {value:?} is not a known IANA time zone (e.g. Europe/Berlin)")]
    TimeZone { value: String },
    #[error("spec.timeZone only applies to spec.schedule")]
    TimeZoneWithoutSchedule,
}

/// Parses a Go-style duration made of whole units (`90s`, `10m`, `1h30m`).
pub fn parse_duration(value: &str) -> Option<TimeDelta> {
    if !DURATION_RE.is_match(value) {
        return None;
    }
    let std = humantime::parse_duration(value).ok()?;
    TimeDelta::from_std(std).ok()
}

/// How often a collection runs.
#[derive(Debug, Clone)]
pub enum Cadence {
    /// Every `interval`, counted from the last scheduled run (from creation for the first).
    Every { interval: TimeDelta, text: String },
    /// On a cron schedule, evaluated in `tz` (DST-correct).
    Cron {
        cron: Box<Cron>,
        tz: Tz,
        text: String,
    },
}

impl Cadence {
    /// The cadence a spec asks for, with the same rules the CRD's CEL validation has
    /// (clusters with CEL off skip those, so they are checked here too).
    pub fn from_spec(spec: &ChannelCollectionSpec) -> Result<Self, ScheduleError> {
        match (&spec.interval, &spec.schedule) {
            (Some(value), None) => {
                if spec.time_zone.is_some() {
                    return Err(ScheduleError::TimeZoneWithoutSchedule);
                }
                let interval = parse_duration(value).ok_or_else(|| ScheduleError::Interval {
                    value: value.clone(),
                })?;
                if interval < MIN_INTERVAL {
                    return Err(ScheduleError::IntervalTooShort {
                        value: value.clone(),
                    });
                }
                Ok(Cadence::Every {
                    interval,
                    text: format!("every {value}"),
                })
            }
            (None, Some(value)) => {
                let trimmed = value.trim();
                if trimmed.starts_with("TZ=") || trimmed.starts_with("CRON_TZ=") {
                    return Err(ScheduleError::CronTimeZonePrefix {
                        value: value.clone(),
                    });
                }
                // Five fields (or a macro) as Kubernetes CronJobs take; no seconds, no years.
                let cron = CronParser::builder()
                    .seconds(Seconds::Disallowed)
                    .year(Year::Disallowed)
                    .build()
                    .parse(trimmed)
                    .map_err(|e| ScheduleError::Cron {
                        value: value.clone(),
                        reason: e.to_string(),
                    })?;
                let tz = match &spec.time_zone {
                    None => Tz::UTC,
                    Some(name) => name.parse::<Tz>().map_err(|_| ScheduleError::TimeZone {
                        value: name.clone(),
                    })?,
                };
                let text = match &spec.time_zone {
                    Some(name) => format!("{trimmed} {name}"),
                    None => trimmed.to_string(),
                };
                Ok(Cadence::Cron {
                    cron: Box::new(cron),
                    tz,
                    text,
                })
            }
            _ => Err(ScheduleError::NotExactlyOne),
        }
    }

    /// The schedule in words, for `status.schedule`.
    pub fn describe(&self) -> &str {
        match self {
            Cadence::Every { text, .. } | Cadence::Cron { text, .. } => text,
        }
    }

    /// First scheduled time strictly after `t`. Interval times are `anchor + k * interval`.
    pub fn next_after(&self, anchor: DateTime<Utc>, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Cadence::Every { interval, .. } => {
                if t < anchor {
                    return Some(anchor);
                }
                let steps = steps_between(anchor, t, *interval)?;
                anchor.checked_add_signed(*interval * i32::try_from(steps.checked_add(1)?).ok()?)
            }
            Cadence::Cron { cron, tz, .. } => cron
                .find_next_occurrence(&t.with_timezone(tz), false)
                .ok()
                .map(|next| next.with_timezone(&Utc)),
        }
    }

    /// Latest scheduled time at or before `t`.
    pub fn latest_at_or_before(
        &self,
        anchor: DateTime<Utc>,
        t: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        match self {
            Cadence::Every { interval, .. } => {
                if t < anchor {
                    return None;
                }
                let steps = steps_between(anchor, t, *interval)?;
                anchor.checked_add_signed(*interval * i32::try_from(steps).ok()?)
            }
            Cadence::Cron { cron, tz, .. } => cron
                .find_previous_occurrence(&t.with_timezone(tz), true)
                .ok()
                .map(|prev| prev.with_timezone(&Utc)),
        }
    }

    /// How many scheduled times lie in `(after, until]`, counting no further than `cap`.
    fn count_between(
        &self,
        anchor: DateTime<Utc>,
        after: DateTime<Utc>,
        until: DateTime<Utc>,
        cap: u64,
    ) -> u64 {
        if until <= after {
            return 0;
        }
        match self {
            Cadence::Every { interval, .. } => {
                let first = match self.next_after(anchor, after) {
                    Some(first) if first <= until => first,
                    _ => return 0,
                };
                steps_between(first, until, *interval).map_or(cap, |n| (n + 1).min(cap))
            }
            Cadence::Cron { cron, tz, .. } => {
                let mut count = 0;
                for t in cron.iter_after(after.with_timezone(tz)) {
                    if t.with_timezone(&Utc) > until || count >= cap {
                        break;
                    }
                    count += 1;
                }
                count
            }
        }
    }
}

/// Whole intervals from `from` to `to` (`to >= from`).
fn steps_between(from: DateTime<Utc>, to: DateTime<Utc>, interval: TimeDelta) -> Option<u64> {
    let span = (to - from).num_nanoseconds()?;
    let step = interval.num_nanoseconds()?;
    if step <= 0 || span < 0 {
        return None;
    }
    u64::try_from(span / step).ok()
}

/// What the collection's runs are doing right now, as far as scheduling cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activity {
    /// No unfinished Job.
    None,
    /// An unfinished Job is running (or about to).
    Running,
    /// Only Jobs being deleted are left; their pods may still hold the session.
    Terminating,
}

/// Everything the schedule decision depends on.
#[derive(Debug, Clone)]
pub struct Inputs<'a> {
    pub created: DateTime<Utc>,
    /// The latest scheduled time already started (status, or the newest Job's annotation).
    pub last_schedule_time: Option<DateTime<Utc>>,
    pub suspend: bool,
    pub starting_deadline: Option<TimeDelta>,
    pub concurrency: ConcurrencyPolicy,
    pub activity: Activity,
    /// Current value of the `requestedAt` annotation.
    pub requested_at: Option<&'a str>,
    /// The `requestedAt` value already acted upon.
    pub last_handled_requested_at: Option<&'a str>,
    /// `status.nextRunTime` as last written, to report each missed run only once.
    pub previous_next_run: Option<DateTime<Utc>>,
    /// Scheduled runs before this time are skipped on purpose, not missed (a revoked
    /// session's retries are spaced out); a manual request is not held.
    pub held_until: Option<DateTime<Utc>>,
    pub now: DateTime<Utc>,
}

/// Why a run starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Schedule,
    Manual,
}

/// What to do now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Nothing is due.
    Wait,
    /// Create the Job for `scheduled`.
    Start {
        scheduled: DateTime<Utc>,
        trigger: Trigger,
    },
    /// `Replace`: delete the active Jobs; the run starts once their pods are gone.
    ReplaceActive { scheduled: DateTime<Utc> },
    /// A run is due but another one still holds the session (`Forbid`, or a replaced run
    /// still terminating); it starts when that one ends, if still within the deadline.
    Blocked { scheduled: DateTime<Utc> },
}

/// Runs that were not started, worth one Warning Event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Missed {
    /// Runs skipped because they could not start within `startingDeadlineSeconds`.
    PastDeadline { count: u64, latest: DateTime<Utc> },
    /// More than [`MAX_COUNTED_MISSES`] runs were missed; only the most recent starts.
    TooMany { latest: DateTime<Utc> },
}

/// What the schedule says now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    pub action: Action,
    /// The `requestedAt` value to echo into status once the Job exists.
    pub handles_request: Option<String>,
    /// When the next run is due: in the future normally, in the past while `Blocked`;
    /// `None` while suspended.
    pub next_run: Option<DateTime<Utc>>,
    /// When to look again without any watch event.
    pub requeue_at: Option<DateTime<Utc>>,
    /// Missed runs not reported before.
    pub missed: Option<Missed>,
}

/// Decides whether a run starts now, and when to look again.
pub fn due(cadence: &Cadence, input: &Inputs<'_>) -> Due {
    let now = input.now;
    if input.suspend {
        // Nothing starts, not even a manual request; it stays pending until resumed.
        return Due {
            action: Action::Wait,
            handles_request: None,
            next_run: None,
            requeue_at: None,
            missed: None,
        };
    }

    let anchor = input.last_schedule_time.unwrap_or(input.created);
    // Scheduled times strictly after this one are candidates. A new interval collection
    // runs right at creation (as Flux does), so its creation time itself counts.
    let handled_through = match (input.last_schedule_time, cadence) {
        (Some(last), _) => last,
        (None, Cadence::Every { .. }) => input.created - TimeDelta::nanoseconds(1),
        (None, Cadence::Cron { .. }) => input.created,
    };
    // Held times count as handled: skipped, neither started nor reported as missed.
    let handled_through = match input.held_until {
        Some(until) => handled_through.max(until - TimeDelta::nanoseconds(1)),
        None => handled_through,
    };
    let deadline_floor = input.starting_deadline.map(|d| now - d);
    let earliest = match deadline_floor {
        Some(floor) if floor > handled_through => floor,
        _ => handled_through,
    };

    let due = cadence
        .latest_at_or_before(anchor, now)
        .filter(|t| *t > earliest);
    let manual = match input.requested_at {
        Some(value) if Some(value) != input.last_handled_requested_at => Some(value.to_string()),
        _ => None,
    };

    // Runs whose start window closed before anyone could start them.
    let mut missed = deadline_floor
        .filter(|floor| *floor > handled_through)
        .and_then(|floor| {
            let latest = cadence
                .latest_at_or_before(anchor, floor)
                .filter(|t| *t > handled_through)?;
            let count =
                cadence.count_between(anchor, handled_through, floor, MAX_COUNTED_MISSES + 1);
            Some(Missed::PastDeadline { count, latest })
        })
        // Only news: the status already showed a later next run when it was reported.
        .filter(|m| match (m, input.previous_next_run) {
            (Missed::PastDeadline { latest, .. }, Some(shown)) => *latest >= shown,
            _ => true,
        });

    let (scheduled, trigger) = match (due, &manual) {
        (Some(t), _) => (t, Trigger::Schedule),
        (None, Some(_)) => (now, Trigger::Manual),
        (None, None) => {
            let next_run = cadence.next_after(anchor, now.max(handled_through));
            return Due {
                action: Action::Wait,
                handles_request: None,
                next_run,
                requeue_at: next_run,
                missed,
            };
        }
    };

    let next_free = cadence.next_after(anchor, now);
    // A scheduled run that waits stays visibly overdue at its time. A waiting manual run
    // has no time of its own (`now` would change on every reconcile and so rewrite the
    // status each time); the regular next run is shown instead.
    let pending = match trigger {
        Trigger::Schedule => Some(scheduled),
        Trigger::Manual => next_free,
    };
    match (input.activity, input.concurrency) {
        (Activity::Running, ConcurrencyPolicy::Forbid) | (Activity::Terminating, _) => Due {
            action: Action::Blocked { scheduled },
            handles_request: None,
            next_run: pending,
            // The Job's end wakes us through the watch; this is the safety net.
            requeue_at: next_free,
            missed,
        },
        (Activity::Running, ConcurrencyPolicy::Replace) => Due {
            action: Action::ReplaceActive { scheduled },
            handles_request: None,
            next_run: pending,
            requeue_at: Some(now + REPLACE_RECHECK),
            missed,
        },
        (Activity::None, _) => {
            if trigger == Trigger::Schedule
                && cadence.count_between(anchor, earliest, now, MAX_COUNTED_MISSES + 1)
                    > MAX_COUNTED_MISSES
            {
                missed = Some(Missed::TooMany { latest: scheduled });
            }
            // The started run becomes the new anchor: intervals count from it.
            let next_run = cadence.next_after(scheduled, now);
            Due {
                action: Action::Start { scheduled, trigger },
                handles_request: manual,
                next_run,
                requeue_at: next_run,
                missed,
            }
        }
    }
}
