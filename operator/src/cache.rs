//! The operator's caches: one reflector each for the collections, their Jobs and the Jobs'
//! pods, built once in [`start`] and kept current whether or not this replica leads, as
//! controller-runtime's manager does (a standby that takes over starts with warm caches).
//! Reconciles read only from here; nothing is listed per reconcile.
//!
//! Each cached object is trimmed to what the operator reads: `managedFields` (about half of
//! a status-patched object), kubectl's last-applied copy of the spec, and the Jobs' and pods'
//! specs are dropped before they reach a store.
//!
//! Readiness is tracked from the watch events themselves, not with `Store::wait_until_ready`:
//! in kube-runtime 5.0 that future sits on a one-shot channel with a single waker slot, so of
//! several waiters (the controller's own runner waits on the same store) only the last one to
//! poll is ever woken; the others wait forever.

use std::{
    collections::{HashMap, HashSet},
    fmt::Debug,
    future::Future,
    sync::Arc,
};

use crds::ChannelCollection;
use futures::{Stream, StreamExt, stream};
use k8s_openapi::api::{
    batch::v1::{Job, JobSpec},
    core::v1::{Container, Pod, PodSpec, PodTemplateSpec},
};
use kube::{
    Api, Client, Resource, ResourceExt,
    runtime::{
        WatchStreamExt,
        reflector::{self, ObjectRef, Store},
        watcher,
    },
};
use serde::de::DeserializeOwned;
use tokio::sync::{broadcast, watch};
use tracing::{info, warn};

use telemetry::ErrorChain;

use contract::job::label;

use crate::job::CONTAINER;

/// kubectl's copy of the last applied object: as big as the spec, never read here.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Changes buffered per cache for a slow subscriber; one that falls further behind gets
/// every cached object again (reconciles are idempotent, so a resync is always safe).
const FEED_CAPACITY: usize = 1024;

/// Read handles of the caches (cheap to clone, shared with whatever needs to read them).
#[derive(Clone)]
pub struct Stores {
    /// Every watched ChannelCollection.
    pub collections: Store<ChannelCollection>,
    /// Jobs labelled as managed by the operator: metadata and status only (no spec).
    pub jobs: Store<Job>,
    /// Pods of those Jobs: metadata and status only.
    pub pods: Store<Pod>,
    /// The Jobs' keys by their controller's uid.
    job_owners: Owners,
    /// The pods' keys by their controller's uid.
    pod_owners: Owners,
}

impl Stores {
    /// Read handles of these stores, with indexes of what they hold now (kept current
    /// afterwards only by the caches [`start`] builds).
    pub fn new(collections: Store<ChannelCollection>, jobs: Store<Job>, pods: Store<Pod>) -> Self {
        let (job_owners, pod_owners) = (Owners::default(), Owners::default());
        job_owners.rebuild(&jobs.state());
        pod_owners.rebuild(&pods.state());
        Self {
            collections,
            jobs,
            pods,
            job_owners,
            pod_owners,
        }
    }

    /// Jobs in `namespace` whose controller is the object with `uid`.
    pub fn jobs_of(&self, namespace: &str, uid: &str) -> Vec<Arc<Job>> {
        controlled_by(&self.jobs, &self.job_owners, namespace, uid)
    }

    /// Pods in `namespace` whose controller is the Job with `uid`.
    pub fn pods_of(&self, namespace: &str, uid: &str) -> Vec<Arc<Pod>> {
        controlled_by(&self.pods, &self.pod_owners, namespace, uid)
    }

    /// The collection a pod belongs to, through its Job (pod -> Job -> collection).
    pub fn collection_of_pod(&self, pod: &Pod) -> Option<ObjectRef<ChannelCollection>> {
        let namespace = ResourceExt::namespace(pod)?;
        let job = controller(pod, "Job")?;
        let job = self.jobs.get(&ObjectRef::new(&job).within(&namespace))?;
        let collection = controller(job.as_ref(), &ChannelCollection::kind(&()))?;
        Some(ObjectRef::new(&collection).within(&namespace))
    }
}

