//! `mreg lineage`: where a version came from and what came from it.

use super::{Ctx, Output};

/// Show a version's lineage: ancestors (parents, --from bases), datasets, the code commit
/// and uncommitted changes it was trained with, and its descendants.
///
/// Examples:
///   mreg lineage mnist@production
///   mreg lineage mnist --dot | dot -Tsvg > lineage.svg
///   mreg lineage mnist --mermaid
#[derive(clap::Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct Args {
    rev: String,
    #[arg(long, conflicts_with_all = ["dot", "mermaid"])]
    json: bool,
    /// Graphviz DOT output.
    #[arg(long, conflicts_with = "mermaid")]
    dot: bool,
    /// Mermaid flowchart output.
    #[arg(long)]
    mermaid: bool,
}

pub fn run(ctx: &Ctx, a: Args) -> mreg::Result<Output> {
    let repo = ctx.repo()?;
    let id = repo.resolve(&a.rev)?;
    let g = mreg::lineage::lineage(&repo, id)?;
    if a.json {
        return Ok(Output::ok(super::json(&g)));
    }
    if a.dot {
        return Ok(Output::ok(g.to_dot()));
    }
    if a.mermaid {
        return Ok(Output::ok(g.to_mermaid()));
    }
    let label = |k: &str| {
        g.nodes
            .iter()
            .find(|n| n.key == k)
            .map(|n| n.label.clone())
            .unwrap_or_else(|| k.to_string())
    };
    let mut s = format!("{}\n", label(&g.focus));
    let c = repo.read_commit(&id)?;
    if let Some(git) = &c.git {
        if git.present {
            s.push_str(&format!(
                "  code: {} {}{}\n",
                git.head.as_deref().unwrap_or("(no commits yet)"),
                git.branch
                    .as_deref()
                    .map(|b| format!("on {b}"))
                    .unwrap_or_else(|| "(detached)".into()),
                if git.dirty {
                    format!(", dirty: {}", git.modified.join(", "))
                } else {
                    String::new()
                }
            ));
            if let Some(p) = git.patch {
                s.push_str(&format!(
                    "  uncommitted changes: patch {p} (mreg cat-object {})\n",
                    p.short()
                ));
            }
        } else {
            s.push_str("  code: not in a git work tree\n");
        }
    }
    for e in &g.edges {
        let rel = match e.kind {
            "parent" if e.to == g.focus => "parent",
            "from" if e.to == g.focus => "derived from",
            "data" => "trained on",
            "code" => continue,
            "pinned" => "pinned by",
            _ if e.from == g.focus => "child",
            _ => continue,
        };
        let other = if e.to == g.focus { &e.from } else { &e.to };
        s.push_str(&format!("  {rel}: {}\n", label(other)));
    }
    // The counts of the graph --dot and --mermaid draw (every node and edge), so the two
    // never disagree.
    s.push_str(&format!(
        "({} nodes, {} edges; --dot or --mermaid for the whole graph)\n",
        g.nodes.len(),
        g.edges.len()
    ));
    Ok(Output::ok(s))
}
