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

pub mod hooks;
pub mod lineage;
pub mod lockfile;

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
    /// Files not tracked by git that were stored in the patch as new files (`mreg run
    /// --include-untracked`), relative to `root`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub untracked_included: Vec<String>,
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

pub use crate::error::GitError;

pub(crate) fn git_err(what: &str, e: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::Git(GitError::Gix {
        what: what.to_string(),
        source: Box::new(e),
    })
}

/// Open the git repository whose work tree contains `dir`, if any.
pub fn discover(dir: &Path) -> Option<gix::Repository> {
    gix::discover(dir).ok()
}

/// The work tree root of the git repository containing `dir`.
/// git's `user.name <user.email>` as seen from `dir`: the repository's config (with the
/// user's global config) inside a work tree, else the global config alone. None when git
/// knows no user name.
pub fn user_identity(dir: &Path) -> Option<String> {
    let repo_config = gix::discover(dir)
        .ok()
        .map(|r| r.config_snapshot().plumbing().clone());
    let config = repo_config.or_else(|| gix::config::File::from_globals().ok())?;
    let get = |key: &str| {
        config
            .string(key)
            .map(|v| v.to_string().trim().to_string())
            .filter(|s| !s.is_empty())
    };
    match (get("user.name"), get("user.email")) {
        (Some(n), Some(e)) => Some(format!("{n} <{e}>")),
        (Some(n), None) => Some(n),
        _ => None,
    }
}

/// The author of new commits and moves, as every client chooses it: `explicit` (the
/// caller's choice, or `MREG_AUTHOR`), else git's identity seen from `dir`, else `user`
/// (`$USER`), else "unknown". Blank values count as absent. Clients read the environment;
/// the library does not.
pub fn default_author(explicit: Option<&str>, dir: &Path, user: Option<&str>) -> String {
    let given = |v: Option<&str>| v.map(str::trim).filter(|s| !s.is_empty()).map(String::from);
    given(explicit)
        .or_else(|| user_identity(dir))
        .or_else(|| given(user))
        .unwrap_or_else(|| "unknown".into())
}

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
    capture_with(dir, &[])
}

/// Files among `paths` that lie inside the git work tree of `dir` but are not tracked (not
/// in the index), as work-tree-relative paths. Empty outside a work tree.
pub fn untracked(dir: &Path, paths: &[PathBuf]) -> Result<Vec<String>> {
    let Some(repo) = discover(dir) else {
        return Ok(Vec::new());
    };
    let Some(root) = repo.workdir().map(Path::to_path_buf) else {
        return Ok(Vec::new());
    };
    let root = std::fs::canonicalize(&root).unwrap_or(root);
    let index = repo
        .index_or_empty()
        .map_err(|e| git_err("reading the index", e))?;
    let mut out = Vec::new();
    for p in paths {
        let Ok(abs) = std::fs::canonicalize(p) else {
            continue;
        };
        let Ok(rel) = abs.strip_prefix(&root) else {
            continue;
        };
        let rel = rel.to_string_lossy().replace('\\', "/");
        let tracked = index
            .entry_by_path(gix::bstr::BStr::new(rel.as_bytes()))
            .is_some();
        if !tracked && abs.is_file() && !out.contains(&rel) {
            out.push(rel);
        }
    }
    Ok(out)
}

/// `capture`, with the untracked text files `include` (work-tree-relative) added to the
/// patch as new files, so that a replay from the recorded code has them.
pub fn capture_with(dir: &Path, include: &[String]) -> Result<Captured> {
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
    for p in include {
        crate::names::validate_rel_path(p)?;
        modified.insert(p.clone());
    }
    l.untracked_included = include.to_vec();
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
    let id = repo.rev_parse_single(rev).map_err(|e| {
        Error::Git(GitError::UnknownRevision {
            rev: rev.to_string(),
            source: Box::new(e),
        })
    })?;
    id.object()
        .map_err(|e| git_err("reading object", e))?
        .peel_to_commit()
        .map_err(|e| {
            Error::Git(GitError::NotACommit {
                rev: rev.to_string(),
                source: Box::new(e),
            })
        })
}

