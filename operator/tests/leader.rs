//! Leader election: two operator instances against one mocked API server. Only the
//! lease holder writes; losing the lease stops its writes; a release hands over.
//!
//! The fake API server keeps a Lease (with server-side-apply field ownership, so a
//! second holder gets 409 Conflict as on a real server), one collection, and the Jobs
//! created. Watches are left hanging, as a quiet cluster would.

mod common;

use contract::job::annotation;
use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use common::{apiserver, defaults};
use crds::ChannelCollection;
use crds::testing::TestCollection;
use http::{Method, Request, Response, StatusCode};
use k8s_openapi::jiff::Timestamp;
use kube::{
    Client,
    client::Body,
    runtime::events::{Recorder, Reporter},
};
use operator::{
    cache, controller,
    events::Publisher,
    leader::{self, LeaseConfig},
    metrics::Metrics,
    reconcile::Context,
};
use serde_json::{Value, json};
use tokio::sync::watch;
use tower_test::mock::{Handle, SendResponse};

const LEASE_PATH: &str = "/apis/coordination.k8s.io/v1/namespaces/telegram/leases";

#[derive(Default)]
struct Cluster {
    /// The Lease's spec, and the field manager owning `holderIdentity`.
    lease: Option<(Value, Option<String>)>,
    jobs: Vec<Value>,
    /// Non-Lease writes: (instance, request).
    writes: Vec<(String, String)>,
    /// Writes by an instance that did not hold the Lease at that moment.
    violations: Vec<String>,
}

impl Cluster {
    fn holder(&self) -> Option<String> {
        self.lease
            .as_ref()
            .and_then(|(spec, _)| spec["holderIdentity"].as_str().map(str::to_string))
    }

    fn lease_json(&self) -> Value {
        let spec = self
            .lease
            .as_ref()
            .map(|(s, _)| s.clone())
            .unwrap_or(json!({}));
        json!({
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": "operator-lease", "namespace": "telegram", "resourceVersion": "1"},
            "spec": spec
        })
    }
}

fn merge(spec: &mut Value, patch: &Value) {
    for (key, value) in patch.as_object().into_iter().flatten() {
        if value.is_null() {
            spec.as_object_mut().unwrap().remove(key);
        } else {
            spec[key] = value.clone();
        }
    }
}

fn collection() -> Value {
    let cc = ChannelCollection::test();
    let mut v = serde_json::to_value(&cc).unwrap();
    v["apiVersion"] = json!("collection.mtproto.dev/v1alpha1");
    v["kind"] = json!("ChannelCollection");
    v
}

