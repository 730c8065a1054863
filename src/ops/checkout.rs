//! `checkout`: write a commit's files into the work tree (or another directory).
//!
//! Safety rules, checked for every file before any byte is written:
//! - a path never escapes its base directory and no symlink on the way is followed;
//! - a file that exists with other content is replaced only when it is exactly what mreg
//!   itself last wrote or committed there (per `worktree.json`), or with `force`;
//! - every manifest is loaded up front, so a missing object fails before writing.
//!
//! Each file is written to a hidden temp name beside the target (chunks decompressed in
//! parallel, verified, written at their offsets), fsynced, then renamed over the target:
//! an interrupted checkout never leaves a half-written file under the real name.

use std::fs::{self, OpenOptions};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::commit::{Commit, FileEntry};
use crate::error::{Error, IoContext, Result};
use crate::filestore::{self, FileStat, Manifest};
use crate::fsutil;
use crate::id::ObjectId;
use crate::ops::Progress;
use crate::repo::Repo;
use crate::worktree::{Tracked, WorktreeState};

#[derive(Clone, Debug)]
pub struct CheckoutRequest {
    pub commit: crate::id::CommitId,
    /// Repository-relative paths (files or directory prefixes); empty = every file.
    pub paths: Vec<String>,
    /// Write under this directory instead of the work tree root.
    pub to: Option<PathBuf>,
    pub force: bool,
    /// Pin what was written in the git work tree's `mreg.lock` (off for `checkout --git`,
    /// which restores what an old lock file said and must not touch tracked files).
    pub pin: bool,
    /// With `to`: write paths relative to the version's root (the directory it was
    /// committed from: `models/minilm/x` lands at `DIR/x`). False keeps repository paths.
    pub strip_root: bool,
    /// Write nothing unless a signature by one of these keys verifies against the
    /// version's bytes (`checkout --verify`). None: no check.
    pub verify: Option<Vec<crate::trust::PublicKey>>,
}

#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct CheckoutOutcome {
    pub written: Vec<String>,
    pub unchanged: Vec<String>,
    /// Files of another version of the model that mreg had written here, which the checked
    /// out version does not have: removed (they were unmodified, or `force`).
    pub removed: Vec<String>,
    pub bytes_written: u64,
    /// Bytes read from a remote for this checkout (a version whose data is not local is
    /// streamed from the remote into the files written; the store is not filled).
    #[serde(default)]
    pub bytes_fetched: u64,
}

/// The directory prefix `--to` strips ([`Commit::version_root`]).
pub fn version_root(commit: &Commit) -> Option<String> {
    commit.version_root()
}

/// Where [`load`] put a version, and what it cost.
#[derive(Debug, serde::Serialize)]
pub struct Loaded {
    /// The file of a one-file version, else the directory holding the version's files
    /// (paths relative to the version's root, as `checkout --to` writes them).
    pub path: PathBuf,
    /// The version was already in the load cache: nothing was read or written.
    pub cached: bool,
    pub bytes_written: u64,
    /// Bytes streamed from a remote (data that is not in this store).
    pub bytes_fetched: u64,
    /// A version in the load cache stays while this is held (`ops::load_cache`): keep it
    /// for as long as the files may be read.
    #[serde(skip)]
    pub in_use: Option<crate::ops::load_cache::InUse>,
    /// Versions the load cache evicted to stay under its cap.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub evicted: Vec<crate::id::CommitId>,
}

/// The load cache: one read-only directory per version, `cache/load/<commit id>/`.
pub fn load_cache_dir(repo: &Repo) -> PathBuf {
    crate::ops::load_cache::dir(repo)
}

