//! `mreg train`: train a model with burn and commit it.

use std::path::PathBuf;

use mreg::train::{self, TrainConfig, TrainRequest};
use mreg::Error;

use super::{fmt, Ctx, Output};

/// Train a model with burn (CPU) and commit the weights, config, metrics and data.
///
/// CONFIG is a YAML file naming the task (classification or regression), the data (a CSV
/// with a header row; a validation split or file), the model (an MLP: hidden layers,
/// activation, dropout), the optimizer (adam, adamw, sgd; lr, weight_decay, momentum),
/// epochs, batch_size and seed. See docs/GUIDE.md for every key.
///
/// The new commit records the resolved config as params, final and best validation metrics,
/// the per-epoch history, the seed, backend, burn version, the machine (CPU, memory, GPU via
/// NVML when present), and stores the dataset so `mreg reproduce` can train it again and
/// prove the weights are byte-identical. The weights go to models/NAME.safetensors (or
/// `output:`), pinned in mreg.lock like any commit. With a policy set (`mreg policy`), a
/// better model becomes `candidate`.
///
/// Examples:
///   mreg train --example                       # built-in data and config, seconds
///   mreg train train.yaml --model iris
///   mreg train train.yaml --set optimizer.lr=0.001 --set model.hidden=[64,64] --set seed=3
#[derive(clap::Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// The training config (YAML).
    #[arg(required_unless_present = "example", conflicts_with = "example")]
    config: Option<PathBuf>,

    /// Train the built-in example: writes mreg-example/train.yaml and flowers.csv (generated,
    /// 300 rows) next to the store if they are not there, then trains them.
    #[arg(long)]
    example: bool,

    /// Model name (overrides `name:` in the config).
    #[arg(long)]
    model: Option<String>,

    /// Override a config key, KEY=VALUE with dotted keys (value parsed as YAML); repeatable.
    #[arg(long = "set", value_name = "K=V")]
    set: Vec<String>,

    /// Commit message (default: a summary of the run).
    #[arg(short, long)]
    message: Option<String>,

    /// Point these aliases at the new commit; repeatable.
    #[arg(long = "alias", value_name = "ALIAS")]
    aliases: Vec<String>,

    /// A label for the new commit; repeatable.
    #[arg(long = "label", value_name = "LABEL")]
    labels: Vec<String>,

    /// Print the result as JSON (epoch lines still go to stderr unless -q).
    #[arg(long)]
    json: bool,
}

pub fn run(ctx: &Ctx, a: Args) -> mreg::Result<Output> {
    let repo = ctx.repo()?;
    let config_path = match (&a.config, a.example) {
        (Some(p), _) => ctx.cwd.join(p),
        (None, _) => train::write_example(&repo)?,
    };
    let text = std::fs::read_to_string(&config_path)
        .map_err(|e| Error::io("reading training config", &config_path, e))?;
    let config = TrainConfig::parse(&text, &config_path, &a.set)?;
    let base_dir = config_path
        .parent()
        .map(PathBuf::from)
        .unwrap_or_else(|| ctx.cwd.clone());
    let epochs = config.epochs;
    let quiet = ctx.quiet;
    let mut on_epoch = |e: &mreg::recipe::EpochRecord| {
        if !quiet {
            let metrics: Vec<String> = e
                .metrics
                .iter()
                .map(|(k, v)| format!("val_{k} {:.4}", v))
                .collect();
            eprintln!(
                "epoch {:>3}/{epochs}  train_loss {:.4}  val_loss {:.4}  {}  ({:.2} s)",
                e.epoch,
                e.train_loss,
                e.val_loss,
                metrics.join("  "),
                e.seconds
            );
        }
    };
    let out = train::train(
        &repo,
        TrainRequest {
            config,
            base_dir,
            model: a.model,
            message: a.message,
            author: super::author(),
            created_at: super::now()?,
            environment: super::commit::environment(),
            aliases: super::alias_names(&a.aliases)?,
            labels: a.labels,
        },
        &mut on_epoch,
        &ctx.progress(),
    )?;
    let id = out.commit.id;
    let c = &out.commit.commit;
    if a.json {
        let v = mreg::ops::view::Recorded {
            weights_path: Some(&out.weights_path),
            candidate: Some(
                out.commit
                    .policy_moves
                    .iter()
                    .any(|m| m.alias == "candidate"),
            ),
            ..mreg::ops::view::Recorded::of(&out.commit)
        };
        return Ok(Output::ok(super::json(&v)));
    }
    // The id on stdout (for scripts), the summary on stderr (silenced by -q), as `commit`.
    ctx.note(format_args!(
        "[{} {}] {}\n  weights {} ({}, blake3 {})\n  {}",
        c.model,
        id.short(),
        fmt::subject(&c.message),
        out.weights_path.display(),
        fmt::size(c.total_size()),
        c.files
            .first()
            .map(|f| f.blake3.short())
            .unwrap_or_default(),
        fmt::metrics_inline(c)
    ));
    let moves = fmt::policy_moves(&out.commit.policy_moves);
    if !moves.is_empty() {
        ctx.note(format_args!("{}", moves.trim_end()));
    }
    Ok(Output::ok(format!("{id}\n")))
}
