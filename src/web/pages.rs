//! The dashboard's pages: models, one model (timeline, metric chart, filterable version
//! table), one version (everything recorded, curves, lineage graph), compare, and history.
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

/// The Models page.
pub fn models(repo: &Repo) -> Result<String> {
    let sums = crate::refs::model_summaries(repo)?;
    let mut rows = Vec::new();
    for s in &sums {
        let shared = crate::index::model_rows_shared(repo, &s.model)?;
        let vrows: Vec<&Row> = shared.iter().rev().collect(); // oldest first
        let (key, minimize) = match policy_key(repo, &s.model) {
            Some((k, min)) => (Some(k), min),
            None => (
                metric_keys(&vrows).first().and_then(|k| Key::parse(k).ok()),
                false,
            ),
        };
        let (best, trend) = match &key {
            Some(k) => {
                let vals: Vec<f64> = vrows.iter().filter_map(|r| k.number(r)).collect();
                let best = vals
                    .iter()
                    .copied()
                    .reduce(|a, b| if (b > a) != minimize { b } else { a });
                (
                    best.map(|b| {
                        format!(
                            "{} <span class=\"muted\">{}</span>",
                            esc(&num(b)),
                            esc(&k.text())
                        )
                    })
                    .unwrap_or_else(|| "-".into()),
                    svg::sparkline(&vals, 140, 28),
                )
            }
            None => ("-".into(), String::new()),
        };
        let aliases: String = s
            .aliases
            .iter()
            .map(|(a, id)| {
                format!(
                    r#"<a href="/version/{}">{}</a>"#,
                    enc(&id.to_hex()),
                    chip(&format!("{a} {}", short(id)), a.as_str())
                )
            })
            .collect();
        rows.push((
            vec![
                format!(
                    r#"<a href="/model/{}">{}</a>{}{}"#,
                    enc(s.model.as_str()),
                    esc(s.model.as_str()),
                    s.labels
                        .iter()
                        .map(|l| format!(" {}", chip(l, "label")))
                        .collect::<String>(),
                    s.description
                        .as_deref()
                        .map(|d| format!(
                            r#"<br><span class="muted">{}</span>"#,
                            esc(d.lines().next().unwrap_or(""))
                        ))
                        .unwrap_or_default()
                ),
                s.head
                    .map(|h| version_link(&h.to_hex(), &short(&h)))
                    .unwrap_or_else(|| "-".into()),
                aliases,
                format!(
                    "{}{}",
                    s.versions,
                    if s.archived > 0 {
                        format!(" <span class=\"muted\">({} archived)</span>", s.archived)
                    } else {
                        String::new()
                    }
                ),
                best,
                trend,
                esc(s.last_change.as_deref().unwrap_or("-")),
            ],
            false,
        ));
    }
    let body = if rows.is_empty() {
        "<h1>Models</h1><p class=\"muted\">This store has no models yet: <code>mreg commit FILE --model NAME</code> creates one.</p>".to_string()
    } else {
        format!(
            "<h1>Models</h1>{}",
            table(
                &[
                    "model",
                    "head",
                    "aliases",
                    "versions",
                    "best (policy metric)",
                    "trend over versions",
                    "last change",
                ],
                &rows,
                "models"
            )
        )
    };
    Ok(page("Models", &body))
}

fn require_model(repo: &Repo, name: &str) -> Result<ModelName> {
    let m = ModelName::new(name)?;
    if !repo.model_exists(&m) {
        return Err(Error::UnknownModel(name.to_string()));
    }
    Ok(m)
}

/// A cell of the version table.
fn cell(r: &Row, col: &str) -> String {
    match col {
        "id" => version_link(&r.id.to_hex(), &short(&r.id)),
        "created_at" => esc(r.created_at.as_ref()),
        "author" => esc(&r.author),
        "message" => esc(r.message.lines().next().unwrap_or("")),
        "aliases" => alias_chips(&r.aliases),
        "labels" => r.labels.iter().map(|l| chip(l, "label")).collect(),
        k => match Key::parse(k).ok().and_then(|key| key.get(r)) {
            Some(v) => esc(&v.display()),
            None => "<span class=\"muted\">-</span>".into(),
        },
    }
}

