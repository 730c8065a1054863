//! The load cache (`cache/load/<commit id>/`, what the Python package's `repo.load`
//! serves from), bounded: a size cap (`cache.load_max` in config.yaml, default 20 GiB),
//! least recently used versions evicted first, never one a process is using.
//!
//! "In use" is a shared flock on `cache/load/.in-use/<commit id>`, taken by `load` and
//! held by the caller for as long as it may read the files (the Python package holds it
//! for the life of its `Repo`). Eviction takes that lock exclusively without waiting; a
//! version it cannot lock is skipped. "Recently used" is the directory's modification
//! time, which every load touches. An evicted directory is renamed away before it is
//! deleted, so no reader sees it half gone.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::Serialize;

use crate::error::{IoContext, Result};
use crate::id::CommitId;
use crate::repo::Repo;

/// The default cap when config.yaml sets none.
pub const DEFAULT_LOAD_MAX: u64 = 20 << 30;

/// The load cache's directory.
pub fn dir(repo: &Repo) -> PathBuf {
    repo.store_dir().join("cache").join("load")
}

/// The cap: `cache.load_max` (a size: `20GiB`, `500MB`), else [`DEFAULT_LOAD_MAX`].
pub fn cap(repo: &Repo) -> Result<u64> {
    repo.config().cache.load_cap()
}

/// A version of the load cache some process may be reading: held, it keeps the version
/// from eviction; dropped, it lets go.
#[derive(Debug)]
pub struct InUse(#[allow(dead_code)] crate::lock::LockGuard);

/// Mark `id` in use (shared: any number of processes).
pub(crate) fn in_use(repo: &Repo, id: &CommitId) -> Result<InUse> {
    let locks = dir(repo).join(".in-use");
    fs::create_dir_all(&locks).ctx("creating", &locks)?;
    let path = locks.join(id.to_hex());
    Ok(InUse(crate::lock::shared(&path, "load cache", None)?))
}

/// Note a use of a cached version (its directory's time), for least-recently-used order.
pub(crate) fn touch(path: &Path) {
    if let Ok(f) = fs::File::open(path) {
        let _ = f.set_modified(SystemTime::now());
    }
}

/// One cached version.
#[derive(Clone, Debug, Serialize)]
pub struct CachedVersion {
    pub id: CommitId,
    pub bytes: u64,
    /// Seconds since it was last loaded.
    pub idle_secs: u64,
}

/// The load cache's size, and what a trim removed (or, dry run, would remove).
#[derive(Clone, Debug, Default, Serialize)]
pub struct CacheTrim {
    pub cap: u64,
    pub bytes: u64,
    pub versions: usize,
    pub evicted: Vec<CachedVersion>,
    pub evicted_bytes: u64,
    /// Over the cap, but in use by a process: kept.
    pub in_use: Vec<CachedVersion>,
}

fn dir_size(p: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![p.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(e.path()),
                Ok(_) => total += e.metadata().map(|m| m.len()).unwrap_or(0),
                Err(_) => {}
            }
        }
    }
    total
}

/// Bring the load cache under `cap`, least recently used first, never evicting `keep` or a
/// version in use. With `dry_run`, only say what would go.
pub fn trim(repo: &Repo, cap: u64, keep: Option<&CommitId>, dry_run: bool) -> Result<CacheTrim> {
    let root = dir(repo);
    let mut out = CacheTrim {
        cap,
        ..Default::default()
    };
    let rd = match fs::read_dir(&root) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(crate::Error::io("listing", &root, e)),
    };
    let now = SystemTime::now();
    let mut cached = Vec::new();
    for e in rd.flatten() {
        let name = e.file_name();
        let Some(id) = name.to_str().and_then(CommitId::from_hex) else {
            continue; // temp and in-use directories, anything else
        };
        let Ok(md) = e.metadata() else { continue };
        if !md.is_dir() {
            continue;
        }
        let used = md.modified().unwrap_or(SystemTime::UNIX_EPOCH);
        let idle = now.duration_since(used).map_or(0, |d| d.as_secs());
        cached.push((
            used,
            CachedVersion {
                id,
                bytes: dir_size(&e.path()),
                idle_secs: idle,
            },
        ));
    }
    out.versions = cached.len();
    out.bytes = cached.iter().map(|c| c.1.bytes).sum();
    // Least recently used first.
    cached.sort_by_key(|c| c.0);
    let mut total = out.bytes;
    for (_, c) in cached {
        if total <= cap {
            break;
        }
        if Some(&c.id) == keep {
            continue;
        }
        let lock = root.join(".in-use").join(c.id.to_hex());
        let held = match fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock)
        {
            Ok(f) => match f.try_lock() {
                Ok(()) => Some(f),
                Err(_) => None,
            },
            Err(_) => None,
        };
        let Some(held) = held else {
            out.in_use.push(c);
            continue;
        };
        total -= c.bytes;
        out.evicted_bytes += c.bytes;
        if !dry_run {
            let from = root.join(c.id.to_hex());
            let away = root.join(format!(".evict-{}-{}", c.id.short(), std::process::id()));
            fs::rename(&from, &away).ctx("moving away", &from)?;
            make_writable(&away);
            fs::remove_dir_all(&away).ctx("removing", &away)?;
        }
        drop(held);
        out.evicted.push(c);
    }
    Ok(out)
}

/// The cache's files are read-only; their directories may be too.
fn make_writable(p: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mut stack = vec![p.to_path_buf()];
    while let Some(d) = stack.pop() {
        if let Ok(md) = fs::metadata(&d) {
            let mut perm = md.permissions();
            perm.set_mode(perm.mode() | 0o700);
            let _ = fs::set_permissions(&d, perm);
        }
        if let Ok(rd) = fs::read_dir(&d) {
            stack.extend(
                rd.flatten()
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                    .map(|e| e.path()),
            );
        }
    }
}
