//! The read-only monitoring page: `GET /` (one self-contained HTML file) and `GET /events`,
//! server-sent events of every watched collection's status, read from the operator's cache
//! (a snapshot, then one event per changed collection), so the page costs the API server
//! nothing.
//!
//! A row carries status fields only, plus the number of channels in the spec: no Secret
//! names, no session names, no database settings.

use std::{convert::Infallible, sync::Arc};

use axum::{
    Router,
    extract::State,
    http::header,
    response::{
        Html, IntoResponse,
        sse::{Event, KeepAlive, Sse},
    },
    routing::get,
};
use chrono::{DateTime, Utc};
use crds::{
    ChannelCollection, CollectionState, RunMedia, RunResult, ShardState, condition, time::from_k8s,
};
use futures::{StreamExt, stream};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::{ResourceExt, runtime::reflector::ObjectRef};
use serde::Serialize;
use tokio::sync::watch;

use crate::cache::Feed;

const PAGE: &str = include_str!("page.html");

/// Scripts and styles are inline and the page loads nothing else; everything it shows is set
/// as text, never as markup (channel names and error messages come from Telegram).
const CSP: &str = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
                   connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; \
                   frame-ancestors 'none'";

/// What the page reads.
#[derive(Clone)]
pub struct Page {
    /// Every watched collection and its changes.
    pub collections: Feed<ChannelCollection>,
    /// Turns true at shutdown: open event streams end, so the server can stop gracefully.
    pub stop: watch::Receiver<bool>,
    pub now: Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>,
}

pub fn router(page: Page) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/events", get(events))
        .with_state(page)
}

async fn index() -> impl IntoResponse {
    (
        [
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Html(PAGE),
    )
}

async fn events(State(page): State<Page>) -> impl IntoResponse {
    // Subscribed before the snapshot is read, so no change falls between the two.
    let changes = page.collections.changes();
    let store = page.collections.store().clone();
    let now = page.now.clone();
    let mut rows: Vec<Row> = store.state().iter().map(|cc| row(cc, now())).collect();
    rows.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    let snapshot = Event::default().event("snapshot").data(json(&rows));
    let updates = changes.map(move |changed| {
        // The cache's current copy: a deleted collection is gone from it.
        match store.get(&ObjectRef::from_obj(changed.as_ref())) {
            Some(cc) => Event::default().event("row").data(json(&row(&cc, now()))),
            None => Event::default().event("remove").data(json(&Key {
                namespace: changed.namespace().unwrap_or_default(),
                name: changed.name_any(),
            })),
        }
    });
    let mut stop = page.stop;
    let events = stream::once(async { snapshot })
        .chain(updates)
        .take_until(async move {
            let _ = stop.wait_for(|s| *s).await;
        })
        .map(Ok::<_, Infallible>);
    (
        [(header::CACHE_CONTROL, "no-cache")],
        Sse::new(events).keep_alive(KeepAlive::default()),
    )
}

fn json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("rows serialize")
}

/// A removed collection.
#[derive(Serialize)]
struct Key {
    namespace: String,
    name: String,
}

/// One collection as the page shows it. Durations are in seconds from `now` (the server's
/// clock), so the page counts down from them without trusting the browser's clock.
#[derive(Serialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Row {
    pub namespace: String,
    pub name: String,
    pub state: Option<CollectionState>,
    /// Channels in the spec.
    pub channels: usize,
    pub collecting: bool,
    pub channels_processed: i32,
    pub channels_total: i32,
    pub current_channel: Option<String>,
    pub messages: i64,
    pub errors: i32,
    pub flood_wait_seconds: i64,
    /// Files of the current run (`spec.media`), shown when any.
    pub media: Option<RunMedia>,
    pub eta_seconds: Option<i64>,
    pub eta: Option<String>,
    /// Seconds left of the flood wait (0 once over).
    pub waiting_seconds: Option<i64>,
    pub waiting_until: Option<String>,
    /// Seconds since the current run started.
    pub running_seconds: Option<i64>,
    pub shards: Vec<ShardRow>,
    pub last_run: Option<LastRun>,
    /// Seconds until the next run (negative when overdue).
    pub next_run_seconds: Option<i64>,
    pub next_run_time: Option<String>,
    pub recent_errors: Vec<ErrorRow>,
    /// Why the collection cannot run as specified (the `Stalled` condition's message).
    pub problem: Option<String>,
}

#[derive(Serialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ShardRow {
    pub index: i32,
    pub state: Option<ShardState>,
    pub current_channel: Option<String>,
    pub channels_processed: i32,
    pub channels_total: i32,
    pub messages: i64,
    pub errors: i32,
    pub eta_seconds: Option<i64>,
    pub reason: Option<String>,
}

