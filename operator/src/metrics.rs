//! Prometheus metrics: reconciles, failures by stable reason, reconcile duration, Jobs created,
//! readiness and leadership, audit-log retention (all `channel_collection_operator_*`), and the
//! per-collection metrics of [`collections`] (`channelcollection_*`).

pub mod collections;

use std::{sync::Arc, time::Duration};

use crds::RunSummary;
use prometheus_client::{
    encoding::text::encode,
    metrics::{
        counter::Counter,
        family::Family,
        gauge::Gauge,
        histogram::{Histogram, exponential_buckets},
    },
    registry::Registry,
};

use self::collections::CollectionMetrics;

/// Labels of the failures counter: one stable, low-cardinality reason.
pub type ReasonLabel = [(&'static str, &'static str); 1];

/// The operator's metrics and the registry that exposes them.
pub struct Metrics {
    registry: Registry,
    /// Reconciles started.
    pub reconciles: Counter,
    /// Failed reconciles, by [`crate::reconcile::Error::metric_label`].
    pub failures: Family<ReasonLabel, Counter>,
    /// Reconcile duration in seconds.
    pub duration: Histogram,
    /// Collector Jobs created.
    pub jobs_created: Counter,
    /// Events dropped because the queue of Events to write was full.
    pub events_dropped: Counter,
    /// 1 while `/readyz` answers OK.
    pub ready: Gauge,
    /// 1 while this instance holds the leader lease.
    pub leader: Gauge,
    /// Audit-log rows deleted by retention.
    pub audit_rows_deleted: Counter,
    /// Retention passes that failed.
    pub audit_retention_failures: Counter,
    /// Per-collection metrics from the leader's controller cache.
    pub collections: Arc<CollectionMetrics>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let collections = Arc::new(CollectionMetrics::default());
        registry.register_collector(Box::new(collections.clone()));
        let operator = registry.sub_registry_with_prefix("channel_collection_operator");
        let reconciles = Counter::default();
        let failures = Family::<ReasonLabel, Counter>::default();
        // 1ms .. ~16s
        let duration = Histogram::new(exponential_buckets(0.001, 2.0, 15));
        let jobs_created = Counter::default();
        operator.register("reconciles", "Reconciles started", reconciles.clone());
        operator.register(
            "reconcile_failures",
            "Failed reconciles by reason",
            failures.clone(),
        );
        operator.register(
            "reconcile_duration_seconds",
            "Reconcile duration",
            duration.clone(),
        );
        operator.register(
            "jobs_created",
            "Collector Jobs created",
            jobs_created.clone(),
        );
        let events_dropped = Counter::default();
        operator.register(
            "events_dropped",
            "Events dropped because the queue of Events to write was full",
            events_dropped.clone(),
        );
        let ready = Gauge::default();
        operator.register(
            "ready",
            "1 while /readyz answers OK: leading with a synced cache, or standing by",
            ready.clone(),
        );
        let leader = Gauge::default();
        operator.register(
            "leader",
            "1 while this instance holds the leader lease and reconciles",
            leader.clone(),
        );
        let audit_rows_deleted = Counter::default();
        operator.register(
            "audit_rows_deleted",
            "Audit-log rows deleted by retention (--audit-retention)",
            audit_rows_deleted.clone(),
        );
        let audit_retention_failures = Counter::default();
        operator.register(
            "audit_retention_failures",
            "Audit-log retention passes that failed (the error is logged)",
            audit_retention_failures.clone(),
        );
        Metrics {
            registry,
            reconciles,
            failures,
            duration,
            jobs_created,
            events_dropped,
            ready,
            leader,
            audit_rows_deleted,
            audit_retention_failures,
            collections,
        }
    }
}

impl Metrics {
    /// Counts a reconcile and returns a guard that records its duration when dropped.
    pub fn reconcile_started(&self) -> DurationGuard<'_> {
        self.reconciles.inc();
        DurationGuard {
            histogram: &self.duration,
            start: std::time::Instant::now(),
        }
    }

    pub fn failed(&self, reason: &'static str) {
        self.failures.get_or_create(&[("reason", reason)]).inc();
    }

    /// Counts a run of collection `namespace/name` that just finished (its messages and result).
    pub fn run_finished(&self, namespace: &str, name: &str, run: &RunSummary) {
        self.collections.run_finished(namespace, name, run);
    }

    /// Records what `/readyz` and the leader gate say, for the `ready` and `leader` gauges.
    pub fn observe_health(&self, ready: bool, leader: bool) {
        self.ready.set(i64::from(ready));
        self.leader.set(i64::from(leader));
    }

    /// The text exposition format for `/metrics`.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

/// Observes the elapsed time into the reconcile histogram on drop.
pub struct DurationGuard<'a> {
    histogram: &'a Histogram,
    start: std::time::Instant,
}

impl DurationGuard<'_> {
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }
}

impl Drop for DurationGuard<'_> {
    fn drop(&mut self) {
        self.histogram.observe(self.start.elapsed().as_secs_f64());
    }
}
