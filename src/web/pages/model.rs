//! The Model page: timeline of alias moves, the metric chart, the filterable version table
//! and the runs that made no version.

use super::*;

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
pub fn model(repo: &Repo, name: &str, q: &Query, access: Access) -> Result<String> {
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
            integer_x: true,
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
    s.push_str(&super::live::section(repo, &model)?);
    s.push_str(&super::decide::model_forms(repo, &model, access)?);
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
    let failed = crate::ops::runs::failed(repo, &model)?;
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
                        match r.log_bytes {
                            Some(n) => format!(
                                r#"<a href="/run/{}/log">log</a> <span class="muted">{}</span>"#,
                                enc(&r.id),
                                esc(&size(n))
                            ),
                            None => "-".into(),
                        },
                    ],
                    false,
                )
            })
            .collect();
        s.push_str(&table(
            &[
                "run", "status", "why", "started", "time", "command", "output",
            ],
            &rows,
            "runs",
        ));
    }
    Ok(page(&format!("Model {model}"), &s))
}
