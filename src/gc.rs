//! Garbage collection: compute a plan from roots, show it, then sweep.
//!
//! What is kept, always:
//! - every commit object named by a model's history or reachable from one (commit metadata
//!   is small and is never deleted), and every note attached to a kept commit;
//! - the file data (manifests and chunks) of every version, unless a retention option is
//!   given: plain `gc` loses no version, it removes only garbage — objects no kept commit
//!   refers to (left by interrupted commits), and stale temp files.
//!
//! Retention options (`keep_last`, `keep_top`) are an explicit request to prune the file
//! data of versions outside the retention set, per model. Never pruned: a version that a
//! head, alias or tag points at now, and a version an alias or tag pointed at within the
//! expiry window (default 90 days), so "what was production last week" can still be checked
//! out. Archived versions do not count toward the retention set (they go first). Pruned
//! versions are marked (`gc_marks`) before any byte is deleted.
//!
//! gc holds the store lock exclusively while it plans and sweeps; every writer holds it
//! shared for its whole operation, so no object can vanish between a writer seeing it
//! exists and a commit referring to it.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::filestore::Manifest;
use crate::gc_marks;
use crate::id::ObjectId;
use crate::names::ModelName;
use crate::object::Kind;
use crate::refs;
use crate::repo::Repo;

/// Temp files older than this are stale (their writer is gone).
pub const TEMP_GRACE: Duration = Duration::from_secs(3600);

#[derive(Clone, Debug)]
pub struct KeepTop {
    pub n: usize,
    pub metric: String,
    pub minimize: bool,
}

#[derive(Clone, Debug)]
pub struct GcOptions {
    pub expire: Duration,
    pub keep_last: Option<usize>,
    pub keep_top: Option<KeepTop>,
    pub now: SystemTime,
}

