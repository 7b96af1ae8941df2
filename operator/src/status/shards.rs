//! The status of a sharded run (`spec.sessions`): one Indexed Job whose every index writes its
//! own attempts, tagged with its `shard_index`. Each index is derived as an unsharded run is
//! (its newest attempt counts), then the run aggregates them: progress, messages and errors
//! summed, the ETA of the slowest index, `Collecting` while any index collects, `Waiting` only
//! while every collecting index waits; a failed index fails the run, named by its index and
//! its session Secret's name (never the Secret's content).

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, TimeDelta, Utc};
use contract::audit::{AuditRow, CollectionEnd, EndReason};
use contract::channel;
use crds::{
    ChannelCollection, ChannelCollectionStatus, CollectionState, MAX_SHARDS, RunResult, RunSummary,
    ShardState, ShardStatus,
};

use super::derive::{
    ABORTED, DerivedStatus, SESSION_INVALID, TrackedRun, ceil_seconds, finished_at, job_detail,
    merge_errors, outcome, resting_state, to_i32,
};
use super::eta;
use super::flood::flood_wait_seconds;
use super::history::ChannelHistory;
use super::runlog::{Attempt, RunLog};
use crate::job::{JobPhase, ShardPlan};
use crate::time::to_k8s;

/// `status.shards` of a run nothing is known about but its plan.
pub(crate) fn planned(plan: &[ShardPlan]) -> Vec<ShardStatus> {
    plan.iter()
        .take(MAX_SHARDS)
        .enumerate()
        .map(|(i, p)| ShardStatus {
            index: to_i32(i),
            session: p.session.clone(),
            channels_total: to_i32(distinct(&p.channels)),
            ..ShardStatus::default()
        })
        .collect()
}

/// One index: its plan and what its rows say.
struct Shard<'a> {
    index: u32,
    plan: Option<&'a ShardPlan>,
    log: RunLog,
}

