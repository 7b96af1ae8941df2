//! Cost of the pure decisions, printed as ratios to a small baseline (no timed asserts).
//!
//! `cargo bench -p operator --bench decide`
//!
//! What it shows: a reconcile's decision does not grow with how long the operator was
//! down (missed runs are counted up to 101, not walked), and grows only linearly with
//! the number of Jobs and channels.

use std::{hint::black_box, time::Instant};

use chrono::{DateTime, TimeDelta, Utc};
use crds::testing::{TestCollection, t0};
use crds::{ChannelCollection, ChannelCollectionStatus, SecretKeyRef};
use k8s_openapi::api::batch::v1::{Job, JobCondition, JobStatus};
use operator::{
    decide::decide,
    job::{self, JobDefaults},
    runs::owned_runs,
    time::to_k8s,
};

fn collection(channels: usize, schedule: Option<&str>) -> ChannelCollection {
    let names: Vec<String> = (0..channels).map(|i| format!("channel{i:04}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let cc = ChannelCollection::test().channels(&names);
    match schedule {
        Some(schedule) => cc.cron(schedule, None),
        None => cc,
    }
}

fn defaults() -> JobDefaults {
    JobDefaults {
        image: "collector:1".into(),
        database: Some(SecretKeyRef {
            name: "db".into(),
            key: "url".into(),
        }),
        media_destination: None,
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
