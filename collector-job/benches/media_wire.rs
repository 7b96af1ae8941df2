//! Media downloads on the wire: MB/s of the real `collector-job collect` (a child process)
//! downloading one file from the fake Telegram DC (in this process, over loopback TCP, real
//! MTProto 2.0: encrypted 512 KiB `upload.getFile` parts) into each destination, against a
//! plain copy of the same bytes by the same route: the collector's Telegram client, in this
//! process, reading the same file part by part from the same fake DC and writing it with a
//! plain file write (directory) or a plain multipart upload (s3s-fs, the same 5 MiB parts,
//! two in flight) — no sha256, no staging key, no move, no database. The collector's time is
//! its run by the audit log's clock (`collection_start` to `collection_end`: the session
//! check, resolving the channel, its history page and rows, the file's rows included); the
//! plain copy's runs from connecting to the last byte written. The ratio is the price of all
//! the collector does around the bytes. The plain copy's client shares this process's two
//! runtime threads with the fake DC, the collector has a process of its own: on a busy
//! machine that can put the ratio above 1. Also the collector's peak RSS per file size, which
//! streaming keeps flat.
//!
//!     DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
//!         cargo bench -p collector-job --bench media_wire
//!
//! BENCH_MEDIA_WIRE_SIZES_MIB (default `64,512`) sets the file sizes, ascending;
//! BENCH_MEDIA_WIRE_ROUNDS (default 3) the alternating rounds per size (medians printed).
//! Targets: at least 0.8x the plain copy, and a peak RSS that does not grow with the file
//! (under 64 MiB at every size, a 2 GiB file included: `BENCH_MEDIA_WIRE_SIZES_MIB=64,2048`).
//! The S3 rows need `s3s-fs` (scripts/test installs it; `S3S_FS` names another binary) and
//! are left out, saying so, without it. Creates and drops a scratch database. Runs only under
//! `cargo bench`.

#[path = "common/collector_run.rs"]
mod collector_run;
#[path = "../tests/common/mod.rs"]
mod common;
#[path = "common/mod.rs"]
mod scratch;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use collector_job::media::destination::{Destination, UPLOAD_PART};
use collector_job::store::model::StoredChannel;
use collector_job::telegram::client::{MAX_PART, Telegram};
use collector_job::telegram::session::SessionBlob;
use collector_job::telegram::source::Source;
use collector_run::collect;
use common::s3::{BUCKET, S3Server};
use common::{API_ID, USER, Wire};
use contract::audit::AuditEvent;
use contract::channel::ChannelRef;
use contract::media::{MediaCounts, MediaKind, MediaSettings, MediaStore};
use fake_dc::{Account, Channel, File, FileKind, Scenario};
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStoreExt, WriteMultipart};
use scratch::{ScratchDatabase, env_number};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use tokio::io::AsyncWriteExt;

const TARGET_RATIO: f64 = 0.8;
const TARGET_RSS_MIB: f64 = 64.0;
/// Peak RSS this much above the smallest file's counts as growing with the size.
const RSS_SLACK_MIB: f64 = 8.0;

/// Where files go: a directory or a bucket on s3s-fs.
enum Target {
    Directory(PathBuf),
    S3(S3Server),
}

impl Target {
    fn label(&self) -> &'static str {
        match self {
            Self::Directory(_) => "directory",
            Self::S3(_) => "s3 (s3s-fs)",
        }
    }

    fn store(&self) -> MediaStore {
        match self {
            Self::Directory(path) => MediaStore::Directory {
                path: path.display().to_string(),
            },
            Self::S3(server) => MediaStore::S3 {
                bucket: BUCKET.into(),
                prefix: "tg/".into(),
                endpoint: Some(server.endpoint.clone()),
                region: Some("us-east-1".into()),
                path_style: true,
            },
        }
    }

    fn destination(&self) -> Destination {
        let credentials = match self {
            Self::S3(server) => server.credentials(),
            Self::Directory(_) => object_store::aws::AmazonS3Builder::new(),
        };
        Destination::open_with(&self.store(), credentials).expect("the destination opens")
    }

    /// The collector's environment: `COLLECTOR_MEDIA`, and S3 credentials.
    fn env(&self) -> Vec<(String, String)> {
        let settings = MediaSettings {
            kinds: MediaKind::ALL.to_vec(),
            max_file_size: None,
            max_bytes_per_run: None,
            newer_than: None,
            store: self.store(),
        };
        let mut env = vec![(
            "COLLECTOR_MEDIA".to_owned(),
            serde_json::to_string(&settings).expect("JSON"),
        )];
        if let Self::S3(server) = self {
            env.extend(server.env());
        }
        env
    }

    /// Removes every object (the next round writes its own file).
    async fn empty(&self) {
        let destination = self.destination();
        let store = destination.store();
        let listed: Vec<_> = store.list(None).try_collect().await.expect("a listing");
        for meta in listed {
            store.delete(&meta.location).await.expect("removed");
        }
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        if let Self::Directory(path) = self {
            let _ = std::fs::remove_dir_all(path);
        }
    }
}