/// Make a version's files available to a program (the Python package's `repo.load`):
/// written under `to` when given (as `checkout --to DIR` writes them; refuses to replace
/// files that differ unless `force`), else into the store's load cache.
///
/// A cached version is written (and synced) under a temporary name and renamed into place
/// whole, with its files read-only, so a directory under its final name is complete: a
/// second load of the same version is a `stat` and costs no other I/O. With `verify`, the
/// cached files are hashed against the version first and written again if anything
/// differs (someone made a file writable and changed it). Delete `cache/load/` at any time
/// to reclaim the space.
pub fn load(
    repo: &Repo,
    id: &crate::id::CommitId,
    to: Option<&Path>,
    force: bool,
    verify: bool,
    progress: &dyn Progress,
) -> Result<Loaded> {
    let commit = repo.read_commit(id)?;
    let root = version_root(&commit);
    let target = |dir: &Path| -> PathBuf {
        match commit.files.as_slice() {
            [one] => dir.join(
                one.path
                    .strip_prefix(root.as_deref().unwrap_or(""))
                    .unwrap_or(&one.path),
            ),
            _ => dir.to_path_buf(),
        }
    };
    let req = |dir: &Path| CheckoutRequest {
        commit: *id,
        paths: Vec::new(),
        to: Some(dir.to_path_buf()),
        force,
        pin: false,
        strip_root: true,
        verify: None,
    };
    if let Some(dir) = to {
        let out = checkout(repo, &req(dir), progress)?;
        return Ok(Loaded {
            path: target(dir),
            cached: false,
            bytes_written: out.bytes_written,
            bytes_fetched: out.bytes_fetched,
            in_use: None,
            evicted: Vec::new(),
        });
    }
    let cache = load_cache_dir(repo);
    let dir = cache.join(id.to_hex());
    // In use from here on: no trim (ours or another process's) evicts it under us.
    let in_use = crate::ops::load_cache::in_use(repo, id)?;
    if dir.is_dir() && verify && !cache_matches(&commit, root.as_deref(), &dir) {
        // Not what the version holds: replace the whole directory (renamed away first, so
        // no reader sees it half-deleted).
        let stale = cache.join(format!(".stale-{}-{}", id.short(), std::process::id()));
        fs::rename(&dir, &stale).ctx("moving away", &dir)?;
        fs::remove_dir_all(&stale).ctx("removing", &stale)?;
    }
    if dir.is_dir() {
        crate::ops::load_cache::touch(&dir);
        return Ok(Loaded {
            path: target(&dir),
            cached: true,
            bytes_written: 0,
            bytes_fetched: 0,
            in_use: Some(in_use),
            evicted: Vec::new(),
        });
    }
    fs::create_dir_all(&cache).ctx("creating", &cache)?;
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".tmp-{}-", id.short()))
        .tempdir_in(&cache)
        .ctx("creating a temporary directory in", &cache)?;
    let out = checkout(repo, &req(tmp.path()), progress)?;
    // `written` names repository paths; the files are under the version's root.
    let strip = root.as_deref().unwrap_or("");
    for f in &out.written {
        let p = tmp.path().join(f.strip_prefix(strip).unwrap_or(f));
        let mut perm = fs::metadata(&p).ctx("reading", &p)?.permissions();
        perm.set_mode(perm.mode() & 0o555);
        fs::set_permissions(&p, perm).ctx("making read-only", &p)?;
    }
    let tmp = tmp.keep();
    match fs::rename(&tmp, &dir) {
        Ok(()) => fsutil::fsync_dir(&cache)?,
        // Another process loaded the same version first: theirs is complete, use it.
        Err(_) if dir.is_dir() => {
            let _ = fs::remove_dir_all(&tmp);
        }
        Err(e) => {
            let _ = fs::remove_dir_all(&tmp);
            return Err(Error::io("renaming into place", &dir, e));
        }
    }
    // Over the cap: the least recently used versions no process is using go.
    let cap = crate::ops::load_cache::cap(repo)?;
    let trim = crate::ops::load_cache::trim(repo, cap, Some(id), false)?;
    Ok(Loaded {
        path: target(&dir),
        cached: false,
        bytes_written: out.bytes_written,
        bytes_fetched: out.bytes_fetched,
        in_use: Some(in_use),
        evicted: trim.evicted.iter().map(|v| v.id).collect(),
    })
}

