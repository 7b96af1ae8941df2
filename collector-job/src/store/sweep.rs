//! The deletion sweep's storage: where a channel's pass stands, and its stored ids in order.
//! Every statement reads or writes one channel row or one range of the primary key: a sweep
//! step costs the same in a channel of any size.

use chrono::{DateTime, Utc};

use super::{Store, StoreError};

/// Where a channel's deletion sweep stands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SweepState {
    /// The last id a pass in progress has re-read; `None` when no pass is under way.
    pub after: Option<i64>,
    /// When the last full pass ended.
    pub swept_at: Option<DateTime<Utc>>,
}

impl Store {
    pub async fn sweep_state(&self, channel_id: i64) -> Result<SweepState, StoreError> {
        let row: Option<(Option<i64>, Option<DateTime<Utc>>)> = self
            .retry
            .run(|| {
                sqlx::query_as("SELECT sweep_after, swept_at FROM channels WHERE id = $1")
                    .bind(channel_id)
                    .fetch_optional(&self.pool)
            })
            .await
            .map_err(|source| StoreError::Sweep { channel_id, source })?;
        Ok(
            row.map_or_else(SweepState::default, |(after, swept_at)| SweepState {
                after,
                swept_at,
            }),
        )
    }

    /// Up to `limit` stored ids of the channel above `after`, in order, deleted ones too (a
    /// message that came back is unmarked by storing it).
    pub async fn stored_ids_after(
        &self,
        channel_id: i64,
        after: i64,
        limit: usize,
    ) -> Result<Vec<i64>, StoreError> {
        self.retry
            .run(|| {
                sqlx::query_scalar(
                    "SELECT message_id FROM messages
                      WHERE channel_id = $1 AND message_id > $2
                      ORDER BY message_id LIMIT $3",
                )
                .bind(channel_id)
                .bind(after)
                .bind(i64::try_from(limit).unwrap_or(i64::MAX))
                .fetch_all(&self.pool)
            })
            .await
            .map_err(|source| StoreError::Sweep { channel_id, source })
    }

    /// Records where the channel's pass stands: `state.after` is where the next run goes on.
    pub async fn record_sweep(&self, channel_id: i64, state: SweepState) -> Result<(), StoreError> {
        self.retry
            .run(|| {
                sqlx::query("UPDATE channels SET sweep_after = $2, swept_at = $3 WHERE id = $1")
                    .bind(channel_id)
                    .bind(state.after)
                    .bind(state.swept_at)
                    .execute(&self.pool)
            })
            .await
            .map_err(|source| StoreError::Sweep { channel_id, source })?;
        Ok(())
    }
}
