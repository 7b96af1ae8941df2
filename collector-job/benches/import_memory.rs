//! Import memory and speed: generates Telegram Desktop exports of a small and a large size
//! (default 128 MiB and 1 GiB) in a temp dir, imports each with the real binary as a child
//! process into a scratch database, and prints per size the peak RSS (the child's VmHWM), its
//! ratio to the file size, and messages/s; then the ratio of the two peaks (1.0 = memory does
//! not grow with the export). Storage alone, for comparison: the same export read in the
//! bench and its pages stored through the import's own store calls (`ChatImport::store`, pages
//! of 100, one transaction) into a channel of their own, only the store calls timed; the
//! import's rate over that is the cost of reading and mapping the file (target >= 0.8x).
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

use chrono::Utc;
use collector_job::app::config::MAX_BATCH;
use collector_job::export::mapping::{ChatHeader, LocalDates};
use collector_job::export::reader::{ExportSink, Halted};
use collector_job::store::model::{MessageRow, Origin, ResolvedChannel, Sighting};
use collector_job::store::{ChatImport, Store};
use nix::sys::resource::{UsageWho, getrusage};
use tokio::runtime::Runtime;

mod common;
use common::{ScratchDatabase, env_number, high_water_mark_kib};

const BIN: &str = env!("CARGO_BIN_EXE_collector-job");

/// The target of the storage-only baseline.
const THRESHOLD: f64 = 0.8;

/// Writes an export of channel `channel` of about `bytes` bytes: posts with entities,
/// reactions, replies, forwards, photos and polls in the mix of a real news channel, and a
/// service message every fiftieth id. Returns the number of messages.
fn generate(path: &Path, channel: i64, bytes: u64) -> u64 {
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap());
    write!(
        out,
        r#"{{"name": "Bench News", "type": "public_channel", "id": {channel}, "messages": ["#
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
    /// Messages a second storage alone reached on the same export.
    storage_rate: f64,
}

/// Stores what the export reader delivers through the import's store calls, as the import
/// does, into channel `channel`, timing only the store calls.
struct StorageOnly<'a> {
    runtime: &'a Runtime,
    store: &'a Store,
    channel: i64,
    chat: Option<ChatImport>,
    page: Vec<MessageRow>,
    stored: u64,
    storing: Duration,
}

impl StorageOnly<'_> {
    fn timed<T>(&mut self, work: impl std::future::Future<Output = T>) -> T {
        let started = Instant::now();
        let out = self.runtime.block_on(work);
        self.storing += started.elapsed();
        out
    }

    fn flush(&mut self) {
        let page = std::mem::take(&mut self.page);
        let mut chat = self.chat.take().expect("a chat is open");
        self.timed(chat.store(&page)).expect("page stored");
        self.stored += page.len() as u64;
        self.chat = Some(chat);
    }
}

impl ExportSink for StorageOnly<'_> {
    fn chat_start(&mut self, chat: &ChatHeader) -> Result<bool, Halted> {
        let channel = ResolvedChannel {
            id: self.channel,
            access_hash: None,
            username: None,
            title: chat.title.clone(),
        };
        let observed = Sighting {
            origin: Origin::Import,
            at: Utc::now(),
        };
        let store = self.store;
        self.chat = Some(
            self.timed(store.begin_import(&channel, observed))
                .expect("chat begun"),
        );
        Ok(true)
    }

    fn message(&mut self, message: MessageRow) -> Result<(), Halted> {
        self.page.push(message);
        if self.page.len() == MAX_BATCH {
            self.flush();
        }
        Ok(())
    }

    fn chat_end(&mut self) -> Result<(), Halted> {
        if !self.page.is_empty() {
            self.flush();
        }
        let chat = self.chat.take().expect("a chat is open");
        self.timed(chat.commit(Utc::now())).expect("chat committed");
        Ok(())
    }
}

/// Storage alone on the export at `path`, into channel `channel`: messages a second.
fn storage_only(path: &Path, channel: i64, runtime: &Runtime, store: &Store) -> f64 {
    let mut sink = StorageOnly {
        runtime,
        store,
        channel,
        chat: None,
        page: Vec::with_capacity(MAX_BATCH),
        stored: 0,
        storing: Duration::ZERO,
    };
    let reader = collector_job::export::reader::open(path).expect("the export opens");
    collector_job::export::reader::read(reader, &mut LocalDates::new(None), &[], &mut sink)
        .expect("the export reads");
    sink.stored as f64 / sink.storing.as_secs_f64()
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

/// Imports an export of `megabytes` into channel `channel` (a fresh one), then stores it
/// alone into channel `channel + 1`.
fn measure(
    dir: &Path,
    megabytes: u64,
    channel: i64,
    database_url: &str,
    runtime: &Runtime,
    store: &Store,
) -> Measured {
    let path = dir.join(format!("result-{megabytes}mb.json"));
    let messages = generate(&path, channel, megabytes << 20);
    let file = std::fs::metadata(&path).unwrap().len();
    let (elapsed, peak) = import(&path, database_url);
    let storage_rate = storage_only(&path, channel + 1, runtime, store);
    std::fs::remove_file(&path).unwrap();
    Measured {
        file,
        messages,
        seconds: elapsed.as_secs_f64(),
        peak,
        storage_rate,
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

    // The bench's own store runs as a collector's does.
    let pool = runtime
        .block_on(collector_job::store::pool_options().connect(&database_url))
        .expect("connect to the bench database");
    let store = Store::new(pool);
    let small = measure(
        &dir,
        env_number::<u64>("BENCH_SMALL_MB", 128),
        1_777_000_001,
        &database_url,
        &runtime,
        &store,
    );
    let large = measure(
        &dir,
        env_number::<u64>("BENCH_LARGE_MB", 1024),
        1_777_000_003,
        &database_url,
        &runtime,
        &store,
    );
    println!(
        "export size  messages    seconds  messages/s  peak RSS   RSS / file  storage only/s  import / storage"
    );
    let mut met = true;
    for m in [&small, &large] {
        let rate = m.messages as f64 / m.seconds;
        met &= rate / m.storage_rate >= THRESHOLD;
        println!(
            "{:>8.0} MiB {:>9} {:>10.1} {:>11.0} {:>6.1} MiB {:>10.3} {:>15.0} {:>16.2}x",
            mib(m.file),
            m.messages,
            m.seconds,
            rate,
            mib(m.peak),
            m.peak as f64 / m.file as f64,
            m.storage_rate,
            rate / m.storage_rate
        );
    }
    println!(
        "target: import >= {THRESHOLD}x storage alone for both sizes: {}",
        if met { "met" } else { "NOT met" }
    );
    println!(
        "peak RSS, large / small export: {:.2} for {:.1}x the file size",
        large.peak as f64 / small.peak as f64,
        large.file as f64 / small.file as f64
    );
    let children = getrusage(UsageWho::RUSAGE_CHILDREN).unwrap().max_rss() as u64 * 1024;
    println!("largest child (getrusage): {:.1} MiB", mib(children));

    std::fs::remove_dir_all(&dir).unwrap();
    runtime.block_on(store.pool().close());
    runtime.block_on(scratch.drop());
}
