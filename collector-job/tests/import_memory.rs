//! Importing runs in memory bounded independently of the export's size: the binary imports a
//! generated export of ~100 MB and its peak RSS stays below half the file (the whole-file
//! parser this replaced needed several times the file).

mod common;

use std::io::Write;

use nix::sys::resource::{UsageWho, getrusage};
use sqlx::PgPool;

/// Writes a channel export of `messages` posts of ~2 KB each; returns its size in bytes.
fn generate(path: &std::path::Path, messages: i64) -> u64 {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    write!(
        out,
        r#"{{"name": "Big", "type": "public_channel", "id": 4242, "messages": ["#
    )
    .unwrap();
    let body = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. ".repeat(36);
    for id in 1..=messages {
        let separator = if id == 1 { "" } else { "," };
        let unix = 1_600_000_000 + id * 60;
        write!(
            out,
            r#"{separator}
  {{"id": {id}, "type": "message", "date": "2020-09-13T12:26:40", "date_unixtime": "{unix}",
   "from": "Big", "from_id": "channel4242", "text": ["post {id} ", {{"type": "bold", "text": "{body}"}}],
   "reactions": [{{"type": "emoji", "count": {id}, "emoji": "👍"}}]}}"#
        )
        .unwrap();
    }
    writeln!(out, "]}}").unwrap();
    out.flush().unwrap();
    std::fs::metadata(path).unwrap().len()
}

#[sqlx::test(migrator = "contract::MIGRATOR")]
async fn a_large_export_is_imported_in_bounded_memory(pool: PgPool) {
    let dir = common::temp_dir("memory");
    let path = dir.join("result.json");
    let size = generate(&path, 48_000);

    let child_pool = pool.clone();
    let output = tokio::task::spawn_blocking(move || {
        common::import(&child_pool, &path, "import-memory", &[])
    })
    .await
    .unwrap();
    common::succeeded(&output);

    assert_eq!(common::count(&pool, "messages").await, 48_000);
    // ru_maxrss is in KiB on Linux: the largest resident set of any child waited for.
    let peak = getrusage(UsageWho::RUSAGE_CHILDREN).unwrap().max_rss() as u64 * 1024;
    eprintln!(
        "peak RSS {} MiB for a {} MiB export",
        peak >> 20,
        size >> 20
    );
    assert!(
        peak < size / 2,
        "peak RSS {} MiB for a {} MiB export",
        peak >> 20,
        size >> 20
    );
    std::fs::remove_dir_all(dir).unwrap();
}
