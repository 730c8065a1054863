//! `mreg log`: list commits, newest first.

use mreg::{gc_marks, Commit, ModelName, ObjectId};

use super::{fmt, Ctx, Output};

/// Show the commits of a model (or of every model), newest first.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Model to show (default: every model).
    model: Option<String>,

    /// Show at most N commits.
    #[arg(short = 'n', long = "max-count", value_name = "N")]
    max: Option<usize>,

    /// One line per commit.
    #[arg(long)]
    oneline: bool,

    /// Print commits as a JSON array.
    #[arg(long)]
    json: bool,
}

pub fn run(ctx: &Ctx, a: Args) -> mreg::Result<Output> {
    let repo = ctx.repo()?;
    let models = match &a.model {
        Some(m) => {
            let m = ModelName::new(m)?;
            if !repo.model_exists(&m) {
                return Err(mreg::Error::UnknownModel(m.to_string()));
            }
            vec![m]
        }
        None => repo.models()?,
    };
    let mut all: Vec<(ObjectId, Commit)> = Vec::new();
    // Refs pointing at each commit, for decoration: (head, production, v1.0).
    let mut decor: std::collections::HashMap<ObjectId, Vec<String>> = Default::default();
    let mut archived = std::collections::HashSet::new();
    let mut depth: std::collections::HashMap<ObjectId, usize> = Default::default();
    let mut evals: std::collections::HashMap<ObjectId, Vec<serde_json::Value>> = Default::default();
    for m in &models {
        for (r, id) in repo.model_state(m)?.refs() {
            let r = r
                .trim_start_matches("alias:")
                .trim_start_matches("tag:")
                .to_string();
            decor.entry(id).or_default().push(r);
        }
        let (entries, _) = repo.model_log(m).entries()?;
        archived.extend(mreg::refs::archived_in(&entries));
        for (commit, notes) in mreg::notes::model_notes(&entries) {
            for n in notes {
                let note = mreg::notes::read(&repo, &n)?;
                if note.get("kind").and_then(|k| k.as_str()) == Some("evaluation") {
                    evals.entry(commit).or_default().push(note);
                }
            }
        }
        let chain = repo.model_chain(m)?;
        let n = chain.len();
        for (i, (id, _)) in chain.iter().enumerate() {
            depth.insert(*id, n - i);
        }
        all.extend(chain);
    }
    // Newest first; within one second, a model's own chain order decides, then the id.
    all.sort_by(|a, b| {
        b.1.created_at
            .cmp(&a.1.created_at)
            .then(depth[&b.0].cmp(&depth[&a.0]))
            .then(b.0.cmp(&a.0))
    });
    if let Some(n) = a.max {
        all.truncate(n);
    }
    if a.json {
        let v: Vec<_> = all
            .iter()
            .map(|(id, c)| {
                let mut v = fmt::commit_json(id, c, gc_marks::is_pruned(&repo, id));
                v["refs"] = serde_json::json!(decor.get(id).cloned().unwrap_or_default());
                v["archived"] = serde_json::json!(archived.contains(id));
                v["evaluations"] = serde_json::json!(evals.get(id).cloned().unwrap_or_default());
                v
            })
            .collect();
        return Ok(Output::ok(super::json(&v)));
    }
    let mut s = String::new();
    for (id, c) in &all {
        let head = match decor.get(id) {
            Some(r) => format!(" ({})", r.join(", ")),
            None => String::new(),
        };
        let pruned = match (gc_marks::is_pruned(&repo, id), archived.contains(id)) {
            (true, true) => " [archived, files pruned]",
            (true, false) => " [files pruned]",
            (false, true) => " [archived]",
            (false, false) => "",
        };
        if a.oneline {
            let m = fmt::metrics_inline(c);
            s.push_str(&format!(
                "{} {:<12} {} {}{}{}{}\n",
                id.short(),
                c.model,
                &c.created_at,
                fmt::subject(&c.message),
                if m.is_empty() {
                    String::new()
                } else {
                    format!("  [{m}]")
                },
                head,
                pruned
            ));
            continue;
        }
        s.push_str(&format!("commit {id}{head}{pruned}\n"));
        s.push_str(&format!("Model:  {}\n", c.model));
        s.push_str(&format!("Author: {}\n", c.author));
        s.push_str(&format!("Date:   {}\n", c.created_at));
        s.push_str(&format!(
            "Files:  {} ({})\n",
            c.files.len(),
            fmt::size(c.total_size())
        ));
        let m = fmt::metrics_inline(c);
        if !m.is_empty() {
            s.push_str(&format!("Metrics: {m}\n"));
        }
        for e in evals.get(id).into_iter().flatten() {
            let ds = e.get("dataset").and_then(|d| d.as_str()).unwrap_or("?");
            let ms: Vec<String> = e
                .get("metrics")
                .and_then(|m| m.as_object())
                .into_iter()
                .flatten()
                .map(|(k, v)| format!("{k}={}", v.as_f64().map(fmt::num).unwrap_or_default()))
                .collect();
            s.push_str(&format!("Eval:   {ds}: {}\n", ms.join(" ")));
        }
        s.push('\n');
        for line in c.message.lines() {
            s.push_str(&format!("    {line}\n"));
        }
        if !c.message.is_empty() {
            s.push('\n');
        }
    }
    Ok(Output::ok(s))
}
