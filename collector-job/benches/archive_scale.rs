//! Cost per page against a big archive: builds a realistic `messages` table at bench time
//! (generate_series: BENCH_ARCHIVE_ROWS over BENCH_ARCHIVE_CHANNELS channels plus one channel
//! of BENCH_BIG_CHANNEL), VACUUM ANALYZEs it (autovacuum does in production), then stores
//! through the real store API (`Store::store_batch`, pages of 100, storage only): a new channel
//! of BENCH_NEW_CHANNEL messages, BENCH_SMALL_CHANNELS new channels of BENCH_SMALL_MESSAGES, and
//! BENCH_ON_TOP new messages on top of the big channel. A plain archiver (one INSERT of five
//! columns per page of 100, ON CONFLICT DO NOTHING: no merge, no history) writes the same
//! shape on channels of its own, its pages alternating with the collector's. Prints msg/s, the
//! median page time of the first and last 10% of pages and their ratio (the plain archiver's
//! too: what the machine and the table's growth alone do), the ratio to the plain archiver,
//! and whether each target is met.
//!
//!     DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
//!         cargo bench -p collector-job --bench archive_scale
//!
//! Defaults: 10,000,000 archive rows over 1,000 channels, a big channel of 1,000,000, a new
//! channel of 1,000,000, 100 x 10,000, 20,000 on top. A quick run, e.g.:
//! BENCH_ARCHIVE_ROWS=2000000 BENCH_BIG_CHANNEL=200000 BENCH_NEW_CHANNEL=200000
//! BENCH_SMALL_CHANNELS=20 BENCH_SMALL_MESSAGES=10000. Creates and drops a scratch database.
//! Runs only under `cargo bench`.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use collector_job::app::config::MAX_BATCH;
use collector_job::store::Store;
use collector_job::store::model::MessageRow;
use sqlx::{Connection, PgConnection, PgPool};

#[path = "common/collector_run.rs"]
mod collector_run;
#[path = "../tests/common/mod.rs"]
mod common;
#[path = "common/mod.rs"]
mod scratch;

use collector_job::store::model::StoredChannel;
use collector_job::telegram::client::Telegram;
use collector_job::telegram::session::SessionBlob;
use collector_job::telegram::source::{Cursor, Source};
use common::{API_ID, USER, Wire};
use fake_dc::{Account, Channel, Scenario};
use scratch::{ScratchDatabase, env_number, high_water_mark_kib};

/// Last 10% of pages over first 10%: at most this, the cost of a page does not grow.
const TARGET_GROWTH: f64 = 1.2;
/// The collector against the plain archiver, which keeps far less per message: printed as a
/// rate (the collector 1.5x as fast) and as a cost (a message at most 1.5x the plain
/// archiver's time), met or not, whatever they are.
const TARGET_VS_PLAIN: f64 = 1.5;
/// The collector through the fake DC against storage alone: what fetching and mapping add.
const TARGET_VS_STORAGE: f64 = 0.8;

/// A page of channel-post-like rows, ids `first..first + count`, ~135 characters of text
/// like the archive's.
fn page(first: i64, count: usize) -> Vec<MessageRow> {
    let start = DateTime::from_timestamp(1_577_836_800, 0).expect("valid instant");
    scratch::posts(first, count, 3, start)
}

/// The plain archiver: five columns a page, no merge.
async fn plain_page(pool: &PgPool, channel_id: i64, rows: &[MessageRow]) {
    sqlx::query(
        "INSERT INTO messages (channel_id, message_id, date, text, views)
         SELECT $1, * FROM UNNEST($2::bigint[], $3::timestamptz[], $4::text[], $5::int[])
         ON CONFLICT DO NOTHING",
    )
    .bind(channel_id)
    .bind(rows.iter().map(|m| m.id).collect::<Vec<_>>())
    .bind(rows.iter().map(|m| m.date).collect::<Vec<_>>())
    .bind(rows.iter().map(|m| m.text.as_str()).collect::<Vec<_>>())
    .bind(rows.iter().map(|m| m.views).collect::<Vec<_>>())
    .execute(pool)
    .await
    .expect("plain page stored");
}

/// Each page's time, in order.
struct Pages(Vec<Duration>);

impl Pages {
    fn messages_per_second(&self, messages: usize) -> f64 {
        messages as f64 / self.0.iter().sum::<Duration>().as_secs_f64()
    }

