//! Aliases, tags, promote, rollback and archive: every named pointer and its moves.
//!
//! All of them are moves recorded in the model's history log (`history`), so each is one
//! atomic, fsynced line under the model's lock: a promote that moves `production` and
//! `rollback` together can never be half done, and every move says who, when and why.
//!
//! - An **alias** is a movable per-model pointer; `--expect` makes a move compare-and-swap.
//! - A **tag** is an immutable, store-wide name for one commit; it lives in the history of
//!   the commit's model, and the `tags` lock makes its name unique across models.
//! - **Archive** is a flag on a version, recorded as a history entry with no ref change;
//!   archived versions are hidden from listings and go first under gc retention.

pub mod history;
pub mod names;
pub mod notes;
pub mod policy;
pub mod revision;
pub mod rules;
pub mod settings;
mod transact;
pub mod versions;

use std::collections::BTreeSet;

use crate::error::{Error, Result};
use crate::history::{Action, LogEntry, MoveInfo, RefName, Transaction};
use crate::id::CommitId;
use crate::names::{AliasName, ModelName, TagName};
use crate::repo::Repo;

/// The conventional alias names promote and rollback use.
pub const PRODUCTION: &str = "production";
pub const CANDIDATE: &str = "candidate";
pub const ROLLBACK: &str = "rollback";
pub const BEST: &str = "best";

/// What `--expect` demands of an alias before moving it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// The alias must not exist yet.
    Absent,
    /// The alias must point here.
    At(CommitId),
}

impl Expect {
    /// An `--expect` argument as every client takes it: a revision, or `none` (or empty)
    /// for "must not exist"; no argument, no expectation.
    pub fn resolve(repo: &Repo, rev: Option<&str>) -> Result<Option<Expect>> {
        Ok(match rev {
            None => None,
            Some("none") | Some("") => Some(Expect::Absent),
            Some(r) => Some(Expect::At(repo.resolve(r)?)),
        })
    }
}

fn show(id: Option<&CommitId>) -> String {
    id.map_or_else(|| "nothing".to_string(), |i| i.short())
}

/// Require that `id` is a commit of `model`.
pub fn check_model(repo: &Repo, model: &ModelName, id: &CommitId) -> Result<()> {
    let c = repo.read_commit(id)?;
    if &c.model != model {
        return Err(Error::WrongModel {
            id: *id,
            actual: c.model.clone(),
            expected: model.clone(),
        });
    }
    Ok(())
}

/// Refuse a version whose data was pruned: a ref must never point at a version that
/// cannot be checked out.
pub fn refuse_pruned(repo: &Repo, id: &CommitId) -> Result<()> {
    if crate::gc_marks::is_pruned(repo, id) {
        return Err(Error::Pruned { commit: *id });
    }
    Ok(())
}

fn require_model(repo: &Repo, model: &ModelName) -> Result<()> {
    repo.require_model(model)?;
    Ok(())
}

/// Point `model@alias` at `target`, optionally only if it is where the caller expects.
pub fn alias_set(
    repo: &Repo,
    model: &ModelName,
    alias: &AliasName,
    target: CommitId,
    expect: Option<Expect>,
    info: MoveInfo,
) -> Result<AliasMove> {
    alias_set_with(repo, model, alias, target, expect, info, false)
}

/// [`alias_set`]; `allow_unsafe` lets `production` take a version whose pickles would run
/// unvouched code (the findings are recorded in the history line).
pub fn alias_set_with(
    repo: &Repo,
    model: &ModelName,
    alias: &AliasName,
    target: CommitId,
    expect: Option<Expect>,
    info: MoveInfo,
    allow_unsafe: bool,
) -> Result<AliasMove> {
    require_model(repo, model)?;
    check_model(repo, model, &target)?;
    let ((), entry) = repo.transact(model, info, Action::AliasSet, |t| {
        // Under the shared store lock, which gc takes exclusively: no prune can slip in
        // between this check and the move.
        refuse_pruned(repo, &target)?;
        if alias.as_str() == PRODUCTION {
            let accepted = crate::trust::check_promotable(repo, model, &target, allow_unsafe)?;
            if !accepted.is_empty() {
                t.set_extra(crate::trust::ALLOW_UNSAFE, serde_json::json!(accepted));
            }
        }
        let current = t.state().aliases.get(alias.as_str());
        let ok = match expect {
            None => true,
            Some(Expect::Absent) => current.is_none(),
            Some(Expect::At(id)) => current == Some(&id),
        };
        if !ok {
            return Err(Error::AliasMoved {
                model: model.clone(),
                alias: alias.clone(),
                expected: match expect {
                    Some(Expect::At(id)) => id.short(),
                    _ => "nothing".into(),
                },
                actual: show(current),
            });
        }
        t.set_alias(alias, target);
        Ok(())
    })?;
    Ok(AliasMove {
        model: model.clone(),
        alias: alias.clone(),
        id: target,
        moved: entry.is_some(),
    })
}

