//! `mreg list`, `mreg best`, `mreg compare`: registry queries.

use std::collections::BTreeSet;
use std::io::IsTerminal;

use mreg::query::{self, Key, Row, SortKey, Value};
use mreg::{index, refs, Error, ModelName};

use super::alias::move_info;
use super::{Ctx, Output};

/// Query versions across models: filter, sort, pick columns.
///
/// Expressions compare params, metrics and per-dataset evaluations with and, or, not and
/// parentheses; a version without a key does not match. Archived versions are hidden unless
/// --archived.
///
/// Examples:
///   mreg list --where 'metrics.acc >= 0.9 and params.lr < 0.01' --sort -metrics.acc
///   mreg list --where 'eval.imagenet.top1 > 0.8 or eval.internal.f1 > 0.9' --limit 5
///   mreg list --model mnist --label baseline --columns id,metrics.acc,params.lr --json
#[derive(clap::Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// Only this model.
    #[arg(long)]
    model: Option<String>,
    /// Only versions this alias points at.
    #[arg(long)]
    alias: Option<String>,
    /// Only versions with this label.
    #[arg(long)]
    label: Option<String>,
    /// Only versions trained or evaluated on this dataset.
    #[arg(long)]
    dataset: Option<String>,
    /// Only versions created at or after TIME (RFC 3339 or YYYY-MM-DD).
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
    /// Only versions created at or before TIME (RFC 3339 or YYYY-MM-DD = end of that day).
    #[arg(long, value_name = "TIME")]
    until: Option<String>,
    /// Include archived versions.
    #[arg(long)]
    archived: bool,
    /// A filter expression; repeatable (all must match).
    #[arg(long = "where", value_name = "EXPR")]
    filters: Vec<String>,
    /// Sort key, e.g. metrics.acc, -metrics.acc (descending), created_at (default: newest first).
    #[arg(long, value_name = "KEY", allow_hyphen_values = true)]
    sort: Option<String>,
    /// At most N versions.
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
    /// Columns: id,model,created_at,author,message,aliases,labels, or any key (metrics.acc...).
    #[arg(long, value_delimiter = ',', value_name = "COLS")]
    columns: Vec<String>,
    #[arg(long)]
    json: bool,
}

fn time_bound(s: &str, end_of_day: bool) -> mreg::Result<std::time::SystemTime> {
    if s.len() == 10 && !end_of_day {
        if let Ok(t) = humantime::parse_rfc3339_weak(&format!("{s}T00:00:00Z")) {
            return Ok(t);
        }
    }
    super::history::parse_at(s)
}

fn row_json(r: &Row, pruned: bool) -> serde_json::Value {
    let mut v = serde_json::to_value(r).expect("rows serialize");
    v["files_pruned"] = serde_json::Value::Bool(pruned);
    v
}

fn cell(r: &Row, col: &str) -> mreg::Result<String> {
    Ok(match col {
        "id" => r.id.short(),
        "aliases" => r.aliases.join(","),
        "labels" => r.labels.join(","),
        "metrics" => r
            .metrics
            .iter()
            .map(|(k, v)| format!("{k}={}", super::fmt::num(*v)))
            .collect::<Vec<_>>()
            .join(" "),
        other => {
            let key =
                Key::parse(other).map_err(|e| Error::InvalidArgument(format!("--columns: {e}")))?;
            key.get(r)
                .map(|v| v.display())
                .unwrap_or_else(|| "-".into())
        }
    })
}

/// Render rows as an aligned table.
fn table(rows: &[Row], cols: &[String]) -> mreg::Result<String> {
    let mut grid = vec![cols.iter().map(|c| c.to_uppercase()).collect::<Vec<_>>()];
    for r in rows {
        grid.push(
            cols.iter()
                .map(|c| cell(r, c))
                .collect::<mreg::Result<_>>()?,
        );
    }
    Ok(super::fmt::table(&grid))
}

