//! Reachability: which commits and objects the store's histories keep alive.
//!
//! This is the one walk that `gc`, `fsck` and `du` share. Its roots are every ref that any
//! line of any model's history ever named (a version stays reachable after its alias moves
//! on) and every note attached in a history. From each commit it follows `parents` and
//! `derived_from`. For a reached commit, `version_data` lists the objects holding its
//! data: the manifests of its files and stored datasets, their chunks, and the code patch.
//!
//! The walk never skips what it cannot read. An unreadable history, commit or manifest is
//! reported as a [`Problem`] that names it; a destructive caller (gc) refuses to act on a
//! walk with any problem in what it must keep (fail closed), because an item it cannot read
//! is an item whose objects it cannot protect.
//!
//! A chunk stored as a delta (object codec 3) needs its base to be read. [`keep_delta_bases`]
//! adds the bases of kept chunks (and theirs, down the chain) to what is kept, reading only
//! object headers, never decoding.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use serde::Serialize;

use crate::commit::{Commit, FileEntry};
use crate::error::Result;
use crate::filestore::{self, Manifest};
use crate::history::LogEntry;
use crate::id::ObjectId;
use crate::names::ModelName;
use crate::repo::Repo;

/// Something the walk could not read, named so a user can find it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// What is broken: `commit <id>`, `commit <short> file <path>`, `model <name>`...
    pub item: String,
    pub problem: String,
}

/// One reached commit.
#[derive(Clone, Debug)]
pub struct Version {
    pub id: crate::id::CommitId,
    /// The model whose history reached it (its own model for every well-formed store).
    pub model: ModelName,
    pub commit: Commit,
    /// True when the commit is on its model's first-parent chain from the head.
    pub on_chain: bool,
}

/// What the walk found.
#[derive(Debug, Default)]
pub struct Walk {
    /// Per model (sorted by name): the head chain newest first, then the other commits its
    /// history named (and their ancestors).
    pub versions: Vec<Version>,
    /// Each model's history, read once, oldest first.
    pub histories: BTreeMap<ModelName, Vec<LogEntry>>,
    /// Note objects attached in any history.
    pub notes: BTreeSet<ObjectId>,
    /// Models whose history has a torn last line (a crash during an append: harmless).
    pub torn: Vec<ModelName>,
    pub problems: Vec<Problem>,
}

impl Walk {
    /// The versions of one model, chain first, newest first.
    pub fn of_model<'a>(&'a self, m: &'a ModelName) -> impl Iterator<Item = &'a Version> + 'a {
        self.versions.iter().filter(move |v| &v.model == m)
    }

    /// Every commit id reached.
    pub fn commit_ids(&self) -> HashSet<ObjectId> {
        self.versions.iter().map(|v| *v.id).collect()
    }
}

/// Walk every model's history and the commits it names.
pub fn walk(repo: &Repo) -> Result<Walk> {
    let mut w = Walk::default();
    let mut seen: HashSet<ObjectId> = HashSet::new();
    for m in repo.models()? {
        let (entries, torn) = match repo.model_log(&m).entries() {
            Ok(x) => x,
            Err(e) => {
                w.problems.push(Problem {
                    item: format!("model {m}"),
                    problem: format!("history unreadable: {e}"),
                });
                continue;
            }
        };
        if torn {
            w.torn.push(m.clone());
        }
        for notes in crate::notes::model_notes(&entries).into_values() {
            w.notes.extend(notes.into_iter().map(|n| n.id()));
        }
        // The head chain first, in first-parent order: the order users see in `log`.
        let head = entries.last().and_then(|e| e.state.head);
        let mut next = head.map(|h| (h, "head".to_string()));
        while let Some((id, from)) = next.take() {
            if !seen.insert(*id) {
                break;
            }
            match repo.read_commit(&id) {
                Ok(c) => {
                    next = c
                        .parent()
                        .map(|p| (*p, format!("commit {} (parent)", id.short())));
                    w.versions.push(Version {
                        id,
                        model: m.clone(),
                        commit: c,
                        on_chain: true,
                    });
                }
                Err(e) => w.problems.push(Problem {
                    item: format!("commit {id}"),
                    problem: format!("named by model {m} {from}: {e}"),
                }),
            }
        }
        // Everything else its history ever named, and their ancestors.
        let mut stack: Vec<(ObjectId, String)> = Vec::new();
        for e in entries.iter().rev() {
            for (name, id) in e.state.refs() {
                stack.push((*id, format!("history entry {} ({name})", e.seq)));
            }
        }
        let chain_end = w.versions.len();
        for v in &w.versions[..chain_end] {
            if v.model == m {
                for d in &v.commit.derived_from {
                    stack.push((**d, format!("commit {} (derived from)", v.id.short())));
                }
            }
        }
        while let Some((id, from)) = stack.pop() {
            if !seen.insert(id) {
                continue;
            }
            match repo.read_commit(&id) {
                Ok(c) => {
                    for p in &c.parents {
                        stack.push((**p, format!("commit {} (parent)", id.short())));
                    }
                    for d in &c.derived_from {
                        stack.push((**d, format!("commit {} (derived from)", id.short())));
                    }
                    w.versions.push(Version {
                        id: crate::id::CommitId(id),
                        model: m.clone(),
                        commit: c,
                        on_chain: false,
                    });
                }
                Err(e) => w.problems.push(Problem {
                    item: format!("commit {id}"),
                    problem: format!("named by model {m} {from}: {e}"),
                }),
            }
        }
        w.histories.insert(m, entries);
    }
    Ok(w)
}

