//! `run`, `suspend` and `resume`: one merge patch each, as `kubectl annotate` / `kubectl
//! patch --type merge` would send it.

use std::time::Duration;

use chrono::SecondsFormat;
use contract::job::annotation;
use crds::ChannelCollection;
use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};

use super::{Ctx, Error, FIELD_MANAGER, Outcome, RequestError, watch};
use crate::{follow::Follow, render};

/// `run NAME [--wait]`: a new `requestedAt` value asks the operator for one run now.
pub(super) async fn run(
    ctx: &mut Ctx<'_>,
    name: &str,
    wait: bool,
    timeout: Option<Duration>,
) -> Result<Outcome, Error> {
    // The current time is new on every call (sub-second digits when there are any), and says
    // when the run was asked for.
    let value = (ctx.now)().to_rfc3339_opts(SecondsFormat::AutoSi, true);
    let patch = json!({"metadata": {"annotations": {annotation::REQUESTED_AT: value}}});
    let cc = merge(ctx, name, "request a run of", patch).await?;
    writeln!(
        ctx.out,
        "{}: run requested ({}={value})",
        render::qualified(&cc),
        annotation::REQUESTED_AT
    )?;
    if !wait {
        return Ok(Outcome::Done);
    }
    watch::follow(ctx, name, Follow::Request(value), timeout).await
}

/// `suspend NAME` / `resume NAME`: sets `spec.suspend`.
pub(super) async fn suspend(
    ctx: &mut Ctx<'_>,
    name: &str,
    suspend: bool,
) -> Result<Outcome, Error> {
    let (action, done) = if suspend {
        ("suspend", "suspended (a run in progress finishes)")
    } else {
        ("resume", "resumed")
    };
    let cc = merge(ctx, name, action, json!({"spec": {"suspend": suspend}})).await?;
    writeln!(ctx.out, "{}: {done}", render::qualified(&cc))?;
    Ok(Outcome::Done)
}

async fn merge(
    ctx: &Ctx<'_>,
    name: &str,
    action: &'static str,
    patch: Value,
) -> Result<ChannelCollection, Error> {
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.to_string()),
        ..PatchParams::default()
    };
    ctx.collections()
        .patch(name, &params, &Patch::Merge(&patch))
        .await
        .map_err(|e| {
            let source = RequestError::Client(e);
            if source.is_not_found() {
                Error::NotFound {
                    collection: ctx.qualified(name),
                }
            } else {
                Error::Patch {
                    action,
                    collection: ctx.qualified(name),
                    source,
                }
            }
        })
}
