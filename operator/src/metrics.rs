//! Prometheus metrics: reconciles, failures by stable reason, reconcile duration, Jobs created.

use std::time::Duration;

use prometheus_client::{
    encoding::text::encode,
    metrics::{
        counter::Counter,
        family::Family,
        histogram::{Histogram, exponential_buckets},
    },
    registry::Registry,
};

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
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("channel_collection_operator");
        let reconciles = Counter::default();
        let failures = Family::<ReasonLabel, Counter>::default();
        // 1ms .. ~16s
        let duration = Histogram::new(exponential_buckets(0.001, 2.0, 15));
        let jobs_created = Counter::default();
        registry.register("reconciles", "Reconciles started", reconciles.clone());
        registry.register(
            "reconcile_failures",
            "Failed reconciles by reason",
            failures.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Reconcile duration",
            duration.clone(),
        );
        registry.register(
            "jobs_created",
            "Collector Jobs created",
            jobs_created.clone(),
        );
        Metrics {
            registry,
            reconciles,
            failures,
            duration,
            jobs_created,
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
