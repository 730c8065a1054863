//! `mreg.lock`: which model versions go with the code, tracked by git.
//!
//! A small YAML file at the git work tree root, maintained by `commit` and `checkout`. It
//! pins one version per model — a directory is a version, not a pile of files — and says
//! where that version lives in the work tree:
//!
//! ```yaml
//! # Model versions pinned with this code, written by mreg. Commit it with your code.
//! version: 2
//! models:
//!   minilm: {commit: <id>, paths: [models/minilm/]}
//!   mnist: {commit: <id>, paths: [models/mnist.safetensors]}
//! ```
//!
//! `paths` are the version's roots, relative to the git work tree root: its directory
//! (ending in `/`) when its files share one, else its files' top-level entries. A version
//! of 2,000 files is one line. mreg also makes sure every root is listed in the root
//! `.gitignore` (one line per committed directory), so multi-GB weights never enter git
//! history. Both files are rewritten atomically under the store's `lockfile` lock.
//!
//! Version 1 files (one line per file) are still read, so `checkout --git` of an old git
//! revision restores what it pinned.

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
const FORMAT: u32 = 2;

/// One pinned model version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pin {
    pub commit: crate::id::CommitId,
    /// The version's roots (directories end with `/`).
    pub paths: Vec<String>,
}

impl Pin {
    /// True when `path` (same base as `paths`) is inside this pin.
    pub fn covers(&self, path: &str) -> bool {
        self.paths.iter().any(|r| covers(r, path))
    }
}

/// True when `path` is the root `root` or inside it (a root ending in `/` is a directory).
pub fn covers(root: &str, path: &str) -> bool {
    match root.strip_suffix('/') {
        Some(dir) => path.starts_with(root) || path == dir,
        None => path == root,
    }
}

/// One line of a version 1 lock file.
#[derive(Clone, Debug, Deserialize)]
struct PinV1 {
    model: ModelName,
    commit: ObjectId,
}

#[derive(Deserialize)]
struct Raw {
    version: u32,
    #[serde(default)]
    models: BTreeMap<ModelName, Pin>,
    #[serde(default)]
    files: BTreeMap<String, PinV1>,
}

/// A lock file: one pin per model (a version 1 file with several versions of one model is
/// read as several pins).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LockFile {
    pub pins: Vec<(ModelName, Pin)>,
}

impl LockFile {
    pub fn parse(what: &Path, bytes: &[u8]) -> Result<LockFile> {
        let bad = |why: String| Error::Parse {
            what: "lock file",
            path: what.to_path_buf(),
            why,
        };
        let raw: Raw = serde_yaml::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
        let mut pins = Vec::new();
        match raw.version {
            1 => {
                let mut grouped: BTreeMap<(ModelName, ObjectId), Vec<String>> = BTreeMap::new();
                for (path, p) in raw.files {
                    grouped.entry((p.model, p.commit)).or_default().push(path);
                }
                for ((model, commit), paths) in grouped {
                    pins.push((
                        model,
                        Pin {
                            commit: crate::id::CommitId(commit),
                            paths,
                        },
                    ));
                }
            }
            FORMAT => pins.extend(raw.models),
            v => {
                return Err(bad(format!(
                    "lock file version {v} is newer than this mreg (it reads 1 and 2)"
                )))
            }
        }
        for (_, pin) in &pins {
            for p in &pin.paths {
                crate::names::validate_rel_path(p.trim_end_matches('/'))?;
            }
        }
        Ok(LockFile { pins })
    }

    pub fn encode(&self) -> String {
        #[derive(Serialize)]
        struct Out<'a> {
            version: u32,
            models: BTreeMap<&'a ModelName, &'a Pin>,
        }
        let out = Out {
            version: FORMAT,
            models: self.pins.iter().map(|(m, p)| (m, p)).collect(),
        };
        format!(
            "{HEADER}{}",
            serde_yaml::to_string(&out).expect("lock file serializes")
        )
    }

    /// The pin covering `path`, if any.
    pub fn pin_of(&self, path: &str) -> Option<&(ModelName, Pin)> {
        self.pins.iter().find(|(_, p)| p.covers(path))
    }
}

pub use crate::commit::roots;

