//! `mreg archive` / `mreg unarchive`.

use super::alias::move_info;
use super::{Ctx, Output};

/// Mark a version archived: hidden from listings unless asked, not promotable until
/// unarchived. Recorded in the model's history.
///
/// A version an alias points at cannot be archived (move the alias first). Archived
/// versions count toward gc retention like any other; `gc --prune-archived` prunes them.
#[derive(clap::Args, Debug)]
pub struct Args {
    rev: String,
    /// Why (recorded in the history).
    #[arg(short, long, default_value = "")]
    message: String,
}

pub fn run(ctx: &Ctx, a: Args, archive: bool) -> mreg::Result<Output> {
    let repo = ctx.repo()?;
    let id = repo.resolve(&a.rev)?;
    let changed = mreg::refs::set_archived(&repo, id, archive, move_info(a.message)?)?;
    let state = if archive { "archived" } else { "not archived" };
    Ok(Output::ok(if changed {
        format!("{} is now {state}\n", id.short())
    } else {
        format!("{} was already {state}\n", id.short())
    }))
}
