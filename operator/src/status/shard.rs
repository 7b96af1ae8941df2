//! One index of a run: its plan (session, channels) and its audit rows. A sharded run
//! (`spec.sessions`) has one per account; an unsharded run is a run of one index whose
//! channels are the spec's, so both are derived by the same code.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, TimeDelta, Utc};
use contract::audit::{AuditRow, CollectionEnd};
use contract::channel;
use crds::{MAX_SHARDS, ShardState, ShardStatus};

use super::durations::ChannelDurations;
use super::eta;
use super::failure::Failure;
use super::runlog::{Attempt, RunLog};
use crate::job::{JobPhase, ShardPlan};

/// One index: what was planned for it and what its rows say.
pub(super) struct Shard<'a> {
    pub index: u32,
    /// Its session Secret's name; `None` for an unsharded run.
    pub session: Option<&'a str>,
    /// The channels it collects, as written in the spec; empty when unknown.
    pub channels: &'a [String],
    /// Kubernetes counts the index as failed (out of its own retries).
    pub retries_exhausted: bool,
    pub log: RunLog,
}

impl<'a> Shard<'a> {
    /// An unsharded run: one index collecting every channel of the spec.
    pub fn whole(channels: &'a [String], rows: &[AuditRow]) -> Self {
        Shard {
            index: 0,
            session: None,
            channels,
            retries_exhausted: false,
            log: RunLog::from_rows(rows),
        }
    }

    /// A sharded run's indexes: every planned one, and any other that wrote rows.
    pub fn split(plan: &'a [ShardPlan], rows: &[AuditRow]) -> Vec<Self> {
        let mut grouped: BTreeMap<u32, Vec<AuditRow>> = (0..plan.len())
            .filter_map(|i| u32::try_from(i).ok())
            .map(|i| (i, Vec::new()))
            .collect();
        for row in rows {
            // An untagged row in a sharded run can only be index 0's.
            grouped
                .entry(row.shard.unwrap_or(0))
                .or_default()
                .push(row.clone());
        }
        grouped
            .into_iter()
            .map(|(index, rows)| {
                let planned = plan.get(index as usize);
                Shard {
                    index,
                    session: Some(planned.map_or("unknown", |p| p.session.as_str())),
                    channels: planned.map_or(&[], |p| p.channels.as_slice()),
                    retries_exhausted: planned.is_some_and(|p| p.failed),
                    log: RunLog::from_rows(&rows),
                }
            })
            .collect()
    }

    /// The attempt status follows: the newest.
    pub fn attempt(&self) -> Option<&Attempt> {
        self.log.newest()
    }

    pub fn end(&self) -> Option<&CollectionEnd> {
        self.attempt().and_then(|a| a.end.as_ref())
    }

    pub fn started(&self) -> bool {
        self.attempt().is_some_and(|a| a.started.is_some())
    }

    /// Its channels: the collector's count once it said, else the planned ones, each once.
    pub fn total(&self) -> u32 {
        self.attempt()
            .and_then(|a| a.total_channels)
            .unwrap_or_else(|| u32::try_from(distinct(self.channels)).unwrap_or(u32::MAX))
    }

    /// Why it failed, as far as it can tell by itself: the collector's word on its own end, or
    /// Kubernetes having given up on it.
    pub fn failure(&self) -> Option<Failure> {
        match self.end() {
            Some(end) => Failure::of_end(end),
            None => self.retries_exhausted.then_some(Failure::RetriesExhausted),
        }
    }

    pub fn state(&self, phase: &JobPhase, now: DateTime<Utc>) -> ShardState {
        if self.failure().is_some() {
            return ShardState::Failed;
        }
        if self.end().is_some() {
            return ShardState::Succeeded;
        }
        match phase {
            // The Job is over and this index never said it finished.
            JobPhase::Failed { .. } => ShardState::Failed,
            JobPhase::Succeeded { .. } => ShardState::Succeeded,
            JobPhase::Active { .. } if !self.started() => ShardState::Starting,
            JobPhase::Active { .. } => match self.waiting_until(now) {
                Some(_) => ShardState::Waiting,
                None => ShardState::Collecting,
            },
        }
    }

    /// The end of the flood wait it sleeps in, once started.
    pub fn waiting_until(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let attempt = self.attempt()?;
        attempt.started?;
        attempt
            .flood_wait
            .as_ref()
            .map(|w| w.until)
            .filter(|until| *until > now)
    }

    /// Time left while the run is active; `None` when unknown.
    pub fn remaining(&self, history: &ChannelDurations, now: DateTime<Utc>) -> Option<TimeDelta> {
        match self.attempt() {
            Some(attempt) if attempt.started.is_some() || attempt.end.is_some() => {
                eta::remaining(attempt, history, self.channels, now)
            }
            // Not started yet: its channels' durations in previous runs, when all are known.
            _ => {
                if self.channels.is_empty() {
                    return None;
                }
                self.channels
                    .iter()
                    .map(|c| history.expected(c))
                    .sum::<Option<TimeDelta>>()
            }
        }
    }

    /// Channels done without an error: the collector's own count once it ended.
    pub fn synced(&self) -> u32 {
        match (self.end(), self.attempt()) {
            (Some(end), _) => end.channels_synced,
            (None, Some(a)) => a.processed().saturating_sub(a.errors()),
            (None, None) => 0,
        }
    }

    /// `shard 2 (secret tg-c): ` before what is said about it; nothing for an unsharded run.
    pub fn who(&self) -> String {
        match self.session {
            Some(session) => format!("shard {} (secret {session}): ", self.index),
            None => String::new(),
        }
    }
}

/// `status.shards` of a run nothing is known about but its plan.
pub(super) fn planned(plan: &[ShardPlan]) -> Vec<ShardStatus> {
    plan.iter()
        .take(MAX_SHARDS)
        .enumerate()
        .map(|(i, p)| ShardStatus {
            index: i32::try_from(i).unwrap_or(i32::MAX),
            session: p.session.clone(),
            channels_total: i32::try_from(distinct(&p.channels)).unwrap_or(i32::MAX),
            ..ShardStatus::default()
        })
        .collect()
}

/// Channels counted once however they are spelled, as the collector counts them.
pub(super) fn distinct(channels: &[String]) -> usize {
    channels
        .iter()
        .map(|c| channel::key(c))
        .collect::<HashSet<_>>()
        .len()
}
