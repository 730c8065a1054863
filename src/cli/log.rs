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
    let mut heads = std::collections::HashMap::new();
    for m in &models {
        if let Some(h) = repo.model_state(m)?.head {
            heads.insert(h, m.clone());
        }
        all.extend(repo.model_chain(m)?);
    }
    // Newest first; ties broken by id for a stable order.
    all.sort_by(|a, b| b.1.created_at.cmp(&a.1.created_at).then(b.0.cmp(&a.0)));
    if let Some(n) = a.max {
        all.truncate(n);
    }
    if a.json {
        let v: Vec<_> = all
            .iter()
            .map(|(id, c)| fmt::commit_json(id, c, gc_marks::is_pruned(&repo, id)))
            .collect();
        return Ok(Output::ok(super::json(&v)));
    }
    let mut s = String::new();
    for (id, c) in &all {
        let head = if heads.contains_key(id) { " (head)" } else { "" };
        let pruned = if gc_marks::is_pruned(&repo, id) { " [files pruned]" } else { "" };
        if a.oneline {
            let m = fmt::metrics_inline(c);
            s.push_str(&format!(
                "{} {:<12} {} {}{}{}{}\n",
                id.short(),
                c.model,
                &c.created_at,
                fmt::subject(&c.message),
                if m.is_empty() { String::new() } else { format!("  [{m}]") },
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