/// One channel `@<username>` whose single message carries file `file_id` of `size` bytes.
fn scenario(channel_id: i64, username: &str, file_id: i64, size: u64) -> Scenario {
    Scenario::new().account(Account::new(USER)).channel(
        Channel::new(channel_id, username, 1).file(File::new(1, file_id, FileKind::Video, size)),
    )
}

/// The collector's run into `target`: MB/s by the audit log's clock and its peak RSS (KiB).
async fn collector(url: &str, pool: &PgPool, target: &Target, size: u64, n: i64) -> (f64, u64) {
    let username = format!("media{n}");
    let run_id = format!("media-wire-{n}");
    let env = target.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let measured = collect(
        url,
        scenario(10_000 + n, &username, 900_000_000 + n, size),
        &[format!("@{username}")],
        &run_id,
        &env,
    )
    .await;
    let end = contract::audit::read_run(pool, &run_id)
        .await
        .expect("audit rows")
        .into_iter()
        .find_map(|row| match row.event {
            Ok(AuditEvent::End(end)) => Some(end.media),
            _ => None,
        })
        .expect("collection_end");
    assert_eq!(
        end,
        MediaCounts {
            files_downloaded: 1,
            bytes_downloaded: size,
            ..MediaCounts::default()
        },
        "the collector stored the file"
    );
    (mb_per_s(size, measured.collecting), measured.peak_rss_kib)
}

/// Where the plain copy writes.
enum Sink {
    File(tokio::fs::File, PathBuf),
    Upload(WriteMultipart, Path, Destination),
}

impl Sink {
    async fn open(target: &Target, n: i64) -> Self {
        match target {
            Target::Directory(root) => {
                let path = root.join(format!("plain-{n}"));
                let file = tokio::fs::File::create(&path).await.expect("a file");
                Self::File(file, path)
            }
            Target::S3(_) => {
                let destination = target.destination();
                let key = Path::from(format!("plain/{n}"));
                let upload = destination
                    .store()
                    .put_multipart(&key)
                    .await
                    .expect("an upload starts");
                let writer = WriteMultipart::new_with_chunk_size(upload, UPLOAD_PART);
                Self::Upload(writer, key, destination)
            }
        }
    }

    async fn write(&mut self, bytes: &[u8]) {
        match self {
            Self::File(file, _) => file.write_all(bytes).await.expect("written"),
            Self::Upload(writer, _, _) => {
                writer.wait_for_capacity(2).await.expect("a part uploads");
                writer.write(bytes);
            }
        }
    }

    /// Completes the copy.
    async fn finish(self) -> Copied {
        match self {
            Self::File(mut file, path) => {
                file.flush().await.expect("flushed");
                Copied::File(path)
            }
            Self::Upload(writer, key, destination) => {
                writer.finish().await.expect("the copy completes");
                Copied::Object(key, destination)
            }
        }
    }
}

/// A finished plain copy, removed once measured.
enum Copied {
    File(PathBuf),
    Object(Path, Destination),
}

impl Copied {
    async fn remove(self) {
        match self {
            Self::File(path) => tokio::fs::remove_file(path).await.expect("removed"),
            Self::Object(key, destination) => {
                destination.store().delete(&key).await.expect("removed");
            }
        }
    }
}

/// The plain copy: the same kind of file from a fake DC of its own, read with the collector's
/// client part by part and written as it comes. Returns MB/s.
async fn plain_copy(target: &Target, size: u64, n: i64) -> f64 {
    let username = format!("plain{n}");
    let wire = Wire::start(scenario(20_000 + n, &username, 800_000_000 + n, size)).await;
    let blob = wire.dc.session(USER).expect("the account's session");
    let started = Instant::now();
    let session = SessionBlob::decode(&blob, "bench.session").expect("a session");
    let api_id: i32 = API_ID.parse().expect("a number");
    let (mut telegram, _floods) = Telegram::start(session, api_id, Duration::from_secs(60));
    let resolved = telegram
        .resolve(&ChannelRef::Username(username))
        .await
        .expect("the channel resolves");
    let channel = StoredChannel {
        id: resolved.id,
        access_hash: resolved.access_hash,
        legacy_hash: false,
        username: resolved.username,
        title: resolved.title,
        checkpoint: 0,
    };
    let batch = telegram
        .fetch_by_id(&channel, &[1])
        .await
        .expect("the message");
    let file = batch.files.into_iter().next().expect("its file");
    let mut sink = Sink::open(target, n).await;
    let mut offset = 0;
    loop {
        let part = telegram
            .download_part(&file, offset, MAX_PART)
            .await
            .expect("a part");
        sink.write(&part).await;
        offset += part.len() as u64;
        if part.len() < MAX_PART as usize || offset == file.size {
            break;
        }
    }
    let copied = sink.finish().await;
    let took = started.elapsed();
    assert_eq!(offset, size, "the whole file");
    copied.remove().await;
    mb_per_s(size, took)
}

