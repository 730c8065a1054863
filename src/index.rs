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

const INDEX_VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct CacheFile {
    version: u32,
    log_size: u64,
    log_tail: Option<ObjectId>,
    rows: Vec<Row>,
}

/// The rows of one model, newest first.
pub fn model_rows(repo: &Repo, model: &ModelName) -> Result<Vec<Row>> {
    let log = repo.model_log(model);
    let (size, tail) = log.signature()?;
    let dir = repo.store_dir().join("cache").join("index");
    let path = dir.join(format!("{model}.json"));
    if let Ok(bytes) = fs::read(&path) {
        if let Ok(c) = serde_json::from_slice::<CacheFile>(&bytes) {
            if c.version == INDEX_VERSION && c.log_size == size && c.log_tail == tail {
                return Ok(c.rows);
            }
        }
    }
    let rows = build(repo, model)?;
    let cache = CacheFile {
        version: INDEX_VERSION,
        log_size: size,
        log_tail: tail,
        rows,
    };
    // Best effort: the rows are correct whether or not the cache can be written. The
    // signature was read before building, so a concurrent append makes it stale, not wrong.
    if fsutil::create_dir_durable(&dir).is_ok() {
        if let Ok(bytes) = serde_json::to_vec(&cache) {
            let _ = fsutil::write_atomic(&path, &bytes, &repo.tmp_dir());
        }
    }
    Ok(cache.rows)
}

/// The rows of every model (or one), newest first within each model.
pub fn rows(repo: &Repo, only: Option<&ModelName>) -> Result<Vec<Row>> {
    let models = match only {
        Some(m) => vec![m.clone()],
        None => repo.models()?,
    };
    let mut out = Vec::new();
    for m in models {
        out.extend(model_rows(repo, &m)?);
    }
    Ok(out)
}

fn build(repo: &Repo, model: &ModelName) -> Result<Vec<Row>> {
    let (entries, _) = repo.model_log(model).entries()?;
    let state = entries.last().map(|e| e.state.clone()).unwrap_or_default();
    // Every commit of the model is the new head of one "commit" entry.
    let ids: Vec<ObjectId> = entries
        .iter()
        .flat_map(|e| {
            e.changes
                .iter()
                .filter(|c| c.name == "head")
                .filter_map(|c| c.new)
        })
        .rev()
        .collect();
    let commits: Vec<(ObjectId, crate::Commit)> = ids
        .par_iter()
        .map(|id| repo.read_commit(id).map(|c| (*id, c)))
        .collect::<Result<_>>()?;
    let archived = refs::archived(repo, model)?;
    let note_ids = notes::model_notes(&entries);
    let mut aliases: HashMap<ObjectId, Vec<String>> = HashMap::new();
    for (a, id) in &state.aliases {
        aliases.entry(*id).or_default().push(a.clone());
    }
    for (t, id) in &state.tags {
        aliases.entry(*id).or_default().push(t.clone());
    }
    let mut rows = Vec::with_capacity(commits.len());
    for (id, c) in commits {
        let mut params = BTreeMap::new();
        flatten("", &c.params, &mut params);
        let mut evals: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
        for n in note_ids.get(&id).into_iter().flatten() {
            let note = notes::read(repo, n)?;
            if note.get("kind").and_then(|k| k.as_str()) != Some("evaluation") {
                continue;
            }
            let (Some(ds), Some(metrics)) = (
                note.get("dataset").and_then(|d| d.as_str()),
                note.get("metrics").and_then(|m| m.as_object()),
            ) else {
                continue;
            };
            // Later evaluations on a dataset replace earlier ones, metric by metric.
            let slot = evals.entry(ds.to_string()).or_default();
            for (k, v) in metrics {
                if let Some(x) = v.as_f64() {
                    slot.insert(k.clone(), x);
                }
            }
        }
        rows.push(Row {
            id,
            model: c.model.clone(),
            created_at: c.created_at.clone(),
            author: c.author.clone(),
            message: c.message.lines().next().unwrap_or("").to_string(),
            labels: notes::effective_labels(&entries, &id, &c.labels)
                .into_iter()
                .collect(),
            aliases: aliases.remove(&id).unwrap_or_default(),
            archived: archived.contains(&id),
            params,
            metrics: c.metrics.clone(),
            evals,
            datasets: c.datasets.iter().map(|d| d.name.clone()).collect(),
        });
    }
    Ok(rows)
}
