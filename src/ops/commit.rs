//! `commit`: store files and datasets, then write an immutable commit and move the head.
//!
//! Order is the crash protocol: chunks and manifests are written (and their directories
//! fsynced) before the commit object, and the commit object before the history line that
//! moves the head. The whole operation holds the store lock shared, so gc cannot remove an
//! object between "it exists, skip writing it" and "the commit refers to it". The parent is
//! read inside the model's lock, so two concurrent commits to one model both land, one
//! becoming the other's parent.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::commit::{Commit, DatasetEntry, Environment, FileEntry, COMMIT_FORMAT};
use crate::error::{Error, RecordError, Result};
use crate::filestore::{self, StoredFile};
use crate::history::{Action, MoveInfo};
use crate::id::ObjectId;
use crate::names::{validate_name, ModelName};
use crate::ops::Progress;
use crate::repo::Repo;
use crate::worktree::{Tracked, WorktreeState};

/// Everything a commit records, chosen by the caller.
#[derive(Clone, Debug)]
pub struct CommitRequest {
    pub model: ModelName,
    /// Paths to commit (files or directories), absolute or relative to `cwd`.
    pub paths: Vec<PathBuf>,
    pub cwd: PathBuf,
    pub message: String,
    pub author: String,
    pub created_at: crate::Timestamp,
    pub params: serde_json::Value,
    pub metrics: BTreeMap<String, f64>,
    /// (name, path) pairs.
    pub datasets: Vec<(String, PathBuf)>,
    pub store_datasets: bool,
    pub labels: Vec<String>,
    pub environment: Environment,
    /// Aliases to point at the new commit, in the same history entry.
    pub aliases: Vec<crate::names::AliasName>,
    /// Versions the new one was derived from (`--from`).
    pub derived_from: Vec<crate::id::CommitId>,
    /// How the files were made (`train`, `run`).
    pub recipe: Option<crate::recipe::Recipe>,
    /// Store what symbolic links point to as regular files (a Hugging Face cache snapshot
    /// is made of links into a blobs folder). Without it a link is refused.
    pub follow_symlinks: bool,
    /// Carry the parent's files that are not among `paths` into the new version unchanged
    /// (refused for a carried file with local changes). Without it they are not in the
    /// new version, and the outcome lists them as dropped.
    pub carry: bool,
    /// Untracked files (work-tree-relative) to store in the code patch as new files.
    pub include_untracked: Vec<String>,
}

/// What a commit did.
#[derive(Clone, Debug)]
pub struct CommitOutcome {
    pub id: crate::id::CommitId,
    pub commit: Commit,
    pub chunks: usize,
    pub new_chunks: usize,
    pub stored_bytes: u64,
    /// Aliases the model's policy moved (`candidate`, `best`).
    pub policy_moves: Vec<crate::policy::PolicyMove>,
    /// Files of the parent version that the new version does not have.
    pub dropped: Vec<String>,
    /// Files of the parent carried into the new version unchanged (`carry`).
    pub carried: Vec<String>,
    /// Bytes written for stored datasets (included in `stored_bytes`).
    pub dataset_bytes: u64,
    /// The parent version, when this version's files are exactly the parent's (same paths,
    /// same bytes): a new version was recorded (its params, metrics or message may differ),
    /// and its data took no space.
    pub same_files_as: Option<crate::id::CommitId>,
}

