//! `mreg list`, `mreg best`, `mreg compare`: registry queries.

use std::io::IsTerminal;

use mreg::ops::query::{
    best as best_op, compare as compare_op, list, parse_filters, parse_time_bound, BestQuery,
    ListQuery,
};
use mreg::query::{Key, Row, SortKey};
use mreg::ModelName;

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
///   mreg list --label sweep-7 --label gpu --only-archived
///   mreg list --model fraud --where 'version > 40 and labels == gpu'
///
/// VERSION is the model's version number (fraud#12 names it anywhere a revision is taken),
/// the same on every store once published; `pending` marks a version not pushed yet.
/// Without --sort, a model's versions are listed newest first in publication order.
#[derive(clap::Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// Only this model.
    #[arg(long)]
    model: Option<String>,
    /// Only versions this alias points at.
    #[arg(long)]
    alias: Option<String>,
    /// Only versions with this label; repeatable (a version must have every one).
    #[arg(long = "label", value_name = "LABEL")]
    labels: Vec<String>,
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
    /// Only archived versions.
    #[arg(long, conflicts_with = "archived")]
    only_archived: bool,
    /// A filter expression; repeatable (all must match).
    #[arg(long = "where", value_name = "EXPR")]
    filters: Vec<String>,
    /// Sort key, e.g. metrics.acc, -metrics.acc (descending), created_at (default: newest first).
    #[arg(long, value_name = "KEY", allow_hyphen_values = true)]
    sort: Option<String>,
    /// At most N versions.
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
    /// Columns: version,id,model,created_at,author,message,aliases,labels, or any key (metrics.acc...).
    #[arg(long, value_delimiter = ',', value_name = "COLS")]
    columns: Vec<String>,
    #[arg(long)]
    json: bool,
}

fn cell(r: &Row, col: &str) -> mreg::Result<String> {
    Ok(match col {
        "id" => r.id.short(),
        "version" => mreg::versions::label(r.version),
        "aliases" => r.aliases.join(","),
        "labels" => r.labels.join(","),
        "metrics" => r
            .metrics
            .iter()
            .map(|(k, v)| format!("{k}={}", super::fmt::num(*v)))
            .collect::<Vec<_>>()
            .join(" "),
        other => {
            let key = Key::parse(other).map_err(|why| mreg::error::QueryError::BadKey {
                option: "--columns".into(),
                why,
            })?;
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
    let cols: Vec<String> = if a.columns.is_empty() {
        ["version", "id", "model", "created_at", "aliases", "metrics"]
            .map(String::from)
            .to_vec()
    } else {
        for c in &a.columns {
            if !["id", "version", "aliases", "labels", "metrics"].contains(&c.as_str()) {
                Key::parse(c).map_err(|why| mreg::error::QueryError::BadKey {
                    option: "--columns".into(),
                    why,
                })?;
            }
        }
        a.columns.clone()
    };
    let q = ListQuery {
        model: a.model.as_deref().map(ModelName::new).transpose()?,
        alias: a.alias,
        labels: a.labels,
        dataset: a.dataset,
        since: a
            .since
            .as_deref()
            .map(|s| parse_time_bound(s, false))
            .transpose()?,
        until: a
            .until
            .as_deref()
            .map(|s| parse_time_bound(s, true))
            .transpose()?,
        include_archived: a.archived,
        only_archived: a.only_archived,
        filters: parse_filters(&a.filters)?,
        sort: a.sort.as_deref().map(SortKey::parse).transpose()?,
        limit: a.limit,
    };
    let repo = ctx.repo()?;
    let listed = list(&repo, &q)?;
    if a.json {
        return Ok(Output::ok(super::json(&listed)));
    }
    let rows: Vec<Row> = listed.into_iter().map(|l| l.row).collect();
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
    /// Higher is better (the default, except for loss-like names: loss, err, mse, mae,
    /// perplexity, ppl).
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
    let set_alias = match &a.set_alias {
        Some(al) => Some((mreg::names::AliasName::new(al)?, move_info(String::new())?)),
        None => None,
    };
    // No direction given: the library decides by the name (a loss ranks lowest first), and
    // the output says which way it ranked.
    let minimize = match (a.min, a.max) {
        (true, _) => Some(true),
        (_, true) => Some(false),
        _ => None,
    };
    let b = best_op(
        &repo,
        BestQuery {
            model: ModelName::new(&a.model)?,
            key: a.metric,
            dataset: a.dataset,
            minimize,
            set_alias,
        },
    )?;
    for r in &b.skipped_pruned {
        ctx.note(format_args!(
            "skipped {} ({}={}): its data was pruned",
            r.id.short(),
            b.key,
            Key::parse(&b.key)
                .ok()
                .and_then(|k| k.get(r))
                .map(|v| v.display())
                .unwrap_or_default()
        ));
    }
    if a.json {
        return Ok(Output::ok(super::json(&b)));
    }
    let w = &b.winner.row;
    let value = Key::parse(&b.key)
        .ok()
        .and_then(|k| k.get(w))
        .map(|v| v.display())
        .unwrap_or_default();
    let mut s = format!(
        "{} {} {}={value} ({} is better)  {}\n",
        w.id,
        w.model,
        b.key,
        if b.goal == "min" { "lower" } else { "higher" },
        w.message
    );
    if let (Some(al), Some(m)) = (&a.set_alias, b.alias_moved) {
        s.push_str(&format!(
            "{}@{al} {} {}\n",
            w.model,
            if m { "->" } else { "already at" },
            w.id.short()
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
    let ids = repo.resolve_all(&a.revs)?;
    let c = compare_op(&repo, &ids)?;
    if a.json {
        return Ok(Output::ok(super::json(&c)));
    }
    let lines: Vec<(String, Vec<String>)> = c
        .rows
        .iter()
        .map(|l| (l.key.clone(), l.values.clone()))
        .collect();
    let rows = &c.ids;
    let header: Vec<String> = rows.iter().map(|r| r.short()).collect();
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