/// Every file whose data a commit keeps: its files, then its stored datasets.
pub fn data_files(c: &Commit) -> impl Iterator<Item = &FileEntry> {
    c.files
        .iter()
        .chain(c.datasets.iter().flat_map(|d| d.stored.iter()))
}

/// The objects that hold one version's data.
#[derive(Clone, Debug, Default)]
pub struct VersionData {
    /// Manifests and the code patch: small, kept even when the version is pruned.
    pub metadata: HashSet<ObjectId>,
    /// The chunks of every file (the bulk of the bytes).
    pub chunks: HashSet<ObjectId>,
    /// Per file path, its chunks (to say which files lost data).
    pub file_chunks: Vec<(String, Vec<ObjectId>)>,
}

/// Read a file entry's manifest and check it describes that file.
pub(crate) fn read_manifest(repo: &Repo, f: &FileEntry) -> Result<Manifest> {
    let m = filestore::load_manifest(repo.objects(), &f.manifest)?;
    if m.blake3 != f.blake3 || m.size != f.size {
        return Err(crate::Error::CorruptObject {
            id: f.manifest.to_hex(),
            why: format!(
                "manifest describes {} bytes with blake3 {}, the commit's entry for {} says {} bytes with blake3 {}",
                m.size,
                m.blake3.short(),
                f.path,
                f.size,
                f.blake3.short()
            ),
        });
    }
    Ok(m)
}

/// The objects of one version, and the problems met reading its manifests.
pub(crate) fn version_data(repo: &Repo, id: &ObjectId, c: &Commit) -> (VersionData, Vec<Problem>) {
    let mut d = VersionData::default();
    let mut problems = Vec::new();
    d.metadata.extend(c.git.as_ref().and_then(|g| g.patch));
    d.metadata.extend(c.recipe.iter().flat_map(|r| r.blobs()));
    for f in data_files(c) {
        d.metadata.insert(*f.manifest);
        match read_manifest(repo, f) {
            Ok(m) => {
                let ids: Vec<ObjectId> = m.chunks.iter().map(|c| c.id).collect();
                d.chunks.extend(ids.iter().copied());
                d.file_chunks.push((f.path.clone(), ids));
            }
            Err(e) => problems.push(Problem {
                item: format!("commit {} file {}", id.short(), f.path),
                problem: format!("manifest {} unreadable: {e}", f.manifest.short()),
            }),
        }
    }
    (d, problems)
}

/// Which files of a version have lost data (a chunk or the manifest is gone).
pub fn files_missing_data(repo: &Repo, c: &Commit) -> Vec<String> {
    let mut out = Vec::new();
    for f in data_files(c) {
        let complete = match read_manifest(repo, f) {
            Ok(m) => m.chunks.iter().all(|ch| repo.objects().exists(&ch.id)),
            Err(_) => false,
        };
        if !complete {
            out.push(f.path.clone());
        }
    }
    out
}

/// A committed file whose whole-file blake3 starts with `prefix` (lowercase hex): file ids
/// are not object ids (a file is stored as chunks listed by a manifest), so a lookup of
/// one as an object says what it is instead of "missing".
pub fn find_file_id(repo: &Repo, prefix: &str) -> Result<Option<(ObjectId, FileEntry)>> {
    let prefix = prefix.to_ascii_lowercase();
    let w = walk(repo)?;
    for v in &w.versions {
        for f in data_files(&v.commit) {
            if f.blake3.to_hex().starts_with(&prefix) {
                return Ok(Some((*v.id, f.clone())));
            }
        }
    }
    Ok(None)
}

/// Add to `live` the delta bases of `chunks` (all in `live` already), transitively. Reads
/// each chunk's header only. A header that cannot be read is a problem (its base, if any,
/// is unknown: a destructive caller must refuse); a missing chunk has no base to protect.
pub fn keep_delta_bases(
    repo: &Repo,
    live: &mut HashSet<ObjectId>,
    chunks: impl IntoIterator<Item = ObjectId>,
) -> Vec<Problem> {
    use rayon::prelude::*;
    let mut seen: HashSet<ObjectId> = HashSet::new();
    let mut frontier: Vec<ObjectId> = chunks.into_iter().filter(|c| seen.insert(*c)).collect();
    let mut problems = Vec::new();
    while !frontier.is_empty() {
        let refs: Vec<(ObjectId, Result<Option<crate::delta::DeltaRef>>)> = frontier
            .par_iter()
            .map(|id| (*id, repo.objects().delta_ref(id)))
            .collect();
        frontier.clear();
        for (id, r) in refs {
            match r {
                Ok(Some(d)) => {
                    live.insert(d.base);
                    if seen.insert(d.base) {
                        frontier.push(d.base);
                    }
                }
                Ok(None) | Err(crate::Error::MissingObject { .. }) => {}
                Err(e) => problems.push(Problem {
                    item: format!("object {id}"),
                    problem: format!("its header is unreadable, so its delta base is unknown: {e}"),
                }),
            }
        }
    }
    problems
}
