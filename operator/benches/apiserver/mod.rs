//! The fake API server of the operator's benches: lists, watches (events as objects change),
//! Job creation, status server-side apply, Events, with a latency per request. Objects carry
//! `managedFields` and kubectl's last-applied annotation as a real server's do, since that is
//! where much of a cache's memory goes. Also what both benches read of the operator process.
//!
//! With a [`Costs`] model ([`cost`]) it also serves at a real server's pace: every request,
//! watch event, new connection and the Job controller's work take time on a fixed number of
//! server cores, so latency grows with the requests in flight as on a CPU-bound kube-apiserver.
#![allow(dead_code)] // each bench uses a different part

pub mod cost;

use std::{
    collections::{BTreeMap, HashMap},
    future::IntoFuture,
    sync::{Arc, Mutex},
    time::{Duration, SystemTime},
};

use axum::{
    Router,
    body::{Body, Bytes},
    extract::{ConnectInfo, State},
    http::{Method, StatusCode, Uri},
    response::{IntoResponse, Response},
};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use cost::{Cores, Costs, Fresh};

#[derive(Default)]
pub struct Cluster {
    pub rv: u64,
    pub collections: BTreeMap<String, Value>,
    pub jobs: BTreeMap<String, Value>,
    /// The pods the modelled Job controller made, one per Job.
    pub pods: BTreeMap<String, Value>,
    /// Each Job created, and when (as a watch would see it).
    pub created: Vec<(String, SystemTime)>,
    /// Every status write: the collection, when, and the status written.
    pub status_writes: Vec<(String, SystemTime, Value)>,
    /// Open watches: kind -> senders of JSON lines.
    pub watches: HashMap<&'static str, Vec<mpsc::UnboundedSender<Bytes>>>,
    pub requests: u64,
    /// Requests by "METHOD kind".
    pub by_kind: BTreeMap<String, u64>,
    /// Requests by "METHOD kind", in the order the server took them (with a cost model).
    pub order: Vec<(SystemTime, String)>,
    /// Jobs created, for the modelled Job controller to make a pod for.
    pub job_controller: Option<mpsc::UnboundedSender<String>>,
    /// Server CPU charged for watch events, to be reserved on the cores.
    pub fan_out_due: Duration,
}

impl Cluster {
    fn next_rv(&mut self) -> String {
        self.rv += 1;
        self.rv.to_string()
    }

    /// Sends a watch event to every watcher of `kind`; `per_watcher` is what encoding and
    /// sending it costs the server per watcher (`extra` watchers outside the bench, as the
    /// Job controller's, included).
    fn notify(
        &mut self,
        kind: &'static str,
        type_: &str,
        object: &Value,
        per_watcher: Duration,
        extra: u32,
    ) {
        let line = Bytes::from(format!("{}\n", json!({"type": type_, "object": object})));
        let mut watchers = extra;
        if let Some(watches) = self.watches.get_mut(kind) {
            watches.retain(|w| w.send(line.clone()).is_ok());
            watchers += watches.len() as u32;
        }
        self.fan_out_due += per_watcher * watchers;
    }
}

pub struct Server {
    pub cluster: Mutex<Cluster>,
    /// Network time of every request (outside the server's cores).
    pub latency: Duration,
    /// What requests cost the server; `None`: nothing but `latency`.
    pub costs: Option<Costs>,
    /// The server's cores, on which `costs` are spent.
    pub cores: Cores,
}

impl Server {
    /// A server answering after `latency`, at no other cost.
    pub fn new(cluster: Cluster, latency: Duration) -> Self {
        Self {
            cluster: Mutex::new(cluster),
            latency,
            costs: None,
            cores: Cores::new(1),
        }
    }

    /// A server whose requests cost what `costs` says on its cores.
    pub fn modelled(cluster: Cluster, latency: Duration, costs: Costs) -> Self {
        Self {
            cluster: Mutex::new(cluster),
            latency,
            cores: Cores::new(costs.cores),
            costs: Some(costs),
        }
    }

    /// The watch-event cost accrued since last asked, taken off the cluster's books.
    fn fan_out(&self, c: &mut Cluster) -> Duration {
        std::mem::take(&mut c.fan_out_due)
    }
}