#[derive(Serialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LastRun {
    pub result: Option<RunResult>,
    pub reason: Option<String>,
    pub message: Option<String>,
    pub messages: Option<i64>,
    pub channels_synced: Option<i32>,
    pub channels_total: Option<i32>,
    pub errors: Option<i32>,
    /// Files of the run (`spec.media`), shown when any.
    pub media: Option<RunMedia>,
    /// Seconds since the run ended.
    pub ended_seconds_ago: Option<i64>,
    pub end_time: Option<String>,
    pub duration_seconds: Option<i64>,
}

#[derive(Serialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ErrorRow {
    pub channel: String,
    pub reason: String,
    pub message: String,
    pub seconds_ago: i64,
}

fn seconds(from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
    (to - from).num_seconds()
}

fn rfc3339(time: &Time) -> String {
    from_k8s(time).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The page's row of `cc` at `now`.
pub fn row(cc: &ChannelCollection, now: DateTime<Utc>) -> Row {
    let status = cc.status.clone().unwrap_or_default();
    let since = |t: &Time| seconds(from_k8s(t), now);
    let until = |t: &Time| seconds(now, from_k8s(t));
    Row {
        namespace: cc.namespace().unwrap_or_default(),
        name: cc.name_any(),
        state: status.state,
        channels: cc.spec.channels.len(),
        collecting: status.currently_collecting,
        channels_processed: status.channels_processed,
        channels_total: status.channels_total,
        current_channel: status.current_channel,
        messages: status.messages_collected_current_run,
        errors: status.errors_current_run,
        flood_wait_seconds: status.flood_wait_seconds_current_run,
        media: status.media_current_run,
        eta_seconds: status.estimated_time_remaining,
        eta: status.eta,
        waiting_seconds: status.waiting_until.as_ref().map(|t| until(t).max(0)),
        waiting_until: status.waiting_until.as_ref().map(rfc3339),
        running_seconds: status.collection_start_time.as_ref().map(since),
        shards: status
            .shards
            .into_iter()
            .map(|s| ShardRow {
                index: s.index,
                state: s.state,
                current_channel: s.current_channel,
                channels_processed: s.channels_processed,
                channels_total: s.channels_total,
                messages: s.messages,
                errors: s.errors,
                eta_seconds: s.estimated_time_remaining,
                reason: s.reason,
            })
            .collect(),
        last_run: status.last_run.map(|r| LastRun {
            ended_seconds_ago: r.end_time.as_ref().map(since),
            end_time: r.end_time.as_ref().map(rfc3339),
            duration_seconds: r
                .start_time
                .as_ref()
                .zip(r.end_time.as_ref())
                .map(|(s, e)| seconds(from_k8s(s), from_k8s(e))),
            result: r.result,
            reason: r.reason,
            message: r.message,
            messages: r.messages,
            channels_synced: r.channels_synced,
            channels_total: r.channels_total,
            errors: r.errors,
            media: r.media,
        }),
        next_run_seconds: status.next_run_time.as_ref().map(until),
        next_run_time: status.next_run_time.as_ref().map(rfc3339),
        recent_errors: status
            .recent_errors
            .into_iter()
            .map(|e| ErrorRow {
                seconds_ago: since(&e.time),
                channel: e.channel,
                reason: e.reason,
                message: e.message,
            })
            .collect(),
        problem: status
            .conditions
            .iter()
            .find(|c| c.type_ == condition::STALLED && c.status == "True")
            .map(|c| c.message.clone())
            .filter(|m| !m.is_empty()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;
    use crds::{
        ChannelCollectionStatus, RecentError, RunSummary, ShardStatus,
        testing::{TestCollection, t0},
        time::to_k8s,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
    use serde_json::json;

    fn collecting() -> ChannelCollectionStatus {
        ChannelCollectionStatus {
            state: Some(CollectionState::Waiting),
            currently_collecting: true,
            progress: Some("1/3".into()),
            eta: Some("4m10s".into()),
            current_channel: Some("@durov".into()),
            channels_processed: 1,
            channels_total: 3,
            messages_collected_current_run: 1234,
            errors_current_run: 1,
            flood_wait_seconds_current_run: 30,
            media_current_run: Some(RunMedia {
                files_downloaded: 5,
                bytes_downloaded: 3_000_000,
                files_failed: 1,
                ..RunMedia::default()
            }),
            collection_start_time: Some(to_k8s(t0() - Duration::seconds(95))),
            estimated_time_remaining: Some(250),
            waiting_until: Some(to_k8s(t0() + Duration::seconds(42))),
            next_run_time: Some(to_k8s(t0() + Duration::minutes(10))),
            last_run: Some(RunSummary {
                job: "news-29000000".into(),
                start_time: Some(to_k8s(t0() - Duration::minutes(12))),
                end_time: Some(to_k8s(t0() - Duration::minutes(10))),
                result: Some(RunResult::Failed),
                reason: Some("SessionInvalid".into()),
                message: Some("the session was revoked".into()),
                messages: Some(10),
                channels_synced: Some(2),
                channels_total: Some(3),
                errors: Some(1),
                ..RunSummary::default()
            }),
            recent_errors: vec![RecentError {
                channel: "@private".into(),
                reason: "ChannelPrivate".into(),
                message: "the channel is private".into(),
                time: to_k8s(t0() - Duration::seconds(20)),
            }],
            ..ChannelCollectionStatus::default()
        }
    }

    #[test]
    fn a_running_collection_at_a_fixed_instant() {
        let cc = ChannelCollection::test().with_status(collecting());
        assert_eq!(
            serde_json::to_value(row(&cc, t0())).unwrap(),
            json!({
                "namespace": "telegram", "name": "news", "state": "Waiting", "channels": 3,
                "collecting": true, "channelsProcessed": 1, "channelsTotal": 3,
                "currentChannel": "@durov", "messages": 1234, "errors": 1,
                "floodWaitSeconds": 30, "etaSeconds": 250, "eta": "4m10s",
                "media": {"filesDownloaded": 5, "bytesDownloaded": 3_000_000,
                          "filesSkippedTooBig": 0, "filesSkippedOverBudget": 0,
                          "bytesSkipped": 0, "filesFailed": 1},
                "waitingSeconds": 42, "waitingUntil": "2026-11-28T12:00:42Z",
                "runningSeconds": 95, "shards": [],
                "lastRun": {
                    "result": "Failed", "reason": "SessionInvalid",
                    "message": "the session was revoked", "messages": 10,
                    "channelsSynced": 2, "channelsTotal": 3, "errors": 1, "media": null,
                    "endedSecondsAgo": 600, "endTime": "2026-11-28T11:50:00Z",
                    "durationSeconds": 120
                },
                "nextRunSeconds": 600, "nextRunTime": "2026-11-28T12:10:00Z",
                "recentErrors": [{"channel": "@private", "reason": "ChannelPrivate",
                                  "message": "the channel is private", "secondsAgo": 20}],
                "problem": null
            })
        );
        // Later: the countdowns move, a flood wait that is over shows 0, an overdue run
        // shows a negative wait.
        let later = row(&cc, t0() + Duration::minutes(11));
        assert_eq!(later.waiting_seconds, Some(0));
        assert_eq!(later.next_run_seconds, Some(-60));
        assert_eq!(later.last_run.unwrap().ended_seconds_ago, Some(1260));
    }

    #[test]
    fn a_new_collection_has_an_empty_row() {
        let row = row(&ChannelCollection::test(), t0());
        assert_eq!(row.state, None);
        assert_eq!(row.channels, 3);
        assert_eq!(row.channels_total, 0);
        assert_eq!((row.last_run, row.next_run_seconds), (None, None));
    }

    #[test]
    fn no_secret_or_session_name_reaches_the_page() {
        let mut status = collecting();
        status.shards = vec![ShardStatus {
            index: 1,
            session: "tg-b-secret".into(),
            state: Some(ShardState::Collecting),
            current_channel: Some("@telegram".into()),
            channels_processed: 2,
            channels_total: 5,
            messages: 77,
            errors: 0,
            estimated_time_remaining: Some(60),
            reason: None,
        }];
        status.conditions = vec![Condition {
            type_: condition::STALLED.into(),
            status: "True".into(),
            reason: "InvalidSpec".into(),
            message: "spec.timeout is not a duration".into(),
            last_transition_time: to_k8s(t0()),
            observed_generation: Some(1),
        }];
        let cc = ChannelCollection::test()
            .sharded(&["tg-a-secret", "tg-b-secret"])
            .database("collector-db-secret", "DATABASE_URL")
            .with_status(status);
        let text = serde_json::to_string(&row(&cc, t0())).unwrap();
        for secret in [
            "tg-a-secret",
            "tg-b-secret",
            "tg-api",
            "collector-db-secret",
            "DATABASE_URL",
            "secretRef",
            "session\"",
        ] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        let row = row(&cc, t0());
        assert_eq!(
            row.shards,
            [ShardRow {
                index: 1,
                state: Some(ShardState::Collecting),
                current_channel: Some("@telegram".into()),
                channels_processed: 2,
                channels_total: 5,
                messages: 77,
                errors: 0,
                eta_seconds: Some(60),
                reason: None,
            }]
        );
        assert_eq!(
            row.problem.as_deref(),
            Some("spec.timeout is not a duration")
        );
    }
}
