//! The Models page: every model with its head, aliases, best value and trend.

use super::*;
use crate::query::columns::column_of;

/// Metric names shown by default when a model has no policy, best first: the usual
/// quality measures, then losses. (Any key with more versions would be arbitrary: a
/// constant like `architecture.layers` is in every version.)
const USUAL_METRICS: [&str; 12] = [
    "acc",
    "accuracy",
    "val_acc",
    "val_accuracy",
    "f1",
    "auc",
    "top1",
    "map",
    "bleu",
    "r2",
    "val_loss",
    "loss",
];

/// The metric keys (`metrics.*`, `eval.*`) a model's versions have, most common first.
fn metric_keys_of(cols: &crate::query::columns::Columns) -> Vec<String> {
    let mut v: Vec<(String, usize)> = cols
        .names()
        .filter(|n| n.starts_with("metrics.") || n.starts_with("eval."))
        .map(|n| (n.to_string(), cols.count(n)))
        .filter(|(_, c)| *c > 0)
        .collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v.into_iter().map(|(k, _)| k).collect()
}

/// The metric shown for a model without a policy: a usual measure if it has one, else its
/// most common metric.
fn default_metric(keys: &[String]) -> Option<String> {
    USUAL_METRICS
        .iter()
        .find_map(|u| {
            keys.iter()
                .find(|k| k.rsplit('.').next() == Some(u))
                .cloned()
        })
        .or_else(|| keys.first().cloned())
}

/// The Models page. `?metric=KEY` shows that metric for every model (`&goal=min|max`;
/// default: min for loss-like names); otherwise each model's policy metric, else a usual
/// measure it has.
pub fn models(repo: &Repo, q: &Query) -> Result<String> {
    let sums = crate::refs::model_summaries(repo)?;
    let chosen = match q.get("metric").filter(|m| !m.trim().is_empty()) {
        Some(m) => {
            let key =
                Key::parse_ranking(m.trim()).map_err(|why| crate::error::QueryError::BadKey {
                    option: "metric".into(),
                    why,
                })?;
            let minimize = match q.get("goal").as_deref() {
                Some("min") => true,
                Some("max") => false,
                _ => crate::recipe::lower_is_better(&key.text()),
            };
            Some((key, minimize))
        }
        None => None,
    };
    let mut all_keys: BTreeSet<String> = BTreeSet::new();
    let mut rows = Vec::new();
    for s in &sums {
        // The index's columns: metric columns and the shown key's, no row parsed (a
        // registry of a million versions opens in a fraction of a second).
        let policy = policy_key(repo, &s.model);
        let cols = crate::index::columns(repo, &s.model, &|names| {
            let mut pick: BTreeSet<String> = names
                .iter()
                .filter(|n| n.starts_with("metrics.") || n.starts_with("eval."))
                .map(|n| n.to_string())
                .collect();
            pick.extend(chosen.iter().chain(&policy).map(|(k, _)| column_of(k)));
            pick
        })?;
        let keys = metric_keys_of(&cols);
        all_keys.extend(keys.iter().cloned());
        let (key, minimize) = match (&chosen, policy) {
            (Some((k, min)), _) => (Some(k.clone()), *min),
            (None, Some((k, min))) => (Some(k), min),
            (None, None) => {
                let k = default_metric(&keys).and_then(|k| Key::parse(&k).ok());
                let min = k
                    .as_ref()
                    .is_some_and(|k| crate::recipe::lower_is_better(&k.text()));
                (k, min)
            }
        };
        let (best, trend) = match &key {
            Some(k) => {
                // Oldest first.
                let vals: Vec<f64> = (0..cols.len())
                    .rev()
                    .filter_map(|i| k.number(&cols.at(i)))
                    .collect();
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
    let current = q.get("metric").unwrap_or_default();
    let mut form = String::from(
        r#"<form class="inline" method="get"><label>metric <select name="metric"><option value="">(each model's policy, else a usual measure)</option>"#,
    );
    for k in &all_keys {
        let _ = write!(
            form,
            r#"<option value="{}"{}>{}</option>"#,
            esc(k),
            if current.trim() == k.as_str() {
                " selected"
            } else {
                ""
            },
            esc(k)
        );
    }
    form.push_str(r#"</select></label><button type="submit">Show</button></form>"#);
    let body = if rows.is_empty() {
        "<h1>Models</h1><p class=\"muted\">This store has no models yet: <code>mreg commit FILE --model NAME</code> creates one.</p>".to_string()
    } else {
        format!(
            "<h1>Models</h1>{form}{}",
            table(
                &[
                    "model",
                    "head",
                    "aliases",
                    "versions",
                    "best",
                    "trend over versions",
                    "last change",
                ],
                &rows,
                "models"
            )
        )
    };
    let body = body + &super::live::overview(repo)?;
    Ok(page("Models", &body))
}