    /// Median page time (ms) of the first and of the last 10% of pages.
    fn first_and_last_ms(&self) -> (f64, f64) {
        first_and_last(
            &self
                .0
                .iter()
                .map(|d| d.as_secs_f64() * 1e3)
                .collect::<Vec<_>>(),
        )
    }

    /// The growth of each page's time over its plain archiver twin's (written right after
    /// it): last 10% over first 10% of these ratios, which a machine's load cancels out of.
    fn growth_over(&self, plain: &Pages) -> f64 {
        let ratios: Vec<f64> = self
            .0
            .iter()
            .zip(&plain.0)
            .map(|(ours, theirs)| ours.as_secs_f64() / theirs.as_secs_f64())
            .collect();
        let (first, last) = first_and_last(&ratios);
        last / first
    }
}

/// Medians of the first and of the last 10% of `values`.
fn first_and_last(values: &[f64]) -> (f64, f64) {
    let tenth = (values.len() / 10).max(1);
    let median = |part: &[f64]| {
        let mut part = part.to_vec();
        part.sort_by(f64::total_cmp);
        part[part.len() / 2]
    };
    (
        median(&values[..tenth]),
        median(&values[values.len() - tenth..]),
    )
}

/// Writes a shape: page after page, the collector's and the plain archiver's alternately (a
/// machine busy with other work slows both alike), channel after channel. Returns each one's
/// page times.
async fn write(store: &Store, shape: &Shape) -> (Pages, Pages) {
    let now = Utc::now();
    let pages = shape.collector.len() * shape.each.div_ceil(MAX_BATCH);
    let (mut collected, mut plain) = (Vec::with_capacity(pages), Vec::with_capacity(pages));
    for (&channel, &plain_channel) in shape.collector.iter().zip(&shape.plain) {
        let mut first = 1;
        while first <= shape.each as i64 {
            let count = MAX_BATCH.min(shape.each + 1 - first as usize);
            let rows = page(shape.above + first, count);
            let through = rows.last().map_or(0, |m| m.id);
            let started = Instant::now();
            store
                .store_batch(channel, &rows, through, now)
                .await
                .expect("page stored");
            collected.push(started.elapsed());
            let rows = page(shape.plain_above + first, count);
            let started = Instant::now();
            plain_page(store.pool(), plain_channel, &rows).await;
            plain.push(started.elapsed());
            first += count as i64;
        }
    }
    (Pages(collected), Pages(plain))
}

/// New messages written into channels, each above id `above` (`plain_above` for the plain
/// archiver's channels).
struct Shape {
    name: String,
    collector: Vec<i64>,
    plain: Vec<i64>,
    above: i64,
    plain_above: i64,
    each: usize,
}

async fn remember(store: &Store, id: i64) {
    scratch::remember_channel(store, id, "scale").await;
}

/// The archive: `rows` over channels `1..=channels`, then `big` rows in channel
/// `channels + 1`, written by generate_series in one statement per 100 channels.
async fn build_archive(url: &str, rows: i64, channels: i64, big: i64) {
    let mut conn = PgConnection::connect(url).await.expect("connect");
    // Skips the foreign key's trigger per row while building (superusers only): the build is
    // set-up, not measured. Without it the build is slower, nothing else changes.
    if let Err(error) = sqlx::raw_sql("SET session_replication_role = replica")
        .execute(&mut conn)
        .await
    {
        println!("  (building with the foreign key checked: {error})");
    }
    sqlx::query(
        "INSERT INTO channels (id, username, title)
         SELECT g, 'archive' || g, 'archive ' || g FROM generate_series(1, $1::bigint + 1) g",
    )
    .bind(channels)
    .execute(&mut conn)
    .await
    .expect("archive channels");
    let insert = "INSERT INTO messages (channel_id, message_id, date, text, views, forwards,
                                        replies, post_author, reactions, media_kind, media,
                                        source, observed_at)
         SELECT c, g, timestamptz '2020-01-01' + g * interval '37 seconds',
                'Post ' || g || ': ' || repeat('Lorem ipsum dolor sit amet, consectetur. ', 3),
                1000 + g % 5000, g % 17, g % 9, 'Editor',
                jsonb_build_array(jsonb_build_object('type', 'emoji', 'emoji', '👍',
                                                     'count', g % 100)),
                CASE WHEN g % 5 = 0 THEN 'photo' END,
                CASE WHEN g % 5 = 0 THEN jsonb_build_object('photo_id', (g * 1000003)::text) END,
                'collect', now()
           FROM generate_series($1::bigint, $2::bigint) c, generate_series(1, $3::bigint) g";
    let per_channel = rows / channels.max(1);
    let mut from = 1;
    while from <= channels {
        let to = (from + 99).min(channels);
        sqlx::query(insert)
            .bind(from)
            .bind(to)
            .bind(per_channel)
            .execute(&mut conn)
            .await
            .expect("archive rows");
        from = to + 1;
    }
    sqlx::query(insert)
        .bind(channels + 1)
        .bind(channels + 1)
        .bind(big)
        .execute(&mut conn)
        .await
        .expect("the big channel");
    let _ = conn.close().await;
}