/// Whether a load-cache directory holds exactly the version's files (by content hash).
fn cache_matches(commit: &Commit, root: Option<&str>, dir: &Path) -> bool {
    commit.files.iter().all(|f| {
        let rel = f.path.strip_prefix(root.unwrap_or("")).unwrap_or(&f.path);
        filestore::hash_file(&dir.join(rel))
            .is_ok_and(|(h, st)| h == *f.blake3 && st.size == f.size)
    })
}

enum Plan {
    Write,
    Unchanged(FileStat),
}

/// Check out one version (or some of its files).
pub fn checkout(
    repo: &Repo,
    req: &CheckoutRequest,
    progress: &dyn Progress,
) -> Result<CheckoutOutcome> {
    restore_pruned(repo, req, progress)?;
    if let Some(keys) = &req.verify {
        if keys.is_empty() {
            let model = repo.read_commit(&req.commit)?.model;
            return Err(crate::error::TrustError::NoTrustedKeys { model }.into());
        }
        crate::trust::verify_stored(repo, &req.commit, keys)?;
    }
    run(repo, req, progress, false)
}

/// A version pruned here whose data a remote still has: bring it back into the store.
fn restore_pruned(repo: &Repo, req: &CheckoutRequest, progress: &dyn Progress) -> Result<()> {
    if crate::gc_marks::is_pruned(repo, &req.commit) {
        crate::remote::ensure_data(repo, &req.commit, &req.paths, progress)?;
    }
    Ok(())
}

/// Everything `checkout` checks before writing (the commit, the paths, pruned data, local
/// changes in the way, manifests), without writing anything.
pub fn check(repo: &Repo, req: &CheckoutRequest) -> Result<()> {
    run(repo, req, &crate::ops::NoProgress, true).map(|_| ())
}

