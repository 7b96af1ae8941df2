//! ETA accuracy: replays synthetic runs whose channels differ wildly in size and prints the
//! mean absolute percentage error of the seed's flat-average ETA and of ours over each run.
//!
//! Run: `cargo bench -p operator --bench eta_accuracy` (`BENCH_COLLECTIONS=20`,
//! `BENCH_SEED=7` to vary the synthetic data). No database needed.

#[path = "../tests/common/progress.rs"]
mod common;

use common::{Attempt, Log, at, collection, flat_average, job_active, tracked};
use contract::audit::AuditRow;
use operator::status::runlog::RunLog;
use operator::status::{AuditInput, ChannelDurations, derive};

/// Seconds between two ETA samples of a replayed run.
const SAMPLE_EVERY: i64 = 5;
/// Previous runs available as history.
const HISTORY_RUNS: usize = 3;

/// A small deterministic generator (xorshift64*), so every run of the bench sees the same data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn range(&mut self, low: f64, high: f64) -> f64 {
        low + (high - low) * self.unit()
    }
}

/// One collection: its channels and how long each takes on average (1 s .. 10 min, heavy tail).
struct Synthetic {
    name: String,
    channels: Vec<String>,
    base_secs: Vec<f64>,
    /// Messages per second each channel yields.
    rate: Vec<f64>,
}

fn synthetic(rng: &mut Rng, index: usize) -> Synthetic {
    let n = 5 + (rng.next() % 36) as usize;
    let channels = (0..n).map(|i| format!("@chan{index}x{i}")).collect();
    // Log-uniform sizes: most channels are small, a few are huge.
    let base_secs = (0..n)
        .map(|_| (rng.range(0.0, 600f64.ln())).exp().max(1.0))
        .collect();
    let rate = (0..n).map(|_| rng.range(5.0, 50.0)).collect();
    Synthetic {
        name: format!("c{index}"),
        channels,
        base_secs,
        rate,
    }
}

/// Writes one run of `c` starting at `start`: each channel takes its base time ±20 %, one in
/// twenty gets a flood wait, long channels report `collection_channel_progress` with a
/// `remaining_estimate` off by up to ±25 %. Returns the rows and the run's end.
fn write_run(rng: &mut Rng, c: &Synthetic, run: &str, start: i64) -> (Vec<AuditRow>, i64) {
    let mut log = Log::new();
    let mut attempt = Attempt::start(&mut log, run, "pod", c.channels.len() as u32, start);
    let mut t = start;
    for (i, channel) in c.channels.iter().enumerate() {
        let took = (c.base_secs[i] * rng.range(0.8, 1.2)).round().max(1.0) as i64;
        let wait = if rng.unit() < 0.05 {
            rng.range(30.0, 120.0) as i64
        } else {
            0
        };
        let total_messages = (took as f64 * c.rate[i]) as u64;
        let began = t;
        // A flood wait halfway through the channel; work time `w` is wall time `wall(w)`.
        let wall = |w: i64| began + w + if w >= took / 2 { wait } else { 0 };
        if wait > 0 {
            attempt.flood(&mut log, channel, wait as u32, began + took / 2);
        }
        // Progress every 30 s inside long channels.
        let mut worked = 30;
        while worked < took {
            let done = (worked as f64 * c.rate[i]) as u64;
            let remaining = (total_messages - done) as f64 * rng.range(0.75, 1.25);
            attempt.inside(
                &mut log,
                channel,
                done,
                Some(remaining as u64),
                wall(worked),
            );
            worked += 30;
        }
        t = began + took + wait;
        attempt.done(&mut log, channel, total_messages, t);
    }
    attempt.end(&mut log, t, None);
    let mut rows = log.rows(run);
    // Flood-wait and progress rows were written in time order per channel; sort by time so a
    // replay cut at t sees exactly the rows written by then.
    rows.sort_by_key(|r| (r.timestamp, r.id));
    for (i, row) in rows.iter_mut().enumerate() {
        row.id = i as i64 + 1;
    }
    (rows, t)
}

/// Mean absolute percentage error over a replay, and the share of samples with an estimate.
#[derive(Default)]
struct Score {
    ape_sum: f64,
    samples: usize,
    estimated: usize,
}

impl Score {
    fn add(&mut self, estimate: Option<f64>, truth: f64) {
        self.samples += 1;
        if let Some(estimate) = estimate {
            self.estimated += 1;
            self.ape_sum += (estimate - truth).abs() / truth;
        }
    }
    fn mape(&self) -> f64 {
        100.0 * self.ape_sum / self.estimated.max(1) as f64
    }
    /// Share of the samples that were scored.
    fn coverage(&self) -> f64 {
        100.0 * self.estimated as f64 / self.samples.max(1) as f64
    }
}

