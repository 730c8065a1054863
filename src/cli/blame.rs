//! `mreg blame`: from a git commit to the models it produced and shipped.

use super::{Ctx, Output};

/// The model commits trained from a git commit's code, and those its mreg.lock pins.
///
/// "Trained from" are model commits whose recorded code lineage is GITREV (marked `dirty`
/// when they were made with uncommitted changes on top of it; the patch is in the commit).
/// "Pinned" are the entries of mreg.lock as of GITREV, with whether the store has them and
/// whether the post-commit hook noted GITREV on them.
///
/// Examples:
///   mreg blame HEAD
///   mreg blame v1.2 --json
#[derive(clap::Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// A git revision: HEAD, a branch, a tag, a (short) commit id, HEAD~3, ...
    git_rev: String,
    #[arg(long)]
    json: bool,
}

pub fn run(ctx: &Ctx, a: Args) -> mreg::Result<Output> {
    let repo = ctx.repo()?;
    let b = mreg::lineage::blame(&repo, &a.git_rev)?;
    if a.json {
        return Ok(Output::ok(super::json(&b)));
    }
    let mut s = format!("git {}  {}\n", &b.git_commit, b.summary);
    s.push_str("\nTrained from this code:\n");
    if b.trained_from.is_empty() {
        s.push_str("  (none)\n");
    }
    for t in &b.trained_from {
        s.push_str(&format!(
            "  {:<16} {}  {}  {}{}\n",
            t.model,
            t.commit.short(),
            t.created_at,
            t.message,
            if t.dirty {
                "  [+ uncommitted changes]"
            } else {
                ""
            }
        ));
    }
    s.push_str("\nPinned by this code (mreg.lock):\n");
    if b.pinned.is_empty() {
        s.push_str("  (none)\n");
    }
    for p in &b.pinned {
        s.push_str(&format!(
            "  {:<30} {}@{}{}\n",
            p.path,
            p.model,
            p.commit.short(),
            if !p.in_store {
                "  [not in this store]"
            } else if !p.noted {
                "  [no git-pin note: hooks not installed then?]"
            } else {
                ""
            }
        ));
    }
    Ok(Output::ok(s))
}
