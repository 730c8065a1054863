//! Garbage collection and pruning: compute a plan from roots, show it, then sweep.
//!
//! What is kept, always:
//! - every commit reachable from any history (`reach`), every note attached in a history,
//!   every manifest and code patch of every version (small: a pruned version stays
//!   inspectable, `show`/`diff`/`compare` still list its files);
//! - the chunks of every version, unless a retention option or `prune` asks otherwise:
//!   plain `gc` loses no version, it removes only garbage — objects nothing refers to (left
//!   by interrupted commits) and temp files no live writer owns.
//!
//! Retention options (`keep_last`, `keep_top`, `prune_archived`) are an explicit request
//! to prune the chunks of versions outside the retention set, per model. Retention counts
//! what the user sees: archived versions count like any other unless `prune_archived`.
//! Never pruned: a version that a head, alias or tag points at now, a version an alias or
//! tag pointed at within the expiry window (default 90 days), and under `keep_top` a
//! version that lacks the ranking key (absence of evidence is not a low score).
//!
//! A version counts as pruned only when some of its chunks are really deleted: a version
//! whose chunks are all shared with kept versions loses nothing and is not marked. Pruned
//! versions are marked (`gc_marks`) before any byte is deleted.
//!
//! gc fails closed: if the walk cannot read a history, a commit, or a manifest of a version
//! it must keep, it refuses and names the item, because it cannot know which objects that
//! item needs. gc holds the store lock exclusively while it plans and sweeps; every writer
//! holds it shared for its whole operation, so no object can vanish between a writer seeing
//! it exists and a commit referring to it, and no temp file in `tmp/` can belong to a live
//! object writer while gc holds the lock.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::error::{Error, QueryError, Result};
use crate::gc_marks;
use crate::history::MoveInfo;
use crate::id::{CommitId, ObjectId};
use crate::names::ModelName;
use crate::query::Key;
use crate::reach::{self, Walk};
use crate::refs;
use crate::repo::Repo;

/// Temp files that no store lock protects (beside work-tree files, config and cache
/// writes) are left alone until they are this old: their writer may still be alive.
pub const TEMP_GRACE: Duration = Duration::from_secs(3600);

/// `--keep-top N --by KEY [--min]`.
#[derive(Clone, Debug)]
pub struct KeepTop {
    pub n: usize,
    /// A ranking key (`acc` = `metrics.acc`, `eval.test.f1`, `params.x`).
    pub key: String,
    pub minimize: bool,
}

/// How old an interrupted commit must be before gc removes it, unless configured
/// (`gc.grace`) or given (`--grace`): git keeps unreachable objects two weeks too.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(14 * 24 * 3600);

#[derive(Clone, Debug)]
pub struct GcOptions {
    pub expire: Duration,
    /// Interrupted commits (pending marker, no history line) younger than this stay.
    pub grace: Duration,
    pub keep_last: Option<usize>,
    pub keep_top: Option<KeepTop>,
    /// Prune archived versions (unless a ref protects them); they do not count toward
    /// `keep_last` / `keep_top`.
    pub prune_archived: bool,
    /// Retention applies to these models only (every model when empty).
    pub models: Vec<ModelName>,
    pub now: SystemTime,
}

impl GcOptions {
    /// Plain gc: garbage only, no version loses data.
    pub fn garbage_only(now: SystemTime, expire: Duration) -> GcOptions {
        GcOptions {
            expire,
            grace: DEFAULT_GRACE,
            keep_last: None,
            keep_top: None,
            prune_archived: false,
            models: Vec::new(),
            now,
        }
    }

    fn retention(&self) -> bool {
        self.keep_last.is_some() || self.keep_top.is_some() || self.prune_archived
    }