/// Serves one instance's requests against the shared cluster until its client is gone.
async fn serve(
    identity: String,
    cluster: Arc<Mutex<Cluster>>,
    mut handle: Handle<Request<Body>, Response<Body>>,
    mut poke: watch::Receiver<u32>,
) {
    // Watches stay open and silent until the test pokes the collection.
    let mut hanging: Vec<(String, SendResponse<Response<Body>>)> = Vec::new();
    loop {
        let (request, send) = tokio::select! {
            next = handle.next_request() => match next {
                Some(exchange) => exchange,
                None => break,
            },
            changed = poke.changed() => {
                if changed.is_err() {
                    continue;
                }
                // A user sets requestedAt: any running controller would start a run now.
                let n = *poke.borrow_and_update();
                let mut object = collection();
                object["metadata"]["annotations"] = json!({ annotation::REQUESTED_AT: format!("poke-{n}") });
                object["metadata"]["resourceVersion"] = json!(format!("{}", 100 + n));
                let line = format!("{}\n", json!({"type": "MODIFIED", "object": object}));
                let (collections, others): (Vec<_>, Vec<_>) =
                    hanging.drain(..).partition(|(p, _)| p.ends_with("/channelcollections"));
                hanging = others;
                for (_, send) in collections {
                    send.send_response(Response::builder().status(200).body(Body::from(line.clone().into_bytes())).unwrap());
                }
                continue;
            }
        };
        let (parts, body) = request.into_parts();
        apiserver::assert_allowed(&parts.method, &parts.uri);
        let bytes = body.collect_bytes().await.unwrap();
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let path = parts.uri.path().to_string();
        let query = parts.uri.query().unwrap_or("").to_string();
        let content_type = parts
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let mut cluster = cluster.lock().unwrap();

        if path.starts_with(LEASE_PATH) {
            let response = match parts.method {
                Method::GET if cluster.lease.is_some() => {
                    apiserver::json(StatusCode::OK, &cluster.lease_json())
                }
                Method::GET => apiserver::status_error(404, "NotFound", "leases not found"),
                Method::POST if cluster.lease.is_some() => {
                    apiserver::status_error(409, "AlreadyExists", "exists")
                }
                Method::POST => {
                    cluster.lease = Some((
                        body["spec"]
                            .as_object()
                            .map_or(json!({}), |_| body["spec"].clone()),
                        None,
                    ));
                    apiserver::json(StatusCode::CREATED, &cluster.lease_json())
                }
                Method::PATCH => {
                    let manager = query
                        .split('&')
                        .find_map(|kv| kv.strip_prefix("fieldManager="))
                        .unwrap_or("")
                        .to_string();
                    let patch = &body["spec"];
                    let (spec, owner) = cluster.lease.get_or_insert((json!({}), None));
                    let current = spec["holderIdentity"].as_str().map(str::to_string);
                    let wanted = patch.get("holderIdentity");
                    if content_type.contains("apply-patch") {
                        // Server-side apply without force: another manager's field conflicts.
                        let conflict = matches!((&current, &owner, wanted), (Some(h), Some(o), Some(w))
                            if o != &manager && w.as_str() != Some(h.as_str()));
                        if conflict {
                            drop(cluster);
                            send.send_response(apiserver::status_error(
                                409,
                                "Conflict",
                                "conflict on holderIdentity",
                            ));
                            continue;
                        }
                        merge(spec, patch);
                        *owner = Some(manager);
                    } else {
                        merge(spec, patch);
                        match wanted {
                            Some(Value::Null) => *owner = None,
                            Some(_) => *owner = Some(manager),
                            None => {}
                        }
                    }
                    apiserver::json(StatusCode::OK, &cluster.lease_json())
                }
                _ => panic!("unexpected lease request {} {path}", parts.method),
            };
            drop(cluster);
            send.send_response(response);
            continue;
        }

        if parts.method != Method::GET {
            // Every write except the Lease's own must come from the holder.
            if cluster.holder().as_deref() != Some(identity.as_str()) {
                let v = format!(
                    "{identity} wrote {} {path} while {:?} held the lease",
                    parts.method,
                    cluster.holder()
                );
                cluster.violations.push(v);
            }
            cluster
                .writes
                .push((identity.clone(), format!("{} {path}", parts.method)));
        }

        let response = match (parts.method.clone(), path.as_str()) {
            (Method::GET, _) if query.contains("watch=true") => {
                hanging.push((path.clone(), send));
                continue;
            }
            (Method::GET, p) if p.ends_with("/channelcollections") => apiserver::json(
                StatusCode::OK,
                &json!({"apiVersion": "collection.mtproto.dev/v1alpha1", "kind": "ChannelCollectionList",
                        "metadata": {"resourceVersion": "1"}, "items": [collection()]}),
            ),
            (Method::GET, p) if p.ends_with("/pods") => apiserver::json(
                StatusCode::OK,
                &json!({"apiVersion": "v1", "kind": "PodList", "metadata": {"resourceVersion": "1"}, "items": []}),
            ),
            (Method::GET, p) if p.ends_with("/jobs") => apiserver::json(
                StatusCode::OK,
                &json!({"apiVersion": "batch/v1", "kind": "JobList", "metadata": {"resourceVersion": "1"}, "items": cluster.jobs}),
            ),
            (Method::POST, p) if p.ends_with("/jobs") => {
                if cluster
                    .jobs
                    .iter()
                    .any(|j| j["metadata"]["name"] == body["metadata"]["name"])
                {
                    apiserver::status_error(409, "AlreadyExists", "exists")
                } else {
                    cluster.jobs.push(body.clone());
                    apiserver::json(StatusCode::CREATED, &body)
                }
            }
            (Method::GET, p) if p.contains("/jobs/") => {
                let name = p.rsplit('/').next().unwrap();
                match cluster.jobs.iter().find(|j| j["metadata"]["name"] == name) {
                    Some(job) => apiserver::json(StatusCode::OK, job),
                    None => apiserver::status_error(404, "NotFound", "not found"),
                }
            }
            (Method::PATCH, p) if p.ends_with("/status") => {
                let mut object = collection();
                object["status"] = body["status"].clone();
                apiserver::json(StatusCode::OK, &object)
            }
            (Method::POST, p) if p.ends_with("/events") => {
                apiserver::json(StatusCode::CREATED, &body)
            }
            // A repeated Event (same reason) is counted on the first one.
            (Method::PATCH, p) if p.contains("/events/") => apiserver::json(StatusCode::OK, &body),
            (method, path) => panic!("unexpected request {method} {path}"),
        };
        drop(cluster);
        send.send_response(response);
    }
}