fn mb_per_s(size: u64, took: Duration) -> f64 {
    size as f64 / 1e6 / took.as_secs_f64()
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn scratch_dir(what: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("media-wire-{what}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    dir
}

/// s3s-fs, when it can be run.
fn s3s_fs_installed() -> bool {
    let binary = std::env::var("S3S_FS").unwrap_or_else(|_| "s3s-fs".into());
    std::process::Command::new(binary)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // `cargo bench` passes `--bench`; test runners listing all targets must find no tests here.
    if !std::env::args().any(|arg| arg == "--bench") {
        return;
    }
    let admin_url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let sizes: Vec<u64> = std::env::var("BENCH_MEDIA_WIRE_SIZES_MIB")
        .unwrap_or_else(|_| "64,512".into())
        .split(',')
        .map(|s| s.trim().parse::<u64>().expect("sizes in MiB") << 20)
        .collect();
    let rounds = env_number::<i64>("BENCH_MEDIA_WIRE_ROUNDS", 3).max(1);

    let scratch = ScratchDatabase::create(&admin_url, "media_wire_bench").await;
    let url = scratch.url.clone();
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .connect(&url)
        .await
        .expect("connect to the bench database");
    contract::MIGRATOR.run(&pool).await.expect("migrate");

    let mut targets = vec![Target::Directory(scratch_dir("directory"))];
    if s3s_fs_installed() {
        targets.push(Target::S3(S3Server::start()));
    } else {
        println!("s3s-fs not found: S3 rows left out");
    }

    println!(
        "media_wire benchmark ({rounds} rounds, medians): collector-job collect (child process) \
         -> loopback fake DC (MTProto 2.0, 512 KiB parts) -> destination, vs the same client \
         copying the same bytes with a plain write"
    );
    println!(
        "{:<12} {:>9} {:>14} {:>11} {:>7} {:>22}",
        "destination",
        "size MiB",
        "collector MB/s",
        "plain MB/s",
        "ratio",
        "collector peak RSS MiB"
    );
    let mut n = 0;
    let mut lowest_ratio = f64::INFINITY;
    let mut rss_ok = true;
    for target in &targets {
        let mut peaks = Vec::new();
        for &size in &sizes {
            let (mut ours, mut plain, mut peak) = (Vec::new(), Vec::new(), 0);
            for _ in 0..rounds {
                n += 1;
                plain.push(plain_copy(target, size, n).await);
                let (rate, rss_kib) = collector(&url, &pool, target, size, n).await;
                ours.push(rate);
                peak = peak.max(rss_kib);
                target.empty().await;
            }
            let (ours, plain) = (median(&mut ours), median(&mut plain));
            let peak = peak as f64 / 1024.0;
            lowest_ratio = lowest_ratio.min(ours / plain);
            peaks.push(peak);
            println!(
                "{:<12} {:>9} {ours:>14.1} {plain:>11.1} {:>7.2} {peak:>22.1}",
                target.label(),
                size >> 20,
                ours / plain
            );
        }
        let smallest = peaks[0];
        let largest = peaks.iter().copied().fold(0.0, f64::max);
        let flat = largest - smallest <= RSS_SLACK_MIB && largest < TARGET_RSS_MIB;
        rss_ok &= flat;
        println!(
            "  {}: peak RSS {smallest:.1} MiB at {} MiB, at most {largest:.1} MiB up to {} MiB: {}",
            target.label(),
            sizes[0] >> 20,
            sizes[sizes.len() - 1] >> 20,
            if flat { "flat" } else { "grows" }
        );
    }
    let largest = sizes.iter().copied().max().unwrap_or(0);
    println!(
        "throughput target (collector >= {TARGET_RATIO}x the plain copy): {} (lowest ratio {lowest_ratio:.2})",
        if lowest_ratio >= TARGET_RATIO {
            "met"
        } else {
            "NOT met"
        }
    );
    println!(
        "memory target (peak RSS flat, under {TARGET_RSS_MIB} MiB): {}{}",
        if rss_ok { "met" } else { "NOT met" },
        if largest < 2 << 30 {
            " (no 2 GiB file in this run: BENCH_MEDIA_WIRE_SIZES_MIB=64,2048 measures one)"
        } else {
            ""
        }
    );

    drop(targets);
    pool.close().await;
    scratch.drop().await;
}
