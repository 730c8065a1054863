//! `mreg gc` and `mreg du`.

use std::time::SystemTime;

use mreg::gc::{self, GcOptions, KeepTop};
use mreg::ModelName;

use super::{fmt, Ctx, Output};

/// Remove what no one needs: plan first (--dry-run shows it), then sweep.
///
/// Plain `mreg gc` never loses a version: it removes objects no commit refers to (left by
/// interrupted commits) and temp files no live writer owns. A commit object that no
/// history names is removed only when it is an interrupted commit (its pending marker
/// says so) older than --grace and its model's history is intact; otherwise it may be a
/// version whose history line was lost (a bad restore), and gc keeps it and its data
/// (`mreg fsck` reports it). Retention options are an
/// explicit request to prune the *chunks* of versions outside the retention set (their
/// metadata, manifests and history stay, and log/show say they were pruned). Never pruned:
/// what a head, alias or tag points at now, what an alias or tag pointed at within
/// --expire, and under --keep-top a version that lacks the key. Retention counts every
/// version, archived or not; --prune-archived prunes archived versions first.
///
/// gc fails closed: if it cannot read a commit or manifest it must keep, it deletes
/// nothing and names the item.
///
/// Caches: the load cache (`cache/load/`) is brought under `cache.load_max`; keyframe
/// cache entries (`cache/keyframes/`, the newest deltas stored whole for fast checkout)
/// go with their objects, and entries with no delta object behind them are removed.
///
/// With --remote NAME, gc cleans the remote instead: it removes what no version there
/// needs (chunks of versions pruned there, objects of interrupted pushes, packs nothing
/// indexes; packs half dead are rewritten). The plan is shown first; --yes sweeps. The
/// sweep holds the remote's lock, which pushes wait for (and gc waits for the pushes in
/// flight); objects written within --grace (default 24h) are kept, so a push by an older
/// mreg, which takes no lock, is safe too. Names that are not mreg's are reported, never
/// deleted.
///
/// Examples:
///   mreg gc --dry-run
///   mreg gc --remote origin                 # the plan
///   mreg gc --remote origin --yes           # the sweep
///   mreg gc --keep-last 5
///   mreg gc --keep-top 3 --by val_loss --min --model mnist
///   mreg gc --keep-top 3 --by eval.holdout.f1
///   mreg gc --prune-archived
#[derive(clap::Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// Show the plan; change nothing.
    #[arg(long, short = 'n')]
    dry_run: bool,
    /// Past alias/tag targets stay protected this long (default: config gc.expire, 90days).
    #[arg(long, value_name = "DURATION")]
    expire: Option<String>,
    /// Interrupted commits stay this long before gc removes them (default: config
    /// gc.grace, 14days).
    #[arg(long, value_name = "DURATION")]
    grace: Option<String>,
    /// Keep the data of the N newest versions of each model (archived ones count).
    #[arg(long, value_name = "N")]
    keep_last: Option<usize>,
    /// Keep the data of the N best versions of each model by --by KEY.
    #[arg(long, value_name = "N", requires = "by")]
    keep_top: Option<usize>,
    /// Ranking key for --keep-top, as in `list --where`: a bare name means metrics.NAME;
    /// eval.DATASET.NAME and params.NAME work too. Higher is better unless --min.
    #[arg(long, value_name = "KEY", requires = "keep_top")]
    by: Option<String>,
    /// Lower is better for --by.
    #[arg(long, requires = "by")]
    min: bool,
    /// Prune the data of archived versions (unless a ref protects them); they then do not
    /// count toward --keep-last / --keep-top.
    #[arg(long)]
    prune_archived: bool,
    /// Apply retention to this model only (repeatable; default: every model).
    #[arg(long = "model", value_name = "MODEL")]
    models: Vec<String>,
    /// Clean this remote instead of the store (plan first; --yes sweeps).
    #[arg(long, value_name = "NAME", conflicts_with_all = ["keep_last", "keep_top", "prune_archived", "models", "expire"])]
    remote: Option<String>,
    /// With --remote: sweep (without it, only the plan is shown).
    #[arg(long, short = 'y', requires = "remote")]
    yes: bool,
    #[arg(long)]
    json: bool,
}