pub fn run(ctx: &Ctx, a: Args) -> mreg::Result<Output> {
    let exprs = a
        .filters
        .iter()
        .map(|f| query::parse(f))
        .collect::<mreg::Result<Vec<_>>>()?;
    let sort = a.sort.as_deref().map(SortKey::parse).transpose()?;
    let cols: Vec<String> = if a.columns.is_empty() {
        ["id", "model", "created_at", "aliases", "metrics"]
            .map(String::from)
            .to_vec()
    } else {
        for c in &a.columns {
            if !["id", "aliases", "labels", "metrics"].contains(&c.as_str()) {
                Key::parse(c).map_err(|e| Error::InvalidArgument(format!("--columns: {e}")))?;
            }
        }
        a.columns.clone()
    };
    let since = a
        .since
        .as_deref()
        .map(|s| time_bound(s, false))
        .transpose()?;
    let until = a
        .until
        .as_deref()
        .map(|s| time_bound(s, true))
        .transpose()?;
    let repo = ctx.repo()?;
    let model = a.model.as_deref().map(ModelName::new).transpose()?;
    if let Some(m) = &model {
        if !repo.model_exists(m) {
            return Err(Error::UnknownModel(m.to_string()));
        }
    }
    let mut rows: Vec<Row> = index::rows(&repo, model.as_ref())?
        .into_iter()
        .filter(|r| a.archived || !r.archived)
        .filter(|r| a.alias.as_ref().is_none_or(|al| r.aliases.contains(al)))
        .filter(|r| a.label.as_ref().is_none_or(|l| r.labels.contains(l)))
        .filter(|r| {
            a.dataset
                .as_ref()
                .is_none_or(|d| r.datasets.contains(d) || r.evals.contains_key(d))
        })
        .filter(|r| {
            let t = humantime::parse_rfc3339_weak(&r.created_at).ok();
            since.is_none_or(|s| t.is_some_and(|t| t >= s))
                && until.is_none_or(|u| t.is_some_and(|t| t <= u))
        })
        .filter(|r| exprs.iter().all(|e| e.matches(r)))
        .collect();
    match &sort {
        Some(k) => rows.sort_by(|x, y| k.cmp(x, y)),
        // Newest first; stable, so a model's own chain order breaks ties.
        None => rows.sort_by(|x, y| y.created_at.cmp(&x.created_at)),
    }
    if let Some(n) = a.limit {
        rows.truncate(n);
    }
    if a.json {
        let v: Vec<_> = rows
            .iter()
            .map(|r| row_json(r, repo.is_pruned(&r.id)))
            .collect();
        return Ok(Output::ok(super::json(&v)));
    }
    table(&rows, &cols).map(Output::ok)
}

/// The best version of a model by a metric (training metric, or evaluation on --dataset).
///
/// Examples:
///   mreg best mnist --metric acc
///   mreg best mnist --metric loss --min
///   mreg best mnist --metric top1 --dataset imagenet --set-alias best
#[derive(clap::Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct BestArgs {
    model: String,
    /// The key to rank by: a bare name means metrics.NAME; eval.DATASET.NAME and
    /// params.NAME work too (as in `list --where`).
    #[arg(long)]
    metric: String,
    /// Higher is better (default).
    #[arg(long, conflicts_with = "min")]
    max: bool,
    /// Lower is better.
    #[arg(long)]
    min: bool,
    /// Rank by the evaluation on this dataset instead of the training metric.
    #[arg(long)]
    dataset: Option<String>,
    /// Point this alias at the winner (recorded in the history).
    #[arg(long, value_name = "ALIAS")]
    set_alias: Option<String>,
    #[arg(long)]
    json: bool,
}

pub fn best(ctx: &Ctx, a: BestArgs) -> mreg::Result<Output> {
    let repo = ctx.repo()?;
    let model = ModelName::new(&a.model)?;
    if !repo.model_exists(&model) {
        return Err(Error::UnknownModel(model.to_string()));
    }
    let key_text = match &a.dataset {
        Some(d) => format!("eval.{d}.{}", a.metric),
        None => Key::parse_ranking(&a.metric)
            .map_err(|e| Error::InvalidArgument(format!("--metric: {e}")))?
            .text(),
    };
    let key = SortKey::parse(&format!("{}{key_text}", if a.min { "" } else { "-" }))?;
    let rows = index::model_rows(&repo, &model)?;
    if !rows.iter().any(|r| key.key.get(r).is_some()) {
        return Err(Error::UnknownKey {
            model: model.to_string(),
            key: key_text,
        });
    }
    // Rows are newest first and the sort is stable: ties go to the newest version.
    let mut ranked: Vec<&Row> = rows
        .iter()
        .filter(|r| !r.archived && key.key.get(r).is_some())
        .collect();
    ranked.sort_by(|x, y| key.cmp(x, y));
    // A pruned version cannot be checked out: never the answer, but say it was skipped.
    let skipped: Vec<&Row> = ranked
        .iter()
        .take_while(|r| repo.is_pruned(&r.id))
        .copied()
        .collect();
    let winner = ranked.get(skipped.len()).ok_or_else(|| {
        Error::InvalidArgument(format!(
            "no version of {model} with {key_text} has its data: {} pruned version(s) skipped",
            skipped.len()
        ))
    })?;
    let value = key.key.get(winner).map(|v| v.display()).unwrap_or_default();
    let mut moved = None;
    if let Some(al) = &a.set_alias {
        let why = format!("best by {key_text} ({})", if a.min { "min" } else { "max" });
        moved = Some(
            refs::alias_set(
                &repo,
                &model,
                al,
                winner.id,
                None,
                move_info("alias set", why)?,
            )?
            .is_some(),
        );
    }
    if a.json {
        let mut v = row_json(winner, repo.is_pruned(&winner.id));
        v["key"] = serde_json::json!(key_text);
        v["value"] = serde_json::json!(key.key.get(winner).map(|v| match v {
            Value::Num(n) => serde_json::json!(n),
            other => serde_json::json!(other.display()),
        }));
        if let Some(m) = moved {
            v["alias_moved"] = serde_json::json!(m);
        }
        v["skipped_pruned"] = serde_json::json!(skipped.iter().map(|r| r.id).collect::<Vec<_>>());
        return Ok(Output::ok(super::json(&v)));
    }
    let mut s = format!(
        "{} {model} {key_text}={value}  {}\n",
        winner.id, winner.message
    );
    for r in &skipped {
        ctx.note(format_args!(
            "skipped {} ({key_text}={}): its data was pruned",
            r.id.short(),
            key.key.get(r).map(|v| v.display()).unwrap_or_default()
        ));
    }
    if let (Some(al), Some(m)) = (&a.set_alias, moved) {
        s.push_str(&format!(
            "{model}@{al} {} {}\n",
            if m { "->" } else { "already at" },
            winner.id.short()
        ));
    }
    Ok(Output::ok(s))
}

