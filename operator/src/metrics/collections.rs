//! Per-collection metrics, in kube-state-metrics' style: `channelcollection_<spec|status>_<field>`,
//! labelled by `namespace` and `collection` (plus one bounded enumeration label where a field is
//! an enumeration: `state`, `result`), timestamps as `_time` in Unix seconds.
//!
//! They are computed at scrape time from the collections in the leader's controller cache
//! ([`families`], a pure function of the collections, the run totals and `now`), so a deleted
//! collection's series vanish with it and a standby replica exports none. The two counters are
//! fed from the runs the operator sees finish ([`CollectionMetrics::run_finished`]).

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex, RwLock,
        atomic::{AtomicU64, Ordering},
    },
};

use crate::status::Failure;
use chrono::{DateTime, TimeDelta, Utc};
use crds::{
    ChannelCollection, ChannelCollectionStatus, CollectionState, RunResult, RunSummary,
    condition::STALLED,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::{ResourceExt, runtime::reflector::Store};
use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeMetric},
    metrics::{MetricType, counter::ConstCounter, gauge::ConstGauge},
};

use crate::{schedule::Cadence, time::from_k8s};

/// Every state of `status.state`, in the order its series are written.
pub const STATES: [(CollectionState, &str); 6] = [
    (CollectionState::Idle, "Idle"),
    (CollectionState::Starting, "Starting"),
    (CollectionState::Collecting, "Collecting"),
    (CollectionState::Waiting, "Waiting"),
    (CollectionState::Suspended, "Suspended"),
    (CollectionState::Failed, "Failed"),
];

/// Every run result, in the order its series are written.
pub const RESULTS: [(RunResult, &str); 2] = [
    (RunResult::Succeeded, "Succeeded"),
    (RunResult::Failed, "Failed"),
];

/// Which collection a series describes.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CollectionKey {
    pub namespace: String,
    pub name: String,
}

impl CollectionKey {
    pub fn new(namespace: &str, name: &str) -> Self {
        Self {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        }
    }

    fn of(cc: &ChannelCollection) -> Self {
        Self::new(&cc.namespace().unwrap_or_default(), &cc.name_any())
    }
}

/// The `outcome` label of the files counter, in the order its series are written.
pub const FILE_OUTCOMES: [&str; 4] = [
    "downloaded",
    "skipped_too_big",
    "skipped_over_budget",
    "failed",
];

/// The `outcome` label of the bytes counter (skipped bytes are not told apart by why).
pub const BYTE_OUTCOMES: [&str; 2] = ["downloaded", "skipped"];

/// What the operator saw of a collection's finished runs since it started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunTotals {
    /// Messages stored by those runs (`lastRun.messages`).
    pub messages: u64,
    pub succeeded: u64,
    pub failed: u64,
    /// Their files by [`FILE_OUTCOMES`] (`lastRun.media`).
    pub files: [u64; 4],
    /// Their bytes by [`BYTE_OUTCOMES`].
    pub bytes: [u64; 2],
}

impl RunTotals {
    /// Adds one finished run.
    pub fn add(&mut self, run: &RunSummary) {
        let count = |n: i64| u64::try_from(n).unwrap_or(0);
        self.messages = self.messages.saturating_add(run.messages.map_or(0, count));
        match run.result {
            Some(RunResult::Succeeded) => self.succeeded += 1,
            Some(RunResult::Failed) => self.failed += 1,
            None => {}
        }
        if let Some(media) = &run.media {
            let files = [
                media.files_downloaded,
                media.files_skipped_too_big,
                media.files_skipped_over_budget,
                media.files_failed,
            ];
            for (total, n) in self.files.iter_mut().zip(files) {
                *total = total.saturating_add(count(n));
            }
            for (total, n) in self
                .bytes
                .iter_mut()
                .zip([media.bytes_downloaded, media.bytes_skipped])
            {
                *total = total.saturating_add(count(n));
            }
        }
    }

    fn any_media(&self) -> bool {
        self.files.iter().chain(&self.bytes).any(|n| *n > 0)
    }
}

/// Prometheus metric type of a family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Gauge,
    Counter,
}

/// One metric family and its samples.
#[derive(Clone, Debug, PartialEq)]
pub struct Family {
    /// Name as exposed (counters without their `_total` suffix, which the encoder adds).
    pub name: &'static str,
    pub help: &'static str,
    pub kind: Kind,
    pub samples: Vec<Sample>,
}

/// One series: a collection, an optional enumeration label, a value.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub namespace: String,
    pub collection: String,
    /// `("state", "Idle")`, `("result", "Failed")`, ...
    pub label: Option<(&'static str, &'static str)>,
    pub value: f64,
}

