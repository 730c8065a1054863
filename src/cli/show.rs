//! `mreg show`: one commit in full.

use super::{fmt, Ctx, Output};

/// Show one commit: files, params, metrics, datasets, environment.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The revision to show (id, prefix, MODEL, MODEL@ALIAS, TAG, REV~N).
    rev: String,

    /// Print the commit as JSON.
    #[arg(long)]
    json: bool,

    /// Print the output log of the command that made it (`mreg run`) instead.
    #[arg(long, conflicts_with = "json")]
    log: bool,
}

pub fn run(ctx: &Ctx, a: Args) -> mreg::Result<Output> {
    let repo = ctx.repo()?;
    let id = repo.resolve(&a.rev)?;
    if a.log {
        let c = repo.read_commit(&id)?;
        let Some(blob) = c.recipe.as_ref().and_then(|r| r.log_blob()) else {
            return Err(mreg::error::RunError::NoLog {
                what: format!("version {}", id.short()),
            }
            .into());
        };
        let bytes = repo.objects().get_kind(&blob, mreg::object::Kind::Blob)?;
        return Ok(Output::ok(String::from_utf8_lossy(&bytes).into_owned()));
    }
    // One view of the version; the text below and `--json` render the same facts.
    let v = mreg::ops::view::show(&repo, &id)?;
    if a.json {
        return Ok(Output::ok(super::json(&v)));
    }
    let c = &v.commit;
    let (pruned, on_remote, lost, refs, archived, notes) = (
        v.files_pruned,
        &v.data_on_remote,
        &v.files_missing_data,
        &v.refs,
        v.archived,
        &v.notes,
    );
    let mut s = format!("commit {id}\n");
    if !refs.is_empty() {
        s.push_str(&format!("Refs:    {}\n", refs.join(", ")));
    }
    if archived {
        s.push_str("Status:  archived\n");
    }
    s.push_str(&format!("Model:   {}\n", c.model));
    s.push_str(&format!(
        "Version: {}\n",
        match v.version {
            Some(n) => format!("{}#{n}", c.model),
            None => "pending (not published yet: `mreg push` gives it a number)".into(),
        }
    ));
    for p in &c.parents {
        s.push_str(&format!("Parent:  {p}\n"));
    }
    s.push_str(&format!(
        "Author:  {}\nDate:    {}\n",
        c.author, c.created_at
    ));
    if !c.labels.is_empty() {
        s.push_str(&format!("Labels:  {}\n", c.labels.join(", ")));
    }
    if !c.message.is_empty() {
        s.push('\n');
        for l in c.message.lines() {
            s.push_str(&format!("    {l}\n"));
        }
    }
    s.push_str(&format!(
        "\nFiles ({}, {}){}:\n",
        c.files.len(),
        fmt::size(c.total_size()),
        match (on_remote, pruned) {
            (_, true) => {
                " [data pruned here: checkout fetches it from a remote that has it]".to_string()
            }
            (Some(r), false) => format!(" [data on remote {r}: checkout fetches it]"),
            (None, false) => String::new(),
        }
    ));
    for f in &c.files {
        s.push_str(&format!(
            "  {}  {:>10}  {}{}{}\n",
            f.blake3.short(),
            fmt::size(f.size),
            f.path,
            if f.executable { " (executable)" } else { "" },
            if lost.contains(&f.path) {
                "  [data pruned]"
            } else {
                ""
            }
        ));
    }
    if c.params.as_object().is_some_and(|m| !m.is_empty()) {
        s.push_str("\nParams:\n");
        let y = serde_yaml::to_string(&c.params).unwrap_or_default();
        for l in y.lines() {
            s.push_str(&format!("  {l}\n"));
        }
    }
    if !c.metrics.is_empty() {
        s.push_str("\nMetrics:\n");
        for (k, v) in &c.metrics {
            s.push_str(&format!("  {k}: {}\n", fmt::num(*v)));
        }
    }
    if !c.datasets.is_empty() {
        s.push_str("\nDatasets:\n");
        for d in &c.datasets {
            s.push_str(&format!(
                "  {}: {} ({}, blake3 {}){}\n",
                d.name,
                d.path,
                fmt::size(d.size),
                d.blake3.short(),
                if d.stored.is_empty() { "" } else { " [stored]" }
            ));
        }
    }
    match &c.recipe {
        Some(mreg::recipe::Recipe::Train(t)) => {
            s.push_str(&format!(
                "\nTraining: {} on {} (burn {}), seed {}, {} epochs in {:.2} s, best epoch {}\n",
                t.weights,
                t.backend,
                t.burn_version,
                t.seed,
                t.epochs.len(),
                t.train_seconds,
                t.best_epoch
            ));
            s.push_str("  epoch  train_loss    val_loss  metrics\n");
            for e in &t.epochs {
                let m: Vec<String> = e
                    .metrics
                    .iter()
                    .map(|(k, v)| format!("{k}={}", fmt::num(*v)))
                    .collect();
                s.push_str(&format!(
                    "  {:>5}  {:>10.6}  {:>10.6}  {}\n",
                    e.epoch,
                    e.train_loss,
                    e.val_loss,
                    m.join(" ")
                ));
            }
            s.push_str(&system_line(&t.system, true));
        }
        Some(mreg::recipe::Recipe::Run(r)) => {
            s.push_str(&format!(
                "\nRun: {} (in {}, {:.2} s)\n",
                r.command.join(" "),
                if r.cwd.is_empty() { "." } else { &r.cwd },
                r.seconds
            ));
            // The machine, without mreg's own peak memory (the job's is under "Used") and
            // without the GPU when the samples below say it (once, not twice).
            s.push_str(&system_line(&r.system, r.resources.is_none()));
            if let Some(res) = &r.resources {
                s.push_str(&format!(
                    "  Used: {:.2} s wall, {:.2} s CPU, peak memory {}{}\n",
                    res.wall_seconds,
                    res.cpu_seconds,
                    fmt::size(res.peak_rss_bytes),
                    res.peak_threads
                        .map_or(String::new(), |t| format!(", up to {t} thread(s)"))
                ));
                if let Some(g) = &res.gpu {
                    for d in &g.devices {
                        s.push_str(&format!(
                            "  GPU {}: memory peak {} (mean {}) of {}, utilization peak {}% (mean {:.0}%), {} samples\n",
                            d.name,
                            fmt::size(d.memory_peak),
                            fmt::size(d.memory_mean),
                            fmt::size(d.memory_total),
                            d.utilization_peak,
                            d.utilization_mean,
                            g.samples
                        ));
                    }
                    if let Some(why) = &g.unavailable {
                        s.push_str(&format!("  GPU: unavailable: {why}\n"));
                    }
                }
            }
            if let Some(l) = &r.log {
                s.push_str(&format!(
                    "  Log: {}{} (mreg show {} --log)\n",
                    fmt::size(l.bytes),
                    if l.truncated {
                        ", beginning and end kept"
                    } else {
                        ""
                    },
                    id.short()
                ));
            }
            if let Some(cv) = &r.curves {
                s.push_str("  Curves (first, best, last):\n");
                let n = |v: Option<f64>| v.map_or("-".to_string(), fmt::num);
                for (name, c) in &cv.summary {
                    s.push_str(&format!(
                        "    {name}: {} points, first {}, best {} ({}) at step {}, last {}\n",
                        c.points,
                        n(c.first),
                        n(c.best),
                        c.goal,
                        n(c.best_step),
                        n(c.last)
                    ));
                }
            }
            if let Some(py) = &r.python {
                s.push_str(&format!(
                    "  Python: {} ({}), {} package(s) installed\n",
                    py.version,
                    py.executable,
                    py.packages.len()
                ));
            }
            if !r.recorded.is_empty() {
                s.push_str("  Recorded values (not metrics):\n");
                for (k, v) in &r.recorded {
                    s.push_str(&format!("    {k}: {v}\n"));
                }
            }
        }
        None => {}
    }
    if !notes.is_empty() {
        s.push_str("\nNotes:\n");
        for (nid, n) in notes {
            let kind = n.get("kind").and_then(|k| k.as_str()).unwrap_or("note");
            s.push_str(&format!(
                "  {} {kind}: {}\n",
                nid.short(),
                fmt::note_summary(n)
            ));
        }
    }
    if !c.derived_from.is_empty() {
        s.push_str(&format!(
            "\nDerived from: {}\n",
            c.derived_from
                .iter()
                .map(|d| d.short())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    match &c.git {
        Some(g) if g.present => {
            s.push_str(&format!(
                "\nCode: git {} {}{}\n",
                g.head.as_deref().unwrap_or("(no commits yet)"),
                g.branch
                    .as_deref()
                    .map(|b| format!("on {b}"))
                    .unwrap_or_else(|| "(detached HEAD)".into()),
                g.describe
                    .as_deref()
                    .map(|d| format!(" ({d})"))
                    .unwrap_or_default()
            ));
            if let Some(u) = &g.remote_url {
                s.push_str(&format!("  remote: {u}\n"));
            }
            if g.dirty {
                s.push_str(&format!(
                    "  uncommitted changes: {}\n",
                    g.modified.join(", ")
                ));
            }
            if let Some(p) = g.patch {
                s.push_str(&format!(
                    "  patch: {} (mreg cat-object {p} | git apply)\n",
                    p.short()
                ));
            }
        }
        Some(g) => s.push_str(&format!(
            "\nCode: not in a git work tree{}\n",
            g.note
                .as_deref()
                .map(|n| format!(" ({n})"))
                .unwrap_or_default()
        )),
        None => {}
    }
    if !v.git_pins.is_empty() {
        s.push_str("\nShipped in git commits (mreg.lock pinned this version):\n");
        for g in &v.git_pins {
            s.push_str(&format!("  {g}\n"));
        }
    }
    if !c.unsafe_pickles.is_empty() {
        s.push_str("\nUNSAFE PICKLES (loading this version would run them; it cannot become production without --allow-unsafe):\n");
        for f in &c.unsafe_pickles {
            s.push_str(&format!("  {}\n", f.describe()));
        }
    }
    if !v.signatures.is_empty() {
        s.push_str(
            "\nSignatures (OpenSSF model signing; `mreg verify` checks them against the bytes):\n",
        );
        for g in &v.signatures {
            s.push_str(&format!(
                "  {} key {} by {}{}{}\n",
                g.time,
                &g.key_hint[..12.min(g.key_hint.len())],
                g.signer,
                match g.trusted {
                    Some(true) => ", a trusted key",
                    Some(false) => ", NOT a key this model trusts",
                    None => "",
                },
                if g.message.is_empty() {
                    String::new()
                } else {
                    format!(": {}", g.message)
                }
            ));
        }
    }
    let e = &c.environment;
    s.push_str(&format!(
        "\nEnvironment: mreg {} on {} {} ({} CPUs), host {}\n",
        e.mreg_version, e.os, e.arch, e.cpus, e.hostname
    ));
    for (k, v) in &e.extra {
        s.push_str(&format!("  {k}: {v}\n"));
    }
    Ok(Output::ok(s))
}

/// The machine a version was made on; `own` adds the recording process's peak memory and
/// its GPUs (a training's: the process that trained; a run's job reports its own below).
fn system_line(m: &mreg::recipe::SystemInfo, own: bool) -> String {
    let machine = format!(
        "  machine: {} x{} ({} threads)",
        m.cpu_model, m.cpus, m.threads
    );
    if !own {
        return format!("{machine}\n");
    }
    let gpu = if m.gpu.devices.is_empty() {
        format!(
            "none ({})",
            m.gpu.unavailable.as_deref().unwrap_or("not reported")
        )
    } else {
        m.gpu
            .devices
            .iter()
            .map(|d| {
                format!(
                    "{} ({} used of {}, {}% busy)",
                    d.name,
                    fmt::size(d.memory_used),
                    fmt::size(d.memory_total),
                    d.utilization
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "{machine}, peak memory {}, GPU: {gpu}\n",
        fmt::size(m.peak_memory)
    )
}