impl GcOptions {
    fn retention(&self) -> bool {
        self.keep_last.is_some() || self.keep_top.is_some()
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Deletion {
    pub id: ObjectId,
    pub kind: &'static str,
    pub bytes: u64,
    pub reason: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct PrunedVersion {
    pub id: ObjectId,
    pub model: ModelName,
    pub created_at: String,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct GcPlan {
    pub objects_before: usize,
    pub bytes_before: u64,
    pub delete: Vec<Deletion>,
    pub prune_versions: Vec<PrunedVersion>,
    pub stale_temp_files: Vec<PathBuf>,
    pub bytes_freed: u64,
}

/// Parse a duration like `90days`, `2w`, `12h` (humantime syntax).
pub fn parse_duration(s: &str) -> Result<Duration> {
    humantime::parse_duration(s).map_err(|e| {
        Error::InvalidArgument(format!(
            "{s:?} is not a duration (e.g. 90days, 2weeks, 12h): {e}"
        ))
    })
}

fn parse_time(s: &str) -> Option<SystemTime> {
    humantime::parse_rfc3339_weak(s).ok()
}

/// Everything gc needs to know about one model.
struct ModelFacts {
    chain: Vec<(ObjectId, crate::Commit)>,
    protected: HashSet<ObjectId>,
    archived: std::collections::BTreeSet<ObjectId>,
}

fn model_facts(repo: &Repo, m: &ModelName, opts: &GcOptions) -> Result<ModelFacts> {
    let state = repo.model_state(m)?;
    let mut protected: HashSet<ObjectId> = state.refs().values().copied().collect();
    let (entries, _) = repo.model_log(m).entries()?;
    let cutoff = opts
        .now
        .checked_sub(opts.expire)
        .unwrap_or(SystemTime::UNIX_EPOCH);
    for e in &entries {
        if parse_time(&e.time).is_some_and(|t| t >= cutoff) {
            protected.extend(e.state.aliases.values().copied());
            protected.extend(e.state.tags.values().copied());
        }
    }
    let mut chain = repo.model_chain(m)?;
    // Commits named by history but off the head's chain (defensive: kept as metadata).
    let in_chain: HashSet<ObjectId> = chain.iter().map(|(id, _)| *id).collect();
    for e in &entries {
        for id in e.state.refs().values() {
            if !in_chain.contains(id) {
                if let Ok(c) = repo.read_commit(id) {
                    chain.push((*id, c));
                }
            }
        }
    }
    Ok(ModelFacts {
        chain,
        protected,
        archived: refs::archived(repo, m)?,
    })
}

/// The versions of one model to keep under the retention options.
fn retention_set(facts: &ModelFacts, opts: &GcOptions) -> HashSet<ObjectId> {
    let mut keep = facts.protected.clone();
    let eligible: Vec<&(ObjectId, crate::Commit)> = facts
        .chain
        .iter()
        .filter(|(id, _)| !facts.archived.contains(id))
        .collect();
    if let Some(n) = opts.keep_last {
        // The chain is newest first (head, parent, ...): its order is the truth, even when
        // clocks disagree or several commits share a second.
        keep.extend(eligible.iter().take(n).map(|(id, _)| *id));
    }
    if let Some(t) = &opts.keep_top {
        let mut scored: Vec<(f64, ObjectId)> = eligible
            .iter()
            .filter_map(|(id, c)| c.metrics.get(&t.metric).map(|v| (*v, *id)))
            .collect();
        scored.sort_by(|a, b| {
            let o = a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal);
            if t.minimize {
                o
            } else {
                o.reverse()
            }
        });
        keep.extend(scored.iter().take(t.n).map(|(_, id)| *id));
    }
    keep
}

fn data_objects(repo: &Repo, c: &crate::Commit, out: &mut HashSet<ObjectId>) {
    // The code patch is small and part of the version's lineage: kept like metadata.
    out.extend(c.git.as_ref().and_then(|g| g.patch));
    for f in c
        .files
        .iter()
        .chain(c.datasets.iter().flat_map(|d| d.stored.iter()))
    {
        out.insert(f.manifest);
        if let Ok(bytes) = repo.objects().get_kind(&f.manifest, Kind::Manifest) {
            if let Ok(m) = Manifest::parse(&f.manifest, &bytes) {
                out.extend(m.chunks.iter().map(|c| c.id));
            }
        }
    }
}

/// Compute what gc would do. Callers hold the store lock.
pub fn plan(repo: &Repo, opts: &GcOptions) -> Result<GcPlan> {
    let (ids, _) = repo.objects().list()?;
    let mut plan = GcPlan {
        objects_before: ids.len(),
        ..Default::default()
    };
    let mut live: HashSet<ObjectId> = HashSet::new();
    let mut pruned_data: HashMap<ObjectId, String> = HashMap::new();
    for m in repo.models()? {
        let facts = model_facts(repo, &m, opts)?;
        let keep = opts.retention().then(|| retention_set(&facts, opts));
        let (entries, _) = repo.model_log(&m).entries()?;
        live.extend(crate::notes::model_notes(&entries).into_values().flatten());
        for (id, c) in &facts.chain {
            live.insert(*id);
            live.extend(c.git.as_ref().and_then(|g| g.patch));
            let already = gc_marks::is_pruned(repo, id);
            let prune = keep.as_ref().is_some_and(|k| !k.contains(id));
            if prune || already {
                if prune && !already {
                    plan.prune_versions.push(PrunedVersion {
                        id: *id,
                        model: m.clone(),
                        created_at: c.created_at.clone(),
                    });
                }
                let mut d = HashSet::new();
                data_objects(repo, c, &mut d);
                for o in d {
                    pruned_data
                        .entry(o)
                        .or_insert_with(|| format!("data of pruned version {}@{}", m, id.short()));
                }
            } else {
                data_objects(repo, c, &mut live);
            }
        }
    }
    for id in ids {
        if live.contains(&id) {
            continue;
        }
        let kind = repo
            .objects()
            .header(&id)
            .map(|h| h.kind.name())
            .unwrap_or("unreadable");
        let bytes = repo.objects().disk_size(&id).unwrap_or(0);
        let reason = pruned_data.get(&id).cloned().unwrap_or_else(|| {
            if kind == "commit" {
                "commit no history refers to (interrupted commit)".into()
            } else {
                "no kept commit refers to it (interrupted write)".into()
            }
        });
        plan.bytes_freed += bytes;
        plan.delete.push(Deletion {
            id,
            kind,
            bytes,
            reason,
        });
    }
    plan.bytes_before = dir_bytes(&repo.objects().dir().to_path_buf());
    plan.stale_temp_files = stale_temps(repo, opts.now)?;
    Ok(plan)
}

/// Run gc: plan under the exclusive store lock, then (unless `dry_run`) sweep.
pub fn gc(repo: &Repo, opts: &GcOptions, dry_run: bool, when: &str) -> Result<GcPlan> {
    let _lock = if dry_run {
        repo.lock_store_shared()?
    } else {
        repo.lock_store_exclusive()?
    };
    let plan = plan(repo, opts)?;
    if dry_run {
        return Ok(plan);
    }
    // Mark before deleting: a crash mid-sweep leaves versions marked pruned whose data is
    // partly still there, never unmarked versions with missing data.
    for v in &plan.prune_versions {
        gc_marks::mark_pruned(repo, &v.id, when)?;
    }
    let mut dirs = std::collections::BTreeSet::new();
    for d in &plan.delete {
        repo.objects().remove(&d.id)?;
        if let Some(p) = repo.objects().path_of(&d.id).parent() {
            dirs.insert(p.to_path_buf());
        }
    }
    for d in dirs {
        crate::fsutil::fsync_dir(&d)?;
    }
    for t in &plan.stale_temp_files {
        let _ = fs::remove_file(t);
    }
    Ok(plan)
}

fn dir_bytes(dir: &PathBuf) -> u64 {
    let mut total = 0;
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                total += dir_bytes(&p);
            } else if let Ok(md) = e.metadata() {
                total += md.len();
            }
        }
    }
    total
}

