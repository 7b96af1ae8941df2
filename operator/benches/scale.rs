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
//! fake API server (`apiserver/`).

mod apiserver;

use std::{
    process::{Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, SystemTime},
};

use apiserver::{Cluster, Server, fields_v1, managed, percentile, rfc3339, scrape, usage};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

const NAMESPACE: &str = "bench";

/// How long before the due second the operator starts (it must sync and settle first).
const LEAD: Duration = Duration::from_secs(25);
/// How long after the due second Jobs are waited for.
const PATIENCE: Duration = Duration::from_secs(120);

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

const RECONCILES: &str = "channel_collection_operator_reconciles_total";
const RECONCILE_SECONDS: &str = "channel_collection_operator_reconcile_duration_seconds_sum";

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
    let (port, serving) = apiserver::serve(server.clone()).await;

    let dir = std::env::temp_dir().join(format!("operator-scale-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(&kubeconfig, apiserver::kubeconfig(port, NAMESPACE)).unwrap();
    let metrics = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = apiserver::Operator(
        Command::new(binary)
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
            .expect("the operator binary starts"),
    );
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
    drop(child);
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
