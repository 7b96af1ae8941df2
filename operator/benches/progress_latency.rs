//! Audit row -> `.status`: how late a run's progress reaches its collection's status, and what
//! the operator asks of PostgreSQL for it, with many runs active at once. Two ways, same
//! operator binary, same load: pushed (PostgreSQL announces each row, the operator listens;
//! the default) and polled (`--listen-audit-log=false --status-refresh=2s`, as the operator
//! refreshed before).
//!
//! `DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench -p operator --bench
//! progress_latency`. `BENCH_RUNS` (default 1000) runs are active, each writing a progress row
//! every `BENCH_ROW_EVERY_S` (default 5) seconds for `BENCH_SECONDS` (default 60);
//! `BENCH_LATENCY_MS` (default 10) is added to every API request; `BENCH_MODES` (default
//! `push,poll`) picks the runs; `BENCH_RUST_LOG` (default `warn`) is the operator's `RUST_LOG`.
//!
//! Latency of a row: from the moment its INSERT committed to the first status write of its
//! collection that shows it (`channelsProcessed` reaching the row's count). Queries: the
//! scratch database's transactions in the window (`pg_stat_database`) less the rows written.

mod apiserver;

use std::{
    process::{Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, SystemTime},
};

use apiserver::{Cluster, Server, percentile};
use chrono::{DateTime, Utc};
use contract::audit::{AuditEvent, AuditWriter, CollectionProgress, CollectionStart, RunIdentity};
use crds::testing::TestCollection;
use crds::{ChannelCollection, ChannelCollectionStatus, SecretKeyRef};
use operator::{job::JobDefaults, time::to_k8s};
use serde_json::json;
use sqlx::{AssertSqlSafe, Connection, PgConnection, PgPool, postgres::PgPoolOptions};

const NAMESPACE: &str = "bench";
/// Channels a run says it has: more than it ever finishes, so every run stays active.
const TOTAL_CHANNELS: u32 = 100_000;

fn env_number<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Collection `i` with run `<name>-1` active (its Job running, named in `status.activeJob`).
fn active_collection(i: usize, started: DateTime<Utc>) -> (serde_json::Value, serde_json::Value) {
    let mut cc = ChannelCollection::test()
        .named(&format!("news-{i:04}"))
        .namespaced(NAMESPACE);
    cc.metadata.uid = Some(format!("uid-{i:04}"));
    cc.metadata.resource_version = Some("1".into());
    let defaults = JobDefaults {
        image: "collector:bench".into(),
        database: Some(SecretKeyRef {
            name: "db".into(),
            key: "DATABASE_URL".into(),
        }),
        media_destination: None,
    };
    let job = operator::job::build(&cc, &defaults, started, None).expect("the Job builds");
    let job_name = job.metadata.name.clone().unwrap();
    cc.status = Some(ChannelCollectionStatus {
        active_job: Some(job_name.clone().into()),
        last_schedule_time: Some(to_k8s(started)),
        observed_generation: Some(1),
        ..ChannelCollectionStatus::default()
    });
    let mut job = serde_json::to_value(&job).unwrap();
    job["metadata"]["uid"] = json!(format!("job-uid-{i:04}"));
    job["metadata"]["resourceVersion"] = json!("1");
    job["metadata"]["creationTimestamp"] = json!(apiserver::rfc3339(started));
    job["status"] = json!({"active": 1, "ready": 1, "startTime": apiserver::rfc3339(started)});
    (serde_json::to_value(&cc).unwrap(), job)
}

/// What one mode measured.
struct Outcome {
    mode: &'static str,
    latencies: Vec<f64>,
    /// Rows written in the window and rows whose progress never reached the status.
    rows: usize,
    unseen: usize,
    /// The operator's queries per second in the window.
    queries_per_second: f64,
    cpu: f64,
}

async fn transactions(admin: &mut PgConnection, database: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = $1",
    )
    .bind(database)
    .fetch_one(admin)
    .await
    .expect("pg_stat_database")
}

