//! `mreg report`: a static, self-contained report of one or several versions, in Markdown
//! (renders on a code forge: tables, and curves as Unicode sparklines) or HTML (opens
//! offline: the stylesheet inline, charts and the lineage graph as embedded SVG).
//! Sections: summary, params and metrics side by side, evaluations, curves, lineage, and
//! the diff between consecutive versions.

use std::fmt::Write;

use super::html::{esc, table, STYLE};
use super::pages;
use crate::error::Result;
use crate::id::CommitId;
use crate::Repo;

/// The report's format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Markdown,
    Html,
}

/// A Markdown table cell: pipes escaped, newlines flattened.
fn md(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace(['\n', '\r'], " ")
        .replace('<', "&lt;")
}

fn md_table(header: &[String], rows: &[Vec<String>]) -> String {
    let mut s = format!(
        "| {} |\n|",
        header.iter().map(|h| md(h)).collect::<Vec<_>>().join(" | ")
    );
    for _ in header {
        s.push_str("---|");
    }
    s.push('\n');
    for r in rows {
        let _ = writeln!(
            s,
            "| {} |",
            r.iter().map(|c| md(c)).collect::<Vec<_>>().join(" | ")
        );
    }
    s
}

/// A Unicode sparkline of a curve.
fn spark(values: &[f64]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return String::new();
    }
    let (lo, hi) = v
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), x| (a.min(*x), b.max(*x)));
    let step = v.len().div_ceil(40).max(1);
    v.chunks(step)
        .map(|c| {
            let x = c.iter().sum::<f64>() / c.len() as f64;
            let i = if hi > lo {
                ((x - lo) / (hi - lo) * 7.0).round() as usize
            } else {
                3
            };
            BARS[i.min(7)]
        })
        .collect()
}

