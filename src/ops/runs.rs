//! Runs: every training job mreg ran or watched, including the ones that failed.
//!
//! A run that ends in a version is that version: its recipe (`mreg run`, `repo.run()`,
//! `mreg train`) says what ran. A run that ends without one — the job exited non-zero, was
//! killed or interrupted, or its outputs could not be committed — is kept too: a *run
//! record* (a `note` object holding JSON: status, exit code or signal, why, who, when,
//! params, labels and the same recipe a version gets, with the job's log as a blob), named
//! by a `run` line in the model's history. So a failed run is listed, read and shown in the
//! dashboard like a version, travels with push and pull, is kept by gc, and never becomes
//! a version: it has no promotable data.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, RunError};
use crate::history::{Action, MoveInfo};
use crate::id::{CommitId, ObjectId};
use crate::names::ModelName;
use crate::object::Kind;
use crate::recipe::{Recipe, RunRecipe};
use crate::repo::Repo;

/// Action of the history line that records a run without a version, and `kind` of its note.
pub const RUN: &str = "run";
/// Extra keys of a run line: the record's note, and the blobs it names (log, curves).
pub const RUN_NOTE: &str = "note";
pub const RUN_BLOBS: &str = "blobs";
pub const RUN_STATUS: &str = "status";

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// It ended in a version.
    Succeeded,
    /// The job exited non-zero or was killed by a signal.
    Failed,
    /// Stopped by Ctrl-C (SIGINT), SIGTERM or SIGHUP.
    Interrupted,
    /// The job succeeded, but what it produced could not be committed (an output glob
    /// that matched nothing, an unreadable file).
    Uncommitted,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Interrupted => "interrupted",
            RunStatus::Uncommitted => "uncommitted",
        }
    }
}

/// A run that ended without a version, as its note holds it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunRecord {
    /// Always `run`.
    pub kind: String,
    pub model: ModelName,
    pub status: RunStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    /// Why it ended without a version, for people ("exit code 3", "killed by SIGKILL").
    pub reason: String,
    pub author: String,
    /// When the job started (UTC).
    pub started_at: crate::Timestamp,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub params: serde_json::Value,
    #[serde(default)]
    pub labels: Vec<String>,
    /// What ran, where, for how long, with what, and its log: as a version's recipe.
    pub recipe: RunRecipe,
}

/// One run, as `mreg runs` lists it.
#[derive(Clone, Debug, Serialize)]
pub struct RunView {
    /// The run record's id, or for a run that made a version, the version's id.
    pub id: String,
    pub model: ModelName,
    pub status: RunStatus,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub reason: String,
    pub command: Vec<String>,
    pub author: String,
    pub started_at: crate::Timestamp,
    pub seconds: f64,
    pub message: String,
    /// The version it made (succeeded runs).
    pub version: Option<CommitId>,
    /// That version's number (None: pending, or no version).
    pub version_number: Option<u64>,
    /// Bytes of output the job wrote (None: no log kept, e.g. a `repo.run()` block).
    pub log_bytes: Option<u64>,
}

/// Record a run that ended without a version: its log blob is already in the store (the
/// recipe names it); the record is written, then the history line that names it.
pub fn record_failed(repo: &Repo, record: &RunRecord, info: MoveInfo) -> Result<ObjectId> {
    let bytes = serde_json::to_vec(record).expect("run records serialize");
    let id = {
        let _store = repo.lock_store_shared()?;
        let put = repo.objects().put(Kind::Note, &bytes)?;
        repo.objects().flush()?;
        put.id
    };
    let blobs: Vec<String> = Recipe::Run(Box::new(record.recipe.clone()))
        .blobs()
        .iter()
        .map(|b| b.to_hex())
        .collect();
    repo.transact(&record.model, info, Action::Other(RUN.into()), |t| {
        t.set_extra(RUN_NOTE, id.to_hex().into());
        t.set_extra(RUN_STATUS, record.status.as_str().into());
        t.set_extra(RUN_BLOBS, blobs.clone().into());
        Ok(())
    })?;
    Ok(id)
}

/// The objects run lines of a history name (records and their blobs): gc keeps them, push
/// uploads them, fsck checks them.
pub fn objects_named(entries: &[crate::history::LogEntry]) -> Vec<(ObjectId, Kind)> {
    let mut out = Vec::new();
    for e in entries.iter().filter(|e| is_run_line(e)) {
        out.extend(note_of(e).map(|n| (n, Kind::Note)));
        out.extend(blobs_of(&e.extra).into_iter().map(|b| (b, Kind::Blob)));
    }
    out
}

fn is_run_line(e: &crate::history::LogEntry) -> bool {
    e.action == Action::Other(RUN.into())
}

fn note_of(e: &crate::history::LogEntry) -> Option<ObjectId> {
    e.extra
        .get(RUN_NOTE)
        .and_then(|v| v.as_str())
        .and_then(ObjectId::from_hex)
}

/// The blob ids of a run line's extra facts.
pub fn blobs_of(extra: &std::collections::BTreeMap<String, serde_json::Value>) -> Vec<ObjectId> {
    extra
        .get(RUN_BLOBS)
        .and_then(|v| v.as_array())
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().and_then(ObjectId::from_hex))
        .collect()
}

/// Read a run record (verified: the object is a note holding a run record).
pub fn read_record(repo: &Repo, id: &ObjectId) -> Result<RunRecord> {
    let bytes = repo.objects().get_kind(id, Kind::Note)?;
    serde_json::from_slice(&bytes).map_err(|e| Error::CorruptObject {
        id: id.to_hex(),
        why: format!("not a run record: {e}"),
    })
}

