//! Which channels each account of a sharded run collects.
//!
//! A run on several accounts lasts as long as its slowest account, so the channels are spread
//! to make that makespan short: channels with history (their expected duration from previous
//! runs) are placed longest first onto the least loaded account (LPT, within 4/3 of the best
//! possible); channels without history go where a stable hash of their name puts them, so
//! they land on the same account run after run until they have history. A channel stays on
//! the account that collected it last time when that costs at most [`STICKY_SLACK`] of the
//! ideal makespan: that account has its access hash cached and skips a rate-limited resolve.
//!
//! Pure: loads in, assignment out.

use sha2::{Digest, Sha256};

/// How much longer than the ideal makespan an account may get from keeping its channels.
pub const STICKY_SLACK: f64 = 0.05;

/// One channel to place.
#[derive(Clone, Debug, PartialEq)]
pub struct ChannelLoad<'a> {
    /// The channel as the audit log names it (its key in the history).
    pub key: &'a str,
    /// Expected seconds, from previous runs; `None` without history.
    pub expected: Option<f64>,
    /// Index of the account that collected it in the previous run, if still configured.
    pub previous: Option<usize>,
}

/// How channels are spread over accounts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// By history (LPT), sticky, hashing only what has no history.
    Balanced,
    /// By a stable hash of the channel alone (the baseline the benchmark compares with).
    Hash,
}

