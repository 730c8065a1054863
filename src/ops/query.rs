//! Registry queries: `list` (filter, sort, limit), `best` (rank by a key, optionally move an
//! alias to the winner) and `compare` (versions side by side), over the query index.
//!
//! The expression and key language is `crate::query`; this module applies it to a store.
//! Ranking keys are parsed with `Key::parse_ranking` everywhere (`best`, `gc --keep-top`,
//! the policy), so a bare name always means `metrics.NAME`.

use std::collections::BTreeSet;
use std::time::SystemTime;

use serde::Serialize;

use crate::error::{Error, QueryError, Result};
use crate::history::MoveInfo;
use crate::id::CommitId;
use crate::names::ModelName;
use crate::query::columns::{column_of, Columns};
use crate::query::{self, Expr, Fields, Key, Row, SortKey, Value};
use crate::repo::Repo;
use rayon::prelude::*;

/// What `list` selects.
#[derive(Clone, Debug, Default)]
pub struct ListQuery {
    pub model: Option<ModelName>,
    /// Only versions this alias points at.
    pub alias: Option<String>,
    /// Only versions with every one of these labels.
    pub labels: Vec<String>,
    /// Trained or evaluated on this dataset.
    pub dataset: Option<String>,
    pub since: Option<SystemTime>,
    pub until: Option<SystemTime>,
    pub include_archived: bool,
    /// Only archived versions (implies `include_archived`).
    pub only_archived: bool,
    /// All must match.
    pub filters: Vec<Expr>,
    /// Default: newest first.
    pub sort: Option<SortKey>,
    pub limit: Option<usize>,
}

/// A version as `list` returns it.
#[derive(Clone, Debug, Serialize)]
pub struct Listed {
    #[serde(flatten)]
    pub row: Row,
    pub files_pruned: bool,
}

/// Parse a time bound of `list --since/--until`: RFC 3339, or a date (the start of that day
/// for `since`, its end for `until`, UTC).
pub fn parse_time_bound(s: &str, end_of_day: bool) -> Result<SystemTime> {
    if let Ok(t) = humantime::parse_rfc3339_weak(s) {
        return Ok(t);
    }
    if s.len() == 10 {
        let at = if end_of_day {
            "T23:59:59Z"
        } else {
            "T00:00:00Z"
        };
        if let Ok(t) = humantime::parse_rfc3339_weak(&format!("{s}{at}")) {
            return Ok(t);
        }
    }
    Err(QueryError::BadTime {
        input: s.to_string(),
    }
    .into())
}

/// Versions across models matching the query.
///
/// Selection, sorting and limiting read only the columns of the query index the query
/// mentions (`query::columns`); only the versions returned are parsed whole. At a million
/// versions this is the difference between reading a few MB and parsing every row.
pub fn list(repo: &Repo, q: &ListQuery) -> Result<Vec<Listed>> {
    if let Some(m) = &q.model {
        repo.require_model(m)?;
    }
    again_if_columns_damaged(|| list_once(repo, q))
}

/// Run a query over the index's columns; if a row of a columns file does not read back
/// (damaged after its columns checked out), the file is a cache: it goes, and the query
/// runs again on a rebuilt one.
fn again_if_columns_damaged<T>(run: impl Fn() -> Result<T>) -> Result<T> {
    match run() {
        Err(Error::CorruptFile { path, .. })
            if path.extension().is_some_and(|e| e == "cols")
                && std::fs::remove_file(&path).is_ok() =>
        {
            run()
        }
        other => other,
    }
}

/// Row `i` of a model's columns, or the error that names the damaged file.
fn row_at(repo: &Repo, model: &ModelName, cols: &Columns, i: usize) -> Result<Row> {
    cols.row(i).ok_or_else(|| Error::CorruptFile {
        path: crate::index::columns_path(repo, model),
        why: format!(
            "row {i} of the query index does not read (a cache: delete the file and retry)"
        ),
    })
}

