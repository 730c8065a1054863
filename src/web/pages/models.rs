//! The Models page: every model with its head, aliases, best value and trend.

use super::*;

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