/// The Model page.
pub fn model(repo: &Repo, name: &str, q: &Query) -> Result<String> {
    let model = require_model(repo, name)?;
    let shared = crate::index::model_rows_shared(repo, &model)?;
    let all: Vec<&Row> = shared.iter().rev().collect(); // oldest first, in publication order
                                                        // Positions on the chart's x axis (publication order).
    let number: HashMap<CommitId, usize> =
        all.iter().enumerate().map(|(i, r)| (r.id, i + 1)).collect();
    let keys = metric_keys(&all);
    // Chosen metrics: ?metric=..., else the policy's, else the two most common.
    let mut chosen: Vec<String> = q
        .all("metric")
        .into_iter()
        .filter(|m| !m.is_empty())
        .collect();
    if chosen.is_empty() {
        chosen = match policy_key(repo, &model) {
            Some((k, _)) => vec![k.text()],
            None => keys.iter().take(2).cloned().collect(),
        };
    }
    let (entries, _) = repo.model_log(&model).entries()?;
    // Alias moves: promotions and rollbacks marked on the chart; every move made by a
    // person (not the policy's automatic candidate/best moves at commit) in the timeline.
    let mut markers = Vec::new();
    let mut moves = Vec::new();
    for e in &entries {
        for c in &e.changes {
            let (RefName::Alias(a), Some(new)) = (&c.name, c.new) else {
                continue;
            };
            let label = format!("{} {a} -> {} {}", e.action, short(&new), e.attribution());
            let marked = matches!(e.action, Action::Promote | Action::Rollback)
                && a.as_str() == "production";
            if let (true, Some(n)) = (marked, number.get(&new)) {
                markers.push(Marker {
                    x: *n as f64,
                    label,
                });
            }
            if !matches!(e.action, Action::Commit) {
                moves.push((e, a.to_string(), c.old, new));
            }
        }
    }
    let series: Vec<Series> = chosen
        .iter()
        .filter_map(|k| Key::parse(k).ok().map(|key| (k, key)))
        .map(|(k, key)| {
            let (points, labels) = all
                .iter()
                .enumerate()
                .filter_map(|(i, r)| key.number(r).map(|v| ((i as f64 + 1.0, v), short(&r.id))))
                .unzip();
            Series {
                name: k.clone(),
                points,
                labels,
            }
        })
        .collect();
    let ids_by_series: Vec<Vec<CommitId>> = chosen
        .iter()
        .filter_map(|k| Key::parse(k).ok())
        .map(|key| {
            all.iter()
                .filter(|r| key.number(r).is_some())
                .map(|r| r.id)
                .collect()
        })
        .collect();
    let href = |s: usize, j: usize| {
        ids_by_series
            .get(s)
            .and_then(|ids| ids.get(j))
            .map(|id| format!("/version/{}", id.to_hex()))
    };
    let chart = svg::line_chart(
        &series,
        &markers,
        &ChartOpts {
            width: 960,
            height: 300,
            x_label: "version",
            y_label: &chosen.join(", "),
            link: Some(&href),
        },
    );
    // The version table: filtered with the `list --where` language, newest first.
    let filter = q.get("where").unwrap_or_default();
    let listed_rows: Vec<Row>;
    let rows: Vec<&Row> = if filter.trim().is_empty() {
        all.iter().rev().copied().collect()
    } else {
        match crate::ops::query::parse_filters(std::slice::from_ref(&filter)) {
            Ok(filters) => {
                let listed = crate::ops::query::list(
                    repo,
                    &crate::ops::query::ListQuery {
                        model: Some(model.clone()),
                        include_archived: true,
                        filters,
                        ..Default::default()
                    },
                )?;
                listed_rows = listed.into_iter().map(|l| l.row).collect();
                listed_rows.iter().collect()
            }
            // A filter that does not parse is the request's fault: a 400 page.
            Err(e) => return Err(e),
        }
    };
    let default_cols: Vec<String> = ["id", "created_at", "message", "aliases"]
        .into_iter()
        .map(String::from)
        .chain(keys.iter().take(4).cloned())
        .collect();
    let mut cols: Vec<String> = q.all("col");
    if cols.is_empty() {
        cols = default_cols;
    }
    let page_no: usize = q
        .get("page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(1)
        .max(1);
    let pages = rows.len().div_ceil(PAGE_ROWS).max(1);
    let shown = rows.iter().skip((page_no - 1) * PAGE_ROWS).take(PAGE_ROWS);
    let mut trows = Vec::new();
    for r in shown {
        let mut cells: Vec<String> = Vec::with_capacity(cols.len() + 2);
        // The version number, the same on every store (`pending`: not pushed yet).
        cells.push(esc(&crate::versions::label(r.version)));
        for c in &cols {
            cells.push(cell(r, c));
        }
        let mut status = String::new();
        if r.archived {
            status.push_str(&chip("archived", "archived"));
        }
        if repo.is_pruned(&r.id) {
            status.push_str(&chip("pruned", "pruned"));
        }
        cells.push(status);
        trows.push((cells, false));
    }
    let header: Vec<&str> = std::iter::once("#")
        .chain(cols.iter().map(String::as_str))
        .chain(std::iter::once("status"))
        .collect();
    // Column choice: every built-in column and every key the versions have.
    let mut choices: Vec<String> = ["id", "created_at", "author", "message", "aliases", "labels"]
        .into_iter()
        .map(String::from)
        .collect();
    choices.extend(keys.iter().cloned());
    let mut params: BTreeSet<String> = BTreeSet::new();
    for r in all.iter().rev().take(200) {
        params.extend(r.params.keys().map(|k| format!("params.{k}")));
    }
    choices.extend(params.into_iter().take(30));
    let mut s = format!(
        r#"<h1>Model {}</h1><p><a href="/history/{}">history of every ref move</a> · <a href="/api/model/{}">JSON</a></p>"#,
        esc(model.as_str()),
        enc(model.as_str()),
        enc(model.as_str())
    );
    s.push_str("<h2>Metrics over versions</h2><form class=\"inline\" method=\"get\">");
    for k in keys.iter().take(24) {
        let _ = write!(
            s,
            r#"<label><input type="checkbox" name="metric" value="{}"{}> {}</label>"#,
            esc(k),
            if chosen.contains(k) { " checked" } else { "" },
            esc(k)
        );
    }
    s.push_str(r#"<button type="submit">Show</button></form>"#);
    s.push_str(&chart);
    s.push_str("<p class=\"muted\">Green dashed lines mark promotions and rollbacks of production (hover for who, when and why); points link to their version.</p>");
    s.push_str("<h2>Timeline of alias moves</h2>");
    if moves.is_empty() {
        s.push_str("<p class=\"muted\">No alias was moved by hand (the policy's automatic moves are in the history).</p>");
    } else {
        let trs: Vec<(Vec<String>, bool)> = moves
            .iter()
            .rev()
            .take(50)
            .map(|(e, a, old, new)| {
                (
                    vec![
                        esc(e.time.as_ref()),
                        chip(a, a),
                        format!(
                            "{} → {}",
                            old.map(|o| version_link(&o.to_hex(), &short(&o)))
                                .unwrap_or_else(|| "-".into()),
                            version_link(&new.to_hex(), &short(new))
                        ),
                        esc(&e.action.to_string()),
                        esc(&e.author),
                        esc(&e.message),
                    ],
                    matches!(e.action, Action::Rollback),
                )
            })
            .collect();
        s.push_str(&table(
            &["when", "alias", "move", "action", "who", "why"],
            &trs,
            "timeline",
        ));
    }
    let _ = write!(
        s,
        r#"<h2>Versions</h2><form class="inline" method="get"><input type="text" name="where" value="{}" placeholder="metrics.acc &gt;= 0.9 and params.lr &lt; 0.01"><button type="submit">Filter</button>"#,
        esc(&filter)
    );
    for m in &chosen {
        let _ = write!(
            s,
            r#"<input type="hidden" name="metric" value="{}">"#,
            esc(m)
        );
    }
    s.push_str("<details><summary>Columns</summary><fieldset>");
    for c in &choices {
        let _ = write!(
            s,
            r#"<label><input type="checkbox" name="col" value="{}"{}> {}</label> "#,
            esc(c),
            if cols.contains(c) { " checked" } else { "" },
            esc(c)
        );
    }
    s.push_str("</fieldset></details></form>");
    let _ = write!(
        s,
        r#"<p class="muted">{} of {} version(s){}</p>"#,
        rows.len(),
        all.len(),
        if filter.trim().is_empty() {
            String::new()
        } else {
            format!(" match <code>{}</code>", esc(&filter))
        }
    );
    s.push_str(&table(&header, &trows, "versions"));
    if pages > 1 {
        s.push_str("<p class=\"pager\">");
        let base: Vec<(String, String)> = q
            .pairs
            .iter()
            .filter(|(k, _)| k != "page")
            .cloned()
            .collect();
        for p in [1, page_no.saturating_sub(1).max(1), page_no + 1, pages] {
            if p == page_no || p > pages {
                continue;
            }
            let mut qs: Vec<String> = base
                .iter()
                .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
                .collect();
            qs.push(format!("page={p}"));
            let _ = write!(s, r#"<a href="?{}">page {p}</a>"#, esc(&qs.join("&")));
        }
        let _ = write!(s, "<span>page {page_no} of {pages}</span></p>");
    }
    // Runs that made no version (failed, interrupted, uncommitted): kept, never promotable.
    let failed: Vec<crate::ops::runs::RunView> = crate::ops::runs::list(repo, Some(&model))?
        .into_iter()
        .filter(|r| r.status != crate::ops::runs::RunStatus::Succeeded)
        .collect();
    if !failed.is_empty() {
        let _ = write!(
            s,
            "<h2>Runs without a version</h2><p class=\"muted\">{} run(s) failed, were interrupted or could not be committed (<code>mreg runs {} --failed</code>; <code>mreg runs show RUN --log</code> prints a log)</p>",
            failed.len(),
            esc(model.as_str())
        );
        let rows: Vec<(Vec<String>, bool)> = failed
            .iter()
            .take(PAGE_ROWS)
            .map(|r| {
                (
                    vec![
                        format!("<code>{}</code>", esc(&r.id[..12.min(r.id.len())])),
                        chip(r.status.as_str(), "archived"),
                        esc(&r.reason),
                        esc(r.started_at.as_ref()),
                        format!("{:.1} s", r.seconds),
                        format!("<code>{}</code>", esc(&r.command.join(" "))),
                    ],
                    false,
                )
            })
            .collect();
        s.push_str(&table(
            &["run", "status", "why", "started", "time", "command"],
            &rows,
            "runs",
        ));
    }
    Ok(page(&format!("Model {model}"), &s))
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

/// Charts of a version's curves (one per curve).
pub fn curve_charts(curves: &[(String, crate::datafile::Curves)], width: u32) -> String {
    let names: BTreeSet<&String> = curves.iter().flat_map(|(_, c)| c.keys()).collect();
    let mut s = String::from("<div class=\"grid2\">");
    for name in names {
        let series: Vec<Series> = curves
            .iter()
            .filter_map(|(who, c)| {
                c.get(name).map(|pts| Series {
                    name: if curves.len() > 1 {
                        who.clone()
                    } else {
                        name.clone()
                    },
                    points: pts.iter().filter_map(|(x, y)| y.map(|y| (*x, y))).collect(),
                    labels: vec![],
                })
            })
            .collect();
        s.push_str(&format!("<div><h3>{}</h3>", esc(name)));
        s.push_str(&svg::line_chart(
            &series,
            &[],
            &ChartOpts {
                width,
                height: 240,
                x_label: "step",
                y_label: name,
                link: None,
            },
        ));
        s.push_str("</div>");
    }
    s.push_str("</div>");
    s
}

/// The lineage graph of a version: ancestors (three generations), versions it was derived
/// from, its datasets and its code.
pub fn lineage_graph(repo: &Repo, id: &CommitId, c: &crate::Commit) -> Result<String> {
    let mut nodes = vec![Node {
        label: format!("{} (this version)", c.model),
        detail: short(id),
        kind: "version",
        href: None,
        layer: 3,
    }];
    let mut edges: Vec<(usize, usize, String)> = Vec::new();
    let mut seen: HashMap<CommitId, usize> = HashMap::new();
    seen.insert(*id, 0);
    let mut frontier = vec![(*id, c.parents.clone(), 0usize)];
    for depth in 1..=3usize {
        let mut next = Vec::new();
        for (_child, parents, child_node) in frontier {
            for p in parents {
                let node = match seen.get(&p) {
                    Some(n) => *n,
                    None => {
                        let pc = repo.read_commit(&p).ok();
                        nodes.push(Node {
                            label: pc
                                .as_ref()
                                .map(|pc| {
                                    format!(
                                        "{}: {}",
                                        pc.model,
                                        pc.message.lines().next().unwrap_or("")
                                    )
                                })
                                .unwrap_or_else(|| "unreadable commit".into()),
                            detail: format!("parent · {}", short(&p)),
                            kind: "ancestor",
                            href: Some(format!("/version/{}", p.to_hex())),
                            layer: 3 - depth,
                        });
                        let n = nodes.len() - 1;
                        seen.insert(p, n);
                        if let Some(pc) = pc {
                            next.push((p, pc.parents, n));
                        }
                        n
                    }
                };
                edges.push((node, child_node, "parent".into()));
            }
        }
        frontier = next;
    }
    for d in &c.derived_from {
        let dc = repo.read_commit(d).ok();
        nodes.push(Node {
            label: dc
                .map(|dc| format!("{} (base)", dc.model))
                .unwrap_or_else(|| "base".into()),
            detail: format!("--from · {}", short(d)),
            kind: "ancestor",
            href: Some(format!("/version/{}", d.to_hex())),
            layer: 2,
        });
        edges.push((nodes.len() - 1, 0, "derived from".into()));
    }
    for d in &c.datasets {
        nodes.push(Node {
            label: format!("dataset {}", d.name),
            detail: format!("{} · {}", d.path, d.blake3.short()),
            kind: "dataset",
            href: None,
            layer: 2,
        });
        edges.push((nodes.len() - 1, 0, "trained on".into()));
    }
    if let Some(g) = c.git.as_ref().filter(|g| g.present) {
        nodes.push(Node {
            label: format!(
                "code {}{}",
                g.branch.as_deref().unwrap_or("(detached)"),
                if g.dirty { " + changes" } else { "" }
            ),
            detail: g
                .head
                .as_deref()
                .map(|h| h.chars().take(12).collect())
                .unwrap_or_else(|| "no commits".into()),
            kind: "code",
            href: None,
            layer: 2,
        });
        edges.push((nodes.len() - 1, 0, "built from".into()));
    }
    // Columns left of the deepest used layer are empty: shift everything left.
    let min_layer = nodes.iter().map(|n| n.layer).min().unwrap_or(0);
    for n in &mut nodes {
        n.layer -= min_layer;
    }
    let edges: Vec<(usize, usize, &str)> =
        edges.iter().map(|(a, b, l)| (*a, *b, l.as_str())).collect();
    Ok(svg::graph(&nodes, &edges))
}

/// The Version page.
pub fn version(repo: &Repo, rev: &str) -> Result<String> {
    let id = repo.resolve(rev)?;
    // Every fact from the one view of a version (the CLI's `show` renders the same).
    let v = crate::ops::view::show(repo, &id)?;
    let c = &v.commit;
    let mut s = format!(
        r#"<h1>{} {} <span class="mono">{}</span></h1><p>"#,
        esc(c.model.as_str()),
        esc(&crate::versions::label(v.version)),
        esc(&short(&id))
    );
    for r in &v.refs {
        let name = r.split_once(':').map_or(r.as_str(), |(_, n)| n);
        s.push_str(&chip(name, name));
    }
    if v.archived {
        s.push_str(&chip("archived", "archived"));
    }
    if v.files_pruned {
        s.push_str(&chip("data pruned", "pruned"));
    }
    if let Some(r) = &v.data_on_remote {
        s.push_str(&chip(&format!("data on remote {r}"), "pruned"));
    }
    let _ = write!(
        s,
        r#"</p><p><b>{}</b></p><p class="muted">{} · {} · <a href="/model/{}">model {}</a> · <a href="/api/version/{}">JSON</a> · <a href="/compare?rev={}{}">compare with parent</a></p>"#,
        esc(&c.message),
        esc(&c.author),
        esc(c.created_at.as_ref()),
        enc(c.model.as_str()),
        esc(c.model.as_str()),
        enc(&id.to_hex()),
        enc(&id.to_hex()),
        c.parents
            .first()
            .map(|p| format!("&amp;rev={}", enc(&p.to_hex())))
            .unwrap_or_default()
    );
    s.push_str("<div class=\"grid2\"><div>");
    let mut params = Vec::new();
    flatten("", &c.params, &mut params);
    s.push_str("<h2>Params</h2>");
    if params.is_empty() {
        s.push_str("<p class=\"muted\">none</p>");
    } else {
        s.push_str(&kv_table(&params, ["param", "value"]));
    }
    s.push_str("<h2>Metrics</h2>");
    let metrics: Vec<(String, String)> = c
        .metrics
        .iter()
        .map(|(k, v)| (k.clone(), num(*v)))
        .collect();
    if metrics.is_empty() {
        s.push_str("<p class=\"muted\">none</p>");
    } else {
        s.push_str(&kv_table(&metrics, ["metric", "value"]));
    }
    s.push_str("</div><div><h2>Evaluations</h2>");
    let evals = &v.evaluations;
    if evals.is_empty() {
        s.push_str("<p class=\"muted\">none (<code>mreg eval</code> attaches them)</p>");
    } else {
        let rows: Vec<(Vec<String>, bool)> = evals
            .iter()
            .map(|e| {
                (
                    vec![
                        esc(&e.dataset),
                        esc(&e
                            .metrics
                            .iter()
                            .map(|(k, v)| format!("{k}={}", num(*v)))
                            .collect::<Vec<_>>()
                            .join(" ")),
                        esc(e.time.as_ref()),
                        esc(&e.author),
                    ],
                    false,
                )
            })
            .collect();
        s.push_str(&table(
            &["dataset", "metrics", "when", "who"],
            &rows,
            "evals",
        ));
    }
    // Reproduction verdicts.
    let notes = crate::notes::notes(repo, &id)?;
    let repros: Vec<(Vec<String>, bool)> = notes
        .iter()
        .filter(|(_, n)| n["kind"].as_str() == Some(crate::reproduce::NOTE_KIND))
        .map(|(_, n)| {
            let verdict = n["verdict"].as_str().unwrap_or("?");
            (
                vec![
                    format!(
                        r#"<span class="verdict-{}">{}</span>"#,
                        esc(verdict),
                        esc(verdict)
                    ),
                    esc(n["recipe"].as_str().unwrap_or("")),
                    esc(n["time"].as_str().unwrap_or("")),
                    format!("{}", n["drift"].as_array().map_or(0, |d| d.len())),
                ],
                false,
            )
        })
        .collect();
    s.push_str("<h2>Reproductions</h2>");
    if repros.is_empty() {
        s.push_str("<p class=\"muted\">never reproduced (<code>mreg reproduce REV</code>)</p>");
    } else {
        s.push_str(&table(
            &["verdict", "recipe", "when", "environment differences"],
            &repros,
            "repro",
        ));
    }
    s.push_str("</div></div>");
    // Files and datasets.
    let lost: BTreeSet<String> = v.files_missing_data.iter().cloned().collect();
    let frows: Vec<(Vec<String>, bool)> = c
        .files
        .iter()
        .map(|f| {
            (
                vec![
                    esc(&f.path),
                    format!("<span class=\"num\">{}</span>", esc(&size(f.size))),
                    format!("<span class=\"mono\">{}</span>", esc(&f.blake3.short())),
                    if lost.contains(&f.path) {
                        chip("data pruned", "pruned")
                    } else {
                        String::new()
                    },
                ],
                false,
            )
        })
        .collect();
    let _ = write!(
        s,
        "<h2>Files ({}, {})</h2>",
        c.files.len(),
        esc(&size(c.total_size()))
    );
    s.push_str(&table(&["path", "size", "blake3", ""], &frows, "files"));
    if !c.datasets.is_empty() {
        let drows: Vec<(Vec<String>, bool)> = c
            .datasets
            .iter()
            .map(|d| {
                (
                    vec![
                        esc(&d.name),
                        esc(&d.path),
                        esc(&size(d.size)),
                        format!("<span class=\"mono\">{}</span>", esc(&d.blake3.short())),
                        if d.stored.is_empty() { "" } else { "stored" }.to_string(),
                    ],
                    false,
                )
            })
            .collect();
        s.push_str("<h2>Datasets</h2>");
        s.push_str(&table(
            &["name", "path", "size", "blake3", ""],
            &drows,
            "datasets",
        ));
    }
    // Code lineage.
    s.push_str("<h2>Code</h2>");
    match &c.git {
        Some(g) if g.present => {
            let _ = write!(
                s,
                "<p>git <span class=\"mono\">{}</span> on {}{}{}</p>",
                esc(g.head.as_deref().unwrap_or("(no commits yet)")),
                esc(g.branch.as_deref().unwrap_or("(detached HEAD)")),
                g.describe
                    .as_deref()
                    .map(|d| format!(" ({})", esc(d)))
                    .unwrap_or_default(),
                g.remote_url
                    .as_deref()
                    .map(|u| format!(" · remote {}", esc(u)))
                    .unwrap_or_default()
            );
            if g.dirty {
                let _ = write!(
                    s,
                    "<p>Uncommitted changes: {}{}</p>",
                    esc(&g.modified.join(", ")),
                    if g.patch.is_some() {
                        format!(
                            r#" · <a href="/version/{}/patch">view the patch</a>"#,
                            enc(&id.to_hex())
                        )
                    } else {
                        String::new()
                    }
                );
            }
        }
        Some(g) => {
            let _ = write!(
                s,
                "<p class=\"muted\">not in a git work tree{}</p>",
                g.note
                    .as_deref()
                    .map(|n| format!(" ({})", esc(n)))
                    .unwrap_or_default()
            );
        }
        None => s.push_str("<p class=\"muted\">not recorded</p>"),
    }
    s.push_str("<h2>Lineage</h2>");
    s.push_str(&lineage_graph(repo, &id, c)?);
    if let Some(curves) = crate::ops::view::curve_points(repo, c)? {
        s.push_str("<h2>Training curves</h2>");
        s.push_str(&curve_charts(&[(short(&id), curves)], 460));
    }
    let e = &c.environment;
    let _ = write!(
        s,
        "<h2>Environment</h2><p class=\"muted\">mreg {} on {} {} ({} CPUs), host {}</p>",
        esc(&e.mreg_version),
        esc(&e.os),
        esc(&e.arch),
        e.cpus,
        esc(&e.hostname)
    );
    Ok(page(&format!("{} {}", c.model, short(&id)), &s))
}

/// The dirty patch of a version's code, as text.
pub fn patch(repo: &Repo, rev: &str) -> Result<String> {
    let id = repo.resolve(rev)?;
    let c = repo.read_commit(&id)?;
    let p = c.git.and_then(|g| g.patch).ok_or_else(|| {
        Error::PathNotInCommit(format!("{}: no patch of uncommitted code", short(&id)))
    })?;
    let bytes = repo.objects().get_kind(&p, crate::object::Kind::Blob)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// The Compare page.
pub fn compare(repo: &Repo, q: &Query) -> Result<String> {
    let revs: Vec<String> = q
        .all("rev")
        .into_iter()
        .filter(|r| !r.trim().is_empty())
        .collect();
    let only_diff = q.get("diff").is_some_and(|d| d == "1");
    let mut s = String::from("<h1>Compare versions</h1><form class=\"inline\" method=\"get\">");
    for i in 0..revs.len().max(2) + 1 {
        let _ = write!(
            s,
            r#"<input type="text" name="rev" value="{}" class="rev" placeholder="REV (clf, clf@production, id...)">"#,
            esc(revs.get(i).map(String::as_str).unwrap_or(""))
        );
    }
    let _ = write!(
        s,
        r#"<label><input type="checkbox" name="diff" value="1"{}> differences only</label><button type="submit">Compare</button></form>"#,
        if only_diff { " checked" } else { "" }
    );
    if revs.len() < 2 {
        s.push_str("<p class=\"muted\">Name two or more versions.</p>");
        return Ok(page("Compare", &s));
    }
    let ids = repo.resolve_all(&revs)?;
    let cmp = crate::ops::query::compare(repo, &ids)?;
    let header: Vec<String> = std::iter::once("key".to_string())
        .chain(ids.iter().map(short))
        .collect();
    let rows: Vec<(Vec<String>, bool)> = cmp
        .rows
        .iter()
        .map(|l| {
            let differs = l.values.windows(2).any(|w| w[0] != w[1]);
            (
                std::iter::once(esc(&l.key))
                    .chain(l.values.iter().map(|v| esc(v)))
                    .collect(),
                differs,
            )
        })
        .filter(|(_, d)| !only_diff || *d)
        .collect();
    let hdr: Vec<&str> = header.iter().map(String::as_str).collect();
    s.push_str("<p>");
    for id in &ids {
        s.push_str(&version_link(&id.to_hex(), &short(id)));
        s.push(' ');
    }
    s.push_str("</p>");
    s.push_str(&table(&hdr, &rows, "compare"));
    s.push_str("<p class=\"muted\">Highlighted rows differ.</p>");
    let mut curves = Vec::new();
    for id in &ids {
        let c = repo.read_commit(id)?;
        if let Some(cv) = crate::ops::view::curve_points(repo, &c)? {
            curves.push((short(id), cv));
        }
    }
    if !curves.is_empty() {
        s.push_str("<h2>Training curves, overlaid</h2>");
        s.push_str(&curve_charts(&curves, 560));
    }
    if ids.len() == 2 {
        let d = crate::ops::view::diff(repo, ids[0], ids[1])?;
        s.push_str(&diff_section(&d));
    }
    Ok(page("Compare", &s))
}

/// The tensor-level diff of two versions, as HTML.
pub fn diff_section(d: &crate::ops::view::VersionDiff) -> String {
    let mut s = format!(
        "<h2>Diff {} → {}</h2>",
        esc(&d.diff.old.short()),
        esc(&d.diff.new.short())
    );
    if !d.pruned.is_empty() || !d.data_on_remote.is_empty() {
        s.push_str("<p class=\"muted\">Some data is not here (pruned or on a remote): files are compared by hash only.</p>");
    }
    let mut rows = Vec::new();
    for f in &d.diff.files {
        let detail = match &f.tensors {
            Some(t) => {
                let mut parts = Vec::new();
                if !t.changed.is_empty() {
                    parts.push(format!("{} tensor(s) changed", t.changed.len()));
                }
                if !t.added.is_empty() {
                    parts.push(format!("{} added", t.added.len()));
                }
                if !t.removed.is_empty() {
                    parts.push(format!("{} removed", t.removed.len()));
                }
                if !t.reshaped.is_empty() {
                    parts.push(format!("{} reshaped", t.reshaped.len()));
                }
                parts.push(format!("{} identical", t.identical.len()));
                parts.join(", ")
            }
            None => f
                .bytes
                .as_ref()
                .map(|b| {
                    format!(
                        "{} of {} chunk(s) new",
                        b.new_chunks,
                        b.old_chunks.max(b.new_chunks)
                    )
                })
                .unwrap_or_default(),
        };
        rows.push((
            vec![
                esc(&f.path),
                esc(f.status),
                esc(&f.old_size.map(size).unwrap_or_else(|| "-".into())),
                esc(&f.new_size.map(size).unwrap_or_else(|| "-".into())),
                esc(&detail),
            ],
            f.status != "unchanged",
        ));
    }
    s.push_str(&table(
        &["file", "status", "old size", "new size", "inside"],
        &rows,
        "filediff",
    ));
    let changed: Vec<(Vec<String>, bool)> = d
        .diff
        .files
        .iter()
        .filter_map(|f| f.tensors.as_ref().map(|t| (f, t)))
        .flat_map(|(f, t)| t.changed.iter().map(move |c| (f, c)))
        .take(200)
        .map(|(f, c)| {
            (
                vec![
                    esc(&f.path),
                    esc(&c.name),
                    esc(&c.dtype),
                    esc(&format!("{:?}", c.shape)),
                    c.max_abs_diff.map(num).unwrap_or_else(|| "-".into()),
                    c.rel_l2.map(num).unwrap_or_else(|| "-".into()),
                    esc(&size(c.changed_bytes)),
                ],
                false,
            )
        })
        .collect();
    if !changed.is_empty() {
        s.push_str("<h3>Changed tensors</h3>");
        s.push_str(&table(
            &[
                "file",
                "tensor",
                "dtype",
                "shape",
                "max |Δ|",
                "relative L2",
                "bytes changed",
            ],
            &changed,
            "tensors",
        ));
    }
    let vals: Vec<(Vec<String>, bool)> = d
        .diff
        .params
        .iter()
        .map(|c| ("params.", c))
        .chain(d.diff.metrics.iter().map(|c| ("metrics.", c)))
        .map(|(p, c)| {
            let show = |v: &Option<serde_json::Value>| match v {
                Some(serde_json::Value::String(s)) => esc(s),
                Some(v) => esc(&v.to_string()),
                None => "-".into(),
            };
            (
                vec![
                    esc(&format!("{p}{}", c.key)),
                    show(&c.old),
                    show(&c.new),
                    c.delta.map(num).unwrap_or_default(),
                ],
                false,
            )
        })
        .collect();
    if !vals.is_empty() {
        s.push_str("<h3>Params and metrics that changed</h3>");
        s.push_str(&table(&["key", "old", "new", "Δ"], &vals, "valdiff"));
    }
    s
}

/// The History page: every ref move, filterable by alias, and "what was ALIAS on DATE".
pub fn history(repo: &Repo, name: &str, q: &Query) -> Result<String> {
    let model = require_model(repo, name)?;
    let alias = q.get("alias").filter(|a| !a.is_empty());
    let key = match &alias {
        Some(a) => Some(RefName::Alias(crate::names::AliasName::new(a)?)),
        None => None,
    };
    let (entries, _) = repo.model_log(&model).entries()?;
    let aliases: BTreeSet<String> = entries
        .iter()
        .flat_map(|e| e.changes.iter())
        .filter_map(|c| match &c.name {
            RefName::Alias(a) => Some(a.to_string()),
            _ => None,
        })
        .collect();
    let mut s = format!(
        r#"<h1>History of {}</h1><form class="inline" method="get"><label>alias <select name="alias"><option value="">(every ref)</option>"#,
        esc(model.as_str())
    );
    for a in &aliases {
        let _ = write!(
            s,
            r#"<option value="{}"{}>{}</option>"#,
            esc(a),
            if alias.as_deref() == Some(a) {
                " selected"
            } else {
                ""
            },
            esc(a)
        );
    }
    let at = q.get("at").filter(|a| !a.is_empty());
    let _ = write!(
        s,
        r#"</select></label><label>at <input type="text" name="at" value="{}" placeholder="2026-03-03 or RFC 3339"></label><button type="submit">Show</button></form>"#,
        esc(at.as_deref().unwrap_or(""))
    );
    if let Some(at) = &at {
        let t = crate::ops::query::parse_time_bound(at, true)?;
        let entry = crate::history::entry_at(&entries, t);
        let state = entry.map(|e| e.state.clone()).unwrap_or_default();
        s.push_str("<h2>At that time</h2>");
        let refs: Vec<(Vec<String>, bool)> = state
            .refs()
            .into_iter()
            .filter(|(r, _)| key.as_ref().is_none_or(|k| k == r))
            .map(|(r, id)| {
                (
                    vec![esc(&r.to_string()), version_link(&id.to_hex(), &id.short())],
                    false,
                )
            })
            .collect();
        if refs.is_empty() {
            let _ = write!(
                s,
                "<p>{} was not set at {}.</p>",
                esc(alias.as_deref().unwrap_or("nothing")),
                esc(at)
            );
        } else {
            s.push_str(&table(&["ref", "version"], &refs, "at"));
        }
        if let Some(e) = entry {
            let _ = write!(
                s,
                "<p class=\"muted\">as of entry #{}: {} by {} at {}</p>",
                e.seq,
                esc(&e.action.to_string()),
                esc(&e.author),
                esc(e.time.as_ref())
            );
        }
    }
    let rows: Vec<(Vec<String>, bool)> = crate::history::moves_of(&entries, key.as_ref())
        .into_iter()
        .rev()
        .take(1000)
        .map(|e| {
            let changes: Vec<String> = e
                .changes
                .iter()
                .filter(|c| key.as_ref().is_none_or(|k| &c.name == k))
                .map(|c| {
                    format!(
                        "{} {} → {}",
                        esc(&c.name.to_string()),
                        c.old
                            .map(|o| version_link(&o.to_hex(), &o.short()))
                            .unwrap_or_else(|| "-".into()),
                        c.new
                            .map(|n| version_link(&n.to_hex(), &n.short()))
                            .unwrap_or_else(|| "-".into())
                    )
                })
                .collect();
            (
                vec![
                    format!("#{}", e.seq),
                    esc(e.time.as_ref()),
                    esc(&e.author),
                    esc(&e.action.to_string()),
                    changes.join("<br>"),
                    esc(&e.message),
                ],
                false,
            )
        })
        .collect();
    let _ = write!(s, "<h2>Moves ({})</h2>", rows.len());
    s.push_str(&table(
        &["#", "when", "who", "action", "from → to", "why"],
        &rows,
        "history",
    ));
    Ok(page(&format!("History of {model}"), &s))
}