fn list_once(repo: &Repo, q: &ListQuery) -> Result<Vec<Listed>> {
    let models = match &q.model {
        Some(m) => vec![m.clone()],
        None => repo.models()?,
    };
    let needed = columns_needed(q);
    let per_model: Vec<(Columns, Vec<usize>)> = models
        .par_iter()
        .map(|m| {
            let cols = crate::index::columns(repo, m, &|_| needed.clone())?;
            let keep: Vec<usize> = (0..cols.len()).filter(|&i| keeps(q, &cols, i)).collect();
            Ok((cols, keep))
        })
        .collect::<Result<_>>()?;
    let picked: Vec<(usize, usize)> = match &q.sort {
        Some(k) => {
            let mut c: Vec<(usize, usize, Option<Value>)> = per_model
                .iter()
                .enumerate()
                .flat_map(|(m, (cols, keep))| {
                    keep.iter().map(move |&i| (m, i, cols.at(i).value(&k.key)))
                })
                .collect();
            // Stable: ties keep model order, each model newest first.
            c.sort_by(|x, y| k.cmp_values(x.2.as_ref(), y.2.as_ref()));
            c.truncate(q.limit.unwrap_or(usize::MAX));
            c.into_iter().map(|(m, i, _)| (m, i)).collect()
        }
        // Each model newest first in publication order (the same on every store, whatever
        // the clocks of the machines that committed); models interleaved by time.
        None => {
            let lists = per_model
                .iter()
                .enumerate()
                .map(|(m, (_, keep))| keep.iter().map(|&i| (m, i)).collect())
                .collect();
            interleave_newest_first_up_to(
                lists,
                |&(m, i): &(usize, usize)| per_model[m].0.text("created_at", i).unwrap_or(""),
                q.limit,
            )
        }
    };
    let pruned = crate::gc_marks::pruned_set(repo);
    picked
        .into_iter()
        .map(|(m, i)| {
            let row = row_at(repo, &models[m], &per_model[m].0, i)?;
            Ok(Listed {
                files_pruned: pruned.contains(&*row.id),
                row,
            })
        })
        .collect()
}

/// The columns of the query index `list` reads for `q`.
fn columns_needed(q: &ListQuery) -> BTreeSet<String> {
    let mut needed: BTreeSet<String> = ["archived", "created_at"].map(String::from).into();
    if q.alias.is_some() {
        needed.insert("aliases".into());
    }
    if !q.labels.is_empty() {
        needed.insert("labels".into());
    }
    if q.dataset.is_some() {
        needed.extend(["datasets".to_string(), "evalsets".to_string()]);
    }
    for e in &q.filters {
        needed.extend(e.keys().into_iter().map(column_of));
    }
    if let Some(s) = &q.sort {
        needed.insert(column_of(&s.key));
    }
    needed
}

/// Version `i` of a model's columns passes every selection of `q` but the sort and limit.
fn keeps(q: &ListQuery, cols: &Columns, i: usize) -> bool {
    let at = cols.at(i);
    let archived = cols.archived(i);
    // A filter on `archived` decides about archived versions itself.
    let archived_ok = if q.only_archived {
        archived
    } else {
        q.include_archived || !archived || q.filters.iter().any(|e| e.mentions(&Key::Archived))
    };
    let has = |col: &str, x: &str| cols.list(col, i).iter().any(|v| v.as_str() == Some(x));
    archived_ok
        && q.alias.as_ref().is_none_or(|al| has("aliases", al))
        && q.labels.iter().all(|l| at.has_label(l))
        && q.dataset
            .as_ref()
            .is_none_or(|d| has("datasets", d) || has("evalsets", d))
        && (q.since.is_none() && q.until.is_none() || {
            let t = cols
                .text("created_at", i)
                .and_then(|s| humantime::parse_rfc3339_weak(s).ok());
            q.since.is_none_or(|s| t.is_some_and(|t| t >= s))
                && q.until.is_none_or(|u| t.is_some_and(|t| t <= u))
        })
        && q.filters.iter().all(|e| e.matches(&at))
}

/// Merge per-model lists, each already newest first, into one newest first by `time`,
/// never reordering within a list (as git's date order never reorders a branch): at each
/// step the list whose next item is newest goes.
pub fn interleave_newest_first<T>(
    lists: Vec<Vec<T>>,
    time: impl Fn(&T) -> crate::Timestamp,
) -> Vec<T> {
    interleave_newest_first_up_to(lists, time, None)
}