impl CommitRequest {
    /// A request to commit `paths` (relative to `cwd`) to `model`, with everything else
    /// empty: no message, params, metrics, datasets or labels, author `author`, time now,
    /// this machine's environment. Set the rest with struct update syntax:
    ///
    /// ```no_run
    /// # use mreg::{CommitRequest, ModelName};
    /// # fn f() -> mreg::Result<()> {
    /// let req = CommitRequest {
    ///     message: "baseline".into(),
    ///     ..CommitRequest::new(ModelName::new("mnist")?, "Ada <ada@example.com>", ".".into(), vec!["model.safetensors".into()])
    /// };
    /// # Ok(()) }
    /// ```
    pub fn new(model: ModelName, author: &str, cwd: PathBuf, paths: Vec<PathBuf>) -> Self {
        CommitRequest {
            model,
            paths,
            cwd,
            message: String::new(),
            author: author.to_string(),
            created_at: crate::Timestamp::now(),
            params: serde_json::Value::Object(Default::default()),
            metrics: BTreeMap::new(),
            datasets: Vec::new(),
            store_datasets: false,
            labels: Vec::new(),
            environment: Environment::current(),
            aliases: Vec::new(),
            derived_from: Vec::new(),
            recipe: None,
            follow_symlinks: false,
            carry: false,
            include_untracked: Vec::new(),
        }
    }
}

/// A file found under the requested paths.
struct Candidate {
    rel: String,
    abs: PathBuf,
    size: u64,
}

/// Expand files and directories into regular files, refusing special files, and links
/// unless `follow` (then a link stands for what it points to).
fn collect(repo: &Repo, cwd: &Path, paths: &[PathBuf], follow: bool) -> Result<Vec<Candidate>> {
    let mut out: BTreeMap<String, Candidate> = BTreeMap::new();
    for p in paths {
        let rel = repo.rel_path(cwd, p)?;
        if rel.is_empty() {
            return Err(Error::InvalidPath {
                path: p.display().to_string(),
                why: "it is the repository root; name the model's files or directories".into(),
            });
        }
        let abs = if follow {
            crate::names::validate_rel_path(&rel)?;
            repo.root().join(&rel)
        } else {
            repo.work_path(repo.root(), &rel)?
        };
        let mut visiting = Vec::new();
        walk(&rel, &abs, follow, &mut visiting, &mut out)?;
    }
    if out.is_empty() {
        return Err(RecordError::NoFiles.into());
    }
    Ok(out.into_values().collect())
}

fn walk(
    rel: &str,
    abs: &Path,
    follow: bool,
    visiting: &mut Vec<PathBuf>,
    out: &mut BTreeMap<String, Candidate>,
) -> Result<()> {
    let mut md = fs::symlink_metadata(abs).map_err(|e| Error::io("cannot read", abs, e))?;
    if md.file_type().is_symlink() {
        if !follow {
            return Err(Error::Symlink {
                path: rel.to_string(),
                link: abs.to_path_buf(),
            });
        }
        md = fs::metadata(abs).map_err(|e| Error::io("cannot follow the link", abs, e))?;
    }
    let ft = md.file_type();
    if ft.is_dir() {
        // A directory reached again through links would recurse forever.
        let real = fs::canonicalize(abs).map_err(|e| Error::io("resolving", abs, e))?;
        if visiting.contains(&real) {
            return Err(Error::UnsupportedFile {
                path: abs.to_path_buf(),
                why: "links lead back into a directory being committed (a cycle)".into(),
            });
        }
        visiting.push(real);
        let mut names: Vec<String> = Vec::new();
        for ent in fs::read_dir(abs).map_err(|e| Error::io("cannot list", abs, e))? {
            let ent = ent.map_err(|e| Error::io("cannot list", abs, e))?;
            let name = ent
                .file_name()
                .into_string()
                .map_err(|n| Error::InvalidPath {
                    path: abs.join(n).display().to_string(),
                    why: "the name is not valid UTF-8".into(),
                })?;
            if name == ".git" || name == ".modelreg" || name.contains(".mreg-tmp-") {
                continue;
            }
            names.push(name);
        }
        names.sort();
        for n in names {
            walk(&format!("{rel}/{n}"), &abs.join(&n), follow, visiting, out)?;
        }
        visiting.pop();
        return Ok(());
    }
    if !ft.is_file() {
        return Err(Error::UnsupportedFile {
            path: abs.to_path_buf(),
            why: "is not a regular file (device, socket or pipe)".into(),
        });
    }
    crate::names::validate_rel_path(rel)?;
    // Fail early, before anything is written, on a file we cannot read.
    fs::File::open(abs).map_err(|e| Error::io("cannot read", abs, e))?;
    out.insert(
        rel.to_string(),
        Candidate {
            rel: rel.to_string(),
            abs: abs.to_path_buf(),
            size: md.len(),
        },
    );
    Ok(())
}

