//! `get [-A]`: the collections as a table.

use crds::ChannelCollection;
use kube::{Api, ResourceExt, api::ListParams};

use super::{Ctx, Error, Outcome, RequestError};
use crate::render;

pub(super) async fn get(ctx: &mut Ctx<'_>, all_namespaces: bool) -> Result<Outcome, Error> {
    let (api, scope) = if all_namespaces {
        (Api::all(ctx.client.clone()), "all namespaces".to_string())
    } else {
        (ctx.collections(), format!("namespace {}", ctx.namespace))
    };
    let api: Api<ChannelCollection> = api;
    let mut items = api
        .list(&ListParams::default())
        .await
        .map_err(|e| Error::List {
            scope: scope.clone(),
            source: RequestError::Client(e),
        })?
        .items;
    if items.is_empty() {
        // As kubectl says it, on stderr: stdout stays empty for scripts.
        if all_namespaces {
            writeln!(ctx.err, "No resources found")?;
        } else {
            writeln!(
                ctx.err,
                "No resources found in {} namespace.",
                ctx.namespace
            )?;
        }
        return Ok(Outcome::Done);
    }
    items.sort_by_key(|cc| (cc.namespace(), cc.name_any()));
    for line in render::list::collections(&items, all_namespaces, (ctx.now)()) {
        writeln!(ctx.out, "{line}")?;
    }
    Ok(Outcome::Done)
}