/// What a family's values are computed from, for one collection.
struct Input<'a> {
    cc: &'a ChannelCollection,
    status: &'a ChannelCollectionStatus,
    totals: RunTotals,
    now: DateTime<Utc>,
}

/// Samples of one family for one collection: (enumeration label, value).
type Values = Vec<(Option<(&'static str, &'static str)>, f64)>;

/// A family: name, help, type and how to compute its samples. [`FAMILIES`] lists them all.
#[derive(Clone, Copy, Debug)]
pub struct Descriptor {
    /// Name as exposed (a counter's samples get `_total` from the encoder).
    pub name: &'static str,
    pub help: &'static str,
    pub kind: Kind,
    values: fn(&Input<'_>) -> Values,
}

/// Every per-collection family, in exposition order.
pub const FAMILIES: [Descriptor; 22] = [
    Descriptor {
        name: "channelcollection_created",
        help: "Unix time the collection was created.",
        kind: Kind::Gauge,
        values: |i| time(i.cc.metadata.creation_timestamp.as_ref()),
    },
    Descriptor {
        name: "channelcollection_spec_suspend",
        help: "1 when spec.suspend is set, else 0.",
        kind: Kind::Gauge,
        values: |i| flag(i.cc.spec.suspend),
    },
    Descriptor {
        name: "channelcollection_spec_schedule_period_seconds",
        help: "Expected time between runs: spec.interval, or the gap between the last two times \
               of spec.schedule; absent while the spec is invalid.",
        kind: Kind::Gauge,
        values: |i| {
            one(Cadence::from_spec(&i.cc.spec)
                .ok()
                .and_then(|c| expected_period(&c, i.now))
                .map(|p| p.as_seconds_f64()))
        },
    },
    Descriptor {
        name: "channelcollection_status_state",
        help: "1 for the collection's status.state (Idle, Collecting, Waiting, Suspended, \
               Failed), 0 for the others.",
        kind: Kind::Gauge,
        values: |i| {
            STATES
                .iter()
                .map(|(state, label)| {
                    (Some(("state", *label)), bit(i.status.state == Some(*state)))
                })
                .collect()
        },
    },
    Descriptor {
        name: "channelcollection_status_channels_processed",
        help: "Channels finished (or failed) in the current run (the latest run when idle).",
        kind: Kind::Gauge,
        values: |i| one(Some(f64::from(i.status.channels_processed))),
    },
    Descriptor {
        name: "channelcollection_status_channels",
        help: "Channels in the current run (the latest run when idle).",
        kind: Kind::Gauge,
        values: |i| one(Some(f64::from(i.status.channels_total))),
    },
    Descriptor {
        name: "channelcollection_status_messages_collected_current_run",
        help: "Messages stored by the current run (the latest run when idle).",
        kind: Kind::Gauge,
        values: |i| one(Some(i.status.messages_collected_current_run as f64)),
    },
    Descriptor {
        name: "channelcollection_status_errors_current_run",
        help: "Channels that failed in the current run (the latest run when idle).",
        kind: Kind::Gauge,
        values: |i| one(Some(f64::from(i.status.errors_current_run))),
    },
    Descriptor {
        name: "channelcollection_status_flood_wait_seconds_current_run",
        help: "Seconds of Telegram flood waits in the current run (the latest run when idle).",
        kind: Kind::Gauge,
        values: |i| one(Some(i.status.flood_wait_seconds_current_run as f64)),
    },
    Descriptor {
        name: "channelcollection_status_estimated_time_remaining_seconds",
        help: "Seconds the current run is expected to take still; absent when no run is active \
               or nothing is known to base an estimate on.",
        kind: Kind::Gauge,
        values: |i| one(i.status.estimated_time_remaining.map(|s| s as f64)),
    },
    Descriptor {
        name: "channelcollection_status_collection_start_time",
        help: "Unix time the current run (the latest run when idle) started.",
        kind: Kind::Gauge,
        values: |i| time(i.status.collection_start_time.as_ref()),
    },
    Descriptor {
        name: "channelcollection_status_last_run_result",
        help: "1 for the result (Succeeded, Failed) of the latest finished run, 0 for the other.",
        kind: Kind::Gauge,
        values: |i| match i.status.last_run.as_ref().and_then(|r| r.result) {
            Some(result) => RESULTS
                .iter()
                .map(|(r, label)| (Some(("result", *label)), bit(*r == result)))
                .collect(),
            None => Vec::new(),
        },
    },
    Descriptor {
        name: "channelcollection_status_last_run_start_time",
        help: "Unix time the latest finished run started.",
        kind: Kind::Gauge,
        values: |i| {
            time(
                i.status
                    .last_run
                    .as_ref()
                    .and_then(|r| r.start_time.as_ref()),
            )
        },
    },
    Descriptor {
        name: "channelcollection_status_last_run_end_time",
        help: "Unix time the latest finished run ended.",
        kind: Kind::Gauge,
        values: |i| time(i.status.last_run.as_ref().and_then(|r| r.end_time.as_ref())),
    },
    Descriptor {
        name: "channelcollection_status_last_successful_time",
        help: "Unix time the latest successful run ended.",
        kind: Kind::Gauge,
        values: |i| time(i.status.last_successful_time.as_ref()),
    },
    Descriptor {
        name: "channelcollection_status_last_schedule_time",
        help: "Unix time the latest run was scheduled for.",
        kind: Kind::Gauge,
        values: |i| time(i.status.last_schedule_time.as_ref()),
    },
    Descriptor {
        name: "channelcollection_status_next_run_time",
        help: "Unix time the next run is due; absent while suspended.",
        kind: Kind::Gauge,
        values: |i| time(i.status.next_run_time.as_ref()),
    },
    Descriptor {
        name: "channelcollection_status_session_invalid",
        help: "1 while the collection is stalled because its Telegram session is revoked or not \
               authorised, else 0.",
        kind: Kind::Gauge,
        values: |i| flag(session_invalid(i.status)),
    },
    Descriptor {
        name: "channelcollection_messages_collected",
        help: "Messages stored by the runs this operator instance saw finish.",
        kind: Kind::Counter,
        values: |i| one(Some(i.totals.messages as f64)),
    },
    Descriptor {
        name: "channelcollection_runs_finished",
        help: "Runs this operator instance saw finish, by result (Succeeded, Failed).",
        kind: Kind::Counter,
        values: |i| {
            vec![
                (Some(("result", "Succeeded")), i.totals.succeeded as f64),
                (Some(("result", "Failed")), i.totals.failed as f64),
            ]
        },
    },
    Descriptor {
        name: "channelcollection_media_files",
        help: "Files of the runs this operator instance saw finish, by outcome (downloaded, \
               skipped_too_big, skipped_over_budget, failed); only for collections with \
               spec.media.",
        kind: Kind::Counter,
        values: |i| media_values(i, &FILE_OUTCOMES, &i.totals.files),
    },
    Descriptor {
        name: "channelcollection_media_bytes",
        help: "Bytes of the files of the runs this operator instance saw finish, by outcome \
               (downloaded, skipped); only for collections with spec.media.",
        kind: Kind::Counter,
        values: |i| media_values(i, &BYTE_OUTCOMES, &i.totals.bytes),
    },
];

/// A media counter's series: one per outcome, for a collection with `spec.media` (at 0 until
/// its first run, so that run's increase shows) or with files counted before media was
/// turned off; none otherwise, so collections without files cost no series.
fn media_values(i: &Input<'_>, outcomes: &[&'static str], totals: &[u64]) -> Values {
    if i.cc.spec.media.is_none() && !i.totals.any_media() {
        return Vec::new();
    }
    outcomes
        .iter()
        .zip(totals)
        .map(|(outcome, n)| (Some(("outcome", *outcome)), *n as f64))
        .collect()
}

