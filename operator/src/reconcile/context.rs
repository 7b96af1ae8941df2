//! What every reconcile shares.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use crate::status::AuditSnapshot;
use chrono::{DateTime, Utc};
use crds::{ChannelCollection, ChannelCollectionStatus, RunId};
use kube::{Client, Resource, runtime::reflector::ObjectRef};
use sqlx::PgPool;
use tokio::sync::watch;

use super::Error;
use crate::{
    cache::Stores, events::Publisher, job::JobDefaults, metrics::Metrics, runs::RunView,
    status::Notice, write_order::WriteOrder,
};

/// Field manager of every write the operator makes (status SSA in particular).
pub const FIELD_MANAGER: &str = "channel-collection-operator";

/// Where the current time comes from (fixed in tests).
pub type Now = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// Shared state of every reconcile.
pub struct Context {
    /// Kubernetes API client (writes, and the rare read of a Job that is not cached yet).
    pub client: Client,
    /// The caches every read comes from.
    pub stores: Stores,
    /// Publishes Events on the collections.
    pub events: Publisher,
    /// Collector image and database Secret for specs that leave them out.
    pub defaults: JobDefaults,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// True while this instance holds the leader lease; every write checks it first.
    pub leader: watch::Receiver<bool>,
    /// How often status is refreshed while a run is active.
    pub refresh: Duration,
    /// The operator's database, where the audit log is read; `None`: not configured, so
    /// only Job-level status is reported. Lazy: nothing connects until an active run is
    /// read, so an unreachable database never blocks start-up.
    ///
    /// Collections whose `spec.database` names another database are read from this one too
    /// (the operator never reads Secrets): if their collector writes elsewhere, their runs
    /// show no progress.
    pub database: Option<PgPool>,
    /// What was read of the runs being followed: their rows so far and their history.
    pub runs: RunCache,
    /// The current time.
    pub now: Now,
    /// Consecutive failures per collection, for the error backoff.
    pub failures: Mutex<HashMap<ObjectRef<ChannelCollection>, u32>>,
    /// Jobs created but not yet seen in the cache, per collection (as Kubernetes
    /// controllers' "expectations"): a reconcile woken by its own status write before the
    /// Job's watch event arrives must not take the new run for a deleted one.
    pub expected: Expectations,
    /// Statuses written but not yet seen in the cache, so that a reconcile woken before the
    /// collection's watch event neither writes the same status again nor announces a run's
    /// end twice.
    pub written: StatusWrites,
    /// The slots every write takes: a due minute's Jobs go before its status writes (and
    /// the Publisher's Events, which share it).
    pub writes: WriteOrder,
}

/// How long a created Job is expected before its absence from the cache counts: longer than
/// any watch lag, shorter than a run.
const EXPECTATION_TTL: chrono::TimeDelta = chrono::TimeDelta::seconds(60);

/// A run whose Job was created at a time, not yet seen in the cache.
type Expected = (RunView, DateTime<Utc>);

/// Jobs created and not yet seen in the cache, per collection.
#[derive(Debug, Default)]
pub struct Expectations(Mutex<HashMap<ObjectRef<ChannelCollection>, Expected>>);

impl Expectations {
    /// `run` was just created (or adopted) for `cc` at `now`.
    pub(super) fn expect(&self, cc: &ChannelCollection, run: RunView, now: DateTime<Utc>) {
        if let Ok(mut expected) = self.0.lock() {
            expected.insert(ObjectRef::from_obj(cc), (run, now));
        }
    }

    /// The run created for `cc` that `cached` (its runs in the cache) does not show yet, if
    /// still expected at `now`; forgets it once the cache shows it or it expired.
    pub(super) fn pending(
        &self,
        cc: &ChannelCollection,
        cached: &[RunView],
        now: DateTime<Utc>,
    ) -> Option<RunView> {
        let mut expected = self.0.lock().ok()?;
        let key = ObjectRef::from_obj(cc);
        let (run, at) = expected.get(&key)?;
        if cached.iter().any(|r| r.id == run.id) || now - *at > EXPECTATION_TTL {
            expected.remove(&key);
            return None;
        }
        Some(run.clone())
    }
}

/// Most statuses remembered; beyond it the memory starts over (an entry of a collection
/// deleted right after a write would otherwise stay), which costs at most one write again.
const STATUS_WRITES_MAX: usize = 4096;