/// A shape collected through the fake DC: the collector's channels and the plain archiver's
/// twins (same sizes, their own ids), read for `each` messages: the collector's from its
/// channels' checkpoints, the plain archiver's after `plain_after`. New messages for both,
/// never ones a shape before wrote.
struct WireShape {
    name: String,
    collector: Vec<Channel>,
    plain: Vec<Channel>,
    plain_after: i64,
    each: usize,
    /// The storage-only rate of the same shape, measured above.
    storage_rate: f64,
}

/// The plain archiver through the fake DC: each page fetched with the collector's own
/// Telegram client (the same MTProto path), then its five columns INSERTed, one after the
/// other, as simple archivers do. Returns the messages written per second.
async fn plain_through_dc(pool: &PgPool, scenario: Scenario, shape: &WireShape) -> f64 {
    let wire = Wire::start(scenario).await;
    let session = SessionBlob::read(&wire.session(USER)).expect("the session file");
    let api_id = API_ID.parse().expect("a numeric api id");
    let (mut telegram, _floods) = Telegram::start(session, api_id, Duration::from_secs(300));
    let started = Instant::now();
    let mut written = 0;
    for channel in &shape.plain {
        let stored = StoredChannel {
            id: channel.id,
            access_hash: Some(channel.access_hash_for(USER)),
            legacy_hash: false,
            username: None,
            title: None,
            checkpoint: shape.plain_after,
        };
        let mut cursor = shape.plain_after;
        let mut left = shape.each;
        while left > 0 {
            let batch = telegram
                .fetch(&stored, Cursor::After(cursor), MAX_BATCH.min(left))
                .await
                .expect("a page of the plain archiver's channel");
            let Some(last) = batch.last_id else { break };
            plain_page(pool, channel.id, &batch.messages).await;
            written += batch.messages.len();
            left = left.saturating_sub(batch.messages.len());
            cursor = last;
        }
    }
    written as f64 / started.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() {
    // `cargo bench` passes `--bench`; test runners must find no tests here rather than run it.
    if !std::env::args().any(|arg| arg == "--bench") {
        return;
    }
    let admin_url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let archive_rows = env_number::<i64>("BENCH_ARCHIVE_ROWS", 10_000_000);
    let archive_channels = env_number::<i64>("BENCH_ARCHIVE_CHANNELS", 1_000).max(1);
    let big = env_number::<i64>("BENCH_BIG_CHANNEL", 1_000_000);
    let new_channel = env_number::<usize>("BENCH_NEW_CHANNEL", 1_000_000);
    let small_channels = env_number::<i64>("BENCH_SMALL_CHANNELS", 100);
    let small_messages = env_number::<usize>("BENCH_SMALL_MESSAGES", 10_000);
    let on_top = env_number::<usize>("BENCH_ON_TOP", 20_000);

    let scratch = ScratchDatabase::create(&admin_url, "collector_archive_bench").await;
    // The collector's own pool settings: storage alone is measured as a run stores.
    let pool = collector_job::store::pool_options()
        .max_connections(2)
        .connect(&scratch.url)
        .await
        .expect("connect to the bench database");
    contract::MIGRATOR.run(&pool).await.expect("migrate");
    let tls: bool = sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .fetch_one(&pool)
        .await
        .expect("read the connection's TLS state");
    let transport = if tls { "TLS" } else { "plain TCP" };
    println!(
        "archive scale benchmark (PostgreSQL over {transport}, scratch database {})",
        scratch.name
    );

    let started = Instant::now();
    build_archive(&scratch.url, archive_rows, archive_channels, big).await;
    let built = started.elapsed();
    let started = Instant::now();
    sqlx::raw_sql("VACUUM (ANALYZE) messages")
        .execute(&pool)
        .await
        .expect("vacuum analyze");
    let analyzed = started.elapsed();
    let (stored_rows, size): (i64, String) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM messages),
                pg_size_pretty(pg_total_relation_size('messages'))",
    )
    .fetch_one(&pool)
    .await
    .expect("archive size");
    println!(
        "  archive: {stored_rows} rows ({archive_channels} channels of {} and one of {big}), \
         {size} with indexes; built in {:.0} s, VACUUM ANALYZE in {:.0} s",
        archive_rows / archive_channels,
        built.as_secs_f64(),
        analyzed.as_secs_f64()
    );

    let store = Store::new(pool.clone());
    let big_channel = archive_channels + 1;
    // New channels: the collector's, then the plain archiver's, from here up.
    let mut next = archive_channels + 2;
    let mut fresh = |count: i64| {
        let ids: Vec<i64> = (next..next + count).collect();
        next += count;
        ids
    };
    let shapes = [
        Shape {
            name: format!("new channel of {new_channel}"),
            collector: fresh(1),
            plain: fresh(1),
            above: 0,
            plain_above: 0,
            each: new_channel,
        },
        Shape {
            name: format!("{small_channels} new channels of {small_messages}"),
            collector: fresh(small_channels),
            plain: fresh(small_channels),
            above: 0,
            plain_above: 0,
            each: small_messages,
        },
        // The plain archiver goes on above the collector's ids.
        Shape {
            name: format!("{on_top} on top of the channel of {big}"),
            collector: vec![big_channel],
            plain: vec![big_channel],
            above: big,
            plain_above: big + on_top as i64,
            each: on_top,
        },
    ];
    for id in archive_channels + 2..next {
        remember(&store, id).await;
    }

    println!(
        "  {:<36} {:>9} {:>10} {:>9} {:>9} {:>10} {:>10} {:>9} {:>9} {:>10}",
        "shape (pages of 100)",
        "messages",
        "msg/s",
        "first ms",
        "last ms",
        "last/first",
        "plain/s",
        "plain l/f",
        "l/f pairs",
        "vs plain"
    );
    let mut growth_met = true;
    let mut paired_met = true;
    let (mut plain_met, mut plain_cost_met) = (true, true);
    let mut storage_rates = Vec::with_capacity(shapes.len());
    for shape in &shapes {
        let messages = shape.collector.len() * shape.each;
        let (collected, plain) = write(&store, shape).await;
        let rate = collected.messages_per_second(messages);
        let plain_rate = plain.messages_per_second(messages);
        storage_rates.push(rate);
        let (first, last) = collected.first_and_last_ms();
        let (plain_first, plain_last) = plain.first_and_last_ms();
        growth_met &= last / first <= TARGET_GROWTH;
        paired_met &= collected.growth_over(&plain) <= TARGET_GROWTH;
        plain_met &= rate / plain_rate >= TARGET_VS_PLAIN;
        plain_cost_met &= rate / plain_rate >= 1.0 / TARGET_VS_PLAIN;
        println!(
            "  {:<36} {messages:>9} {rate:>10.0} {first:>9.2} {last:>9.2} {:>10.2} \
             {plain_rate:>10.0} {:>9.2} {:>9.2} {:>9.2}x",
            shape.name,
            last / first,
            plain_last / plain_first,
            collected.growth_over(&plain),
            rate / plain_rate
        );
    }
    let verdict = |met: bool| if met { "met" } else { "NOT met" };
    println!(
        "  target: last/first <= {TARGET_GROWTH} for every shape: {}",
        verdict(growth_met)
    );
    println!(
        "  the same over the plain archiver's page written next to each (l/f pairs): {}",
        verdict(paired_met)
    );
    println!(
        "  target: collector / plain archiver >= {TARGET_VS_PLAIN}x for every shape: {} \
         (the plain archiver writes 5 columns without merge or history)",
        verdict(plain_met)
    );
    println!(
        "  read as a cost (a message at most {TARGET_VS_PLAIN}x the plain archiver's time, >= {:.2}x its rate): {}",
        1.0 / TARGET_VS_PLAIN,
        verdict(plain_cost_met)
    );
    if let Some(kib) = high_water_mark_kib(std::process::id()) {
        println!("  bench process peak RSS: {:.1} MiB", kib as f64 / 1024.0);
    }

    // The same shapes collected for real: `collector-job collect` against the fake DC, and
    // the plain archiver reading the same DC.
    let wire_channel =
        |id: i64, messages: usize| Channel::new(id, &format!("wire{id}"), messages as i32);
    let mut wire_next = next + 1_000;
    let mut wire_fresh = |count: i64, messages: usize| {
        let channels: Vec<Channel> = (wire_next..wire_next + count)
            .map(|id| wire_channel(id, messages))
            .collect();
        wire_next += count;
        channels
    };
    // The big channel's own name, so the collector finds its stored row and checkpoint. Above
    // the archive's ids lie the ones storage alone wrote (the collector's, then the plain
    // archiver's), then the new ones the fake DC adds: the collector's, then the plain
    // archiver's.
    let on_top = on_top as i64;
    let big_on_the_dc = Channel::new(
        big_channel,
        &format!("archive{big_channel}"),
        (big + 4 * on_top) as i32,
    );
    sqlx::query("UPDATE channels SET checkpoint = $2 WHERE id = $1")
        .bind(big_channel)
        .bind(big + 2 * on_top)
        .execute(&pool)
        .await
        .expect("the big channel's checkpoint");
    let wire_shapes = [
        WireShape {
            name: shapes[0].name.clone(),
            collector: wire_fresh(1, new_channel),
            plain: wire_fresh(1, new_channel),
            plain_after: 0,
            each: new_channel,
            storage_rate: storage_rates[0],
        },
        WireShape {
            name: shapes[1].name.clone(),
            collector: wire_fresh(small_channels, small_messages),
            plain: wire_fresh(small_channels, small_messages),
            plain_after: 0,
            each: small_messages,
            storage_rate: storage_rates[1],
        },
        WireShape {
            name: shapes[2].name.clone(),
            collector: vec![big_on_the_dc.clone()],
            plain: vec![big_on_the_dc],
            plain_after: big + 3 * on_top,
            each: on_top as usize,
            storage_rate: storage_rates[2],
        },
    ];
    for channel in wire_shapes.iter().flat_map(|shape| &shape.plain) {
        if channel.id != big_channel {
            remember(&store, channel.id).await;
        }
    }
    println!(
        "  through the fake DC: `collector-job collect` (child process, MTProto over loopback) \
         and the plain archiver (fetch a page, INSERT it, next)"
    );
    println!(
        "  {:<36} {:>9} {:>10} {:>10} {:>10} {:>10} {:>12}",
        "shape", "messages", "msg/s", "vs storage", "plain/s", "vs plain", "peak RSS MiB"
    );
    let (mut storage_met, mut wire_plain_met, mut wire_cost_met) = (true, true, true);
    for (index, shape) in wire_shapes.iter().enumerate() {
        let mut scenario = Scenario::new().account(Account::new(USER));
        let mut ids = std::collections::BTreeSet::new();
        // The last shape's collector and plain archiver read one channel, at different ids.
        for channel in shape.collector.iter().chain(&shape.plain) {
            if ids.insert(channel.id) {
                scenario = scenario.channel(channel.clone());
            }
        }
        let names: Vec<String> = shape
            .collector
            .iter()
            .map(|c| format!("@{}", c.username.clone().unwrap_or_default()))
            .collect();
        let limits = format!("{{\"maxMessagesPerChannel\":{}}}", shape.each);
        let measured = collector_run::collect(
            &scratch.url,
            scenario.clone(),
            &names,
            &format!("archive-wire-{index}"),
            &[("COLLECTOR_LIMITS", limits.as_str())],
        )
        .await;
        assert_eq!(
            measured.edits, 0,
            "{}: the collector met stored messages, the shape is not new ones",
            shape.name
        );
        let rate = measured.rate();
        let plain_rate = plain_through_dc(&pool, scenario, shape).await;
        storage_met &= rate / shape.storage_rate >= TARGET_VS_STORAGE;
        wire_plain_met &= rate / plain_rate >= TARGET_VS_PLAIN;
        wire_cost_met &= rate / plain_rate >= 1.0 / TARGET_VS_PLAIN;
        println!(
            "  {:<36} {:>9} {rate:>10.0} {:>9.2}x {plain_rate:>10.0} {:>9.2}x {:>12.1}",
            shape.name,
            measured.messages,
            rate / shape.storage_rate,
            rate / plain_rate,
            measured.peak_rss_kib as f64 / 1024.0,
        );
    }
    println!(
        "  target: collector through the DC >= {TARGET_VS_STORAGE}x storage only for every shape: {}",
        verdict(storage_met)
    );
    println!(
        "  target: collector / plain archiver, both through the DC, >= {TARGET_VS_PLAIN}x for every shape: {}",
        verdict(wire_plain_met)
    );
    println!(
        "  read as a cost (a message at most {TARGET_VS_PLAIN}x the plain archiver's time, >= {:.2}x its rate): {}",
        1.0 / TARGET_VS_PLAIN,
        verdict(wire_cost_met)
    );

    pool.close().await;
    scratch.drop().await;
}
