//! `mreg policy`: per-model promotion policy.

use mreg::repo::{Goal, ModelConfig, Policy};
use mreg::ModelName;

use super::{Ctx, Output};

/// Show or set a model's promotion policy.
///
/// With a policy, `mreg commit` (and `mreg eval`, for an evaluation key) marks the version
/// `candidate` when it beats production on the key (or there is no production yet), and
/// keeps `best` on the true best version that is neither archived nor pruned. The key uses
/// the `list --where` language: a bare name means metrics.NAME.
///
/// Examples:
///   mreg policy mnist --metric acc --max
///   mreg policy mnist --metric loss --min
///   mreg policy yolo --metric eval.holdout.mAP50 --max
///   mreg policy mnist --clear
#[derive(clap::Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct Args {
    model: String,
    /// Key to rank versions by: acc (= metrics.acc), metrics.NAME, eval.DATASET.NAME.
    #[arg(long, conflicts_with = "clear")]
    metric: Option<String>,
    /// Higher is better (default).
    #[arg(long, conflicts_with = "min")]
    max: bool,
    /// Lower is better.
    #[arg(long)]
    min: bool,
    /// Remove the policy.
    #[arg(long)]
    clear: bool,
    #[arg(long)]
    json: bool,
}

pub fn run(ctx: &Ctx, a: Args) -> mreg::Result<Output> {
    let repo = ctx.repo()?;
    let model = ModelName::new(&a.model)?;
    let policy = if a.clear {
        repo.update_config(|c| {
            c.models.remove(model.as_str());
            Ok(())
        })?;
        None
    } else if let Some(metric) = a.metric {
        mreg::query::Key::parse_ranking(&metric)
            .map_err(|e| mreg::Error::InvalidArgument(format!("--metric: {e}")))?;
        let p = Policy {
            metric,
            goal: if a.min { Goal::Min } else { Goal::Max },
        };
        let pc = p.clone();
        repo.update_config(|c| {
            c.models
                .insert(model.to_string(), ModelConfig { policy: Some(pc) });
            Ok(())
        })?;
        Some(p)
    } else {
        repo.policy(&model).cloned()
    };
    if a.json {
        return Ok(Output::ok(super::json(
            &serde_json::json!({"model": model, "policy": policy}),
        )));
    }
    Ok(Output::ok(match policy {
        Some(p) => format!(
            "{model}: candidate when {} {} production's\n",
            p.metric,
            if p.goal == Goal::Max {
                "is higher than"
            } else {
                "is lower than"
            }
        ),
        None => format!("{model}: no policy\n"),
    }))
}