/// The objects of `store` in `namespace` whose controller has `uid`: looked up in `owners`
/// (a reconcile reads a collection's few Jobs, not every cached one), checked in the store.
fn controlled_by<K>(store: &Store<K>, owners: &Owners, namespace: &str, uid: &str) -> Vec<Arc<K>>
where
    K: Resource<DynamicType = ()> + Clone + 'static,
{
    owners
        .of(uid)
        .into_iter()
        .filter(|key| key.namespace.as_deref() == Some(namespace))
        .filter_map(|key| store.get(&key))
        .filter(|o| controller_uid(o.as_ref()) == Some(uid))
        .collect()
}

/// The uid of `object`'s controller.
fn controller_uid<K: Resource>(object: &K) -> Option<&str> {
    object
        .owner_references()
        .iter()
        .find(|r| r.controller == Some(true))
        .map(|r| r.uid.as_str())
}

/// Cached objects' keys by the uid of their controller, kept by the reflector next to its
/// store: without it each reconcile scanned every cached Job, a cost that grew with the number
/// of collections times itself.
#[derive(Clone, Default)]
struct Owners(Arc<std::sync::RwLock<OwnersInner>>);

#[derive(Default)]
struct OwnersInner {
    by_owner: HashMap<String, HashSet<Key>>,
    owner_of: HashMap<Key, String>,
}

/// An object's namespace and name.
type Key = (Option<String>, String);

impl Owners {
    fn key<K: Resource>(object: &K) -> Key {
        let meta = object.meta();
        (
            meta.namespace.clone(),
            meta.name.clone().unwrap_or_default(),
        )
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, OwnersInner> {
        self.0.write().unwrap_or_else(|e| e.into_inner())
    }

    /// `object` was applied to the store.
    fn apply<K: Resource>(&self, object: &K) {
        let key = Self::key(object);
        let owner = controller_uid(object).map(str::to_string);
        let mut inner = self.write();
        inner.remove(&key);
        if let Some(owner) = owner {
            inner
                .by_owner
                .entry(owner.clone())
                .or_default()
                .insert(key.clone());
            inner.owner_of.insert(key, owner);
        }
    }

    /// `object` was deleted from the store.
    fn delete<K: Resource>(&self, object: &K) {
        self.write().remove(&Self::key(object));
    }

    /// The store holds `objects` and nothing else (after a list).
    fn rebuild<K: Resource>(&self, objects: &[Arc<K>]) {
        let mut inner = self.write();
        *inner = OwnersInner::default();
        for object in objects {
            if let Some(owner) = controller_uid(object.as_ref()) {
                let key = Self::key(object.as_ref());
                inner
                    .by_owner
                    .entry(owner.to_string())
                    .or_default()
                    .insert(key.clone());
                inner.owner_of.insert(key, owner.to_string());
            }
        }
    }

    /// The keys of the objects controlled by `uid`.
    fn of<K>(&self, uid: &str) -> Vec<ObjectRef<K>>
    where
        K: Resource<DynamicType = ()>,
    {
        let inner = self.0.read().unwrap_or_else(|e| e.into_inner());
        inner
            .by_owner
            .get(uid)
            .into_iter()
            .flatten()
            .map(|(namespace, name)| {
                let key = ObjectRef::new(name);
                match namespace {
                    Some(namespace) => key.within(namespace),
                    None => key,
                }
            })
            .collect()
    }
}

impl OwnersInner {
    fn remove(&mut self, key: &Key) {
        if let Some(owner) = self.owner_of.remove(key)
            && let Some(keys) = self.by_owner.get_mut(&owner)
        {
            keys.remove(key);
            if keys.is_empty() {
                self.by_owner.remove(&owner);
            }
        }
    }
}

/// Name of `object`'s controller of kind `kind`.
fn controller<K: Resource>(object: &K, kind: &str) -> Option<String> {
    object
        .owner_references()
        .iter()
        .find(|r| r.controller == Some(true) && r.kind == kind)
        .map(|r| r.name.clone())
}

/// Whether every cache has received its first complete list.
#[derive(Clone, Debug)]
pub struct Readiness(watch::Receiver<usize>);

/// Number of caches [`start`] builds.
const CACHES: usize = 3;

impl Readiness {
    /// True once every cache has synced (it stays true through later re-lists).
    pub fn synced(&self) -> bool {
        *self.0.borrow() >= CACHES
    }

