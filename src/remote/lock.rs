//! Locks on a remote: what keeps remote gc from deleting an object a push is about to name.
//!
//! A push decides "the remote has this object, skip it" from a listing, then writes a line
//! that names the object. A gc that deleted the object between the two would leave a
//! published version without its data. So a push holds a *shared* lock from before its
//! listing until its last line, and gc's sweep holds an *exclusive* one; they never overlap.
//!
//! Object storage has no lock primitive; the protocol is built from create and list, as
//! restic's is. A lock is an object `locks/<random id>` (its JSON says who and what).
//! Acquiring one is: create it, then list `locks/`; if a conflicting live lock is listed
//! (any lock for an exclusive one; an exclusive one for a shared one), delete ours and
//! wait or give up. Of two processes that both create and then list, the one that lists
//! second sees the other's lock, because both creates precede it: at least one backs off,
//! so a shared and an exclusive lock are never both held.
//!
//! A process can die holding a lock. A lock is *live* while its holder refreshes it (it is
//! rewritten every [`REFRESH`]; the server's modification time says when it last was); one
//! not rewritten for [`STALE`] is ignored, and so is one whose holder is a process on this
//! machine that no longer exists (a killed gc or push does not block the rerun). A holder
//! that could not refresh in time — a laptop that slept mid-push — would hold a lock
//! others no longer honour, so before each step that relies on the lock (a history line, a
//! deletion) the holder checks, by its own monotonic clock, that its last refresh is
//! younger than half of [`STALE`], and stops otherwise ([`RemoteLock::check`]).

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};

use super::backend::{Backend, Created};
use super::key::{Key, Prefix};
use super::RemoteError;
use crate::error::Result;
use crate::id::ObjectId;

/// How often a holder rewrites its lock.
pub const REFRESH: Duration = Duration::from_secs(60);
/// A lock not rewritten for this long is dead.
pub const STALE: Duration = Duration::from_secs(15 * 60);
/// How long a push waits for a remote gc to finish, or gc for pushes.
pub const WAIT: Duration = Duration::from_secs(10 * 60);

/// What a lock allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LockKind {
    /// A push: many at once.
    Shared,
    /// A remote gc's sweep: alone.
    Exclusive,
}

/// A lock's content: who holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    pub kind: LockKind,
    /// `push`, `gc`.
    pub operation: String,
    /// The holder's store id, machine id, host name and process id.
    pub store: String,
    pub machine: String,
    pub host: String,
    pub pid: u32,
    pub started: crate::Timestamp,
}

impl LockInfo {
    fn conflicts_with(&self, mine: LockKind) -> bool {
        mine == LockKind::Exclusive || self.kind == LockKind::Exclusive
    }

    /// Who holds it, for messages.
    pub fn describe(&self) -> String {
        format!(
            "a {} (store {}, host {}, pid {}, since {})",
            self.operation,
            &self.store[..self.store.len().min(12)],
            self.host,
            self.pid,
            self.started
        )
    }
}

/// A lock this process holds; deleted when dropped.
pub struct RemoteLock<'b> {
    backend: &'b Backend,
    key: Key,
    info: LockInfo,
    refreshed: Mutex<Instant>,
}

/// Is the lock `info`, last written at `modified`, still honoured?
fn live(info: &LockInfo, modified: Option<SystemTime>, now: SystemTime) -> bool {
    let fresh = modified
        .and_then(|m| now.duration_since(m).ok())
        .is_none_or(|age| age < STALE);
    fresh && !holder_is_gone(info)
}

/// The holder was a process on this machine that has exited.
fn holder_is_gone(info: &LockInfo) -> bool {
    if info.machine != super::machine_id() || info.pid == std::process::id() {
        return false;
    }
    let Ok(pid) = libc::pid_t::try_from(info.pid) else {
        return false;
    };
    // SAFETY: kill with signal 0 only checks whether the process exists; it sends nothing.
    let r = unsafe { libc::kill(pid, 0) };
    r != 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)
}

/// The live locks other than `except`, with their holders. A lock that cannot be read or
/// parsed counts as live (fail closed): it may be a newer build's.
fn others(backend: &Backend, except: &Key) -> Result<Vec<LockInfo>> {
    let listed = backend.list(&Prefix::Locks)?;
    // "Now" by the server's clock: the newest modification time listed (our own lock, just
    // written, is among them), so a client's skewed clock cannot make a lock look stale.
    let now = listed
        .modified
        .values()
        .max()
        .copied()
        .unwrap_or_else(SystemTime::now);
    let mut out = Vec::new();
    for (name, _) in &listed.unknown {
        out.push(unreadable(name));
    }
    for (key, _) in &listed.keys {
        if key == except {
            continue;
        }
        let info = match backend.get(key, 64 * 1024)? {
            None => continue, // released meanwhile
            Some(b) => {
                serde_json::from_slice::<LockInfo>(&b).unwrap_or_else(|_| unreadable(&key.path()))
            }
        };
        if live(&info, listed.modified.get(key).copied(), now) {
            out.push(info);
        }
    }
    Ok(out)
}

fn unreadable(name: &str) -> LockInfo {
    LockInfo {
        kind: LockKind::Exclusive,
        operation: format!("holder of an unreadable lock {name}"),
        store: String::new(),
        machine: String::new(),
        host: "?".into(),
        pid: 0,
        started: crate::Timestamp::now(),
    }
}

