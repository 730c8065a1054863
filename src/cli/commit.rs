//! `mreg commit`: record a new version of a model.

use std::path::PathBuf;

use mreg::ops::commit::{commit, CommitRequest};
use mreg::ModelName;

use super::{fmt, values, Ctx, Output};

/// Store files as a new immutable version of a model.
///
/// Files and directories (recursively) are split into content-defined chunks, deduplicated
/// against every earlier version, compressed, and recorded with the metadata given here.
/// The model's head moves to the new commit, whose parent is the previous head.
///
/// Pickles among the files (`.pt`, `.pkl`, joblib, ...) are read, never loaded, for the
/// callables they would import: anything no allowlist vouches for is warned about and
/// recorded, and such a version cannot become production without `--allow-unsafe`.
///
/// Examples:
///   mreg commit model.safetensors --model mnist -m "baseline" --param lr=0.01 --metric acc=0.91
///   mreg commit checkpoints/ --model bert --params-file params.yaml --metrics-file metrics.json
///   mreg commit w.bin --model m --dataset train=data/train.csv --label baseline
#[derive(clap::Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// Files or directories to commit (inside the repository).
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,

    /// Model name (letters, digits, '.', '_', '-').
    #[arg(long)]
    model: String,

    /// Commit message.
    #[arg(short, long, default_value = "")]
    message: String,

    /// A parameter, KEY=VALUE (dotted keys nest: opt.lr=0.1); repeatable.
    #[arg(long = "param", value_name = "K=V")]
    params: Vec<String>,

    /// Parameters from a YAML or JSON file (a mapping; --param overrides).
    #[arg(long, value_name = "FILE")]
    params_file: Option<PathBuf>,

    /// A numeric metric, KEY=VALUE; repeatable.
    #[arg(long = "metric", value_name = "K=V")]
    metrics: Vec<String>,

    /// Metrics from a YAML or JSON file (nested maps become dotted keys).
    #[arg(long, value_name = "FILE")]
    metrics_file: Option<PathBuf>,

    /// A dataset, NAME=PATH (file or directory): hashed and recorded; repeatable.
    #[arg(long = "dataset", value_name = "NAME=PATH")]
    datasets: Vec<String>,

    /// Also store the datasets' bytes in the store (deduplicated).
    #[arg(long)]
    store_datasets: bool,

    /// A label; repeatable.
    #[arg(long = "label", value_name = "LABEL")]
    labels: Vec<String>,

    /// The version this one was derived from (e.g. the base model fine-tuned); repeatable.
    #[arg(long = "from", value_name = "REV")]
    from: Vec<String>,

    /// Point this alias of the model at the new commit, in the same step; repeatable.
    #[arg(long = "alias", value_name = "NAME")]
    aliases: Vec<String>,

    /// Store what symbolic links point to as regular files (e.g. a Hugging Face cache
    /// snapshot, made of links into a blobs folder). Without it a link is refused.
    #[arg(long)]
    follow_symlinks: bool,

    /// Keep the parent version's other files in the new version, unchanged. Without it the
    /// new version holds exactly the files given, and the summary lists the parent's files
    /// it leaves out.
    #[arg(long)]
    carry: bool,

    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

/// The environment recorded in commits.
pub fn environment() -> mreg::commit::Environment {
    mreg::commit::Environment::current()
}

pub fn run(ctx: &Ctx, a: Args) -> mreg::Result<Output> {
    let model = ModelName::new(&a.model)?;
    let params = values::params(
        a.params_file.as_deref().map(|p| ctx.cwd.join(p)).as_deref(),
        &a.params,
    )?;
    let metrics = values::metrics(
        a.metrics_file
            .as_deref()
            .map(|p| ctx.cwd.join(p))
            .as_deref(),
        &a.metrics,
    )?;
    let datasets = a
        .datasets
        .iter()
        .map(|d| values::split_kv("--dataset", d).map(|(k, v)| (k.to_string(), PathBuf::from(v))))
        .collect::<mreg::Result<Vec<_>>>()?;
    let repo = ctx.repo()?;
    let derived_from = repo.resolve_all(&a.from)?;
    let req = CommitRequest {
        message: a.message,
        created_at: super::now()?,
        params,
        metrics,
        datasets,
        store_datasets: a.store_datasets,
        labels: a.labels,
        environment: environment(),
        aliases: super::alias_names(&a.aliases)?,
        derived_from,
        follow_symlinks: a.follow_symlinks,
        carry: a.carry,
        ..CommitRequest::new(model, &super::author(), ctx.cwd.clone(), a.paths)
    };
    let progress = ctx.progress();
    let out = commit(&repo, req, &progress)?;
    fmt::warn_unsafe_pickles(&out.commit);
    if a.json {
        let v = mreg::ops::view::Recorded::of(&out);
        return Ok(Output::ok(super::json(&v)));
    }
    ctx.note(format_args!(
        "[{} {}] {} file(s), {}; {} of {} chunks new, {} written{}",
        out.commit.model,
        out.id.short(),
        out.commit.files.len(),
        fmt::size(out.commit.total_size()),
        out.new_chunks,
        out.chunks,
        fmt::size(out.stored_bytes),
        if out.dataset_bytes > 0 {
            format!(" (of which datasets {})", fmt::size(out.dataset_bytes))
        } else {
            String::new()
        }
    ));
    if !out.dropped.is_empty() {
        ctx.note(format_args!(
            "note: {} file(s) of the parent version are not in this version: {} (commit them too, or pass --carry to keep them unchanged)",
            out.dropped.len(),
            out.dropped.join(", ")
        ));
    }
    if let Some(p) = out.same_files_as {
        ctx.note(format_args!(
            "note: the files are identical to the parent version {} (a new version was recorded for its params, metrics and message; its data took no space)",
            p.short()
        ));
    }
    if !out.carried.is_empty() {
        ctx.note(format_args!(
            "carried {} unchanged file(s) from the parent: {}",
            out.carried.len(),
            out.carried.join(", ")
        ));
    }
    let moves = fmt::policy_moves(&out.policy_moves);
    if !moves.is_empty() {
        ctx.note(format_args!("{}", moves.trim_end()));
    }
    Ok(Output::ok(format!("{}\n", out.id)))
}