    /// Resolves once every cache has synced; `false` if the caches stopped before that.
    pub async fn wait(&self) -> bool {
        let mut rx = self.0.clone();
        rx.wait_for(|n| *n >= CACHES).await.is_ok()
    }
}

/// Fan-out of one cache's changes: the controller subscribes while this replica leads.
///
/// Not kube-runtime's shared store (`store_shared` and `Writer::subscribe`): in kube 5.0 a
/// handle subscribed late sees nothing already cached (a replica that starts leading would
/// reconcile nothing until objects change), deletions are not passed on (a replaced Job's
/// deletion is what lets the next run start), a slow subscriber holds the reflector back
/// instead of lagging, and a handle whose object is deleted between its announcement and its
/// read returns `Pending` without a wake-up. Working around all four took more code than this.
pub struct Feed<K: Resource<DynamicType = ()> + Clone + 'static> {
    tx: broadcast::Sender<Arc<K>>,
    store: Store<K>,
}

impl<K: Resource<DynamicType = ()> + Clone + 'static> Clone for Feed<K> {
    fn clone(&self) -> Self {
        Self {
            tx: self.tx.clone(),
            store: self.store.clone(),
        }
    }
}

impl<K> Feed<K>
where
    K: Resource<DynamicType = ()> + Clone + Send + Sync + 'static,
{
    /// Every object now cached, then every change (an object per apply or delete). Subscribe
    /// after the caches synced: what happened before is in the first part.
    pub fn subscribe(&self) -> impl Stream<Item = Arc<K>> + Send + 'static + use<K> {
        let changes = self.changes();
        let now = self.store.state();
        stream::iter(now).chain(changes)
    }

    /// A feed of the objects `store` holds, for whoever applies changes to the store and
    /// then [`publish`](Self::publish)es them (the caches do; so do tests).
    pub fn new(store: Store<K>) -> Self {
        let (tx, _) = broadcast::channel(FEED_CAPACITY);
        Self { tx, store }
    }

    /// Announces an object just applied to (or deleted from) the store.
    pub fn publish(&self, object: Arc<K>) {
        // No subscriber is not an error: nobody is listening yet.
        let _ = self.tx.send(object);
    }

    /// The store the feed announces changes of.
    pub fn store(&self) -> &Store<K> {
        &self.store
    }

    /// Only the changes from now on (everything again after lagging), without the objects
    /// already cached.
    pub fn changes(&self) -> impl Stream<Item = Arc<K>> + Send + 'static + use<K> {
        let rx = self.tx.subscribe();
        let store = self.store.clone();
        stream::unfold((rx, store), |(mut rx, store)| async move {
            let batch = match rx.recv().await {
                Ok(object) => vec![object],
                // Fell behind: everything again, from the cache.
                Err(broadcast::error::RecvError::Lagged(_)) => store.state(),
                Err(broadcast::error::RecvError::Closed) => return None,
            };
            Some((stream::iter(batch), (rx, store)))
        })
        .flatten()
    }
}

/// The change streams of the caches.
pub struct Feeds {
    pub collections: Feed<ChannelCollection>,
    pub jobs: Feed<Job>,
    pub pods: Feed<Pod>,
}

/// The caches of one operator process.
pub struct Caches {
    pub stores: Stores,
    pub feeds: Feeds,
    pub readiness: Readiness,
}