/// `fieldsV1` of an object's fields, as a server's managedFields list them.
pub fn fields_v1(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (format!("f:{k}"), fields_v1(v)))
                .collect(),
        ),
        _ => json!({}),
    }
}

pub fn managed(manager: &str, subresource: Option<&str>, fields: Value) -> Value {
    let mut entry = json!({
        "manager": manager, "operation": if subresource.is_some() { "Apply" } else { "Update" },
        "apiVersion": "v1", "time": "2026-11-28T12:00:00Z", "fieldsType": "FieldsV1",
        "fieldsV1": fields
    });
    if let Some(sub) = subresource {
        entry["subresource"] = json!(sub);
    }
    entry
}

pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// `a=b,c=d` selector matched against an object's labels.
fn selected(object: &Value, query: &str) -> bool {
    let Some(selector) = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("labelSelector="))
    else {
        return true;
    };
    let selector = selector
        .replace("%3D", "=")
        .replace("%2C", ",")
        .replace("%2F", "/");
    selector.split(',').all(|pair| match pair.split_once('=') {
        Some((k, v)) => object["metadata"]["labels"][k] == v,
        None => true,
    })
}

pub async fn handle(
    State(server): State<Arc<Server>>,
    ConnectInfo(connection): ConnectInfo<Fresh>,
    method: Method,
    uri: Uri,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let query = uri.query().unwrap_or("").to_string();
    let watch = query.contains("watch=true");
    if !watch {
        tokio::time::sleep(server.latency).await;
    }
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let kind: &'static str = if path.contains("/channelcollections") {
        "collections"
    } else if path.contains("/jobs") {
        "jobs"
    } else if path.contains("/pods") {
        "pods"
    } else if path.contains("/events") {
        "events"
    } else {
        "other"
    };
    let label = format!("{method} {kind}{}", if watch { " watch" } else { "" });
    if let Some(costs) = &server.costs {
        let mut cost = costs.request(&method, kind, watch);
        if connection.first_request() {
            cost += costs.handshake;
        }
        server.cores.spend(cost).await;
    }
    let (response, extra) = {
        let mut c = server.cluster.lock().unwrap();
        c.requests += 1;
        *c.by_kind.entry(label.clone()).or_default() += 1;
        if server.costs.is_some() {
            c.order.push((SystemTime::now(), label));
        }
        let response = answer(&server, &mut c, method, kind, &path, &query, watch, body);
        let fan_out = server.fan_out(&mut c);
        (response, fan_out)
    };
    // Watch events are sent after the write that caused them; what they cost delays the
    // requests behind them, not this one.
    if !extra.is_zero() {
        server.cores.reserve(tokio::time::Instant::now(), extra);
    }
    match response {
        Answer::Now(response) => response,
        Answer::List { response, items } => {
            if let Some(costs) = &server.costs {
                server.cores.spend(costs.list_item * items as u32).await;
            }
            response
        }
    }
}

/// A reply, and for a LIST the number of items still to be charged.
enum Answer {
    Now(Response),
    List { response: Response, items: usize },
}

fn json_response(code: StatusCode, value: &Value) -> Response {
    (
        code,
        [("content-type", "application/json")],
        value.to_string(),
    )
        .into_response()
}

