//! Views of versions for clients: what `mreg show --json` and `mreg log --json` print and
//! what the Python package returns. Built in one place, so every client sees one shape, and
//! the CLI's text rendering reads the same facts.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::id::CommitId;
use crate::ops::eval::EvaluationNote;
use crate::recipe::Recipe;
use crate::{Commit, ModelName, Repo};

/// A version just recorded (by `commit`, `run` or `train`), as their `--json` prints it:
/// the commit (its id first), what was stored, and what the policy moved.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Recorded<'a> {
    pub id: CommitId,
    #[serde(flatten)]
    pub commit: &'a Commit,
    /// Always false: a version just recorded has its data.
    pub files_pruned: bool,
    pub stats: RecordStats,
    pub dropped: &'a [String],
    pub carried: &'a [String],
    pub same_files_as: Option<CommitId>,
    pub policy_moves: &'a [crate::policy::PolicyMove],
    /// Where `train` wrote the weights.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weights_path: Option<&'a std::path::Path>,
    /// `train`: the policy made it the candidate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub candidate: Option<bool>,
    /// `run`: what went wrong without failing the run (an output glob that matched
    /// nothing new, resources that could not be sampled).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warnings: Option<&'a [String]>,
}

/// What recording a version stored.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct RecordStats {
    pub chunks: usize,
    pub new_chunks: usize,
    pub stored_bytes: u64,
    pub dataset_bytes: u64,
}

