//! `mreg eval add` and `mreg label add|rm`: facts added after the fact.

use std::path::PathBuf;

use mreg::notes;
use mreg::ops::eval::{add_evaluation, EvaluationRequest};

use super::alias::move_info;
use super::{values, Ctx, Output};

/// Evaluate a version on new data, or attach results computed elsewhere.
///
/// `mreg eval REV --data CSV` loads the weights of a version made by `mreg train`, scores
/// them on the CSV (same columns) and attaches the result. `mreg eval add` attaches metrics
/// you computed yourself. Either way the commit's id never changes: an evaluation is an
/// append-only note recorded in the model's history, and `list`, `best` and `compare` see it
/// as eval.DATASET.METRIC.
///
/// Examples:
///   mreg eval example@production --data holdout.csv --dataset holdout-2026
///   mreg eval add mnist@production --dataset holdout-2026 --metric acc=0.91 --metric f1=0.88
///   mreg eval add 3fa2c1 --dataset imagenet --dataset-path data/val/ --metrics-file eval.json
#[derive(clap::Args, Debug)]
#[command(
    verbatim_doc_comment,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
pub struct EvalArgs {
    #[command(subcommand)]
    cmd: Option<EvalCmd>,
    /// The version to evaluate (made by `mreg train`).
    #[arg(required = true)]
    rev: Option<String>,
    /// A CSV file with the model's feature and target columns.
    #[arg(long, value_name = "CSV", required = true)]
    data: Option<PathBuf>,
    /// Name of the evaluation dataset (default: the file's stem).
    #[arg(long)]
    dataset: Option<String>,
    /// A note about the evaluation.
    #[arg(short, long, default_value = "")]
    message: String,
    #[arg(long)]
    json: bool,
}

#[derive(clap::Subcommand, Debug)]
enum EvalCmd {
    /// Attach an evaluation to REV.
    Add {
        rev: String,
        /// Name of the evaluation dataset.
        #[arg(long)]
        dataset: String,
        /// The data itself (file or directory): its blake3 is recorded.
        #[arg(long, value_name = "PATH")]
        dataset_path: Option<PathBuf>,
        /// A metric, KEY=VALUE; repeatable.
        #[arg(long = "metric", value_name = "K=V")]
        metrics: Vec<String>,
        /// Metrics from a YAML or JSON file.
        #[arg(long, value_name = "FILE")]
        metrics_file: Option<PathBuf>,
        /// A note about the evaluation.
        #[arg(short, long, default_value = "")]
        message: String,
        #[arg(long)]
        json: bool,
    },
}

pub fn eval(ctx: &Ctx, a: EvalArgs) -> mreg::Result<Output> {
    let Some(EvalCmd::Add {
        rev,
        dataset,
        dataset_path,
        metrics,
        metrics_file,
        message,
        json,
    }) = a.cmd
    else {
        return eval_data(ctx, a);
    };
    let metrics = values::metrics(metrics_file.map(|p| ctx.cwd.join(p)).as_deref(), &metrics)?;
    let repo = ctx.repo()?;
    let commit = repo.resolve(&rev)?;
    let e = add_evaluation(
        &repo,
        EvaluationRequest {
            commit,
            dataset,
            metrics,
            data: dataset_path.map(|p| (ctx.cwd.join(&p), p.display().to_string())),
            info: move_info(message)?,
        },
    )?;
    Ok(render(&e, json))
}

/// An attached evaluation, as text or JSON.
fn render(e: &mreg::ops::eval::Evaluation, json: bool) -> Output {
    if json {
        return Output::ok(super::json(e));
    }
    let shown: Vec<String> = e
        .note
        .metrics
        .iter()
        .map(|(k, v)| format!("{k}={}", super::fmt::num(*v)))
        .collect();
    let mut s = format!(
        "evaluation {} on {} attached to {}: {}\n",
        e.note_id.short(),
        e.note.dataset,
        e.note.commit.short(),
        shown.join(" ")
    );
    s.push_str(&super::fmt::policy_moves(&e.policy_moves));
    Output::ok(s)
}

#[cfg(feature = "train")]
fn eval_data(ctx: &Ctx, a: EvalArgs) -> mreg::Result<Output> {
    let (Some(rev), Some(data)) = (a.rev, a.data) else {
        return Err(mreg::Error::InvalidArgument(
            "usage: mreg eval REV --data CSV [--dataset NAME]".into(),
        ));
    };
    let path = ctx.cwd.join(&data);
    let dataset = match a.dataset {
        Some(d) => d,
        None => path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "data".into()),
    };
    let repo = ctx.repo()?;
    let commit = repo.resolve(&rev)?;
    let (loss, mut metrics) = mreg::train::evaluate_commit(&repo, &commit, &path)?;
    metrics.insert("loss".into(), loss);
    let e = add_evaluation(
        &repo,
        EvaluationRequest {
            commit,
            dataset,
            metrics,
            data: Some((path, data.display().to_string())),
            info: move_info(a.message)?,
        },
    )?;
    Ok(render(&e, a.json))
}

#[cfg(not(feature = "train"))]
fn eval_data(_: &Ctx, _: EvalArgs) -> mreg::Result<Output> {
    Err(mreg::error::RunError::TrainingNotBuilt.into())
}

/// Add or remove labels on existing versions (recorded in the history).
#[derive(clap::Args, Debug)]
pub struct LabelArgs {
    #[command(subcommand)]
    cmd: LabelCmd,
}

#[derive(clap::Subcommand, Debug)]
enum LabelCmd {
    /// Add LABEL to REV.
    Add {
        rev: String,
        label: String,
        #[arg(short, long, default_value = "")]
        message: String,
    },
    /// Remove LABEL from REV.
    Rm {
        rev: String,
        label: String,
        #[arg(short, long, default_value = "")]
        message: String,
    },
}

pub fn label(ctx: &Ctx, a: LabelArgs) -> mreg::Result<Output> {
    let (rev, label, message, add) = match a.cmd {
        LabelCmd::Add {
            rev,
            label,
            message,
        } => (rev, label, message, true),
        LabelCmd::Rm {
            rev,
            label,
            message,
        } => (rev, label, message, false),
    };
    let repo = ctx.repo()?;
    let id = repo.resolve(&rev)?;
    let changed = notes::set_label(&repo, &id, &label, add, move_info(message)?)?;
    Ok(Output::ok(match (changed, add) {
        (true, true) => format!("labelled {} {label}\n", id.short()),
        (true, false) => format!("removed label {label} from {}\n", id.short()),
        (false, true) => format!("{} already has label {label}\n", id.short()),
        (false, false) => format!("{} has no label {label}\n", id.short()),
    }))
}
