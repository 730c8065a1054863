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
    /// The model the commit belongs to (its own `model` field), whichever history reached
    /// it: a `--from` base of another model is that model's version, never the deriving
    /// model's (issue 30).
    pub model: ModelName,
    pub commit: Commit,
    /// True when the commit is on its model's first-parent chain from the head.
    pub on_chain: bool,
    /// True when its own model's history reaches it (a ref of that model, or a parent of
    /// one). False when only another model's `--from` link (or a ref of another model)
    /// reaches it: its own history does not account for it, so retention never counts or
    /// prunes it.
    pub own_history: bool,
}

/// What the walk found.
#[derive(Debug, Default)]
pub struct Walk {
    /// Per model (sorted by name): the head chain newest first, then the other commits its
    /// history named (and their ancestors), then commits reached only through other
    /// models' `--from` links.
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
///
/// Three passes, so that a commit is attributed to its own model whatever the order of
/// the models: (1) every model's head chain (first parents, commits of that model only);
/// (2) every commit of its own that a model's history ever named, and their parents;
/// (3) the `--from` bases of everything reached and the commits a history named of another
/// model, and their ancestors. A version reached first in pass 3 is marked
/// `own_history: false`.
pub fn walk(repo: &Repo) -> Result<Walk> {
    let mut w = Walk::default();
    let mut seen: HashSet<ObjectId> = HashSet::new();
    for m in repo.models()? {
        match repo.model_log(&m).entries() {
            Ok((entries, torn)) => {
                if torn {
                    w.torn.push(m.clone());
                }
                for notes in crate::notes::model_notes(&entries).into_values() {
                    w.notes.extend(notes.into_iter().map(|n| n.id()));
                }
                // Runs that made no version: their records, logs and curves.
                w.notes.extend(
                    crate::ops::runs::objects_named(&entries)
                        .into_iter()
                        .map(|(id, _)| id),
                );
                w.histories.insert(m, entries);
            }
            Err(e) => w.problems.push(Problem {
                item: format!("model {m}"),
                problem: format!("history unreadable: {e}"),
            }),
        }
    }
    // Pass 1: head chains, in first-parent order (the order users see in `log`).
    for (m, entries) in &w.histories {
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
                    let mine = &c.model == m;
                    w.versions.push(Version {
                        id,
                        model: c.model.clone(),
                        on_chain: mine,
                        own_history: mine,
                        commit: c,
                    });
                    if !mine {
                        // Another model's commit on this chain (a damaged or hostile
                        // history): it is that model's version, and the chain ends here.
                        break;
                    }
                }
                Err(e) => w.problems.push(Problem {
                    item: format!("commit {id}"),
                    problem: format!("named by model {m} {from}: {e}"),
                }),
            }
        }
    }
    // Pass 2: everything else each history ever named, and their parents.
    let mut foreign: Vec<(ObjectId, String)> = Vec::new();
    for (m, entries) in &w.histories {
        let mut stack: Vec<(ObjectId, String)> = Vec::new();
        for e in entries.iter().rev() {
            for (name, id) in e.state.refs() {
                stack.push((*id, format!("history entry {} ({name})", e.seq)));
            }
        }
        // The chain's parents were followed already; a chain commit with a second parent
        // (none today) would be reached here.
        for v in w.versions.iter().filter(|v| &v.model == m) {
            for p in v.commit.parents.iter().skip(1) {
                stack.push((**p, format!("commit {} (parent)", v.id.short())));
            }
        }
        while let Some((id, from)) = stack.pop() {
            if !seen.insert(id) {
                continue;
            }
            match repo.read_commit(&id) {
                Ok(c) if &c.model != m => {
                    // Another model's commit named by this history: reached in pass 3,
                    // after its own model's history had the chance to claim it.
                    seen.remove(&id);
                    foreign.push((id, from));
                }
                Ok(c) => {
                    for p in &c.parents {
                        stack.push((**p, format!("commit {} (parent)", id.short())));
                    }
                    w.versions.push(Version {
                        id: crate::id::CommitId(id),
                        model: c.model.clone(),
                        commit: c,
                        on_chain: false,
                        own_history: true,
                    });
                }
                Err(e) => w.problems.push(Problem {
                    item: format!("commit {id}"),
                    problem: format!("named by model {m} {from}: {e}"),
                }),
            }
        }
    }
    // Pass 3: `--from` bases of everything reached, commits of other models, ancestors.
    let mut stack: Vec<(ObjectId, String)> = w
        .versions
        .iter()
        .flat_map(|v| {
            v.commit
                .derived_from
                .iter()
                .map(move |d| (**d, format!("commit {} (derived from)", v.id.short())))
        })
        .chain(foreign)
        .collect();
    stack.reverse();
    while let Some((id, from)) = stack.pop() {
        if !seen.insert(id) {
            continue;
        }
        match repo.read_commit(&id) {
            Ok(c) => {
                for p in c.parents.iter().chain(&c.derived_from) {
                    stack.push((**p, format!("commit {} (ancestor)", id.short())));
                }
                w.versions.push(Version {
                    id: crate::id::CommitId(id),
                    model: c.model.clone(),
                    commit: c,
                    on_chain: false,
                    own_history: false,
                });
            }
            Err(e) => w.problems.push(Problem {
                item: format!("commit {id}"),
                problem: format!("reached from {from}: {e}"),
            }),
        }
    }
    // Per model, in walk order (chain, named, then reached only from elsewhere).
    w.versions.sort_by(|a, b| a.model.cmp(&b.model));
    Ok(w)
}