struct Instance {
    gate: watch::Receiver<bool>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<Result<(), leader::Error>>,
}

async fn start(
    identity: &str,
    cluster: Arc<Mutex<Cluster>>,
    poke: watch::Receiver<u32>,
) -> Instance {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    tokio::spawn(serve(identity.to_string(), cluster, handle, poke));
    let client = Client::new(service, "telegram");
    let (gate_tx, gate) = watch::channel(false);
    let (stop, stop_rx) = watch::channel(false);
    let now = common::at(12, 0, 5);
    let (caches, keep_current) = cache::start(client.clone(), Some("telegram"));
    tokio::spawn(keep_current);
    let caches = Arc::new(caches);
    let ctx = Arc::new(Context {
        stores: caches.stores.clone(),
        events: Publisher::spawn(
            Recorder::new(
                client.clone(),
                Reporter {
                    controller: "channel-collection-operator".into(),
                    instance: Some(identity.into()),
                },
            ),
            gate.clone(),
            Default::default(),
            Default::default(),
        ),
        client: client.clone(),
        defaults: defaults(),
        metrics: Arc::new(Metrics::default()),
        leader: gate.clone(),
        // No periodic refresh during the test (clamped to 30 s, longer than the test):
        // writes happen only when a controller starts.
        refresh: Duration::from_secs(3600),
        database: None,
        runs: Default::default(),
        now: Arc::new(move || now),
        failures: Default::default(),
        expected: Default::default(),
        written: Default::default(),
        writes: Default::default(),
    });
    let config = LeaseConfig {
        name: "operator-lease".into(),
        namespace: "telegram".into(),
        identity: identity.into(),
        duration: 2,
        grace: 1,
    };
    let manager = tokio::time::timeout(
        apiserver::EXCHANGE_TIMEOUT,
        leader::manager(client, &config),
    )
    .await
    .expect("lease setup in time")
    .expect("lease setup");
    let settings = controller::Settings {
        concurrency: 4,
        shutdown_grace: Duration::from_secs(1),
        listen_audit_log: true,
    };
    let task = tokio::spawn(leader::run_when_leader(
        manager,
        gate_tx,
        stop_rx,
        move |stop| {
            let (ctx, caches) = (ctx.clone(), caches.clone());
            async move { controller::run(ctx, &caches, settings, stop).await }
        },
    ));
    Instance { gate, stop, task }
}

