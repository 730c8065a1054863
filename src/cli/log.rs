//! `mreg log`: list commits, newest first.

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
    let items = mreg::ops::view::log(&repo, a.model.as_deref(), a.max)?;
    if a.json {
        let v = &items;
        return Ok(Output::ok(super::json(&v)));
    }
    if items.is_empty() {
        // On stderr: stdout stays empty for scripts, a person learns why.
        ctx.note(format_args!(
            "no versions yet: `mreg commit FILE --model NAME` records the first"
        ));
    }
    let mut s = String::new();
    for item in &items {
        let (id, c) = (&item.id, &item.commit);
        let head = if item.refs.is_empty() {
            String::new()
        } else {
            format!(" ({})", item.refs.join(", "))
        };
        let pruned = match (item.pruned, item.archived) {
            (true, true) => " [archived, files pruned]",
            (true, false) => " [files pruned]",
            (false, true) => " [archived]",
            (false, false) => "",
        };
        let number = mreg::versions::label(item.version);
        if a.oneline {
            let m = fmt::metrics_inline(c);
            s.push_str(&format!(
                "{} {:<8} {:<12} {} {}{}{}{}\n",
                id.short(),
                number,
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
        s.push_str(&format!("Model:  {} {number}\n", c.model));
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
        for e in &item.evaluations {
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
