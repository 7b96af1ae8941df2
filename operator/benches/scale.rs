//! N collections due in the same second: how late their Jobs are created, how many are, and
//! what the operator process costs (RSS idle and peak, CPU of the burst).
//!
//! `cargo bench -p operator --bench scale` (the operator binary of this workspace);
//! `OPERATOR_BIN=/path/to/operator cargo bench -p operator --bench scale` measures another
//! build (e.g. one of `main`) against the same fake API server. `BENCH_LATENCY_MS` (default 10)
//! is added to every API request; `BENCH_SIZES` (default `10,100,1000`) picks the runs;
//! `BENCH_RUST_LOG` (default `warn`) is the operator's `RUST_LOG`, and `BENCH_KEEP_LOG=path`
//! keeps its log of each run as `path.N`.
//!
//! The operator runs as its own process (so its RSS and CPU are its own) against an in-process
//! fake API server: lists, watches (events as objects change), Job creation, status
//! server-side apply, Events. Objects carry `managedFields` and kubectl's last-applied
//! annotation as a real server's do, since that is where much of a cache's memory goes.

use std::{
    collections::{BTreeMap, HashMap},
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, SystemTime},
};

use axum::{
    Router,
    body::{Body, Bytes},
    extract::State,
    http::{Method, StatusCode, Uri},
    response::{IntoResponse, Response},
    serve::ListenerExt,
};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};
use tokio::sync::mpsc;

const NAMESPACE: &str = "bench";

/// How long before the due second the operator starts (it must sync and settle first).
const LEAD: Duration = Duration::from_secs(25);
/// How long after the due second Jobs are waited for.
const PATIENCE: Duration = Duration::from_secs(120);

#[derive(Default)]
struct Cluster {
    rv: u64,
    collections: BTreeMap<String, Value>,
    jobs: BTreeMap<String, Value>,
    /// When each Job was created (as a watch would see it).
    created: Vec<SystemTime>,
    /// Open watches: kind -> senders of JSON lines.
    watches: HashMap<&'static str, Vec<mpsc::UnboundedSender<Bytes>>>,
    requests: u64,
    /// Requests by "METHOD kind".
    by_kind: BTreeMap<String, u64>,
}

impl Cluster {
    fn next_rv(&mut self) -> String {
        self.rv += 1;
        self.rv.to_string()
    }

    fn notify(&mut self, kind: &'static str, type_: &str, object: &Value) {
        let line = Bytes::from(format!("{}\n", json!({"type": type_, "object": object})));
        if let Some(watches) = self.watches.get_mut(kind) {
            watches.retain(|w| w.send(line.clone()).is_ok());
        }
    }
}

struct Server {
    cluster: Mutex<Cluster>,
    latency: Duration,
}

/// `fieldsV1` of an object's fields, as a server's managedFields list them.
fn fields_v1(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (format!("f:{k}"), fields_v1(v)))
                .collect(),
        ),
        _ => json!({}),
    }
}

