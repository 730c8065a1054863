//! Promotion policy: `best` always on the true best version, `candidate` on a new version
//! that beats production.
//!
//! A model's policy (`config.yaml`) names a ranking key in the `list --where` language (a
//! bare name means `metrics.NAME`; `eval.DATASET.NAME` ranks by evaluations) and a goal.
//! It is applied inside the history update that records a new version (`commit`) or a new
//! evaluation (`eval`), under the model's lock, so the policy's alias moves are part of the
//! same atomic history line. `best` is recomputed over every version that is neither
//! archived nor pruned — never "the newest that beat the previous best", which goes wrong
//! whenever the previous `best` lacks the key or was moved by hand.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::error::Result;
use crate::id::ObjectId;
use crate::names::{AliasName, ModelName};
use crate::query::{Key, Row};
use crate::repo::{Goal, Policy, Repo};

/// Extra key of a history line that sets (an object `{metric, goal}`) or clears (`null`)
/// the model's policy.
pub const POLICY: &str = "policy";

/// Set or clear a model's policy. A model with a history records it there, as one line
/// (who, when, why), so that push and pull carry it to every store; a model without one
/// yet keeps it in `config.yaml` until its first commit records it.
pub fn set(
    repo: &Repo,
    model: &ModelName,
    policy: Option<Policy>,
    info: crate::history::MoveInfo,
) -> Result<()> {
    if let Some(p) = &policy {
        key(p)?;
    }
    if repo.model_exists(model) {
        repo.transact(
            model,
            info,
            crate::history::Action::Other(POLICY.into()),
            |t| {
                if repo.policy(model) != policy {
                    t.set_extra(
                        POLICY,
                        serde_json::to_value(&policy).expect("policies serialize"),
                    );
                }
                Ok(())
            },
        )?;
        repo.update_config(|c| {
            c.models.remove(model.as_str());
            Ok(())
        })?;
    } else {
        repo.update_config(|c| {
            match &policy {
                Some(p) => {
                    c.models.insert(
                        model.to_string(),
                        crate::repo::ModelConfig {
                            policy: Some(p.clone()),
                        },
                    );
                }
                None => {
                    c.models.remove(model.as_str());
                }
            }
            Ok(())
        })?;
    }
    Ok(())
}

/// A policy set before the model had a history, not recorded in it yet: the commit that
/// starts the history records it (so it travels with the model).
pub(crate) fn unrecorded(repo: &Repo, model: &ModelName) -> Option<Policy> {
    // Most models have no policy in the config: then there is nothing to scan the log for.
    let p = repo.config_policy(model)?;
    match repo.model_log(model).last_extra(POLICY) {
        Ok(None) => Some(p),
        _ => None,
    }
}

/// An alias the policy moved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PolicyMove {
    pub alias: String,
    pub from: Option<crate::id::CommitId>,
    pub to: crate::id::CommitId,
    pub why: String,
}

/// The policy's key, parsed (errors name the bad key).
pub fn key(p: &Policy) -> Result<Key> {
    Key::parse_ranking(&p.metric).map_err(|why| {
        crate::error::QueryError::BadKey {
            option: "policy metric".into(),
            why,
        }
        .into()
    })
}

fn better(goal: Goal, a: f64, b: f64) -> bool {
    goal.better(a, b)
}

/// Apply `model`'s policy inside a transaction (under the model's lock). `fresh` is the row of the
/// version being recorded (a new commit, or a version with a new evaluation merged in),
/// which the index does not have yet. Returns the moves made.
pub(crate) fn apply(
    repo: &Repo,
    model: &ModelName,
    t: &mut crate::history::Transaction,
    fresh: &Row,
) -> Result<Vec<PolicyMove>> {
    let Some(policy) = repo.policy(model) else {
        return Ok(Vec::new());
    };
    let key = key(&policy)?;
    // Every version, newest first, with the fresh row in place of (or ahead of) its old one.
    let mut rows: Vec<Row> = crate::index::model_rows(repo, model)?;
    rows.retain(|r| r.id != fresh.id);
    rows.insert(0, fresh.clone());
    let mut moves = Vec::new();
    moves.extend(candidate(t, &key, policy.goal, &rows, fresh));
    moves.extend(best(repo, t, &key, policy.goal, &rows));
    Ok(moves)
}

/// Re-apply `model`'s policy after a pull: `versions` (oldest first) are this store's
/// versions whose own policy moves the remote refused (a sibling moved `candidate` or
/// `best` first); each is weighed for `candidate` as when it was committed, in publication
/// order, and `best` is recomputed over every version. The ranking is a function of the
/// versions alone (ties go to the highest version number), so every store that has
/// pulled computes the same `best`, and the one whose move publishes first settles it.
pub(crate) fn reapply(
    repo: &Repo,
    model: &ModelName,
    t: &mut crate::history::Transaction,
    versions: &[crate::id::CommitId],
) -> Result<Vec<PolicyMove>> {
    let Some(policy) = repo.policy(model) else {
        return Ok(Vec::new());
    };
    let key = key(&policy)?;
    let rows: Vec<Row> = crate::index::model_rows(repo, model)?;
    let mut moves = Vec::new();
    for v in versions {
        if let Some(fresh) = rows.iter().find(|r| r.id == *v) {
            moves.extend(candidate(t, &key, policy.goal, &rows, fresh));
        }
    }
    moves.extend(best(repo, t, &key, policy.goal, &rows));
    Ok(moves)
}