/// Every run of `model` (or of every model), newest first: the failed ones from their
/// records, the ones that made a version from its recipe. A model's runs are in the order
/// its history recorded them (exact, whatever the clocks); models are interleaved by time.
pub fn list(repo: &Repo, model: Option<&ModelName>) -> Result<Vec<RunView>> {
    let models = match model {
        Some(m) => {
            repo.require_model(m)?;
            vec![m.clone()]
        }
        None => repo.models()?,
    };
    let mut per_model = Vec::new();
    for m in &models {
        let entries = repo.history_entries(m)?;
        let numbering = crate::versions::numbering(repo, m, &entries)?;
        let mut out = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for e in entries.iter() {
            if is_run_line(e) {
                if let Some(n) = note_of(e) {
                    out.push(view_of_record(&n, &read_record(repo, &n)?));
                }
                continue;
            }
            let Some(id) = crate::versions::committed(&e.action, &e.changes) else {
                continue;
            };
            if !seen.insert(id) {
                continue;
            }
            let c = repo.read_commit(&id)?;
            let (command, seconds, log_bytes) = match &c.recipe {
                Some(Recipe::Run(r)) => (
                    r.command.clone(),
                    r.seconds,
                    r.log.as_ref().map(|l| l.bytes),
                ),
                Some(Recipe::Train(t)) => {
                    (vec!["mreg".into(), "train".into()], t.train_seconds, None)
                }
                None => continue,
            };
            out.push(RunView {
                id: id.to_hex(),
                model: m.clone(),
                status: RunStatus::Succeeded,
                exit_code: Some(0),
                signal: None,
                reason: String::new(),
                command,
                author: c.author.clone(),
                started_at: c.created_at.clone(),
                seconds,
                message: c.message.lines().next().unwrap_or("").to_string(),
                version: Some(id),
                version_number: numbering.number(&id),
                log_bytes,
            });
        }
        out.reverse();
        per_model.push(out);
    }
    Ok(crate::ops::query::interleave_newest_first(per_model, |r| {
        r.started_at.clone()
    }))
}

/// The runs of `model` that made no version, newest first: only its run lines are read
/// (no version's commit), so a page can show them for a model with 10,000 versions.
pub fn failed(repo: &Repo, model: &ModelName) -> Result<Vec<RunView>> {
    repo.require_model(model)?;
    let entries = repo.history_entries(model)?;
    let mut out = Vec::new();
    for e in entries.iter().rev().filter(|e| is_run_line(e)) {
        if let Some(n) = note_of(e) {
            out.push(view_of_record(&n, &read_record(repo, &n)?));
        }
    }
    Ok(out)
}

fn view_of_record(id: &ObjectId, r: &RunRecord) -> RunView {
    RunView {
        id: id.to_hex(),
        model: r.model.clone(),
        status: r.status,
        exit_code: r.exit_code,
        signal: r.signal,
        reason: r.reason.clone(),
        command: r.recipe.command.clone(),
        author: r.author.clone(),
        started_at: r.started_at.clone(),
        seconds: r.recipe.seconds,
        message: r.message.clone(),
        version: None,
        version_number: None,
        log_bytes: r.recipe.log.as_ref().map(|l| l.bytes),
    }
}

/// A run by id (a unique prefix of a run record's id, or a revision of a version a run
/// made): its listing and, for a failed run, its record.
pub fn find(repo: &Repo, id: &str) -> Result<(RunView, Option<RunRecord>)> {
    let lower = id.to_ascii_lowercase();
    if crate::id::is_hex_prefix(&lower) {
        let mut found = Vec::new();
        for m in repo.models()? {
            for e in repo.history_entries(&m)?.iter().filter(|e| is_run_line(e)) {
                if let Some(n) = note_of(e).filter(|n| n.to_hex().starts_with(&lower)) {
                    found.push(n);
                }
            }
        }
        found.sort();
        found.dedup();
        match found.len() {
            0 => {}
            1 => {
                let r = read_record(repo, &found[0])?;
                return Ok((view_of_record(&found[0], &r), Some(r)));
            }
            _ => {
                return Err(Error::AmbiguousRevision {
                    prefix: id.to_string(),
                    candidates: found.iter().map(|c| c.short()).collect(),
                })
            }
        }
    }
    let cid = repo.resolve(id).map_err(|e| match e {
        Error::UnknownRevision(_) => RunError::NoRun { id: id.to_string() }.into(),
        e => e,
    })?;
    let c = repo.read_commit(&cid)?;
    list(repo, Some(&c.model))?
        .into_iter()
        .find(|v| v.version == Some(cid))
        .map(|v| (v, None))
        .ok_or_else(|| RunError::NotARun { commit: cid }.into())
}

/// The log of a run: a failed run's, or the version's (`mreg run` keeps one).
pub fn log(repo: &Repo, view: &RunView, record: Option<&RunRecord>) -> Result<Vec<u8>> {
    let blob = match (record, &view.version) {
        (Some(r), _) => r.recipe.log.as_ref().map(|l| l.blob),
        (None, Some(v)) => repo
            .read_commit(v)?
            .recipe
            .as_ref()
            .and_then(|r| r.log_blob()),
        (None, None) => None,
    };
    let Some(blob) = blob else {
        return Err(RunError::NoLog {
            what: format!("run {}", &view.id[..12.min(view.id.len())]),
        }
        .into());
    };
    repo.objects().get_kind(&blob, Kind::Blob)
}
