//! `mreg history`: every move of a model's refs.

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
    repo.require_model(&model)?;
    if let Some(al) = &a.alias {
        mreg::names::validate_name("alias", al)?;
    }
    let (entries, _) = repo.model_log(&model).entries()?;
    let key = a
        .alias
        .as_ref()
        .map(|al| mreg::names::AliasName::new(al).map(mreg::history::RefName::Alias))
        .transpose()?;
    if let Some(at) = &a.at {
        let t = mreg::ops::query::parse_time_bound(at, true)?;
        let at_entry = mreg::history::entry_at(&entries, t);
        let state = at_entry.map(|e| e.state.clone()).unwrap_or_default();
        let value = match &a.alias {
            Some(al) => serde_json::json!({ al: state.aliases.get(al.as_str()) }),
            None => serde_json::to_value(&state).expect("serializes"),
        };
        if a.json {
            return Ok(Output::ok(super::json(&serde_json::json!({
                "model": model, "at": at, "refs": value,
                "set_by": at_entry.map(|e| serde_json::json!({
                    "seq": e.seq, "time": e.time, "author": e.author,
                    "action": e.action, "message": e.message})),
            }))));
        }
        let mut s = String::new();
        match &a.alias {
            Some(al) => match state.aliases.get(al.as_str()) {
                Some(id) => s.push_str(&format!("{model}@{al} at {at}: {}\n", id.short())),
                None => s.push_str(&format!("{model}@{al} at {at}: not set\n")),
            },
            None => {
                for (r, id) in state.refs() {
                    s.push_str(&format!("{:<20} {}\n", r.to_string(), id.short()));
                }
            }
        }
        if let Some(e) = at_entry {
            s.push_str(&format!(
                "(as of entry {}: {} {})\n",
                e.seq,
                e.action,
                e.attribution()
            ));
        }
        return Ok(Output::ok(s));
    }
    let selected = mreg::history::moves_of(&entries, key.as_ref());
    let refused = mreg::remote::never_published(&repo, &model)?;
    if a.json {
        let v: Vec<serde_json::Value> = selected
            .iter()
            .map(|e| {
                let mut v = serde_json::to_value(e).expect("serializes");
                if let Some(r) = refused.get(&e.seq) {
                    if !r.remotes.is_empty() {
                        v["never_published"] = serde_json::json!(r.remotes);
                    }
                    if !r.version_only.is_empty() {
                        v["only_version_published"] = serde_json::json!(r.version_only);
                    }
                }
                v
            })
            .collect();
        return Ok(Output::ok(super::json(&v)));
    }
    let mut rows = Vec::new();
    for e in selected.iter().rev() {
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
                match refused.get(&e.seq) {
                    Some(r) if !r.remotes.is_empty() => format!(
                        "  [never published: {} took another move]",
                        r.remotes.join(", ")
                    ),
                    Some(r) => format!(
                        "  [only its version was published on {}: its other moves conflicted]",
                        r.version_only.join(", ")
                    ),
                    None => String::new(),
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
