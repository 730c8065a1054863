//! The query index: one cached row per version, per model, for fast `list`/`best`.
//!
//! `cache/index/<model>.json` holds the rows of a model together with the signature of its
//! history log (size and hash of the last line) they were built from. Every change a row
//! depends on — a commit, an alias move, an evaluation, a label, an archive flag — is a
//! history line, so a signature match means the rows are current; otherwise they are
//! rebuilt (commits read in parallel) and the cache rewritten atomically. The cache is never
//! the source of truth: deleting it only costs a rebuild, and a failure to write it (a
//! read-only store) only costs speed.

use std::collections::{BTreeMap, HashMap};
use std::fs;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::fsutil;
use crate::id::ObjectId;
use crate::names::ModelName;
use crate::notes;
use crate::query::{flatten, Row};
use crate::refs;
use crate::repo::Repo;

const INDEX_VERSION: u32 = 4;

/// What a model's rows depend on: its history log (size, hash of its last line) and its
/// version numbering (the upstream remote and the length of its verified lines).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    log_size: u64,
    log_tail: Option<ObjectId>,
    upstream: Option<String>,
    upstream_len: u64,
}

fn signature(repo: &Repo, model: &ModelName) -> Result<Signature> {
    let (log_size, log_tail) = repo.model_log(model).signature()?;
    let (upstream, upstream_len) = crate::versions::signature(repo, model)?;
    Ok(Signature {
        log_size,
        log_tail,
        upstream,
        upstream_len,
    })
}

#[derive(Serialize, Deserialize)]
struct CacheFile {
    version: u32,
    signature: Signature,
    rows: Vec<Row>,
    /// Labels recorded in the commits themselves (rows hold the effective labels).
    #[serde(default)]
    own_labels: BTreeMap<crate::id::CommitId, Vec<String>>,
    /// The model's settings (description, labels), derived from the same history.
    #[serde(default)]
    settings: crate::refs::settings::ModelSettings,
    /// The notes attached to each version (evaluations, signatures, git pins), in history
    /// order: `show` reads them from here instead of scanning the history.
    #[serde(default)]
    notes: BTreeMap<crate::id::CommitId, Vec<crate::id::NoteId>>,
}

/// What the index knows of one model: its rows, newest first, and its settings.
#[derive(Debug, Default)]
pub struct ModelIndex {
    pub rows: std::sync::Arc<Vec<Row>>,
    pub settings: crate::refs::settings::ModelSettings,
    /// The notes attached to each version, in history order.
    pub notes: std::sync::Arc<BTreeMap<crate::id::CommitId, Vec<crate::id::NoteId>>>,
}

/// The rows of one model, newest first.
pub fn model_rows(repo: &Repo, model: &ModelName) -> Result<Vec<Row>> {
    // Owned rows: taken from the in-memory cache when it is current, else read (or built)
    // without filling the cache, so a one-shot CLI command pays for no copy.
    let sig = signature(repo, model)?;
    if let Some((s, ix)) = repo.rows.lock().ok().and_then(|c| c.get(model).cloned()) {
        if s == sig {
            return Ok(ix.rows.as_ref().clone());
        }
    }
    let ix = read_or_build(repo, model, sig)?;
    Ok(std::sync::Arc::try_unwrap(ix.rows).unwrap_or_else(|a| a.as_ref().clone()))
}

/// The rows of one model, newest first, shared: kept in memory per `Repo` while the log's
/// signature holds, so a long-lived client (the dashboard, the Python package) neither
/// rebuilds nor re-reads the index for an unchanged model.
pub fn model_rows_shared(repo: &Repo, model: &ModelName) -> Result<std::sync::Arc<Vec<Row>>> {
    Ok(shared(repo, model)?.rows.clone())
}

/// The settings of one model (description, labels), from the index: a model's settings
/// cost no scan of its history once the index is current.
pub fn model_settings(
    repo: &Repo,
    model: &ModelName,
) -> Result<crate::refs::settings::ModelSettings> {
    Ok(shared(repo, model)?.settings.clone())
}

/// The index of one model, kept in memory per `Repo` while the log's signature holds.
fn shared(repo: &Repo, model: &ModelName) -> Result<std::sync::Arc<ModelIndex>> {
    let sig = signature(repo, model)?;
    if let Some((s, ix)) = repo.rows.lock().ok().and_then(|c| c.get(model).cloned()) {
        if s == sig {
            return Ok(ix);
        }
    }
    let ix = std::sync::Arc::new(read_or_build(repo, model, sig.clone())?);
    if let Ok(mut c) = repo.rows.lock() {
        c.insert(model.clone(), (sig, ix.clone()));
    }
    Ok(ix)
}