/// Remove `model@alias`; with `expect`, only if it points where the caller expects (a
/// dashboard showing an older target must not remove a newer move).
pub fn alias_rm(
    repo: &Repo,
    model: &ModelName,
    alias: &AliasName,
    expect: Option<CommitId>,
    info: MoveInfo,
) -> Result<LogEntry> {
    require_model(repo, model)?;
    let ((), e) = repo.transact(model, info, Action::AliasRemove, |t| {
        let current = t.state().aliases.get(alias.as_str()).copied();
        if let (Some(want), Some(now)) = (expect, current) {
            if want != now {
                return Err(Error::AliasMoved {
                    model: model.clone(),
                    alias: alias.clone(),
                    expected: want.short(),
                    actual: now.short(),
                });
            }
        }
        t.remove_alias(alias.as_str())
            .map(|_| ())
            .ok_or_else(|| Error::UnknownAlias {
                model: model.clone(),
                alias: alias.clone(),
            })
    })?;
    Ok(e.expect("removing an existing alias is a change"))
}

/// Every tag in the store: (tag, model, commit), sorted by tag.
pub fn tags(repo: &Repo) -> Result<Vec<Named<TagKey>>> {
    let mut out = Vec::new();
    for m in repo.models()? {
        for (tag, id) in repo.model_state(&m)?.tags {
            out.push(Named {
                model: m.clone(),
                name: TagKey { tag },
                id,
            });
        }
    }
    out.sort_by(|a, b| a.name.tag.cmp(&b.name.tag));
    Ok(out)
}

/// Create an immutable tag on a commit.
pub fn tag_create(
    repo: &Repo,
    tag: &TagName,
    target: CommitId,
    info: MoveInfo,
) -> Result<LogEntry> {
    if let Ok(m) = ModelName::new(tag.as_str()) {
        if repo.model_exists(&m) {
            return Err(Error::NameClash {
                name: tag.to_string(),
                what: "tag",
                other: "model name",
            });
        }
    }
    let model = repo.read_commit(&target)?.model;
    // The tags lock makes "no model has this tag yet" and the append one step.
    let _tags = repo.lock_named("tags")?;
    if let Some(t) = tags(repo)?.into_iter().find(|t| &t.name.tag == tag) {
        return Err(Error::TagExists {
            tag: tag.to_string(),
            model: t.model.to_string(),
            id: t.id.short(),
        });
    }
    let ((), e) = repo.transact(&model, info, Action::Tag, |t| {
        refuse_pruned(repo, &target)?;
        t.set_tag(tag, target);
        Ok(())
    })?;
    Ok(e.expect("a new tag is a change"))
}

/// Delete a tag (the deletion is recorded in history like every move).
pub fn tag_delete(repo: &Repo, tag: &str, info: MoveInfo) -> Result<LogEntry> {
    let _tags = repo.lock_named("tags")?;
    let model = tags(repo)?
        .into_iter()
        .find(|t| t.name.tag.as_str() == tag)
        .ok_or_else(|| Error::UnknownTag(tag.into()))?
        .model;
    let ((), e) = repo.transact(&model, info, Action::TagDelete, |t| {
        t.remove_tag(tag);
        Ok(())
    })?;
    Ok(e.expect("removing a tag is a change"))
}

/// The set of archived versions of a model, from its history.
pub fn archived(repo: &Repo, model: &ModelName) -> Result<BTreeSet<CommitId>> {
    let (entries, _) = repo.model_log(model).entries()?;
    Ok(archived_in(&entries))
}

/// The archived set folded from already-read history entries.
pub fn archived_in(entries: &[crate::history::LogEntry]) -> BTreeSet<CommitId> {
    let mut set = BTreeSet::new();
    for e in entries {
        if let Some(id) = e
            .extra
            .get("archived")
            .and_then(|v| v.as_str())
            .and_then(CommitId::from_hex)
        {
            set.insert(id);
        }
        if let Some(id) = e
            .extra
            .get("unarchived")
            .and_then(|v| v.as_str())
            .and_then(CommitId::from_hex)
        {
            set.remove(&id);
        }
    }
    set
}

