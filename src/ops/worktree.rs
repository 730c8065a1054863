//! What mreg last wrote or committed at each work-tree path, and the stat cache.
//!
//! `worktree.json` maps a repository-relative path to the model and commit it came from,
//! its blake3, size, and the stat (device, inode, size, mtime, ctime) it had when mreg last
//! hashed or wrote it. `status` uses it to skip re-reading unchanged files; `checkout` uses
//! it to tell a file mreg wrote (safe to replace) from a user's own edit (never silently
//! overwritten). It is a cache of facts about the work tree, never the source of truth for
//! the store: losing it loses no version.

use std::collections::BTreeMap;
use std::fs;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::filestore::{self, FileStat};
use crate::fsutil;
use crate::id::ObjectId;
use crate::names::ModelName;
use crate::repo::Repo;

/// One tracked path.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tracked {
    pub model: ModelName,
    pub commit: ObjectId,
    pub blake3: ObjectId,
    pub size: u64,
    #[serde(default)]
    pub stat: Option<FileStat>,
    /// Content a checkout was about to write here (recorded before writing): a crash between
    /// the rename and the final update leaves this content, which is still mreg's own.
    /// (A set: several interrupted checkouts in a row each leave their own candidate.)
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending: Vec<ObjectId>,
    /// Written by checkout without waiting for the disk, in this boot (its boot id). The
    /// stat is trusted only in that boot; after a reboot the file is hashed again, so a
    /// crash that lost its bytes never reads as clean.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unsynced: Option<String>,
}

impl Tracked {
    /// True when `stat` is what was recorded and can vouch for the content: always for
    /// files that reached the disk, only within the boot that wrote them otherwise.
    pub fn stat_vouches(&self, stat: &FileStat) -> bool {
        self.stat.as_ref() == Some(stat)
            && self
                .unsynced
                .as_deref()
                .is_none_or(|b| Some(b) == fsutil::boot_id())
    }
}

/// The content id of the work-tree file at `path` (whose metadata is `md`), and its stat.
/// When `t` recorded exactly this stat, the recorded blake3 is trusted (no read, as git
/// trusts its index); otherwise the file is hashed. The one "what is in this file now"
/// check of checkout and commit.
pub(crate) fn current_content(
    t: Option<&Tracked>,
    path: &std::path::Path,
    md: &fs::Metadata,
) -> Result<(ObjectId, FileStat)> {
    let stat = FileStat::of(md);
    match t {
        Some(t) if t.stat_vouches(&stat) => Ok((t.blake3, stat)),
        _ => filestore::hash_file(path),
    }
}

