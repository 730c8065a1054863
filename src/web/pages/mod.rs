//! The dashboard's pages, one file each: models, one model (timeline, metric chart,
//! filterable version table), one version (everything recorded, curves, lineage graph),
//! compare, and history; the helpers they share are here.
//! Data comes from the query index (`index::model_rows`) and the library's views, so a
//! model with 10,000 versions renders without reading 10,000 commits.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write;

use super::html::{chip, enc, esc, page, table, version_link};
use super::svg::{self, ChartOpts, Marker, Node, Series};
use super::Query;
use crate::error::{Error, Result};
use crate::history::{Action, RefName};
use crate::id::CommitId;
use crate::query::{Key, Row};
use crate::{ModelName, Repo};

mod compare;
mod decide;
mod history;
mod live;
mod model;
mod models;
mod version;

pub use compare::{compare, diff_section};
pub use decide::Access;
pub use history::history;
pub use live::live;
pub use model::model;
pub use models::models;
pub use version::{curve_charts, image, lineage_graph, patch, run_log, version};

/// Versions per page in the model's table.
const PAGE_ROWS: usize = 100;

fn short(id: &CommitId) -> String {
    id.short()
}

fn num(v: f64) -> String {
    svg::num(v)
}

/// The key a model is ranked by: its policy's metric, else None.
fn policy_key(repo: &Repo, model: &ModelName) -> Option<(Key, bool)> {
    let p = repo.policy(model)?;
    let key = Key::parse_ranking(&p.metric).ok()?;
    Some((key, p.goal == crate::repo::Goal::Min))
}

/// Metric keys the rows have, most common first.
fn metric_keys(rows: &[&Row]) -> Vec<String> {
    let mut count: BTreeMap<String, usize> = BTreeMap::new();
    for r in rows {
        for k in r.metrics.keys() {
            *count.entry(format!("metrics.{k}")).or_default() += 1;
        }
        for (d, m) in &r.evals {
            for k in m.keys() {
                *count.entry(format!("eval.{d}.{k}")).or_default() += 1;
            }
        }
    }
    let mut v: Vec<(String, usize)> = count.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v.into_iter().map(|(k, _)| k).collect()
}

fn alias_chips(aliases: &[String]) -> String {
    aliases.iter().map(|a| chip(a, a)).collect()
}

fn require_model(repo: &Repo, name: &str) -> Result<ModelName> {
    let m = ModelName::new(name)?;
    repo.require_model(&m)?;
    Ok(m)
}

/// Params flattened to dotted keys (`opt.name`), values as compact JSON text.
fn flatten(prefix: &str, v: &serde_json::Value, out: &mut Vec<(String, String)>) {
    match v {
        serde_json::Value::Object(m) if !m.is_empty() => {
            for (k, v) in m {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        serde_json::Value::String(s) => out.push((prefix.to_string(), s.clone())),
        other => out.push((prefix.to_string(), other.to_string())),
    }
}

fn kv_table(pairs: &[(String, String)], head: [&str; 2]) -> String {
    let rows: Vec<(Vec<String>, bool)> = pairs
        .iter()
        .map(|(k, v)| (vec![esc(k), esc(v)], false))
        .collect();
    table(&head, &rows, "kv")
}

fn size(n: u64) -> String {
    crate::format::human_size(n)
}
