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
    let r = worktree::report(&repo)?;
    if a.json {
        return Ok(Output::ok(super::json(&r)));
    }
    let (entries, untracked, clean) = (&r.files, &r.untracked, r.clean);
    let mut s = String::new();
    // Which version of each model the work tree holds (after a checkout of an old one,
    // that is not the head).
    for v in &r.versions {
        s.push_str(&format!(
            "{}: the work tree holds {} {}{} ({} file(s))\n",
            v.model,
            mreg::versions::label(v.version),
            v.commit.short(),
            match (v.is_head, v.head) {
                (true, _) => ", the latest version".to_string(),
                (false, Some(h)) => format!(
                    ", not the latest ({}: `mreg checkout {}` for it)",
                    h.short(),
                    v.model
                ),
                (false, None) => String::new(),
            },
            v.files
        ));
    }
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
    for u in untracked {
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
