//! `mreg checkout`: restore a commit's files.

use std::path::PathBuf;

use mreg::ops::checkout::{checkout, checkout_pinned, CheckoutRequest};

use super::{fmt, Ctx, Output};

/// Write a commit's files, by default to the paths they were committed from.
///
/// Files are verified chunk by chunk and written under a temporary name, then renamed: an
/// interrupted checkout never leaves a half-written model. A file with local changes that
/// mreg did not write is never overwritten without --force. A directory is a version:
/// files of another version of the model that mreg wrote here and this version lacks are
/// removed when unmodified (refused without --force when modified); files mreg never
/// tracked are left alone. Nothing is ever written through a symbolic link.
///
/// Examples:
///   mreg checkout mnist~2                  # the model as it was two commits ago
///   mreg checkout 3fa2c1 weights/ --to /tmp/old
///   mreg checkout --git v1.2.0             # the models pinned in mreg.lock at that git tag
#[derive(clap::Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// The revision to check out (not with --git).
    #[arg(required_unless_present = "git")]
    rev: Option<String>,

    /// Restore the model files pinned in mreg.lock as of this git revision (read from git
    /// history; the git work tree and index are not touched).
    #[arg(long, value_name = "GITREV", conflicts_with_all = ["to"])]
    git: Option<String>,

    /// Only these files or directories of the commit.
    paths: Vec<PathBuf>,

    /// Write under DIR instead of the repository root. Paths are relative to the version's
    /// root: a version committed from models/minilm/ lands in DIR/ (a single file
    /// models/w.bin at DIR/w.bin); see --full-paths.
    #[arg(long, value_name = "DIR")]
    to: Option<PathBuf>,

    /// With --to: keep the repository-relative paths (DIR/models/minilm/...).
    #[arg(long, requires = "to")]
    full_paths: bool,

    /// Overwrite files with local changes.
    #[arg(long, short)]
    force: bool,

    /// Write nothing unless the version carries a valid signature by a trusted key (the
    /// model's policy, or --key): its files' SHA-256 are checked against the signature.
    #[arg(long)]
    verify: bool,

    /// With --verify: a public key (PEM) to trust; repeatable.
    #[arg(long, value_name = "PUB.pem", requires = "verify")]
    key: Vec<PathBuf>,

    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

/// The store for `checkout --git`: the usual one, or — in a fresh clone of the code that
/// has no store but tracks `mreg-remotes.yaml` — a new one at the git root, whose versions
/// come from those remotes.
fn repo_for_git(ctx: &Ctx) -> mreg::Result<mreg::Repo> {
    match ctx.repo() {
        Err(mreg::Error::NotARepo(p)) if ctx.store.is_none() => {
            let root =
                mreg::git::work_tree_root(&ctx.cwd).ok_or(mreg::Error::NotARepo(p.clone()))?;
            if mreg::remote::config::tracked_remotes(&root)?.is_empty() {
                return Err(mreg::Error::NotARepo(p));
            }
            mreg::Repo::init(&root)?;
            ctx.note(format_args!(
                "created a store in {} for the remotes in {}",
                root.display(),
                mreg::remote::config::TRACKED_FILE
            ));
            ctx.repo()
        }
        other => other,
    }
}

fn run_git(ctx: &Ctx, a: Args, gitrev: &str) -> mreg::Result<Output> {
    let repo = repo_for_git(ctx)?;
    let wanted = super::rel_paths(&repo, &ctx.cwd, &a.paths)?;
    let done = checkout_pinned(&repo, gitrev, &wanted, a.force, &ctx.progress())?;
    for d in &done {
        ctx.note(format_args!(
            "checked out {}@{} pinned at {gitrev}: {} file(s) written, {} up to date",
            d.model,
            d.commit.short(),
            d.outcome.written.len(),
            d.outcome.unchanged.len()
        ));
    }
    Ok(Output::ok(if a.json {
        super::json(&done)
    } else {
        String::new()
    }))
}

pub fn run(ctx: &Ctx, a: Args) -> mreg::Result<Output> {
    if let Some(g) = a.git.clone() {
        // With --git there is no REV: a first positional argument is a path.
        let mut a = a;
        if let Some(first) = a.rev.take() {
            a.paths.insert(0, PathBuf::from(first));
        }
        return run_git(ctx, a, &g);
    }
    let repo = ctx.repo()?;
    let id = repo.resolve(a.rev.as_deref().expect("clap requires REV without --git"))?;
    let paths = super::rel_paths(&repo, &ctx.cwd, &a.paths)?;
    let req = CheckoutRequest {
        commit: id,
        paths,
        to: a.to.map(|t| ctx.cwd.join(t)),
        force: a.force,
        pin: true,
        strip_root: !a.full_paths,
        verify: if a.verify {
            Some(if a.key.is_empty() {
                mreg::trust::trusted_keys(&repo, &repo.read_commit(&id)?.model)?
            } else {
                super::sign::public_keys(ctx, &a.key)?
            })
        } else {
            None
        },
    };
    let out = checkout(&repo, &req, &ctx.progress())?;
    if a.json {
        let mut v = serde_json::to_value(&out).expect("serializes");
        v["commit"] = serde_json::Value::String(id.to_hex());
        return Ok(Output::ok(super::json(&v)));
    }
    ctx.note(format_args!(
        "checked out {}: {} file(s) written ({}{}), {} already up to date{}",
        id.short(),
        out.written.len(),
        fmt::size(out.bytes_written),
        if out.bytes_fetched > 0 {
            format!(", {} fetched from the remote", fmt::size(out.bytes_fetched))
        } else {
            String::new()
        },
        out.unchanged.len(),
        if out.removed.is_empty() {
            String::new()
        } else {
            format!(
                ", {} file(s) of another version removed: {}",
                out.removed.len(),
                out.removed.join(", ")
            )
        }
    ));
    Ok(Output::ok(String::new()))
}