/// Polls `check` every 50ms for up to `secs` seconds.
async fn eventually(secs: u64, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_lease_holder_writes() {
    let cluster = Arc::new(Mutex::new(Cluster::default()));
    let (poke, poked) = watch::channel(0u32);
    let a = start("operator-a", cluster.clone(), poked.clone()).await;
    let b = start("operator-b", cluster.clone(), poked).await;

    // 1. One of them gets the lease and its controller creates the due Job.
    eventually(10, "a Job is created", || {
        !cluster.lock().unwrap().jobs.is_empty()
    })
    .await;
    let holder = cluster
        .lock()
        .unwrap()
        .holder()
        .expect("someone holds the lease");
    let (leader, standby) = if holder == "operator-a" {
        (&a, &b)
    } else {
        (&b, &a)
    };
    assert!(
        *leader.gate.borrow() && !*standby.gate.borrow(),
        "exactly the holder's gate is open"
    );
    {
        let c = cluster.lock().unwrap();
        assert_eq!(c.jobs.len(), 1, "exactly one Job");
        assert!(
            c.writes.iter().all(|(who, _)| who == &holder),
            "only {holder} wrote: {:?}",
            c.writes
        );
    }

    // 2. Someone else takes the lease (and keeps renewing it): the holder notices at its
    //    next renewal and stops; nobody writes while neither instance holds it.
    let intruder = Arc::new(AtomicBool::new(true));
    let renewing = {
        let (cluster, intruder) = (cluster.clone(), intruder.clone());
        tokio::spawn(async move {
            while intruder.load(Ordering::Acquire) {
                {
                    let mut c = cluster.lock().unwrap();
                    let spec = json!({
                        "holderIdentity": "intruder", "leaseDurationSeconds": 3,
                        "acquireTime": Timestamp::now().to_string(), "renewTime": Timestamp::now().to_string()
                    });
                    c.lease = Some((spec, Some("intruder-manager".to_string())));
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            let mut c = cluster.lock().unwrap();
            c.lease = Some((json!({}), None));
        })
    };
    eventually(5, "the old holder's gate closes", || !*leader.gate.borrow()).await;
    let writes_when_lost = cluster.lock().unwrap().writes.len();
    // A change that a still-running controller would act on (by starting a manual run).
    poke.send_replace(1);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(!*a.gate.borrow() && !*b.gate.borrow());
    assert_eq!(
        cluster.lock().unwrap().writes.len(),
        writes_when_lost,
        "no writes without the lease"
    );

    // 3. The lease is free again: one instance takes over and its fresh controller writes
    //    (the status of the collection, adopting the existing Job rather than a second one).
    intruder.store(false, Ordering::Release);
    renewing.await.unwrap();
    eventually(10, "an instance leads again", || {
        *a.gate.borrow() || *b.gate.borrow()
    })
    .await;
    eventually(10, "the new leader writes the status", || {
        cluster.lock().unwrap().writes[writes_when_lost..]
            .iter()
            .any(|(_, w)| w.ends_with("/status"))
    })
    .await;
    {
        // The scheduled run's Job is adopted, not created again; the request made while
        // nobody led (the standby's cache saw it) gets its own run, once.
        let c = cluster.lock().unwrap();
        let names: Vec<&str> = c
            .jobs
            .iter()
            .filter_map(|j| j["metadata"]["name"].as_str())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
        assert_eq!(names[0], "news-29931120");
        assert_eq!(
            c.jobs[1]["metadata"]["annotations"][annotation::REQUESTED_AT],
            "poke-1"
        );
    }
    // The same poke that nobody answered while nobody led gets the leader to act (so the
    // silence in step 2 was not the poke failing).
    let writes_before_poke = cluster.lock().unwrap().writes.len();
    poke.send_replace(2);
    eventually(10, "the leader reacts to the poke", || {
        cluster.lock().unwrap().writes.len() > writes_before_poke
    })
    .await;

    // 4. Shutdown releases the lease.
    a.stop.send_replace(true);
    b.stop.send_replace(true);
    for instance in [a, b] {
        tokio::time::timeout(Duration::from_secs(10), instance.task)
            .await
            .expect("stops in time")
            .unwrap()
            .unwrap();
    }
    let c = cluster.lock().unwrap();
    assert_eq!(c.holder(), None, "lease released on shutdown");
    assert!(
        c.violations.is_empty(),
        "writes without the lease: {:?}",
        c.violations
    );
}