async fn scenario(binary: &str, admin_url: &str, mode: &'static str) -> Outcome {
    let runs: usize = env_number("BENCH_RUNS", 1000);
    let every = Duration::from_secs(env_number("BENCH_ROW_EVERY_S", 5));
    let window = Duration::from_secs(env_number("BENCH_SECONDS", 60));
    let latency = Duration::from_millis(env_number("BENCH_LATENCY_MS", 10));

    // A scratch database with the schema, and one started run per collection.
    let database = format!("progress_latency_{}_{mode}", std::process::id());
    let mut admin = PgConnection::connect(admin_url).await.expect("connect");
    sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {database}")))
        .execute(&mut admin)
        .await
        .expect("create the scratch database");
    let (base, query) = admin_url.split_once('?').unwrap_or((admin_url, ""));
    let (server_url, _) = base.rsplit_once('/').expect("DATABASE_URL ends in /<db>");
    let url = if query.is_empty() {
        format!("{server_url}/{database}")
    } else {
        format!("{server_url}/{database}?{query}")
    };
    let pool: PgPool = PgPoolOptions::new()
        .max_connections(16)
        .connect(&url)
        .await
        .expect("connect to the scratch database");
    contract::MIGRATOR.run(&pool).await.expect("migrate");

    let started = Utc::now() - chrono::TimeDelta::minutes(1);
    let mut cluster = Cluster {
        rv: 10,
        ..Cluster::default()
    };
    let mut writers = Vec::with_capacity(runs);
    for i in 0..runs {
        let (collection, job) = active_collection(i, started);
        let name = collection["metadata"]["name"].as_str().unwrap().to_string();
        let run = job["metadata"]["name"].as_str().unwrap().to_string();
        cluster.collections.insert(name.clone(), collection);
        cluster.jobs.insert(run.clone(), job);
        let writer = AuditWriter::new(
            pool.clone(),
            RunIdentity {
                run_id: run,
                namespace: NAMESPACE.into(),
                name: name.clone(),
                pod_name: Some(format!("{name}-pod")),
                shard: None,
            },
        );
        writer
            .record(&AuditEvent::Start(CollectionStart {
                total_channels: TOTAL_CHANNELS,
                start_time: started,
            }))
            .await
            .expect("start row");
        writers.push((name, writer));
    }
    let server = Arc::new(Server::new(cluster, latency));
    let (port, serving) = apiserver::serve(server.clone()).await;

    let dir = std::env::temp_dir().join(format!("progress-latency-{}-{mode}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(&kubeconfig, apiserver::kubeconfig(port, NAMESPACE)).unwrap();
    let mut command = Command::new(binary);
    command
        .args(["run", "--leader-elect", "false", "--namespace", NAMESPACE])
        .args([
            "--collector-image",
            "collector:bench",
            "--default-database-secret",
            "db",
        ])
        .args(["--metrics-addr", "127.0.0.1:0"])
        .env("KUBECONFIG", &kubeconfig)
        .env("DATABASE_URL", &url)
        .env(
            "RUST_LOG",
            std::env::var("BENCH_RUST_LOG").unwrap_or_else(|_| "warn".to_string()),
        )
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("log")).unwrap());
    if mode == "poll" {
        command.args(["--listen-audit-log", "false", "--status-refresh", "2s"]);
    }
    let child = apiserver::Operator(command.spawn().expect("the operator binary starts"));
    let pid = child.id();

    // Settled: every collection's status written once (its first reconcile read its run).
    let settle_deadline = SystemTime::now() + Duration::from_secs(120);
    loop {
        let written: std::collections::HashSet<String> = {
            let c = server.cluster.lock().unwrap();
            c.status_writes.iter().map(|(n, _, _)| n.clone()).collect()
        };
        if written.len() >= runs || SystemTime::now() > settle_deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (_, _, cpu_before) = apiserver::usage(pid);
    let transactions_before = transactions(&mut admin, &database).await;

    // The load: every run writes a progress row every `every`, staggered over the period.
    let window_start = SystemTime::now();
    let committed: Arc<Mutex<Vec<(String, u32, SystemTime)>>> = Arc::default();
    let mut tasks = Vec::with_capacity(runs);
    for (i, (name, writer)) in writers.into_iter().enumerate() {
        let committed = committed.clone();
        let offset = every.mul_f64(i as f64 / runs as f64);
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(offset).await;
            let mut ticker = tokio::time::interval(every);
            for processed in 1.. {
                ticker.tick().await;
                if window_start.elapsed().unwrap_or_default() >= window {
                    break;
                }
                let row = AuditEvent::Progress(CollectionProgress {
                    edits_found: 0,
                    deletions_found: 0,
                    media: Default::default(),
                    channel_name: format!("@channel{processed}"),
                    messages_collected: 10,
                    channels_processed: processed,
                    total_channels: TOTAL_CHANNELS,
                    errors: 0,
                    progress_time: Utc::now(),
                    error: None,
                });
                writer.record(&row).await.expect("progress row");
                committed
                    .lock()
                    .unwrap()
                    .push((name.clone(), processed, SystemTime::now()));
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    let rows = committed.lock().unwrap().len();
    // What is still on its way, and the statistics of idle backends (flushed within 10 s).
    tokio::time::sleep(Duration::from_secs(11)).await;
    let transactions_after = transactions(&mut admin, &database).await;
    let elapsed = window_start.elapsed().unwrap_or_default().as_secs_f64();
    let (_, _, cpu_after) = apiserver::usage(pid);
    drop(child);
    serving.abort();
    pool.close().await;
    let _ = std::fs::remove_dir_all(&dir);
    sqlx::query(AssertSqlSafe(format!(
        "DROP DATABASE {database} WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await
    .expect("drop the scratch database");

    // Each row's latency: the first later status write of its collection that shows it.
    let c = server.cluster.lock().unwrap();
    let mut writes: std::collections::HashMap<&str, Vec<(SystemTime, i64)>> = Default::default();
    for (name, at, status) in &c.status_writes {
        let processed = status["channelsProcessed"].as_i64().unwrap_or(0);
        writes
            .entry(name.as_str())
            .or_default()
            .push((*at, processed));
    }
    let mut latencies = Vec::with_capacity(rows);
    let mut unseen = 0;
    for (name, processed, at) in committed.lock().unwrap().iter() {
        let shown = writes.get(name.as_str()).and_then(|w| {
            w.iter()
                .find(|(when, count)| *count >= i64::from(*processed) && when >= at)
        });
        match shown {
            Some((when, _)) => {
                latencies.push(when.duration_since(*at).unwrap_or_default().as_secs_f64())
            }
            None => unseen += 1,
        }
    }
    latencies.sort_by(f64::total_cmp);
    let queries = (transactions_after - transactions_before) as f64 - rows as f64;
    Outcome {
        mode,
        latencies,
        rows,
        unseen,
        queries_per_second: queries / elapsed,
        cpu: cpu_after - cpu_before,
    }
}

#[tokio::main]
async fn main() {
    let admin_url = std::env::var("DATABASE_URL")
        .expect("DATABASE_URL: a PostgreSQL server the bench may create databases on");
    let binary = std::env::var("OPERATOR_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_operator").to_string());
    let modes: Vec<String> = std::env::var("BENCH_MODES")
        .unwrap_or_else(|_| "push,poll".to_string())
        .split(',')
        .map(|m| m.trim().to_string())
        .collect();
    let runs: usize = env_number("BENCH_RUNS", 1000);
    let every: u64 = env_number("BENCH_ROW_EVERY_S", 5);
    println!("{runs} active runs, a progress row from each every {every} s; operator: {binary}");
    println!(
        "{:>5} | {:>7} {:>7} {:>7} | {:>6} {:>6} | {:>9} {:>9} | {:>6}",
        "mode", "p50 s", "p99 s", "max s", "rows", "unseen", "queries/s", "rows/s", "CPU s"
    );
    let mut results = Vec::new();
    for mode in modes {
        let mode: &'static str = match mode.as_str() {
            "push" => "push",
            "poll" => "poll",
            other => panic!("BENCH_MODES: unknown mode {other:?} (push, poll)"),
        };
        let o = scenario(&binary, &admin_url, mode).await;
        let window = env_number::<u64>("BENCH_SECONDS", 60) as f64;
        println!(
            "{:>5} | {:>7.3} {:>7.3} {:>7.3} | {:>6} {:>6} | {:>9.1} {:>9.1} | {:>6.2}",
            o.mode,
            percentile(&o.latencies, 0.50),
            percentile(&o.latencies, 0.99),
            o.latencies.last().copied().unwrap_or(f64::NAN),
            o.rows,
            o.unseen,
            o.queries_per_second,
            o.rows as f64 / window,
            o.cpu,
        );
        results.push(o);
    }
    let verdict = |met: bool| if met { "met" } else { "NOT met" };
    if let Some(push) = results.iter().find(|o| o.mode == "push") {
        let p99 = percentile(&push.latencies, 0.99);
        let window = env_number::<u64>("BENCH_SECONDS", 60) as f64;
        let rows_per_second = push.rows as f64 / window;
        println!("targets (push):");
        println!(
            "  p99 audit row -> .status < 0.5 s, every row shown: {} ({p99:.3} s, {} unseen)",
            verdict(p99 < 0.5 && push.unseen == 0),
            push.unseen
        );
        println!(
            "  queries proportional to rows written (<= 2 per row), not to runs x refresh rate: {} ({:.2} per row)",
            verdict(push.queries_per_second <= 2.0 * rows_per_second),
            push.queries_per_second / rows_per_second
        );
        if let Some(poll) = results.iter().find(|o| o.mode == "poll") {
            println!(
                "  against polling every 2 s: p99 {:.3} s vs {:.3} s, {:.1} vs {:.1} queries/s",
                p99,
                percentile(&poll.latencies, 0.99),
                push.queries_per_second,
                poll.queries_per_second
            );
        }
    }
}
