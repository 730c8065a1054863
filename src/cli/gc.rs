//! `mreg gc` and `mreg du`.

use std::time::SystemTime;

use mreg::gc::{self, GcOptions, KeepTop};
use mreg::ModelName;

use super::{fmt, Ctx, Output};

/// Remove what no one needs: plan first (--dry-run shows it), then sweep.
///
/// Plain `mreg gc` never loses a version: it removes objects no commit refers to (left by
/// interrupted commits) and stale temp files. Retention options are an explicit request to
/// prune the *file data* of versions outside the retention set (their metadata stays, and
/// log/show say they were pruned); never pruned: what a head, alias or tag points at now,
/// or what an alias or tag pointed at within --expire.
///
/// Examples:
///   mreg gc --dry-run
///   mreg gc --keep-last 5
///   mreg gc --keep-top 3 --by val_loss --min
#[derive(clap::Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// Show the plan; change nothing.
    #[arg(long, short = 'n')]
    dry_run: bool,
    /// Past alias/tag targets stay protected this long (default: config gc.expire, 90days).
    #[arg(long, value_name = "DURATION")]
    expire: Option<String>,
    /// Keep the file data of the N newest versions of each model.
    #[arg(long, value_name = "N")]
    keep_last: Option<usize>,
    /// Keep the file data of the N best versions of each model by --by METRIC.
    #[arg(long, value_name = "N", requires = "by")]
    keep_top: Option<usize>,
    /// Metric for --keep-top (higher is better unless --min).
    #[arg(long, value_name = "METRIC", requires = "keep_top")]
    by: Option<String>,
    /// Lower is better for --by.
    #[arg(long, requires = "by")]
    min: bool,
    #[arg(long)]
    json: bool,
}

fn expire(ctx_repo: &mreg::Repo, given: Option<&str>) -> mreg::Result<std::time::Duration> {
    gc::parse_duration(given.unwrap_or(&ctx_repo.config().gc.expire))
}

fn now() -> mreg::Result<SystemTime> {
    let t = super::now()?;
    humantime::parse_rfc3339_weak(&t)
        .map_err(|e| mreg::Error::InvalidArgument(format!("bad time {t}: {e}")))
}

pub fn run(ctx: &Ctx, a: Args) -> mreg::Result<Output> {
    let repo = ctx.repo()?;
    if a.keep_last == Some(0) || a.keep_top == Some(0) {
        return Err(mreg::Error::InvalidArgument(
            "--keep-last/--keep-top 0 would keep nothing but refs; use 1 or more".into(),
        ));
    }
    let opts = GcOptions {
        expire: expire(&repo, a.expire.as_deref())?,
        keep_last: a.keep_last,
        keep_top: a.keep_top.map(|n| KeepTop {
            n,
            metric: a.by.clone().expect("clap requires --by"),
            minimize: a.min,
        }),
        now: now()?,
    };
    let plan = gc::gc(&repo, &opts, a.dry_run, &super::now()?)?;
    if a.json {
        let mut v = serde_json::to_value(&plan).expect("serializes");
        v["dry_run"] = serde_json::Value::Bool(a.dry_run);
        return Ok(Output::ok(super::json(&v)));
    }
    let mut s = String::new();
    for v in &plan.prune_versions {
        s.push_str(&format!(
            "prune data of {}@{} ({})\n",
            v.model,
            v.id.short(),
            v.created_at
        ));
    }
    for d in &plan.delete {
        s.push_str(&format!(
            "delete {} {} ({}): {}\n",
            d.kind,
            d.id.short(),
            fmt::size(d.bytes),
            d.reason
        ));
    }
    for t in &plan.stale_temp_files {
        s.push_str(&format!("remove stale temp file {}\n", t.display()));
    }
    s.push_str(&format!(
        "{} {} object(s) of {}, {} of {}; {} version(s) pruned, {} temp file(s)\n",
        if a.dry_run { "would delete" } else { "deleted" },
        plan.delete.len(),
        plan.objects_before,
        fmt::size(plan.bytes_freed),
        fmt::size(plan.bytes_before),
        plan.prune_versions.len(),
        plan.stale_temp_files.len()
    ));
    Ok(Output::ok(s))
}

/// Disk usage per model and version: unique versus shared bytes, and what gc would free.
#[derive(clap::Args, Debug)]
pub struct DuArgs {
    /// Only this model.
    model: Option<String>,
    #[arg(long)]
    json: bool,
}

pub fn du(ctx: &Ctx, a: DuArgs) -> mreg::Result<Output> {
    let repo = ctx.repo()?;
    let model = a.model.as_deref().map(ModelName::new).transpose()?;
    let u = gc::du(&repo, model.as_ref(), now()?, expire(&repo, None)?)?;
    if a.json {
        return Ok(Output::ok(super::json(&u)));
    }
    let mut s = String::new();
    for m in &u.models {
        s.push_str(&format!("{}: {} on disk\n", m.model, fmt::size(m.bytes)));
        for v in &m.versions {
            s.push_str(&format!(
                "  {}  {}  size {:>10}  unique {:>10}  shared {:>10}{}{}\n",
                v.id.short(),
                v.created_at,
                fmt::size(v.logical_bytes),
                fmt::size(v.unique_bytes),
                fmt::size(v.shared_bytes),
                if v.pruned { "  [pruned]" } else { "" },
                if v.archived { "  [archived]" } else { "" }
            ));
        }
    }
    s.push_str(&format!(
        "objects: {}\nwould free:\n",
        fmt::size(u.store_bytes)
    ));
    for w in &u.would_free {
        s.push_str(&format!("  {:<22} {}\n", w.option, fmt::size(w.bytes)));
    }
    Ok(Output::ok(s))
}
