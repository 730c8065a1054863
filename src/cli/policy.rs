//! `mreg policy`: per-model promotion policy.

use mreg::repo::{Goal, Policy};
use mreg::ModelName;

use super::{Ctx, Output};

/// Show or set a model's promotion policy.
///
/// With a policy, `mreg commit` (and `mreg eval`, for an evaluation key) marks the version
/// `candidate` when it beats production on the key (or there is no production yet), and
/// keeps `best` on the true best version that is neither archived nor pruned. The key uses
/// the `list --where` language: a bare name means metrics.NAME.
///
/// The policy is part of the model's history (who set it, when, why): push and pull carry
/// it, so every store marks the same candidate. Set before the first commit, it is kept in
/// the store's config until that commit records it.
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
    /// Why (recorded in the history).
    #[arg(short, long, default_value = "")]
    message: String,
    #[arg(long)]
    json: bool,
}

pub fn run(ctx: &Ctx, a: Args) -> mreg::Result<Output> {
    let repo = ctx.repo()?;
    let model = ModelName::new(&a.model)?;
    let policy = if a.clear {
        mreg::policy::set(&repo, &model, None, super::alias::move_info(a.message)?)?;
        None
    } else if let Some(metric) = a.metric {
        mreg::query::Key::parse_ranking(&metric).map_err(|why| {
            mreg::error::QueryError::BadKey {
                option: "--metric".into(),
                why,
            }
        })?;
        let p = Policy {
            metric,
            goal: if a.min { Goal::Min } else { Goal::Max },
        };
        mreg::policy::set(
            &repo,
            &model,
            Some(p.clone()),
            super::alias::move_info(a.message)?,
        )?;
        Some(p)
    } else {
        repo.policy(&model)
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
