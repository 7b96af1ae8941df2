//! Media destinations: MB/s of the collector's path into each destination (a multipart
//! upload under a staging key, hashed with sha256, then moved to its content address)
//! against a plain copy of the same bytes into the same destination (the same multipart
//! upload, no hash, no move), and the process's peak RSS after each size: the path streams,
//! so the peak stays flat while the files grow. Files are made part by part (512 KiB, as
//! Telegram sends them) and never held whole.
//!
//!     cargo bench -p collector-job --bench media_store
//!
//! BENCH_MEDIA_SIZES_MIB (default `64,256,1024`) sets the file sizes, ascending;
//! BENCH_MEDIA_ROUNDS (default 3) the alternating rounds per size. The S3 rows need
//! `s3s-fs` (scripts/test installs it; `S3S_FS` names another binary) and are left out,
//! saying so, without it.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use collector_job::media::destination::{Destination, UPLOAD_PART};
use collector_job::media::plan::PART_LIMIT;
use contract::media::MediaStore;
use object_store::path::Path;
use object_store::{ObjectStoreExt, WriteMultipart};

mod common;
use common::{env_number, high_water_mark_kib};

const ACCESS_KEY: &str = "bench-access";
const SECRET_KEY: &str = "bench-secret";

/// Part `index` of a synthetic file: a fixed pattern stamped with its index.
fn part(buffer: &mut [u8], index: u64) {
    buffer[..8].copy_from_slice(&index.to_le_bytes());
}

fn parts(size: u64) -> impl Iterator<Item = (u64, usize)> {
    let limit = u64::from(PART_LIMIT);
    (0..size.div_ceil(limit)).map(move |i| (i, (size - i * limit).min(limit) as usize))
}

async fn collector_path(destination: &Destination, size: u64) -> Duration {
    let mut buffer = pattern();
    let started = Instant::now();
    let mut upload = destination.begin().await.expect("an upload starts");
    for (index, len) in parts(size) {
        part(&mut buffer, index);
        upload
            .write(&buffer[..len])
            .await
            .expect("a part is written");
    }
    upload.finish().await.expect("the file is stored");
    started.elapsed()
}

async fn plain_copy(destination: &Destination, size: u64, round: usize) -> Duration {
    let mut buffer = pattern();
    let started = Instant::now();
    let key = Path::from(format!("{}plain/{size}-{round}", destination.prefix()));
    let upload = destination
        .store()
        .put_multipart(&key)
        .await
        .expect("an upload starts");
    let mut writer = WriteMultipart::new_with_chunk_size(upload, UPLOAD_PART);
    for (index, len) in parts(size) {
        part(&mut buffer, index);
        writer.wait_for_capacity(2).await.expect("a part uploads");
        writer.write(&buffer[..len]);
    }
    writer.finish().await.expect("the copy completes");
    let elapsed = started.elapsed();
    destination.store().delete(&key).await.expect("removed");
    elapsed
}

fn pattern() -> Vec<u8> {
    (0..PART_LIMIT).map(|i| (i * 31 % 251) as u8).collect()
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

fn mb_per_s(size: u64, took: Duration) -> f64 {
    size as f64 / 1e6 / took.as_secs_f64()
}

fn scratch(what: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("media-bench-{what}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    dir
}

fn start_s3(root: &std::path::Path) -> Option<(Child, String)> {
    let binary = std::env::var("S3S_FS").unwrap_or_else(|_| "s3s-fs".into());
    std::fs::create_dir_all(root.join("bench")).ok()?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .ok()?
        .port();
    let child = Command::new(&binary)
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
        .arg(root)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let address = format!("127.0.0.1:{port}");
    let started = Instant::now();
    while std::net::TcpStream::connect(&address).is_err() {
        if started.elapsed() > Duration::from_secs(20) {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Some((child, format!("http://{address}")))
}

#[tokio::main]
async fn main() {
    let sizes: Vec<u64> = std::env::var("BENCH_MEDIA_SIZES_MIB")
        .unwrap_or_else(|_| "64,256,1024".into())
        .split(',')
        .map(|s| s.trim().parse::<u64>().expect("sizes in MiB") << 20)
        .collect();
    let rounds: usize = env_number("BENCH_MEDIA_ROUNDS", 3);

    let directory_root = scratch("directory");
    let s3_root = scratch("s3");
    let mut destinations = vec![(
        "directory",
        Destination::open(&MediaStore::Directory {
            path: directory_root.display().to_string(),
        })
        .expect("the directory opens"),
    )];
    let server = start_s3(&s3_root);
    match &server {
        Some((_, endpoint)) => destinations.push((
            "s3 (s3s-fs)",
            Destination::open_with(
                &MediaStore::S3 {
                    bucket: "bench".into(),
                    prefix: "tg/".into(),
                    endpoint: Some(endpoint.clone()),
                    region: Some("us-east-1".into()),
                    path_style: true,
                },
                object_store::aws::AmazonS3Builder::new()
                    .with_access_key_id(ACCESS_KEY)
                    .with_secret_access_key(SECRET_KEY),
            )
            .expect("the bucket opens"),
        )),
        None => println!("s3s-fs not found or not listening: S3 rows left out"),
    }

    println!(
        "{:<12} {:>9} {:>14} {:>14} {:>7} {:>14}",
        "destination", "size MiB", "collector MB/s", "plain MB/s", "ratio", "peak RSS MiB"
    );
    for (name, destination) in &destinations {
        for &size in &sizes {
            let (mut ours, mut plain) = (Vec::new(), Vec::new());
            for round in 0..rounds {
                plain.push(plain_copy(destination, size, round).await);
                ours.push(collector_path(destination, size).await);
            }
            let (ours, plain) = (mb_per_s(size, median(ours)), mb_per_s(size, median(plain)));
            let peak = high_water_mark_kib(std::process::id()).unwrap_or(0) / 1024;
            println!(
                "{name:<12} {:>9} {ours:>14.1} {plain:>14.1} {:>7.2} {peak:>14}",
                size >> 20,
                ours / plain
            );
        }
    }
    if let Some((mut child, _)) = server {
        let _ = child.kill();
        let _ = child.wait();
    }
    let _ = std::fs::remove_dir_all(&directory_root);
    let _ = std::fs::remove_dir_all(&s3_root);
}
