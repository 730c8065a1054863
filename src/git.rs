//! Code lineage from git, read with gix (mreg never shells out to git from the library).
//!
//! At commit time mreg records, when the store lives inside a git work tree: the work tree
//! root, HEAD's commit id, the branch (none when detached), a `git describe`-style name, the
//! default remote's URL with credentials stripped, whether tracked files differ from HEAD,
//! which, and — for tracked text files — a unified-diff patch of those changes (stored as a
//! blob object), so that the exact code a model was trained with can be rebuilt with
//! `git checkout <head> && git apply <patch>`. Outside a work tree the commit says so; a
//! repository with no commits yet, a detached HEAD or a bare repository are recorded as such,
//! never an error.
//!
//! Also here: resolving a git revision and reading a file as of that revision (for
//! `checkout --git` and `blame`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::id::ObjectId;

/// What a commit records about the code it was made from.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GitLineage {
    /// False when the store is not inside a git work tree (then nothing else is set).
    pub present: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root: Option<String>,
    /// HEAD's commit id; None in a repository with no commits yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head: Option<String>,
    /// The checked-out branch; None with a detached HEAD.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub describe: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_url: Option<String>,
    #[serde(default)]
    pub dirty: bool,
    /// Tracked files that differ from HEAD (index or work tree), relative to `root`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub modified: Vec<String>,
    /// The blob holding the patch of tracked text files against HEAD.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch: Option<ObjectId>,
    /// Modified files left out of the patch (binary, or not UTF-8).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unpatched: Vec<String>,
    /// Why the lineage is partial (bare repository, no commits yet, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The lineage plus the patch bytes to store.
pub struct Captured {
    pub lineage: GitLineage,
    pub patch: Option<Vec<u8>>,
}

fn git_err(what: &str, e: impl std::fmt::Display) -> Error {
    Error::InvalidArgument(format!("git: {what}: {e}"))
}

/// Open the git repository whose work tree contains `dir`, if any.
pub fn discover(dir: &Path) -> Option<gix::Repository> {
    gix::discover(dir).ok()
}

/// The work tree root of the git repository containing `dir`.
pub fn work_tree_root(dir: &Path) -> Option<PathBuf> {
    discover(dir).and_then(|r| r.workdir().map(Path::to_path_buf))
}

fn strip_credentials(url: &gix::Url) -> String {
    let mut u = url.clone();
    u.set_password(None);
    u.set_user(None);
    u.to_bstring().to_string()
}

