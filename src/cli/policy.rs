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
    /// Trust this public key (PEM; repeatable: any of them): promote and `alias set
    /// production` then require a valid signature by one of them (`mreg sign`), and
    /// `checkout --verify` checks against them. Replaces the trusted keys.
    #[arg(long, value_name = "PUB.pem")]
    require_signature: Vec<std::path::PathBuf>,
    /// Trust no key any more: no signature required.
    #[arg(long, conflicts_with = "require_signature")]
    no_signature_required: bool,
    /// Why (recorded in the history).
    #[arg(short, long, default_value = "")]
    message: String,
    #[arg(long)]
    json: bool,
}

pub fn run(ctx: &Ctx, a: Args) -> mreg::Result<Output> {
    let repo = ctx.repo()?;
    let model = ModelName::new(&a.model)?;
    if !a.require_signature.is_empty() || a.no_signature_required {
        let keys = super::sign::public_keys(ctx, &a.require_signature)?;
        mreg::trust::set_trusted_keys(
            &repo,
            &model,
            &keys,
            super::alias::move_info(a.message.clone())?,
        )?;
    }
    let trusted: Vec<String> = mreg::trust::trusted_keys(&repo, &model)?
        .iter()
        .map(mreg::trust::PublicKey::hint)
        .collect();
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
            &serde_json::json!({"model": model, "policy": policy, "trusted_keys": trusted}),
        )));
    }
    let keys = if trusted.is_empty() {
        String::new()
    } else {
        format!(
            "{model}: production takes only versions signed by key {}\n",
            trusted
                .iter()
                .map(|h| &h[..12])
                .collect::<Vec<_>>()
                .join(" or ")
        )
    };
    Ok(Output::ok(
        keys + &match policy {
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
        },
    ))
}