/// Compare versions side by side: params, metrics and evaluations.
///
/// In a terminal, rows whose values differ are highlighted.
///
/// Example:
///   mreg compare mnist mnist~1 mnist@production
#[derive(clap::Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct CompareArgs {
    /// Two or more revisions.
    #[arg(required = true, num_args = 2..)]
    revs: Vec<String>,
    #[arg(long, conflicts_with = "csv")]
    json: bool,
    /// Comma-separated values.
    #[arg(long)]
    csv: bool,
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

pub fn compare(ctx: &Ctx, a: CompareArgs) -> mreg::Result<Output> {
    let repo = ctx.repo()?;
    let mut rows = Vec::new();
    for r in &a.revs {
        let id = repo.resolve(r)?;
        let model = repo.read_commit(&id)?.model;
        let row = index::model_rows(&repo, &model)?
            .into_iter()
            .find(|x| x.id == id)
            .ok_or_else(|| Error::UnknownRevision(r.clone()))?;
        rows.push(row);
    }
    // Every key any version has, grouped: params, metrics, evaluations.
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
            rows.iter().map(|r| r.created_at.clone()).collect(),
        ),
        (
            "aliases".into(),
            rows.iter().map(|r| r.aliases.join(",")).collect(),
        ),
    ];
    for k in &keys {
        let key = Key::parse(k).map_err(Error::InvalidArgument)?;
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
    let header: Vec<String> = rows.iter().map(|r| r.id.short()).collect();
    if a.json {
        let v: Vec<_> = lines
            .iter()
            .map(|(k, vals)| {
                let differs = vals.windows(2).any(|w| w[0] != w[1]);
                serde_json::json!({"key": k, "values": vals, "differs": differs})
            })
            .collect();
        return Ok(Output::ok(super::json(
            &serde_json::json!({"ids": rows.iter().map(|r| r.id).collect::<Vec<_>>(), "rows": v}),
        )));
    }
    if a.csv {
        let mut s = format!("key,{}\n", header.join(","));
        for (k, vals) in &lines {
            s.push_str(&csv_field(k));
            for v in vals {
                s.push(',');
                s.push_str(&csv_field(v));
            }
            s.push('\n');
        }
        return Ok(Output::ok(s));
    }
    let color = std::io::stdout().is_terminal();
    let kw = lines.iter().map(|(k, _)| k.len()).max().unwrap_or(3).max(3);
    let widths: Vec<usize> = (0..rows.len())
        .map(|i| {
            lines
                .iter()
                .map(|(_, v)| v[i].chars().count())
                .max()
                .unwrap_or(0)
                .max(12)
        })
        .collect();
    let mut s = format!("{:<kw$}", "");
    for (i, h) in header.iter().enumerate() {
        s.push_str(&format!("  {h:<w$}", w = widths[i]));
    }
    s.push('\n');
    for (k, vals) in &lines {
        let differs = vals.windows(2).any(|w| w[0] != w[1]);
        let mut line = format!("{k:<kw$}");
        for (i, v) in vals.iter().enumerate() {
            line.push_str(&format!("  {v:<w$}", w = widths[i]));
        }
        let line = line.trim_end().to_string();
        if differs && color {
            s.push_str(&format!("\x1b[1;33m{line}\x1b[0m\n"));
        } else if differs {
            s.push_str(&format!("{line}  *\n"));
        } else {
            s.push_str(&format!("{line}\n"));
        }
    }
    Ok(Output::ok(s))
}