/// The columns of one model's index that `needed` picks (`query::columns`): read from
/// `cache/index/<model>.cols` when it matches the model's history, else encoded from the
/// rows (read or rebuilt as [`model_rows`] does) and written for the next query.
pub(crate) fn columns(
    repo: &Repo,
    model: &ModelName,
    needed: &crate::query::columns::Pick<'_>,
) -> Result<crate::query::columns::Columns> {
    use crate::query::columns::{encode, Columns};
    let sig = signature(repo, model)?;
    let path = columns_path(repo, model);
    if let Some(c) = Columns::open(&path, model, &sig, needed) {
        return Ok(c);
    }
    let ix = match repo.rows.lock().ok().and_then(|c| c.get(model).cloned()) {
        Some((s, ix)) if s == sig => ix,
        _ => std::sync::Arc::new(read_or_build(repo, model, sig.clone())?),
    };
    let bytes = encode(&sig, &ix.rows, &ix.notes, &ix.settings);
    // Best effort, as the rows' cache: a read-only store answers from the bytes in memory.
    if path
        .parent()
        .is_some_and(|dir| fsutil::create_dir_durable(dir).is_ok())
    {
        let _ = fsutil::write_atomic(&path, &bytes, &repo.tmp_dir());
    }
    Columns::from_bytes(bytes, model, &sig, needed).ok_or_else(|| {
        crate::error::Error::CorruptFile {
            path,
            why: "the query columns just encoded do not read back".into(),
        }
    })
}

/// Where a model's columns file is (`cache/index/<model>.cols`).
pub(crate) fn columns_path(repo: &Repo, model: &ModelName) -> std::path::PathBuf {
    repo.store_dir()
        .join("cache")
        .join("index")
        .join(format!("{model}.cols"))
}

/// What the index records of one version beyond its commit: what `show` needs.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct VersionFacts {
    pub version: Option<u64>,
    /// Effective labels (the commit's, then label edits), sorted.
    pub labels: Vec<String>,
    pub archived: bool,
    /// Notes attached to it, in history order.
    pub notes: Vec<crate::id::NoteId>,
}

/// The facts of version `id` of `model` from the columns file, when it is current: a
/// lookup that reads a few columns instead of parsing the model's history. None when the
/// file is stale, missing or damaged, or does not list `id`: the caller reads the history.
/// Never rebuilds (a lookup right after a move would pay for the whole index).
pub(crate) fn version_facts(
    repo: &Repo,
    model: &ModelName,
    id: &crate::id::CommitId,
) -> Result<Option<VersionFacts>> {
    use crate::query::columns::Columns;
    let sig = signature(repo, model)?;
    let path = columns_path(repo, model);
    let needed = |_: &[&str]| {
        ["id", "version", "labels", "archived", "notes"]
            .map(String::from)
            .into()
    };
    let Some(cols) = Columns::open(&path, model, &sig, &needed) else {
        return Ok(None);
    };
    let hex = id.to_hex();
    let Some(i) = (0..cols.len()).find(|&i| cols.text("id", i) == Some(hex.as_str())) else {
        return Ok(None);
    };
    let strings = |name: &str| -> Option<Vec<String>> {
        cols.list(name, i)
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect()
    };
    let (Some(labels), Some(notes)) = (strings("labels"), strings("notes")) else {
        return Ok(None);
    };
    let Some(notes) = notes
        .iter()
        .map(|n| ObjectId::from_hex(n).map(crate::id::NoteId))
        .collect::<Option<Vec<_>>>()
    else {
        return Ok(None);
    };
    let at = cols.at(i);
    use crate::query::{Fields, Key, Value};
    Ok(Some(VersionFacts {
        version: match at.value(&Key::Version) {
            Some(Value::Num(n)) => Some(n as u64),
            _ => None,
        },
        labels,
        archived: cols.archived(i),
        notes,
    }))
}

fn read_or_build(repo: &Repo, model: &ModelName, sig: Signature) -> Result<ModelIndex> {
    let dir = repo.store_dir().join("cache").join("index");
    let path = dir.join(format!("{model}.json"));
    let old = fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice::<CacheFile>(&b).ok())
        // Version 3 lacks the notes per version but has the same rows: they are reused
        // (an upgrade reads no commit again), everything else is rebuilt.
        .filter(|c| c.version == INDEX_VERSION || c.version == 3);
    if let Some(c) = &old {
        if c.signature == sig && c.version == INDEX_VERSION {
            let c = old.expect("just matched");
            return Ok(ModelIndex {
                rows: std::sync::Arc::new(c.rows),
                settings: c.settings,
                notes: std::sync::Arc::new(c.notes),
            });
        }
    }
    // Stale: commits never change, so rows of commits already indexed are reused and only
    // new commits are read; everything derived from the history is recomputed.
    let (rows, own_labels, settings, notes) = build(repo, model, old)?;
    let cache = CacheFile {
        version: INDEX_VERSION,
        signature: sig,
        rows,
        own_labels,
        settings,
        notes,
    };
    // Best effort: the rows are correct whether or not the cache can be written. The
    // signature was read before building, so a concurrent append makes it stale, not wrong.
    if fsutil::create_dir_durable(&dir).is_ok() {
        if let Ok(bytes) = serde_json::to_vec(&cache) {
            let _ = fsutil::write_atomic(&path, &bytes, &repo.tmp_dir());
        }
    }
    Ok(ModelIndex {
        rows: std::sync::Arc::new(cache.rows),
        settings: cache.settings,
        notes: std::sync::Arc::new(cache.notes),
    })
}