fn managed(manager: &str, subresource: Option<&str>, fields: Value) -> Value {
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

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn collection(i: usize, due: DateTime<Utc>) -> Value {
    let name = format!("news-{i:04}");
    let spec = json!({
        "channels": ["@durov", "https://t.me/telegram", "1006503122"],
        "interval": "10m",
        "session": {"secretRef": {"name": "tg-session", "key": "session"}},
        "apiCredentials": {"secretRef": {"name": "tg-api"}},
        "timeout": "30m"
    });
    let status = json!({
        "lastScheduleTime": rfc3339(due - chrono::TimeDelta::minutes(10)),
        "observedGeneration": 1
    });
    let applied = json!({"apiVersion": "collection.mtproto.dev/v1alpha1", "kind": "ChannelCollection",
        "metadata": {"name": name, "namespace": NAMESPACE}, "spec": spec});
    json!({
        "apiVersion": "collection.mtproto.dev/v1alpha1",
        "kind": "ChannelCollection",
        "metadata": {
            "name": name, "namespace": NAMESPACE, "uid": format!("uid-{i:04}"), "generation": 1,
            "resourceVersion": "1",
            "creationTimestamp": rfc3339(due - chrono::TimeDelta::hours(1)),
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": applied.to_string()},
            "managedFields": [
                managed("kubectl-client-side-apply", None, json!({"f:metadata": {"f:annotations": {}}, "f:spec": fields_v1(&spec)})),
                managed("channel-collection-operator", Some("status"), json!({"f:status": fields_v1(&status)}))
            ]
        },
        "spec": spec,
        "status": status
    })
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

async fn handle(
    State(server): State<Arc<Server>>,
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
    let mut c = server.cluster.lock().unwrap();
    c.requests += 1;
    *c.by_kind
        .entry(format!(
            "{method} {kind}{}",
            if watch { " watch" } else { "" }
        ))
        .or_default() += 1;
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    // /apis/<group>/<version>/namespaces/<ns>/<resource>/<name>[/status]
    let name = match kind {
        "collections" | "jobs" | "events" => segments.get(6).copied(),
        _ => None,
    };
    let json_response = |code: StatusCode, value: &Value| {
        (
            code,
            [("content-type", "application/json")],
            value.to_string(),
        )
            .into_response()
    };
    match (method, kind, name, watch) {
        (Method::GET, _, None, true) => {
            let (tx, rx) = mpsc::unbounded_channel::<Bytes>();
            c.watches.entry(kind).or_default().push(tx);
            let stream = futures::stream::unfold(rx, |mut rx| async move {
                rx.recv().await.map(|b| (Ok::<_, std::io::Error>(b), rx))
            });
            Response::builder()
                .status(200)
                .header("content-type", "application/json")
                .body(Body::from_stream(stream))
                .unwrap()
        }
        (Method::GET, _, None, false) => {
            let items: Vec<Value> = match kind {
                "collections" => c.collections.values().cloned().collect(),
                "jobs" => c
                    .jobs
                    .values()
                    .filter(|j| selected(j, &query))
                    .cloned()
                    .collect(),
                _ => vec![],
            };
            let rv = c.rv.to_string();
            json_response(
                StatusCode::OK,
                &json!({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": rv}, "items": items}),
            )
        }
        (Method::PATCH, "collections", Some(name), _) => {
            let rv = c.next_rv();
            let Some(object) = c.collections.get_mut(name) else {
                return json_response(
                    StatusCode::NOT_FOUND,
                    &json!({"kind": "Status", "code": 404}),
                );
            };
            object["status"] = body["status"].clone();
            object["metadata"]["resourceVersion"] = json!(rv);
            object["metadata"]["managedFields"][1]["fieldsV1"] =
                json!({"f:status": fields_v1(&body["status"])});
            let object = object.clone();
            c.notify("collections", "MODIFIED", &object);
            json_response(StatusCode::OK, &object)
        }
        (Method::POST, "jobs", None, _) => {
            let name = body["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            if c.jobs.contains_key(&name) {
                return json_response(
                    StatusCode::CONFLICT,
                    &json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "AlreadyExists", "code": 409, "message": "exists"}),
                );
            }
            c.created.push(SystemTime::now());
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
            c.jobs.insert(name, job.clone());
            c.notify("jobs", "ADDED", &job);
            json_response(StatusCode::CREATED, &job)
        }
        (Method::GET, "jobs", Some(name), _) => match c.jobs.get(name) {
            Some(job) => json_response(StatusCode::OK, job),
            None => json_response(
                StatusCode::NOT_FOUND,
                &json!({"kind": "Status", "code": 404, "reason": "NotFound"}),
            ),
        },
        (Method::DELETE, "jobs", Some(name), _) => {
            if let Some(job) = c.jobs.remove(name) {
                c.notify("jobs", "DELETED", &job);
            }
            json_response(
                StatusCode::OK,
                &json!({"kind": "Status", "status": "Success"}),
            )
        }
        (Method::POST, "events", _, _) => json_response(StatusCode::CREATED, &body),
        (Method::PATCH, "events", _, _) => json_response(StatusCode::OK, &body),
        (method, _, _, _) => {
            eprintln!("fake API server: unexpected {method} {path}");
            json_response(
                StatusCode::NOT_FOUND,
                &json!({"kind": "Status", "code": 404}),
            )
        }
    }
}

/// (RSS kB, peak RSS kB, CPU seconds) of a process.
fn usage(pid: u32) -> (u64, u64, f64) {
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
fn scrape(port: u16) -> HashMap<String, f64> {
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

const RECONCILES: &str = "channel_collection_operator_reconciles_total";
const RECONCILE_SECONDS: &str = "channel_collection_operator_reconcile_duration_seconds_sum";

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

struct Outcome {
    n: usize,
    /// Requests of the burst by kind.
    burst: Vec<String>,
    skews: Vec<f64>,
    idle_rss: u64,
    peak_rss: u64,
    cpu: f64,
    requests: u64,
    /// Reconciles of the burst, and their mean duration in seconds.
    reconciles: f64,
    reconcile_mean: f64,
}

async fn scenario(binary: &str, n: usize, latency: Duration) -> Outcome {
    let due_at = SystemTime::now() + LEAD;
    let due_secs = due_at
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let due_at = SystemTime::UNIX_EPOCH + Duration::from_secs(due_secs);
    let due = DateTime::<Utc>::from(due_at);
    let mut cluster = Cluster {
        rv: 10,
        ..Cluster::default()
    };
    for i in 0..n {
        let object = collection(i, due);
        cluster.collections.insert(
            object["metadata"]["name"].as_str().unwrap().to_string(),
            object,
        );
    }
    let server = Arc::new(Server {
        cluster: Mutex::new(cluster),
        latency,
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = Router::new().fallback(handle).with_state(server.clone());
    // TCP_NODELAY, as the Go net package sets on every connection of a real API server.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let serving = tokio::spawn(async move { axum::serve(listener, app).await });

    let dir = std::env::temp_dir().join(format!("operator-scale-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: http://127.0.0.1:{port}\n\
             contexts:\n- name: c\n  context:\n    cluster: c\n    user: u\n    namespace: {NAMESPACE}\ncurrent-context: c\nusers:\n- name: u\n  user:\n    token: t\n"
        ),
    )
    .unwrap();
    let metrics = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child: Child = Command::new(binary)
        .args([
            "run",
            "--leader-elect",
            "false",
            "--namespace",
            NAMESPACE,
            "--collector-image",
            "collector:bench",
            "--default-database-secret",
            "db",
            "--metrics-addr",
        ])
        .arg(format!("127.0.0.1:{metrics}"))
        .env("KUBECONFIG", &kubeconfig)
        .env(
            "RUST_LOG",
            std::env::var("BENCH_RUST_LOG").unwrap_or_else(|_| "warn".to_string()),
        )
        .env_remove("DATABASE_URL")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("log")).unwrap())
        .spawn()
        .expect("the operator binary starts");
    let pid = child.id();

    // Idle: synced and settled, just before the due second.
    let until = |t: SystemTime| {
        let wait = t.duration_since(SystemTime::now()).unwrap_or_default();
        tokio::time::sleep(wait)
    };
    until(due_at - Duration::from_secs(2)).await;
    let (idle_rss, _, _) = usage(pid);
    until(due_at - Duration::from_millis(500)).await;
    let (_, _, cpu_before) = usage(pid);
    let metrics_before = scrape(metrics);
    let (requests_before, kinds_before) = {
        let c = server.cluster.lock().unwrap();
        (c.requests, c.by_kind.clone())
    };

    let deadline = due_at + PATIENCE;
    loop {
        let created = server.cluster.lock().unwrap().created.len();
        if created >= n || SystemTime::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The burst's follow-up work (status writes, Events, the reconciles they trigger).
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (_, peak_rss, cpu_after) = usage(pid);
    let metrics_after = scrape(metrics);
    let delta = |name: &str| {
        metrics_after.get(name).copied().unwrap_or(f64::NAN)
            - metrics_before.get(name).copied().unwrap_or(f64::NAN)
    };
    let reconciles = delta(RECONCILES);
    let _ = child.kill();
    let _ = child.wait();
    serving.abort();
    let c = server.cluster.lock().unwrap();
    if c.created.len() < n {
        let log = std::fs::read_to_string(dir.join("log")).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(5).collect();
        eprintln!(
            "only {} of {n} Jobs; the operator's last log lines:",
            c.created.len()
        );
        for line in tail.iter().rev() {
            eprintln!("  {line}");
        }
    }
    if let Ok(keep) = std::env::var("BENCH_KEEP_LOG") {
        let _ = std::fs::copy(dir.join("log"), format!("{keep}.{n}"));
    }
    let _ = std::fs::remove_dir_all(&dir);

    let mut skews: Vec<f64> = c
        .created
        .iter()
        .map(|t| match t.duration_since(due_at) {
            Ok(late) => late.as_secs_f64(),
            Err(early) => -early.duration().as_secs_f64(),
        })
        .collect();
    skews.sort_by(f64::total_cmp);
    let burst: Vec<String> = c
        .by_kind
        .iter()
        .map(|(k, v)| (k, v - kinds_before.get(k).copied().unwrap_or(0)))
        .filter(|(_, v)| *v > 0)
        .map(|(k, v)| format!("{k}: {v}"))
        .collect();
    Outcome {
        n,
        burst,
        skews,
        idle_rss,
        peak_rss,
        cpu: cpu_after - cpu_before,
        requests: c.requests - requests_before,
        reconciles,
        reconcile_mean: delta(RECONCILE_SECONDS) / reconciles,
    }
}

#[tokio::main]
async fn main() {
    let binary = std::env::var("OPERATOR_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_operator").to_string());
    let latency = Duration::from_millis(
        std::env::var("BENCH_LATENCY_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(10),
    );
    let sizes: Vec<usize> = std::env::var("BENCH_SIZES")
        .unwrap_or_else(|_| "10,100,1000".to_string())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    println!("operator: {binary}");
    println!(
        "fake API server latency per request: {} ms",
        latency.as_millis()
    );
    println!(
        "{:>6} | {:>8} {:>8} {:>8} | {:>11} | {:>8} {:>8} | {:>8} | {:>9}",
        "N", "p50 s", "p99 s", "max s", "Jobs", "RSS idle", "RSS peak", "CPU s", "requests"
    );
    let mut at_1000 = None;
    for n in sizes {
        let o = scenario(&binary, n, latency).await;
        println!(
            "{:>6} | {:>8.2} {:>8.2} {:>8.2} | {:>5} / {:<5} | {:>5} MB {:>5} MB | {:>8.2} | {:>9}",
            o.n,
            percentile(&o.skews, 0.50),
            percentile(&o.skews, 0.99),
            o.skews.last().copied().unwrap_or(f64::NAN),
            o.skews.len(),
            o.n,
            o.idle_rss / 1024,
            o.peak_rss / 1024,
            o.cpu,
            o.requests,
        );
        println!(
            "{:>6} | burst: {} reconciles, {:.1} ms each on average; requests: {}",
            "",
            o.reconciles,
            o.reconcile_mean * 1e3,
            o.burst.join(", ")
        );
        if o.n == 1000 {
            at_1000 = Some(o);
        }
    }
    if let Some(o) = at_1000 {
        let verdict = |met: bool| if met { "met" } else { "NOT met" };
        let p99 = percentile(&o.skews, 0.99);
        println!("targets at 1,000:");
        println!(
            "  p99 skew < 2 s with every Job created: {} ({p99:.2} s, {} / {} Jobs)",
            verdict(p99 < 2.0 && o.skews.len() == o.n),
            o.skews.len(),
            o.n
        );
        println!(
            "  RSS idle < 40 MB: {} ({} MB)",
            verdict(o.idle_rss < 40 * 1024),
            o.idle_rss / 1024
        );
        println!(
            "  burst CPU <= 10.9 s (kube-controller-manager's CronJob controller, 1,000 CronJobs): {} ({:.2} s, {:.1}x less)",
            verdict(o.cpu <= 10.9),
            o.cpu,
            10.9 / o.cpu
        );
    }
}