fn open_work_tree(dir: &Path) -> Result<gix::Repository> {
    discover(dir).ok_or_else(|| {
        Error::Git(GitError::NotAWorkTree {
            dir: dir.to_path_buf(),
        })
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

/// Write the tree of git revision `rev` (of the repository around `dir`) into `dest`, as a
/// plain directory: files with their executable bit, symlinks; submodules become empty
/// directories. Used by `reproduce` to rebuild the code a model was made from.
pub fn export_tree(dir: &Path, rev: &str, dest: &Path) -> Result<()> {
    use gix::index::entry::Mode;
    let repo = open_work_tree(dir)?;
    let commit = peel_commit(&repo, rev)?;
    let tree = commit.tree_id().map_err(|e| git_err("reading tree", e))?;
    let index = repo
        .index_from_tree(&tree)
        .map_err(|e| git_err("reading tree", e))?;
    for e in index.entries() {
        let rel = e.path(&index).to_string();
        crate::names::validate_rel_path(&rel)?;
        let out = dest.join(&rel);
        if let Some(parent) = out.parent() {
            std::fs::create_dir_all(parent).map_err(|err| Error::io("creating", parent, err))?;
        }
        if e.mode == Mode::COMMIT {
            std::fs::create_dir_all(&out).map_err(|err| Error::io("creating", &out, err))?;
            continue;
        }
        let blob = repo
            .find_object(e.id)
            .map_err(|err| git_err(&format!("reading {rel}"), err))?;
        if e.mode == Mode::SYMLINK {
            #[cfg(unix)]
            {
                let target = String::from_utf8_lossy(&blob.data).into_owned();
                std::os::unix::fs::symlink(&target, &out)
                    .map_err(|err| Error::io("creating symlink", &out, err))?;
            }
            continue;
        }
        std::fs::write(&out, &blob.data).map_err(|err| Error::io("writing", &out, err))?;
        #[cfg(unix)]
        if e.mode == Mode::FILE_EXECUTABLE {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o755))
                .map_err(|err| Error::io("setting permissions of", &out, err))?;
        }
    }
    Ok(())
}

fn patch_err(why: String) -> Error {
    Error::Git(GitError::Patch {
        why: why.to_string(),
    })
}

/// Apply a patch as written by [`capture`] (unified diffs with `diff --git` headers, new and
/// deleted files) to the files under `root`. Every context and removed line must match, so
/// a patch applies to exactly the tree it was made against or not at all.
pub fn apply_patch(root: &Path, patch: &str) -> Result<()> {
    let lines: Vec<&str> = patch.split_inclusive('\n').collect();
    let mut i = 0;
    while i < lines.len() {
        let Some(header) = lines[i].strip_prefix("diff --git a/") else {
            i += 1;
            continue;
        };
        let path = header
            .trim_end()
            .split(" b/")
            .next()
            .ok_or_else(|| patch_err(format!("bad header {header:?}")))?
            .to_string();
        crate::names::validate_rel_path(&path)?;
        i += 1;
        let (mut new_file, mut deleted) = (false, false);
        while i < lines.len() && !lines[i].starts_with("@@") && !lines[i].starts_with("diff --git ")
        {
            new_file |= lines[i].starts_with("new file mode");
            deleted |= lines[i].starts_with("deleted file mode");
            i += 1;
        }
        let file = root.join(&path);
        let old = if new_file {
            String::new()
        } else {
            std::fs::read_to_string(&file).map_err(|e| Error::io("reading", &file, e))?
        };
        let old_lines: Vec<&str> = old.split_inclusive('\n').collect();
        let mut out = String::new();
        let mut pos = 0; // next old line to copy
        while i < lines.len() && lines[i].starts_with("@@") {
            let old_range = lines[i]
                .trim_start_matches("@@ -")
                .split(' ')
                .next()
                .unwrap_or("");
            let mut nums = old_range.split(',').map(|n| n.parse::<usize>());
            let (Some(Ok(start)), count) = (nums.next(), nums.next().unwrap_or(Ok(1))) else {
                return Err(patch_err(format!("bad hunk header {:?}", lines[i])));
            };
            // Old line numbers are 1-based; an empty old range names the line after which
            // the new lines go.
            let start = if count == Ok(0) {
                start
            } else {
                start.saturating_sub(1)
            };
            if start < pos || start > old_lines.len() {
                return Err(patch_err(format!("{path}: hunk out of order")));
            }
            for l in &old_lines[pos..start] {
                out.push_str(l);
            }
            pos = start;
            i += 1;
            while i < lines.len() {
                let l = lines[i];
                let (tag, body) = l.split_at(l.len().min(1));
                match tag {
                    " " | "-" => {
                        let have = old_lines.get(pos).copied().unwrap_or("");
                        let want = body;
                        let matches = have == want
                            || (lines.get(i + 1).is_some_and(|n| n.starts_with('\\'))
                                && have == want.trim_end_matches('\n'));
                        if !matches {
                            return Err(patch_err(format!(
                                "{path}: line {} differs from the patch's context",
                                pos + 1
                            )));
                        }
                        if tag == " " {
                            out.push_str(have);
                        }
                        pos += 1;
                    }
                    "+" => {
                        if lines.get(i + 1).is_some_and(|n| n.starts_with('\\')) {
                            out.push_str(body.trim_end_matches('\n'));
                        } else {
                            out.push_str(body);
                        }
                    }
                    "\\" => {}
                    _ => break,
                }
                i += 1;
            }
        }
        for l in old_lines.iter().skip(pos) {
            out.push_str(l);
        }
        if deleted {
            std::fs::remove_file(&file).map_err(|e| Error::io("removing", &file, e))?;
        } else {
            if let Some(parent) = file.parent() {
                std::fs::create_dir_all(parent).map_err(|e| Error::io("creating", parent, e))?;
            }
            std::fs::write(&file, out).map_err(|e| Error::io("writing", &file, e))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patch_for(path: &str, old: &str, new: &str) -> String {
        let d = similar::TextDiff::from_lines(old, new);
        format!(
            "diff --git a/{path} b/{path}\n{}",
            d.unified_diff()
                .context_radius(3)
                .header(&format!("a/{path}"), &format!("b/{path}"))
        )
    }

    #[test]
    fn apply_patch_round_trips_the_patches_mreg_writes() {
        let cases = [
            (
                "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n",
                "a\nB\nc\nd\ne\nf\ng\nh\nI\nj\nk\n",
            ),
            ("one\ntwo", "one\ntwo\nthree"),
            ("x\n", "y"),
            ("1\n2\n3\n", "0\n1\n2\n3\n"),
        ];
        for (old, new) in cases {
            let d = tempfile::tempdir().unwrap();
            std::fs::write(d.path().join("f.txt"), old).unwrap();
            apply_patch(d.path(), &patch_for("f.txt", old, new)).unwrap();
            assert_eq!(
                std::fs::read_to_string(d.path().join("f.txt")).unwrap(),
                new,
                "{old:?}"
            );
        }
        // A patch never applies to a different file.
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("f.txt"), "other\ncontent\n").unwrap();
        assert!(apply_patch(d.path(), &patch_for("f.txt", "a\nb\n", "a\nc\n")).is_err());
        // New and deleted files.
        let p = format!(
            "diff --git a/n.txt b/n.txt\nnew file mode 100644\n{}",
            similar::TextDiff::from_lines("", "hi\n")
                .unified_diff()
                .header("/dev/null", "b/n.txt")
        );
        apply_patch(d.path(), &p).unwrap();
        assert_eq!(
            std::fs::read_to_string(d.path().join("n.txt")).unwrap(),
            "hi\n"
        );
        let p = format!(
            "diff --git a/n.txt b/n.txt\ndeleted file mode 100644\n{}",
            similar::TextDiff::from_lines("hi\n", "")
                .unified_diff()
                .header("a/n.txt", "/dev/null")
        );
        apply_patch(d.path(), &p).unwrap();
        assert!(!d.path().join("n.txt").exists());
        assert!(apply_patch(d.path(), "diff --git a/../x b/../x\n").is_err());
    }
}