/// Temp files left by killed processes: in the store's tmp/ and beside tracked work-tree
/// files, older than the grace period.
fn stale_temps(repo: &Repo, now: SystemTime) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let old = |p: &PathBuf| {
        fs::metadata(p)
            .and_then(|m| m.modified())
            .map(|t| now.duration_since(t).unwrap_or_default() >= TEMP_GRACE)
            .unwrap_or(false)
    };
    if let Ok(rd) = fs::read_dir(repo.tmp_dir()) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_file() && old(&p) {
                out.push(p);
            }
        }
    }
    let state = crate::worktree::WorktreeState::load(repo).unwrap_or_default();
    let mut dirs = std::collections::BTreeSet::new();
    for path in state.files.keys() {
        if let Ok(abs) = repo.work_path(repo.root(), path) {
            if let Some(d) = abs.parent() {
                dirs.insert(d.to_path_buf());
            }
        }
    }
    for d in dirs {
        if let Ok(rd) = fs::read_dir(&d) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let p = e.path();
                if name.starts_with('.') && name.contains(".mreg-tmp-") && p.is_file() && old(&p) {
                    out.push(p);
                }
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Disk usage of one version.
#[derive(Clone, Debug, Serialize)]
pub struct VersionUsage {
    pub id: ObjectId,
    pub created_at: String,
    pub logical_bytes: u64,
    /// Bytes on disk only this version uses (freed if it alone were pruned).
    pub unique_bytes: u64,
    /// Bytes on disk it shares with other versions.
    pub shared_bytes: u64,
    pub pruned: bool,
    pub archived: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct ModelUsage {
    pub model: ModelName,
    pub versions: Vec<VersionUsage>,
    /// Bytes on disk used by this model's versions (each object counted once).
    pub bytes: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Usage {
    pub models: Vec<ModelUsage>,
    pub store_bytes: u64,
    /// What each retention option would free now (bytes), from a dry-run plan.
    pub would_free: Vec<WouldFree>,
}

#[derive(Clone, Debug, Serialize)]
pub struct WouldFree {
    pub option: String,
    pub bytes: u64,
}

/// Bytes used per model and version, unique versus shared, and what retention would free.
pub fn du(
    repo: &Repo,
    only: Option<&ModelName>,
    now: SystemTime,
    expire: Duration,
) -> Result<Usage> {
    let _lock = repo.lock_store_shared()?;
    let models = match only {
        Some(m) => {
            if !repo.model_exists(m) {
                return Err(Error::UnknownModel(m.to_string()));
            }
            vec![m.clone()]
        }
        None => repo.models()?,
    };
    // Which versions (store-wide) use each object.
    let mut users: HashMap<ObjectId, usize> = HashMap::new();
    let mut per_version: Vec<(ModelName, ObjectId, crate::Commit, HashSet<ObjectId>)> = Vec::new();
    for m in repo.models()? {
        for (id, c) in repo.model_chain(&m)? {
            let mut objs = HashSet::new();
            if !gc_marks::is_pruned(repo, &id) {
                data_objects(repo, &c, &mut objs);
            }
            for o in &objs {
                *users.entry(*o).or_default() += 1;
            }
            per_version.push((m.clone(), id, c, objs));
        }
    }
    let mut sizes: HashMap<ObjectId, u64> = HashMap::new();
    let mut size_of = |o: &ObjectId| {
        *sizes
            .entry(*o)
            .or_insert_with(|| repo.objects().disk_size(o).unwrap_or(0))
    };
    let mut out = Vec::new();
    for m in &models {
        let archived = refs::archived(repo, m)?;
        let mut versions = Vec::new();
        let mut model_objs = HashSet::new();
        for (mm, id, c, objs) in per_version.iter().filter(|v| &v.0 == m) {
            let _ = mm;
            let (mut unique, mut shared) = (0, 0);
            for o in objs {
                if users.get(o).copied().unwrap_or(0) <= 1 {
                    unique += size_of(o);
                } else {
                    shared += size_of(o);
                }
                model_objs.insert(*o);
            }
            versions.push(VersionUsage {
                id: *id,
                created_at: c.created_at.clone(),
                logical_bytes: c.total_size(),
                unique_bytes: unique,
                shared_bytes: shared,
                pruned: gc_marks::is_pruned(repo, id),
                archived: archived.contains(id),
            });
        }
        let bytes = model_objs.iter().map(&mut size_of).sum();
        out.push(ModelUsage {
            model: m.clone(),
            versions,
            bytes,
        });
    }
    drop(_lock);
    let mut would_free = Vec::new();
    let base = GcOptions {
        expire,
        keep_last: None,
        keep_top: None,
        now,
    };
    let _lock = repo.lock_store_shared()?;
    would_free.push(WouldFree {
        option: "gc".into(),
        bytes: plan(repo, &base)?.bytes_freed,
    });
    for n in [1usize, 3, 10] {
        let o = GcOptions {
            keep_last: Some(n),
            ..base.clone()
        };
        would_free.push(WouldFree {
            option: format!("gc --keep-last {n}"),
            bytes: plan(repo, &o)?.bytes_freed,
        });
    }
    Ok(Usage {
        models: out,
        store_bytes: dir_bytes(&repo.objects().dir().to_path_buf()),
        would_free,
    })
}
