//! `mreg run`: run any training command and commit what it produced.

use std::path::PathBuf;

use mreg::names::ModelName;
use mreg::ops::run::{replay_risks, run as run_op, OutStream, RunRequest};

use super::{values, Ctx, Output};

/// Run a training command (Python, shell, anything), then commit its outputs.
///
/// The commit records the command line, working directory, params (from --params-file and
/// --param), metrics (from --metrics-file), the datasets (stored, so they can be restored),
/// the environment and the git lineage (HEAD and a patch of uncommitted changes). The
/// command's output is shown as it runs and stored with the commit (`mreg show REV --log`),
/// with its wall time, CPU time and peak memory. A value of the metrics file that is not a
/// number (a string, a list, NaN) is kept as recorded information with a warning: it never
/// loses the run. `mreg reproduce` runs it again from exactly that code and compares the
/// outputs (not the log). A failing command commits nothing (it is kept as a failed run:
/// `mreg runs`). While it runs, `mreg ui` shows it on the model's page with the curves of
/// --metrics-history so far.
///
/// Examples:
///   mreg run --model clf --outputs model.pkl --metrics-file metrics.json -- python train.py
///   mreg run --model m --outputs out/ --params-file params.yaml --dataset train=data.csv -- ./train.sh
#[derive(clap::Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// Model name.
    #[arg(long)]
    model: String,
    /// A file or directory the command writes; repeatable (at least one).
    #[arg(long = "outputs", value_name = "PATH", required = true)]
    outputs: Vec<PathBuf>,
    /// A YAML/JSON file of numbers the command writes (its metrics).
    #[arg(long, value_name = "FILE")]
    metrics_file: Option<PathBuf>,
    /// A per-step metrics file the command writes: JSON lines ({"step": 1, "loss": 0.5}) or
    /// CSV/TSV with a step (or epoch) column. Each metric becomes a curve (`mreg show`).
    /// DVCLive's per-step plots are read too when --metrics-file is its metrics.json.
    #[arg(long, value_name = "FILE")]
    metrics_history: Option<PathBuf>,
    /// A YAML/JSON file the command reads (its params); stored and restored by reproduce.
    #[arg(long, value_name = "FILE")]
    params_file: Option<PathBuf>,
    /// Input data, NAME=PATH; stored in the store; repeatable.
    #[arg(long = "dataset", value_name = "NAME=PATH")]
    datasets: Vec<String>,
    /// Commit message (default: the command line).
    #[arg(short, long)]
    message: Option<String>,
    /// Point these aliases at the new commit; repeatable.
    #[arg(long = "alias", value_name = "ALIAS")]
    aliases: Vec<String>,
    /// A parameter to record, KEY=VALUE (dotted keys nest); overrides the params file's;
    /// repeatable. Recorded only: the command is not given it.
    #[arg(long = "param", value_name = "K=V")]
    params: Vec<String>,
    /// A label; repeatable.
    #[arg(long = "label", value_name = "LABEL")]
    labels: Vec<String>,
    /// Store the files git does not track that a replay would need (the script, modules
    /// beside it) in the recorded code patch. Without it, mreg warns about them.
    #[arg(long)]
    include_untracked: bool,
    #[arg(long)]
    json: bool,
    /// The command and its arguments.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    command: Vec<String>,
}

pub fn run(ctx: &Ctx, a: Args) -> mreg::Result<Output> {
    let repo = ctx.repo()?;
    let datasets = a
        .datasets
        .iter()
        .map(|d| {
            let (n, p) = values::split_kv("--dataset", d)?;
            Ok((n.to_string(), PathBuf::from(p)))
        })
        .collect::<mreg::Result<Vec<_>>>()?;
    let json = a.json;
    let include_untracked = a.include_untracked;
    let req = RunRequest {
        model: ModelName::new(&a.model)?,
        message: a
            .message
            .unwrap_or_else(|| format!("mreg run: {}", a.command.join(" "))),
        command: a.command,
        cwd: ctx.cwd.clone(),
        outputs: a.outputs,
        metrics_file: a.metrics_file,
        metrics_history: a.metrics_history,
        include_untracked: a.include_untracked,
        params_file: a.params_file,
        datasets,
        author: super::author(),
        created_at: super::now()?,
        environment: super::commit::environment(),
        aliases: super::alias_names(&a.aliases)?,
        param_overrides: values::params(None, &a.params)?,
        labels: a.labels,
        on_output: Some(Box::new(move |which, bytes| {
            use std::io::Write;
            // Live, as if the command wrote to the terminal itself (with --json, its
            // stdout goes to stderr: stdout carries the JSON).
            let _ = match which {
                OutStream::Stdout if !json => {
                    let mut o = std::io::stdout().lock();
                    o.write_all(bytes).and_then(|_| o.flush())
                }
                OutStream::Stdout | OutStream::Stderr => {
                    let mut e = std::io::stderr().lock();
                    e.write_all(bytes).and_then(|_| e.flush())
                }
            };
        })),
    };
    // Before running: what would make a replay impossible, and the fix.
    if !include_untracked {
        for r in replay_risks(&req)? {
            eprintln!(
                "warning: {} is not tracked by git ({}): `mreg reproduce` will not have it; commit it, or pass --include-untracked to store it with this run",
                r.path, r.why
            );
        }
    }
    let run = run_op(&repo, req, &ctx.progress())?;
    for w in &run.warnings {
        eprintln!("warning: {w}");
    }
    let out = &run.commit;
    super::fmt::warn_unsafe_pickles(&out.commit);
    if a.json {
        let v = mreg::ops::view::Recorded {
            warnings: Some(&run.warnings),
            ..mreg::ops::view::Recorded::of(out)
        };
        return Ok(Output::ok(super::json(&v)));
    }
    // The id on stdout (for scripts), the summary on stderr (silenced by -q), as `commit`.
    ctx.note(format_args!(
        "[{} {}] {}\n  {}\n  ran {:.1} s, {:.1} s CPU, peak memory {}; log {} kept",
        out.commit.model,
        out.id.short(),
        super::fmt::subject(&out.commit.message),
        super::fmt::metrics_inline(&out.commit),
        run.resources.wall_seconds,
        run.resources.cpu_seconds,
        super::fmt::size(run.resources.peak_rss_bytes),
        super::fmt::size(run.log_bytes),
    ));
    let moves = super::fmt::policy_moves(&out.policy_moves);
    if !moves.is_empty() {
        ctx.note(format_args!("{}", moves.trim_end()));
    }
    Ok(Output::ok(format!("{}\n", out.id)))
}
