//! `mreg log`: list commits, newest first.

use mreg::id::CommitId;
use mreg::{Commit, ModelName};

use super::{fmt, Ctx, Output};

/// Show the commits of a model (or of every model), newest first.
///
/// Like git, log follows the parent chain from the head (or from REV), so a commit made on
/// a machine with a skewed clock never reorders a model's history. Several models are
/// interleaved by time, each in its own chain order.
///
/// Examples:
///   mreg log mnist
///   mreg log mnist@production -n 5     # production and what came before it
///   mreg log --oneline
#[derive(clap::Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// A model, or any revision to start from (default: every model).
    #[arg(value_name = "MODEL|REV")]
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
    // One chain per model (or the chain from a revision), each newest first by parents.
    let mut chains: Vec<Vec<(CommitId, Commit)>> = Vec::new();
    let models = match &a.model {
        Some(arg) => match ModelName::new(arg).ok().filter(|m| repo.model_exists(m)) {
            Some(m) => {
                chains.push(repo.model_chain(&m)?);
                vec![m]
            }
            None => {
                let start = repo.resolve(arg).map_err(|e| match e {
                    // A bare name that is neither a model, a tag nor an id: say "model".
                    mreg::Error::UnknownRevision(_) if ModelName::new(arg).is_ok() => {
                        mreg::Error::UnknownModel(arg.clone())
                    }
                    e => e,
                })?;
                let chain = repo.chain_from(start)?;
                let m = chain
                    .first()
                    .map(|(_, c)| c.model.clone())
                    .ok_or_else(|| mreg::Error::UnknownRevision(arg.clone()))?;
                chains.push(chain);
                vec![m]
            }
        },
        None => {
            let ms = repo.models()?;
            for m in &ms {
                chains.push(repo.model_chain(m)?);
            }
            ms
        }
    };
    // Refs pointing at each commit, for decoration: (head, production, v1.0).
    let mut decor: std::collections::HashMap<CommitId, Vec<String>> = Default::default();
    let mut archived = std::collections::HashSet::new();
    let mut evals: std::collections::HashMap<CommitId, Vec<mreg::ops::eval::EvaluationNote>> =
        Default::default();
    for m in &models {
        for (r, id) in repo.model_state(m)?.refs() {
            decor
                .entry(mreg::id::CommitId(*id))
                .or_default()
                .push(r.short().to_string());
        }
        let (entries, _) = repo.model_log(m).entries()?;
        archived.extend(mreg::refs::archived_in(&entries));
        for (commit, es) in mreg::ops::eval::model_evaluations(&repo, &entries)? {
            evals
                .entry(mreg::id::CommitId(*commit))
                .or_default()
                .extend(es);
        }
    }
    // Merge the chains newest first by time, never reordering within a chain (as git's
    // date order does): at each step, the chain whose next commit is newest goes.
    let mut all: Vec<(CommitId, Commit)> = Vec::new();
    let mut next: Vec<std::iter::Peekable<std::vec::IntoIter<(CommitId, Commit)>>> = chains
        .into_iter()
        .map(|c| c.into_iter().peekable())
        .collect();
    loop {
        let pick = next
            .iter_mut()
            .enumerate()
            .filter_map(|(i, it)| it.peek().map(|(id, c)| (i, c.created_at.clone(), *id)))
            .max_by(|a, b| a.1.cmp(&b.1).then(a.2.cmp(&b.2)).then(b.0.cmp(&a.0)));
        match pick {
            Some((i, _, _)) => all.push(next[i].next().expect("peeked")),
            None => break,
        }
    }
    if let Some(n) = a.max {
        all.truncate(n);
    }
    if a.json {
        let v: Vec<_> = all
            .iter()
            .map(|(id, c)| {
                let mut v = fmt::commit_json(id, c, repo.is_pruned(id));
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
        let pruned = match (repo.is_pruned(id), archived.contains(id)) {
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
            let ms: Vec<String> = e
                .metrics
                .iter()
                .map(|(k, v)| format!("{k}={}", fmt::num(*v)))
                .collect();
            s.push_str(&format!("Eval:   {}: {}\n", e.dataset, ms.join(" ")));
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
