//! How long each channel took in the collection's previous runs.

use std::collections::BTreeMap;

use chrono::TimeDelta;
use contract::audit::AuditRow;
use contract::channel;

use super::runlog::RunLog;

/// Most samples kept per channel (newest first).
pub const MAX_SAMPLES_PER_CHANNEL: usize = 5;

/// Per-channel durations from previous runs of one collection.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChannelDurations {
    /// Channel key → durations in seconds, newest run first.
    samples: BTreeMap<String, Vec<f64>>,
    /// Channel keys in the order the newest run processed them.
    order: Vec<String>,
}

impl ChannelDurations {
    /// Builds the history from previous runs' rows, newest run first (as
    /// [`contract::audit::recent_finished_runs`] returns them). Only rows with a channel boundary
    /// (`collection_progress`) after a known start count; a flood wait inside a channel is part
    /// of its time, as it will likely be again.
    pub fn from_runs<'a>(runs: impl IntoIterator<Item = &'a [AuditRow]>) -> Self {
        let mut history = Self::default();
        for rows in runs {
            let log = RunLog::from_rows(rows);
            // Newest attempt first, so each channel's newest sample comes first.
            for attempt in log.attempts.iter().rev() {
                for done in &attempt.done {
                    let Some(took) = done.took else { continue };
                    let key = channel::key(&done.name);
                    let samples = history.samples.entry(key).or_default();
                    if samples.len() < MAX_SAMPLES_PER_CHANNEL {
                        samples.push(took.as_seconds_f64().max(0.0));
                    }
                }
                if history.order.is_empty() {
                    history.order = attempt.done.iter().map(|d| channel::key(&d.name)).collect();
                }
            }
        }
        history
    }

    /// No channel has any sample.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// Expected duration of `channel`: the median of its recent samples.
    pub fn expected(&self, channel: &str) -> Option<TimeDelta> {
        self.expected_secs(&channel::key(channel))
            .map(secs_to_delta)
    }

    pub(crate) fn expected_secs(&self, key: &str) -> Option<f64> {
        let samples = self.samples.get(key)?;
        let mut sorted = samples.clone();
        sorted.sort_by(f64::total_cmp);
        let mid = sorted.len() / 2;
        Some(if sorted.len() % 2 == 1 {
            sorted[mid]
        } else {
            (sorted[mid - 1] + sorted[mid]) / 2.0
        })
    }

    /// Mean expected duration over every known channel.
    pub(crate) fn mean_secs(&self) -> Option<f64> {
        let all: Vec<f64> = self
            .samples
            .keys()
            .filter_map(|k| self.expected_secs(k))
            .collect();
        (!all.is_empty()).then(|| all.iter().sum::<f64>() / all.len() as f64)
    }

    /// Channel keys in the order the newest run processed them.
    pub(crate) fn order(&self) -> &[String] {
        &self.order
    }
}

pub(crate) fn secs_to_delta(secs: f64) -> TimeDelta {
    TimeDelta::milliseconds((secs * 1000.0).round() as i64)
}
