//! The reconcile of one collection, a short pipeline: [`read`] what the caches and the audit
//! log say, [`crate::decide`] what to do, [`apply`] it, compute the one [`crate::status`], and
//! write it. Only `read` and `apply` do I/O.

mod apply;
mod context;
mod error;
mod read;

use std::{sync::Arc, time::Duration};

use crds::ChannelCollection;
use kube::{ResourceExt, runtime::controller::Action};
use tracing::{error, instrument, warn};

pub use context::{Context, Expectations, FIELD_MANAGER, Now, RunCache, StatusWrites};
pub use error::Error;

use telemetry::ErrorChain;

use crate::{
    decide::{decide, decide_with, wants_history},
    status::{RUN_FAILED, RUN_SUCCEEDED, StatusInput, status},
};

/// Shortest and longest wait after a failed reconcile (doubling in between).
const BACKOFF_MIN: Duration = Duration::from_secs(5);
const BACKOFF_MAX: Duration = Duration::from_secs(300);

/// Reconciles one collection.
#[instrument(skip_all, fields(namespace = cc.namespace().unwrap_or_default(), name = %cc.name_any()), err)]
pub async fn reconcile(cc: Arc<ChannelCollection>, ctx: Arc<Context>) -> Result<Action, Error> {
    let _timer = ctx.metrics.reconcile_started();
    ctx.ensure_leader()?;
    let Some(namespace) = cc.namespace() else {
        // Not something a retry fixes (a namespaced kind always has one): say so, once.
        ctx.metrics.failed("missing_namespace");
        error!(name = %cc.name_any(), "collection has no namespace; not reconciled");
        return Ok(Action::await_change());
    };
    // A status written by the previous reconcile that the cache does not show yet is the
    // previous status: what changed since, and what to announce, is measured against it.
    let cc = ctx.written.caught_up(cc);
    let now = (ctx.now)();

    let observed = read::observe(&cc, &namespace, &ctx, now).await;
    let mut plan = decide(&cc, &observed.runs, &ctx.defaults, now);
    if wants_history(&cc, &plan)
        && let Some(new) = &plan.create
        && let Some(history) =
            read::durations_for_new_run(&ctx, &namespace, &cc.name_any(), &new.job.name_any()).await
    {
        // Pure and deterministic: the same Job, its channels balanced by their history.
        plan = decide_with(&cc, &observed.runs, &ctx.defaults, Some(&history), now);
    }
    let applied =
        apply::carry_out(&cc, &namespace, &plan, observed.runs.clone(), &ctx, now).await?;
    let followed = applied.followed(&observed, ctx.database.is_some());
    let (next, notices) = status(&StatusInput {
        collection: &cc,
        runs: &applied.runs,
        followed,
        pod_problem: observed.pod_problem.as_ref(),
        plan: &plan,
        name_taken: applied.name_taken.as_ref(),
        now,
    });
    apply::write_status(&cc, &namespace, &next, &ctx).await?;
    // Counted once its status is written, like the RunSucceeded/RunFailed Event announcing it.
    if notices
        .iter()
        .any(|n| n.reason == RUN_SUCCEEDED || n.reason == RUN_FAILED)
        && let Some(run) = &next.last_run
    {
        ctx.metrics.run_finished(&namespace, &cc.name_any(), run);
    }
    ctx.publish_all(&cc, &notices);
    if let Some(run) = observed.ended(&next) {
        ctx.runs.forget(&namespace, run);
    }
    ctx.forget_failures(&cc);

    // Nothing runs until the spec changes: no retries, no refresh.
    if plan.stall.is_some() || applied.name_taken.is_some() {
        return Ok(match next.active_job {
            Some(_) => Action::requeue(ctx.refresh),
            None => Action::await_change(),
        });
    }
    // Keep an active run's status fresh; otherwise look again when the next run is due.
    let refresh = next.active_job.is_some().then_some(ctx.refresh);
    let scheduled = plan
        .requeue_at
        .map(|at| (at - now).to_std().unwrap_or(Duration::ZERO));
    let wait = match (scheduled, refresh) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    Ok(wait.map_or_else(Action::await_change, Action::requeue))
}

/// Transient failures back off exponentially per collection.
pub fn error_policy(cc: Arc<ChannelCollection>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics.failed(error.metric_label());
    if matches!(error, Error::NotLeader) {
        return Action::await_change();
    }
    let attempts = ctx.count_failure(&cc);
    let wait = BACKOFF_MIN
        .saturating_mul(2u32.saturating_pow(attempts.saturating_sub(1).min(10)))
        .min(BACKOFF_MAX);
    warn!(
        namespace = cc.namespace().unwrap_or_default(),
        name = %cc.name_any(),
        reason = error.metric_label(),
        error = %ErrorChain(error),
        retry_in_secs = wait.as_secs(),
        "reconcile failed"
    );
    Action::requeue(wait)
}
