//! Advisory file locks between processes (flock via `std::fs::File::lock`).
//!
//! The kernel releases a flock when its process dies, so a `kill -9` never leaves a stale
//! lock behind. Two kinds are used:
//! - the store lock `locks/store`: shared by every writer for the whole time it writes
//!   objects and moves refs, exclusive for gc, so gc never deletes an object a concurrent
//!   commit is about to reference;
//! - a per-model lock `models/<name>/lock`: exclusive around every read-modify-write of the
//!   model's history log (compare-and-swap of its refs).

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use crate::error::{IoContext, Result};

/// A lock this process is about to wait for (another process holds it).
#[derive(Clone, Debug)]
pub struct LockWait<'a> {
    /// What the lock protects: `store`, `model mnist`, `tags`, `worktree`...
    pub what: &'a str,
    pub path: &'a Path,
    pub exclusive: bool,
}

/// Called before a lock is waited for, so a caller can say what it waits for (the library
/// never prints); called at most once per lock.
pub type LockWaiter = std::sync::Arc<dyn Fn(&LockWait) + Send + Sync>;

/// Take the lock on `file`, telling `waiter` first when it is held elsewhere.
fn acquire(
    file: &File,
    path: &Path,
    what: &str,
    exclusive: bool,
    waiter: Option<&LockWaiter>,
) -> Result<()> {
    let attempt = if exclusive {
        file.try_lock()
    } else {
        file.try_lock_shared()
    };
    match attempt {
        Ok(()) => return Ok(()),
        Err(std::fs::TryLockError::WouldBlock) => {}
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(crate::Error::io("locking", path, e));
        }
    }
    if let Some(w) = waiter {
        w(&LockWait {
            what,
            path,
            exclusive,
        });
    }
    if exclusive {
        file.lock().ctx("locking", path)
    } else {
        file.lock_shared().ctx("locking (shared)", path)
    }
}

/// A held lock; released on drop.
#[derive(Debug)]
pub struct LockGuard {
    /// None for a reader of a store it cannot write (see `shared_for_read`).
    file: Option<File>,
    /// For debugging output (`{:?}`): which lock this is.
    #[allow(dead_code)]
    path: PathBuf,
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        if let Some(f) = &self.file {
            let _ = f.unlock();
        }
    }
}

fn open_lock_file(path: &Path) -> Result<File> {
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(path)
        .ctx("opening lock file", path)
}

/// Take an exclusive lock, waiting for other holders.
pub fn exclusive(path: &Path, what: &str, waiter: Option<&LockWaiter>) -> Result<LockGuard> {
    let file = open_lock_file(path)?;
    acquire(&file, path, what, true, waiter)?;
    Ok(LockGuard {
        file: Some(file),
        path: path.to_path_buf(),
    })
}

/// Take a shared lock, waiting while an exclusive holder (gc) runs.
pub fn shared(path: &Path, what: &str, waiter: Option<&LockWaiter>) -> Result<LockGuard> {
    let file = open_lock_file(path)?;
    acquire(&file, path, what, false, waiter)?;
    Ok(LockGuard {
        file: Some(file),
        path: path.to_path_buf(),
    })
}

/// A shared lock for a command that only reads. A lock file that exists is opened
/// read-only (flock needs no write access); one that does not exist is created when the
/// store is writable. On a store this process cannot write (a read-only mount, another
/// user's files), no lock is taken: this process can never race its own write there, and
/// every reader verifies what it reads by hash.
pub fn shared_for_read(path: &Path, what: &str, waiter: Option<&LockWaiter>) -> Result<LockGuard> {
    let file = match OpenOptions::new().read(true).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => match open_lock_file(path) {
            Ok(f) => f,
            // A store without `locks/` (a read-only image, or one checked into git): no
            // writer has run since it was made, and a reader creates nothing.
            Err(crate::Error::Io { source, .. })
                if cannot_write(&source) || source.kind() == std::io::ErrorKind::NotFound =>
            {
                return Ok(LockGuard {
                    file: None,
                    path: path.to_path_buf(),
                })
            }
            Err(e) => return Err(e),
        },
        Err(e) if cannot_write(&e) => {
            return Ok(LockGuard {
                file: None,
                path: path.to_path_buf(),
            })
        }
        Err(e) => return Err(crate::Error::io("opening lock file", path, e)),
    };
    acquire(&file, path, what, false, waiter)?;
    Ok(LockGuard {
        file: Some(file),
        path: path.to_path_buf(),
    })
}

fn cannot_write(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ReadOnlyFilesystem | std::io::ErrorKind::PermissionDenied
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_locks_coexist_and_exclusive_excludes() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("l");
        let a = shared(&p, "test", None).unwrap();
        let b = shared(&p, "test", None).unwrap();
        let probe = open_lock_file(&p).unwrap();
        assert!(
            probe.try_lock().is_err(),
            "exclusive must wait for shared holders"
        );
        drop((a, b));
        assert!(probe.try_lock().is_ok());
    }
}
