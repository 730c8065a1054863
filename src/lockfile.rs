//! `mreg.lock`: which model versions go with the code, tracked by git.
//!
//! A small YAML file at the git work tree root, maintained by `commit` and `checkout`:
//!
//! ```yaml
//! # Model versions pinned with this code, written by mreg. Commit it with your code.
//! version: 1
//! files:
//!   models/mnist.safetensors: {model: mnist, commit: <id>, blake3: <id>, size: 1088}
//! ```
//!
//! Paths are relative to the git work tree root. mreg also makes sure every pinned path is
//! listed in the root `.gitignore`, so multi-GB weights never enter git history. Both files
//! are rewritten atomically under the store's `lockfile` lock.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::fsutil;
use crate::id::ObjectId;
use crate::names::ModelName;
use crate::repo::Repo;

pub const LOCK_FILE: &str = "mreg.lock";
const HEADER: &str =
    "# Model versions pinned with this code, written by mreg. Commit it with your code.\n";
const IGNORE_HEADER: &str = "# Model files versioned by mreg (see mreg.lock)";

/// One pinned path.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pin {
    pub model: ModelName,
    pub commit: ObjectId,
    pub blake3: ObjectId,
    pub size: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LockFile {
    pub version: u32,
    #[serde(default)]
    pub files: BTreeMap<String, Pin>,
}

impl LockFile {
    pub fn parse(what: &Path, bytes: &[u8]) -> Result<LockFile> {
        let l: LockFile = serde_yaml::from_slice(bytes).map_err(|e| Error::Parse {
            what: "lock file",
            path: what.to_path_buf(),
            why: e.to_string(),
        })?;
        for p in l.files.keys() {
            crate::names::validate_rel_path(p)?;
        }
        Ok(l)
    }

    pub fn encode(&self) -> String {
        format!(
            "{HEADER}{}",
            serde_yaml::to_string(self).expect("lock file serializes")
        )
    }
}

/// Pin `entries` (paths relative to the store's work tree) in the git work tree's lock file
/// and make sure they are git-ignored. Does nothing outside a git work tree. Returns whether
/// the lock file changed.
pub fn pin(repo: &Repo, entries: &[(String, Pin)]) -> Result<bool> {
    let Some(git_root) = crate::git::work_tree_root(repo.root()) else {
        return Ok(false);
    };
    let git_root = fs::canonicalize(&git_root).unwrap_or(git_root);
    let Ok(prefix) = repo.root().strip_prefix(&git_root) else {
        return Ok(false);
    };
    let prefix = prefix.to_string_lossy().replace('\\', "/");
    let to_git = |p: &str| {
        if prefix.is_empty() {
            p.to_string()
        } else {
            format!("{prefix}/{p}")
        }
    };
    let _g = repo.lock_named("lockfile")?;
    let path = git_root.join(LOCK_FILE);
    let mut lock = match fs::read(&path) {
        Ok(b) => LockFile::parse(&path, &b)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => LockFile::default(),
        Err(e) => return Err(Error::io("reading", path, e)),
    };
    let before = lock.clone();
    lock.version = 1;
    for (p, pin) in entries {
        lock.files.insert(to_git(p), pin.clone());
    }
    let changed = lock != before;
    if changed {
        fsutil::write_atomic(&path, lock.encode().as_bytes(), &repo.tmp_dir())?;
    }
    ensure_ignored(repo, &git_root, entries.iter().map(|(p, _)| to_git(p)))?;
    Ok(changed)
}

/// Add `/path` lines to the root `.gitignore` for paths not listed yet.
fn ensure_ignored(repo: &Repo, git_root: &Path, paths: impl Iterator<Item = String>) -> Result<()> {
    let path = git_root.join(".gitignore");
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(Error::io("reading", path, e)),
    };
    let have: std::collections::HashSet<&str> = text.lines().map(str::trim).collect();
    let mut add: Vec<String> = paths
        .map(|p| format!("/{p}"))
        .filter(|l| !have.contains(l.as_str()))
        .collect();
    add.sort();
    add.dedup();
    if add.is_empty() {
        return Ok(());
    }
    let mut out = text.clone();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    if !have.contains(IGNORE_HEADER) {
        out.push_str(IGNORE_HEADER);
        out.push('\n');
    }
    for l in add {
        out.push_str(&l);
        out.push('\n');
    }
    fsutil::write_atomic(&path, out.as_bytes(), &repo.tmp_dir())
}

/// The lock file as of git revision `rev` (None when it did not exist then), with its paths
/// made relative to the store's work tree.
pub fn at_git_rev(repo: &Repo, rev: &str) -> Result<Option<Vec<(String, Pin)>>> {
    let git_root = crate::git::work_tree_root(repo.root()).ok_or_else(|| {
        Error::InvalidArgument(format!(
            "{} is not inside a git work tree",
            repo.root().display()
        ))
    })?;
    let git_root = fs::canonicalize(&git_root).unwrap_or(git_root);
    let Some(bytes) = crate::git::file_at(repo.root(), rev, LOCK_FILE)? else {
        return Ok(None);
    };
    let lock = LockFile::parse(Path::new(&format!("{rev}:{LOCK_FILE}")), &bytes)?;
    let mut out = Vec::new();
    for (p, pin) in lock.files {
        let abs = git_root.join(&p);
        out.push((repo.rel_path(repo.root(), &abs)?, pin));
    }
    Ok(Some(out))
}
