//! Time left in a run, from what is known per channel.
//!
//! The seed divided the elapsed time by the channels done and multiplied by the channels left,
//! which is wrong whenever channels differ in size (one big channel makes every ETA before it
//! far too short, and every ETA after it far too long). Here each channel left is costed on its
//! own: the channel in progress by the collector's `remaining_estimate` (messages still to fetch
//! at the pace seen in that channel) or by its duration in previous runs, the channels after it
//! by their durations in previous runs; only channels never seen before fall back to this run's
//! average pace (or, before any channel is done, the average over the history).

use std::collections::HashSet;

use chrono::{DateTime, TimeDelta, Utc};
use contract::channel;

use super::durations::{ChannelDurations, secs_to_delta};
use super::runlog::Attempt;

/// Expected time until `attempt` finishes, or `None` when nothing is known to base it on.
/// Never negative.
pub fn remaining(
    attempt: &Attempt,
    history: &ChannelDurations,
    spec_channels: &[String],
    now: DateTime<Utc>,
) -> Option<TimeDelta> {
    if attempt.end.is_some() {
        return Some(TimeDelta::zero());
    }
    let total = attempt.total_channels.unwrap_or(spec_channels.len() as u32);
    let processed = attempt.processed();
    if processed >= total {
        return Some(TimeDelta::zero());
    }
    let boundary = attempt.last_boundary?;
    let started = attempt.started.unwrap_or(boundary);
    let secs = |d: TimeDelta| d.as_seconds_f64().max(0.0);

    // Cost of a channel nothing specific is known about.
    let pace = (processed > 0).then(|| secs(boundary - started) / f64::from(processed));
    let unknown_channel = pace.or_else(|| history.mean_secs());

    let order = order(attempt, history, spec_channels);
    let left = order.left.iter();
    let current_key = order.current_key;

    // The channel in progress. Time asleep in a flood wait is not work done on it.
    let waiting = attempt.flood_wait.as_ref().filter(|w| w.until > now);
    let wait_left = waiting.map_or(0.0, |w| secs(w.until - now));
    let worked_until = waiting.map_or(now, |w| {
        let wait_start = w.until - TimeDelta::seconds(i64::from(w.seconds));
        wait_start.max(boundary).min(now)
    });
    let in_channel = secs(worked_until - boundary);
    let by_messages = attempt.current.as_ref().and_then(|c| {
        let (remaining, at) = (c.remaining_estimate?, c.reported_at?);
        let spent = secs(at - boundary);
        (c.messages > 0 && spent > 0.0).then(|| {
            let per_message = spent / c.messages as f64;
            (remaining as f64 * per_message - secs(worked_until - at)).max(0.0)
        })
    });
    let current = match by_messages {
        Some(left) => left,
        None => {
            let expected = current_key
                .as_deref()
                .and_then(|k| history.expected_secs(k))
                .or(unknown_channel)?;
            (expected - in_channel).max(0.0)
        }
    } + wait_left;

    // The channels after it.
    let after = (total - processed - 1) as usize;
    let mut rest = 0.0;
    let mut costed = 0;
    for key in left.take(after) {
        rest += history.expected_secs(key).or(unknown_channel)?;
        costed += 1;
    }
    if costed < after {
        rest += unknown_channel? * (after - costed) as f64;
    }
    Some(secs_to_delta(current + rest))
}

/// Which channel is in progress and which are left, as far as the names tell.
struct Order {
    /// Key of the channel in progress: the one the collector named, else the next one in order.
    current_key: Option<String>,
    /// Its name as the spec or the collector writes it.
    current_name: Option<String>,
    /// Keys of the channels after it, in the order they will likely run.
    left: Vec<String>,
}

fn order(attempt: &Attempt, history: &ChannelDurations, spec_channels: &[String]) -> Order {
    let done: HashSet<String> = attempt.done.iter().map(|d| channel::key(&d.name)).collect();
    // The collector skips a channel written twice (`@durov`, `https://t.me/durov`): so do we.
    let mut spec: Vec<(String, &str)> = Vec::with_capacity(spec_channels.len());
    for channel in spec_channels {
        let key = channel::key(channel);
        if !spec.iter().any(|(k, _)| *k == key) {
            spec.push((key, channel));
        }
    }
    let history_order: Vec<(String, &str)> = history
        .order()
        .iter()
        .map(|k| (k.clone(), k.as_str()))
        .collect();
    let named = attempt.current.as_ref().map(|c| channel::key(&c.name));
    // Which names the collector writes (spec references or something else) decides whether
    // the spec's order or the previous run's order tells which channels are left.
    let seen = || done.iter().chain(named.iter());
    let order: &[(String, &str)] = if seen().all(|k| spec.iter().any(|(s, _)| s == k)) {
        &spec
    } else if seen().all(|k| history.order().contains(k)) {
        &history_order
    } else {
        &[]
    };
    let mut left = order
        .iter()
        .filter(|(k, _)| !done.contains(k) && Some(k) != named.as_ref());
    let (current_key, current_name) = match &attempt.current {
        Some(c) => (named.clone(), Some(c.name.clone())),
        None => match left.next() {
            Some((key, name)) => (Some(key.clone()), Some((*name).to_owned())),
            None => (None, None),
        },
    };
    Order {
        current_key,
        current_name,
        left: left.map(|(k, _)| k.clone()).collect(),
    }
}

/// The channel `attempt` is working on: the one the collector named in its latest channel
/// progress or flood wait, else the next channel in the spec's order when the collector writes
/// spec references.
pub fn current_channel(
    attempt: &Attempt,
    history: &ChannelDurations,
    spec_channels: &[String],
) -> Option<String> {
    if attempt.end.is_some() || attempt.processed() >= attempt.total_channels.unwrap_or(u32::MAX) {
        return None;
    }
    order(attempt, history, spec_channels).current_name
}

/// `secs` rounded to a step that grows with it (5 s under a minute, 10 s under 5 minutes, 30 s
/// under half an hour, a minute under 2 hours, then 5 minutes): at most about 8 % off, far
/// below the estimate's own error, and the status does not change (and need no patch) at
/// every refresh while a long run counts down. Work left never rounds to zero.
pub fn quantize(secs: i64) -> i64 {
    let secs = secs.max(0);
    let step = match secs {
        0..60 => 5,
        60..300 => 10,
        300..1_800 => 30,
        1_800..7_200 => 60,
        _ => 300,
    };
    if secs == 0 {
        0
    } else {
        ((secs + step / 2) / step).max(1) * step
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantized_steps() {
        for (secs, step) in [
            (0, 0),
            (1, 5),
            (3, 5),
            (22, 20),
            (23, 25),
            (59, 60),
            (64, 60),
            (65, 70),
            (299, 300),
            (310, 300),
            (325, 330),
            (1_799, 1_800),
            (1_830, 1_860),
            (7_199, 7_200),
            (7_351, 7_500),
            (-4, 0),
        ] {
            assert_eq!(quantize(secs), step, "{secs}s");
        }
    }
}
