//! Views of versions for clients: what `mreg show --json` and `mreg log --json` print and
//! what the Python package returns. Built in one place, so every client sees one shape, and
//! the CLI's text rendering reads the same facts.

use std::collections::{HashMap, HashSet};

use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::id::CommitId;
use crate::ops::eval::EvaluationNote;
use crate::recipe::Recipe;
use crate::{Commit, ModelName, ObjectId, Repo};

/// A commit as JSON: its id first, then the stored fields, with `files_pruned` and a
/// `params` mapping even when it has none.
pub fn commit_json(id: &ObjectId, c: &Commit, pruned: bool) -> Value {
    let mut ordered = serde_json::Map::new();
    ordered.insert("id".into(), Value::String(id.to_hex()));
    if let Value::Object(m) = serde_json::to_value(c).expect("commits serialize") {
        ordered.extend(m);
    }
    ordered.insert("files_pruned".into(), Value::Bool(pruned));
    ordered.entry("params").or_insert_with(|| json!({}));
    Value::Object(ordered)
}

/// One version in full: what `mreg show` prints (as text, or this struct as `--json`), the
/// Python package's `Commit`, and the dashboard's version page. The commit with its labels
/// as they are now, its number, the refs pointing at it, archived, notes, evaluations, git
/// pins, which files lost their data, where remote-only data is, and its curves.
#[derive(Clone, Debug, serde::Serialize)]
pub struct VersionView {
    pub id: CommitId,
    /// The commit, labels as they are now (`label add/rm` applied).
    #[serde(flatten)]
    pub commit: Commit,
    /// Its data was pruned (`files_missing_data` says which files lost it).
    pub files_pruned: bool,
    /// The version number (None: pending).
    pub version: Option<u64>,
    /// Refs pointing at it: `head`, `alias:production`, `tag:v1`.
    pub refs: Vec<String>,
    pub archived: bool,
    /// Notes attached to it, oldest first (their contents; the ids are kept for clients
    /// that name them).
    #[serde(serialize_with = "note_values")]
    pub notes: Vec<(crate::id::NoteId, Value)>,
    pub evaluations: Vec<EvaluationNote>,
    /// Git commits that pinned it (from `git-pin` notes).
    pub git_pins: Vec<String>,
    pub files_missing_data: Vec<String>,
    /// The remote holding its data when this store does not.
    pub data_on_remote: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub curves: Option<Value>,
}

fn note_values<S: serde::Serializer>(
    notes: &[(crate::id::NoteId, Value)],
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    s.collect_seq(notes.iter().map(|(_, n)| n))
}

/// One version in full (see `VersionView`).
pub fn show(repo: &Repo, id: &CommitId) -> Result<VersionView> {
    let mut c = repo.read_commit(id)?;
    let pruned = repo.is_pruned(id);
    let lost: Vec<String> = if pruned {
        crate::reach::files_missing_data(repo, &c)
    } else {
        Vec::new()
    };
    let entries = repo.history_entries(&c.model)?;
    c.labels = crate::notes::effective_labels(&entries, id, &c.labels)
        .into_iter()
        .collect();
    let state = entries.last().map(|e| e.state.clone()).unwrap_or_default();
    let refs: Vec<String> = state
        .refs()
        .into_iter()
        .filter(|(_, v)| v == id)
        .map(|(k, _)| k.to_string())
        .collect();
    let archived = crate::refs::archived_in(&entries).contains(id);
    let notes = crate::notes::notes_in(repo, &entries, id)?;
    let evaluations: Vec<EvaluationNote> = notes
        .iter()
        .filter_map(|(_, n)| EvaluationNote::from_note(n))
        .collect();
    let numbering = crate::versions::numbering(repo, &c.model, &entries)?;
    Ok(VersionView {
        id: *id,
        version: numbering.number(id),
        files_pruned: pruned,
        refs,
        archived,
        evaluations,
        git_pins: crate::notes::git_pins(&notes),
        notes,
        files_missing_data: lost,
        data_on_remote: repo.data_remote(id),
        curves: curves(repo, &c)?,
        commit: c,
    })
}

/// Every point of a version's curves, in one format for trained and run versions (a run's
/// recipe holds their summaries and a blob the points, a training's recipe its epochs).
pub fn curve_points(repo: &Repo, c: &Commit) -> Result<Option<crate::datafile::Curves>> {
    Ok(match &c.recipe {
        Some(Recipe::Train(t)) => Some(t.curves()),
        Some(Recipe::Run(r)) => match &r.curves {
            Some(cv) => {
                let bytes = repo
                    .objects()
                    .get_kind(&cv.blob, crate::object::Kind::Blob)?;
                Some(
                    serde_json::from_slice(&bytes).map_err(|e| Error::CorruptObject {
                        id: cv.blob.to_hex(),
                        why: format!("curves are not a map of [step, value] lists: {e}"),
                    })?,
                )
            }
            None => None,
        },
        None => None,
    })
}

/// The curves as JSON (`{name: [[step, value or null], ...]}`).
pub fn curves(repo: &Repo, c: &Commit) -> Result<Option<Value>> {
    Ok(curve_points(repo, c)?.map(|c| json!(c)))
}

/// One line of `log`: a commit with the refs pointing at it and its evaluations.
pub struct LogItem {
    pub id: CommitId,
    pub commit: Commit,
    /// Refs pointing at it, short form (`head`, `production`, `v1.0`).
    pub refs: Vec<String>,
    pub archived: bool,
    pub pruned: bool,
    pub evaluations: Vec<EvaluationNote>,
    /// The version number (None: pending, not published yet).
    pub version: Option<u64>,
}