    fn applies_to(&self, m: &ModelName) -> bool {
        self.models.is_empty() || self.models.contains(m)
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Deletion {
    pub id: ObjectId,
    pub kind: &'static str,
    pub bytes: u64,
    pub reason: String,
}

/// A version whose data the plan deletes.
#[derive(Clone, Debug, Serialize)]
pub struct PrunedVersion {
    pub id: CommitId,
    pub model: ModelName,
    pub created_at: crate::Timestamp,
    /// Why retention did not keep it.
    pub reason: String,
    /// Files that lose data.
    pub files: Vec<String>,
    /// Bytes on disk its pruning frees (chunks no kept version shares).
    pub bytes: u64,
}

/// A version a retention option looked at and kept, and why.
#[derive(Clone, Debug, Serialize)]
pub struct KeptVersion {
    pub id: CommitId,
    pub model: ModelName,
    pub reasons: Vec<String>,
}

/// A commit object no history names, and what gc does with it.
#[derive(Clone, Debug, Serialize)]
pub struct OrphanCommit {
    #[serde(flatten)]
    pub orphan: reach::Orphan,
    /// True when gc deletes it: an interrupted commit older than the grace period whose
    /// model's history is intact. Otherwise it and its data are kept.
    pub remove: bool,
    pub why: String,
}

/// A temp file left in the store or beside a work-tree file.
#[derive(Clone, Debug, Serialize)]
pub struct TempFile {
    pub path: PathBuf,
    pub bytes: u64,
    pub age_secs: u64,
    /// True when gc removes it: no live writer can own it.
    pub remove: bool,
    pub why: String,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct GcPlan {
    pub objects_before: usize,
    pub bytes_before: u64,
    pub delete: Vec<Deletion>,
    pub prune_versions: Vec<PrunedVersion>,
    /// Under a retention option: the versions it kept and why.
    pub kept_versions: Vec<KeptVersion>,
    pub temp_files: Vec<TempFile>,
    /// Commit objects no history names (interrupted commits, or evidence of a lost
    /// history line), each kept or removed with the reason.
    pub orphan_commits: Vec<OrphanCommit>,
    pub bytes_freed: u64,
    /// The load cache brought under its cap (`cache.load_max`): least recently used
    /// versions no process is using go (gc and dry runs only; not counted in `bytes_freed`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub load_cache: Option<crate::ops::load_cache::CacheTrim>,
    /// Keyframe cache entries removed with their objects or left without one
    /// (`store::object::keyframes`; gc only, not dry runs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keyframe_cache: Option<crate::object::keyframes::KeyframeSweep>,
}

impl GcPlan {
    /// Temp files the sweep removes.
    pub fn stale_temp_files(&self) -> impl Iterator<Item = &TempFile> {
        self.temp_files.iter().filter(|t| t.remove)
    }
}

/// A duration as people set it: `90 days`, `12h`, `30m`; humantime's full form otherwise
/// (which would say "2months 29days 2h 52m 48s" for 90 days).
pub fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0 => "0s".into(),
        _ if s.is_multiple_of(86_400) => {
            format!("{} day{}", s / 86_400, if s == 86_400 { "" } else { "s" })
        }
        _ if s.is_multiple_of(3_600) => format!("{}h", s / 3_600),
        _ if s.is_multiple_of(60) => format!("{}m", s / 60),
        _ => humantime::format_duration(d).to_string(),
    }
}

/// Parse a duration like `90days`, `2w`, `12h` (humantime syntax).
pub fn parse_duration(s: &str) -> Result<Duration> {
    humantime::parse_duration(s).map_err(|e| {
        QueryError::BadDuration {
            input: s.to_string(),
            why: e.to_string(),
        }
        .into()
    })
}

/// Why each version of a model is protected by its refs (now, or within the expiry).
fn protected(walk: &Walk, m: &ModelName, opts: &GcOptions) -> BTreeMap<CommitId, Vec<String>> {
    let mut out: BTreeMap<CommitId, Vec<String>> = BTreeMap::new();
    let entries = walk.histories.get(m).map(Vec::as_slice).unwrap_or(&[]);
    if let Some(last) = entries.last() {
        for (name, id) in last.state.refs() {
            out.entry(id).or_default().push(name.describe());
        }
    }
    let cutoff = opts
        .now
        .checked_sub(opts.expire)
        .unwrap_or(SystemTime::UNIX_EPOCH);
    for e in entries {
        // An entry without a parseable time is treated as recent: keep rather than guess.
        if e.time.system_time().is_none_or(|t| t >= cutoff) {
            for (name, id) in e
                .state
                .aliases
                .iter()
                .map(|(k, v)| (format!("alias {k}"), v))
                .chain(e.state.tags.iter().map(|(k, v)| (format!("tag {k}"), v)))
            {
                let why = format!("was {name} within {}", human_duration(opts.expire));
                let list = out.entry(*id).or_default();
                if !list.contains(&name) && !list.contains(&why) {
                    list.push(why);
                }
            }
        }
    }
    out
}

/// Per version: the models whose refs protect it, and how (see `protected`).
type RefsAnywhere = BTreeMap<CommitId, Vec<(ModelName, Vec<String>)>>;

/// The retention decision for one model: kept versions with reasons, pruned with reasons.
struct Decision {
    kept: BTreeMap<CommitId, Vec<String>>,
    prune: BTreeMap<CommitId, String>,
}

///
/// The one place that decides which versions retention keeps: a model's count is its own
/// versions only, those its own history reaches. A `--from` base of another model is that
/// model's version (counted, protected and explained there); a version no history of its
/// own reaches is never pruned by retention (its history may be damaged: fail closed).
/// `refs_anywhere` holds every version any ref of any model protects: whichever walk
/// reaches such a version, it is kept.
fn retention(
    repo: &Repo,
    walk: &Walk,
    m: &ModelName,
    opts: &GcOptions,
    refs_anywhere: &RefsAnywhere,
) -> Result<Decision> {
    let chain: Vec<&reach::Version> = walk.of_model(m).filter(|v| v.own_history).collect();
    let mut kept = protected(walk, m, opts);
    for v in walk.of_model(m) {
        for (owner, why) in refs_anywhere.get(&v.id).into_iter().flatten() {
            if owner != m {
                kept.entry(v.id)
                    .or_default()
                    .extend(why.iter().map(|w| format!("{w} of model {owner}")));
            }
        }
        if !v.own_history {
            kept.entry(v.id).or_default().push(
                "its own history does not reach it (only another model's --from or ref): never pruned by retention"
                    .into(),
            );
        }
    }
    let archived = walk
        .histories
        .get(m)
        .map(|e| refs::archived_in(e))
        .unwrap_or_default();
    let counted: Vec<&reach::Version> = chain
        .iter()
        .copied()
        .filter(|v| !(opts.prune_archived && archived.contains(&v.id)))
        .collect();
    let mut keep = |id: CommitId, why: String| kept.entry(id).or_default().push(why);
    if opts.keep_top.is_none() && opts.keep_last.is_none() {
        // Only --prune-archived: every version that is not archived stays.
        for v in &counted {
            keep(v.id, "not archived".into());
        }
    }
    if let Some(n) = opts.keep_last {
        // The chain is newest first (head, parent, ...): its order is the truth, even when
        // clocks disagree or several commits share a second.
        for v in counted.iter().filter(|v| v.on_chain).take(n) {
            keep(v.id, format!("one of the {n} newest"));
        }
    }
    if let Some(t) = &opts.keep_top {
        let key = Key::parse_ranking(&t.key).map_err(|why| QueryError::BadKey {
            option: format!("--by {}", t.key),
            why,
        })?;
        let rows: HashMap<CommitId, crate::query::Row> = crate::index::model_rows(repo, m)?
            .into_iter()
            .map(|r| (r.id, r))
            .collect();
        let value = |id: &CommitId| rows.get(id).and_then(|r| key.number(r));
        if !chain.iter().any(|v| value(&v.id).is_some()) {
            return Err(Error::UnknownKey {
                model: m.clone(),
                key: key.text(),
            });
        }
        let mut scored: Vec<(f64, CommitId)> = counted
            .iter()
            .filter_map(|v| value(&v.id).map(|x| (x, v.id)))
            .collect();
        // Ties go to the newer version (the chain is newest first and the sort is stable).
        scored.sort_by(|a, b| {
            let o = a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal);
            if t.minimize {
                o
            } else {
                o.reverse()
            }
        });
        let goal = if t.minimize { "lowest" } else { "highest" };
        for (x, id) in scored.iter().take(t.n) {
            keep(*id, format!("top {} by {} ({goal}: {x})", t.n, key.text()));
        }
        for v in &counted {
            if value(&v.id).is_none() {
                keep(
                    v.id,
                    format!("has no {} (never pruned by --keep-top)", key.text()),
                );
            }
        }
    }
    let mut prune = BTreeMap::new();
    for v in &chain {
        if kept.contains_key(&v.id) {
            continue;
        }
        let why = if archived.contains(&v.id) && opts.prune_archived {
            "archived (--prune-archived)".to_string()
        } else {
            let mut parts = Vec::new();
            if let Some(n) = opts.keep_last {
                parts.push(format!("not one of the {n} newest"));
            }
            if let Some(t) = &opts.keep_top {
                parts.push(format!("not in the top {} by {}", t.n, t.key));
            }
            parts.join(", ")
        };
        prune.insert(v.id, why);
    }
    kept.retain(|id, _| walk.of_model(m).any(|v| &v.id == id));
    Ok(Decision { kept, prune })
}

