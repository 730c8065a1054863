//! Notes: records attached to a commit after the fact, without changing its id.
//!
//! A note (an evaluation, a git commit that pinned the version, a reproduction verdict) is
//! a `note` object holding JSON. It is attached by a line in the commit's model's history
//! (action = the note's kind, `extra: {note: <id>, commit: <id>}`), written after the
//! object. So attaching is one atomic append, concurrent attachments are serialized by the
//! model's lock and all kept, every attachment says who and when, and the history log stays
//! the single change feed of a model (which is what keeps the query index exact).
//! Labels added or removed after the fact are history entries too (`extra: {label_add |
//! label_remove: <label>, commit: <id>}`).

use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};

use crate::error::{Error, Result};
use crate::history::{Action, LogEntry, MoveInfo};
use crate::id::{CommitId, NoteId, ObjectId};
use crate::names::ModelName;
use crate::object::Kind;
use crate::repo::Repo;

fn entry_commit(e: &LogEntry) -> Option<CommitId> {
    e.extra
        .get("commit")
        .and_then(|v| v.as_str())
        .and_then(CommitId::from_hex)
}

/// Note ids attached to each commit of a model, oldest first, from its history entries.
pub fn model_notes(entries: &[LogEntry]) -> HashMap<CommitId, Vec<crate::id::NoteId>> {
    let mut out: HashMap<CommitId, Vec<crate::id::NoteId>> = HashMap::new();
    for e in entries {
        let note = e
            .extra
            .get("note")
            .and_then(|v| v.as_str())
            .and_then(ObjectId::from_hex);
        if let (Some(n), Some(c)) = (note, entry_commit(e)) {
            out.entry(c).or_default().push(crate::id::NoteId(n));
        }
    }
    out
}

/// The note ids attached to one commit.
pub fn note_ids(repo: &Repo, commit: &CommitId) -> Result<Vec<NoteId>> {
    let model = repo.read_commit(commit)?.model;
    let (entries, _) = repo.model_log(&model).entries()?;
    Ok(model_notes(&entries).remove(commit).unwrap_or_default())
}

/// Attach a note (a JSON object with at least `kind`) to a commit; returns the note's id.
pub fn add(
    repo: &Repo,
    commit: &CommitId,
    note: &serde_json::Value,
    info: MoveInfo,
) -> Result<NoteId> {
    Ok(add_applying_policy(repo, commit, note, info)?.0)
}

/// Attach a note; for an evaluation, the model's policy is applied in the same history
/// line (its ranking key may be an evaluation). Returns the note's id and the policy moves.
pub fn add_applying_policy(
    repo: &Repo,
    commit: &CommitId,
    note: &serde_json::Value,
    info: MoveInfo,
) -> Result<(NoteId, Vec<crate::policy::PolicyMove>)> {
    let model = repo.read_commit(commit)?.model;
    let bytes = serde_json::to_vec(note).expect("notes serialize");
    let _store = repo.lock_store_shared()?;
    let put = repo.objects().put(Kind::Note, &bytes)?;
    repo.objects().flush()?;
    let evaluation = EvaluationNote::from_note(note);
    let kind = note.get("kind").and_then(|k| k.as_str()).unwrap_or("note");
    let (moves, _) =
        repo.transact_holding_store_lock(&model, info, Action::for_note(kind), |t| {
            t.attach_note(crate::id::NoteId(put.id), *commit);
            match (&evaluation, repo.policy(&model)) {
                (Some(e), Some(_)) => {
                    match crate::policy::row_with_eval(
                        repo, &model, commit, &e.dataset, &e.metrics,
                    )? {
                        Some(row) => crate::policy::apply(repo, &model, t, &row),
                        None => Ok(Vec::new()),
                    }
                }
                _ => Ok(Vec::new()),
            }
        })?;
    Ok((crate::id::NoteId(put.id), moves))
}

/// Read and decode a note.
pub fn read(repo: &Repo, id: &NoteId) -> Result<serde_json::Value> {
    let bytes = repo.objects().get_kind(id, Kind::Note)?;
    serde_json::from_slice(&bytes).map_err(|e| Error::CorruptObject {
        id: id.to_hex(),
        why: format!("bad note: {e}"),
    })
}

/// The notes of a commit, decoded, oldest first.
pub fn notes(repo: &Repo, commit: &CommitId) -> Result<Vec<(NoteId, serde_json::Value)>> {
    note_ids(repo, commit)?
        .into_iter()
        .map(|id| read(repo, &id).map(|v| (id, v)))
        .collect()
}

