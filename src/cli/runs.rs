//! `mreg runs`: every run of a model, the failed ones included.

use mreg::ops::runs::{self, RunStatus};
use mreg::ModelName;

use super::{fmt, Ctx, Output};

/// List runs: jobs `mreg run` ran (and `repo.run()` blocks, `mreg train`), newest first.
///
/// A run that made a version is listed with the version; one that did not — the job
/// exited non-zero, was killed or interrupted (Ctrl-C), or its outputs could not be
/// committed — is kept as a run record, with its status, exit code or signal, command,
/// params, log and resources. Failed runs travel with push and pull like the rest of a
/// model's history; they never become versions.
///
/// Examples:
///   mreg runs fraud
///   mreg runs --failed --json
///   mreg runs show 3f2a9c --log
#[derive(clap::Args, Debug)]
#[command(verbatim_doc_comment, args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    show: Option<Sub>,
    /// Only this model.
    model: Option<String>,
    /// Only runs that ended without a version.
    #[arg(long)]
    failed: bool,
    /// At most N runs.
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
    #[arg(long)]
    json: bool,
}

#[derive(clap::Subcommand, Debug)]
enum Sub {
    /// One run in full: status, why, command, params, resources; --log prints its output.
    Show(ShowArgs),
}

#[derive(clap::Args, Debug)]
struct ShowArgs {
    /// A run id from `mreg runs` (a unique prefix), or the version a run made.
    run: String,
    /// Print the run's output log instead.
    #[arg(long)]
    log: bool,
    #[arg(long, conflicts_with = "log")]
    json: bool,
}

pub fn run(ctx: &Ctx, a: Args) -> mreg::Result<Output> {
    let repo = ctx.repo()?;
    if let Some(Sub::Show(s)) = a.show {
        return show(&repo, s);
    }
    let model = a.model.as_deref().map(ModelName::new).transpose()?;
    let mut all = runs::list(&repo, model.as_ref())?;
    if a.failed {
        all.retain(|r| r.status != RunStatus::Succeeded);
    }
    if let Some(n) = a.limit {
        all.truncate(n);
    }
    if a.json {
        return Ok(Output::ok(super::json(&all)));
    }
    if all.is_empty() {
        ctx.note(format_args!(
            "no runs: `mreg run --model NAME --outputs PATH -- COMMAND` records one"
        ));
        return Ok(Output::ok(String::new()));
    }
    let mut rows = vec![[
        "RUN", "MODEL", "STATUS", "EXIT", "STARTED", "TIME", "VERSION", "COMMAND",
    ]
    .map(String::from)
    .to_vec()];
    for r in &all {
        rows.push(vec![
            r.id[..12.min(r.id.len())].to_string(),
            r.model.to_string(),
            r.status.as_str().to_string(),
            exit_text(r),
            r.started_at.to_string(),
            format!("{:.1}s", r.seconds),
            match &r.version {
                Some(_) => mreg::versions::label(r.version_number),
                None => "-".into(),
            },
            fmt::subject(&r.command.join(" ")).to_string(),
        ]);
    }
    Ok(Output::ok(fmt::table(&rows)))
}

fn exit_text(r: &runs::RunView) -> String {
    match (r.exit_code, r.signal) {
        (Some(c), _) => c.to_string(),
        (None, Some(s)) => format!("signal {s}"),
        _ => "-".into(),
    }
}

fn show(repo: &mreg::Repo, a: ShowArgs) -> mreg::Result<Output> {
    let (view, record) = runs::find(repo, &a.run)?;
    if a.log {
        let bytes = runs::log(repo, &view, record.as_ref())?;
        return Ok(Output::ok(String::from_utf8_lossy(&bytes).into_owned()));
    }
    if a.json {
        let mut v = serde_json::to_value(&view).expect("serializes");
        if let Some(r) = &record {
            v["record"] = serde_json::to_value(r).expect("serializes");
        }
        return Ok(Output::ok(super::json(&v)));
    }
    let mut s = format!("run {}\n", view.id);
    s.push_str(&format!("Model:   {}\n", view.model));
    s.push_str(&format!(
        "Status:  {}{}\n",
        view.status.as_str(),
        if view.reason.is_empty() {
            String::new()
        } else {
            format!(" ({})", view.reason)
        }
    ));
    s.push_str(&format!("Command: {}\n", view.command.join(" ")));
    s.push_str(&format!("Author:  {}\n", view.author));
    s.push_str(&format!(
        "Started: {} ({:.1} s)\n",
        view.started_at, view.seconds
    ));
    if !view.message.is_empty() {
        s.push_str(&format!("Message: {}\n", view.message));
    }
    match &view.version {
        Some(v) => s.push_str(&format!(
            "Version: {} {} (`mreg show {}` for the rest)\n",
            mreg::versions::label(view.version_number),
            v.short(),
            v.short()
        )),
        None => s.push_str("Version: none (a run record: nothing to promote)\n"),
    }
    if let Some(r) = &record {
        if !r.labels.is_empty() {
            s.push_str(&format!("Labels:  {}\n", r.labels.join(", ")));
        }
        if r.params.as_object().is_some_and(|m| !m.is_empty()) {
            s.push_str(&format!("Params:  {}\n", r.params));
        }
        if let Some(res) = &r.recipe.resources {
            s.push_str(&format!(
                "Used:    {:.1} s CPU, peak memory {}\n",
                res.cpu_seconds,
                fmt::size(res.peak_rss_bytes)
            ));
        }
    }
    if let Some(n) = view.log_bytes {
        s.push_str(&format!(
            "Log:     {} (`mreg runs show {} --log`)\n",
            fmt::size(n),
            &view.id[..12.min(view.id.len())]
        ));
    }
    Ok(Output::ok(s))
}