/// Hash (and with `store`, store) one dataset: a file, or a directory's files.
fn dataset_entry(
    repo: &Repo,
    cwd: &Path,
    name: &str,
    path: &Path,
    store: bool,
    progress: &dyn Progress,
) -> Result<(DatasetEntry, u64)> {
    validate_name("dataset name", name)?;
    let abs = crate::repo::normalize(&cwd.join(path));
    let shown = repo
        .rel_path(cwd, path)
        .ok()
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| abs.display().to_string());
    let d = dataset_digest(&abs, store.then(|| repo.objects()), progress)?;
    Ok((
        DatasetEntry {
            name: name.to_string(),
            path: shown,
            blake3: d.blake3,
            size: d.size,
            stored: d.stored,
        },
        d.stored_bytes,
    ))
}

/// A dataset's identity (FORMAT.md, "Datasets"), and its stored files when it was stored.
#[derive(Clone, Debug)]
pub struct DatasetDigest {
    pub blake3: ObjectId,
    pub size: u64,
    pub files: usize,
    pub stored: Vec<FileEntry>,
    pub stored_bytes: u64,
}

/// The one definition of a dataset's hash, used by `commit --dataset` and `eval --data`:
/// a file's blake3, or for a directory the blake3 of its listing, one line per regular
/// file in byte order of its `/`-separated path relative to the directory:
/// `<blake3 hex> <size> <path>\n`. `.git`, `.modelreg` and mreg temp files are skipped;
/// links and special files are refused. With `store`, the files' bytes are stored too.
pub fn dataset_digest(
    abs: &Path,
    store: Option<&crate::object::ObjectStore>,
    progress: &dyn Progress,
) -> Result<DatasetDigest> {
    let md = fs::symlink_metadata(abs).map_err(|e| Error::io("cannot read dataset", abs, e))?;
    let mut files: BTreeMap<String, Candidate> = BTreeMap::new();
    let base = abs
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "dataset".into());
    walk(&base, abs, false, &mut Vec::new(), &mut files)?;
    let mut stored = Vec::new();
    let mut stored_bytes = 0;
    let mut listing = String::new();
    let mut size = 0;
    let mut single = None;
    for c in files.values() {
        let rel_in = if md.is_dir() {
            c.rel[base.len() + 1..].to_string()
        } else {
            c.rel.clone()
        };
        let (blake3, manifest) = match store {
            Some(objects) => {
                let s = filestore::store_file(objects, &c.abs, None, &|n| progress.advance(n))?;
                stored_bytes += s.stored_bytes;
                (s.blake3, Some(s))
            }
            None => {
                let (h, _) = filestore::hash_file(&c.abs)?;
                progress.advance(c.size);
                (h, None)
            }
        };
        size += c.size;
        listing.push_str(&format!("{blake3} {} {rel_in}\n", c.size));
        single = Some(blake3);
        if let Some(s) = manifest {
            stored.push(FileEntry {
                path: rel_in,
                blake3: crate::id::FileId(blake3),
                size: s.size,
                executable: false,
                manifest: crate::id::ManifestId(s.manifest),
            });
        }
    }
    let blake3 = if md.is_dir() {
        ObjectId::hash(listing.as_bytes())
    } else {
        single.unwrap_or_else(|| ObjectId::hash(b""))
    };
    Ok(DatasetDigest {
        blake3,
        size,
        files: files.len(),
        stored,
        stored_bytes,
    })
}