/// The channels (indices into `channels`) each of `accounts` accounts collects, in the order
/// given; every channel appears exactly once. `accounts` must be at least 1.
pub fn assign(
    channels: &[ChannelLoad<'_>],
    accounts: usize,
    strategy: Strategy,
) -> Vec<Vec<usize>> {
    assert!(accounts >= 1, "a run has at least one account");
    let mut shards = vec![Vec::new(); accounts];
    if strategy == Strategy::Hash {
        for (index, channel) in channels.iter().enumerate() {
            shards[stable_shard(channel.key, accounts)].push(index);
        }
        return shards;
    }

    let known: Vec<f64> = channels.iter().filter_map(|c| c.expected).collect();
    // A channel without history costs what an average channel costs.
    let unknown_cost = if known.is_empty() {
        1.0
    } else {
        known.iter().sum::<f64>() / known.len() as f64
    };
    let cost = |c: &ChannelLoad<'_>| c.expected.unwrap_or(unknown_cost).max(0.0);
    let total: f64 = channels.iter().map(cost).sum();
    let longest = channels.iter().map(cost).fold(0.0, f64::max);
    let ideal = (total / accounts as f64).max(longest);
    let sticky_bound = ideal * (1.0 + STICKY_SLACK);
    let previous = |c: &ChannelLoad<'_>| c.previous.filter(|p| *p < accounts);

    let mut load = vec![0.0; accounts];
    // Without history: where they were last time, else where the hash says.
    for (index, channel) in channels.iter().enumerate() {
        if channel.expected.is_none() {
            let shard = previous(channel).unwrap_or_else(|| stable_shard(channel.key, accounts));
            shards[shard].push(index);
            load[shard] += cost(channel);
        }
    }
    // With history: longest first onto the least loaded account, or kept where it was.
    let mut order: Vec<usize> = (0..channels.len())
        .filter(|i| channels[*i].expected.is_some())
        .collect();
    order.sort_by(|a, b| {
        cost(&channels[*b])
            .total_cmp(&cost(&channels[*a]))
            .then_with(|| channels[*a].key.cmp(channels[*b].key))
    });
    for index in order {
        let channel = &channels[index];
        let lightest = (0..accounts)
            .min_by(|a, b| load[*a].total_cmp(&load[*b]))
            .expect("at least one account");
        let shard = match previous(channel) {
            Some(p) if load[p] + cost(channel) <= sticky_bound => p,
            _ => lightest,
        };
        shards[shard].push(index);
        load[shard] += cost(channel);
    }
    for shard in &mut shards {
        shard.sort_unstable();
    }
    shards
}

/// The account a channel's name hashes to: the same for the same name and number of
/// accounts, on every replica and release (SHA-256, not the std hasher).
pub fn stable_shard(key: &str, accounts: usize) -> usize {
    let digest = Sha256::digest(key.as_bytes());
    let head = u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"));
    (head % accounts as u64) as usize
}

/// The longest total of `costs` over the shards of `assignment`.
pub fn makespan(assignment: &[Vec<usize>], costs: &[f64]) -> f64 {
    assignment
        .iter()
        .map(|shard| shard.iter().map(|i| costs[*i]).sum::<f64>())
        .fold(0.0, f64::max)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loads(names: &[String], costs: &[Option<f64>]) -> Vec<ChannelLoad<'static>> {
        names
            .iter()
            .zip(costs)
            .map(|(n, c)| ChannelLoad {
                key: Box::leak(n.clone().into_boxed_str()),
                expected: *c,
                previous: None,
            })
            .collect()
    }

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("channel{i}")).collect()
    }

    fn each_once(assignment: &[Vec<usize>], n: usize) {
        let mut all: Vec<usize> = assignment.iter().flatten().copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..n).collect::<Vec<_>>());
    }

    /// Sizes like real channels: a few huge, many small (deterministic pseudo-Pareto).
    fn uneven(n: usize) -> Vec<f64> {
        (0..n)
            .map(|i| {
                let u = ((i * 7919 + 13) % 1000) as f64 / 1000.0 + 0.0005;
                (10.0 / u.powf(0.8)).min(2_000.0)
            })
            .collect()
    }

    #[test]
    fn every_channel_is_collected_exactly_once() {
        let names = names(37);
        let costs: Vec<Option<f64>> = (0..37).map(|i| (i % 3 != 0).then_some(i as f64)).collect();
        for accounts in [1, 2, 4, 20, 50] {
            for strategy in [Strategy::Balanced, Strategy::Hash] {
                let assignment = assign(&loads(&names, &costs), accounts, strategy);
                assert_eq!(assignment.len(), accounts);
                each_once(&assignment, 37);
            }
        }
    }

    #[test]
    fn one_account_collects_everything_in_the_given_order() {
        let names = names(5);
        let costs = [Some(3.0), None, Some(9.0), Some(1.0), None];
        let assignment = assign(&loads(&names, &costs), 1, Strategy::Balanced);
        assert_eq!(assignment, vec![vec![0, 1, 2, 3, 4]]);
    }

    #[test]
    fn history_balances_within_the_lpt_bound() {
        let names = names(200);
        let costs = uneven(200);
        let known: Vec<Option<f64>> = costs.iter().copied().map(Some).collect();
        for accounts in [2, 3, 4, 7] {
            let assignment = assign(&loads(&names, &known), accounts, Strategy::Balanced);
            let lower = (costs.iter().sum::<f64>() / accounts as f64)
                .max(costs.iter().copied().fold(0.0, f64::max));
            let bound = (4.0 / 3.0 - 1.0 / (3.0 * accounts as f64)) * lower;
            let got = makespan(&assignment, &costs);
            assert!(got <= bound + 1e-9, "{accounts} accounts: {got} > {bound}");
        }
    }

    #[test]
    fn balanced_beats_hashing_on_uneven_channels() {
        let names = names(200);
        let costs = uneven(200);
        let known: Vec<Option<f64>> = costs.iter().copied().map(Some).collect();
        let balanced = makespan(
            &assign(&loads(&names, &known), 4, Strategy::Balanced),
            &costs,
        );
        let hashed = makespan(&assign(&loads(&names, &known), 4, Strategy::Hash), &costs);
        assert!(balanced < hashed, "balanced {balanced} vs hash {hashed}");
    }

    #[test]
    fn channels_without_history_follow_a_stable_hash() {
        let names = names(50);
        let unknown = vec![None; 50];
        let first = assign(&loads(&names, &unknown), 4, Strategy::Balanced);
        assert_eq!(first, assign(&loads(&names, &unknown), 4, Strategy::Hash));
        for (shard, channels) in first.iter().enumerate() {
            for index in channels {
                assert_eq!(stable_shard(&names[*index], 4), shard);
            }
        }
        // Pinned digests: the placement depends on neither the process nor the release.
        assert_eq!(stable_shard("durov", 4), 3);
        assert_eq!(stable_shard("telegram", 4), 2);
        assert_eq!(stable_shard("telegram", 7), 6);
    }

    #[test]
    fn a_channel_stays_on_its_account_when_that_costs_little() {
        let names = names(4);
        let mut channels = loads(&names, &[Some(10.0), Some(10.0), Some(10.0), Some(10.0)]);
        // Plain LPT would put channel0 on account 0; it collected on account 1 last time.
        channels[0].previous = Some(1);
        channels[1].previous = Some(1);
        let assignment = assign(&channels, 2, Strategy::Balanced);
        assert!(
            assignment[1].contains(&0) && assignment[1].contains(&1),
            "{assignment:?}"
        );
        assert_eq!(makespan(&assignment, &[10.0; 4]), 20.0);
    }

    #[test]
    fn stickiness_never_costs_more_than_the_slack() {
        let names = names(6);
        let mut channels = loads(
            &names,
            &[
                Some(30.0),
                Some(30.0),
                Some(10.0),
                Some(10.0),
                Some(10.0),
                Some(10.0),
            ],
        );
        // Everything was on account 0 last time: keeping it all there would double the run.
        for channel in &mut channels {
            channel.previous = Some(0);
        }
        let costs = [30.0, 30.0, 10.0, 10.0, 10.0, 10.0];
        let assignment = assign(&channels, 2, Strategy::Balanced);
        assert!(makespan(&assignment, &costs) <= 50.0 * (1.0 + STICKY_SLACK));
        // A previous account that is no longer configured is ignored.
        channels[0].previous = Some(9);
        each_once(&assign(&channels, 2, Strategy::Balanced), 6);
    }

    #[test]
    fn unknown_channels_stay_where_they_were_and_count_as_average() {
        let names = names(3);
        let mut channels = loads(&names, &[None, Some(4.0), Some(4.0)]);
        channels[0].previous = Some(1);
        let assignment = assign(&channels, 2, Strategy::Balanced);
        assert!(assignment[1].contains(&0), "{assignment:?}");
        // The unknown one weighs like an average (4s), so the two known ones do not both
        // pile onto account 0.
        assert_eq!(makespan(&assignment, &[4.0, 4.0, 4.0]), 8.0);
    }
}
