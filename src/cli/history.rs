//! `mreg history`: every move of a model's refs.

use mreg::ops::view::RefsThen;
use mreg::ModelName;

use super::{Ctx, Output};

/// Show every move of a model's head, aliases and tags: who, when, what, why.
///
/// Examples:
///   mreg history mnist --alias production
///   mreg history mnist --alias production --at 2026-03-03     # what was production then?
#[derive(clap::Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct Args {
    model: String,
    /// Only moves of this alias.
    #[arg(long)]
    alias: Option<String>,
    /// Resolve at a point in time (RFC 3339, or a date meaning the end of that day, UTC).
    #[arg(long, value_name = "TIME")]
    at: Option<String>,
    #[arg(long)]
    json: bool,
}

fn id_str(id: &Option<mreg::id::CommitId>) -> String {
    id.map_or_else(|| "-".to_string(), |i| i.short())
}

pub fn run(ctx: &Ctx, a: Args) -> mreg::Result<Output> {
    let repo = ctx.repo()?;
    let model = ModelName::new(&a.model)?;
    let alias = a
        .alias
        .as_deref()
        .map(mreg::names::AliasName::new)
        .transpose()?;
    if let Some(at) = &a.at {
        let v = mreg::ops::view::refs_at(&repo, &model, at, alias.as_ref())?;
        if a.json {
            return Ok(Output::ok(super::json(&v)));
        }
        let mut s = String::new();
        match &v.refs {
            RefsThen::Alias(one) => {
                for (al, id) in one {
                    match id {
                        Some(id) => s.push_str(&format!("{model}@{al} at {at}: {}\n", id.short())),
                        None => s.push_str(&format!("{model}@{al} at {at}: not set\n")),
                    }
                }
            }
            RefsThen::All(state) => {
                for (r, id) in state.refs() {
                    s.push_str(&format!("{:<20} {}\n", r.to_string(), id.short()));
                }
            }
        }
        if let Some(e) = &v.set_by {
            let why = if e.message.is_empty() {
                String::new()
            } else {
                format!(": {}", e.message)
            };
            s.push_str(&format!(
                "(as of entry {}: {} by {} at {}{why})\n",
                e.seq, e.action, e.author, e.time
            ));
        }
        return Ok(Output::ok(s));
    }
    let key = alias.clone().map(mreg::history::RefName::Alias);
    let items = mreg::ops::view::history(&repo, &model, alias.as_ref())?;
    if a.json {
        return Ok(Output::ok(super::json(&items)));
    }
    let mut rows = Vec::new();
    for item in items.iter().rev() {
        let e = &item.entry;
        let changes: Vec<String> = e
            .changes
            .iter()
            .filter(|c| key.as_ref().is_none_or(|k| &c.name == k))
            .map(|c| format!("{} {} -> {}", c.name, id_str(&c.old), id_str(&c.new)))
            .chain(
                e.extra
                    .iter()
                    // The refs a move relied on (for compare-and-swap): not news.
                    .filter(|(k, _)| k.as_str() != mreg::history::UNCHANGED)
                    .map(|(k, v)| format!("{k} {}", extra_value(v))),
            )
            .collect();
        rows.push(vec![
            format!("#{}", e.seq),
            e.time.to_string(),
            e.action.to_string(),
            e.author.clone(),
            format!(
                "{}{}{}",
                changes.join(", "),
                if e.message.is_empty() {
                    String::new()
                } else {
                    format!("  \"{}\"", e.message)
                },
                if !item.never_published.is_empty() {
                    format!(
                        "  [never published: {} took another move]",
                        item.never_published.join(", ")
                    )
                } else if !item.only_version_published.is_empty() {
                    format!(
                        "  [only its version was published on {}: its other moves conflicted]",
                        item.only_version_published.join(", ")
                    )
                } else {
                    String::new()
                }
            ),
        ]);
    }
    Ok(Output::ok(super::fmt::table(&rows)))
}

/// An extra fact of a history line: ids shortened, anything else (labels...) in full.
fn extra_value(v: &serde_json::Value) -> String {
    if let Some(items) = v.as_array() {
        return items.iter().map(extra_value).collect::<Vec<_>>().join(" ");
    }
    match v.as_str() {
        Some(t) => match mreg::ObjectId::from_hex(t) {
            Some(id) => id.short(),
            None => t.to_string(),
        },
        None => v.to_string(),
    }
}