/// Builds the caches of collections in `namespace` (all namespaces when `None`), their Jobs and
/// pods. The returned future keeps them current; it runs until dropped.
pub fn start(
    client: Client,
    namespace: Option<&str>,
) -> (Caches, impl Future<Output = ()> + Send + 'static) {
    fn api<K>(client: &Client, namespace: Option<&str>) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        K::DynamicType: Default,
    {
        match namespace {
            Some(ns) => Api::namespaced(client.clone(), ns),
            None => Api::all(client.clone()),
        }
    }
    let (synced_tx, synced) = watch::channel(0usize);
    let synced_tx = Arc::new(synced_tx);
    // Only our Jobs and their pods are watched (and cached), not every one in the cluster.
    let ours = watcher::Config::default()
        .labels(&format!(
            "{}={}",
            label::MANAGED_BY,
            label::MANAGED_BY_OPERATOR
        ))
        .any_semantic();
    let (job_owners, pod_owners) = (Owners::default(), Owners::default());
    let (collections, collections_feed, collections_run) = reflect(
        "collections",
        api::<ChannelCollection>(&client, namespace),
        watcher::Config::default().any_semantic(),
        trim_collection,
        synced_tx.clone(),
        Owners::default(),
    );
    let (jobs, jobs_feed, jobs_run) = reflect(
        "jobs",
        api::<Job>(&client, namespace),
        ours.clone(),
        trim_job,
        synced_tx.clone(),
        job_owners.clone(),
    );
    let (pods, pods_feed, pods_run) = reflect(
        "pods",
        api::<Pod>(&client, namespace),
        ours,
        trim_pod,
        synced_tx,
        pod_owners.clone(),
    );
    let caches = Caches {
        stores: Stores {
            collections,
            jobs,
            pods,
            job_owners,
            pod_owners,
        },
        feeds: Feeds {
            collections: collections_feed,
            jobs: jobs_feed,
            pods: pods_feed,
        },
        readiness: Readiness(synced),
    };
    let run = async move {
        tokio::join!(collections_run, jobs_run, pods_run);
    };
    (caches, run)
}

/// One reflector: its store, its feed, and the future that drives its watch.
fn reflect<K>(
    name: &'static str,
    api: Api<K>,
    config: watcher::Config,
    trim: fn(&mut K),
    synced: Arc<watch::Sender<usize>>,
    owners: Owners,
) -> (Store<K>, Feed<K>, impl Future<Output = ()> + Send + 'static)
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    let (store, writer) = reflector::store::<K>();
    let feed = Feed::new(store.clone());
    let tx = feed.tx.clone();
    let reader = store.clone();
    let run = async move {
        let mut seen_first_list = false;
        let events = watcher(api, config)
            .default_backoff()
            .modify(trim)
            .reflect(writer);
        futures::pin_mut!(events);
        while let Some(event) = events.next().await {
            match event {
                Ok(watcher::Event::Apply(object)) => {
                    // Indexed before announced: a reconcile it wakes finds it.
                    owners.apply(&object);
                    // The store's own copy, so a buffered change costs no second object.
                    if let Some(cached) = reader.get(&ObjectRef::from_obj(&object)) {
                        let _ = tx.send(cached);
                    }
                }
                Ok(watcher::Event::Delete(object)) => {
                    owners.delete(&object);
                    let _ = tx.send(Arc::new(object));
                }
                Ok(watcher::Event::InitDone) => {
                    // The store now holds exactly the list.
                    owners.rebuild(&reader.state());
                    if !seen_first_list {
                        seen_first_list = true;
                        synced.send_modify(|n| *n += 1);
                        info!(cache = name, objects = reader.state().len(), "cache synced");
                    } else {
                        // A re-list: anything may have changed during the gap.
                        for object in reader.state() {
                            let _ = tx.send(object);
                        }
                    }
                }
                Ok(watcher::Event::Init | watcher::Event::InitApply(_)) => {}
                Err(error) => {
                    warn!(cache = name, error = %ErrorChain(&error), "watch failed; retrying")
                }
            }
        }
    };
    (store, feed, run)
}

