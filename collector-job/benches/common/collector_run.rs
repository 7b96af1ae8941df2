#![allow(dead_code)] // Shared by several benches; each reads the part it prints.
//! One `collector-job collect` run (a child process) against a fake DC, measured: the rate
//! by the audit log's own clock and the child's peak RSS. Shared by the benches that drive the
//! real binary; each includes `tests/common` as `common` and `benches/common` as `scratch`.

use std::process::Output;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use contract::audit::AuditEvent;
use fake_dc::Scenario;
use sqlx::postgres::PgPoolOptions;

use crate::common::{Collect, USER, Wire};
use crate::scratch::watch_peak_rss;

/// One collector run, as measured.
pub struct Measured {
    pub messages: u64,
    /// Messages found edited: stored before in another version.
    pub edits: u64,
    /// From `collection_start` to `collection_end` (the audit log's own clock).
    pub collecting: Duration,
    /// From spawning the process to its exit (start-up, migrations, connecting included).
    pub wall: Duration,
    /// The collector's VmHWM, polled every 10 ms while it ran.
    pub peak_rss_kib: u64,
}

impl Measured {
    pub fn rate(&self) -> f64 {
        self.messages as f64 / self.collecting.as_secs_f64()
    }
}

/// Runs the collector on `channels` of `scenario`, with `env` added to its environment.
pub async fn collect(
    url: &str,
    scenario: Scenario,
    channels: &[String],
    run_id: &str,
    env: &[(&str, &str)],
) -> Measured {
    let wire = Wire::start(scenario).await;
    let session = wire.session(USER);
    let names: Vec<&str> = channels.iter().map(String::as_str).collect();
    let started = Instant::now();
    let mut command =
        Collect::new(url, &session, run_id, &names).arg("--flood-wait-threshold", "5m");
    for (key, value) in env {
        command = command.env(key, value);
    }
    let child = command.spawn();
    let pid = child.id();
    let running = Arc::new(AtomicBool::new(true));
    let poller = watch_peak_rss(pid, Arc::clone(&running));
    let output: Output = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .expect("joined")
        .expect("the collector runs");
    let wall = started.elapsed();
    running.store(false, Ordering::Relaxed);
    let peak_rss_kib = poller.join().expect("the poller ends");
    assert!(
        output.status.success(),
        "the collector failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );

    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await
        .expect("connect");
    let rows = contract::audit::read_run(&pool, run_id)
        .await
        .expect("audit rows");
    let (mut start, mut end, mut messages, mut edits) = (None, None, 0, 0);
    for row in rows {
        match row.event {
            Ok(AuditEvent::Start(s)) => start = Some(s.start_time),
            Ok(AuditEvent::End(e)) => {
                end = Some(e.end_time);
                messages = e.total_messages;
                edits = e.edits_found;
                assert_eq!(e.errors, 0, "no channel failed");
            }
            _ => {}
        }
    }
    pool.close().await;
    let collecting = (end.expect("collection_end") - start.expect("collection_start"))
        .to_std()
        .expect("end after start");
    Measured {
        messages,
        edits,
        collecting,
        wall,
        peak_rss_kib,
    }
}
