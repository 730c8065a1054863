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
use crate::error::{Error, Result};
use crate::filestore::{self, StoredFile};
use crate::history::MoveInfo;
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
    pub created_at: String,
    pub params: serde_json::Value,
    pub metrics: BTreeMap<String, f64>,
    /// (name, path) pairs.
    pub datasets: Vec<(String, PathBuf)>,
    pub store_datasets: bool,
    pub labels: Vec<String>,
    pub environment: Environment,
    /// Aliases to point at the new commit, in the same history entry.
    pub aliases: Vec<String>,
    /// Versions the new one was derived from (`--from`).
    pub derived_from: Vec<ObjectId>,
    /// How the files were made (`train`, `run`).
    pub recipe: Option<crate::recipe::Recipe>,
}

/// What a commit did.
#[derive(Clone, Debug)]
pub struct CommitOutcome {
    pub id: ObjectId,
    pub commit: Commit,
    pub chunks: usize,
    pub new_chunks: usize,
    pub stored_bytes: u64,
    /// Aliases the model's policy moved (`candidate`, `best`).
    pub policy_moves: Vec<crate::policy::PolicyMove>,
}

/// A file found under the requested paths.
struct Candidate {
    rel: String,
    abs: PathBuf,
    size: u64,
}

/// Expand files and directories into regular files, refusing links and special files.
fn collect(repo: &Repo, cwd: &Path, paths: &[PathBuf]) -> Result<Vec<Candidate>> {
    let mut out: BTreeMap<String, Candidate> = BTreeMap::new();
    for p in paths {
        let rel = repo.rel_path(cwd, p)?;
        if rel.is_empty() {
            return Err(Error::InvalidPath {
                path: p.display().to_string(),
                why: "it is the repository root; name the model's files or directories".into(),
            });
        }
        let abs = repo.work_path(repo.root(), &rel)?;
        walk(&rel, &abs, &mut out)?;
    }
    if out.is_empty() {
        return Err(Error::InvalidArgument(
            "nothing to commit: the given directories hold no files".into(),
        ));
    }
    Ok(out.into_values().collect())
}

fn walk(rel: &str, abs: &Path, out: &mut BTreeMap<String, Candidate>) -> Result<()> {
    let md = fs::symlink_metadata(abs).map_err(|e| Error::io("cannot read", abs, e))?;
    let ft = md.file_type();
    if ft.is_symlink() {
        return Err(Error::UnsupportedFile {
            path: abs.to_path_buf(),
            why: "is a symbolic link; mreg does not follow links (commit the file it points to)"
                .into(),
        });
    }
    if ft.is_dir() {
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
            walk(&format!("{rel}/{n}"), &abs.join(&n), out)?;
        }
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
) -> Result<DatasetEntry> {
    validate_name("dataset name", name)?;
    let abs = crate::repo::normalize(&cwd.join(path));
    let shown = repo
        .rel_path(cwd, path)
        .ok()
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| abs.display().to_string());
    let md = fs::symlink_metadata(&abs).map_err(|e| Error::io("cannot read dataset", &abs, e))?;
    let mut files: BTreeMap<String, Candidate> = BTreeMap::new();
    let base = abs
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    walk(&base, &abs, &mut files)?;
    let mut stored = Vec::new();
    let mut listing = String::new();
    let mut size = 0;
    let mut single = None;
    for c in files.values() {
        let rel_in = if md.is_dir() {
            c.rel[base.len() + 1..].to_string()
        } else {
            c.rel.clone()
        };
        let (blake3, manifest) = if store {
            let s = filestore::store_file(repo.objects(), &c.abs, &|n| progress.advance(n))?;
            (s.blake3, Some(s))
        } else {
            let (h, _) = filestore::hash_file(&c.abs)?;
            progress.advance(c.size);
            (h, None)
        };
        size += c.size;
        listing.push_str(&format!("{blake3} {} {rel_in}\n", c.size));
        single = Some(blake3);
        if let Some(s) = manifest {
            stored.push(FileEntry {
                path: rel_in,
                blake3,
                size: s.size,
                executable: false,
                manifest: s.manifest,
            });
        }
    }
    let blake3 = if md.is_dir() {
        ObjectId::hash(listing.as_bytes())
    } else {
        single.unwrap_or_else(|| ObjectId::hash(b""))
    };
    Ok(DatasetEntry {
        name: name.to_string(),
        path: shown,
        blake3,
        size,
        stored,
    })
}