/// The metric families for `collections` at `now`: one series set per collection, sorted by
/// namespace and name; families without a sample are left out. `totals` feeds the counters;
/// a collection without totals has its counters at 0 (so the first run's increase shows).
pub fn families(
    collections: &[Arc<ChannelCollection>],
    totals: &HashMap<CollectionKey, RunTotals>,
    now: DateTime<Utc>,
) -> Vec<Family> {
    let mut sorted: Vec<(CollectionKey, &ChannelCollection)> = collections
        .iter()
        .map(|cc| (CollectionKey::of(cc), cc.as_ref()))
        .collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));

    let mut out: Vec<Family> = FAMILIES
        .iter()
        .map(|d| Family {
            name: d.name,
            help: d.help,
            kind: d.kind,
            samples: Vec::new(),
        })
        .collect();
    let never_reconciled = ChannelCollectionStatus::default();
    for (key, cc) in &sorted {
        let input = Input {
            cc,
            status: cc.status.as_ref().unwrap_or(&never_reconciled),
            totals: totals.get(key).copied().unwrap_or_default(),
            now,
        };
        for (family, descriptor) in out.iter_mut().zip(&FAMILIES) {
            family.samples.extend(
                (descriptor.values)(&input)
                    .into_iter()
                    .map(|(label, value)| Sample {
                        namespace: key.namespace.clone(),
                        collection: key.name.clone(),
                        label,
                        value,
                    }),
            );
        }
    }
    out.retain(|f| !f.samples.is_empty());
    out
}

fn one(value: Option<f64>) -> Values {
    value.map(|v| vec![(None, v)]).unwrap_or_default()
}

