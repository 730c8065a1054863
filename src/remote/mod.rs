//! Remotes: sharing a store through a directory or S3-compatible object storage.
//!
//! A remote holds the same content-addressed objects as a store (`objects/ab/cdef…`, the
//! bytes of the local object files) and, per model, a history made of create-only line
//! objects (`models/<m>/log/<n>`, see `remote/log.rs`). Object storage has no locks: every rule
//! that keeps the remote consistent is built from two properties, a content-addressed put
//! (harmless to repeat) and a create-only put (exactly one writer wins).
//!
//! - `push` publishes local history lines the remote lacks. For each it uploads the data
//!   first (chunks, manifests, notes), then commits in parent-first order, then the line,
//!   whose ref changes must match the remote's current refs (else the push is refused as
//!   from a stale view: "run `mreg pull`"). A push killed anywhere leaves only unreferenced
//!   objects; the rerun skips what is there.
//! - `fetch` reads new remote lines (verified: chain, sequence, compare-and-swap replay)
//!   and the metadata they name (commits, manifests, notes; never chunks).
//! - `pull` fetches, then replays the remote's moves onto the local history through the
//!   same door as every local move (`Repo::transact`). A local move not yet pushed that
//!   conflicts with the remote is dropped from the push queue and reported; no version is
//!   deleted.
//! - Data is lazy: `checkout` of a version whose chunks are not local fetches exactly
//!   those chunks (`ensure_data`), each verified against its hash.
//!
//! The layout and the protocol are written down in docs/FORMAT.md and docs/DESIGN.md.

pub(crate) mod backend;
pub mod config;
mod fsck;
mod gc;
pub(crate) mod key;
pub(crate) mod lock;
pub(crate) mod log;
pub(crate) mod pack;
mod pull;
mod push;
mod sync;

pub use config::{Origin, RemoteSpec};
pub use fsck::{fsck_remote, RemoteFsck};
pub use gc::{
    du_remote, gc_remote, prune_remote, Doomed, RemoteGcOptions, RemoteGcReport, RemotePrune,
    RemoteUsage, RemoteVersionUsage, Repack, DEFAULT_GRACE,
};
pub use pull::{
    clone, never_published, pull, CloneRequest, DroppedMove, PullReport, Unpublished, POLICY_APPLY,
    RECONCILE,
};
pub use push::{push, ModelPush, PushReport, Refusal};

/// Extra key of a local `prune` line made by `prune --remote`: the remote it is for. Push
/// publishes such a line there (a plain prune stays this store's business), and a store
/// that pulls it marks the version pruned: its data is gone for the team.
pub const REMOTE_PRUNE: &str = "remote_prune";
pub use sync::{
    ensure_data, fetch, probe_conditional_writes, ChunkFetcher, DataFetch, FetchReport,
};

pub use crate::error::RemoteError;

/// This store's writer id on remotes (random, created on first use). The file also records
/// where the store was and on which machine when the id was made: a copy of the store
/// (`cp -r`), or its image restored on another machine at the same path, gets a new id.
/// Ids are not trusted alone: a line is a store's own only if it also publishes that
/// store's local line (`sync::OurMoves`), so an image restored on the same machine, or a
/// forged line, is still told apart.
pub(crate) fn store_id(repo: &crate::Repo) -> crate::Result<String> {
    let path = repo.store_dir().join("remotes").join("store-id");
    let here = std::fs::canonicalize(repo.store_dir())
        .unwrap_or_else(|_| repo.store_dir().to_path_buf())
        .display()
        .to_string();
    let machine = machine_id();
    if let Ok(s) = std::fs::read_to_string(&path) {
        let mut lines = s.lines();
        let id = lines.next().unwrap_or("").trim().to_string();
        let at = lines.next().unwrap_or("").trim();
        let on = lines.next().map(str::trim);
        if id.len() == 32 && id.chars().all(|c| c.is_ascii_hexdigit()) && at == here {
            match on {
                Some(m) if m == machine => return Ok(id),
                // Written before the machine was recorded: this is the machine now.
                None => {
                    crate::fsutil::write_atomic(
                        &path,
                        format!("{id}\n{here}\n{machine}\n").as_bytes(),
                        &repo.tmp_dir(),
                    )?;
                    return Ok(id);
                }
                // A store image restored on another machine at the same path: a new
                // writer (issue 23), or both machines would take the other's moves for
                // their own.
                Some(_) => {}
            }
        }
    }
    let mut seed = Vec::new();
    let mut b = [0u8; 32];
    if getrandom::fill(&mut b).is_ok() {
        seed.extend_from_slice(&b);
    }
    seed.extend_from_slice(
        format!(
            "{:?}{}{here}",
            std::time::SystemTime::now(),
            std::process::id()
        )
        .as_bytes(),
    );
    let id = crate::ObjectId::hash(&seed).to_hex()[..32].to_string();
    crate::fsutil::create_dir_durable(path.parent().expect("has a parent"))?;
    crate::fsutil::write_atomic(
        &path,
        format!("{id}\n{here}\n{machine}\n").as_bytes(),
        &repo.tmp_dir(),
    )?;
    Ok(id)
}

/// This machine: its systemd/dbus machine id, else its host name (never empty).
pub(crate) fn machine_id() -> String {
    [
        "/etc/machine-id",
        "/var/lib/dbus/machine-id",
        "/etc/hostname",
    ]
    .iter()
    .filter_map(|p| std::fs::read_to_string(p).ok())
    .map(|s| s.trim().to_string())
    .find(|s| !s.is_empty() && s.chars().all(|c| c.is_ascii_graphic()))
    .unwrap_or_else(|| "unknown-machine".into())
}

/// Run `f` on every item with `threads` workers; the first error stops the others.
pub(crate) fn parallel<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    f: impl Fn(&T) -> crate::Result<R> + Sync,
) -> crate::Result<Vec<R>> {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Mutex;
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let results: Mutex<Vec<Option<R>>> = Mutex::new((0..items.len()).map(|_| None).collect());
    let first_err: Mutex<Option<crate::Error>> = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..threads.clamp(1, items.len().max(1)) {
            s.spawn(|| loop {
                if failed.load(Ordering::Relaxed) {
                    return;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= items.len() {
                    return;
                }
                match f(&items[i]) {
                    Ok(r) => results.lock().expect("not poisoned")[i] = Some(r),
                    Err(e) => {
                        failed.store(true, Ordering::Relaxed);
                        first_err.lock().expect("not poisoned").get_or_insert(e);
                        return;
                    }
                }
            });
        }
    });
    if let Some(e) = first_err.into_inner().expect("not poisoned") {
        return Err(e);
    }
    Ok(results
        .into_inner()
        .expect("not poisoned")
        .into_iter()
        .map(|r| r.expect("every item ran"))
        .collect())
}

/// How remotes are reached: given by the client (`client::remote_options` derives them from
/// the environment the client passes; the library itself never reads it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteOptions {
    /// Transfers in flight at once.
    pub jobs: usize,
    /// Attempts for an idempotent request before giving up.
    pub retries: usize,
    /// The AWS settings of the environment (`AWS_ACCESS_KEY_ID`, `AWS_PROFILE`,
    /// `AWS_REGION`, `AWS_ENDPOINT_URL`...) and `HOME`, for `~/.aws/credentials`.
    pub env: std::collections::BTreeMap<String, String>,
}

impl Default for RemoteOptions {
    fn default() -> Self {
        RemoteOptions {
            jobs: 16,
            retries: 4,
            env: Default::default(),
        }
    }
}