/// [`interleave_newest_first`], stopping after `limit` items.
fn interleave_newest_first_up_to<T, K: Ord>(
    lists: Vec<Vec<T>>,
    time: impl Fn(&T) -> K,
    limit: Option<usize>,
) -> Vec<T> {
    let mut next: Vec<_> = lists
        .into_iter()
        .map(|l| l.into_iter().peekable())
        .collect();
    let mut out = Vec::new();
    while limit.is_none_or(|n| out.len() < n) {
        let pick = next
            .iter_mut()
            .enumerate()
            .filter_map(|(i, it)| it.peek().map(|x| (i, time(x))))
            .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)));
        let Some((i, _)) = pick else { break };
        out.push(next[i].next().expect("peeked"));
    }
    out
}

/// What `best` ranks by.
#[derive(Clone, Debug)]
pub struct BestQuery {
    pub model: ModelName,
    /// A ranking key (`acc` = `metrics.acc`, `eval.test.f1`, `params.x`), or with
    /// `dataset` a metric name evaluated on that dataset.
    pub key: String,
    pub dataset: Option<String>,
    /// Lower is better; None: by the name (a loss, an error... ranks lowest first).
    pub minimize: Option<bool>,
    /// Point this alias at the winner (one history line, who/when from `info`; an empty
    /// message becomes "best by KEY (max|min)").
    pub set_alias: Option<(crate::names::AliasName, MoveInfo)>,
}

fn ids_of_rows<S: serde::Serializer>(rows: &[Row], s: S) -> std::result::Result<S::Ok, S::Error> {
    s.collect_seq(rows.iter().map(|r| r.id))
}

/// The best version and what was skipped to find it.
#[derive(Clone, Debug, Serialize)]
pub struct Best {
    #[serde(flatten)]
    pub winner: Listed,
    /// The key, as text (`metrics.acc`).
    pub key: String,
    pub value: Option<serde_json::Value>,
    /// Better-ranked versions skipped because their data was pruned (the JSON lists
    /// their ids).
    #[serde(serialize_with = "ids_of_rows")]
    pub skipped_pruned: Vec<Row>,
    /// With `set_alias`: whether the alias moved (false: it was already there).
    pub alias_moved: Option<bool>,
    /// The direction it ranked by: `max` (higher is better) or `min`.
    pub goal: &'static str,
}

/// The best non-archived version of a model whose data is still there; ties go to the
/// newest. A key that no version has is an error.
pub fn best(repo: &Repo, q: BestQuery) -> Result<Best> {
    let model = &q.model;
    repo.require_model(model)?;
    let key_text = match &q.dataset {
        Some(d) => format!("eval.{d}.{}", q.key),
        None => Key::parse_ranking(&q.key)
            .map_err(|e| QueryError::BadKey {
                option: "--metric".into(),
                why: e.to_string(),
            })?
            .text(),
    };
    let minimize = q
        .minimize
        .unwrap_or_else(|| crate::recipe::lower_is_better(&q.key));
    let key = SortKey::parse(&format!("{}{key_text}", if minimize { "" } else { "-" }))?;
    let (winner, skipped) = match again_if_columns_damaged(|| ranked_first(repo, model, &key))? {
        None => {
            return Err(Error::UnknownKey {
                model: model.clone(),
                key: key_text,
            })
        }
        Some((None, skipped)) => {
            return Err(QueryError::AllPruned {
                model: model.to_string(),
                key: key_text.clone(),
                skipped: skipped.len(),
            }
            .into())
        }
        Some((Some(w), skipped)) => (w, skipped),
    };
    let value = key.key.get(&winner).map(|v| match v {
        Value::Num(n) => serde_json::json!(n),
        other => serde_json::json!(other.display()),
    });
    let mut alias_moved = None;
    if let Some((alias, mut info)) = q.set_alias {
        if info.message.is_empty() {
            info.message = format!(
                "best by {key_text} ({})",
                if minimize { "min" } else { "max" }
            );
        }
        alias_moved =
            Some(crate::refs::alias_set(repo, model, &alias, winner.id, None, info)?.moved);
    }
    Ok(Best {
        winner: Listed {
            files_pruned: false,
            row: winner,
        },
        key: key_text,
        value,
        skipped_pruned: skipped,
        alias_moved,
        goal: if minimize { "min" } else { "max" },
    })
}

