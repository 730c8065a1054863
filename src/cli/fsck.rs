//! `mreg fsck`: verify the whole store.

use super::{Ctx, Output};

/// Verify every object, commit, ref and history log.
///
/// Exits 0 when the store is clean, 1 when anything is broken (each broken item is named).
/// Dangling objects (left by an interrupted commit) are harmless and reported as a count.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,

    /// Verify a remote instead: every object it holds is well-formed and named by its
    /// hash, every history is an intact chain, and everything a history line names is
    /// there with its data. Downloads everything once.
    #[arg(long, value_name = "NAME")]
    remote: Option<String>,
}

/// The `--json` report: the library's report plus `clean`, exit 1 when not clean.
fn json_report<T: serde::Serialize>(rep: &T, clean: bool) -> Output {
    let mut v = serde_json::to_value(rep).expect("serializes");
    v["clean"] = serde_json::Value::Bool(clean);
    Output {
        stdout: super::json(&v),
        code: if clean { 0 } else { 1 },
    }
}

/// One `broken: ITEM: PROBLEM` line per problem.
fn broken(problems: &[mreg::reach::Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("broken: {}: {}\n", p.item, p.problem))
        .collect()
}

fn run_remote(ctx: &Ctx, a: &Args, name: &str) -> mreg::Result<Output> {
    let repo = ctx.repo()?;
    let rep = mreg::remote::fsck_remote(&repo, Some(name), &ctx.progress())?;
    let code = if rep.is_clean() { 0 } else { 1 };
    if a.json {
        return Ok(json_report(&rep, rep.is_clean()));
    }
    let mut s = broken(&rep.problems);
    s.push_str(&format!(
        "checked remote {} ({}): {} objects ({}), {} models, {} history lines; {}\n",
        rep.remote,
        rep.url,
        rep.objects,
        super::fmt::size(rep.bytes),
        rep.models,
        rep.lines,
        if rep.is_clean() {
            "remote is clean".to_string()
        } else {
            format!("{} problem(s)", rep.problems.len())
        }
    ));
    Ok(Output { stdout: s, code })
}

pub fn run(ctx: &Ctx, a: Args) -> mreg::Result<Output> {
    if let Some(name) = a.remote.clone() {
        return run_remote(ctx, &a, &name);
    }
    let repo = ctx.repo()?;
    let rep = mreg::ops::fsck::fsck(&repo)?;
    let code = if rep.is_clean() { 0 } else { 1 };
    if a.json {
        return Ok(json_report(&rep, rep.is_clean()));
    }
    let mut s = broken(&rep.problems);
    for w in &rep.warnings {
        s.push_str(&format!("warning: {}: {}\n", w.item, w.problem));
    }
    s.push_str(&format!(
        "checked {} objects, {} commits, {} models, {} history entries; {} dangling; {}\n",
        rep.objects,
        rep.commits,
        rep.models,
        rep.history_entries,
        rep.dangling,
        if rep.is_clean() {
            "store is clean".to_string()
        } else {
            format!("{} problem(s)", rep.problems.len())
        }
    ));
    Ok(Output { stdout: s, code })
}
