//! Cost of the pure decisions, printed as ratios to a small baseline (no timed asserts).
//!
//! `cargo bench -p operator --bench decide`
//!
//! What it shows: a reconcile's decision does not grow with how long the operator was
//! down (missed runs are counted up to 101, not walked), and grows only linearly with
//! the number of Jobs and channels.

use std::{hint::black_box, time::Instant};

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use crds::{
    ApiCredentials, ChannelCollection, ChannelCollectionSpec, ChannelCollectionStatus,
    ConcurrencyPolicy, SecretKeyRef, SecretRef, SessionSource,
};
use k8s_openapi::api::batch::v1::{Job, JobCondition, JobStatus};
use kube::api::ObjectMeta;
use operator::{
    decide::decide,
    job::{self, JobDefaults},
    runs::owned_runs,
    time::to_k8s,
};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 28, 12, 0, 0).unwrap()
}

fn collection(channels: usize, schedule: Option<&str>) -> ChannelCollection {
    let spec = ChannelCollectionSpec {
        channels: (0..channels).map(|i| format!("channel{i:04}")).collect(),
        interval: schedule.is_none().then(|| "10m".to_string()),
        schedule: schedule.map(str::to_string),
        time_zone: None,
        suspend: false,
        starting_deadline_seconds: None,
        successful_jobs_history_limit: 3,
        failed_jobs_history_limit: 1,
        timeout: None,
        backoff_limit: 2,
        concurrency_policy: ConcurrencyPolicy::Forbid,
        session: Some(SessionSource {
            secret_ref: SecretKeyRef {
                name: "s".into(),
                key: "session".into(),
            },
        }),
        sessions: None,
        api_credentials: ApiCredentials {
            secret_ref: SecretRef { name: "api".into() },
        },
        database: None,
        collector: None,
        limits: None,
    };
    let mut cc = ChannelCollection::new("news", spec);
    cc.metadata = ObjectMeta {
        name: Some("news".into()),
        namespace: Some("telegram".into()),
        uid: Some("uid-1".into()),
        generation: Some(1),
        creation_timestamp: Some(to_k8s(t0())),
        ..ObjectMeta::default()
    };
    cc
}

fn defaults() -> JobDefaults {
    JobDefaults {
        image: "collector:1".into(),
        database: Some(SecretKeyRef {
            name: "db".into(),
            key: "url".into(),
        }),
    }
}

fn finished_jobs(cc: &ChannelCollection, n: i64) -> Vec<Job> {
    (0..n)
        .map(|i| {
            let at = t0() - TimeDelta::minutes(10 * (n - i));
            let mut job = job::build(cc, &defaults(), at, None).unwrap();
            job.status = Some(JobStatus {
                completion_time: Some(to_k8s(at + TimeDelta::minutes(3))),
                conditions: Some(vec![JobCondition {
                    type_: "Complete".into(),
                    status: "True".into(),
                    ..JobCondition::default()
                }]),
                ..JobStatus::default()
            });
            job
        })
        .collect()
}

/// Mean nanoseconds per call of `f` over `iterations`.
fn time(iterations: u32, mut f: impl FnMut()) -> f64 {
    for _ in 0..iterations / 10 {
        f();
    }
    let start = Instant::now();
    for _ in 0..iterations {
        f();
    }
    start.elapsed().as_nanos() as f64 / f64::from(iterations)
}

fn main() {
    let now = t0() + TimeDelta::minutes(5);
    let with_last = |cc: ChannelCollection, last: DateTime<Utc>| {
        let mut cc = cc;
        cc.status = Some(ChannelCollectionStatus {
            last_schedule_time: Some(to_k8s(last)),
            ..ChannelCollectionStatus::default()
        });
        cc
    };

    let small = with_last(collection(3, None), t0());
    let base = time(2000, || {
        black_box(decide(black_box(&small), &[], &defaults(), now));
    });
    println!(
        "baseline: interval, 3 channels, no Jobs, nothing due: {:.1} us per decision",
        base / 1000.0
    );

    let rows: Vec<(&str, f64)> = vec![
        ("500 channels", {
            let cc = with_last(collection(500, None), t0());
            time(500, || {
                black_box(decide(&cc, &[], &defaults(), now));
            })
        }),
        ("100 finished Jobs (97 to clean up)", {
            let cc = with_last(collection(3, None), t0());
            let jobs = finished_jobs(&cc, 100);
            time(200, || {
                black_box(decide(&cc, &owned_runs(&cc, &jobs), &defaults(), now));
            })
        }),
        ("a due run (builds the Job)", {
            let cc = with_last(collection(3, None), t0() - TimeDelta::minutes(10));
            time(2000, || {
                black_box(decide(&cc, &[], &defaults(), now));
            })
        }),
        ("cron, 1 missed run", {
            let cc = with_last(
                collection(3, Some("* * * * *")),
                now - TimeDelta::minutes(1),
            );
            time(500, || {
                black_box(decide(&cc, &[], &defaults(), now));
            })
        }),
        ("cron, a year of missed minutes (525,600)", {
            let cc = with_last(collection(3, Some("* * * * *")), now - TimeDelta::days(365));
            time(500, || {
                black_box(decide(&cc, &[], &defaults(), now));
            })
        }),
    ];
    for (name, ns) in rows {
        println!("{name:<45} {:>7.1}x baseline", ns / base);
    }
}