impl LogItem {
    /// As `mreg log --json` prints it.
    pub fn to_json(&self) -> Value {
        let mut v = commit_json(&self.id, &self.commit, self.pruned);
        v["refs"] = json!(self.refs);
        v["version"] = json!(self.version);
        v["archived"] = json!(self.archived);
        v["evaluations"] = json!(self.evaluations);
        v
    }
}

/// The versions of a model (`start` names one), of the chain from a revision (`start` is a
/// revision), or of every model (`start` is None), newest first, at most `max`.
///
/// A model's versions are listed in publication order (`versions`: the order of their
/// numbers, the same on every store; pending ones first), never by clock, so a commit made
/// on a machine with a skewed clock never reorders a model's history. A revision's chain
/// follows parents (what each version was trained from), like git. Several models are
/// interleaved by time, each in its own order.
pub fn log(repo: &Repo, start: Option<&str>, max: Option<usize>) -> Result<Vec<LogItem>> {
    let mut chains: Vec<Vec<CommitId>> = Vec::new();
    let mut numbers: HashMap<CommitId, u64> = HashMap::new();
    let mut of_model = |m: &ModelName| -> Result<Vec<CommitId>> {
        let vs = crate::versions::of_model(repo, m)?;
        numbers.extend(vs.iter().filter_map(|(id, n)| n.map(|n| (*id, n))));
        Ok(vs.into_iter().rev().map(|(id, _)| id).collect())
    };
    let models = match start {
        Some(arg) => match ModelName::new(arg).ok().filter(|m| repo.model_exists(m)) {
            Some(m) => {
                chains.push(of_model(&m)?);
                vec![m]
            }
            None => {
                let from = repo.resolve(arg).map_err(|e| match e {
                    // A bare name that is neither a model, a tag nor an id: say "model".
                    Error::UnknownRevision(_) if ModelName::new(arg).is_ok() => {
                        Error::UnknownModel(arg.to_string())
                    }
                    e => e,
                })?;
                let chain = repo.chain_from(from)?;
                let m = chain
                    .first()
                    .map(|(_, c)| c.model.clone())
                    .ok_or_else(|| Error::UnknownRevision(arg.to_string()))?;
                of_model(&m)?;
                chains.push(chain.into_iter().map(|(id, _)| id).collect());
                vec![m]
            }
        },
        None => {
            let ms = repo.models()?;
            for m in &ms {
                chains.push(of_model(m)?);
            }
            ms
        }
    };
    let mut decor: HashMap<CommitId, Vec<String>> = HashMap::new();
    let mut archived = HashSet::new();
    let mut evals: HashMap<CommitId, Vec<EvaluationNote>> = HashMap::new();
    for m in &models {
        for (r, id) in repo.model_state(m)?.refs() {
            decor
                .entry(CommitId(*id))
                .or_default()
                .push(r.short().to_string());
        }
        let entries = repo.history_entries(m)?;
        archived.extend(crate::refs::archived_in(&entries));
        for (commit, es) in crate::ops::eval::model_evaluations(repo, &entries)? {
            evals.entry(CommitId(*commit)).or_default().extend(es);
        }
    }
    // Read commits lazily, only as far as `max` needs.
    let mut read: Vec<Vec<(CommitId, Commit)>> = Vec::new();
    for chain in chains {
        let take = max.map_or(chain.len(), |n| n.min(chain.len()));
        read.push(
            chain
                .into_iter()
                .take(take)
                .map(|id| repo.read_commit(&id).map(|c| (id, c)))
                .collect::<Result<_>>()?,
        );
    }
    let merged = crate::ops::query::interleave_newest_first(read, |(_, c)| c.created_at.clone());
    Ok(merged
        .into_iter()
        .take(max.unwrap_or(usize::MAX))
        .map(|(id, commit)| LogItem {
            refs: decor.get(&id).cloned().unwrap_or_default(),
            archived: archived.contains(&id),
            pruned: repo.is_pruned(&id),
            evaluations: evals.remove(&id).unwrap_or_default(),
            version: numbers.get(&id).copied(),
            id,
            commit,
        })
        .collect())
}

/// Two versions compared, as `mreg diff` shows them.
pub struct VersionDiff {
    pub diff: crate::diff::CommitDiff,
    /// Which of the two were pruned (their files are compared by hash only).
    pub pruned: Vec<CommitId>,
    /// Which have their data only on a remote (compared by hash only), and where.
    pub data_on_remote: Vec<(CommitId, String)>,
}

impl VersionDiff {
    /// As `mreg diff --json` prints it.
    pub fn to_json(&self) -> Value {
        let mut v = serde_json::to_value(&self.diff).expect("diffs serialize");
        v["pruned"] = json!(self.pruned);
        v["data_on_remote"] = json!(self.data_on_remote.iter().map(|r| r.0).collect::<Vec<_>>());
        v
    }
}

/// Diff two versions: params, metrics, files, and inside changed files (tensors or chunks)
/// when both have their data here. A pruned version, or one whose data is on a remote, is
/// still compared on its metadata and file list, its files by hash only.
pub fn diff(repo: &Repo, ia: CommitId, ib: CommitId) -> Result<VersionDiff> {
    let (ca, cb) = (repo.read_commit(&ia)?, repo.read_commit(&ib)?);
    let pruned: Vec<CommitId> = [ia, ib]
        .into_iter()
        .filter(|id| repo.is_pruned(id))
        .collect();
    let data_on_remote: Vec<(CommitId, String)> = [ia, ib]
        .into_iter()
        .filter_map(|id| repo.data_remote(&id).map(|r| (id, r)))
        .collect();
    let diff = crate::diff::diff_commits(
        repo.objects(),
        (*ia, &ca),
        (*ib, &cb),
        pruned.is_empty() && data_on_remote.is_empty(),
    )?;
    Ok(VersionDiff {
        diff,
        pruned,
        data_on_remote,
    })
}
