//! End-to-end collection speed and memory: the real `collector-job collect` binary (a child
//! process) against the fake Telegram DC (in this process, over loopback TCP, real MTProto
//! 2.0: encryption, gzip_packed pages, grammers' sender), mapping and PostgreSQL. Two shapes:
//! one channel of 100,000 messages and 200 channels of 500 (a first run: each username is
//! resolved). Printed next to the storage-only figure for the same messages (the storage
//! bench's method: pages of 100 through `Store::store_batch`, no network) and Telegram's
//! ~100 messages/s per account, as ratios, with the collector's peak RSS.
//!
//!     DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
//!         cargo bench -p collector-job --bench collect_wire
//!
//! BENCH_ONE_CHANNEL (default 100000), BENCH_CHANNELS (200) and BENCH_CHANNEL_MESSAGES (500)
//! set the sizes, BENCH_ROUNDS (3) the alternating rounds (medians are printed). Creates and
//! drops a scratch database. Runs only under `cargo bench`.

#[path = "common/collector_run.rs"]
mod collector_run;
#[path = "../tests/common/mod.rs"]
mod common;
#[path = "common/mod.rs"]
mod scratch;

use std::time::Instant;

use collector_job::app::config::MAX_BATCH;
use collector_job::store::Store;
use collector_job::store::model::ResolvedChannel;
use collector_job::telegram::mapping;
use collector_run::{Measured, collect};
use common::USER;
use fake_dc::{Account, Channel, Scenario};
use scratch::{ScratchDatabase, env_number};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

/// Telegram's sustained history rate for one account, roughly.
const TELEGRAM_PER_ACCOUNT: f64 = 100.0;
const TARGET_RATE: f64 = 5_000.0;
const TARGET_RSS_MIB: f64 = 50.0;

/// Storage only, for the same posts: the fake DC's TL messages mapped by the collector's
/// mapping and stored in pages of 100 into a new channel `id`, no network.
async fn storage_only(pool: &PgPool, id: i64, messages: i32) -> f64 {
    let username = format!("storage{id}");
    let spec = Channel::new(id, &username, messages);
    let timeline = fake_dc::Timeline::new(&spec);
    let rows: Vec<_> = timeline
        .posts()
        .filter_map(|post| mapping::message_row(&fake_dc::answer::message(spec.id, &post)))
        .collect();
    let store = Store::new(pool.clone());
    store
        .remember_channel(
            &ResolvedChannel {
                id,
                access_hash: Some(1),
                username: Some(username),
                title: None,
            },
            USER,
            chrono::Utc::now(),
        )
        .await
        .expect("channel row");
    let now = chrono::Utc::now();
    let started = Instant::now();
    for page in rows.chunks(MAX_BATCH) {
        let through = page.last().map_or(0, |m| m.id);
        store
            .store_batch(id, page, through, now)
            .await
            .expect("page stored");
    }
    rows.len() as f64 / started.elapsed().as_secs_f64()
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Median rate and largest peak RSS of a shape's rounds, against storage only.
fn report(label: &str, runs: &[Measured], storage: f64) {
    let mut rates: Vec<f64> = runs.iter().map(Measured::rate).collect();
    let rate = median(&mut rates);
    let peak = runs.iter().map(|r| r.peak_rss_kib).max().unwrap_or(0) as f64 / 1024.0;
    let wall = runs
        .iter()
        .map(|r| r.wall.as_secs_f64())
        .fold(0.0, f64::max);
    println!(
        "  {label}: median {rate:.0} msg/s collecting (min {:.0}, max {:.0}; process wall time at most {wall:.2} s), peak RSS {peak:.1} MiB",
        rates[0],
        rates[rates.len() - 1],
    );
    println!(
        "      = {:.2}x storage only, {:.0}x Telegram's ~100 msg/s per account (targets: >= {:.0}x, RSS < {TARGET_RSS_MIB} MiB)",
        rate / storage,
        rate / TELEGRAM_PER_ACCOUNT,
        TARGET_RATE / TELEGRAM_PER_ACCOUNT,
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // `cargo bench` passes `--bench`; test runners listing all targets must find no tests here.
    if !std::env::args().any(|arg| arg == "--bench") {
        return;
    }
    let admin_url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let one = env_number::<i32>("BENCH_ONE_CHANNEL", 100_000);
    let many = env_number::<i64>("BENCH_CHANNELS", 200);
    let each = env_number::<i32>("BENCH_CHANNEL_MESSAGES", 500);
    let rounds = env_number::<i64>("BENCH_ROUNDS", 3).max(1);

    let scratch = ScratchDatabase::create(&admin_url, "collector_wire_bench").await;
    let url = scratch.url.clone();
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .connect(&url)
        .await
        .expect("connect to the bench database");
    contract::MIGRATOR.run(&pool).await.expect("migrate");

    // Alternating rounds (the machine may be busy with other work); each round collects new
    // channels, so every run is a first run of its channels.
    let (mut storage, mut single, mut spread) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        let base_id = 1_000_000 * (round + 1);
        storage.push(storage_only(&pool, base_id, 20_000).await);
        let username = format!("big{round}");
        let scenario = Scenario::new()
            .account(Account::new(USER))
            .channel(Channel::new(base_id + 1, &username, one));
        let run_id = format!("bench-one-{round}");
        single.push(collect(&url, scenario, &[format!("@{username}")], &run_id, &[]).await);

        let mut scenario = Scenario::new().account(Account::new(USER));
        let mut names = Vec::new();
        for i in 0..many {
            let username = format!("r{round}c{i:04}");
            names.push(format!("@{username}"));
            scenario = scenario.channel(Channel::new(base_id + 1_000 + i, &username, each));
        }
        let run_id = format!("bench-many-{round}");
        spread.push(collect(&url, scenario, &names, &run_id, &[]).await);
    }
    let storage = median(&mut storage);

    println!(
        "collect_wire benchmark ({rounds} rounds): collector-job collect (child process) -> loopback fake DC (MTProto 2.0) -> PostgreSQL ({})",
        scratch.name
    );
    println!(
        "  storage only (same posts, pages of {MAX_BATCH}, no network): median {storage:.0} msg/s"
    );
    report(&format!("1 channel x {one}"), &single, storage);
    report(&format!("{many} channels x {each}"), &spread, storage);

    pool.close().await;
    scratch.drop().await;
}