fn run(
    repo: &Repo,
    req: &CheckoutRequest,
    progress: &dyn Progress,
    plan_only: bool,
) -> Result<CheckoutOutcome> {
    // Shared with other writers, exclusive against gc: no object vanishes mid-checkout.
    // Into the work tree: a writer (worktree.json, mreg.lock). With --to: a reader of the
    // store, which may be a read-only mount.
    let _store = if req.to.is_some() {
        repo.lock_store_read()?
    } else {
        repo.lock_store_shared()?
    };
    let commit = repo.read_commit(&req.commit)?;
    let files = commit.select(&req.paths)?;
    let in_work_tree = req.to.is_none();
    let base = match &req.to {
        Some(d) => {
            if !plan_only {
                fsutil::create_dir_durable(d)?;
            }
            d.clone()
        }
        None => repo.root().to_path_buf(),
    };
    let tracked = if in_work_tree {
        WorktreeState::load(repo)?
    } else {
        WorktreeState::default()
    };
    if crate::gc_marks::is_pruned(repo, &req.commit) {
        // Marked by gc or `prune`: refuse unless every chunk of the wanted files is still
        // here (a sweep interrupted before deleting them), which the hash check verifies.
        let wanted: Vec<String> = files.iter().map(|f| f.path.clone()).collect();
        let lost = crate::reach::files_missing_data(repo, &commit);
        if lost.iter().any(|p| wanted.contains(p)) {
            return Err(Error::Pruned {
                commit: (*req.commit).into(),
            });
        }
    }

    let strip = if req.to.is_some() && req.strip_root {
        version_root(&commit)
    } else {
        None
    };
    let dest = |p: &str| -> String {
        match &strip {
            Some(prefix) => p.strip_prefix(prefix.as_str()).unwrap_or(p).to_string(),
            None => p.to_string(),
        }
    };

    // Plan every file before touching any.
    let mut plans = Vec::new();
    let mut conflicts = Vec::new();
    for f in &files {
        let target = repo.work_path(&base, &dest(&f.path))?;
        let plan = match fs::symlink_metadata(&target) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Plan::Write,
            Err(e) => return Err(Error::io("reading metadata of", target, e)),
            Ok(md) if !md.is_file() => {
                return Err(Error::InvalidPath {
                    path: f.path.clone(),
                    why: format!("{} exists and is not a regular file", target.display()),
                })
            }
            Ok(md) => {
                let t = tracked.files.get(&f.path);
                let (actual, stat) = crate::worktree::current_content(t, &target, &md)?;
                if actual == f.blake3 {
                    Plan::Unchanged(stat)
                } else {
                    let mreg_wrote_it = t.is_some_and(|t| t.is_mregs(&actual));
                    if !mreg_wrote_it && !req.force {
                        conflicts.push(f.path.clone());
                    }
                    Plan::Write
                }
            }
        };
        plans.push((*f, target, plan));
    }
    // A directory is a version: files of this model that mreg wrote or committed here
    // and the target version does not have are removed (if unmodified), so the work tree
    // never holds a mix of two versions. Only on a whole-version checkout into the work
    // tree; files mreg never tracked are left alone.
    let mut stale = Vec::new();
    if in_work_tree && req.paths.is_empty() {
        let wanted: std::collections::HashSet<&str> =
            commit.files.iter().map(|f| f.path.as_str()).collect();
        for (path, t) in &tracked.files {
            if t.model != commit.model || wanted.contains(path.as_str()) {
                continue;
            }
            let target = match repo.work_path(&base, path) {
                Ok(t) => t,
                Err(_) => {
                    conflicts.push(path.clone());
                    continue;
                }
            };
            match fs::symlink_metadata(&target) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    stale.push((path.clone(), None));
                }
                Err(e) => return Err(Error::io("reading metadata of", target, e)),
                Ok(md) if !md.is_file() => conflicts.push(path.clone()),
                Ok(md) => {
                    let (actual, _) = crate::worktree::current_content(Some(t), &target, &md)?;
                    let unmodified = t.is_mregs(&actual);
                    if !unmodified && !req.force {
                        conflicts.push(path.clone());
                    }
                    stale.push((path.clone(), Some(target)));
                }
            }
        }
    }
    if !conflicts.is_empty() {
        return Err(Error::WouldOverwrite(conflicts));
    }
    let manifests: Vec<Option<Manifest>> = plans
        .iter()
        .map(|(f, _, p)| match p {
            Plan::Write => {
                let m = filestore::load_manifest(repo.objects(), &f.manifest)?;
                if m.blake3 != f.blake3 || m.size != f.size {
                    return Err(Error::CorruptObject {
                        id: f.manifest.to_hex(),
                        why: format!("manifest does not describe {}", f.path),
                    });
                }
                Ok(Some(m))
            }
            Plan::Unchanged(_) => Ok(None),
        })
        .collect::<Result<_>>()?;
    if plan_only {
        return Ok(CheckoutOutcome::default());
    }
    // Into the work tree, files are not synced (as git and DVC): worktree.json records them
    // as unsynced in this boot, so that after a crash `status` hashes them instead of
    // trusting their stat. With --to nothing tracks the files, so they are written durably;
    // so is everything where the kernel has no boot id to tell boots apart.
    let unsynced = if in_work_tree {
        fsutil::boot_id()
    } else {
        None
    };
    let durable = unsynced.is_none();
    // Chunks that are not in this store (a version fetched without its data) are streamed
    // from the remote into the files written, each verified; the store is not filled.
    let missing_data = manifests
        .iter()
        .flatten()
        .flat_map(|m| &m.chunks)
        .any(|c| !repo.objects().exists(&c.id));
    let fetcher = if missing_data {
        crate::remote::ChunkFetcher::open(repo, &req.commit)?
    } else {
        None
    };
    // The reader ahead of the workers, started once the files to write are known (below).
    let reading: std::sync::OnceLock<fsutil::ReadAhead> = std::sync::OnceLock::new();
    let read = |c: &filestore::ChunkRef, sink: &mut dyn FnMut(&[u8]) -> Result<()>| match &fetcher {
        Some(fx) if !repo.objects().exists(&c.id) => sink(&fx.chunk(c)?),
        _ => {
            if let Some(r) = reading.get() {
                r.took();
            }
            repo.objects().read_chunk_into(&c.id, c.len, sink)
        }
    };
    // Network reads want many requests in flight, more than there are cores.
    let pool = match &fetcher {
        Some(_) => Some(
            rayon::ThreadPoolBuilder::new()
                .num_threads(repo.remote_options().jobs.max(1))
                .build()
                .map_err(|e| {
                    Error::io(
                        "starting checkout threads",
                        repo.root(),
                        std::io::Error::other(e),
                    )
                })?,
        ),
        None => None,
    };

    // Write-ahead intent: a crash after a rename but before the final update below leaves
    // content that the next checkout must still recognise as mreg's own.
    if in_work_tree && plans.iter().any(|(_, _, p)| matches!(p, Plan::Write)) {
        WorktreeState::update(repo, |w| {
            for (f, _, p) in &plans {
                if !matches!(p, Plan::Write) {
                    continue;
                }
                match w.files.get_mut(&f.path) {
                    Some(t) => {
                        if !t.pending.contains(&f.blake3) {
                            t.pending.push(*f.blake3);
                        }
                    }
                    None => {
                        w.files
                            .insert(f.path.clone(), tracked_entry(&commit, *req.commit, f, None));
                    }
                }
            }
        })?;
    }
    // Two hints on their own threads, for the files this checkout writes:
    // - their chunk objects (and the keyframe cache entries of those that head a delta
    //   chain) are read into the page cache in manifest order, the order the workers take
    //   them, while they decode: objects written with direct I/O (every large one) are not
    //   in the page cache after their commit, and a cold checkout waited for each read;
    // - the files they replace have their clean cached pages dropped beside the decoding
    //   instead of inside the final renames (joined before them).
    // docs/DESIGN.md, "The work tree".
    let mut ahead: Vec<Vec<PathBuf>> = Vec::new();
    let mut replaced: Vec<PathBuf> = Vec::new();
    for ((_, target, plan), m) in plans.iter().zip(&manifests) {
        if let (Plan::Write, Some(m)) = (plan, m) {
            ahead.extend(
                m.chunks
                    .iter()
                    .filter(|c| fetcher.is_none() || repo.objects().exists(&c.id))
                    .map(|c| repo.objects().read_paths(&c.id).collect()),
            );
            replaced.push(target.clone());
        }
    }
    // A hint that changes nothing but speed; stopped when the checkout returns.
    if !ahead.is_empty() {
        let _ = reading.set(fsutil::ReadAhead::start(ahead));
    }
    let evicting = std::thread::spawn(move || {
        for t in &replaced {
            fsutil::drop_clean_cache(t);
        }
    });
    let total: u64 = manifests.iter().flatten().map(|m| m.size).sum();
    progress.start("checking out", total);
    let mut out = CheckoutOutcome::default();
    let mut new_stats = Vec::new();
    // All or nothing: every file is written and verified under its temp name first; only
    // when all are, they are renamed into place. A corrupt or missing chunk in the last
    // file leaves no file of the version (issue 23), at the cost of holding the whole
    // version's temp files at once.
    let mut temps: Vec<(&FileEntry, PathBuf, &PathBuf, u64)> = Vec::new();
    let mut failed = None;
    for ((f, target, plan), m) in plans.iter().zip(&manifests) {
        match (plan, m) {
            (Plan::Unchanged(stat), _) => {
                out.unchanged.push(f.path.clone());
                new_stats.push((f, *stat));
            }
            (Plan::Write, Some(m)) => {
                let written = match &pool {
                    Some(p) => p.install(|| write_temp(&read, f, m, target, progress, durable)),
                    None => write_temp(&read, f, m, target, progress, durable),
                };
                match written {
                    Ok(tmp) => temps.push((f, tmp, target, m.size)),
                    Err(e) => {
                        failed = Some(e);
                        break;
                    }
                }
            }
            (Plan::Write, None) => unreachable!("every planned write has a manifest"),
        }
    }
    if let Some(e) = failed {
        for (_, tmp, _, _) in &temps {
            let _ = fs::remove_file(tmp);
            remove_empty_parents(tmp, &base);
        }
        return Err(e);
    }
    // A cache hint: its outcome changes nothing but speed.
    let _ = evicting.join();
    for (i, (f, tmp, target, size)) in temps.iter().enumerate() {
        match rename_into_place(tmp, target, durable) {
            Ok(stat) => {
                out.bytes_written += size;
                out.written.push(f.path.clone());
                new_stats.push((f, stat));
            }
            Err(e) => {
                for (_, t, _, _) in &temps[i..] {
                    let _ = fs::remove_file(t);
                }
                return Err(e);
            }
        }
    }
    progress.finish();
    for (path, target) in &stale {
        if let Some(t) = target {
            match fs::remove_file(t) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io("removing", t, e)),
            }
            remove_empty_parents(t, &base);
            out.removed.push(path.clone());
        }
    }
    if in_work_tree {
        // The whole version is pinned only when the whole version was checked out: a
        // partial checkout leaves the work tree a mix the lock file must not claim.
        if req.pin && files.len() == commit.files.len() {
            crate::lockfile::pin(repo, &commit.model, *req.commit, &commit.roots())?;
        }
        WorktreeState::update(repo, |w| {
            for (path, _) in &stale {
                w.files.remove(path);
            }
            for (f, stat) in new_stats {
                let mut t = tracked_entry(&commit, *req.commit, f, Some(stat));
                t.unsynced = unsynced.map(str::to_string);
                w.files.insert(f.path.clone(), t);
            }
        })?;
    }
    out.bytes_fetched = fetcher.map_or(0, |f| f.bytes_fetched());
    Ok(out)
}