/// What the plan prunes: version id -> (model, reason).
type PruneSet = BTreeMap<CommitId, (ModelName, String)>;

/// What every plan starts from, read once: the walk, each version's objects (and the
/// problems met reading its manifests, aligned with `walk.versions`), the pruned marks and
/// the object listing. `du` makes four plans from one survey.
pub(crate) struct Survey {
    pub(crate) walk: Walk,
    pub(crate) data: Vec<(reach::VersionData, Vec<reach::Problem>)>,
    pub(crate) pruned: HashSet<ObjectId>,
    pub(crate) objects: Vec<ObjectId>,
    /// Commit objects no history reaches, with their data.
    orphans: Vec<(reach::Orphan, reach::VersionData, Vec<reach::Problem>)>,
}

pub(crate) fn survey(repo: &Repo, now: SystemTime) -> Result<Survey> {
    let walk = reach::walk(repo)?;
    let data: Vec<(reach::VersionData, Vec<reach::Problem>)> = walk
        .versions
        .iter()
        .map(|v| reach::version_data(repo, &v.id, &v.commit))
        .collect();
    let objects = repo.objects().list()?.0;
    // Only objects that nothing reached can be orphan commits: read their headers.
    let mut known: HashSet<ObjectId> = walk.commit_ids();
    known.extend(walk.notes.iter().copied());
    for (d, _) in &data {
        known.extend(d.metadata.iter().copied());
        known.extend(d.chunks.iter().copied());
    }
    let candidates = objects.iter().filter(|o| !known.contains(o)).copied();
    let orphans = reach::orphans(repo, &walk, candidates, now)
        .into_iter()
        .map(|o| {
            let (d, p) = match &o.commit {
                Some(c) => reach::version_data(repo, &o.id, c),
                None => Default::default(),
            };
            (o, d, p)
        })
        .collect();
    Ok(Survey {
        walk,
        data,
        pruned: gc_marks::pruned_set(repo),
        objects,
        orphans,
    })
}