impl Tracked {
    /// True when `content` is what mreg last wrote or committed here, or was writing.
    pub fn is_mregs(&self, content: &ObjectId) -> bool {
        self.blake3 == *content || self.pending.contains(content)
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct WorktreeState {
    #[serde(default)]
    pub files: BTreeMap<String, Tracked>,
}

impl WorktreeState {
    fn path(repo: &Repo) -> std::path::PathBuf {
        repo.store_dir().join("worktree.json")
    }

    pub fn load(repo: &Repo) -> Result<WorktreeState> {
        let p = Self::path(repo);
        match fs::read(&p) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| Error::CorruptWorktree {
                path: p,
                why: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(WorktreeState::default()),
            Err(e) => Err(Error::io("reading", p, e)),
        }
    }

    /// Read-modify-write under the `worktree` lock, atomically.
    pub fn update(repo: &Repo, f: impl FnOnce(&mut WorktreeState)) -> Result<()> {
        let _g = repo.lock_named("worktree")?;
        // A corrupt state is an error, never silently replaced: it is what tells mreg's own
        // files from the user's edits.
        let mut st = Self::load(repo)?;
        f(&mut st);
        let bytes = serde_json::to_vec_pretty(&st).expect("worktree state serializes");
        fsutil::write_atomic(&Self::path(repo), &bytes, &repo.tmp_dir())
    }
}

/// How a tracked file compares with what mreg last recorded for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileState {
    Clean,
    Modified,
    Deleted,
}

#[derive(Clone, Debug, Serialize)]
pub struct StatusEntry {
    pub path: String,
    pub state: FileState,
    pub model: ModelName,
    pub commit: ObjectId,
    pub expected_blake3: ObjectId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actual_blake3: Option<ObjectId>,
    /// True when the file had to be re-hashed (its stat changed).
    pub rehashed: bool,
}

/// A version the work tree holds files of (what `checkout` or `commit` last wrote).
#[derive(Clone, Debug, Serialize)]
pub struct HeldVersion {
    pub model: ModelName,
    pub commit: crate::id::CommitId,
    /// Its version number (None: pending).
    pub version: Option<u64>,
    /// How many tracked files came from it.
    pub files: usize,
    /// The model's head now, and whether the held version is it.
    pub head: Option<crate::id::CommitId>,
    pub is_head: bool,
}

/// What `mreg status` reports: each tracked file's state, untracked files inside committed
/// directories, and which version of each model the work tree holds.
#[derive(Clone, Debug, Serialize)]
pub struct StatusReport {
    pub clean: bool,
    pub files: Vec<StatusEntry>,
    pub untracked: Vec<Untracked>,
    pub versions: Vec<HeldVersion>,
}

/// The whole status of the work tree (see `StatusReport`).
pub fn report(repo: &Repo) -> Result<StatusReport> {
    let files = status(repo)?;
    let untracked = untracked(repo)?;
    let mut held: BTreeMap<(ModelName, ObjectId), usize> = BTreeMap::new();
    for e in &files {
        *held.entry((e.model.clone(), e.commit)).or_default() += 1;
    }
    let mut versions = Vec::new();
    for ((model, commit), n) in held {
        let commit = crate::id::CommitId(commit);
        let head = if repo.model_exists(&model) {
            repo.model_state(&model)?.head
        } else {
            None
        };
        let entries = repo.history_entries(&model)?;
        versions.push(HeldVersion {
            version: crate::versions::numbering(repo, &model, &entries)?.number(&commit),
            is_head: head == Some(commit),
            head,
            files: n,
            commit,
            model,
        });
    }
    Ok(StatusReport {
        clean: files.iter().all(|e| e.state == FileState::Clean),
        files,
        untracked,
        versions,
    })
}

/// Compare every tracked file with its recorded content, re-hashing only files whose stat
/// changed; refreshes the stat cache for files found unchanged.
pub fn status(repo: &Repo) -> Result<Vec<StatusEntry>> {
    let state = WorktreeState::load(repo)?;
    let mut out = Vec::new();
    let mut refreshed = Vec::new();
    for (path, t) in &state.files {
        let abs = repo.work_path(repo.root(), path)?;
        let base = StatusEntry {
            path: path.clone(),
            state: FileState::Clean,
            model: t.model.clone(),
            commit: t.commit,
            expected_blake3: t.blake3,
            actual_blake3: None,
            rehashed: false,
        };
        let md = match fs::symlink_metadata(&abs) {
            Ok(md) if md.is_file() => md,
            Ok(_) => {
                out.push(StatusEntry {
                    state: FileState::Modified,
                    ..base
                });
                continue;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                out.push(StatusEntry {
                    state: FileState::Deleted,
                    ..base
                });
                continue;
            }
            Err(e) => return Err(Error::io("reading metadata of", abs, e)),
        };
        let stat = FileStat::of(&md);
        if t.stat_vouches(&stat) {
            out.push(base);
            continue;
        }
        if stat.size != t.size {
            out.push(StatusEntry {
                state: FileState::Modified,
                ..base
            });
            continue;
        }
        let (actual, stat) = filestore::hash_file(&abs)?;
        let clean = actual == t.blake3;
        if clean {
            refreshed.push((path.clone(), stat));
        }
        out.push(StatusEntry {
            state: if clean {
                FileState::Clean
            } else {
                FileState::Modified
            },
            actual_blake3: Some(actual),
            rehashed: true,
            ..base
        });
    }
    if !refreshed.is_empty() {
        // Best effort: a failure to refresh the cache only costs a re-hash next time.
        let _ = WorktreeState::update(repo, |s| {
            for (p, st) in refreshed {
                if let Some(t) = s.files.get_mut(&p) {
                    t.stat = Some(st);
                    // Hashed clean in a later boot: the bytes did reach the disk.
                    if t.unsynced.as_deref() != fsutil::boot_id() {
                        t.unsynced = None;
                    }
                }
            }
        });
    }
    Ok(out)
}

/// A file inside a committed directory that mreg never wrote or committed.
#[derive(Clone, Debug, Serialize)]
pub struct Untracked {
    pub path: String,
    /// The model whose committed directory holds it.
    pub model: ModelName,
}

/// Files inside the directories of each model's tracked files (their roots, as
/// `mreg.lock` records them) that mreg does not track: `status` lists them so a directory
/// never silently holds more than its version.
pub fn untracked(repo: &Repo) -> Result<Vec<Untracked>> {
    let state = WorktreeState::load(repo)?;
    let mut by_model: BTreeMap<&ModelName, Vec<&str>> = BTreeMap::new();
    for (p, t) in &state.files {
        by_model.entry(&t.model).or_default().push(p.as_str());
    }
    let mut out = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for (model, paths) in by_model {
        for root in crate::lockfile::roots(paths) {
            let Some(dir) = root.strip_suffix('/') else {
                continue;
            };
            let Ok(abs) = repo.work_path(repo.root(), dir) else {
                continue;
            };
            let mut stack = vec![(dir.to_string(), abs)];
            while let Some((rel, d)) = stack.pop() {
                let Ok(rd) = fs::read_dir(&d) else { continue };
                for e in rd.flatten() {
                    let name = e.file_name().to_string_lossy().into_owned();
                    if name == ".git" || name == ".modelreg" || name.contains(".mreg-tmp-") {
                        continue;
                    }
                    let r = format!("{rel}/{name}");
                    let Ok(ft) = e.file_type() else { continue };
                    if ft.is_dir() {
                        stack.push((r, e.path()));
                    } else if !state.files.contains_key(&r) && seen.insert(r.clone()) {
                        out.push(Untracked {
                            path: r,
                            model: model.clone(),
                        });
                    }
                }
            }
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unsynced_files_stat_vouches_only_within_the_boot_that_wrote_it() {
        // The stat a crash can leave unchanged while the bytes are lost (size kept by a
        // preallocation, times from the journal): only the boot id tells.
        let stat = FileStat {
            dev: 1,
            ino: 2,
            size: 3,
            mtime_ns: 4,
            ctime_ns: 5,
        };
        let mut t = Tracked {
            model: ModelName::new("m").unwrap(),
            commit: ObjectId::hash(b"c"),
            blake3: ObjectId::hash(b"f"),
            size: 3,
            stat: Some(stat),
            pending: Vec::new(),
            unsynced: None,
        };
        assert!(t.stat_vouches(&stat), "synced: the stat is enough");
        t.unsynced = fsutil::boot_id().map(str::to_string);
        assert!(
            t.stat_vouches(&stat),
            "same boot: the page cache has the bytes"
        );
        t.unsynced = Some("another-boot".into());
        assert!(!t.stat_vouches(&stat), "after a reboot: hash the file");
        assert!(!t.stat_vouches(&FileStat { size: 4, ..stat }));
    }
}