/// Remove directories left empty by a removal, up to (not including) `base`.
fn remove_empty_parents(file: &Path, base: &Path) {
    let mut dir = file.parent();
    while let Some(d) = dir {
        if d == base || !d.starts_with(base) || fs::remove_dir(d).is_err() {
            break;
        }
        dir = d.parent();
    }
}

/// What the work tree records for a file this checkout writes.
fn tracked_entry(commit: &Commit, id: ObjectId, f: &FileEntry, stat: Option<FileStat>) -> Tracked {
    Tracked {
        unsynced: None,
        model: commit.model.clone(),
        commit: id,
        blake3: *f.blake3,
        size: f.size,
        stat,
        pending: Vec::new(),
    }
}

/// Restore one file through a temp name beside `target`.
/// Write one file's content, verified, to a hidden temp name beside `target` (synced when
/// `durable`); returns the temp path. Nothing is left on failure.
fn write_temp(
    read: filestore::ChunkSource,
    f: &FileEntry,
    m: &Manifest,
    target: &Path,
    progress: &dyn Progress,
    durable: bool,
) -> Result<PathBuf> {
    if let Some(parent) = target.parent() {
        if durable {
            fsutil::create_dir_durable(parent)?;
        } else if !parent.is_dir() {
            fs::create_dir_all(parent).ctx("creating", parent)?;
        }
    }
    let tmp = fsutil::sibling_temp_path(target);
    let result = (|| -> Result<()> {
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .ctx("creating", &tmp)?;
        filestore::restore_from(m, &file, &tmp, &|n| progress.advance(n), read)?;
        let mode = if f.executable { 0o755 } else { 0o644 };
        file.set_permissions(fs::Permissions::from_mode(mode))
            .ctx("setting permissions of", &tmp)?;
        if durable {
            fsutil::sync_file(&file, true).ctx("syncing", &tmp)?;
        }
        Ok(())
    })();
    match result {
        Ok(()) => Ok(tmp),
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Rename a written temp file over its target (the atomic step of a checkout).
fn rename_into_place(tmp: &Path, target: &Path, durable: bool) -> Result<FileStat> {
    fs::rename(tmp, target).ctx("renaming into place", target)?;
    if durable {
        fsutil::fsync_parent(target)?;
    }
    let md = fs::metadata(target).ctx("reading metadata of", target)?;
    Ok(FileStat::of(&md))
}

/// One model version pinned in `mreg.lock` at a git revision, as checked out.
#[derive(Clone, Debug, serde::Serialize)]
pub struct PinnedCheckout {
    pub model: crate::names::ModelName,
    pub commit: crate::id::CommitId,
    #[serde(flatten)]
    pub outcome: CheckoutOutcome,
}

/// Restore the model versions pinned in `mreg.lock` as of git revision `gitrev` (read from
/// git history; the git work tree, index and current lock file are not touched), limited
/// to `paths` when given. Every version is checked first — present in this store, not
/// pruned, no local change in the way — so a refusal writes nothing at all; then each is
/// written.
pub fn checkout_pinned(
    repo: &Repo,
    gitrev: &str,
    paths: &[String],
    force: bool,
    progress: &dyn Progress,
) -> Result<Vec<PinnedCheckout>> {
    let pins = crate::lockfile::at_git_rev(repo, gitrev)?.ok_or_else(|| {
        Error::from(crate::error::GitError::NoLockFile {
            rev: gitrev.to_string(),
            file: crate::lockfile::LOCK_FILE,
        })
    })?;
    let mut reqs = Vec::new();
    let has_remote = !crate::remote::config::remotes(repo)?.is_empty();
    if has_remote && pins.iter().any(|(_, p)| !repo.objects().exists(&p.commit)) {
        // A fresh clone of the code: the versions it pins are on the remote.
        crate::remote::pull(repo, None, &[], progress)?;
    }
    for (model, pin) in pins {
        if !repo.objects().exists(&pin.commit) {
            return Err(Error::NotInStore {
                commit: (*pin.commit).into(),
                what: format!(
                    "{model}, pinned in {} at {gitrev}",
                    crate::lockfile::LOCK_FILE
                ),
            });
        }
        let wanted: Vec<String> = if paths.is_empty() {
            pin.paths
                .iter()
                .map(|p| p.trim_end_matches('/').to_string())
                .collect()
        } else {
            paths
                .iter()
                .filter(|w| {
                    pin.covers(w) || pin.paths.iter().any(|r| r.starts_with(&format!("{w}/")))
                })
                .cloned()
                .collect()
        };
        if wanted.is_empty() {
            continue;
        }
        reqs.push((
            model,
            CheckoutRequest {
                commit: pin.commit,
                paths: wanted,
                to: None,
                force,
                pin: false,
                strip_root: false,
                verify: None,
            },
        ));
    }
    for (_, req) in &reqs {
        restore_pruned(repo, req, progress)?;
    }
    // All or nothing: every conflict of every version is reported before any write.
    let mut conflicts = Vec::new();
    for (_, req) in &reqs {
        match check(repo, req) {
            Ok(()) => {}
            Err(Error::WouldOverwrite(c)) => conflicts.extend(c),
            Err(e) => return Err(e),
        }
    }
    if !conflicts.is_empty() {
        return Err(Error::WouldOverwrite(conflicts));
    }
    let mut out = Vec::new();
    for (model, req) in reqs {
        let outcome = checkout(repo, &req, progress)?;
        out.push(PinnedCheckout {
            model,
            commit: req.commit,
            outcome,
        });
    }
    Ok(out)
}