/// The status last written per collection, with the `resourceVersion` the cache showed then.
/// While the cache still shows that version, it has not seen the write: the written status is
/// the current one. Once it shows another, the cache is current again (whoever wrote).
#[derive(Debug, Default)]
pub struct StatusWrites(Mutex<HashMap<ObjectRef<ChannelCollection>, Written>>);

/// A written status, and the `resourceVersion` the cache showed when it was written.
type Written = (Option<String>, ChannelCollectionStatus);

impl StatusWrites {
    /// `cc` as it is after this operator's last status write: the cached object itself when
    /// the cache has caught up (or nothing was written), else a copy with the written status.
    pub fn caught_up(&self, cc: Arc<ChannelCollection>) -> Arc<ChannelCollection> {
        let Ok(mut written) = self.0.lock() else {
            return cc;
        };
        let key = ObjectRef::from_obj(cc.as_ref());
        match written.get(&key) {
            Some((version, status)) if *version == cc.metadata.resource_version => {
                if cc.status.as_ref() == Some(status) {
                    return cc;
                }
                let mut current = (*cc).clone();
                current.status = Some(status.clone());
                Arc::new(current)
            }
            Some(_) => {
                written.remove(&key);
                cc
            }
            None => cc,
        }
    }

    /// `status` was just written on `cc` (as cached).
    pub(super) fn wrote(&self, cc: &ChannelCollection, status: &ChannelCollectionStatus) {
        if let Ok(mut written) = self.0.lock() {
            if written.len() >= STATUS_WRITES_MAX {
                written.clear();
            }
            written.insert(
                ObjectRef::from_obj(cc),
                (cc.metadata.resource_version.clone(), status.clone()),
            );
        }
    }
}

impl Context {
    pub(super) fn ensure_leader(&self) -> Result<(), Error> {
        if *self.leader.borrow() {
            Ok(())
        } else {
            Err(Error::NotLeader)
        }
    }

    /// Queues `notice` on `cc`: written in the background while this instance leads (the
    /// writer checks the lease); one that cannot be written is logged, not retried.
    pub(super) fn publish(&self, cc: &ChannelCollection, notice: &Notice) {
        self.events.publish(cc.object_ref(&()), notice);
    }

    pub(super) fn publish_all(&self, cc: &ChannelCollection, notices: &[Notice]) {
        for notice in notices {
            self.publish(cc, notice);
        }
    }

    /// One more consecutive failure of `cc`; how many there are now.
    pub(super) fn count_failure(&self, cc: &ChannelCollection) -> u32 {
        self.failures
            .lock()
            .map(|mut f| {
                let n = f.entry(ObjectRef::from_obj(cc)).or_insert(0);
                *n = n.saturating_add(1);
                *n
            })
            .unwrap_or(1)
    }

    pub(super) fn forget_failures(&self, cc: &ChannelCollection) {
        if let Ok(mut failures) = self.failures.lock() {
            failures.remove(&ObjectRef::from_obj(cc));
        }
    }
}

/// Most runs whose reads are kept; beyond it the cache starts over (entries of runs whose end
/// was never seen, e.g. of a deleted collection, would otherwise stay forever).
const RUN_CACHE_MAX: usize = 1024;

/// What was read of each followed run, keyed by (namespace, run): its rows so far and its
/// collection's per-channel history (which does not change during a run), so each refresh
/// reads only the rows written since the last.
#[derive(Debug, Default)]
pub struct RunCache(Mutex<HashMap<(String, RunId), AuditSnapshot>>);

impl RunCache {
    /// What was read of `run`, if anything.
    pub fn get(&self, namespace: &str, run: &RunId) -> Option<AuditSnapshot> {
        let cache = self.0.lock().ok()?;
        cache.get(&(namespace.to_string(), run.clone())).cloned()
    }

    /// Keeps what was read of `run`.
    pub fn put(&self, namespace: &str, run: &RunId, snapshot: AuditSnapshot) {
        if let Ok(mut cache) = self.0.lock() {
            if cache.len() >= RUN_CACHE_MAX {
                cache.clear();
            }
            cache.insert((namespace.to_string(), run.clone()), snapshot);
        }
    }

    /// Drops `run` (it is over).
    pub fn forget(&self, namespace: &str, run: &RunId) {
        if let Ok(mut cache) = self.0.lock() {
            cache.remove(&(namespace.to_string(), run.clone()));
        }
    }

    /// Number of runs cached.
    pub fn len(&self) -> usize {
        self.0.lock().map(|c| c.len()).unwrap_or(0)
    }

    /// Whether no run is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