/// The best-ranked version of `model` by `key` that is neither archived nor pruned (None
/// when every version that has the key is), with the better-ranked pruned ones skipped;
/// None when no version has the key. From the index's columns: only the rows returned are
/// parsed.
fn ranked_first(
    repo: &Repo,
    model: &ModelName,
    key: &SortKey,
) -> Result<Option<(Option<Row>, Vec<Row>)>> {
    let col = column_of(&key.key);
    let cols = crate::index::columns(repo, model, &|_| {
        [col.clone(), "archived".into(), "id".into()].into()
    })?;
    let values: Vec<(usize, Value)> = (0..cols.len())
        .filter_map(|i| cols.at(i).value(&key.key).map(|v| (i, v)))
        .collect();
    if values.is_empty() {
        return Ok(None);
    }
    // Rows are newest first and the sort is stable: ties go to the newest version.
    let mut ranked: Vec<(usize, Value)> = values
        .into_iter()
        .filter(|(i, _)| !cols.archived(*i))
        .collect();
    ranked.sort_by(|x, y| key.cmp_values(Some(&x.1), Some(&y.1)));
    // A pruned version cannot be checked out: never the answer.
    let pruned = crate::gc_marks::pruned_set(repo);
    let is_pruned = |i: usize| {
        cols.text("id", i)
            .and_then(crate::id::ObjectId::from_hex)
            .is_some_and(|id| pruned.contains(&id))
    };
    let skipped: Vec<Row> = ranked
        .iter()
        .take_while(|(i, _)| is_pruned(*i))
        .map(|(i, _)| row_at(repo, model, &cols, *i))
        .collect::<Result<_>>()?;
    let winner = match ranked.get(skipped.len()) {
        Some((i, _)) => Some(row_at(repo, model, &cols, *i)?),
        None => None,
    };
    Ok(Some((winner, skipped)))
}

/// One line of a comparison: a key and its value in each version.
#[derive(Clone, Debug, Serialize)]
pub struct CompareLine {
    pub key: String,
    /// One per version; `-` where the version lacks the key.
    pub values: Vec<String>,
    pub differs: bool,
}

/// Versions side by side.
#[derive(Clone, Debug, Serialize)]
pub struct Comparison {
    pub ids: Vec<CommitId>,
    pub rows: Vec<CompareLine>,
}

/// Compare versions: model, time, aliases, then every param, metric and evaluation any of
/// them has.
pub fn compare(repo: &Repo, ids: &[CommitId]) -> Result<Comparison> {
    let mut rows = Vec::new();
    for id in ids {
        let model = repo.read_commit(id)?.model;
        let row = crate::index::model_rows(repo, &model)?
            .into_iter()
            .find(|x| &x.id == id)
            .ok_or_else(|| Error::UnknownRevision(id.to_hex()))?;
        rows.push(row);
    }
    let mut keys: BTreeSet<String> = BTreeSet::new();
    for r in &rows {
        keys.extend(r.params.keys().map(|k| format!("params.{k}")));
        keys.extend(r.metrics.keys().map(|k| format!("metrics.{k}")));
        for (d, m) in &r.evals {
            keys.extend(m.keys().map(|k| format!("eval.{d}.{k}")));
        }
    }
    let mut lines: Vec<(String, Vec<String>)> = vec![
        (
            "model".into(),
            rows.iter().map(|r| r.model.to_string()).collect(),
        ),
        (
            "created_at".into(),
            rows.iter().map(|r| r.created_at.to_string()).collect(),
        ),
        (
            "aliases".into(),
            rows.iter().map(|r| r.aliases.join(",")).collect(),
        ),
    ];
    for k in &keys {
        let key = Key::parse(k).map_err(|why| QueryError::BadKey {
            option: "key".into(),
            why,
        })?;
        lines.push((
            k.clone(),
            rows.iter()
                .map(|r| {
                    key.get(r)
                        .map(|v| v.display())
                        .unwrap_or_else(|| "-".into())
                })
                .collect(),
        ));
    }
    Ok(Comparison {
        ids: rows.iter().map(|r| r.id).collect(),
        rows: lines
            .into_iter()
            .map(|(key, values)| CompareLine {
                differs: values.windows(2).any(|w| w[0] != w[1]),
                key,
                values,
            })
            .collect(),
    })
}

/// Parse `--where` expressions (each must match).
pub fn parse_filters(exprs: &[String]) -> Result<Vec<Expr>> {
    exprs.iter().map(|f| query::parse(f)).collect()
}
