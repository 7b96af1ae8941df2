//! What the benches share: a scratch database on the server `DATABASE_URL` names, numbers
//! from the environment, and the peak RSS of a child process.
#![allow(dead_code)] // each bench uses a different subset

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, Duration as Span, Utc};
use collector_job::store::Store;
use collector_job::store::model::{Media, MessageRow, Reaction, ResolvedChannel};
use serde_json::json;
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

/// Channel-post-like rows with ids `first..first + count`, dated 37 s apart from `start`: a
/// text of "Lorem ipsum" repeated `text_repeat` times, views, reactions of every kind, every
/// fifth with media and every seventh forwarded.
pub fn posts(
    first: i64,
    count: usize,
    text_repeat: usize,
    start: DateTime<Utc>,
) -> Vec<MessageRow> {
    (first..first + count as i64)
        .map(|id| {
            let mut row = MessageRow::text(
                id,
                start + Span::seconds(id * 37),
                format!(
                    "Post {id}: {}",
                    "Lorem ipsum dolor sit amet, consectetur. ".repeat(text_repeat)
                ),
            );
            row.views = Some(1_000 + (id % 5_000) as i32);
            row.forwards = Some((id % 17) as i32);
            row.replies = Some((id % 9) as i32);
            row.post_author = Some("Editor".into());
            row.reactions = vec![
                Reaction::Emoji {
                    emoji: "👍".into(),
                    count: (id % 100) as i32,
                    recent: Vec::new(),
                },
                Reaction::CustomEmoji {
                    document_id: "5368324170671202286".into(),
                    count: 3,
                    recent: Vec::new(),
                },
                Reaction::Paid { count: 12 },
            ];
            if id % 5 == 0 {
                row.media = Some(Media {
                    kind: "photo".into(),
                    metadata: json!({"photo_id": (id * 1_000_003).to_string(), "spoiler": false}),
                });
            }
            if id % 7 == 0 {
                row.forward =
                    Some(json!({"from_id": {"type": "channel", "id": 777}, "date": start}));
            }
            row
        })
        .collect()
}

/// The `channels` row of channel `id` (username `<prefix><id>`), as a resolve stores it.
pub async fn remember_channel(store: &Store, id: i64, prefix: &str) {
    store
        .remember_channel(
            &ResolvedChannel {
                id,
                access_hash: Some(id),
                username: Some(format!("{prefix}{id}")),
                title: Some("bench".into()),
            },
            1,
            chrono::Utc::now(),
        )
        .await
        .expect("channel row");
}
