//! `watch NAME` and `run --wait`: a watch on the one collection, the live view redrawn on
//! every event, until the followed run has ended.

use std::{pin::pin, time::Duration};

use chrono::{DateTime, Utc};
use crds::{ChannelCollection, RunResult, RunSummary};
use futures::StreamExt;
use kube::runtime::{WatchStreamExt, watcher};

use super::{Ctx, Error, Outcome, RequestError};
use crate::{
    follow::{Follow, Step},
    render,
    screen::Screen,
};

/// How often a terminal's view is redrawn between events (the flood-wait countdown).
const TICK: Duration = Duration::from_secs(1);

pub(super) async fn watch(
    ctx: &mut Ctx<'_>,
    name: &str,
    timeout: Option<Duration>,
) -> Result<Outcome, Error> {
    follow(ctx, name, Follow::Current, timeout).await
}

/// Follows `follow` until its run ends (or, for `watch`, finds none running).
pub(super) async fn follow(
    ctx: &mut Ctx<'_>,
    name: &str,
    mut follow: Follow,
    timeout: Option<Duration>,
) -> Result<Outcome, Error> {
    // A failed request is retried with backoff once the object has been seen; before that it
    // is reported at once (no RBAC to watch, no CRD installed).
    let mut events = pin!(watcher::watch_object(ctx.collections(), name).default_backoff());
    let mut deadline = pin!(async move {
        match timeout {
            Some(after) => tokio::time::sleep(after).await,
            None => std::future::pending().await,
        }
    });
    let mut tick = tokio::time::interval(TICK);
    let mut screen = Screen::new(ctx.live);
    let mut latest: Option<ChannelCollection> = None;
    let collection = ctx.qualified(name);
    loop {
        let event = tokio::select! {
            event = events.next() => event,
            _ = tick.tick(), if ctx.live && latest.is_some() => {
                if let Some(cc) = &latest {
                    screen.draw(ctx.out, view(&follow, cc, (ctx.now)()))?;
                }
                continue;
            }
            () = &mut deadline => {
                let after = humantime::format_duration(timeout.unwrap_or_default()).to_string();
                return Err(Error::Timeout { collection, after });
            }
        };
        let cc = match event {
            Some(Ok(Some(cc))) => cc,
            Some(Ok(None)) if latest.is_some() => return Err(Error::Deleted { collection }),
            Some(Ok(None)) => return Err(Error::NotFound { collection }),
            Some(Err(e)) if latest.is_some() => {
                writeln!(
                    ctx.err,
                    "warning: the watch of ChannelCollection {collection} broke ({}); retrying",
                    RequestError::Watch(e)
                )?;
                continue;
            }
            Some(Err(e)) => {
                return Err(Error::Watch {
                    collection,
                    source: RequestError::Watch(e),
                });
            }
            None => return Err(Error::WatchEnded { collection }),
        };
        match follow.step(cc.status.as_ref()) {
            Step::Running => {
                screen.draw(ctx.out, view(&follow, &cc, (ctx.now)()))?;
                latest = Some(cc);
            }
            Step::Idle(last) => {
                for line in render::run::idle(&cc, (ctx.now)()) {
                    writeln!(ctx.out, "{line}")?;
                }
                return Ok(last.as_ref().map_or(Outcome::Done, outcome));
            }
            Step::Ended(run) => {
                writeln!(ctx.out, "{}", render::run::ended(&run))?;
                return Ok(outcome(&run));
            }
        }
    }
}

/// The live view: the run, or the request the operator has not acted on yet.
fn view(follow: &Follow, cc: &ChannelCollection, now: DateTime<Utc>) -> Vec<String> {
    match follow {
        Follow::Request(value) => render::run::requested(cc, value),
        Follow::Current | Follow::Job(_) => render::run::frame(cc, now),
    }
}

fn outcome(run: &RunSummary) -> Outcome {
    match run.result {
        Some(RunResult::Succeeded) => Outcome::Succeeded,
        Some(RunResult::Failed) | None => Outcome::Failed,
    }
}