/// The names a commit records, checked as `commit` checks them: labels, dataset names (no
/// duplicates), and a new model name that is not a tag's. `run` calls this before the job
/// starts, so a typo never throws away a finished training.
pub fn check_names<'a>(
    repo: &Repo,
    model: &ModelName,
    labels: &[String],
    datasets: impl IntoIterator<Item = &'a str>,
) -> Result<()> {
    for l in labels {
        validate_name("label", l)?;
    }
    let mut seen = std::collections::HashSet::new();
    for n in datasets {
        validate_name("dataset name", n)?;
        if !seen.insert(n) {
            return Err(RecordError::DuplicateDataset {
                name: n.to_string(),
            }
            .into());
        }
    }
    if !repo.model_exists(model) && repo.find_tag(model.as_str())?.is_some() {
        return Err(Error::NameClash {
            name: model.to_string(),
            what: "model",
            other: "tag",
        });
    }
    Ok(())
}

/// Commit files to a model.
pub fn commit(repo: &Repo, req: CommitRequest, progress: &dyn Progress) -> Result<CommitOutcome> {
    check_names(
        repo,
        &req.model,
        &req.labels,
        req.datasets.iter().map(|(n, _)| n.as_str()),
    )?;
    for (k, v) in &req.metrics {
        if !v.is_finite() {
            return Err(RecordError::NotFinite { metric: k.clone() }.into());
        }
    }
    for f in &req.derived_from {
        repo.read_commit(f)?;
    }
    let candidates = collect(repo, &req.cwd, &req.paths, req.follow_symlinks)?;
    let named: std::collections::HashSet<String> =
        candidates.iter().map(|c| c.rel.clone()).collect();
    let tracked = WorktreeState::load(repo)?;
    let head_now = repo.model_state(&req.model)?.head;
    let early = Some((
        head_now,
        plan_others(repo, head_now, &named, req.carry, &tracked)?,
    ));
    // What the user committed, as roots: a directory stays a directory in the lock file
    // even while it holds one file.
    let mut roots: Vec<String> = Vec::new();
    for p in &req.paths {
        let rel = repo.rel_path(&req.cwd, p)?;
        let is_dir = fs::metadata(req.cwd.join(p)).is_ok_and(|m| m.is_dir());
        let r = if is_dir { format!("{rel}/") } else { rel };
        if !roots.contains(&r) {
            roots.push(r);
        }
    }
    roots.sort();
    // The code as it is now, before the (possibly long) storing.
    let captured = crate::git::capture_with(repo.root(), &req.include_untracked)?;
    let _store_lock = repo.lock_store_shared()?;
    let mut lineage = captured.lineage;
    if let Some(p) = &captured.patch {
        lineage.patch = Some(repo.objects().put(crate::object::Kind::Blob, p)?.id);
    }

    let bases = delta_bases(
        repo,
        head_now.or_else(|| req.derived_from.first().copied()),
        &candidates,
    );
    let total: u64 = candidates.iter().map(|c| c.size).sum();
    progress.start("storing", total);
    let stored: Vec<StoredFile> = candidates
        .par_iter()
        .zip(&bases)
        .map(|(c, b)| {
            filestore::store_file(repo.objects(), &c.abs, b.as_ref(), &|n| progress.advance(n))
        })
        .collect::<Result<_>>()?;
    progress.finish();
    // Pickles are read for what they would import when loaded (never loaded).
    let mut unsafe_pickles: Vec<crate::trust::pickle::Finding> = candidates
        .par_iter()
        .filter(|c| crate::trust::pickle::is_candidate(&c.rel))
        .map(|c| crate::trust::pickle::scan_file(&c.abs, &c.rel))
        .collect::<Result<Vec<_>>>()?
        .concat();
    let mut datasets = Vec::new();
    let mut dataset_bytes = 0;
    for (name, path) in &req.datasets {
        progress.start("hashing dataset", 0);
        let (entry, bytes) =
            dataset_entry(repo, &req.cwd, name, path, req.store_datasets, progress)?;
        datasets.push(entry);
        dataset_bytes += bytes;
        progress.finish();
    }
    repo.objects().flush()?;

    let files: Vec<FileEntry> = candidates
        .iter()
        .zip(&stored)
        .map(|(c, s)| FileEntry {
            path: c.rel.clone(),
            blake3: crate::id::FileId(s.blake3),
            size: s.size,
            executable: s.executable,
            manifest: crate::id::ManifestId(s.manifest),
        })
        .collect();
    let mut written: Option<(crate::id::CommitId, Commit)> = None;
    let mut policy_moves = Vec::new();
    let (mut dropped, mut carried) = (Vec::new(), Vec::new());
    let info = MoveInfo {
        time: req.created_at.clone(),
        author: req.author.clone(),
        message: req.message.clone(),
    };
    // The store lock is held (shared) since before the objects were stored.
    repo.transact_holding_store_lock(&req.model, info, Action::Commit, |t| {
        let mut files = files;
        let mut roots = roots.clone();
        // The parent's files this commit does not name: carried over on request, else
        // reported as dropped (a version is the set of files committed, nothing more).
        // Checked before storing anything; again here if the head moved meanwhile.
        let plan = match &early {
            Some((head, plan)) if *head == t.state().head => plan.clone(),
            _ => plan_others(repo, t.state().head, &named, req.carry, &tracked)?,
        };
        if req.carry {
            carried = plan.others.iter().map(|f| f.path.clone()).collect();
            // Carried files keep what was found in them.
            if let (Some(head), false) = (t.state().head, carried.is_empty()) {
                let parent = repo.read_commit(&head)?;
                unsafe_pickles.extend(
                    parent
                        .unsafe_pickles
                        .into_iter()
                        .filter(|f| carried.contains(&f.file)),
                );
            }
            files.extend(plan.others.iter().cloned());
            files.sort_by(|a, b| a.path.cmp(&b.path));
            for r in &plan.parent_roots {
                if !roots.contains(r) {
                    roots.push(r.clone());
                }
            }
            roots.sort();
        } else {
            dropped = plan.others.iter().map(|f| f.path.clone()).collect();
        }
        let c = Commit {
            format: COMMIT_FORMAT,
            model: req.model.clone(),
            parents: t.state().head.into_iter().collect(),
            message: req.message.clone(),
            author: req.author.clone(),
            created_at: req.created_at.clone(),
            files,
            params: req.params.clone(),
            metrics: req.metrics.clone(),
            datasets,
            labels: req.labels.clone(),
            environment: req.environment.clone(),
            git: Some(lineage.clone()),
            derived_from: req.derived_from.clone(),
            recipe: req.recipe.clone(),
            roots,
            unsafe_pickles: unsafe_pickles.clone(),
        };
        let id = repo.write_commit(&c)?;
        t.set_head(id);
        for a in &req.aliases {
            t.set_alias(a, id);
        }
        let mut row = crate::index::commit_row(id, &c);
        row.labels = c.labels.clone();
        // A policy set before the model had a history travels from its first line on.
        if let Some(p) = crate::policy::unrecorded(repo, &req.model) {
            t.set_extra(
                crate::policy::POLICY,
                serde_json::to_value(&p).expect("policies serialize"),
            );
        }
        policy_moves = crate::policy::apply(repo, &req.model, t, &row)?;
        written = Some((id, c));
        Ok(())
    })?;
    let (id, commit) = written.expect("the update closure ran and succeeded");
    repo.commit_recorded(&id);

    WorktreeState::update(repo, |w| {
        for p in &carried {
            if let Some(t) = w.files.get_mut(p) {
                t.commit = *id;
            }
        }
        for (c, s) in candidates.iter().zip(&stored) {
            // Content a checkout wrote without a sync stays unsynced: hashing it again in
            // the same boot read the page cache, not the disk.
            let unsynced = w
                .files
                .get(&c.rel)
                .filter(|t| t.blake3 == s.blake3)
                .and_then(|t| t.unsynced.clone());
            w.files.insert(
                c.rel.clone(),
                Tracked {
                    model: req.model.clone(),
                    commit: *id,
                    blake3: s.blake3,
                    size: s.size,
                    stat: Some(s.stat),
                    pending: Vec::new(),
                    unsynced,
                },
            );
        }
    })?;
    crate::lockfile::pin(repo, &req.model, *id, &commit.roots())?;
    let same_files_as = commit.parent().copied().filter(|p| {
        repo.read_commit(p).is_ok_and(|pc| {
            pc.files.len() == commit.files.len()
                && pc
                    .files
                    .iter()
                    .zip(&commit.files)
                    .all(|(a, b)| a.path == b.path && a.blake3 == b.blake3)
        })
    });
    Ok(CommitOutcome {
        same_files_as,
        id,
        chunks: stored.iter().map(|s| s.chunks).sum(),
        new_chunks: stored.iter().map(|s| s.new_chunks).sum(),
        stored_bytes: stored.iter().map(|s| s.stored_bytes).sum::<u64>() + dataset_bytes,
        commit,
        policy_moves,
        dropped,
        carried,
        dataset_bytes,
    })
}

