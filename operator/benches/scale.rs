//! N collections due at once, or in waves a minute apart: how late their Jobs are created, how
//! many are, what the operator process costs (RSS idle, peak and 30 s after the last Job, CPU
//! of the burst), and the same Jobs POSTed by a bare client (32 tasks, nothing else) against
//! the same server in the same run, the baseline every target is measured against.
//!
//! `cargo bench -p operator --bench scale` (the operator binary of this workspace);
//! `OPERATOR_BIN=/path/to/operator cargo bench -p operator --bench scale` measures another
//! build (e.g. one of `main`) against the same fake API server. `BENCH_SIZES` (default
//! `100,1000`) picks the runs: `N` is N collections due in the same second, `N/W` is N in W
//! waves a minute apart (`10000,10000/10` are the big ones: a few minutes, and eleven).
//! `BENCH_LATENCY_MS` (default 1) is the network time of every request; `BENCH_RUST_LOG`
//! (default `warn`) is the operator's `RUST_LOG`, `BENCH_KEEP_LOG=path` keeps its log of each
//! run as `path.N`, and `BENCH_OPERATOR_ARGS` adds flags to its command line.
//!
//! The operator runs as its own process (so its RSS and CPU are its own) against an in-process
//! fake API server (`apiserver/`) that serves at a real server's pace: the cost model of
//! `apiserver/cost.rs`, calibrated on a real control plane, whose numbers the bare client's
//! line reproduces.

mod apiserver;

use std::{
    process::{Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, SystemTime},
};

use apiserver::{
    Cluster, Server, cost::Costs, fields_v1, managed, percentile, rfc3339, scrape, usage,
};
use chrono::{DateTime, Utc};
use crds::{ChannelCollection, SecretKeyRef};
use k8s_openapi::api::batch::v1::Job;
use kube::api::{Api, PostParams};
use operator::job::JobDefaults;
use serde_json::{Value, json};

const NAMESPACE: &str = "bench";

/// How long before the first due second the operator starts: it must sync and settle first,
/// and settling includes a first status write per collection (3 ms of the modelled server
/// each), so the lead grows with the collections: 30 s at 1,000, 75 s at 10,000.
fn lead(n: usize) -> Duration {
    Duration::from_secs(25) + Duration::from_millis(5) * n as u32
}
/// How long after its due second each wave's Jobs are waited for.
const PATIENCE: Duration = Duration::from_secs(120);
/// How long after the last Job the operator's RSS is read again: back to idle, it shows what
/// the burst left behind (the allocator's decay returns freed memory within about 10 s).
const SETTLE: Duration = Duration::from_secs(30);
/// Requests a bare client keeps in flight (the real baseline's threads).
const BARE_CLIENT_TASKS: usize = 32;
/// The collections' interval: each is due once in a run.
const INTERVAL_MINUTES: i64 = 10;

