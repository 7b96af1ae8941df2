//! `history NAME`: the run in progress and the last finished runs (`status.recentRuns`).

use super::{Ctx, Error, Outcome, collection};
use crate::render;

pub(super) async fn history(ctx: &mut Ctx<'_>, name: &str) -> Result<Outcome, Error> {
    let cc = collection(ctx, name).await?;
    let lines = render::list::history(&cc, (ctx.now)());
    if lines.is_empty() {
        writeln!(ctx.err, "{}: no runs yet", render::qualified(&cc))?;
    }
    for line in lines {
        writeln!(ctx.out, "{line}")?;
    }
    Ok(Outcome::Done)
}
