//! The lineage graph of a version: where it came from and what came from it.
//!
//! Nodes are commits, datasets and code commits; edges say how they relate: `parent` (the
//! model's previous version), `from` (derived from, e.g. a base model fine-tuned), `data`
//! (trained on), `code` (trained from this git commit, possibly with a dirty patch) and
//! `pinned` (a git commit whose lock file pinned the version, from notes). Ancestors are
//! followed to the roots; descendants are found by scanning every model's history.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::Serialize;

use crate::error::Result;
use crate::id::CommitId;
use crate::repo::Repo;

#[derive(Clone, Debug, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct Node {
    pub key: String,
    /// commit, dataset, code
    pub kind: &'static str,
    pub label: String,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct Edge {
    pub from: String,
    pub to: String,
    /// parent, from, data, code, pinned
    pub kind: &'static str,
}

#[derive(Clone, Debug, Serialize)]
pub struct Graph {
    pub focus: String,
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
}

fn commit_label(id: &CommitId, c: &crate::Commit) -> String {
    let subject = c.message.lines().next().unwrap_or("");
    if subject.is_empty() {
        format!("{}@{}", c.model, id.short())
    } else {
        format!("{}@{}: {subject}", c.model, id.short())
    }
}

/// Build the lineage graph around `focus`.
pub fn lineage(repo: &Repo, focus: CommitId) -> Result<Graph> {
    let mut nodes: BTreeMap<String, Node> = BTreeMap::new();
    let mut edges: BTreeSet<Edge> = BTreeSet::new();
    let add_commit = |nodes: &mut BTreeMap<String, Node>, id: &CommitId, c: &crate::Commit| {
        nodes.entry(id.to_hex()).or_insert_with(|| Node {
            key: id.to_hex(),
            kind: "commit",
            label: commit_label(id, c),
        });
    };
    // Ancestors: parents and bases, transitively; data and code of each.
    let mut queue = VecDeque::from([focus]);
    let mut seen = BTreeSet::new();
    while let Some(id) = queue.pop_front() {
        if !seen.insert(id) {
            continue;
        }
        let c = repo.read_commit(&id)?;
        add_commit(&mut nodes, &id, &c);
        for (p, kind) in c
            .parents
            .iter()
            .map(|p| (p, "parent"))
            .chain(c.derived_from.iter().map(|p| (p, "from")))
        {
            edges.insert(Edge {
                from: p.to_hex(),
                to: id.to_hex(),
                kind,
            });
            queue.push_back(*p);
        }
        if id == focus {
            for d in &c.datasets {
                let key = format!("dataset:{}", d.blake3);
                nodes.entry(key.clone()).or_insert_with(|| Node {
                    key: key.clone(),
                    kind: "dataset",
                    label: format!("{} ({}, {})", d.name, d.path, d.blake3.short()),
                });
                edges.insert(Edge {
                    from: key,
                    to: id.to_hex(),
                    kind: "data",
                });
            }
            if let Some(g) = c.git.as_ref().filter(|g| g.present) {
                let head = g.head.clone().unwrap_or_else(|| "(no commits)".into());
                let key = format!("git:{head}");
                let mut label = format!("git {}", prefix12(&head));
                if let Some(b) = &g.branch {
                    label.push_str(&format!(" on {b}"));
                }
                if g.dirty {
                    label.push_str(&format!(
                        " + uncommitted changes in {} file(s)",
                        g.modified.len()
                    ));
                }
                nodes.entry(key.clone()).or_insert_with(|| Node {
                    key: key.clone(),
                    kind: "code",
                    label,
                });
                edges.insert(Edge {
                    from: key,
                    to: id.to_hex(),
                    kind: "code",
                });
            }
            let notes = crate::notes::notes(repo, &id)?;
            for g in crate::notes::git_pins(&notes) {
                let key = format!("git:{g}");
                nodes.entry(key.clone()).or_insert_with(|| Node {
                    key: key.clone(),
                    kind: "code",
                    label: format!("git {} (pinned this version)", prefix12(&g)),
                });
                edges.insert(Edge {
                    from: id.to_hex(),
                    to: key,
                    kind: "pinned",
                });
            }
        }
    }
    // Descendants: every commit whose parents or bases lead back to the focus.
    let mut children: BTreeMap<CommitId, Vec<(CommitId, &'static str)>> = BTreeMap::new();
    let mut commits = BTreeMap::new();
    for m in repo.models()? {
        for (id, c) in repo.model_chain(&m)? {
            for p in &c.parents {
                children.entry(*p).or_default().push((id, "parent"));
            }
            for p in &c.derived_from {
                children.entry(*p).or_default().push((id, "from"));
            }
            commits.insert(id, c);
        }
    }
    let mut queue = VecDeque::from([focus]);
    let mut seen = BTreeSet::new();
    while let Some(id) = queue.pop_front() {
        if !seen.insert(id) {
            continue;
        }
        for (child, kind) in children.get(&id).into_iter().flatten() {
            if let Some(c) = commits.get(child) {
                add_commit(&mut nodes, child, c);
            }
            edges.insert(Edge {
                from: id.to_hex(),
                to: child.to_hex(),
                kind,
            });
            queue.push_back(*child);
        }
    }
    Ok(Graph {
        focus: focus.to_hex(),
        nodes: nodes.into_values().collect(),
        edges: edges.into_iter().collect(),
    })
}

fn short_key(k: &str) -> String {
    // Node ids usable in DOT and Mermaid: kind prefix + 12 hex digits.
    let (kind, rest) = k.split_once(':').unwrap_or(("c", k));
    format!(
        "{}_{}",
        kind.chars().next().unwrap_or('c'),
        // Ids from commits and notes are untrusted: keep only characters DOT and Mermaid
        // accept in a node id, and never slice inside a character.
        rest.chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .take(12)
            .collect::<String>()
    )
}

/// The first 12 characters of a (possibly malformed) id, never slicing inside a character.
fn prefix12(s: &str) -> String {
    s.chars().take(12).collect()
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "'")
}