/// Commit files to a model.
pub fn commit(repo: &Repo, req: CommitRequest, progress: &dyn Progress) -> Result<CommitOutcome> {
    for l in &req.labels {
        validate_name("label", l)?;
    }
    let mut seen = std::collections::HashSet::new();
    for (n, _) in &req.datasets {
        validate_name("dataset name", n)?;
        if !seen.insert(n) {
            return Err(Error::InvalidArgument(format!(
                "dataset {n:?} is given twice"
            )));
        }
    }
    for a in &req.aliases {
        validate_name("alias", a)?;
    }
    if !repo.model_exists(&req.model) && repo.find_tag(req.model.as_str())?.is_some() {
        return Err(Error::NameClash {
            name: req.model.to_string(),
            what: "model",
            other: "tag",
        });
    }
    for (k, v) in &req.metrics {
        if !v.is_finite() {
            return Err(Error::InvalidArgument(format!(
                "metric {k} is not a finite number"
            )));
        }
    }
    for f in &req.derived_from {
        repo.read_commit(f)?;
    }
    let candidates = collect(repo, &req.cwd, &req.paths)?;
    // The code as it is now, before the (possibly long) storing.
    let captured = crate::git::capture(repo.root())?;
    let _store_lock = repo.lock_store_shared()?;
    let mut lineage = captured.lineage;
    if let Some(p) = &captured.patch {
        lineage.patch = Some(repo.objects().put(crate::object::Kind::Blob, p)?.id);
    }

    let total: u64 = candidates.iter().map(|c| c.size).sum();
    progress.start("storing", total);
    let stored: Vec<StoredFile> = candidates
        .par_iter()
        .map(|c| filestore::store_file(repo.objects(), &c.abs, &|n| progress.advance(n)))
        .collect::<Result<_>>()?;
    progress.finish();
    let mut datasets = Vec::new();
    for (name, path) in &req.datasets {
        progress.start("hashing dataset", 0);
        datasets.push(dataset_entry(
            repo,
            &req.cwd,
            name,
            path,
            req.store_datasets,
            progress,
        )?);
        progress.finish();
    }
    repo.objects().flush()?;

    let files: Vec<FileEntry> = candidates
        .iter()
        .zip(&stored)
        .map(|(c, s)| FileEntry {
            path: c.rel.clone(),
            blake3: s.blake3,
            size: s.size,
            executable: s.executable,
            manifest: s.manifest,
        })
        .collect();
    let mut written: Option<(ObjectId, Commit)> = None;
    let mut policy_moves = Vec::new();
    let info = MoveInfo {
        time: req.created_at.clone(),
        author: req.author.clone(),
        action: "commit".into(),
        message: req.message.clone(),
    };
    repo.model_log(&req.model).update(info, |state, _| {
        let c = Commit {
            format: COMMIT_FORMAT,
            model: req.model.clone(),
            parents: state.head.into_iter().collect(),
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
        };
        let id = repo.write_commit(&c)?;
        state.head = Some(id);
        for a in &req.aliases {
            state.aliases.insert(a.clone(), id);
        }
        let mut row = crate::index::commit_row(id, &c);
        row.labels = c.labels.clone();
        policy_moves = crate::policy::apply(repo, &req.model, state, &row)?;
        written = Some((id, c));
        Ok(())
    })?;
    let (id, commit) = written.expect("the update closure ran and succeeded");

    WorktreeState::update(repo, |w| {
        for (c, s) in candidates.iter().zip(&stored) {
            w.files.insert(
                c.rel.clone(),
                Tracked {
                    model: req.model.clone(),
                    commit: id,
                    blake3: s.blake3,
                    size: s.size,
                    stat: Some(s.stat),
                    pending: Vec::new(),
                },
            );
        }
    })?;
    let pins: Vec<(String, crate::lockfile::Pin)> = candidates
        .iter()
        .zip(&stored)
        .map(|(c, s)| {
            let pin = crate::lockfile::Pin {
                model: req.model.clone(),
                commit: id,
                blake3: s.blake3,
                size: s.size,
            };
            (c.rel.clone(), pin)
        })
        .collect();
    crate::lockfile::pin(repo, &pins)?;
    Ok(CommitOutcome {
        id,
        chunks: stored.iter().map(|s| s.chunks).sum(),
        new_chunks: stored.iter().map(|s| s.new_chunks).sum(),
        stored_bytes: stored.iter().map(|s| s.stored_bytes).sum(),
        commit,
        policy_moves,
    })
}