/// Build the report of `ids` (in the order given).
pub fn report(repo: &Repo, ids: &[CommitId], format: Format, generated_at: &str) -> Result<String> {
    let commits = ids
        .iter()
        .map(|id| repo.read_commit(id))
        .collect::<Result<Vec<_>>>()?;
    let names: Vec<String> = ids
        .iter()
        .zip(&commits)
        .map(|(id, c)| format!("{} {}", c.model, id.short()))
        .collect();
    let cmp = crate::ops::query::compare(repo, ids)?;
    let header: Vec<String> = std::iter::once("key".to_string())
        .chain(names.iter().cloned())
        .collect();
    let section = |prefixes: &[&str]| -> Vec<(Vec<String>, bool)> {
        cmp.rows
            .iter()
            .filter(|l| prefixes.iter().any(|p| l.key.starts_with(p)))
            .map(|l| {
                let differs = l.values.windows(2).any(|w| w[0] != w[1]);
                (
                    std::iter::once(l.key.clone())
                        .chain(l.values.iter().cloned())
                        .collect(),
                    differs,
                )
            })
            .collect()
    };
    let params = section(&["params."]);
    let metrics = section(&["metrics.", "eval."]);
    let mut curves = Vec::new();
    for (id, c) in ids.iter().zip(&commits) {
        if let Some(cv) = crate::ops::view::curve_points(repo, c)? {
            curves.push((id.short(), cv));
        }
    }
    let diffs = ids
        .windows(2)
        .map(|w| crate::ops::view::diff(repo, w[0], w[1]))
        .collect::<Result<Vec<_>>>()?;
    let title = format!("mreg report: {}", names.join(", "));
    // What both formats show: the refs pointing at each version now (production,
    // candidate, rollback, tags), and every evaluation with who added it and when.
    let refs: Vec<String> = ids
        .iter()
        .zip(&commits)
        .map(|(id, c)| -> Result<String> {
            Ok(repo
                .model_state(&c.model)?
                .refs()
                .into_iter()
                .filter(|(_, v)| v == id)
                .map(|(k, _)| k.to_string())
                .collect::<Vec<_>>()
                .join(", "))
        })
        .collect::<Result<_>>()?;
    let mut evaluations: Vec<[String; 5]> = Vec::new();
    for id in ids {
        for (_, n) in crate::notes::notes(repo, id)? {
            if let Some(e) = crate::ops::eval::EvaluationNote::from_note(&n) {
                evaluations.push([
                    id.short(),
                    e.dataset.clone(),
                    e.metrics
                        .iter()
                        .map(|(k, v)| format!("{k}={}", super::svg::num(*v)))
                        .collect::<Vec<_>>()
                        .join(" "),
                    e.time.to_string(),
                    e.author.clone(),
                ]);
            }
        }
    }
    match format {
        Format::Markdown => {
            let mut s = format!(
                "# {}\n\nGenerated by mreg {} at {generated_at}.\n\n## Summary\n\n",
                md(&title),
                env!("CARGO_PKG_VERSION")
            );
            let mut rows = Vec::new();
            for ((id, c), r) in ids.iter().zip(&commits).zip(&refs) {
                rows.push(vec![
                    format!("`{}`", id.short()),
                    c.model.to_string(),
                    c.created_at.to_string(),
                    c.author.clone(),
                    c.message.lines().next().unwrap_or("").to_string(),
                    r.clone(),
                ]);
            }
            s.push_str(&md_table(
                &["version", "model", "created", "author", "message", "refs"].map(String::from),
                &rows,
            ));
            for (what, rows) in [("Params", &params), ("Metrics and evaluations", &metrics)] {
                let _ = write!(s, "\n## {what}\n\n");
                if rows.is_empty() {
                    s.push_str("none\n");
                    continue;
                }
                let body: Vec<Vec<String>> = rows
                    .iter()
                    .map(|(cells, differs)| {
                        let mut c = cells.clone();
                        if *differs {
                            c[0] = format!("**{}**", c[0]);
                        }
                        c
                    })
                    .collect();
                s.push_str(&md_table(&header, &body));
                if rows.iter().any(|(_, d)| *d) && ids.len() > 1 {
                    s.push_str("\nKeys in **bold** differ.\n");
                }
            }
            s.push_str("\n## Evaluations\n\n");
            let erows: Vec<Vec<String>> = evaluations
                .iter()
                .map(|e| {
                    let mut r = e.to_vec();
                    r[0] = format!("`{}`", r[0]);
                    r
                })
                .collect();
            if erows.is_empty() {
                s.push_str("none\n");
            } else {
                s.push_str(&md_table(
                    &["version", "dataset", "metrics", "when", "who"].map(String::from),
                    &erows,
                ));
            }
            if !curves.is_empty() {
                s.push_str("\n## Curves\n\n");
                let mut rows = Vec::new();
                for (who, cv) in &curves {
                    for (name, pts) in cv {
                        let vals: Vec<f64> = pts.iter().filter_map(|p| p.1).collect();
                        let sum = crate::recipe::CurveSummary::of(name, pts);
                        let n =
                            |v: Option<f64>| v.map(super::svg::num).unwrap_or_else(|| "-".into());
                        rows.push(vec![
                            format!("`{who}`"),
                            name.clone(),
                            sum.points.to_string(),
                            n(sum.first),
                            format!("{} ({})", n(sum.best), sum.goal),
                            n(sum.last),
                            spark(&vals),
                        ]);
                    }
                }
                s.push_str(&md_table(
                    &[
                        "version", "curve", "points", "first", "best", "last", "trend",
                    ]
                    .map(String::from),
                    &rows,
                ));
            }
            s.push_str("\n## Lineage\n\n");
            for (id, c) in ids.iter().zip(&commits) {
                let _ = writeln!(s, "- `{}` ({})", id.short(), md(c.model.as_str()));
                for p in &c.parents {
                    let _ = writeln!(s, "  - parent `{}`", p.short());
                }
                for d in &c.derived_from {
                    let _ = writeln!(s, "  - derived from `{}`", d.short());
                }
                for d in &c.datasets {
                    let _ = writeln!(
                        s,
                        "  - dataset {} (`{}`, blake3 `{}`)",
                        md(&d.name),
                        md(&d.path),
                        d.blake3.short()
                    );
                }
                if let Some(g) = c.git.as_ref().filter(|g| g.present) {
                    let _ = writeln!(
                        s,
                        "  - code: git `{}` on {}{}",
                        g.head.as_deref().unwrap_or("(no commits)"),
                        md(g.branch.as_deref().unwrap_or("(detached HEAD)")),
                        if g.dirty {
                            format!(", uncommitted changes in {}", md(&g.modified.join(", ")))
                        } else {
                            String::new()
                        }
                    );
                }
            }
            for d in &diffs {
                let _ = write!(
                    s,
                    "\n## Diff `{}` → `{}`\n\n",
                    d.diff.old.short(),
                    d.diff.new.short()
                );
                let rows: Vec<Vec<String>> = d
                    .diff
                    .files
                    .iter()
                    .map(|f| {
                        let inside = f
                            .tensors
                            .as_ref()
                            .map(|t| {
                                format!(
                                    "{} changed, {} added, {} removed, {} identical tensor(s)",
                                    t.changed.len(),
                                    t.added.len(),
                                    t.removed.len(),
                                    t.identical.len()
                                )
                            })
                            .unwrap_or_default();
                        vec![f.path.clone(), f.status.to_string(), inside]
                    })
                    .collect();
                s.push_str(&md_table(
                    &["file", "status", "inside"].map(String::from),
                    &rows,
                ));
                let tensors: Vec<Vec<String>> = d
                    .diff
                    .files
                    .iter()
                    .filter_map(|f| f.tensors.as_ref())
                    .flat_map(|t| t.changed.iter())
                    .take(50)
                    .map(|c| {
                        vec![
                            c.name.clone(),
                            c.dtype.clone(),
                            format!("{:?}", c.shape),
                            c.max_abs_diff
                                .map(super::svg::num)
                                .unwrap_or_else(|| "-".into()),
                            c.rel_l2.map(super::svg::num).unwrap_or_else(|| "-".into()),
                        ]
                    })
                    .collect();
                if !tensors.is_empty() {
                    s.push('\n');
                    s.push_str(&md_table(
                        &["tensor", "dtype", "shape", "max abs diff", "relative L2"]
                            .map(String::from),
                        &tensors,
                    ));
                }
            }
            Ok(s)
        }
        Format::Html => {
            let mut s = format!(
                "<h1>{}</h1><p class=\"muted\">Generated by mreg {} at {}.</p><h2>Summary</h2>",
                esc(&title),
                env!("CARGO_PKG_VERSION"),
                esc(generated_at)
            );
            let rows: Vec<(Vec<String>, bool)> = ids
                .iter()
                .zip(&commits)
                .zip(&refs)
                .map(|((id, c), r)| {
                    (
                        vec![
                            format!("<span class=\"mono\">{}</span>", esc(&id.short())),
                            esc(c.model.as_str()),
                            esc(c.created_at.as_ref()),
                            esc(&c.author),
                            esc(c.message.lines().next().unwrap_or("")),
                            esc(r),
                        ],
                        false,
                    )
                })
                .collect();
            s.push_str(&table(
                &["version", "model", "created", "author", "message", "refs"],
                &rows,
                "summary",
            ));
            let hdr: Vec<&str> = header.iter().map(String::as_str).collect();
            let escape = |rows: &[(Vec<String>, bool)]| -> Vec<(Vec<String>, bool)> {
                rows.iter()
                    .map(|(c, d)| (c.iter().map(|x| esc(x)).collect(), *d))
                    .collect()
            };
            s.push_str("<h2>Params</h2>");
            s.push_str(&table(&hdr, &escape(&params), "params"));
            s.push_str("<h2>Metrics and evaluations</h2>");
            s.push_str(&table(&hdr, &escape(&metrics), "metrics"));
            s.push_str("<h2>Evaluations</h2>");
            if evaluations.is_empty() {
                s.push_str("<p class=\"muted\">none</p>");
            } else {
                let erows: Vec<(Vec<String>, bool)> = evaluations
                    .iter()
                    .map(|e| (e.iter().map(|x| esc(x)).collect(), false))
                    .collect();
                s.push_str(&table(
                    &["version", "dataset", "metrics", "when", "who"],
                    &erows,
                    "evaluations",
                ));
            }
            if !curves.is_empty() {
                s.push_str("<h2>Curves</h2>");
                s.push_str(&pages::curve_charts(&curves, 560));
            }
            s.push_str("<h2>Lineage</h2>");
            for (id, c) in ids.iter().zip(&commits) {
                let _ = write!(s, "<h3>{} {}</h3>", esc(c.model.as_str()), esc(&id.short()));
                s.push_str(&pages::lineage_graph(repo, id, c)?);
            }
            for d in &diffs {
                s.push_str(&pages::diff_section(d));
            }
            // Self-contained: the stylesheet inline, no link to any server.
            Ok(format!(
                "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body><main>{s}</main></body></html>\n",
                esc(&title)
            ))
        }
    }
}