impl Graph {
    /// Graphviz DOT.
    pub fn to_dot(&self) -> String {
        let mut s =
            String::from("digraph lineage {\n  rankdir=LR;\n  node [fontname=\"Helvetica\"];\n");
        for n in &self.nodes {
            let shape = match n.kind {
                "dataset" => "cylinder",
                "code" => "note",
                _ => "box",
            };
            let style = if n.key == self.focus {
                ", style=bold, penwidth=2"
            } else {
                ""
            };
            s.push_str(&format!(
                "  {} [label=\"{}\", shape={shape}{style}];\n",
                short_key(&n.key),
                escape(&n.label)
            ));
        }
        for e in &self.edges {
            s.push_str(&format!(
                "  {} -> {} [label=\"{}\"];\n",
                short_key(&e.from),
                short_key(&e.to),
                e.kind
            ));
        }
        s.push_str("}\n");
        s
    }

    /// Mermaid flowchart.
    pub fn to_mermaid(&self) -> String {
        let mut s = String::from("flowchart LR\n");
        for n in &self.nodes {
            let label = escape(&n.label);
            let node = match n.kind {
                "dataset" => format!("[(\"{label}\")]"),
                "code" => format!(">\"{label}\"]"),
                _ => format!("[\"{label}\"]"),
            };
            s.push_str(&format!("  {}{node}\n", short_key(&n.key)));
        }
        for e in &self.edges {
            s.push_str(&format!(
                "  {} -->|{}| {}\n",
                short_key(&e.from),
                e.kind,
                short_key(&e.to)
            ));
        }
        s.push_str(&format!(
            "  style {} stroke-width:3px\n",
            short_key(&self.focus)
        ));
        s
    }
}

/// A model commit made from the code of a git commit.
#[derive(Clone, Debug, Serialize)]
pub struct TrainedFrom {
    pub model: String,
    pub commit: CommitId,
    pub message: String,
    pub created_at: crate::Timestamp,
    /// Made with uncommitted changes on top of that git commit (see the commit's patch).
    pub dirty: bool,
}

/// A model commit pinned by the git commit's `mreg.lock`.
#[derive(Clone, Debug, Serialize)]
pub struct PinnedBy {
    pub path: String,
    pub model: String,
    pub commit: CommitId,
    /// The store has this model commit.
    pub in_store: bool,
    /// The post-commit hook recorded this git commit on it (a `git-pin` note).
    pub noted: bool,
}

/// `mreg blame GITREV`: the model commits trained from a git commit's code, and those its
/// lock file pins.
#[derive(Clone, Debug, Serialize)]
pub struct Blame {
    pub git_commit: String,
    pub summary: String,
    pub trained_from: Vec<TrainedFrom>,
    pub pinned: Vec<PinnedBy>,
}

pub fn blame(repo: &Repo, git_rev: &str) -> Result<Blame> {
    let resolved = crate::git::resolve_commit(repo.root(), git_rev)?;
    let mut trained_from = Vec::new();
    for model in repo.models()? {
        for (id, c) in repo.model_chain(&model)? {
            let Some(g) = c
                .git
                .as_ref()
                .filter(|g| g.head.as_deref() == Some(&resolved.id))
            else {
                continue;
            };
            trained_from.push(TrainedFrom {
                model: model.to_string(),
                commit: id,
                message: c.message.lines().next().unwrap_or("").to_string(),
                created_at: c.created_at.clone(),
                dirty: g.dirty,
            });
        }
    }
    trained_from.sort_by(|a, b| (&a.created_at, &a.model).cmp(&(&b.created_at, &b.model)));
    let mut pinned = Vec::new();
    for (model, pin) in crate::lockfile::at_git_rev(repo, &resolved.id)?.unwrap_or_default() {
        let in_store = repo.objects().exists(&pin.commit);
        let noted = in_store
            && crate::notes::git_pins(&crate::notes::notes(repo, &pin.commit)?)
                .contains(&resolved.id);
        pinned.push(PinnedBy {
            path: pin.paths.join(", "),
            model: model.to_string(),
            commit: pin.commit,
            in_store,
            noted,
        });
    }
    Ok(Blame {
        git_commit: resolved.id,
        summary: resolved.summary,
        trained_from,
        pinned,
    })
}
