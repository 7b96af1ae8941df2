//! `collector-job import`: stores a parsed Desktop export through the same tables, checkpoint
//! rule and audit events as a collection run, without any Telegram call.

use audit::{
    AuditEvent, AuditWriter, ChannelError, CollectionEnd, CollectionProgress, CollectionStart,
    ErrorReason,
};

use crate::clock::Clock;
use crate::collect::{RunEnd, RunError, RunSummary};
use crate::config::MAX_BATCH;
use crate::export::{Export, ExportedChat};
use crate::model::ResolvedChannel;
use crate::store::{Store, StoreError};

/// Imports every chat of `export`; a chat that fails to store is counted as an error.
pub async fn import<C: Clock>(
    export: &Export,
    store: &Store,
    audit: &AuditWriter,
    clock: &C,
) -> Result<RunSummary, RunError> {
    let total_channels = export.chats.len() as u32;
    audit
        .record(&AuditEvent::Start(CollectionStart {
            total_channels,
            start_time: clock.now(),
        }))
        .await?;
    let mut summary = RunSummary {
        total_messages: 0,
        channels_synced: 0,
        errors: 0,
        end: RunEnd::Finished,
    };
    for (index, chat) in export.chats.iter().enumerate() {
        let mut stored = 0;
        let error = match import_chat(chat, store, clock, &mut stored).await {
            Ok(()) => {
                summary.channels_synced += 1;
                None
            }
            Err(error) if error.is_unreachable() => return Err(RunError::Database(error)),
            Err(error) => {
                summary.errors += 1;
                Some(ChannelError {
                    reason: ErrorReason::Storage,
                    message: error.to_string(),
                })
            }
        };
        summary.total_messages += stored;
        audit
            .record(&AuditEvent::Progress(CollectionProgress {
                channel_name: chat.name.clone(),
                messages_collected: stored,
                channels_processed: index as u32 + 1,
                total_channels,
                errors: summary.errors,
                progress_time: clock.now(),
                error,
            }))
            .await?;
    }
    audit
        .record(&AuditEvent::End(CollectionEnd {
            total_messages: summary.total_messages,
            channels_synced: summary.channels_synced,
            total_channels,
            errors: summary.errors,
            end_time: clock.now(),
            aborted: false,
            reason: None,
        }))
        .await?;
    Ok(summary)
}

async fn import_chat<C: Clock>(
    chat: &ExportedChat,
    store: &Store,
    clock: &C,
    stored: &mut u64,
) -> Result<(), StoreError> {
    // An export knows no access hash or username: keep whatever a collection stored.
    store
        .remember_channel(&ResolvedChannel {
            id: chat.id,
            access_hash: None,
            username: None,
            title: Some(chat.name.clone()),
        })
        .await?;
    for page in chat.messages.chunks(MAX_BATCH) {
        let through = page.last().map_or(0, |m| m.id);
        store
            .store_batch(chat.id, page, through, clock.now())
            .await?;
        *stored += page.len() as u64;
    }
    if let Some(last_id) = chat.last_id {
        // Trailing service messages still move the checkpoint.
        store
            .store_batch(chat.id, &[], last_id, clock.now())
            .await?;
    }
    Ok(())
}
