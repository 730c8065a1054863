//! `mreg run`: run any training command and commit what it produced.

use std::path::PathBuf;

use mreg::names::ModelName;
use mreg::ops::run::{run as run_op, RunRequest};

use super::{values, Ctx, Output};

/// Run a training command (Python, shell, anything), then commit its outputs.
///
/// The commit records the command line, working directory, params (from --params-file),
/// metrics (from --metrics-file), the datasets (stored, so they can be restored), the
/// environment and the git lineage (HEAD and a patch of uncommitted changes). `mreg
/// reproduce` runs it again from exactly that code and compares the outputs. A failing
/// command commits nothing.
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
    let out = run_op(
        &repo,
        RunRequest {
            model: ModelName::new(&a.model)?,
            message: a
                .message
                .unwrap_or_else(|| format!("mreg run: {}", a.command.join(" "))),
            command: a.command,
            cwd: ctx.cwd.clone(),
            outputs: a.outputs,
            metrics_file: a.metrics_file,
            params_file: a.params_file,
            datasets,
            author: super::author(),
            created_at: super::now()?,
            environment: super::commit::environment(),
            aliases: super::alias_names(&a.aliases)?,
        },
        &ctx.progress(),
    )?;
    if a.json {
        let mut v = super::fmt::commit_json(&out.id, &out.commit, false);
        v["policy_moves"] = serde_json::json!(out.policy_moves);
        return Ok(Output::ok(super::json(&v)));
    }
    // The id on stdout (for scripts), the summary on stderr (silenced by -q), as `commit`.
    ctx.note(format_args!(
        "[{} {}] {}\n  {}",
        out.commit.model,
        out.id.short(),
        super::fmt::subject(&out.commit.message),
        super::fmt::metrics_inline(&out.commit)
    ));
    let moves = super::fmt::policy_moves(&out.policy_moves);
    if !moves.is_empty() {
        ctx.note(format_args!("{}", moves.trim_end()));
    }
    Ok(Output::ok(format!("{}\n", out.id)))
}