impl<'a> Recorded<'a> {
    /// The view of a commit's outcome (the caller adds what `train` or `run` know).
    pub fn of(out: &'a crate::ops::commit::CommitOutcome) -> Recorded<'a> {
        Recorded {
            id: out.id,
            commit: &out.commit,
            files_pruned: false,
            stats: RecordStats {
                chunks: out.chunks,
                new_chunks: out.new_chunks,
                stored_bytes: out.stored_bytes,
                dataset_bytes: out.dataset_bytes,
            },
            dropped: &out.dropped,
            carried: &out.carried,
            same_files_as: out.same_files_as,
            policy_moves: &out.policy_moves,
            weights_path: None,
            candidate: None,
            warnings: None,
        }
    }
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
    /// Signatures stored with it (OpenSSF model-signing bundles), trusted or not by the
    /// model's keys; `mreg verify` checks them against the bytes.
    pub signatures: Vec<crate::trust::StoredSignature>,
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
    // From the query index's columns when they are current (a lookup, flat in the size of
    // the history); else from the history itself.
    let (state, version, archived, notes) = match crate::index::version_facts(repo, &c.model, id)? {
        Some(f) => {
            c.labels = f.labels;
            let notes = f
                .notes
                .into_iter()
                .map(|n| crate::notes::read(repo, &n).map(|v| (n, v)))
                .collect::<Result<Vec<_>>>()?;
            (
                repo.model_log(&c.model).state()?,
                f.version,
                f.archived,
                notes,
            )
        }
        None => {
            let entries = repo.history_entries(&c.model)?;
            c.labels = crate::notes::effective_labels(&entries, id, &c.labels)
                .into_iter()
                .collect();
            let numbering = crate::versions::numbering(repo, &c.model, &entries)?;
            (
                entries.last().map(|e| e.state.clone()).unwrap_or_default(),
                numbering.number(id),
                crate::refs::archived_in(&entries).contains(id),
                crate::notes::notes_in(repo, &entries, id)?,
            )
        }
    };
    let refs: Vec<String> = state
        .refs()
        .into_iter()
        .filter(|(_, v)| v == id)
        .map(|(k, _)| k.to_string())
        .collect();
    let evaluations: Vec<EvaluationNote> = notes
        .iter()
        .filter_map(|(_, n)| EvaluationNote::from_note(n))
        .collect();
    Ok(VersionView {
        id: *id,
        version,
        files_pruned: pruned,
        refs,
        archived,
        evaluations,
        git_pins: crate::notes::git_pins(&notes),
        signatures: crate::trust::listed(id, &notes, || {
            crate::trust::trusted_hints(repo, &c.model)
        }),
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

/// One line of `log` (and of its `--json`): a commit with the refs pointing at it and its
/// evaluations.
#[derive(Clone, Debug, serde::Serialize)]
pub struct LogItem {
    pub id: CommitId,
    #[serde(flatten)]
    pub commit: Commit,
    /// Its data was pruned.
    #[serde(rename = "files_pruned")]
    pub pruned: bool,
    /// Refs pointing at it, short form (`head`, `production`, `v1.0`).
    pub refs: Vec<String>,
    /// The version number (None: pending, not published yet).
    pub version: Option<u64>,
    pub archived: bool,
    pub evaluations: Vec<EvaluationNote>,
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
                    Error::UnknownRevision(_) => match ModelName::new(arg) {
                        Ok(m) => Error::UnknownModel(m),
                        Err(_) => Error::UnknownRevision(arg.to_string()),
                    },
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

/// Two versions compared, as `mreg diff` shows them (and its `--json`, the dashboard's
/// compare page, Python's `diff`).
#[derive(Clone, Debug, serde::Serialize)]
pub struct VersionDiff {
    #[serde(flatten)]
    pub diff: crate::diff::CommitDiff,
    /// Which of the two were pruned (their files are compared by hash only).
    pub pruned: Vec<CommitId>,
    /// Which have their data only on a remote (compared by hash only), and where (the
    /// JSON names the versions).
    #[serde(serialize_with = "first_of_pairs")]
    pub data_on_remote: Vec<(CommitId, String)>,
}

fn first_of_pairs<S: serde::Serializer>(v: &[(CommitId, String)], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(v.iter().map(|(id, _)| id))
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

/// One move of a model's refs as `history` shows it: the history line, and what remotes
/// refused of it (a move no remote will ever show, or a commit whose other moves lost).
#[derive(Clone, Debug, serde::Serialize)]
pub struct HistoryItem {
    #[serde(flatten)]
    pub entry: crate::history::LogEntry,
    /// Remotes that will never publish this move (another move won there).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub never_published: Vec<String>,
    /// Remotes that published only its version, not its other moves.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub only_version_published: Vec<String>,
}

/// A model's moves, oldest first; with `alias`, only the moves of that alias.
pub fn history(
    repo: &Repo,
    model: &ModelName,
    alias: Option<&crate::names::AliasName>,
) -> Result<Vec<HistoryItem>> {
    repo.require_model(model)?;
    let (entries, _) = repo.model_log(model).entries()?;
    let key = alias.map(|a| crate::history::RefName::Alias(a.clone()));
    let mut refused = crate::remote::never_published(repo, model)?;
    Ok(crate::history::moves_of(&entries, key.as_ref())
        .into_iter()
        .map(|e| {
            let r = refused.remove(&e.seq).unwrap_or_default();
            HistoryItem {
                entry: e.clone(),
                never_published: r.remotes,
                only_version_published: r.version_only,
            }
        })
        .collect())
}

/// A model's refs as they were at a point in time (`history --at`).
#[derive(Clone, Debug, serde::Serialize)]
pub struct RefsAt {
    pub model: ModelName,
    /// The time asked about, as given.
    pub at: String,
    /// Every ref then; or, when one alias was asked about, that alias (null: not set).
    pub refs: RefsThen,
    /// The history line that set the refs as they were then (None: before the first).
    pub set_by: Option<SetBy>,
}

/// The refs of [`RefsAt`].
#[derive(Clone, Debug, serde::Serialize)]
#[serde(untagged)]
pub enum RefsThen {
    All(crate::history::RefState),
    Alias(BTreeMap<String, Option<CommitId>>),
}

/// Who set the refs, when and why.
#[derive(Clone, Debug, serde::Serialize)]
pub struct SetBy {
    pub seq: u64,
    pub time: crate::Timestamp,
    pub author: String,
    pub action: crate::history::Action,
    pub message: String,
}

/// The refs of `model` at time `at` (RFC 3339, or a date meaning the end of that day).
pub fn refs_at(
    repo: &Repo,
    model: &ModelName,
    at: &str,
    alias: Option<&crate::names::AliasName>,
) -> Result<RefsAt> {
    repo.require_model(model)?;
    let t = crate::ops::query::parse_time_bound(at, true)?;
    let (entries, _) = repo.model_log(model).entries()?;
    let entry = crate::history::entry_at(&entries, t);
    let state = entry.map(|e| e.state.clone()).unwrap_or_default();
    let refs = match alias {
        Some(a) => RefsThen::Alias(BTreeMap::from([(
            a.to_string(),
            state.aliases.get(a).copied(),
        )])),
        None => RefsThen::All(state),
    };
    Ok(RefsAt {
        model: model.clone(),
        at: at.to_string(),
        refs,
        set_by: entry.map(|e| SetBy {
            seq: e.seq,
            time: e.time.clone(),
            author: e.author.clone(),
            action: e.action.clone(),
            message: e.message.clone(),
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::MoveInfo;
    use crate::ops::commit::{commit, CommitRequest};
    use crate::ops::eval::{add_evaluation, EvaluationRequest};

    fn info(why: &str) -> MoveInfo {
        MoveInfo::for_tests(why)
    }

    /// Issue 29: `show` takes a version's number, labels, archived flag and notes from the
    /// query index's columns when they are current (flat at any history size). Guard: it
    /// shows exactly what reading the history shows, and a stale index is not believed.
    #[test]
    fn show_from_the_index_columns_is_show_from_the_history() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repo::init(dir.path()).unwrap();
        let model = ModelName::new("fraud").unwrap();
        let mut ids = Vec::new();
        for i in 0..6 {
            std::fs::write(dir.path().join("w.bin"), format!("weights {i}")).unwrap();
            let out = commit(
                &repo,
                CommitRequest {
                    labels: if i % 2 == 0 {
                        vec!["nightly".into()]
                    } else {
                        vec![]
                    },
                    ..CommitRequest::new(
                        model.clone(),
                        "T <t@example.com>",
                        dir.path().to_path_buf(),
                        vec!["w.bin".into()],
                    )
                },
                &crate::ops::NoProgress,
            )
            .unwrap();
            ids.push(out.id);
        }
        for (k, id) in ids.iter().enumerate().filter(|(k, _)| k % 2 == 1) {
            add_evaluation(
                &repo,
                EvaluationRequest {
                    commit: *id,
                    dataset: "holdout".into(),
                    metrics: BTreeMap::from([("f1".to_string(), k as f64 / 10.0)]),
                    data: None,
                    info: info("eval"),
                },
            )
            .unwrap();
        }
        crate::notes::set_label(&repo, &ids[0], "nightly", false, info("unlabel")).unwrap();
        crate::notes::set_label(&repo, &ids[3], "golden", true, info("label")).unwrap();
        crate::refs::set_archived(&repo, ids[2], true, info("old")).unwrap();
        crate::refs::promote(&repo, &model, Some(ids[3]), None, info("ship")).unwrap();
        let as_json = |id: &CommitId| serde_json::to_value(show(&repo, id).unwrap()).unwrap();
        // No columns yet: from the history.
        let from_history: Vec<Value> = ids.iter().map(as_json).collect();
        crate::ops::query::list(&repo, &crate::ops::query::ListQuery::default()).unwrap();
        for (id, want) in ids.iter().zip(&from_history) {
            assert!(crate::index::version_facts(&repo, &model, id)
                .unwrap()
                .is_some());
            assert_eq!(&as_json(id), want);
        }
        assert_eq!(from_history[3]["version"], 4);
        assert_eq!(from_history[3]["labels"], serde_json::json!(["golden"]));
        assert_eq!(from_history[2]["archived"], true);
        // A move makes the columns stale: show reads the history, and sees the move.
        crate::notes::set_label(&repo, &ids[1], "late", true, info("label")).unwrap();
        assert!(crate::index::version_facts(&repo, &model, &ids[1])
            .unwrap()
            .is_none());
        assert_eq!(as_json(&ids[1])["labels"], serde_json::json!(["late"]));

        // An index written before notes were recorded per version (version 3) is upgraded:
        // its rows reused, the notes found again.
        let index = dir.path().join(".modelreg/cache/index");
        let from_history: Vec<Value> = ids.iter().map(as_json).collect();
        crate::ops::query::list(&repo, &crate::ops::query::ListQuery::default()).unwrap();
        let rows = index.join("fraud.json");
        let mut v: Value = serde_json::from_slice(&std::fs::read(&rows).unwrap()).unwrap();
        v["version"] = 3.into();
        v.as_object_mut().unwrap().remove("notes");
        std::fs::write(&rows, serde_json::to_vec(&v).unwrap()).unwrap();
        std::fs::remove_file(index.join("fraud.cols")).unwrap();
        crate::ops::query::list(&repo, &crate::ops::query::ListQuery::default()).unwrap();
        let facts = crate::index::version_facts(&repo, &model, &ids[1])
            .unwrap()
            .unwrap();
        assert_eq!(facts.notes.len(), 1);
        for (id, want) in ids.iter().zip(&from_history) {
            assert_eq!(&as_json(id), want);
        }
    }
}