/// Mark a version archived (or not). Recorded in history; refs do not move.
pub fn set_archived(repo: &Repo, id: CommitId, archive: bool, info: MoveInfo) -> Result<bool> {
    let model = repo.read_commit(&id)?.model;
    let action = if archive {
        Action::Archive
    } else {
        Action::Unarchive
    };
    let ((), entry) = repo.transact(&model, info, action, |t| {
        if archive {
            let pointing: Vec<String> = t
                .state()
                .aliases
                .iter()
                .filter(|(_, v)| **v == id)
                .map(|(k, _)| k.to_string())
                .collect();
            if !pointing.is_empty() {
                return Err(Error::ArchiveAliased {
                    id: (*id).into(),
                    model: model.clone(),
                    aliases: pointing,
                });
            }
        }
        // Decided under the model's lock; changing nothing writes nothing.
        if archived(repo, &model)?.contains(&id) != archive {
            t.set_archived(id, archive);
        }
        Ok(())
    })?;
    Ok(entry.is_some())
}

/// What a promote or rollback did: every client renders this (`--json`: `{model,
/// production, rollback, moved}`).
#[derive(Clone, Debug, serde::Serialize)]
pub struct Promotion {
    pub model: ModelName,
    pub production: CommitId,
    /// The production it replaced, now `rollback`.
    #[serde(rename = "rollback")]
    pub previous: Option<CommitId>,
    /// The history line (None: production already was there; nothing moved).
    #[serde(rename = "moved", serialize_with = "is_some")]
    pub entry: Option<LogEntry>,
}

/// An alias move (`alias set`), as every client renders it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct AliasMove {
    pub model: ModelName,
    pub alias: AliasName,
    pub id: CommitId,
    /// False: the alias already pointed there (nothing was written).
    pub moved: bool,
}

/// A named pointer of a model, as alias and tag lists show it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Named<N> {
    pub model: ModelName,
    #[serde(flatten)]
    pub name: N,
    pub id: CommitId,
}

/// An alias's name in a list (`{"alias": ...}`).
#[derive(Clone, Debug, serde::Serialize)]
pub struct AliasKey {
    pub alias: AliasName,
}

/// A tag's name in a list (`{"tag": ...}`).
#[derive(Clone, Debug, serde::Serialize)]
pub struct TagKey {
    pub tag: TagName,
}

fn is_some<T, S: serde::Serializer>(v: &Option<T>, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_bool(v.is_some())
}

/// Every alias of `model` (or of every model), by model then name.
pub fn aliases(repo: &Repo, model: Option<&ModelName>) -> Result<Vec<Named<AliasKey>>> {
    let models = match model {
        Some(m) => {
            require_model(repo, m)?;
            vec![m.clone()]
        }
        None => repo.models()?,
    };
    let mut out = Vec::new();
    for m in models {
        for (alias, id) in repo.model_state(&m)?.aliases {
            out.push(Named {
                model: m.clone(),
                name: AliasKey { alias },
                id,
            });
        }
    }
    Ok(out)
}

/// Run one move of `production` (and `rollback`) under the model's lock; `f` returns the
/// new production and the one it replaced.
fn move_production<F>(
    repo: &Repo,
    model: &ModelName,
    expect: Option<Expect>,
    info: MoveInfo,
    action: Action,
    f: F,
) -> Result<Promotion>
where
    F: FnOnce(&mut Transaction) -> Result<(CommitId, Option<CommitId>)>,
{
    let ((production, previous), entry) = repo.transact(model, info, action, |t| {
        // `--expect`: compare-and-swap on production, decided under the model's lock, so
        // of several promotes expecting the same production exactly one wins. Published,
        // the move carries production's old value, so the remote refuses the losers too.
        if let Some(e) = expect {
            let current = t.state().aliases.get(PRODUCTION).copied();
            let ok = match e {
                Expect::Absent => current.is_none(),
                Expect::At(id) => current == Some(id),
            };
            if !ok {
                return Err(Error::AliasMoved {
                    model: model.clone(),
                    alias: AliasName::conventional(PRODUCTION),
                    expected: match e {
                        Expect::At(id) => id.short(),
                        Expect::Absent => "nothing".into(),
                    },
                    actual: show(current.as_ref()),
                });
            }
            t.depends_on(RefName::Alias(AliasName::conventional(PRODUCTION)));
        }
        f(t)
    })?;
    Ok(Promotion {
        model: model.clone(),
        production,
        previous,
        entry,
    })
}

/// Make `rev` (default: the candidate at the moment of the move) production, keeping the
/// previous production as `rollback`. One history line: all or nothing.
///
/// With `expect`, only if production is where the caller expects (compare-and-swap).
pub fn promote(
    repo: &Repo,
    model: &ModelName,
    rev: Option<CommitId>,
    expect: Option<Expect>,
    info: MoveInfo,
) -> Result<Promotion> {
    promote_with(repo, model, rev, expect, info, false)
}