/// Capture the lineage of the code around `dir` (the store's work tree).
pub fn capture(dir: &Path) -> Result<Captured> {
    let none = Captured {
        lineage: GitLineage::default(),
        patch: None,
    };
    let Some(repo) = discover(dir) else {
        return Ok(none);
    };
    let Some(root) = repo.workdir().map(Path::to_path_buf) else {
        return Ok(Captured {
            lineage: GitLineage {
                present: false,
                note: Some("the store is inside a bare git repository: no work tree".into()),
                ..Default::default()
            },
            patch: None,
        });
    };
    let mut l = GitLineage {
        present: true,
        root: Some(root.display().to_string()),
        ..Default::default()
    };
    l.branch = repo
        .head_name()
        .ok()
        .flatten()
        .map(|n| n.shorten().to_string());
    l.remote_url = repo
        .find_default_remote(gix::remote::Direction::Fetch)
        .and_then(|r| r.ok())
        .and_then(|r| r.url(gix::remote::Direction::Fetch).map(strip_credentials));
    let head = match repo.head_commit() {
        Ok(c) => Some(c),
        Err(_) => {
            l.note = Some("the git repository has no commits yet".into());
            None
        }
    };
    if let Some(c) = &head {
        l.head = Some(c.id.to_string());
        l.describe = c
            .describe()
            .names(gix::commit::describe::SelectRef::AllTags)
            .try_format()
            .ok()
            .flatten()
            .map(|f| f.to_string());
    }
    // Tracked files that differ from HEAD, in the index or the work tree.
    let mut modified = BTreeSet::new();
    let status = repo
        .status(gix::progress::Discard)
        .map_err(|e| git_err("status", e))?
        .untracked_files(gix::status::UntrackedFiles::None)
        .into_iter(None)
        .map_err(|e| git_err("status", e))?;
    for item in status {
        let item = item.map_err(|e| git_err("status", e))?;
        modified.insert(item.location().to_string());
    }
    l.modified = modified.into_iter().collect();
    l.dirty = !l.modified.is_empty();
    let mut patch = String::new();
    if l.dirty {
        let tree = head.as_ref().and_then(|c| c.tree().ok());
        for p in &l.modified {
            let old: Option<Vec<u8>> = match &tree {
                Some(t) => t
                    .lookup_entry_by_path(p)
                    .ok()
                    .flatten()
                    .and_then(|e| e.object().ok())
                    .map(|o| o.data.clone()),
                None => None,
            };
            let new: Option<Vec<u8>> = std::fs::read(root.join(p)).ok();
            let text = |b: &Option<Vec<u8>>| match b {
                None => Some(String::new()),
                Some(b) if !b.contains(&0) => String::from_utf8(b.clone()).ok(),
                Some(_) => None,
            };
            match (text(&old), text(&new)) {
                (Some(o), Some(n)) if o != n || old.is_none() != new.is_none() => {
                    let (a, b) = (
                        if old.is_some() {
                            format!("a/{p}")
                        } else {
                            "/dev/null".into()
                        },
                        if new.is_some() {
                            format!("b/{p}")
                        } else {
                            "/dev/null".into()
                        },
                    );
                    patch.push_str(&format!("diff --git a/{p} b/{p}\n"));
                    if old.is_none() {
                        patch.push_str("new file mode 100644\n");
                    } else if new.is_none() {
                        patch.push_str("deleted file mode 100644\n");
                    }
                    let d = similar::TextDiff::from_lines(&o, &n);
                    patch.push_str(
                        &d.unified_diff()
                            .context_radius(3)
                            .header(&a, &b)
                            .to_string(),
                    );
                }
                (Some(_), Some(_)) => {}
                _ => l.unpatched.push(p.clone()),
            }
        }
    }
    Ok(Captured {
        lineage: l,
        patch: (!patch.is_empty()).then(|| patch.into_bytes()),
    })
}

/// A git revision resolved to a commit: its full id and the first line of its message.
pub struct ResolvedCommit {
    pub id: String,
    pub summary: String,
}

fn peel_commit<'r>(repo: &'r gix::Repository, rev: &str) -> Result<gix::Commit<'r>> {
    let id = repo
        .rev_parse_single(rev)
        .map_err(|e| Error::InvalidArgument(format!("unknown git revision {rev:?}: {e}")))?;
    id.object()
        .map_err(|e| git_err("reading object", e))?
        .peel_to_commit()
        .map_err(|e| Error::InvalidArgument(format!("git revision {rev:?} is not a commit: {e}")))
}

fn open_work_tree(dir: &Path) -> Result<gix::Repository> {
    discover(dir).ok_or_else(|| {
        Error::InvalidArgument(format!("{} is not inside a git work tree", dir.display()))
    })
}

/// Resolve a git revision (`HEAD~2`, a tag, a short id, ...) of the repository around `dir`.
pub fn resolve_commit(dir: &Path, rev: &str) -> Result<ResolvedCommit> {
    let repo = open_work_tree(dir)?;
    let c = peel_commit(&repo, rev)?;
    let summary = c
        .message()
        .map(|m| m.summary().to_string())
        .unwrap_or_default();
    Ok(ResolvedCommit {
        id: c.id.to_string(),
        summary,
    })
}

/// The bytes of `path` (relative to the work tree root) as of git revision `rev`.
pub fn file_at(dir: &Path, rev: &str, path: &str) -> Result<Option<Vec<u8>>> {
    let repo = open_work_tree(dir)?;
    let commit = peel_commit(&repo, rev)?;
    let tree = commit.tree().map_err(|e| git_err("reading tree", e))?;
    let entry = tree
        .lookup_entry_by_path(path)
        .map_err(|e| git_err("reading tree", e))?;
    match entry {
        None => Ok(None),
        Some(e) => Ok(Some(
            e.object()
                .map_err(|e| git_err("reading blob", e))?
                .data
                .clone(),
        )),
    }
}