/// A commit object in the store that no history reaches.
#[derive(Clone, Debug, Serialize)]
pub struct Orphan {
    pub id: crate::id::CommitId,
    /// Its model (from the commit itself); None when the object does not read as a commit.
    pub model: Option<ModelName>,
    /// A pending marker says a writer stored it and stopped before the history line that
    /// would have recorded it (a killed or failed `commit`): an interrupted write.
    pub interrupted: bool,
    /// Seconds since the object file was written.
    pub age_secs: u64,
    /// Why its model's history cannot vouch that it never recorded this commit (missing,
    /// empty, unreadable or broken history, or no pending marker); None when it can.
    pub doubt: Option<String>,
    #[serde(skip)]
    pub commit: Option<Commit>,
}

impl Orphan {
    /// gc may delete it (and the data only it uses): an interrupted write, older than
    /// `grace`, whose model's history is intact. Everything else is kept.
    pub fn collectable(&self, grace: std::time::Duration) -> bool {
        self.doubt.is_none() && self.interrupted && self.age_secs >= grace.as_secs()
    }
}

/// The commit objects among `candidates` (objects the walk did not reach) and what is
/// known of each. The rule gc follows (docs/DESIGN.md, "Unreferenced commits"): a commit
/// object no history names is evidence of damage unless a pending marker explains it,
/// and even then it is kept for a grace period and only while its model's history is
/// intact.
pub fn orphans(
    repo: &Repo,
    walk: &Walk,
    candidates: impl IntoIterator<Item = ObjectId>,
    now: std::time::SystemTime,
) -> Vec<Orphan> {
    let reached = walk.commit_ids();
    let mut intact: BTreeMap<ModelName, Option<String>> = BTreeMap::new();
    let mut out = Vec::new();
    for id in candidates {
        if reached.contains(&id) {
            continue;
        }
        match repo.objects().header(&id) {
            Ok(h) if h.kind == crate::object::Kind::Commit => {}
            _ => continue,
        }
        let age_secs = std::fs::metadata(repo.objects().path_of(&id))
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| now.duration_since(t).ok())
            .map_or(0, |d| d.as_secs());
        let marker = repo.pending_dir().join(id.to_hex());
        let cid = crate::id::CommitId(id);
        let commit = repo.read_commit(&id).ok();
        let Some(c) = commit else {
            out.push(Orphan {
                id: cid,
                model: None,
                interrupted: marker.is_file(),
                age_secs,
                doubt: Some("the object does not read as a commit".into()),
                commit: None,
            });
            continue;
        };
        let interrupted = std::fs::read(&marker).is_ok_and(|b| b == c.model.as_str().as_bytes());
        let history = intact
            .entry(c.model.clone())
            .or_insert_with(|| history_doubt(repo, walk, &c.model))
            .clone();
        let doubt = match history {
            Some(d) => Some(d),
            None if !interrupted => Some(format!(
                "no pending marker explains it: model {}'s history once recorded it and lost the line (a restored or half-copied store?)",
                c.model
            )),
            None => None,
        };
        out.push(Orphan {
            id: cid,
            model: Some(c.model.clone()),
            interrupted,
            age_secs,
            doubt,
            commit: Some(c),
        });
    }
    out
}

/// Why a model's history cannot vouch for what it does not contain (None: it can).
fn history_doubt(repo: &Repo, walk: &Walk, m: &ModelName) -> Option<String> {
    let log = repo.model_log(m);
    if !log.exists() {
        return Some(format!(
            "model {m} has no history log ({})",
            log.path().display()
        ));
    }
    match walk.histories.get(m) {
        None => Some(format!("model {m}'s history is unreadable")),
        Some(e) if e.is_empty() => Some(format!("model {m}'s history is empty")),
        Some(_) => match log.verify_chain() {
            Ok(p) if p.is_empty() => None,
            Ok(p) => Some(format!("model {m}'s history is damaged: {}", p.join("; "))),
            Err(e) => Some(format!("model {m}'s history is unreadable: {e}")),
        },
    }
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