/// [`promote`]; `allow_unsafe` takes a version whose pickles would run unvouched code
/// (the findings are recorded in the history line).
pub fn promote_with(
    repo: &Repo,
    model: &ModelName,
    rev: Option<CommitId>,
    expect: Option<Expect>,
    info: MoveInfo,
    allow_unsafe: bool,
) -> Result<Promotion> {
    require_model(repo, model)?;
    if let Some(id) = rev {
        check_model(repo, model, &id)?;
    }
    move_production(repo, model, expect, info, Action::Promote, |t| {
        let target = match rev {
            Some(id) => id,
            None => {
                // The move relies on the candidate it read: a replay elsewhere must find
                // the same one.
                t.depends_on(RefName::Alias(AliasName::conventional(CANDIDATE)));
                *t.state()
                    .aliases
                    .get(CANDIDATE)
                    .ok_or_else(|| Error::NoCandidate {
                        model: model.clone(),
                    })?
            }
        };
        // Read under the model's lock: an archive racing this promote is seen.
        if archived(repo, model)?.contains(&target) {
            return Err(Error::Archived {
                id: (*target).into(),
            });
        }
        refuse_pruned(repo, &target)?;
        // Production takes no pickle that runs unvouched code (unless allowed, recorded),
        // and, for a model that trusts keys, only what one of them signed.
        let accepted = crate::trust::check_promotable(repo, model, &target, allow_unsafe)?;
        if !accepted.is_empty() {
            t.set_extra(crate::trust::ALLOW_UNSAFE, serde_json::json!(accepted));
        }
        let previous = t.state().aliases.get(PRODUCTION).copied();
        if previous != Some(target) {
            t.set_alias(&AliasName::conventional(PRODUCTION), target);
            if let Some(p) = previous {
                t.set_alias(&AliasName::conventional(ROLLBACK), p);
            }
        }
        Ok((target, previous))
    })
}

/// Put `rollback` back into `production`, and the demoted production into `rollback`.
/// With `expect`, only if production is where the caller expects (compare-and-swap).
pub fn rollback(
    repo: &Repo,
    model: &ModelName,
    expect: Option<Expect>,
    info: MoveInfo,
) -> Result<Promotion> {
    require_model(repo, model)?;
    move_production(repo, model, expect, info, Action::Rollback, |t| {
        let back = *t
            .state()
            .aliases
            .get(ROLLBACK)
            .ok_or_else(|| Error::NoRollback {
                model: model.clone(),
            })?;
        let demoted = t.set_alias(&AliasName::conventional(PRODUCTION), back);
        match demoted {
            Some(d) => t.set_alias(&AliasName::conventional(ROLLBACK), d),
            None => t.remove_alias(ROLLBACK),
        };
        Ok((back, demoted))
    })
}

/// One model of a store, as `mreg models` lists it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ModelSummary {
    pub model: ModelName,
    pub head: Option<CommitId>,
    pub aliases: std::collections::BTreeMap<AliasName, CommitId>,
    pub tags: std::collections::BTreeMap<TagName, CommitId>,
    /// Every version (archived and pruned ones included).
    pub versions: usize,
    pub archived: usize,
    /// The last move in its history: when, who, what.
    pub last_change: Option<String>,
    pub last_author: Option<String>,
    pub last_action: Option<String>,
    /// The model's description and labels (`mreg describe`), which travel with it.
    pub description: Option<String>,
    pub labels: std::collections::BTreeSet<String>,
}

/// Every model of the store, sorted by name.
pub fn model_summaries(repo: &Repo) -> Result<Vec<ModelSummary>> {
    let mut out = Vec::new();
    for m in repo.models()? {
        // The last history line and the query index: no full parse of the history.
        let last = repo.model_log(&m).last()?;
        let last = last.as_ref();
        let state = last.map(|e| e.state.clone()).unwrap_or_default();
        // Counts from the index's columns: no row is parsed.
        let cols = crate::index::columns(repo, &m, &|_| ["archived".to_string()].into())?;
        let archived = (0..cols.len()).filter(|&i| cols.archived(i)).count();
        let settings = cols.settings().clone();
        out.push(ModelSummary {
            description: settings.description,
            labels: settings.labels,
            head: state.head,
            aliases: state.aliases,
            tags: state.tags,
            versions: cols.len(),
            archived,
            last_change: last.map(|e| e.time.to_string()),
            last_author: last.map(|e| e.author.clone()),
            last_action: last.map(|e| e.action.to_string()),
            model: m,
        });
    }
    Ok(out)
}
