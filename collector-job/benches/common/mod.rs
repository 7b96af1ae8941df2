//! What the benches share: a scratch database on the server `DATABASE_URL` names, numbers
//! from the environment, and the peak RSS of a child process.
#![allow(dead_code)] // each bench uses a different subset

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sqlx::{AssertSqlSafe, Connection, PgConnection};

/// The number in env var `name`, or `default` when it is unset or not a number.
pub fn env_number<T: FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `VmHWM` (peak resident set so far) of a running process, in KiB.
pub fn high_water_mark_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Polls a child's peak RSS (KiB) every 10 ms until `running` turns false or the process is
/// gone; the thread returns the highest value seen.
pub fn watch_peak_rss(pid: u32, running: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut peak = 0;
        while running.load(Ordering::Relaxed) {
            match high_water_mark_kib(pid) {
                Some(kib) => peak = peak.max(kib),
                None => break,
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        peak
    })
}

/// A database made for one bench run; [`drop`](Self::drop) removes it.
pub struct ScratchDatabase {
    admin_url: String,
    pub name: String,
    /// Same server and options (e.g. `?sslmode=disable`), the scratch database.
    pub url: String,
}

impl ScratchDatabase {
    pub async fn create(admin_url: &str, prefix: &str) -> Self {
        let name = format!("{prefix}_{}", std::process::id());
        let mut admin = PgConnection::connect(admin_url).await.expect("connect");
        sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .expect("create the bench database");
        let _ = admin.close().await;
        let (path, query) = admin_url.split_once('?').unwrap_or((admin_url, ""));
        let (base, _) = path
            .rsplit_once('/')
            .expect("DATABASE_URL ends in /<database>");
        let query = if query.is_empty() {
            String::new()
        } else {
            format!("?{query}")
        };
        Self {
            admin_url: admin_url.to_owned(),
            url: format!("{base}/{name}{query}"),
            name,
        }
    }

    pub async fn drop(self) {
        let mut admin = PgConnection::connect(&self.admin_url)
            .await
            .expect("connect");
        sqlx::query(AssertSqlSafe(format!(
            "DROP DATABASE {} WITH (FORCE)",
            self.name
        )))
        .execute(&mut admin)
        .await
        .expect("drop the bench database");
        let _ = admin.close().await;
    }
}
