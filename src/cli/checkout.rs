//! `mreg checkout`: restore a commit's files.

use std::path::PathBuf;

use mreg::ops::checkout::{checkout, CheckoutRequest};

use super::{fmt, Ctx, Output};

/// Write a commit's files, by default to the paths they were committed from.
///
/// Files are verified chunk by chunk and written under a temporary name, then renamed: an
/// interrupted checkout never leaves a half-written model. A file with local changes that
/// mreg did not write is never overwritten without --force.
///
/// Examples:
///   mreg checkout mnist~2                  # the model as it was two commits ago
///   mreg checkout 3fa2c1 weights/ --to /tmp/old
#[derive(clap::Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// The revision to check out.
    rev: String,

    /// Only these files or directories of the commit.
    paths: Vec<PathBuf>,

    /// Write under DIR instead of the repository root.
    #[arg(long, value_name = "DIR")]
    to: Option<PathBuf>,

    /// Overwrite files with local changes.
    #[arg(long, short)]
    force: bool,

    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(ctx: &Ctx, a: Args) -> mreg::Result<Output> {
    let repo = ctx.repo()?;
    let id = repo.resolve(&a.rev)?;
    let paths = super::rel_paths(&repo, &ctx.cwd, &a.paths)?;
    let req = CheckoutRequest {
        commit: id,
        paths,
        to: a.to.map(|t| ctx.cwd.join(t)),
        force: a.force,
    };
    let out = checkout(&repo, &req, &ctx.progress())?;
    if a.json {
        let mut v = serde_json::to_value(&out).expect("serializes");
        v["commit"] = serde_json::Value::String(id.to_hex());
        return Ok(Output::ok(super::json(&v)));
    }
    ctx.note(format_args!(
        "checked out {}: {} file(s) written ({}), {} already up to date",
        id.short(),
        out.written.len(),
        fmt::size(out.bytes_written),
        out.unchanged.len()
    ));
    Ok(Output::ok(String::new()))
}
