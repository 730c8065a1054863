//! `du`: bytes on disk per model and version, unique versus shared, and what gc would free.
//!
//! It reads the same survey gc plans from (one walk, one object listing) and asks gc's
//! planner what each retention option would free, so its figures are gc's own.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::error::Result;
use crate::gc::{dir_bytes, plan_from, survey, temp_files, GcOptions, TempFile};
use crate::id::{CommitId, ObjectId};
use crate::names::ModelName;
use crate::reach;
use crate::refs;
use crate::repo::Repo;

/// Disk usage of one version.
#[derive(Clone, Debug, Serialize)]
pub struct VersionUsage {
    pub id: CommitId,
    pub created_at: crate::Timestamp,
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
    /// The keyframe cache (`store::object::keyframes`): a copy of each chain head, outside
    /// `store_bytes`; deletable at any time.
    pub keyframe_cache_bytes: u64,
    /// Temp files left in the store or the work tree (an interrupted commit leaves its
    /// chunks there), with their age.
    pub temp_files: Vec<TempFile>,
    pub temp_bytes: u64,
    /// What each retention option would free now (bytes), from a dry-run plan.
    pub would_free: Vec<WouldFree>,
    /// Items the walk could not read (gc refuses to run until they are fixed).
    pub problems: Vec<reach::Problem>,
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
    if let Some(m) = only {
        repo.require_model(m)?;
    }
    let _lock = repo.lock_store_read()?;
    let survey = survey(repo, now)?;
    let walk = &survey.walk;
    let mut problems = walk.problems.clone();
    // Which versions (store-wide) use each object.
    let mut users: HashMap<ObjectId, usize> = HashMap::new();
    let mut per_version: Vec<(&reach::Version, HashSet<ObjectId>, bool)> = Vec::new();
    let present: HashSet<ObjectId> = survey.objects.iter().copied().collect();
    for (v, (data, probs)) in walk.versions.iter().zip(&survey.data) {
        let pruned = survey.pruned.contains(&*v.id);
        if !pruned {
            problems.extend(probs.iter().cloned());
        }
        let mut objs: HashSet<ObjectId> = data.metadata.clone();
        objs.extend(data.chunks.iter().copied());
        // A pruned version's surviving chunks are counted where they are still used.
        objs.retain(|o| present.contains(o));
        for o in &objs {
            *users.entry(*o).or_default() += 1;
        }
        per_version.push((v, objs, pruned));
    }
    let mut sizes: HashMap<ObjectId, u64> = HashMap::new();
    let mut size_of = |o: &ObjectId| {
        *sizes
            .entry(*o)
            .or_insert_with(|| repo.objects().disk_size(o).unwrap_or(0))
    };
    let mut out = Vec::new();
    for (m, entries) in &walk.histories {
        if only.is_some_and(|o| o != m) {
            continue;
        }
        let archived = refs::archived_in(entries);
        let mut versions = Vec::new();
        let mut model_objs = HashSet::new();
        for (v, objs, pruned) in per_version.iter().filter(|x| &x.0.model == m) {
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
                id: v.id,
                created_at: v.commit.created_at.clone(),
                logical_bytes: v.commit.total_size(),
                unique_bytes: unique,
                shared_bytes: shared,
                pruned: *pruned,
                archived: archived.contains(&v.id),
            });
        }
        let bytes = model_objs.iter().map(&mut size_of).sum();
        out.push(ModelUsage {
            model: m.clone(),
            versions,
            bytes,
        });
    }
    let temp_files = temp_files(repo, now, true)?;
    let mut would_free = Vec::new();
    if problems.is_empty() {
        let base = GcOptions::garbage_only(now, expire);
        would_free.push(WouldFree {
            option: "gc".into(),
            bytes: plan_from(repo, &survey, &base)?.bytes_freed,
        });
        for n in [1usize, 3, 10] {
            let o = GcOptions {
                keep_last: Some(n),
                ..base.clone()
            };
            would_free.push(WouldFree {
                option: format!("gc --keep-last {n}"),
                bytes: plan_from(repo, &survey, &o)?.bytes_freed,
            });
        }
    }
    Ok(Usage {
        models: out,
        store_bytes: dir_bytes(repo.objects().dir()),
        keyframe_cache_bytes: repo.objects().keyframe_dir().map_or(0, dir_bytes),
        temp_bytes: temp_files.iter().map(|t| t.bytes).sum(),
        temp_files,
        would_free,
        problems,
    })
}
