//! Evaluations attached after the fact: the one schema of an evaluation note, and the
//! operation that records one.
//!
//! An evaluation is a `note` object (`kind: evaluation`) attached to a version by a line in
//! its model's history, so the version's id never changes, concurrent evaluations are all
//! kept, and the model's policy (when its key is `eval.DATASET.NAME`) is applied in the
//! same line. `list`, `best` and `compare` see evaluations as `eval.DATASET.METRIC`; the
//! latest evaluation on a dataset wins, metric by metric.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use crate::error::{RecordError, Result};
use crate::history::MoveInfo;
use crate::id::CommitId;
use crate::names::validate_name;
use crate::policy::PolicyMove;
use crate::repo::Repo;

pub use crate::notes::{EvaluationNote, KIND};

/// What to attach.
#[derive(Clone, Debug)]
pub struct EvaluationRequest {
    pub commit: CommitId,
    pub dataset: String,
    pub metrics: BTreeMap<String, f64>,
    /// The data itself (file or directory): hashed and recorded. `shown` is how the user
    /// named it.
    pub data: Option<(PathBuf, String)>,
    /// Who, when and why (`action` is set to `evaluation`).
    pub info: MoveInfo,
}

/// What was attached.
#[derive(Clone, Debug, Serialize)]
pub struct Evaluation {
    /// The note object's id.
    #[serde(rename = "note")]
    pub note_id: crate::id::NoteId,
    #[serde(flatten)]
    pub note: EvaluationNote,
    pub policy_moves: Vec<PolicyMove>,
}

/// Attach an evaluation to a version.
pub fn add_evaluation(repo: &Repo, req: EvaluationRequest) -> Result<Evaluation> {
    validate_name("dataset name", &req.dataset)?;
    if req.metrics.is_empty() {
        return Err(RecordError::NoMetrics.into());
    }
    if let Some((k, _)) = req.metrics.iter().find(|(_, v)| !v.is_finite()) {
        return Err(RecordError::NotFinite { metric: k.clone() }.into());
    }
    repo.read_commit(&req.commit)?;
    let (dataset_path, dataset_blake3, dataset_size) = match &req.data {
        Some((path, shown)) => {
            let d = crate::ops::commit::dataset_digest(path, None, &crate::ops::NoProgress)?;
            (Some(shown.clone()), Some(d.blake3), Some(d.size))
        }
        None => (None, None, None),
    };
    let info = req.info;
    let note = EvaluationNote {
        kind: KIND.into(),
        commit: req.commit,
        dataset: req.dataset,
        metrics: req.metrics,
        time: info.time.clone(),
        author: info.author.clone(),
        message: info.message.clone(),
        dataset_path,
        dataset_blake3,
        dataset_size,
    };
    let json = serde_json::to_value(&note).expect("evaluation notes serialize");
    let (note_id, policy_moves) =
        crate::notes::add_applying_policy(repo, &req.commit, &json, info)?;
    Ok(Evaluation {
        note_id,
        note,
        policy_moves,
    })
}

/// The evaluations attached to each version of a model, oldest first.
pub fn model_evaluations(
    repo: &Repo,
    entries: &[crate::history::LogEntry],
) -> Result<BTreeMap<CommitId, Vec<EvaluationNote>>> {
    let mut out: BTreeMap<CommitId, Vec<EvaluationNote>> = BTreeMap::new();
    for (commit, notes) in crate::notes::model_notes(entries) {
        for n in notes {
            if let Some(e) = EvaluationNote::from_note(&crate::notes::read(repo, &n)?) {
                out.entry(commit).or_default().push(e);
            }
        }
    }
    Ok(out)
}
