//! The History page: every move of a model's refs, who, when and why.

use super::*;

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
        let then = crate::ops::view::refs_at(repo, &model, at, None)?;
        s.push_str("<h2>At that time</h2>");
        let state = match &then.refs {
            crate::ops::view::RefsThen::All(state) => state.clone(),
            crate::ops::view::RefsThen::Alias(_) => Default::default(),
        };
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
        if let Some(e) = &then.set_by {
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
    let alias_name = match &key {
        Some(RefName::Alias(a)) => Some(a.clone()),
        _ => None,
    };
    let rows: Vec<(Vec<String>, bool)> =
        crate::ops::view::history(repo, &model, alias_name.as_ref())?
            .into_iter()
            .rev()
            .take(1000)
            .map(|item| {
                let e = &item.entry;
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
                        format!("{}{}", esc(&e.message), unpublished_mark(&item)),
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

/// The mark of a move a remote refused, as `mreg history` prints it.
fn unpublished_mark(item: &crate::ops::view::HistoryItem) -> String {
    if !item.never_published.is_empty() {
        format!(
            r#" <span class="muted">[never published: {} took another move]</span>"#,
            esc(&item.never_published.join(", "))
        )
    } else if !item.only_version_published.is_empty() {
        format!(
            r#" <span class="muted">[only its version was published on {}: its other moves conflicted]</span>"#,
            esc(&item.only_version_published.join(", "))
        )
    } else {
        String::new()
    }
}