fn expire(ctx_repo: &mreg::Repo, given: Option<&str>) -> mreg::Result<std::time::Duration> {
    gc::parse_duration(given.unwrap_or(&ctx_repo.config().gc.expire))
}

fn now() -> mreg::Result<SystemTime> {
    let t = super::now()?;
    t.system_time().ok_or_else(|| {
        mreg::error::QueryError::BadTime {
            input: t.to_string(),
        }
        .into()
    })
}

pub fn run(ctx: &Ctx, a: Args) -> mreg::Result<Output> {
    let repo = ctx.repo()?;
    if let Some(remote) = &a.remote {
        let opts = mreg::remote::RemoteGcOptions {
            grace: match &a.grace {
                Some(g) => gc::parse_duration(g)?,
                None => mreg::remote::DEFAULT_GRACE,
            },
            dry_run: a.dry_run || !a.yes,
        };
        let progress = ctx.progress();
        let rep = mreg::remote::gc_remote(&repo, Some(remote), &opts, &progress)?;
        return Ok(super::remote_gc::render_gc(&rep, a.json));
    }
    if a.keep_last == Some(0) || a.keep_top == Some(0) {
        return Err(mreg::Error::InvalidArgument(
            "--keep-last/--keep-top 0 would keep nothing but refs; use 1 or more".into(),
        ));
    }
    let models = a
        .models
        .iter()
        .map(|m| {
            let m = ModelName::new(m)?;
            repo.require_model(&m)?;
            Ok(m)
        })
        .collect::<mreg::Result<Vec<_>>>()?;
    let opts = GcOptions {
        expire: expire(&repo, a.expire.as_deref())?,
        grace: gc::parse_duration(a.grace.as_deref().unwrap_or(&repo.config().gc.grace))?,
        keep_last: a.keep_last,
        keep_top: a.keep_top.map(|n| KeepTop {
            n,
            key: a.by.clone().expect("clap requires --by"),
            minimize: a.min,
        }),
        prune_archived: a.prune_archived,
        models,
        now: now()?,
    };
    let plan = gc::gc(&repo, &opts, a.dry_run, &super::now()?)?;
    if a.json {
        let mut v = serde_json::to_value(&plan).expect("serializes");
        v["dry_run"] = serde_json::Value::Bool(a.dry_run);
        v["stale_temp_files"] =
            serde_json::json!(plan.stale_temp_files().map(|t| &t.path).collect::<Vec<_>>());
        return Ok(Output::ok(super::json(&v)));
    }
    let mut s = String::new();
    for k in &plan.kept_versions {
        s.push_str(&format!(
            "keep data of {}@{}: {}\n",
            k.model,
            k.id.short(),
            k.reasons.join("; ")
        ));
    }
    s.push_str(&render_plan(&plan, a.dry_run));
    if let Some(c) = &plan.load_cache {
        s.push_str(&format!(
            "load cache: {} in {} version(s), cap {}",
            fmt::size(c.bytes),
            c.versions,
            fmt::size(c.cap)
        ));
        if !c.evicted.is_empty() {
            s.push_str(&format!(
                "; {} {} least recently used version(s), {}",
                if a.dry_run { "would evict" } else { "evicted" },
                c.evicted.len(),
                fmt::size(c.evicted_bytes)
            ));
        }
        if !c.in_use.is_empty() {
            s.push_str(&format!(
                "; {} over the cap kept: in use by a running process",
                c.in_use.len()
            ));
        }
        s.push('\n');
    }
    if let Some(k) = plan.keyframe_cache.filter(|k| k.entries > 0) {
        s.push_str(&format!(
            "keyframe cache: removed {} entr{} without a delta object, {}\n",
            k.entries,
            if k.entries == 1 { "y" } else { "ies" },
            fmt::size(k.bytes)
        ));
    }
    Ok(Output::ok(s))
}