fn trim_meta<K: Resource>(object: &mut K) {
    let meta = object.meta_mut();
    meta.managed_fields = None;
    if let Some(annotations) = meta.annotations.as_mut() {
        annotations.remove(LAST_APPLIED);
    }
}

/// Keeps spec, status and metadata (the observability metrics read the spec and status).
fn trim_collection(cc: &mut ChannelCollection) {
    trim_meta(cc);
}

/// Keeps metadata and status, and of the spec only a sharded run's `COLLECTOR_ASSIGNMENT`
/// env: the next run keeps each channel on the account that collected it, and the status
/// counts an index's channels before it starts. The reconcile reads nothing else of a Job's
/// spec (it builds its own).
fn trim_job(job: &mut Job) {
    trim_meta(job);
    let assignment = crate::job::assignment_env(job).cloned();
    job.spec = assignment.map(|env| JobSpec {
        template: PodTemplateSpec {
            metadata: None,
            spec: Some(PodSpec {
                containers: vec![Container {
                    name: CONTAINER.to_string(),
                    env: Some(vec![env]),
                    ..Container::default()
                }],
                ..PodSpec::default()
            }),
        },
        ..JobSpec::default()
    });
}

/// Keeps metadata and status (container states, scheduling conditions).
fn trim_pod(pod: &mut Pod) {
    trim_meta(pod);
    pod.spec = None;
    pod.metadata.annotations = None;
}

#[cfg(test)]
mod tests {
    use super::*;
    use contract::job::env::ASSIGNMENT;
    use crds::testing::TestCollection;
    use kube::api::ObjectMeta;