/// The notes of a commit, decoded, oldest first, from its model's history entries.
pub fn notes_in(
    repo: &Repo,
    entries: &[LogEntry],
    commit: &CommitId,
) -> Result<Vec<(NoteId, serde_json::Value)>> {
    model_notes(entries)
        .remove(commit)
        .unwrap_or_default()
        .into_iter()
        .map(|id| read(repo, &id).map(|v| (id, v)))
        .collect()
}

/// The kind of the note the post-commit hook attaches: a git commit whose `mreg.lock`
/// pinned the model commit (`{kind: git-pin, git_commit, path, branch?}`).
pub const GIT_PIN: &str = "git-pin";

/// The git commits recorded by `git-pin` notes among `notes`, oldest first.
pub fn git_pins(notes: &[(NoteId, serde_json::Value)]) -> Vec<String> {
    notes
        .iter()
        .filter(|(_, n)| n.get("kind").and_then(|k| k.as_str()) == Some(GIT_PIN))
        .filter_map(|(_, n)| n.get("git_commit").and_then(|g| g.as_str()))
        .map(str::to_string)
        .collect()
}

/// Label edits after the fact, per commit, in history order: (added?, label).
pub fn label_edits(entries: &[LogEntry]) -> HashMap<ObjectId, Vec<(bool, String)>> {
    let mut out: HashMap<ObjectId, Vec<(bool, String)>> = HashMap::new();
    for e in entries {
        let Some(c) = entry_commit(e) else { continue };
        if let Some(l) = e.extra.get("label_add").and_then(|v| v.as_str()) {
            out.entry(*c).or_default().push((true, l.to_string()));
        }
        if let Some(l) = e.extra.get("label_remove").and_then(|v| v.as_str()) {
            out.entry(*c).or_default().push((false, l.to_string()));
        }
    }
    out
}

/// A commit's labels after the fact: its own labels with the edits applied in order.
pub fn apply_label_edits(own: &[String], edits: Option<&Vec<(bool, String)>>) -> BTreeSet<String> {
    let mut set: BTreeSet<String> = own.iter().cloned().collect();
    for (add, l) in edits.into_iter().flatten() {
        if *add {
            set.insert(l.clone());
        } else {
            set.remove(l);
        }
    }
    set
}

/// Labels of one commit after the fact.
pub fn effective_labels(
    entries: &[LogEntry],
    commit: &CommitId,
    own: &[String],
) -> BTreeSet<String> {
    apply_label_edits(own, label_edits(entries).get(commit))
}

/// Add or remove a label after the fact (recorded in history). Returns false when it was
/// already in that state.
pub fn set_label(
    repo: &Repo,
    commit: &CommitId,
    label: &str,
    add: bool,
    info: MoveInfo,
) -> Result<bool> {
    crate::names::validate_name("label", label)?;
    let c = repo.read_commit(commit)?;
    let model: ModelName = c.model.clone();
    let action = if add {
        Action::LabelAdd
    } else {
        Action::LabelRemove
    };
    let ((), entry) = repo.transact(&model, info, action, |t| {
        // Decided under the model's lock, so concurrent label edits serialize. Changing
        // nothing writes nothing.
        let (entries, _) = repo.model_log(&model).entries()?;
        let has = effective_labels(&entries, commit, &c.labels).contains(label);
        if has != add {
            t.edit_label(*commit, label, add);
        }
        Ok(())
    })?;
    Ok(entry.is_some())
}

/// The note `kind` of an evaluation.
pub const KIND: &str = "evaluation";

/// An evaluation note, as stored (JSON).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvaluationNote {
    pub kind: String,
    pub commit: CommitId,
    pub dataset: String,
    pub metrics: std::collections::BTreeMap<String, f64>,
    pub time: crate::Timestamp,
    pub author: String,
    #[serde(default)]
    pub message: String,
    /// The data evaluated on, when given: as the user named it, its hash (FORMAT.md,
    /// "Datasets") and size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset_blake3: Option<ObjectId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset_size: Option<u64>,
}

impl EvaluationNote {
    /// Read a note's JSON as an evaluation (None for another kind of note, or a malformed
    /// one: notes are untrusted input, and a bad one is skipped, not fatal).
    pub fn from_note(note: &serde_json::Value) -> Option<EvaluationNote> {
        if note.get("kind").and_then(|k| k.as_str()) != Some(KIND) {
            return None;
        }
        // Metrics are numbers; anything else in an old or foreign note is ignored.
        let mut note = note.clone();
        if let Some(m) = note.get_mut("metrics").and_then(|m| m.as_object_mut()) {
            m.retain(|_, v| v.as_f64().is_some_and(f64::is_finite));
        }
        serde_json::from_value(note).ok()
    }
}