fn collection(i: usize, due: DateTime<Utc>) -> Value {
    let name = format!("news-{i:05}");
    let spec = json!({
        "channels": ["@durov", "https://t.me/telegram", "1006503122"],
        "interval": format!("{INTERVAL_MINUTES}m"),
        "session": {"secretRef": {"name": "tg-session", "key": "session"}},
        "apiCredentials": {"secretRef": {"name": "tg-api"}},
        "timeout": "30m"
    });
    let status = json!({
        "lastScheduleTime": rfc3339(due - chrono::TimeDelta::minutes(INTERVAL_MINUTES)),
        "observedGeneration": 1
    });
    let applied = json!({"apiVersion": "collection.mtproto.dev/v1alpha1", "kind": "ChannelCollection",
        "metadata": {"name": name, "namespace": NAMESPACE}, "spec": spec});
    json!({
        "apiVersion": "collection.mtproto.dev/v1alpha1",
        "kind": "ChannelCollection",
        "metadata": {
            "name": name, "namespace": NAMESPACE, "uid": format!("uid-{i:05}"), "generation": 1,
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

/// A run of the bench: `n` collections in `waves` waves a minute apart.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Case {
    n: usize,
    waves: usize,
}

impl Case {
    fn parse(text: &str) -> Option<Self> {
        let (n, waves) = match text.trim().split_once('/') {
            Some((n, w)) => (n.parse().ok()?, w.parse().ok()?),
            None => (text.trim().parse().ok()?, 1),
        };
        (n > 0 && waves > 0 && waves <= n).then_some(Self { n, waves })
    }

    fn per_wave(&self) -> usize {
        self.n.div_ceil(self.waves)
    }

    fn wave_of(&self, i: usize) -> usize {
        i / self.per_wave()
    }

    fn label(&self) -> String {
        if self.waves == 1 {
            format!("{}", self.n)
        } else {
            format!("{}/{}", self.n, self.waves)
        }
    }
}

/// The first due second: `lead` from now, on a whole second.
fn first_due(lead: Duration) -> SystemTime {
    let secs = (SystemTime::now() + lead)
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
}

fn wave_due(first: SystemTime, wave: usize) -> SystemTime {
    first + Duration::from_secs(60 * wave as u64)
}

/// A cluster holding the case's collections, each due in its wave.
fn cluster(case: Case, first: SystemTime) -> Cluster {
    let mut cluster = Cluster {
        rv: 10,
        ..Cluster::default()
    };
    for i in 0..case.n {
        let object = collection(i, DateTime::from(wave_due(first, case.wave_of(i))));
        cluster.collections.insert(
            object["metadata"]["name"].as_str().unwrap().to_string(),
            object,
        );
    }
    cluster
}

/// Seconds from `due` to `at` (negative: early).
fn late(at: SystemTime, due: SystemTime) -> f64 {
    match at.duration_since(due) {
        Ok(late) => late.as_secs_f64(),
        Err(early) => -early.duration().as_secs_f64(),
    }
}

/// The collection index a Job of this bench belongs to (`news-00042-<minutes>`).
fn index_of(job: &str) -> Option<usize> {
    job.strip_prefix("news-")?.split('-').next()?.parse().ok()
}

/// What a wave of Jobs came to: their skews (sorted) and Jobs per second over the wave.
#[derive(Debug, Default, Clone)]
struct Wave {
    skews: Vec<f64>,
}

impl Wave {
    fn p(&self, q: f64) -> f64 {
        percentile(&self.skews, q)
    }

    /// Jobs per second from the due second to the last Job.
    fn rate(&self) -> f64 {
        self.skews.len() as f64 / self.skews.last().copied().unwrap_or(f64::NAN)
    }
}

/// The Jobs of `created` by wave, skews measured from each wave's due second.
fn waves(case: Case, first: SystemTime, created: &[(String, SystemTime)]) -> Vec<Wave> {
    let mut waves = vec![Wave::default(); case.waves];
    for (name, at) in created {
        if let Some(i) = index_of(name) {
            let wave = case.wave_of(i);
            waves[wave].skews.push(late(*at, wave_due(first, wave)));
        }
    }
    for wave in &mut waves {
        wave.skews.sort_by(f64::total_cmp);
    }
    waves
}

/// The bare client: the Jobs the operator would create for `n` collections due at once,
/// POSTed from `BARE_CLIENT_TASKS` tasks at the due second, against a fresh server of the same
/// model (with the same collections, and the Job controller at work).
async fn bare_client(n: usize, latency: Duration, costs: Costs) -> Wave {
    let case = Case { n, waves: 1 };
    let due_at = first_due(Duration::from_secs(2));
    let server = Arc::new(Server::modelled(cluster(case, due_at), latency, costs));
    let (port, serving) = apiserver::serve(server.clone()).await;
    let defaults = JobDefaults {
        image: "collector:bench".to_string(),
        database: Some(SecretKeyRef {
            name: "db".to_string(),
            key: "DATABASE_URL".to_string(),
        }),
        media_destination: None,
    };
    let jobs: Vec<Job> = {
        let c = server.cluster.lock().unwrap();
        c.collections
            .values()
            .map(|object| {
                let cc: ChannelCollection = serde_json::from_value(object.clone()).unwrap();
                operator::job::build(&cc, &defaults, DateTime::from(due_at), None)
                    .expect("the bench's collections build a Job")
            })
            .collect()
    };
    let jobs = Arc::new(jobs);
    let config = kube::Config::new(format!("http://127.0.0.1:{port}").parse().unwrap());
    let client = kube::Client::try_from(config).unwrap();
    let next = Arc::new(AtomicUsize::new(0));
    tokio::time::sleep(due_at.duration_since(SystemTime::now()).unwrap_or_default()).await;
    let tasks: Vec<_> = (0..BARE_CLIENT_TASKS)
        .map(|_| {
            let (jobs, next) = (jobs.clone(), next.clone());
            let api: Api<Job> = Api::namespaced(client.clone(), NAMESPACE);
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(job) = jobs.get(i) else { break };
                    if let Err(error) = api.create(&PostParams::default(), job).await {
                        eprintln!("bare client: creating a Job failed: {error}");
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        let _ = task.await;
    }
    serving.abort();
    let c = server.cluster.lock().unwrap();
    waves(case, due_at, &c.created).remove(0)
}

const RECONCILES: &str = "channel_collection_operator_reconciles_total";
const RECONCILE_SECONDS: &str = "channel_collection_operator_reconcile_duration_seconds_sum";

struct Outcome {
    case: Case,
    waves: Vec<Wave>,
    /// Requests of the burst by kind.
    burst: Vec<String>,
    /// Status writes and Events the server took before the last Job of their wave.
    ahead: usize,
    idle_rss: u64,
    peak_rss: u64,
    /// RSS `SETTLE` after the last Job.
    settled_rss: u64,
    /// CPU from the first due second to the end.
    cpu: f64,
    /// CPU of the waves' bursts alone (each from its due second to 5 s after its last Job).
    burst_cpu: f64,
    requests: u64,
    /// Reconciles of the burst, and their mean duration in seconds.
    reconciles: f64,
    reconcile_mean: f64,
}

impl Outcome {
    fn created(&self) -> usize {
        self.waves.iter().map(|w| w.skews.len()).sum()
    }

    /// All skews, sorted.
    fn skews(&self) -> Vec<f64> {
        let mut all: Vec<f64> = self.waves.iter().flat_map(|w| w.skews.clone()).collect();
        all.sort_by(f64::total_cmp);
        all
    }

    /// The slowest wave's Jobs per second.
    fn worst_rate(&self) -> f64 {
        self.waves
            .iter()
            .map(Wave::rate)
            .fold(f64::INFINITY, f64::min)
    }
}

async fn scenario(binary: &str, case: Case, latency: Duration, costs: Costs) -> Outcome {
    let first = first_due(lead(case.n));
    let server = Arc::new(Server::modelled(cluster(case, first), latency, costs));
    let (port, serving) = apiserver::serve(server.clone()).await;

    let dir = std::env::temp_dir().join(format!(
        "operator-scale-{}-{}-{}",
        std::process::id(),
        case.n,
        case.waves
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(&kubeconfig, apiserver::kubeconfig(port, NAMESPACE)).unwrap();
    let metrics = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let extra_args = std::env::var("BENCH_OPERATOR_ARGS").unwrap_or_default();
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
            .args(extra_args.split_whitespace())
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

    // Idle: synced and settled, just before the first due second.
    let until = |t: SystemTime| {
        let wait = t.duration_since(SystemTime::now()).unwrap_or_default();
        tokio::time::sleep(wait)
    };
    until(first - Duration::from_secs(2)).await;
    let (idle_rss, _, _) = usage(pid);
    until(first - Duration::from_millis(500)).await;
    let (_, _, cpu_before) = usage(pid);
    let metrics_before = scrape(metrics);
    let (requests_before, kinds_before, order_before) = {
        let c = server.cluster.lock().unwrap();
        (c.requests, c.by_kind.clone(), c.order.len())
    };

    // Each wave's CPU: from just before its due second to 5 s after its last Job (the burst's
    // follow-up: status writes, Events, the reconciles they trigger), not the minutes between
    // waves, where the runs already started are only refreshed.
    let mut burst_cpu = 0.0;
    for wave in 0..case.waves {
        let due = wave_due(first, wave);
        let before = if wave == 0 {
            cpu_before
        } else {
            until(due - Duration::from_millis(500)).await;
            usage(pid).2
        };
        let wanted = ((wave + 1) * case.per_wave()).min(case.n);
        let deadline = due + PATIENCE;
        loop {
            let created = server.cluster.lock().unwrap().created.len();
            if created >= wanted || SystemTime::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
        burst_cpu += usage(pid).2 - before;
    }
    let (_, peak_rss, cpu_after) = usage(pid);
    let metrics_after = scrape(metrics);
    let delta = |name: &str| {
        metrics_after.get(name).copied().unwrap_or(f64::NAN)
            - metrics_before.get(name).copied().unwrap_or(f64::NAN)
    };
    let reconciles = delta(RECONCILES);
    tokio::time::sleep(SETTLE.saturating_sub(Duration::from_secs(5))).await;
    let (settled_rss, _, _) = usage(pid);
    drop(child);
    serving.abort();
    let c = server.cluster.lock().unwrap();
    if c.created.len() < case.n {
        let log = std::fs::read_to_string(dir.join("log")).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(5).collect();
        eprintln!(
            "only {} of {} Jobs; the operator's last log lines:",
            c.created.len(),
            case.n
        );
        for line in tail.iter().rev() {
            eprintln!("  {line}");
        }
    }
    if let Ok(keep) = std::env::var("BENCH_KEEP_LOG") {
        let _ = std::fs::copy(dir.join("log"), format!("{keep}.{}", case.n));
    }
    let _ = std::fs::remove_dir_all(&dir);

    let waves = waves(case, first, &c.created);
    // A status write or Event the server took while a Job of its wave was still to come.
    let wave_ends: Vec<SystemTime> = (0..case.waves)
        .map(|w| {
            let due = wave_due(first, w);
            due + Duration::from_secs_f64(waves[w].skews.last().copied().unwrap_or(0.0).max(0.0))
        })
        .collect();
    let ahead = c.order[order_before..]
        .iter()
        .filter(|(_, kind)| kind == "PATCH collections" || kind.ends_with(" events"))
        .filter(|(at, _)| (0..case.waves).any(|w| *at >= wave_due(first, w) && *at < wave_ends[w]))
        .count();
    let burst: Vec<String> = c
        .by_kind
        .iter()
        .map(|(k, v)| (k, v - kinds_before.get(k).copied().unwrap_or(0)))
        .filter(|(_, v)| *v > 0)
        .map(|(k, v)| format!("{k}: {v}"))
        .collect();
    Outcome {
        case,
        waves,
        burst,
        ahead,
        idle_rss,
        peak_rss,
        settled_rss,
        cpu: cpu_after - cpu_before,
        burst_cpu,
        requests: c.requests - requests_before,
        reconciles,
        reconcile_mean: delta(RECONCILE_SECONDS) / reconciles,
    }
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "NOT met" }
}

/// The targets of a case, against the bare client's baseline `bare` (the same number of Jobs
/// at once as one wave), and CPU per due Job against `cpu_at_1000` if 1,000 was run.
fn targets(o: &Outcome, bare: &Wave, cpu_at_1000: Option<f64>) {
    let all = o.created() == o.case.n;
    println!("targets at {}:", o.case.label());
    if o.case.n <= 1000 && o.case.waves == 1 {
        let (p99, base) = (o.waves[0].p(0.99), bare.p(0.99));
        println!(
            "  p99 skew within 1.25x of the bare client's, every Job created: {} ({p99:.2} s vs {base:.2} s: {:.2}x; {} / {} Jobs)",
            verdict(all && p99 <= 1.25 * base),
            p99 / base,
            o.created(),
            o.case.n
        );
    } else {
        let (rate, base) = (o.worst_rate(), bare.rate());
        println!(
            "  every Job created at >= 0.8x the bare client's rate: {} ({rate:.0} vs {base:.0} Jobs/s{}: {:.2}x; {} / {} Jobs)",
            verdict(all && rate >= 0.8 * base),
            if o.case.waves > 1 {
                " in the slowest wave"
            } else {
                ""
            },
            rate / base,
            o.created(),
            o.case.n
        );
        println!(
            "  RSS idle < 100 MB: {} ({} MB before the first due second; {} MB {} s after the last Job)",
            verdict(o.idle_rss < 100 * 1024),
            o.idle_rss / 1024,
            o.settled_rss / 1024,
            SETTLE.as_secs()
        );
        let per_job = o.burst_cpu / o.case.n as f64 * 1e3;
        match cpu_at_1000 {
            Some(at_1000) => println!(
                "  CPU per due Job no more than at 1,000: {} ({per_job:.2} ms vs {at_1000:.2} ms: {:.2}x)",
                verdict(per_job <= at_1000),
                per_job / at_1000
            ),
            None => println!(
                "  CPU per due Job no more than at 1,000: not measured (run 1000 too) ({per_job:.2} ms)"
            ),
        }
    }
    println!(
        "  no Event or status write ahead of a due Job: {} ({} ahead)",
        verdict(o.ahead == 0),
        o.ahead
    );
}

#[tokio::main]
async fn main() {
    // The bench's own client talks TLS to the fake server: kube's rustls provider, as the
    // operator's main installs it.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let binary = std::env::var("OPERATOR_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_operator").to_string());
    let latency = Duration::from_millis(
        std::env::var("BENCH_LATENCY_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1),
    );
    let cases: Vec<Case> = std::env::var("BENCH_SIZES")
        .unwrap_or_else(|_| "100,1000".to_string())
        .split(',')
        .filter_map(Case::parse)
        .collect();
    let costs = Costs::calibrated();
    println!("operator: {binary}");
    println!(
        "runs: {} (N: due in the same second; N/W: in W waves a minute apart)",
        cases.iter().map(Case::label).collect::<Vec<_>>().join(", ")
    );
    println!(
        "fake API server: {} ms network per request; {costs:?}",
        latency.as_millis()
    );
    println!(
        "{:>8} {:>8} | {:>8} {:>8} {:>8} | {:>8} | {:>13} | {:>8} {:>8} {:>9} | {:>8} | {:>9}",
        "N",
        "who",
        "p50 s",
        "p99 s",
        "max s",
        "Jobs/s",
        "Jobs",
        "RSS idle",
        "RSS peak",
        "RSS after",
        "burst s",
        "requests"
    );
    let mut cpu_at_1000 = None;
    let mut baselines: Vec<(usize, Wave)> = Vec::new();
    for case in cases {
        let per_wave = case.per_wave();
        let bare = match baselines.iter().find(|(n, _)| *n == per_wave) {
            Some((_, wave)) => wave.clone(),
            None => {
                let wave = bare_client(per_wave, latency, costs).await;
                baselines.push((per_wave, wave.clone()));
                wave
            }
        };
        println!(
            "{:>8} {:>8} | {:>8.2} {:>8.2} {:>8.2} | {:>8.0} | {:>5} / {:<5} | {:>8} {:>8} {:>9} | {:>8} | {:>9}",
            per_wave,
            "bare",
            bare.p(0.50),
            bare.p(0.99),
            bare.skews.last().copied().unwrap_or(f64::NAN),
            bare.rate(),
            bare.skews.len(),
            per_wave,
            "-",
            "-",
            "-",
            "-",
            "-"
        );
        let o = scenario(&binary, case, latency, costs).await;
        let skews = o.skews();
        println!(
            "{:>8} {:>8} | {:>8.2} {:>8.2} {:>8.2} | {:>8.0} | {:>5} / {:<5} | {:>5} MB {:>5} MB {:>6} MB | {:>8.2} | {:>9}",
            case.label(),
            "operator",
            percentile(&skews, 0.50),
            percentile(&skews, 0.99),
            skews.last().copied().unwrap_or(f64::NAN),
            o.worst_rate(),
            o.created(),
            case.n,
            o.idle_rss / 1024,
            o.peak_rss / 1024,
            o.settled_rss / 1024,
            o.burst_cpu,
            o.requests,
        );
        println!(
            "{:>8} {:>8} | in all: {} reconciles, {:.1} ms each on average, {:.2} s CPU; requests: {}",
            "",
            "",
            o.reconciles,
            o.reconcile_mean * 1e3,
            o.cpu,
            o.burst.join(", ")
        );
        if case.waves > 1 {
            let mut rates: Vec<f64> = o.waves.iter().map(Wave::rate).collect();
            rates.sort_by(f64::total_cmp);
            println!(
                "{:>8} {:>8} | Jobs/s by wave: {}",
                "",
                "",
                rates
                    .iter()
                    .map(|r| format!("{r:.0}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            );
        }
        if case == (Case { n: 1000, waves: 1 }) {
            cpu_at_1000 = Some(o.burst_cpu / 1000.0 * 1e3);
        }
        if case.n >= 1000 {
            targets(&o, &bare, cpu_at_1000);
        }
    }
}
