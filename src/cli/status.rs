//! `mreg status`: tracked files that differ from what mreg last wrote or committed.

use mreg::worktree::{self, FileState};

use super::{Ctx, Output};

/// Show tracked files that changed, and untracked files inside committed directories.
///
/// A tracked file is one mreg last committed or checked out; it is `modified` or `deleted`
/// when its content differs from that version. Files inside a model's committed directory
/// that mreg never tracked are listed as `untracked`. Unchanged files are recognised by
/// their stat (no re-read); touched files are re-hashed.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Print every tracked file and its state as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(ctx: &Ctx, a: Args) -> mreg::Result<Output> {
    let repo = ctx.repo()?;
    let entries = worktree::status(&repo)?;
    let untracked = worktree::untracked(&repo)?;
    let clean = entries.iter().all(|e| e.state == FileState::Clean);
    if a.json {
        return Ok(Output::ok(super::json(&serde_json::json!({
            "clean": clean,
            "files": entries,
            "untracked": untracked,
        }))));
    }
    let mut s = String::new();
    for e in entries.iter().filter(|e| e.state != FileState::Clean) {
        let what = match e.state {
            FileState::Modified => "modified",
            FileState::Deleted => "deleted",
            FileState::Clean => unreachable!(),
        };
        s.push_str(&format!(
            "{what:>9}: {}  ({}@{})\n",
            e.path,
            e.model,
            e.commit.short()
        ));
    }
    for u in &untracked {
        s.push_str(&format!(
            "untracked: {}  (inside {}'s committed directory; not part of any version)\n",
            u.path, u.model
        ));
    }
    if clean {
        s.push_str(&format!(
            "clean: {} tracked file(s) match their commits\n",
            entries.len()
        ));
    }
    Ok(Output::ok(s))
}