/// Take a lock of `kind` for `operation`, waiting up to `wait` for conflicting holders to
/// finish (`on_wait` hears about each one, once). Refused with the holder named when they
/// do not.
pub fn acquire<'b>(
    backend: &'b Backend,
    kind: LockKind,
    operation: &str,
    store: &str,
    wait: Duration,
    on_wait: &dyn Fn(&LockInfo),
) -> Result<RemoteLock<'b>> {
    let info = LockInfo {
        kind,
        operation: operation.to_string(),
        store: store.to_string(),
        machine: super::machine_id(),
        host: crate::sysinfo::hostname(),
        pid: std::process::id(),
        started: crate::Timestamp::now(),
    };
    let body = serde_json::to_vec(&info).map_err(|e| crate::Error::Encode {
        what: "a remote lock",
        source: e.into(),
    })?;
    let start = Instant::now();
    let mut told = std::collections::HashSet::new();
    loop {
        let mut nonce = [0u8; 32];
        getrandom::fill(&mut nonce)
            .map_err(|e| RemoteError::Io(format!("no randomness for a lock id: {e}")))?;
        let key = Key::Lock(ObjectId::hash(&nonce));
        if backend.create(&key, &body)? == Created::Exists {
            continue; // a 256-bit collision: draw again
        }
        let lock = RemoteLock {
            backend,
            key,
            info: info.clone(),
            refreshed: Mutex::new(Instant::now()),
        };
        let blocking: Vec<LockInfo> = others(backend, &lock.key)?
            .into_iter()
            .filter(|o| o.conflicts_with(kind))
            .collect();
        if blocking.is_empty() {
            return Ok(lock);
        }
        drop(lock); // released before waiting, so that the holders can finish
        if start.elapsed() >= wait {
            return Err(RemoteError::Locked(format!(
                "{} holds the remote, so this {operation} cannot run now",
                blocking[0].describe()
            ))
            .into());
        }
        for b in &blocking {
            if told.insert((b.store.clone(), b.pid, b.operation.clone())) {
                on_wait(b);
            }
        }
        std::thread::sleep(Duration::from_millis(200 + u64::from(nonce[0]) * 4));
    }
}

impl RemoteLock<'_> {
    /// Rewrite the lock when its last refresh is older than [`REFRESH`] (cheap to call
    /// often: from every transfer).
    pub fn keep_alive(&self) -> Result<()> {
        let due = self
            .refreshed
            .lock()
            .map(|t| t.elapsed() >= REFRESH)
            .unwrap_or(true);
        if due {
            let body = serde_json::to_vec(&self.info).map_err(|e| crate::Error::Encode {
                what: "a remote lock",
                source: e.into(),
            })?;
            self.backend.put(&self.key, &body)?;
            if let Ok(mut t) = self.refreshed.lock() {
                *t = Instant::now();
            }
        }
        Ok(())
    }

    /// Refresh if due, then make sure the lock is still honoured: refreshed well within
    /// [`STALE`] by this process's own clock. Called before each step that relies on it.
    pub fn check(&self) -> Result<()> {
        self.keep_alive()?;
        let age = self.refreshed.lock().map(|t| t.elapsed()).unwrap_or(STALE);
        if age >= STALE / 2 {
            return Err(RemoteError::Locked(format!(
                "this {} could not refresh its lock on the remote for {}s (the machine slept, or the remote was unreachable); stopped before relying on it",
                self.info.operation,
                age.as_secs()
            ))
            .into());
        }
        Ok(())
    }
}

impl Drop for RemoteLock<'_> {
    fn drop(&mut self) {
        // Best effort: a lock left behind is ignored once its holder is gone or it is stale.
        let _ = self.backend.delete(&self.key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_locks_coexist_and_an_exclusive_one_excludes() {
        let d = tempfile::tempdir().unwrap();
        let b = Backend::dir(d.path()).unwrap();
        let none = |_: &LockInfo| {};
        let s1 = acquire(&b, LockKind::Shared, "push", "a", Duration::ZERO, &none).unwrap();
        let s2 = acquire(&b, LockKind::Shared, "push", "b", Duration::ZERO, &none).unwrap();
        let refused = acquire(&b, LockKind::Exclusive, "gc", "c", Duration::ZERO, &none);
        assert!(refused.is_err(), "gc while pushes hold the remote");
        drop((s1, s2));
        let x = acquire(&b, LockKind::Exclusive, "gc", "c", Duration::ZERO, &none).unwrap();
        let e = acquire(&b, LockKind::Shared, "push", "a", Duration::ZERO, &none)
            .err()
            .unwrap();
        assert!(e.to_string().contains("a gc (store c"), "{e}");
        x.check().unwrap();
        drop(x);
        assert!(b.list(&Prefix::Locks).unwrap().keys.is_empty(), "released");
    }

    #[test]
    fn a_lock_whose_holder_died_on_this_machine_is_ignored() {
        let d = tempfile::tempdir().unwrap();
        let b = Backend::dir(d.path()).unwrap();
        // A gc that was killed: its process is gone.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        let dead = LockInfo {
            kind: LockKind::Exclusive,
            operation: "gc".into(),
            store: "s".into(),
            machine: super::super::machine_id(),
            host: "h".into(),
            pid,
            started: crate::Timestamp::now(),
        };
        let k = Key::Lock(ObjectId::hash(b"dead"));
        b.create(&k, &serde_json::to_vec(&dead).unwrap()).unwrap();
        let none = |_: &LockInfo| {};
        acquire(&b, LockKind::Shared, "push", "a", Duration::ZERO, &none).unwrap();
        // The same lock held by another machine's process is honoured.
        let alive = LockInfo {
            machine: "elsewhere".into(),
            ..dead
        };
        b.put(&k, &serde_json::to_vec(&alive).unwrap()).unwrap();
        assert!(acquire(&b, LockKind::Shared, "push", "a", Duration::ZERO, &none).is_err());
    }
}