    fn job(name: &str) -> Job {
        Job {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("tg".into()),
                ..ObjectMeta::default()
            },
            ..Job::default()
        }
    }

    fn names(jobs: &[Arc<Job>]) -> Vec<String> {
        let mut names: Vec<String> = jobs.iter().map(|j| j.name_any()).collect();
        names.sort();
        names
    }

    #[tokio::test]
    async fn a_subscriber_sees_the_cache_then_changes_and_everything_again_after_lagging() {
        let (store, mut writer) = reflector::store::<Job>();
        writer.apply_watcher_event(&watcher::Event::Apply(job("a")));
        let (tx, _) = broadcast::channel(2);
        let feed = Feed {
            tx: tx.clone(),
            store: store.clone(),
        };
        let mut changes = Box::pin(feed.subscribe());
        writer.apply_watcher_event(&watcher::Event::Apply(job("b")));
        tx.send(store.get(&ObjectRef::new("b").within("tg")).unwrap())
            .unwrap();
        let first: Vec<Arc<Job>> =
            vec![changes.next().await.unwrap(), changes.next().await.unwrap()];
        assert_eq!(names(&first), ["a", "b"], "the cache, then the change");

        // Three changes into a buffer of two: the subscriber gets the whole cache again.
        for name in ["c", "d", "e"] {
            writer.apply_watcher_event(&watcher::Event::Apply(job(name)));
            tx.send(Arc::new(job(name))).unwrap();
        }
        let mut resync = Vec::new();
        for _ in 0..5 {
            resync.push(changes.next().await.unwrap());
        }
        assert_eq!(names(&resync), ["a", "b", "c", "d", "e"]);
    }

    fn owned(name: &str, namespace: &str, owner: &str) -> Job {
        let mut job = job(name);
        job.metadata.namespace = Some(namespace.into());
        job.metadata.owner_references = Some(vec![
            k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
                uid: owner.into(),
                controller: Some(true),
                ..Default::default()
            },
        ]);
        job
    }

    #[test]
    fn a_collections_jobs_are_found_through_the_owner_index() {
        let (store, mut writer) = reflector::store::<Job>();
        let owners = Owners::default();
        let apply = |writer: &mut reflector::store::Writer<Job>, job: Job| {
            writer.apply_watcher_event(&watcher::Event::Apply(job.clone()));
            owners.apply(&job);
        };
        apply(&mut writer, owned("a-1", "tg", "uid-a"));
        apply(&mut writer, owned("a-2", "tg", "uid-a"));
        apply(&mut writer, owned("b-1", "tg", "uid-b"));
        apply(&mut writer, owned("a-1", "other", "uid-a"));
        let of = |uid| names(&controlled_by(&store, &owners, "tg", uid));
        assert_eq!(of("uid-a"), ["a-1", "a-2"], "its own namespace only");
        assert_eq!(of("uid-b"), ["b-1"]);

        // Adopted by another owner, then deleted.
        apply(&mut writer, owned("a-2", "tg", "uid-b"));
        assert_eq!(of("uid-a"), ["a-1"]);
        assert_eq!(of("uid-b"), ["a-2", "b-1"]);
        let gone = owned("b-1", "tg", "uid-b");
        writer.apply_watcher_event(&watcher::Event::Delete(gone.clone()));
        owners.delete(&gone);
        assert_eq!(of("uid-b"), ["a-2"]);

        // A re-list: the index is what the store holds.
        owners.rebuild(&[Arc::new(owned("c-1", "tg", "uid-a"))]);
        assert_eq!(of("uid-b"), Vec::<String>::new());
        assert_eq!(of("uid-a"), Vec::<String>::new(), "c-1 is not in the store");
    }

    #[test]
    fn trimmed_objects_keep_what_the_operator_reads() {
        let mut job: Job = serde_json::from_value(serde_json::json!({
            "metadata": {
                "name": "news-1", "namespace": "tg",
                "annotations": {LAST_APPLIED: "{...}", "collection.mtproto.dev/scheduled-at": "x"},
                "managedFields": [{"manager": "kube-controller-manager", "operation": "Update"}],
                "ownerReferences": [{"apiVersion": "v1", "kind": "ChannelCollection", "name": "news",
                                     "uid": "u", "controller": true}]
            },
            "spec": {"template": {"spec": {"containers": []}}},
            "status": {"active": 1}
        }))
        .unwrap();
        trim_job(&mut job);
        assert_eq!(job.metadata.managed_fields, None);
        assert_eq!(job.spec, None);
        assert_eq!(job.status.as_ref().and_then(|s| s.active), Some(1));
        assert_eq!(
            job.annotations().keys().collect::<Vec<_>>(),
            ["collection.mtproto.dev/scheduled-at"]
        );
        assert_eq!(job.owner_references().len(), 1);

        // A sharded run's Job keeps its assignment, and only that, of its spec.
        let mut sharded: Job = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "news-2", "namespace": "tg"},
            "spec": {"template": {"spec": {"containers": [{"name": "collector", "image": "x",
                "env": [{"name": "COLLECTOR_CHANNELS", "value": "[\"@a\",\"@b\"]"},
                        {"name": ASSIGNMENT, "value": "[[\"@a\"],[\"@b\"]]"}]}]}}}
        }))
        .unwrap();
        trim_job(&mut sharded);
        let containers = &sharded
            .spec
            .as_ref()
            .unwrap()
            .template
            .spec
            .as_ref()
            .unwrap()
            .containers;
        assert_eq!(containers.len(), 1);
        assert_eq!(containers[0].image, None);
        let env = containers[0].env.as_ref().unwrap();
        assert_eq!(env.len(), 1);
        assert_eq!(env[0].name, ASSIGNMENT);
        assert_eq!(env[0].value.as_deref(), Some("[[\"@a\"],[\"@b\"]]"));

        let mut cc = ChannelCollection::test();
        cc.metadata.managed_fields = Some(vec![Default::default()]);
        let spec = cc.spec.clone();
        trim_collection(&mut cc);
        assert_eq!(cc.metadata.managed_fields, None);
        assert_eq!(cc.spec, spec);
    }
}
