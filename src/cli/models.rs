//! `mreg models`: the models of a store.

use super::{fmt, Ctx, Output};

/// List the models of the store: head, aliases, tags, number of versions, last change.
///
/// Examples:
///   mreg models
///   mreg models --json | jq '.[].model'
#[derive(clap::Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// Only models with this label (`mreg describe MODEL --label L`); repeatable.
    #[arg(long = "label", value_name = "LABEL")]
    labels: Vec<String>,
    #[arg(long)]
    json: bool,
}

pub fn run(ctx: &Ctx, a: Args) -> mreg::Result<Output> {
    let repo = ctx.repo()?;
    let mut models = mreg::refs::model_summaries(&repo)?;
    models.retain(|m| a.labels.iter().all(|l| m.labels.contains(l)));
    if a.json {
        return Ok(Output::ok(super::json(&models)));
    }
    if models.is_empty() {
        return Ok(Output::ok(
            "no models yet: `mreg commit PATH --model NAME` records the first version\n".into(),
        ));
    }
    let mut rows = vec![vec![
        "MODEL".to_string(),
        "HEAD".into(),
        "VERSIONS".into(),
        "ALIASES".into(),
        "LAST CHANGE".into(),
        "DESCRIPTION".into(),
    ]];
    for m in &models {
        let mut refs: Vec<String> = m
            .aliases
            .iter()
            .map(|(k, v)| format!("{k}={}", v.short()))
            .collect();
        refs.extend(m.tags.iter().map(|(k, v)| format!("tag {k}={}", v.short())));
        rows.push(vec![
            m.model.to_string(),
            m.head.map(|h| h.short()).unwrap_or_else(|| "-".into()),
            if m.archived > 0 {
                format!("{} ({} archived)", m.versions, m.archived)
            } else {
                m.versions.to_string()
            },
            if refs.is_empty() {
                "-".into()
            } else {
                refs.join(" ")
            },
            match (&m.last_change, &m.last_action, &m.last_author) {
                (Some(t), Some(a), Some(w)) => format!("{t} {a} by {w}"),
                _ => "-".into(),
            },
            {
                let mut d = fmt::subject(m.description.as_deref().unwrap_or("")).to_string();
                if !m.labels.is_empty() {
                    let l: Vec<&str> = m.labels.iter().map(String::as_str).collect();
                    d = format!("{d} [{}]", l.join(", ")).trim().to_string();
                }
                if d.is_empty() {
                    "-".into()
                } else {
                    d
                }
            },
        ]);
    }
    Ok(Output::ok(fmt::table(&rows)))
}