/// The plan's deletions, pruned versions, temp files and totals, as text.
fn render_plan(plan: &gc::GcPlan, dry_run: bool) -> String {
    let mut s = String::new();
    for v in &plan.prune_versions {
        s.push_str(&format!(
            "prune data of {}@{} ({}, {} freed): {}; files losing data: {}\n",
            v.model,
            v.id.short(),
            v.created_at,
            fmt::size(v.bytes),
            v.reason,
            if v.files.is_empty() {
                "unknown (manifest unreadable)".to_string()
            } else {
                v.files.join(", ")
            }
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
    for o in plan.orphan_commits.iter().filter(|o| !o.remove) {
        s.push_str(&format!(
            "keep commit {} no history names: {}\n",
            o.orphan.id.short(),
            o.why
        ));
    }
    for t in &plan.temp_files {
        s.push_str(&format!(
            "{} temp file {} ({}, {} old): {}\n",
            if t.remove { "remove" } else { "leave" },
            t.path.display(),
            fmt::size(t.bytes),
            humantime::format_duration(std::time::Duration::from_secs(t.age_secs)),
            t.why
        ));
    }
    let temps: Vec<_> = plan.stale_temp_files().collect();
    s.push_str(&format!(
        "{} {} object(s) of {}, {} of {}; {} version(s) pruned; {} temp file(s), {}\n",
        if dry_run { "would delete" } else { "deleted" },
        plan.delete.len(),
        plan.objects_before,
        fmt::size(plan.bytes_freed),
        fmt::size(plan.bytes_before),
        plan.prune_versions.len(),
        temps.len(),
        fmt::size(temps.iter().map(|t| t.bytes).sum())
    ));
    s
}

/// Prune one version's data on purpose: a bad, leaked or oversized version.
///
/// Shows the plan (which files lose data, what is freed) and changes nothing unless
/// --yes. The version's metadata, manifests and history stay: `show`, `diff` and
/// `compare` still work, `checkout` and `promote` refuse it. Refused for a version an
/// alias or tag points at, or the model's latest version. Chunks other versions share are
/// kept. The prune is recorded in the model's history (who, when, -m why).
///
/// Examples:
///   mreg prune mnist~3 -m 'trained on leaked test data'
///   mreg prune 3fa9c1d2 --yes -m 'trained on leaked test data'
#[derive(clap::Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct PruneArgs {
    /// The version to prune.
    rev: String,
    /// Do it (without --yes, only the plan is shown).
    #[arg(long, short = 'y')]
    yes: bool,
    /// Why (recorded in the history).
    #[arg(long, short = 'm', default_value = "")]
    message: String,
    /// Prune it on this remote too: its data goes from the remote (what no other version
    /// there needs), the prune is published, every store that pulls sees it.
    #[arg(long, value_name = "NAME")]
    remote: Option<String>,
    /// With --remote: keep the remote's objects written within this (default 24h).
    #[arg(long, value_name = "DURATION", requires = "remote")]
    grace: Option<String>,
    #[arg(long)]
    json: bool,
}

pub fn prune(ctx: &Ctx, a: PruneArgs) -> mreg::Result<Output> {
    let repo = ctx.repo()?;
    let id = repo.resolve(&a.rev)?;
    let info = super::alias::move_info(a.message.clone())?;
    if let Some(remote) = &a.remote {
        let opts = mreg::remote::RemoteGcOptions {
            grace: match &a.grace {
                Some(g) => gc::parse_duration(g)?,
                None => mreg::remote::DEFAULT_GRACE,
            },
            dry_run: !a.yes,
        };
        let progress = ctx.progress();
        let p = mreg::remote::prune_remote(&repo, id, Some(remote), info, &opts, &progress)?;
        return Ok(super::remote_gc::render_prune(&p, a.json));
    }
    let p = gc::prune(&repo, id, !a.yes, info)?;
    if a.json {
        let mut v = serde_json::to_value(&p).expect("serializes");
        v["dry_run"] = serde_json::Value::Bool(!a.yes);
        return Ok(Output::ok(super::json(&v)));
    }
    let mut s = String::new();
    if !p.loses_data {
        s.push_str(&format!(
            "{}@{}: every chunk is shared with versions that are kept; pruning frees nothing\n",
            p.model,
            p.id.short()
        ));
    }
    s.push_str(&render_plan(&p.plan, !a.yes));
    if !a.yes {
        s.push_str("nothing changed: run again with --yes to prune\n");
    }
    Ok(Output::ok(s))
}

/// Disk usage per model and version: unique versus shared bytes, and what gc would free.
/// With --remote NAME, the same for a remote: bytes there per version, and what
/// `gc --remote NAME` would free.
#[derive(clap::Args, Debug)]
pub struct DuArgs {
    /// Only this model.
    model: Option<String>,
    /// Measure this remote instead of the store.
    #[arg(long, value_name = "NAME")]
    remote: Option<String>,
    #[arg(long)]
    json: bool,
}

pub fn du(ctx: &Ctx, a: DuArgs) -> mreg::Result<Output> {
    let repo = ctx.repo()?;
    if let Some(remote) = &a.remote {
        let model = a.model.as_deref().map(ModelName::new).transpose()?;
        let progress = ctx.progress();
        let u = mreg::remote::du_remote(&repo, Some(remote), &progress)?;
        return Ok(super::remote_gc::render_du(&u, model.as_ref(), a.json));
    }
    let model = a.model.as_deref().map(ModelName::new).transpose()?;
    let u = mreg::ops::du::du(&repo, model.as_ref(), now()?, expire(&repo, None)?)?;
    if a.json {
        return Ok(Output::ok(super::json(&u)));
    }
    // Per version: its files' size, then what it takes on disk (compressed, with its
    // commit and manifests) alone and shared with other versions.
    let mut s = String::from(
        "FILES: the version's file sizes; ON DISK ALONE: stored bytes only it uses (freed if it alone were pruned; compressed, metadata included); SHARED: stored bytes it shares with other versions\n",
    );
    for m in &u.models {
        s.push_str(&format!("{}: {} on disk\n", m.model, fmt::size(m.bytes)));
        for v in &m.versions {
            s.push_str(&format!(
                "  {}  {}  files {:>10}  on disk alone {:>10}  shared {:>10}{}{}\n",
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
    s.push_str(&format!("objects: {}\n", fmt::size(u.store_bytes)));
    if u.keyframe_cache_bytes > 0 {
        s.push_str(&format!(
            "keyframe cache: {} (the newest checkpoints' deltas, stored whole for fast reads; \
             cache.keyframes_max)\n",
            fmt::size(u.keyframe_cache_bytes)
        ));
    }
    s.push_str("would free:\n");
    for w in &u.would_free {
        s.push_str(&format!("  {:<22} {}\n", w.option, fmt::size(w.bytes)));
    }
    if !u.temp_files.is_empty() {
        s.push_str(&format!(
            "temp files: {} in {} file(s) (an interrupted commit leaves its data here)\n",
            fmt::size(u.temp_bytes),
            u.temp_files.len()
        ));
        for t in &u.temp_files {
            s.push_str(&format!(
                "  {}  {}  {} old\n",
                t.path.display(),
                fmt::size(t.bytes),
                humantime::format_duration(std::time::Duration::from_secs(t.age_secs))
            ));
        }
    }
    for p in &u.problems {
        s.push_str(&format!("unreadable: {}: {}\n", p.item, p.problem));
    }
    Ok(Output::ok(s))
}