/// Compute what gc would do. Callers hold the store lock.
pub fn plan(repo: &Repo, opts: &GcOptions) -> Result<GcPlan> {
    plan_from(repo, &survey(repo, opts.now)?, opts)
}

pub(crate) fn plan_from(repo: &Repo, s: &Survey, opts: &GcOptions) -> Result<GcPlan> {
    let walk = &s.walk;
    let mut prune: PruneSet = BTreeMap::new();
    let mut kept_versions = Vec::new();
    if opts.retention() {
        // Every version a ref of any model points at now (or within the expiry), with the
        // ref named as `model:alias x`: never pruned, whichever model's walk reaches it.
        let mut refs_anywhere = RefsAnywhere::new();
        for m in walk.histories.keys() {
            for (id, why) in protected(walk, m, opts) {
                refs_anywhere.entry(id).or_default().push((m.clone(), why));
            }
        }
        for m in walk.histories.keys() {
            if !opts.applies_to(m) {
                continue;
            }
            let d = retention(repo, walk, m, opts, &refs_anywhere)?;
            for (id, why) in d.prune {
                prune.insert(id, (m.clone(), why));
            }
            for (id, reasons) in d.kept {
                kept_versions.push(KeptVersion {
                    id,
                    model: m.clone(),
                    reasons,
                });
            }
        }
    }
    let mut plan = sweep_plan(repo, s, &prune, false, opts.grace)?;
    plan.kept_versions = kept_versions;
    plan.temp_files = temp_files(repo, opts.now, true)?;
    Ok(plan)
}