/// `candidate` on `fresh` when it beats production.
fn candidate(
    t: &mut crate::history::Transaction,
    key: &Key,
    goal: Goal,
    rows: &[Row],
    fresh: &Row,
) -> Option<PolicyMove> {
    let value = |id: &ObjectId| {
        rows.iter()
            .find(|r| &r.id == id)
            .and_then(|r| key.number(r))
    };
    let kt = key.text();
    let v = key.number(fresh)?;
    let prod = t.state().aliases.get(crate::refs::PRODUCTION).copied();
    let beats = match prod {
        None => true,
        Some(p) if p == fresh.id => false,
        Some(p) => value(&p).is_none_or(|pv| better(goal, v, pv)),
    };
    if !beats || fresh.archived || t.state().aliases.get(crate::refs::CANDIDATE) == Some(&fresh.id)
    {
        return None;
    }
    let from = t.set_alias(&AliasName::conventional(crate::refs::CANDIDATE), fresh.id);
    Some(PolicyMove {
        alias: crate::refs::CANDIDATE.into(),
        from,
        to: fresh.id,
        why: match prod.and_then(|p| value(&p)) {
            Some(pv) => format!("{kt} {v} beats production's {pv}"),
            None => format!("{kt} {v}; production has no value"),
        },
    })
}

/// `best` on the true best version that is neither archived nor pruned (`rows` newest
/// first: ties go to the newest).
fn best(
    repo: &Repo,
    t: &mut crate::history::Transaction,
    key: &Key,
    goal: Goal,
    rows: &[Row],
) -> Option<PolicyMove> {
    let pruned = crate::gc_marks::pruned_set(repo);
    let mut top: Option<(f64, crate::id::CommitId)> = None;
    for r in rows
        .iter()
        .filter(|r| !r.archived && !pruned.contains(&*r.id))
    {
        if let Some(v) = key.number(r) {
            if top.is_none_or(|(b, _)| better(goal, v, b)) {
                top = Some((v, r.id));
            }
        }
    }
    let (v, id) = top?;
    if t.state().aliases.get(crate::refs::BEST) == Some(&id) {
        return None;
    }
    let from = t.set_alias(&AliasName::conventional(crate::refs::BEST), id);
    Some(PolicyMove {
        alias: crate::refs::BEST.into(),
        from,
        to: id,
        why: format!(
            "{} {}: {v}",
            if goal == Goal::Max {
                "highest"
            } else {
                "lowest"
            },
            key.text()
        ),
    })
}

/// The fresh row of a version after an evaluation is merged in.
pub fn row_with_eval(
    repo: &Repo,
    model: &ModelName,
    id: &ObjectId,
    dataset: &str,
    metrics: &BTreeMap<String, f64>,
) -> Result<Option<Row>> {
    let Some(mut row) = crate::index::model_rows(repo, model)?
        .into_iter()
        .find(|r| &r.id == id)
    else {
        return Ok(None);
    };
    let slot = row.evals.entry(dataset.to_string()).or_default();
    for (k, v) in metrics {
        slot.insert(k.clone(), *v);
    }
    Ok(Some(row))
}

impl Repo {
    /// The model's promotion policy, if any: the last `policy` fact of its history (set by
    /// `mreg policy` on a model that has a history, and pushed and pulled with it, so every
    /// store applies the same one), else the one in `config.yaml` (set before the model's
    /// first commit, which then records it in the history).
    pub fn policy(&self, model: &ModelName) -> Option<Policy> {
        // The history's last word on it, scanned once per version of the log: a long-lived
        // process (the dashboard) asks on every page.
        let log = self.model_log(model);
        let sig = log.signature().ok();
        let cached = self
            .policies
            .lock()
            .ok()
            .and_then(|c| c.get(model).cloned())
            .filter(|(s, _)| sig.is_some() && Some(s) == sig.as_ref());
        let recorded = match cached {
            Some((_, p)) => p,
            None => {
                let p = match log.last_extra(POLICY) {
                    Ok(Some(v)) => Some(serde_json::from_value::<Option<Policy>>(v).ok().flatten()),
                    _ => None,
                };
                if let (Some(sig), Ok(mut c)) = (sig, self.policies.lock()) {
                    c.insert(model.clone(), (sig, p.clone()));
                }
                p
            }
        };
        match recorded {
            // Recorded in the history (set, or cleared with `null`).
            Some(p) => p,
            None => self.config_policy(model),
        }
    }

    /// The policy `config.yaml` holds for the model (not yet in its history). Read from
    /// the file, not the copy made at open: a long-lived process (Python, the dashboard)
    /// must apply a policy another process set meanwhile.
    pub(crate) fn config_policy(&self, model: &ModelName) -> Option<Policy> {
        let fresh: Option<crate::repo::Config> =
            std::fs::read_to_string(self.store_dir().join("config.yaml"))
                .ok()
                .and_then(|t| serde_yaml::from_str(&t).ok());
        fresh
            .as_ref()
            .unwrap_or(self.config())
            .models
            .get(model.as_str())
            .and_then(|m| m.policy.clone())
    }
}
