//! Import memory and speed: generates Telegram Desktop exports of a small and a large size
//! (default 128 MiB and 1 GiB) in a temp dir, imports each with the real binary as a child
//! process into a scratch database, and prints per size the peak RSS (the child's VmHWM), its
//! ratio to the file size, and messages/s; then the ratio of the two peaks (1.0 = memory does
//! not grow with the export).
//!
//!     DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
//!         cargo bench -p collector-job --bench import_memory
//!
//! BENCH_SMALL_MB / BENCH_LARGE_MB set the sizes. The exports are generated at bench time,
//! never committed, and removed afterwards, as is the scratch database.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::resource::{UsageWho, getrusage};

mod common;
use common::{ScratchDatabase, env_number, high_water_mark_kib};

const BIN: &str = env!("CARGO_BIN_EXE_collector-job");

/// Writes a channel export of about `bytes` bytes: posts with entities, reactions, replies,
/// forwards, photos and polls in the mix of a real news channel, and a service message every
/// fiftieth id. Returns the number of messages.
fn generate(path: &Path, bytes: u64) -> u64 {
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap());
    write!(
        out,
        r#"{{"name": "Bench News", "type": "public_channel", "id": 1777000001, "messages": ["#
    )
    .unwrap();
    let mut written: u64 = 0;
    let mut id: u64 = 0;
    while written < bytes {
        id += 1;
        let unix = 1_700_000_000 + id * 37;
        let date = chrono::DateTime::from_timestamp(unix as i64, 0)
            .unwrap()
            .format("%Y-%m-%dT%H:%M:%S");
        let mut message = if id.is_multiple_of(50) {
            format!(
                r#"{{"id": {id}, "type": "service", "date": "{date}", "date_unixtime": "{unix}", "actor": "Bench News", "actor_id": "channel1777000001", "action": "pin_message", "message_id": {}, "text": "", "text_entities": []}}"#,
                id - 1
            )
        } else {
            let extra = match id % 10 {
                0 => r#", "photo": "photos/photo@01-01-2024.jpg", "width": 1280, "height": 720"#.to_owned(),
                3 => format!(r#", "reply_to_message_id": {}"#, id - 2),
                7 => r#", "forwarded_from": "Other Channel", "forwarded_from_id": "channel3397140320""#.to_owned(),
                9 => r#", "poll": {"question": "Which one?", "closed": false, "total_voters": 12, "answers": [{"text": "A", "voters": 7, "chosen": false}, {"text": "B", "voters": 5, "chosen": false}]}"#.to_owned(),
                _ => String::new(),
            };
            format!(
                r#"{{"id": {id}, "type": "message", "date": "{date}", "date_unixtime": "{unix}", "edited": "{date}", "edited_unixtime": "{unix}", "from": "Bench News", "from_id": "channel1777000001", "author": "Desk", "text": ["Breaking {id}: ", {{"type": "bold", "text": "markets move"}}, " as officials meet; details at ", {{"type": "text_link", "text": "our site", "href": "https://example.com/news/{id}"}}, ". More on this story as it develops, with analysis from our correspondents in the region. #news"], "text_entities": [{{"type": "plain", "text": "Breaking {id}: "}}, {{"type": "bold", "text": "markets move"}}, {{"type": "plain", "text": " as officials meet; details at "}}, {{"type": "text_link", "text": "our site", "href": "https://example.com/news/{id}"}}, {{"type": "plain", "text": ". More on this story as it develops, with analysis from our correspondents in the region. #news"}}], "reactions": [{{"type": "emoji", "count": {}, "emoji": "👍"}}, {{"type": "custom_emoji", "count": 3, "document_id": "5368324170671202286"}}]{extra}}}"#,
                id % 997
            )
        };
        if id > 1 {
            message.insert_str(0, ",\n");
        }
        out.write_all(message.as_bytes()).unwrap();
        written += message.len() as u64;
    }
    writeln!(out, "]}}").unwrap();
    out.flush().unwrap();
    id
}

struct Measured {
    file: u64,
    messages: u64,
    seconds: f64,
    peak: u64,
}

/// Imports `path` with the binary; polls its VmHWM until it exits.
fn import(path: &Path, database_url: &str) -> (Duration, u64) {
    let started = Instant::now();
    let mut child = Command::new(BIN)
        .args(["import", path.to_str().unwrap(), "--run-id"])
        .arg(format!("bench-{}", started.elapsed().as_nanos()))
        .env("DATABASE_URL", database_url)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("the collector binary runs");
    let mut peak = 0;
    loop {
        if let Some(kib) = high_water_mark_kib(child.id()) {
            peak = peak.max(kib * 1024);
        }
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "import failed: {status}");
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    (started.elapsed(), peak)
}

fn measure(dir: &Path, megabytes: u64, database_url: &str) -> Measured {
    let path = dir.join(format!("result-{megabytes}mb.json"));
    let messages = generate(&path, megabytes << 20);
    let file = std::fs::metadata(&path).unwrap().len();
    let (elapsed, peak) = import(&path, database_url);
    std::fs::remove_file(&path).unwrap();
    Measured {
        file,
        messages,
        seconds: elapsed.as_secs_f64(),
        peak,
    }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / f64::from(1 << 20)
}

fn main() {
    // `cargo bench` passes `--bench`; test runners listing all targets do not: nothing to do.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let admin_url = std::env::var("DATABASE_URL")
        .expect("set DATABASE_URL to a PostgreSQL the bench may create a database on");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let scratch = runtime.block_on(ScratchDatabase::create(&admin_url, "import_memory_bench"));
    let database_url = scratch.url.clone();
    let dir = std::env::temp_dir().join(format!("import-memory-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();

    let small = measure(
        &dir,
        env_number::<u64>("BENCH_SMALL_MB", 128),
        &database_url,
    );
    let large = measure(
        &dir,
        env_number::<u64>("BENCH_LARGE_MB", 1024),
        &database_url,
    );
    println!("export size  messages    seconds  messages/s  peak RSS   RSS / file");
    for m in [&small, &large] {
        println!(
            "{:>8.0} MiB {:>9} {:>10.1} {:>11.0} {:>6.1} MiB {:>10.3}",
            mib(m.file),
            m.messages,
            m.seconds,
            m.messages as f64 / m.seconds,
            mib(m.peak),
            m.peak as f64 / m.file as f64
        );
    }
    println!(
        "peak RSS, large / small export: {:.2} for {:.1}x the file size",
        large.peak as f64 / small.peak as f64,
        large.file as f64 / small.file as f64
    );
    let children = getrusage(UsageWho::RUSAGE_CHILDREN).unwrap().max_rss() as u64 * 1024;
    println!("largest child (getrusage): {:.1} MiB", mib(children));

    std::fs::remove_dir_all(&dir).unwrap();
    runtime.block_on(scratch.drop());
}