/// The objects to delete given the versions to prune. With `only_pruned`, garbage that no
/// version refers to is left alone (the plan of `prune`, which is about one version).
fn sweep_plan(
    repo: &Repo,
    s: &Survey,
    prune: &PruneSet,
    only_pruned: bool,
    grace: Duration,
) -> Result<GcPlan> {
    let walk = &s.walk;
    let mut plan = GcPlan {
        objects_before: s.objects.len(),
        ..Default::default()
    };
    let mut blocking: Vec<String> = walk
        .problems
        .iter()
        .map(|p| format!("{}: {}", p.item, p.problem))
        .collect();
    let mut live: HashSet<ObjectId> = walk.commit_ids();
    live.extend(walk.notes.iter().copied());
    // Chunks of versions whose data goes: candidates for deletion unless a kept version
    // shares them. Value: the versions that lose them.
    let mut doomed: HashMap<ObjectId, Vec<CommitId>> = HashMap::new();
    let mut doomed_files: HashMap<CommitId, Vec<(String, Vec<ObjectId>)>> = HashMap::new();
    let mut unreadable_pruned: HashSet<CommitId> = HashSet::new();
    for (v, (data, problems)) in walk.versions.iter().zip(&s.data) {
        live.extend(data.metadata.iter().copied());
        let already = s.pruned.contains(&*v.id);
        let going = already || prune.contains_key(&v.id);
        if !already {
            // Fail closed: an unreadable manifest of any version not yet pruned stops gc,
            // even one that retention would prune, so nothing is decided on a guess.
            blocking.extend(
                problems
                    .iter()
                    .map(|p| format!("{}: {}", p.item, p.problem)),
            );
        }
        if going {
            if !problems.is_empty() {
                unreadable_pruned.insert(v.id);
            }
            for c in &data.chunks {
                doomed.entry(*c).or_default().push(v.id);
            }
            doomed_files.insert(v.id, data.file_chunks.clone());
        } else {
            live.extend(data.chunks.iter().copied());
        }
    }
    // Commit objects no history names: kept with their data unless they are interrupted
    // commits past the grace period in an intact history (reach::orphans has the rule). A
    // kept orphan keeps the orphans it descends from too.
    let mut keep_orphan: Vec<bool> = s
        .orphans
        .iter()
        .map(|(o, _, _)| !o.collectable(grace))
        .collect();
    loop {
        let needed: HashSet<ObjectId> = s
            .orphans
            .iter()
            .zip(&keep_orphan)
            .filter(|(_, k)| **k)
            .flat_map(|((o, _, _), _)| o.commit.iter())
            .flat_map(|c| c.parents.iter().chain(&c.derived_from).map(|p| **p))
            .collect();
        let mut changed = false;
        for ((o, _, _), k) in s.orphans.iter().zip(keep_orphan.iter_mut()) {
            if !*k && needed.contains(&*o.id) {
                *k = true;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    let mut orphan_chunks: Vec<ObjectId> = Vec::new();
    for ((o, data, problems), keep) in s.orphans.iter().zip(&keep_orphan) {
        let model = o.model.as_ref().map_or("?".to_string(), |m| m.to_string());
        let why = if !keep {
            format!(
                "interrupted commit of model {model} (pending marker), older than {}; its history is intact and does not name it",
                human_duration(grace)
            )
        } else if let Some(d) = &o.doubt {
            d.clone()
        } else if o.collectable(grace) {
            "a kept commit no history names descends from it".into()
        } else {
            format!(
                "an interrupted commit of model {model}, younger than the grace period ({})",
                human_duration(grace)
            )
        };
        plan.orphan_commits.push(OrphanCommit {
            orphan: o.clone(),
            remove: !keep,
            why,
        });
        if *keep {
            live.insert(*o.id);
            live.extend(data.metadata.iter().copied());
            live.extend(data.chunks.iter().copied());
            orphan_chunks.extend(data.chunks.iter().copied());
            // Its data cannot be protected if its manifests cannot be read.
            blocking.extend(
                problems
                    .iter()
                    .map(|p| format!("{} (a commit no history names): {}", p.item, p.problem)),
            );
        }
    }
    // Chunks stored as deltas need their bases: keep them (from headers, no decoding).
    // Only worth reading when something is a candidate for deletion at all.
    if s.objects.iter().any(|id| !live.contains(id)) {
        let kept_chunks: Vec<ObjectId> = walk
            .versions
            .iter()
            .zip(&s.data)
            .filter(|(v, _)| !s.pruned.contains(&*v.id) && !prune.contains_key(&v.id))
            .flat_map(|(_, (data, _))| data.chunks.iter().copied())
            .chain(orphan_chunks)
            .collect();
        blocking.extend(
            reach::keep_delta_bases(repo, &mut live, kept_chunks)
                .into_iter()
                .map(|p| format!("{}: {}", p.item, p.problem)),
        );
    }
    if !blocking.is_empty() {
        return Err(Error::GcRefused { problems: blocking });
    }
    let mut freed_by: HashMap<CommitId, u64> = HashMap::new();
    let mut lost_chunks: HashSet<ObjectId> = HashSet::new();
    for &id in &s.objects {
        if live.contains(&id) {
            continue;
        }
        let losers = doomed.get(&id);
        if only_pruned && losers.is_none_or(|l| !l.iter().any(|v| prune.contains_key(v))) {
            continue;
        }
        let kind = repo
            .objects()
            .header(&id)
            .map(|h| h.kind.name())
            .unwrap_or("unreadable");
        let bytes = repo.objects().disk_size(&id).unwrap_or(0);
        let reason = match losers {
            Some(vs) => {
                let v = vs[0];
                let m = prune
                    .get(&v)
                    .map(|(m, _)| m.to_string())
                    .unwrap_or_else(|| "pruned".into());
                *freed_by.entry(v).or_default() += bytes;
                lost_chunks.insert(id);
                format!("data of pruned version {m}@{}", v.short())
            }
            None if kind == "commit" => plan
                .orphan_commits
                .iter()
                .find(|o| *o.orphan.id == id)
                .map_or_else(
                    || "commit no history refers to (interrupted commit)".into(),
                    |o| o.why.clone(),
                ),
            None => "no kept commit refers to it (interrupted write)".into(),
        };
        plan.bytes_freed += bytes;
        plan.delete.push(Deletion {
            id,
            kind,
            bytes,
            reason,
        });
    }
    // A version counts as pruned only if it really loses data.
    for v in &walk.versions {
        let Some((model, reason)) = prune.get(&v.id) else {
            continue;
        };
        let files: Vec<String> = doomed_files
            .get(&v.id)
            .map(|fs| {
                fs.iter()
                    .filter(|(_, cs)| cs.iter().any(|c| lost_chunks.contains(c)))
                    .map(|(p, _)| p.clone())
                    .collect()
            })
            .unwrap_or_default();
        if files.is_empty() && !unreadable_pruned.contains(&v.id) {
            continue;
        }
        plan.prune_versions.push(PrunedVersion {
            id: v.id,
            model: model.clone(),
            created_at: v.commit.created_at.clone(),
            reason: reason.clone(),
            files,
            bytes: freed_by.get(&v.id).copied().unwrap_or(0),
        });
    }
    plan.bytes_before = dir_bytes(repo.objects().dir());
    Ok(plan)
}

/// Run gc: plan under the exclusive store lock, then (unless `dry_run`) sweep.
pub fn gc(repo: &Repo, opts: &GcOptions, dry_run: bool, when: &str) -> Result<GcPlan> {
    let _lock = if dry_run {
        repo.lock_store_read()?
    } else {
        repo.lock_store_exclusive()?
    };
    let mut plan = plan(repo, opts)?;
    let cap = crate::ops::load_cache::cap(repo)?;
    plan.load_cache = Some(crate::ops::load_cache::trim(repo, cap, None, dry_run)?);
    if dry_run {
        // Without the exclusive lock a writer may be alive: say what gc would do.
        return Ok(plan);
    }
    plan.temp_files = temp_files(repo, opts.now, false)?;
    sweep(repo, &plan, when)?;
    plan.keyframe_cache = Some(repo.objects().sweep_keyframes()?);
    Ok(plan)
}

fn sweep(repo: &Repo, plan: &GcPlan, when: &str) -> Result<()> {
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
    for t in plan.stale_temp_files() {
        let _ = fs::remove_file(&t.path);
    }
    // Pending markers explain kept orphans only. The others go: markers of removed
    // orphans, of commits a history line recorded after all (a crash between the line and
    // the marker's removal) and of objects never written. gc holds the store lock
    // exclusively: no writer is between its marker and its history line.
    let kept: HashSet<String> = plan
        .orphan_commits
        .iter()
        .filter(|o| !o.remove)
        .map(|o| o.orphan.id.to_hex())
        .collect();
    if let Ok(rd) = fs::read_dir(repo.pending_dir()) {
        for e in rd.flatten() {
            if !kept.contains(&*e.file_name().to_string_lossy()) {
                let _ = fs::remove_file(e.path());
            }
        }
    }
    Ok(())
}

/// What `prune` did or would do.
#[derive(Clone, Debug, Serialize)]
pub struct PrunePlan {
    pub id: CommitId,
    pub model: ModelName,
    #[serde(flatten)]
    pub plan: GcPlan,
    /// False when the version shares every chunk with kept versions: nothing to free.
    pub loses_data: bool,
}

/// Prune one version's data on purpose (a bad or leaked version). Refused for a version
/// that a head, alias or tag points at. Its metadata, manifests and history stay; the
/// prune itself is a history line (who, when, why). With `dry_run`, only the plan.
pub fn prune(repo: &Repo, id: CommitId, dry_run: bool, info: MoveInfo) -> Result<PrunePlan> {
    prune_with(repo, id, dry_run, info, None)
}

/// `prune`, its history line carrying one more fact (`prune --remote` names the remote
/// the line is for, so that push publishes it there).
pub(crate) fn prune_marked(
    repo: &Repo,
    id: CommitId,
    info: MoveInfo,
    extra: (&str, serde_json::Value),
) -> Result<PrunePlan> {
    prune_with(repo, id, false, info, Some(extra))
}

fn prune_with(
    repo: &Repo,
    id: CommitId,
    dry_run: bool,
    info: MoveInfo,
    extra: Option<(&str, serde_json::Value)>,
) -> Result<PrunePlan> {
    let commit = repo.read_commit(&id)?;
    let model = commit.model.clone();
    let _lock = if dry_run {
        repo.lock_store_shared()?
    } else {
        repo.lock_store_exclusive()?
    };
    let state = repo.model_state(&model)?;
    let pointing: Vec<String> = state
        .refs()
        .into_iter()
        .filter(|(_, v)| *v == id)
        .map(|(k, _)| k.describe())
        .collect();
    let refused = |why| Error::PruneRefused {
        id: (*id).into(),
        model: model.clone(),
        why,
    };
    if !pointing.is_empty() {
        return Err(refused(crate::error::PruneRefusal::Referenced(pointing)));
    }
    if gc_marks::is_pruned(repo, &id) {
        return Err(refused(crate::error::PruneRefusal::AlreadyPruned));
    }
    let s = survey(repo, SystemTime::now())?;
    if !s.walk.versions.iter().any(|v| v.id == id) {
        return Err(refused(crate::error::PruneRefusal::Unknown));
    }
    let why = if info.message.is_empty() {
        "pruned on request".to_string()
    } else {
        info.message.clone()
    };
    let prune_set: PruneSet = [(id, (model.clone(), why))].into_iter().collect();
    // Every orphan commit keeps its data through a prune (Duration::MAX: none is due).
    let plan = sweep_plan(repo, &s, &prune_set, true, Duration::MAX)?;
    let loses_data = !plan.prune_versions.is_empty();
    let when = info.time.clone();
    if !dry_run {
        // The history line first: who, when and why, even if the sweep is interrupted.
        // gc holds the store lock exclusively here.
        repo.transact_holding_store_lock(&model, info, crate::history::Action::Prune, |t| {
            t.record_prune(id);
            if let Some((k, v)) = extra {
                t.set_extra(k, v);
            }
            Ok(())
        })?;
        gc_marks::mark_pruned(repo, &id, &when)?;
        sweep(repo, &plan, &when)?;
    }
    Ok(PrunePlan {
        id,
        model,
        plan,
        loses_data,
    })
}

pub(crate) fn dir_bytes(dir: &Path) -> u64 {
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

/// Temp files left by killed processes: in the store's `tmp/` and beside tracked work-tree
/// files. Object and keyframe cache temp files (`object::STORE_LOCKED_TEMPS`) are written
/// only under the shared store lock, so when gc holds it exclusively (`maybe_live_writer`
/// false) no live writer owns them and they go at once; every other temp file goes once
/// older than `TEMP_GRACE`.
pub(crate) fn temp_files(
    repo: &Repo,
    now: SystemTime,
    maybe_live_writer: bool,
) -> Result<Vec<TempFile>> {
    let mut out = Vec::new();
    let describe = |p: PathBuf, md: &fs::Metadata, object_temp: bool| {
        let age = md
            .modified()
            .map(|t| now.duration_since(t).unwrap_or_default())
            .unwrap_or_default();
        let old = age >= TEMP_GRACE;
        let (remove, why) = if object_temp && !maybe_live_writer {
            (true, "no writer holds the store lock".to_string())
        } else if object_temp {
            (
                old,
                "an object being written; removed by gc once no writer holds the store".into(),
            )
        } else if old {
            (true, format!("older than {}", human_duration(TEMP_GRACE)))
        } else {
            (
                false,
                format!(
                    "younger than {}: its writer may be alive",
                    human_duration(TEMP_GRACE)
                ),
            )
        };
        TempFile {
            path: p,
            bytes: md.len(),
            age_secs: age.as_secs(),
            remove: remove || (object_temp && !maybe_live_writer),
            why,
        }
    };
    if let Ok(rd) = fs::read_dir(repo.tmp_dir()) {
        for e in rd.flatten() {
            let p = e.path();
            if let Ok(md) = fs::symlink_metadata(&p) {
                if md.is_file() {
                    let name = e.file_name().to_string_lossy().into_owned();
                    let object_temp = crate::object::STORE_LOCKED_TEMPS
                        .iter()
                        .any(|p| name.starts_with(p));
                    out.push(describe(p, &md, object_temp));
                }
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
                if name.starts_with('.') && name.contains(".mreg-tmp-") {
                    if let Ok(md) = fs::symlink_metadata(&p) {
                        if md.is_file() {
                            out.push(describe(p, &md, false));
                        }
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
    use super::human_duration;
    use std::time::Duration;

    #[test]
    fn durations_read_as_people_set_them() {
        assert_eq!(human_duration(Duration::from_secs(90 * 86_400)), "90 days");
        assert_eq!(human_duration(Duration::from_secs(86_400)), "1 day");
        assert_eq!(human_duration(Duration::from_secs(3_600)), "1h");
        assert_eq!(human_duration(Duration::from_secs(90)), "1m 30s");
        assert_eq!(human_duration(Duration::ZERO), "0s");
    }
}