fn bit(b: bool) -> f64 {
    if b { 1.0 } else { 0.0 }
}

fn flag(b: bool) -> Values {
    one(Some(bit(b)))
}

fn time(t: Option<&Time>) -> Values {
    one(t.map(unix))
}

fn unix(t: &Time) -> f64 {
    from_k8s(t).timestamp_millis() as f64 / 1000.0
}

/// `Stalled=True` with reason `SessionInvalid`, as the operator sets it.
fn session_invalid(status: &ChannelCollectionStatus) -> bool {
    status.conditions.iter().any(|c| {
        c.type_ == STALLED && c.status == "True" && c.reason == Failure::SessionInvalid.as_str()
    })
}

/// How long a collection should go between runs: its interval, or for a cron schedule the gap
/// between its last two times at or before `now` (what "twice the period without a success"
/// alerts compare against).
pub fn expected_period(cadence: &Cadence, now: DateTime<Utc>) -> Option<TimeDelta> {
    match cadence {
        Cadence::Every { interval, .. } => Some(*interval),
        Cadence::Cron { .. } => {
            // Interval anchors do not apply to cron schedules.
            let latest = cadence.latest_at_or_before(now, now)?;
            let before = cadence.latest_at_or_before(now, latest - TimeDelta::nanoseconds(1))?;
            Some(latest - before)
        }
    }
}

/// Writes `families` with the encoder of a scrape.
pub fn encode(families: &[Family], encoder: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
    for family in families {
        let metric_type = match family.kind {
            Kind::Gauge => MetricType::Gauge,
            Kind::Counter => MetricType::Counter,
        };
        let mut metric = encoder.encode_descriptor(family.name, family.help, None, metric_type)?;
        for sample in &family.samples {
            let mut labels: Vec<(&str, &str)> = vec![
                ("namespace", sample.namespace.as_str()),
                ("collection", sample.collection.as_str()),
            ];
            labels.extend(sample.label);
            let series = metric.encode_family(&labels)?;
            match family.kind {
                Kind::Gauge => ConstGauge::new(sample.value).encode(series)?,
                // Counts are whole numbers.
                Kind::Counter => ConstCounter::new(sample.value as u64).encode(series)?,
            }
        }
    }
    Ok(())
}

/// The collections a running controller caches, while it runs.
#[derive(Debug)]
struct Cache {
    store: Store<ChannelCollection>,
    id: u64,
}

/// The per-collection metrics: a [`Collector`] over the leader's controller cache, plus the run
/// totals the counters report.
#[derive(Debug, Default)]
pub struct CollectionMetrics {
    cache: RwLock<Option<Cache>>,
    next_id: AtomicU64,
    totals: Mutex<HashMap<CollectionKey, RunTotals>>,
}

impl CollectionMetrics {
    /// Reports the collections of `store`, which holds a complete list, until the returned
    /// guard is dropped (when this replica's controller stops).
    pub fn serve(self: &Arc<Self>, store: Store<ChannelCollection>) -> Serving {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut cache) = self.cache.write() {
            *cache = Some(Cache { store, id });
        }
        Serving {
            metrics: self.clone(),
            id,
        }
    }

    /// Counts a run of `namespace/name` that just finished.
    pub fn run_finished(&self, namespace: &str, name: &str, run: &RunSummary) {
        if let Ok(mut totals) = self.totals.lock() {
            totals
                .entry(CollectionKey::new(namespace, name))
                .or_default()
                .add(run);
        }
    }

    /// The families for the cached collections at `now`; none without a running controller.
    pub fn snapshot(&self, now: DateTime<Utc>) -> Vec<Family> {
        let Some(collections) = self
            .cache
            .read()
            .ok()
            .and_then(|cache| cache.as_ref().map(|c| c.store.state()))
        else {
            return Vec::new();
        };
        let Ok(mut totals) = self.totals.lock() else {
            return Vec::new();
        };
        // A collection gone from the complete cache was deleted: its counters go too.
        let present: std::collections::HashSet<CollectionKey> =
            collections.iter().map(|cc| CollectionKey::of(cc)).collect();
        totals.retain(|key, _| present.contains(key));
        families(&collections, &totals, now)
    }
}

impl Collector for CollectionMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        encode(&self.snapshot(Utc::now()), &mut encoder)
    }
}

/// While alive, the per-collection metrics read one controller's cache.
#[derive(Debug)]
pub struct Serving {
    metrics: Arc<CollectionMetrics>,
    id: u64,
}

impl Drop for Serving {
    fn drop(&mut self) {
        if let Ok(mut cache) = self.metrics.cache.write()
            && cache.as_ref().is_some_and(|c| c.id == self.id)
        {
            *cache = None;
        }
    }
}