#[allow(clippy::too_many_arguments)]
fn answer(
    server: &Server,
    c: &mut Cluster,
    method: Method,
    kind: &'static str,
    path: &str,
    query: &str,
    watch: bool,
    body: Value,
) -> Answer {
    let per_watcher = server.costs.map_or(Duration::ZERO, |k| k.watch_event);
    // The Job controller watches Jobs and pods besides the operator.
    let controller = u32::from(server.costs.is_some() && matches!(kind, "jobs" | "pods"));
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    // /apis/<group>/<version>/namespaces/<ns>/<resource>/<name>[/status]
    let name = match kind {
        "collections" | "jobs" | "events" => segments.get(6).copied(),
        _ => None,
    };
    let now = |response| Answer::Now(response);
    match (method, kind, name, watch) {
        (Method::GET, _, None, true) => {
            let (tx, rx) = mpsc::unbounded_channel::<Bytes>();
            c.watches.entry(kind).or_default().push(tx);
            let stream = futures::stream::unfold(rx, |mut rx| async move {
                rx.recv().await.map(|b| (Ok::<_, std::io::Error>(b), rx))
            });
            now(Response::builder()
                .status(200)
                .header("content-type", "application/json")
                .body(Body::from_stream(stream))
                .unwrap())
        }
        (Method::GET, _, None, false) => {
            let items: Vec<Value> = match kind {
                "collections" => c.collections.values().cloned().collect(),
                "jobs" => c
                    .jobs
                    .values()
                    .filter(|j| selected(j, query))
                    .cloned()
                    .collect(),
                "pods" => c
                    .pods
                    .values()
                    .filter(|p| selected(p, query))
                    .cloned()
                    .collect(),
                _ => vec![],
            };
            let rv = c.rv.to_string();
            let count = items.len();
            Answer::List {
                response: json_response(
                    StatusCode::OK,
                    &json!({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": rv}, "items": items}),
                ),
                items: count,
            }
        }
        (Method::PATCH, "collections", Some(name), _) => {
            let rv = c.next_rv();
            let Some(object) = c.collections.get_mut(name) else {
                return now(json_response(
                    StatusCode::NOT_FOUND,
                    &json!({"kind": "Status", "code": 404}),
                ));
            };
            object["status"] = body["status"].clone();
            let write = (name.to_string(), SystemTime::now(), body["status"].clone());
            object["metadata"]["resourceVersion"] = json!(rv);
            if let Some(status_entry) = object["metadata"]["managedFields"].get_mut(1) {
                status_entry["fieldsV1"] = json!({"f:status": fields_v1(&body["status"])});
            }
            let object = object.clone();
            c.status_writes.push(write);
            c.notify("collections", "MODIFIED", &object, per_watcher, 0);
            now(json_response(StatusCode::OK, &object))
        }
        (Method::POST, "jobs", None, _) => {
            let name = body["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            if c.jobs.contains_key(&name) {
                return now(json_response(
                    StatusCode::CONFLICT,
                    &json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "AlreadyExists", "code": 409, "message": "exists"}),
                ));
            }
            c.created.push((name.clone(), SystemTime::now()));
            let rv = c.next_rv();
            let mut job = body.clone();
            job["metadata"]["uid"] = json!(format!("job-{rv}"));
            job["metadata"]["resourceVersion"] = json!(rv);
            job["metadata"]["creationTimestamp"] = json!(rfc3339(Utc::now()));
            job["metadata"]["managedFields"] = json!([managed(
                "channel-collection-operator",
                None,
                fields_v1(&body)
            )]);
            job["status"] = json!({});
            c.jobs.insert(name.clone(), job.clone());
            c.notify("jobs", "ADDED", &job, per_watcher, controller);
            if let Some(jobs) = &c.job_controller {
                let _ = jobs.send(name);
            }
            now(json_response(StatusCode::CREATED, &job))
        }
        (Method::GET, "jobs", Some(name), _) => now(match c.jobs.get(name) {
            Some(job) => json_response(StatusCode::OK, job),
            None => json_response(
                StatusCode::NOT_FOUND,
                &json!({"kind": "Status", "code": 404, "reason": "NotFound"}),
            ),
        }),
        (Method::DELETE, "jobs", Some(name), _) => {
            if let Some(job) = c.jobs.remove(name) {
                c.notify("jobs", "DELETED", &job, per_watcher, controller);
            }
            now(json_response(
                StatusCode::OK,
                &json!({"kind": "Status", "status": "Success"}),
            ))
        }
        (Method::POST, "events", _, _) => now(json_response(StatusCode::CREATED, &body)),
        (Method::PATCH, "events", _, _) => now(json_response(StatusCode::OK, &body)),
        (method, _, _, _) => {
            eprintln!("fake API server: unexpected {method} {path}");
            now(json_response(
                StatusCode::NOT_FOUND,
                &json!({"kind": "Status", "code": 404}),
            ))
        }
    }
}