/// Pin `model` at `commit`, whose roots are `roots` (`Commit::roots`, relative to the
/// store's work tree), in the git work tree's lock file, and make sure its roots are
/// git-ignored. Does nothing outside a git work tree. Returns whether the lock file changed.
pub fn pin(repo: &Repo, model: &ModelName, commit: ObjectId, roots: &[String]) -> Result<bool> {
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
    let paths: Vec<String> = roots.iter().map(|r| to_git(r)).collect();
    let _g = repo.lock_named("lockfile")?;
    let path = git_root.join(LOCK_FILE);
    let mut lock = match fs::read(&path) {
        Ok(b) => LockFile::parse(&path, &b)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => LockFile::default(),
        Err(e) => return Err(Error::io("reading", path, e)),
    };
    let before = lock.encode();
    lock.pins.retain(|(m, _)| m != model);
    lock.pins.push((
        model.clone(),
        Pin {
            commit: crate::id::CommitId(commit),
            paths: paths.clone(),
        },
    ));
    lock.pins.sort_by(|a, b| a.0.cmp(&b.0));
    let text = lock.encode();
    let changed = text != before || !path.exists();
    if changed {
        fsutil::write_atomic(&path, text.as_bytes(), &repo.tmp_dir())?;
    }
    ensure_ignored(repo, &git_root, paths.into_iter())?;
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
    // A path inside a directory already ignored needs no line of its own.
    let ignored_dirs: Vec<&str> = have
        .iter()
        .filter_map(|l| l.strip_prefix('/'))
        .filter(|l| l.ends_with('/'))
        .collect();
    let mut add: Vec<String> = paths
        .filter(|p| !ignored_dirs.iter().any(|d| covers(d, p)))
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

/// The pins of the lock file as of git revision `rev` (None when it did not exist then),
/// with their paths made relative to the store's work tree.
pub fn at_git_rev(repo: &Repo, rev: &str) -> Result<Option<Vec<(ModelName, Pin)>>> {
    let git_root = crate::git::work_tree_root(repo.root()).ok_or_else(|| {
        Error::from(crate::error::GitError::NotAWorkTree {
            dir: repo.root().to_path_buf(),
        })
    })?;
    let git_root = fs::canonicalize(&git_root).unwrap_or(git_root);
    let Some(bytes) = crate::git::file_at(repo.root(), rev, LOCK_FILE)? else {
        return Ok(None);
    };
    let lock = LockFile::parse(Path::new(&format!("{rev}:{LOCK_FILE}")), &bytes)?;
    let mut out = Vec::new();
    for (model, pin) in lock.pins {
        let mut paths = Vec::new();
        for p in &pin.paths {
            let dir = p.ends_with('/');
            let abs = git_root.join(p.trim_end_matches('/'));
            let rel = repo.rel_path(repo.root(), &abs)?;
            paths.push(if dir { format!("{rel}/") } else { rel });
        }
        out.push((
            model,
            Pin {
                commit: pin.commit,
                paths,
            },
        ));
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_collapse_a_directory_to_one_line() {
        let files: Vec<String> = (0..2002).map(|i| format!("models/big/f{i}.bin")).collect();
        assert_eq!(roots(files.iter().map(String::as_str)), vec!["models/big/"]);
        assert_eq!(roots(["w.bin"]), vec!["w.bin"]);
        assert_eq!(roots(["a/x/1", "a/y/2"]), vec!["a/"]);
        assert_eq!(roots(["a/1", "b/2", "c"]), vec!["a/", "b/", "c"]);
        assert!(covers("a/", "a/b/c") && covers("a/", "a") && !covers("a/", "ab/c"));
        assert!(covers("w.bin", "w.bin") && !covers("w.bin", "w.bin2"));
    }

    #[test]
    fn version_1_files_are_read_as_pins_per_version() {
        let id = ObjectId::hash(b"x").to_hex();
        let y = format!(
            "version: 1\nfiles:\n  m/a.bin: {{model: m, commit: {id}, blake3: {id}, size: 1}}\n  m/b.bin: {{model: m, commit: {id}, blake3: {id}, size: 1}}\n"
        );
        let l = LockFile::parse(Path::new("x"), y.as_bytes()).unwrap();
        assert_eq!(l.pins.len(), 1);
        assert_eq!(l.pins[0].1.paths, vec!["m/a.bin", "m/b.bin"]);
        let again = LockFile::parse(Path::new("x"), l.encode().as_bytes()).unwrap();
        assert_eq!(again, l);
    }
}