/// For each candidate, the manifest of its counterpart in `base` (the parent version, or
/// for a new model the version it derives from): the file at the same path, else the one
/// file of the same size (a checkpoint renamed per step). Its chunks may become delta bases
/// of the new chunks; anything unreadable here only means no delta.
fn delta_bases(
    repo: &Repo,
    base: Option<crate::id::CommitId>,
    candidates: &[Candidate],
) -> Vec<Option<filestore::Manifest>> {
    let Some(commit) = base.and_then(|b| repo.read_commit(&b).ok()) else {
        return vec![None; candidates.len()];
    };
    candidates
        .iter()
        .map(|c| {
            let by_path = commit.files.iter().find(|f| f.path == c.rel);
            let by_size = || {
                let mut same = commit.files.iter().filter(|f| f.size == c.size);
                match (same.next(), same.next()) {
                    (Some(f), None) => Some(f),
                    _ => None,
                }
            };
            let f = by_path.or_else(by_size)?;
            filestore::load_manifest(repo.objects(), &f.manifest).ok()
        })
        .collect()
}

/// The parent's files a commit does not name.
#[derive(Clone, Debug, Default)]
struct Others {
    others: Vec<FileEntry>,
    parent_roots: Vec<String>,
}

/// What the parent at `head` has besides `named`; with `carry`, refused when one of them
/// lost its data or has local changes (the new version would misreport it).
fn plan_others(
    repo: &Repo,
    head: Option<crate::id::CommitId>,
    named: &std::collections::HashSet<String>,
    carry: bool,
    tracked: &WorktreeState,
) -> Result<Others> {
    let Some(parent) = head else {
        return Ok(Others::default());
    };
    let pc = repo.read_commit(&parent)?;
    let others: Vec<FileEntry> = pc
        .files
        .iter()
        .filter(|f| !named.contains(&f.path))
        .cloned()
        .collect();
    if carry && !others.is_empty() {
        let lost = crate::reach::files_missing_data(repo, &pc);
        let mut changed = Vec::new();
        for f in &others {
            if lost.contains(&f.path) {
                return Err(RecordError::CarryPruned {
                    path: f.path.clone(),
                    parent: (*parent).into(),
                }
                .into());
            }
            if locally_changed(repo, tracked, f)? {
                changed.push(f.path.clone());
            }
        }
        if !changed.is_empty() {
            return Err(RecordError::CarryChanged {
                paths: changed,
                parent: (*parent).into(),
            }
            .into());
        }
    }
    Ok(Others {
        others,
        parent_roots: pc.roots(),
    })
}

/// True when the work-tree file at `f.path` differs from `f` (a missing file is not a
/// change: carrying it keeps the parent's content, which the store has).
fn locally_changed(repo: &Repo, tracked: &WorktreeState, f: &FileEntry) -> Result<bool> {
    let abs = repo.work_path(repo.root(), &f.path)?;
    let md = match fs::metadata(&abs) {
        Ok(md) => md,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(Error::io("reading metadata of", abs, e)),
    };
    let (actual, _) = crate::worktree::current_content(tracked.files.get(&f.path), &abs, &md)?;
    Ok(actual != f.blake3)
}
