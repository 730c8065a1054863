//! Rendering remote gc, `prune --remote` and `du --remote` (the library computes them:
//! `mreg::remote::{gc_remote, prune_remote, du_remote}`).

use mreg::remote::{RemoteGcReport, RemotePrune, RemoteUsage};
use mreg::ModelName;

use super::{fmt, Output};

/// The plan (or what was done), as text: what goes and why, what the grace kept, what
/// is not mreg's.
fn plan_text(r: &RemoteGcReport) -> String {
    let mut s = String::new();
    let verb = if r.dry_run { "would remove" } else { "removed" };
    for d in &r.deleted {
        s.push_str(&format!(
            "{verb} {} ({}): {}\n",
            d.key,
            fmt::size(d.bytes),
            d.why
        ));
    }
    for p in &r.repacked {
        s.push_str(&format!(
            "{} pack {} ({}): {} dead object(s), {} freed; its {} live object(s) kept in a new pack\n",
            if r.dry_run { "would rewrite" } else { "rewrote" },
            p.pack.short(),
            fmt::size(p.bytes),
            p.dead_objects,
            fmt::size(p.dead_bytes),
            p.live_objects
        ));
    }
    if !r.kept_by_grace.is_empty() {
        let bytes: u64 = r.kept_by_grace.iter().map(|d| d.bytes).sum();
        s.push_str(&format!(
            "kept {} object(s) ({}) written within the grace period ({}): a push may still be writing them; a later gc removes them\n",
            r.kept_by_grace.len(),
            fmt::size(bytes),
            humantime::format_duration(std::time::Duration::from_secs(r.grace_seconds))
        ));
        for d in r.kept_by_grace.iter().take(20) {
            s.push_str(&format!(
                "  {} ({}): {}\n",
                d.key,
                fmt::size(d.bytes),
                d.why
            ));
        }
    }
    for (name, bytes) in &r.unknown {
        s.push_str(&format!(
            "not mreg's, left alone: {name} ({})\n",
            fmt::size(*bytes)
        ));
    }
    for p in &r.problems {
        s.push_str(&format!("problem, left alone: {p}\n"));
    }
    s.push_str(&format!(
        "{}: {} version(s) ({} pruned there) need {} object(s), {}; {} {} in {} object(s) and {} pack(s)\n",
        r.remote,
        r.versions,
        r.pruned_versions,
        r.live_objects,
        fmt::size(r.live_bytes),
        if r.dry_run { "gc would free" } else { "freed" },
        fmt::size(r.freed_bytes),
        r.deleted.len(),
        r.repacked.len()
    ));
    s.push_str(&format!("{} request(s) to the remote\n", r.requests));
    if r.dry_run {
        s.push_str("nothing changed: run again with --yes to sweep\n");
    }
    s
}

pub fn render_gc(r: &RemoteGcReport, json: bool) -> Output {
    if json {
        return Output::ok(super::json(r));
    }
    Output::ok(plan_text(r))
}

pub fn render_prune(p: &RemotePrune, json: bool) -> Output {
    if json {
        return Output::ok(super::json(p));
    }
    let mut s = String::new();
    match &p.local {
        Some(l) if p.gc.dry_run => s.push_str(&format!(
            "here: {} would be freed\n",
            fmt::size(l.plan.bytes_freed)
        )),
        Some(l) => s.push_str(&format!(
            "pruned {}@{} here: {} freed\n",
            p.model,
            p.id.short(),
            fmt::size(l.plan.bytes_freed)
        )),
        None => s.push_str(&format!(
            "{}@{} was already pruned here\n",
            p.model,
            p.id.short()
        )),
    }
    if !p.gc.dry_run {
        s.push_str(&format!(
            "published the prune on {} ({} line(s))\n",
            p.gc.remote,
            p.push.models.iter().map(|m| m.lines_pushed).sum::<usize>()
        ));
    }
    s.push_str(&plan_text(&p.gc));
    Output::ok(s)
}

pub fn render_du(u: &RemoteUsage, model: Option<&ModelName>, json: bool) -> Output {
    if json {
        return Output::ok(super::json(u));
    }
    let mut s = format!(
        "{} ({}): {} stored\nON REMOTE: the bytes of what the version needs there; ALONE: bytes only it uses (freed if it alone were pruned there); SHARED: bytes other versions use too\n",
        u.remote,
        u.url,
        fmt::size(u.total_bytes)
    );
    let mut current: Option<&ModelName> = None;
    for v in u
        .versions
        .iter()
        .filter(|v| model.is_none_or(|m| *m == v.model))
    {
        if current != Some(&v.model) {
            s.push_str(&format!("{}:\n", v.model));
            current = Some(&v.model);
        }
        s.push_str(&format!(
            "  {:>6}  {}  on remote {:>10}  alone {:>10}  shared {:>10}{}\n",
            v.version.map_or("pending".to_string(), |n| format!("#{n}")),
            v.id.short(),
            fmt::size(v.bytes),
            fmt::size(v.unique),
            fmt::size(v.shared),
            if v.pruned { "  [pruned there]" } else { "" }
        ));
    }
    s.push_str(&format!(
        "gc --remote {} would free {} ({} object(s), {} pack(s) rewritten); {} kept by the grace period\n",
        u.remote,
        fmt::size(u.gc.freed_bytes),
        u.gc.deleted.len(),
        u.gc.repacked.len(),
        u.gc.kept_by_grace.len()
    ));
    Output::ok(s)
}