impl Shard<'_> {
    fn attempt(&self) -> Option<&Attempt> {
        self.log.newest()
    }

    fn channels(&self) -> &[String] {
        self.plan.map_or(&[], |p| p.channels.as_slice())
    }

    fn session(&self) -> &str {
        self.plan.map_or("unknown", |p| p.session.as_str())
    }

    fn end(&self) -> Option<&CollectionEnd> {
        self.attempt().and_then(|a| a.end.as_ref())
    }

    fn started(&self) -> bool {
        self.attempt().is_some_and(|a| a.started.is_some())
    }

    fn total(&self) -> u32 {
        self.attempt()
            .and_then(|a| a.total_channels)
            .unwrap_or_else(|| u32::try_from(distinct(self.channels())).unwrap_or(u32::MAX))
    }

    /// The collector's reason for ending early, as it wrote it (`session_invalid`).
    fn end_reason(&self) -> Option<&'static str> {
        let end = self.end()?;
        match end.reason {
            Some(EndReason::SessionInvalid) => Some("session_invalid"),
            Some(EndReason::Terminated) => Some("terminated"),
            Some(EndReason::Other) => Some("other"),
            None if end.aborted => Some("aborted"),
            None => None,
        }
    }

    fn state(&self, phase: &JobPhase, now: DateTime<Utc>) -> ShardState {
        if self.end_reason().is_some() {
            return ShardState::Failed;
        }
        if self.end().is_some() {
            return ShardState::Succeeded;
        }
        if self.plan.is_some_and(|p| p.failed) {
            return ShardState::Failed;
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

    fn waiting_until(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let attempt = self.attempt()?;
        attempt.started?;
        attempt
            .flood_wait
            .as_ref()
            .map(|w| w.until)
            .filter(|until| *until > now)
    }

    /// Time left on this index while the run is active; `None` when unknown.
    fn remaining(&self, history: &ChannelHistory, now: DateTime<Utc>) -> Option<TimeDelta> {
        match self.attempt() {
            Some(attempt) if attempt.started.is_some() || attempt.end.is_some() => {
                eta::remaining(attempt, history, self.channels(), now)
            }
            // Not started yet: its channels' durations in previous runs, when all are known.
            _ => {
                let channels = self.channels();
                if channels.is_empty() {
                    return None;
                }
                channels
                    .iter()
                    .map(|c| history.expected(c))
                    .sum::<Option<TimeDelta>>()
            }
        }
    }
}

fn distinct(channels: &[String]) -> usize {
    channels
        .iter()
        .map(|c| channel::key(c))
        .collect::<HashSet<_>>()
        .len()
}

/// The status of a sharded run from its rows (every index, every attempt).
pub(crate) fn from_audit(
    collection: &ChannelCollection,
    run: &TrackedRun<'_>,
    rows: &[AuditRow],
    history: &ChannelHistory,
    previous: &ChannelCollectionStatus,
    now: DateTime<Utc>,
) -> DerivedStatus {
    let phase = &run.phase;
    let active = matches!(phase, JobPhase::Active { .. });
    let mut grouped: BTreeMap<u32, Vec<AuditRow>> = (0..run.shards.len())
        .filter_map(|i| u32::try_from(i).ok())
        .map(|i| (i, Vec::new()))
        .collect();
    for row in rows {
        // An untagged row in a sharded run can only be index 0's (the single shard).
        grouped
            .entry(row.shard.unwrap_or(0))
            .or_default()
            .push(row.clone());
    }
    let shards: Vec<Shard<'_>> = grouped
        .into_iter()
        .map(|(index, rows)| Shard {
            index,
            plan: run.shards.get(index as usize),
            log: RunLog::from_rows(&rows),
        })
        .collect();

    // Every attempt of every index, for what sums over attempts (messages, errors, start).
    let all = RunLog {
        attempts: shards
            .iter()
            .flat_map(|s| s.log.attempts.iter().cloned())
            .collect(),
        unreadable: shards.iter().map(|s| s.log.unreadable).sum(),
    };
    let states: Vec<ShardState> = shards.iter().map(|s| s.state(phase, now)).collect();

    let mut statuses = Vec::with_capacity(shards.len());
    let (mut total, mut processed, mut errors, mut messages) = (0u64, 0u64, 0u64, 0u64);
    let mut slowest = Some(TimeDelta::zero());
    for (shard, state) in shards.iter().zip(&states) {
        let attempt = shard.attempt();
        let shard_processed = attempt.map_or(0, Attempt::processed);
        let shard_errors = attempt.map_or(0, Attempt::errors);
        let shard_messages = shard.log.messages();
        total += u64::from(shard.total());
        processed += u64::from(shard_processed);
        errors += u64::from(shard_errors);
        messages += shard_messages;
        let left = active
            .then(|| match state {
                ShardState::Succeeded | ShardState::Failed => Some(TimeDelta::zero()),
                _ => shard.remaining(history, now),
            })
            .flatten();
        slowest = match (slowest, left) {
            (Some(a), Some(b)) => Some(a.max(b)),
            _ => None,
        };
        let current = match (active, attempt) {
            (true, Some(a)) if shard.started() => {
                eta::current_channel(a, history, shard.channels())
            }
            _ => None,
        };
        statuses.push(ShardStatus {
            index: i32::try_from(shard.index).unwrap_or(i32::MAX),
            session: shard.session().to_owned(),
            state: Some(*state),
            current_channel: current,
            channels_processed: to_i32(shard_processed as usize),
            channels_total: to_i32(shard.total() as usize),
            messages: i64::try_from(shard_messages).unwrap_or(i64::MAX),
            errors: to_i32(shard_errors as usize),
            estimated_time_remaining: left.map(|d| eta::quantize(ceil_seconds(d))),
            reason: shard.end_reason().map(str::to_owned).or_else(|| {
                (*state == ShardState::Failed).then(|| {
                    if shard.plan.is_some_and(|p| p.failed) {
                        "retries_exhausted".to_owned()
                    } else {
                        "no_collection_end".to_owned()
                    }
                })
            }),
        });
    }
    statuses.truncate(MAX_SHARDS);

    let started = all.started().or(run.job_started);
    let session_invalid = shards
        .iter()
        .any(|s| s.end_reason() == Some("session_invalid"));
    let collecting = states.contains(&ShardState::Collecting);
    let waiting = states.contains(&ShardState::Waiting);
    let state = if collecting {
        CollectionState::Collecting
    } else if waiting {
        CollectionState::Waiting
    } else if shards.iter().any(Shard::started) {
        // Some indexes are done, the others not started yet.
        CollectionState::Collecting
    } else {
        CollectionState::Starting
    };
    let current_channel = statuses
        .iter()
        .find(|s| s.state == Some(ShardState::Collecting) && s.current_channel.is_some())
        .or_else(|| statuses.iter().find(|s| s.current_channel.is_some()))
        .and_then(|s| s.current_channel.clone());
    let remaining = slowest.filter(|_| active && shards.iter().any(|s| s.attempt().is_some()));

    let mut status = DerivedStatus {
        state,
        progress: Some(format!("{processed}/{total}")),
        eta: None,
        currently_collecting: true,
        current_channel: if active { current_channel } else { None },
        channels_processed: to_i32(processed as usize),
        channels_total: to_i32(total as usize),
        messages_collected_current_run: i64::try_from(messages).unwrap_or(i64::MAX),
        errors_current_run: to_i32(errors as usize),
        flood_wait_seconds_current_run: flood_wait_seconds(rows),
        collection_start_time: started.map(to_k8s),
        estimated_time_remaining: None,
        waiting_until: None,
        recent_errors: merge_errors(&all, &previous.recent_errors),
        finished: None,
        session_invalid,
        progress_unavailable: None,
        shards: statuses,
    };

    if active {
        status.estimated_time_remaining = remaining.map(|d| eta::quantize(ceil_seconds(d)));
        status.eta = status
            .estimated_time_remaining
            .map(|secs| eta::human(TimeDelta::seconds(secs)));
        if state == CollectionState::Waiting {
            status.waiting_until = shards
                .iter()
                .filter_map(|s| s.waiting_until(now))
                .min()
                .map(to_k8s);
        }
        return status;
    }

    let (result, reason, message) = shard_outcome(phase, &shards, &states);
    let ends: Vec<&CollectionEnd> = shards.iter().filter_map(Shard::end).collect();
    let end_time = ends.iter().map(|e| e.end_time).max();
    let synced: u64 = shards
        .iter()
        .map(|s| match (s.end(), s.attempt()) {
            (Some(end), _) => u64::from(end.channels_synced),
            (None, Some(a)) => u64::from(a.processed().saturating_sub(a.errors())),
            (None, None) => 0,
        })
        .sum();
    let any_rows = !all.attempts.is_empty();
    let summary = RunSummary {
        job: run.id.clone(),
        start_time: started.map(to_k8s),
        end_time: Some(to_k8s(finished_at(phase, end_time, now))),
        result: Some(result),
        reason,
        message,
        messages: any_rows.then_some(status.messages_collected_current_run),
        channels_synced: any_rows.then(|| to_i32(synced as usize)),
        channels_total: any_rows.then_some(status.channels_total),
        errors: any_rows.then_some(status.errors_current_run),
    };
    status.currently_collecting = false;
    status.state = resting_state(collection.spec.suspend, Some(&summary));
    status.finished = Some(summary);
    status
}

/// How a sharded run ended: the reason of the first index that ended early, else of the first
/// failed index (its index and session Secret name in the message), else the Job's word.
fn shard_outcome(
    phase: &JobPhase,
    shards: &[Shard<'_>],
    states: &[ShardState],
) -> (RunResult, Option<String>, Option<String>) {
    // An index whose collector said why it stopped is the cause, else one Kubernetes failed
    // (out of retries); indexes without an end were most likely stopped because of it
    // (FailJob ends every pod).
    let failed = shards
        .iter()
        .find(|s| s.end_reason().is_some())
        .or_else(|| shards.iter().find(|s| s.plan.is_some_and(|p| p.failed)))
        .or_else(|| {
            shards
                .iter()
                .zip(states)
                .find(|(_, state)| **state == ShardState::Failed)
                .map(|(shard, _)| shard)
        });
    let Some(shard) = failed else {
        return outcome(phase, None);
    };
    let who = format!("shard {} (secret {})", shard.index, shard.session());
    match (shard.end_reason(), shard.end()) {
        (Some(why), Some(end)) => {
            let (_, reason, message) = outcome(phase, Some(end));
            let reason = reason.unwrap_or_else(|| {
                if why == "session_invalid" {
                    SESSION_INVALID.to_owned()
                } else {
                    ABORTED.to_owned()
                }
            });
            let detail = message.map(|m| format!(": {m}")).unwrap_or_default();
            (
                RunResult::Failed,
                Some(reason),
                Some(format!("{who}: {why}{detail}")),
            )
        }
        _ => {
            let (reason, detail) = match phase {
                JobPhase::Failed { reason, .. } => {
                    (reason.clone(), job_detail(phase).unwrap_or_default())
                }
                _ => ("JobFailed".to_owned(), String::new()),
            };
            let detail = if detail.is_empty() {
                String::new()
            } else {
                format!("; {detail}")
            };
            (
                RunResult::Failed,
                Some(reason),
                Some(if shard.plan.is_some_and(|p| p.failed) {
                    format!("{who}: its pods failed more often than spec.backoffLimit{detail}")
                } else {
                    format!("{who}: the collector did not record the end of its run{detail}")
                }),
            )
        }
    }
}