/// Replays `rows` (a run from `start` to `end`) and scores both estimates at each sample;
/// samples where either has no estimate are left out of both, so they are scored alike.
fn replay(
    c: &Synthetic,
    rows: &[AuditRow],
    history: &ChannelDurations,
    start: i64,
    end: i64,
) -> (Score, Score) {
    let collection = collection(&c.channels.iter().map(String::as_str).collect::<Vec<_>>());
    let job = job_active("run", start);
    let (mut seed, mut ours) = (Score::default(), Score::default());
    let mut t = start + 1;
    while t < end {
        let seen: Vec<AuditRow> = rows
            .iter()
            .filter(|r| r.timestamp <= at(t))
            .cloned()
            .collect();
        let tracked = tracked(
            "run",
            Some(&job),
            AuditInput::Rows {
                rows: &seen,
                history,
            },
        );
        let our_estimate = derive(&collection, Some(&tracked), at(t)).estimated_time_remaining;
        let log = RunLog::from_rows(&seen);
        let seed_estimate = log
            .newest()
            .and_then(|a| flat_average(a, at(t)))
            .map(|d| d.num_seconds());
        let truth = (end - t) as f64;
        if let (Some(s), Some(o)) = (seed_estimate, our_estimate) {
            seed.add(Some(s as f64), truth);
            ours.add(Some(o as f64), truth);
        } else {
            seed.add(None, truth);
            ours.add(None, truth);
        }
        t += SAMPLE_EVERY;
    }
    (seed, ours)
}

fn main() {
    let collections: usize = std::env::var("BENCH_COLLECTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let seed_value: u64 = std::env::var("BENCH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(7);
    let mut rng = Rng(seed_value.max(1).wrapping_mul(0x9e37_79b9_7f4a_7c15));

    println!(
        "ETA accuracy: mean absolute percentage error over each replayed run (sample every {SAMPLE_EVERY} s)"
    );
    println!(
        "{:>4} {:>8} {:>9} {:>10} | {:>10} {:>10} | {:>10} {:>10} {:>9}",
        "run",
        "channels",
        "duration",
        "max/median",
        "seed MAPE",
        "ours MAPE",
        "seed (1st)",
        "ours (1st)",
        "scored"
    );
    let mut totals = [0.0f64; 4];
    for index in 0..collections {
        let c = synthetic(&mut rng, index);
        // Previous runs, newest first, then the replayed one.
        let mut past = Vec::new();
        for h in 0..HISTORY_RUNS {
            let (rows, _) = write_run(
                &mut rng,
                &c,
                &format!("{}-past{h}", c.name),
                -100_000 * (h as i64 + 1),
            );
            past.push(rows);
        }
        let history = ChannelDurations::from_runs(past.iter().map(Vec::as_slice));
        let (rows, end) = write_run(&mut rng, &c, &format!("{}-now", c.name), 0);
        let (seed, ours) = replay(&c, &rows, &history, 0, end);
        // The same run as a collection's first: no history, ours falls back to this run's pace
        // and the collector's remaining_estimate.
        let (seed_first, ours_first) = replay(&c, &rows, &ChannelDurations::default(), 0, end);

        let mut sizes = c.base_secs.clone();
        sizes.sort_by(f64::total_cmp);
        let skew = sizes[sizes.len() - 1] / sizes[sizes.len() / 2];
        println!(
            "{index:>4} {:>8} {:>8}s {:>9.0}x | {:>9.1}% {:>9.1}% | {:>9.1}% {:>9.1}% {:>8.0}%",
            c.channels.len(),
            end,
            skew,
            seed.mape(),
            ours.mape(),
            seed_first.mape(),
            ours_first.mape(),
            ours.coverage()
        );
        totals[0] += seed.mape();
        totals[1] += ours.mape();
        totals[2] += seed_first.mape();
        totals[3] += ours_first.mape();
    }
    let n = collections as f64;
    println!(
        "mean over {collections} runs: with history seed {:.1}% vs ours {:.1}% ({:.1}x better); first run (no history) seed {:.1}% vs ours {:.1}% ({:.1}x)",
        totals[0] / n,
        totals[1] / n,
        totals[0] / totals[1],
        totals[2] / n,
        totals[3] / n,
        totals[2] / totals[3]
    );
}