type Built = (
    Vec<Row>,
    BTreeMap<crate::id::CommitId, Vec<String>>,
    crate::refs::settings::ModelSettings,
    BTreeMap<crate::id::CommitId, Vec<crate::id::NoteId>>,
);

/// What a row takes from its commit (immutable), as opposed to from the history.
struct CommitPart {
    row: Row,
    labels: Vec<String>,
}

fn build(repo: &Repo, model: &ModelName, old: Option<CacheFile>) -> Result<Built> {
    let mut previous: HashMap<crate::id::CommitId, CommitPart> = HashMap::new();
    if let Some(c) = old {
        let mut own = c.own_labels;
        for r in c.rows {
            let labels = own.remove(&r.id).unwrap_or_default();
            previous.insert(r.id, CommitPart { row: r, labels });
        }
    }
    let (entries, _) = repo.model_log(model).entries()?;
    let state = entries.last().map(|e| e.state.clone()).unwrap_or_default();
    // Every version of the model, newest first in publication order (`versions`).
    let numbering = crate::versions::numbering(repo, model, &entries)?;
    let ordered: Vec<(crate::id::CommitId, Option<u64>)> =
        crate::versions::ordered(&numbering, &entries)
            .into_iter()
            .rev()
            .collect();
    let ids: Vec<crate::id::CommitId> = ordered.iter().map(|(id, _)| *id).collect();
    let fresh: Vec<(crate::id::CommitId, CommitPart)> = ids
        .par_iter()
        .filter(|id| !previous.contains_key(id))
        .map(|id| repo.read_commit(id).map(|c| (*id, commit_part(*id, &c))))
        .collect::<Result<_>>()?;
    previous.extend(fresh);
    let archived = refs::archived_in(&entries);
    let note_ids = notes::model_notes(&entries);
    let label_edits = notes::label_edits(&entries);
    let mut aliases: HashMap<crate::id::CommitId, Vec<String>> = HashMap::new();
    for (a, id) in &state.aliases {
        aliases.entry(*id).or_default().push(a.to_string());
    }
    for (t, id) in &state.tags {
        aliases.entry(*id).or_default().push(t.to_string());
    }
    let mut rows = Vec::with_capacity(ids.len());
    let mut own_labels = BTreeMap::new();
    let mut notes_of = BTreeMap::new();
    for (id, number) in ordered {
        let Some(CommitPart { mut row, labels }) = previous.remove(&id) else {
            continue;
        };
        row.version = number;
        let mut evals: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
        for n in note_ids.get(&id).into_iter().flatten() {
            let Some(e) = crate::ops::eval::EvaluationNote::from_note(&notes::read(repo, n)?)
            else {
                continue;
            };
            // Later evaluations on a dataset replace earlier ones, metric by metric.
            let slot = evals.entry(e.dataset).or_default();
            slot.extend(e.metrics);
        }
        row.labels = notes::apply_label_edits(&labels, label_edits.get(&id))
            .into_iter()
            .collect();
        row.aliases = aliases.remove(&id).unwrap_or_default();
        row.archived = archived.contains(&id);
        row.evals = evals;
        if !labels.is_empty() {
            own_labels.insert(id, labels);
        }
        if let Some(n) = note_ids.get(&id) {
            notes_of.insert(id, n.clone());
        }
        rows.push(row);
    }
    Ok((
        rows,
        own_labels,
        crate::refs::settings::from_history(&entries),
        notes_of,
    ))
}

/// The row a commit gives before any history (no aliases, evaluations or label edits).
pub fn commit_row(id: crate::id::CommitId, c: &crate::Commit) -> Row {
    commit_part(id, c).row
}

fn commit_part(id: crate::id::CommitId, c: &crate::Commit) -> CommitPart {
    let mut params = BTreeMap::new();
    flatten("", &c.params, &mut params);
    CommitPart {
        row: Row {
            id,
            model: c.model.clone(),
            version: None,
            created_at: c.created_at.clone(),
            author: c.author.clone(),
            message: c.message.lines().next().unwrap_or("").to_string(),
            labels: Vec::new(),
            aliases: Vec::new(),
            archived: false,
            params,
            metrics: c.metrics.clone(),
            evals: BTreeMap::new(),
            datasets: c.datasets.iter().map(|d| d.name.clone()).collect(),
        },
        labels: c.labels.clone(),
    }
}