/// The Job controller of the model: a pod per created Job and the Job's status update, no
/// faster than its client limit, each costing the server `job_controller_work`; both are
/// watch events for the watchers of pods and Jobs (the operator's and its own).
async fn job_controller(server: Arc<Server>, mut created: mpsc::UnboundedReceiver<String>) {
    let Some(costs) = server.costs else { return };
    let mut pace = cost::Pace::new(costs.job_controller_qps, costs.job_controller_burst);
    while let Some(name) = created.recv().await {
        tokio::time::sleep_until(pace.slot(tokio::time::Instant::now())).await;
        server.cores.spend(costs.job_controller_work).await;
        let extra = {
            let mut c = server.cluster.lock().unwrap();
            let rv = c.next_rv();
            let Some(job) = c.jobs.get_mut(&name) else {
                continue;
            };
            job["status"] = json!({"active": 1, "startTime": rfc3339(Utc::now()), "ready": 0});
            job["metadata"]["resourceVersion"] = json!(rv);
            let job = job.clone();
            let mut labels = job["spec"]["template"]["metadata"]["labels"].clone();
            if !labels.is_object() {
                labels = json!({});
            }
            labels["job-name"] = json!(name);
            let pod_name = format!("{name}-pod");
            let rv = c.next_rv();
            let pod = json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {
                    "name": pod_name, "namespace": job["metadata"]["namespace"],
                    "uid": format!("pod-{rv}"), "resourceVersion": rv, "labels": labels,
                    "creationTimestamp": rfc3339(Utc::now()),
                    "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": name,
                        "uid": job["metadata"]["uid"], "controller": true}]
                },
                "spec": job["spec"]["template"]["spec"],
                "status": {"phase": "Pending", "qosClass": "Burstable"}
            });
            c.pods.insert(pod_name, pod.clone());
            c.notify("pods", "ADDED", &pod, costs.watch_event, 1);
            c.notify("jobs", "MODIFIED", &job, costs.watch_event, 1);
            server.fan_out(&mut c)
        };
        server.cores.reserve(tokio::time::Instant::now(), extra);
    }
}

/// (RSS kB, peak RSS kB, CPU seconds) of a process.
pub fn usage(pid: u32) -> (u64, u64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may contain spaces): utime and stime are 14th/15th.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|i| fields.get(*i)?.parse::<f64>().ok())
        .sum();
    (kb("VmRSS:"), kb("VmHWM:"), ticks / 100.0)
}

/// The unlabelled samples of the operator's `/metrics` (HTTP/1.0, so the body ends the reply).
pub fn scrape(port: u16) -> HashMap<String, f64> {
    use std::io::{Read, Write};
    let mut reply = String::new();
    if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) {
        let _ = stream.write_all(b"GET /metrics HTTP/1.0\r\n\r\n");
        let _ = stream.read_to_string(&mut reply);
    }
    reply
        .lines()
        .filter(|l| !l.starts_with('#') && !l.contains('{'))
        .filter_map(|l| {
            let (name, value) = l.split_once(' ')?;
            Some((name.to_string(), value.trim().parse().ok()?))
        })
        .collect()
}

pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

/// Serves `server` on a loopback port; the port, and the task to abort when done.
pub async fn serve(server: Arc<Server>) -> (u16, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::unbounded_channel();
    if server.costs.is_some() {
        server.cluster.lock().unwrap().job_controller = Some(tx);
    }
    let controlling = job_controller(server.clone(), rx);
    let app = Router::new()
        .fallback(handle)
        .with_state(server)
        .into_make_service_with_connect_info::<Fresh>();
    let listener = cost::NoDelay(listener);
    // One task, so aborting it stops the Job controller too.
    let serving = tokio::spawn(async move {
        let _ = tokio::join!(axum::serve(listener, app).into_future(), controlling);
    });
    (port, serving)
}

/// A kubeconfig for the server at `port`, default namespace `namespace`.
pub fn kubeconfig(port: u16, namespace: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: http://127.0.0.1:{port}\n\
         contexts:\n- name: c\n  context:\n    cluster: c\n    user: u\n    namespace: {namespace}\ncurrent-context: c\nusers:\n- name: u\n  user:\n    token: t\n"
    )
}

/// The operator process a bench runs; killed when dropped, so a bench that fails halfway
/// leaves no operator behind.
pub struct Operator(pub std::process::Child);

impl Operator {
    pub fn id(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
