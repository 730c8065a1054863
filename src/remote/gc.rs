//! Remote gc, remote prune and remote du: a remote that stays clean.
//!
//! Nothing on a remote is referenced from outside its history lines, so what a remote must
//! keep is one walk: every commit a line names (with its ancestors), its manifests and code
//! patch, and its chunks unless a `prune` line pruned it on the remote; every note and run
//! blob a line names. The metadata walked is the local copy that `fetch` brought and
//! verified. Everything else is garbage: chunks of pruned versions, objects of interrupted
//! pushes, packs nothing indexes, the dead objects of packs.
//!
//! **Safe while others push** (docs/DESIGN.md, "Remote gc"). The plan can be made at any
//! time (`--dry-run`, `du --remote`); the sweep runs under the remote's exclusive lock
//! (`remote::lock`), which no push holds at the same time, and re-reads the histories and
//! the listing under it, so a line written before the lock is seen and an object a push
//! relied on is live. Objects written less than `grace` ago (by the server's clock) are
//! kept whatever the walk says: a push by an older build, which takes no lock, is
//! protected for that long. Deleting only ever removes garbage, and in an order that leaves
//! every live object reachable at every instant (a pack's replacement is written and
//! indexed before the old index and pack go), so a gc killed anywhere loses nothing and
//! the rerun completes.
//!
//! **Never trusting a listing it did not verify.** A name under `objects/` or `packs/` that
//! is not a key mreg writes, an index without its pack, a line or version that cannot be
//! read: reported in the plan, never deleted, and the last two make gc refuse (it cannot
//! tell what they need).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::key::{Key, Prefix};
use super::lock::LockKind;
use super::pack;
use super::sync::{fetch_in, hex_id, line_refs, Session, PRUNED};
use super::RemoteError;
use crate::error::{Error, Result};
use crate::history::{Action, MoveInfo};
use crate::id::{CommitId, ObjectId};
use crate::names::ModelName;
use crate::ops::Progress;
use crate::reach;
use crate::repo::Repo;

/// The default grace period: objects written more recently are kept.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(24 * 3600);

/// A pack whose dead objects are at least this share of its bytes is rewritten (one that
/// holds a pruned version's data always is).
const REPACK_DEAD_SHARE: f64 = 0.5;

/// What remote gc keeps and removes.
#[derive(Clone, Debug)]
pub struct RemoteGcOptions {
    /// Keep objects written more recently than this (server time).
    pub grace: Duration,
    /// Show the plan, delete nothing.
    pub dry_run: bool,
}

impl Default for RemoteGcOptions {
    fn default() -> Self {
        RemoteGcOptions {
            grace: DEFAULT_GRACE,
            dry_run: true,
        }
    }
}

/// One object (or pack) the plan removes, and why.
#[derive(Clone, Debug, Serialize)]
pub struct Doomed {
    pub key: String,
    pub bytes: u64,
    pub why: String,
}

/// A pack rewritten without its dead objects.
#[derive(Clone, Debug, Serialize)]
pub struct Repack {
    pub pack: ObjectId,
    pub bytes: u64,
    pub live_objects: usize,
    pub dead_objects: usize,
    pub dead_bytes: u64,
}

/// Remote gc's plan, and after a sweep, what it did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RemoteGcReport {
    pub remote: String,
    pub url: String,
    pub dry_run: bool,
    pub grace_seconds: u64,
    /// Versions on the remote (named by its lines, with their ancestors) and how many of
    /// them are pruned there.
    pub versions: usize,
    pub pruned_versions: usize,
    /// Objects every version there needs, and their stored bytes.
    pub live_objects: usize,
    pub live_bytes: u64,
    /// Loose objects and packs removed (or, dry run, to remove).
    pub deleted: Vec<Doomed>,
    /// Packs rewritten without their dead objects.
    pub repacked: Vec<Repack>,
    /// Bytes freed (or to free).
    pub freed_bytes: u64,
    /// Garbage younger than the grace period: kept this time.
    pub kept_by_grace: Vec<Doomed>,
    /// Names under mreg's prefixes that are not mreg's (reported, never deleted).
    pub unknown: Vec<(String, u64)>,
    /// What is wrong with the remote that gc leaves alone (an index without its pack).
    pub problems: Vec<String>,
    /// Requests made to the remote (listings count once per 1,000 names).
    pub requests: u64,
}

/// What the remote's versions need.
struct Live {
    objects: HashSet<ObjectId>,
    /// For each chunk that only pruned versions used: one such version (for the plan's why).
    pruned_data: HashMap<ObjectId, CommitId>,
    /// Per version: its model, its objects (metadata and chunks), pruned there or not.
    versions: BTreeMap<CommitId, (ModelName, Vec<ObjectId>, bool)>,
}

/// Walk the remote's histories (as fetched and verified) to what they need. Refuses when a
/// version's metadata cannot be read: gc cannot tell what it needs.
/// `also_pruned`: versions to count as pruned there (the plan of `prune --remote`).
fn live_set(s: &Session, repo: &Repo, also_pruned: &[CommitId]) -> Result<Live> {
    let mut commits: Vec<ObjectId> = Vec::new();
    let mut objects: HashSet<ObjectId> = HashSet::new();
    let mut pruned: HashSet<ObjectId> = also_pruned.iter().map(|c| **c).collect();
    let mut model_of_line: HashMap<ObjectId, ModelName> = HashMap::new();
    for m in s.remote_models()? {
        let tf = s.track(&m)?;
        for l in tf.cached_lines_after(0)? {
            let (c, n) = line_refs(&l.changes, &l.extra);
            for id in &c {
                model_of_line.entry(*id).or_insert_with(|| m.clone());
            }
            commits.extend(c);
            objects.extend(n);
            if l.action == Action::Prune {
                pruned.extend(hex_id(l.extra.get(PRUNED)));
            }
        }
    }
    let mut versions = BTreeMap::new();
    let mut pruned_chunks: HashMap<ObjectId, CommitId> = HashMap::new();
    let mut seen = HashSet::new();
    while let Some(id) = commits.pop() {
        if !seen.insert(id) {
            continue;
        }
        let c = repo.read_commit(&id).map_err(|e| {
            Error::from(RemoteError::Protocol(format!(
                "remote gc refused: version {} that the remote's history names cannot be read here ({e}); run `mreg fetch {}` and retry",
                id.short(),
                s.name
            )))
        })?;
        let is_pruned = pruned.contains(&id);
        let (vd, problems) = reach::version_data(repo, &id, &c);
        if let Some(p) = problems.first().filter(|_| !is_pruned) {
            return Err(RemoteError::Protocol(format!(
                "remote gc refused: cannot tell what version {} needs: {}: {}",
                id.short(),
                p.item,
                p.problem
            ))
            .into());
        }
        let mut mine: Vec<ObjectId> = vec![id];
        mine.extend(vd.metadata.iter().copied());
        objects.insert(id);
        objects.extend(vd.metadata.iter().copied());
        if is_pruned {
            for ch in &vd.chunks {
                pruned_chunks.entry(*ch).or_insert(id.into());
            }
        } else {
            objects.extend(vd.chunks.iter().copied());
            mine.extend(vd.chunks.iter().copied());
        }
        versions.insert(id.into(), (c.model.clone(), mine, is_pruned));
        commits.extend(c.parents.iter().chain(c.derived_from.iter()).map(|p| **p));
    }
    pruned_chunks.retain(|ch, _| !objects.contains(ch));
    Ok(Live {
        objects,
        pruned_data: pruned_chunks,
        versions,
    })
}

/// The why of a dead object.
fn why_dead(live: &Live, id: &ObjectId) -> String {
    match live.pruned_data.get(id) {
        Some(v) => format!("data of version {}, pruned on the remote", v.short()),
        None => "named by no version (left by an interrupted push)".into(),
    }
}

/// Is an object written at `modified` within the grace period before `now`?
fn in_grace(modified: Option<SystemTime>, now: SystemTime, grace: Duration) -> bool {
    modified
        .and_then(|m| now.duration_since(m).ok())
        .is_none_or(|age| age < grace)
}

/// Plan (and, without `dry_run`, run) remote gc. See the module docs for why it is safe
/// while other machines push and pull.
pub fn gc_remote(
    repo: &Repo,
    remote: Option<&str>,
    opts: &RemoteGcOptions,
    progress: &dyn Progress,
) -> Result<RemoteGcReport> {
    gc_planned(repo, remote, opts, &[], progress)
}

fn gc_planned(
    repo: &Repo,
    remote: Option<&str>,
    opts: &RemoteGcOptions,
    also_pruned: &[CommitId],
    progress: &dyn Progress,
) -> Result<RemoteGcReport> {
    let s = Session::open(repo, remote)?;
    Ok(gc_in(&s, repo, opts, also_pruned, progress)?.0)
}

/// What a gc read of the remote, kept for `du --remote` (one walk and one listing serve
/// both the plan and the usage).
struct Survey {
    live: Live,
    objects: super::key::Listing,
    packs: super::key::Listing,
}

/// Remote gc in an open session: the plan, and without `dry_run` the sweep.
fn gc_in(
    s: &Session,
    repo: &Repo,
    opts: &RemoteGcOptions,
    also_pruned: &[CommitId],
    progress: &dyn Progress,
) -> Result<(RemoteGcReport, Survey)> {
    let _local = s.lock()?;
    let lock = if opts.dry_run {
        None
    } else {
        Some(s.remote_lock(LockKind::Exclusive, "gc")?)
    };
    // Under the lock: every line written before it is seen, no push is in flight.
    fetch_in(s, progress)?;
    let live = live_set(s, repo, also_pruned)?;
    let objects = s.backend.list(&Prefix::Objects)?;
    let packs = s.backend.list(&Prefix::Packs)?;
    let probes = s.backend.list(&Prefix::Probes)?;
    // "Now" by the server's clock: the newest write it reports (our lock, when held).
    let locks = s.backend.list(&Prefix::Locks)?;
    let now = locks
        .modified
        .values()
        .chain(objects.modified.values())
        .chain(packs.modified.values())
        .max()
        .copied()
        .unwrap_or_else(SystemTime::now);
    let mut rep = RemoteGcReport {
        remote: s.name.clone(),
        url: s.backend.describe(),
        dry_run: opts.dry_run,
        grace_seconds: opts.grace.as_secs(),
        versions: live.versions.len(),
        pruned_versions: live.versions.values().filter(|v| v.2).count(),
        live_objects: live.objects.len(),
        ..Default::default()
    };
    rep.unknown.extend(objects.unknown.iter().cloned());
    rep.unknown.extend(packs.unknown.iter().cloned());
    let grace =
        |k: &Key, m: &HashMap<Key, SystemTime>| in_grace(m.get(k).copied(), now, opts.grace);

    // Loose objects.
    let mut doomed_keys: Vec<Key> = Vec::new();
    for (key, size) in &objects.keys {
        let Key::Object(id) = key else {
            rep.unknown.push((key.path(), *size));
            continue;
        };
        if live.objects.contains(id) {
            rep.live_bytes += size;
            continue;
        }
        let d = Doomed {
            key: key.path(),
            bytes: *size,
            why: why_dead(&live, id),
        };
        if grace(key, &objects.modified) {
            rep.kept_by_grace.push(d);
        } else {
            rep.freed_bytes += size;
            rep.deleted.push(d);
            doomed_keys.push(key.clone());
        }
    }

    // Packs: whole dead ones go; mostly dead ones are rewritten; unindexed old ones go.
    let mut rewrite: Vec<(ObjectId, pack::PackIndex)> = Vec::new();
    let mut doomed_packs: Vec<ObjectId> = Vec::new();
    for (key, size) in &packs.keys {
        match key {
            Key::Pack(p) if packs.size_of(&Key::PackIndex(*p)).is_none() => {
                let d = Doomed {
                    key: key.path(),
                    bytes: *size,
                    why: "a pack nothing indexes (left by an interrupted push)".into(),
                };
                if grace(key, &packs.modified) {
                    rep.kept_by_grace.push(d);
                } else {
                    rep.freed_bytes += size;
                    rep.deleted.push(d);
                    doomed_keys.push(key.clone());
                }
            }
            Key::PackIndex(p) if packs.size_of(&Key::Pack(*p)).is_none() => {
                rep.problems
                    .push(format!("{key}: an index without its pack (left alone)"));
            }
            Key::PackIndex(p) => {
                let Some(b) = s.backend.get(key, pack::MAX_INDEX)? else {
                    continue; // removed meanwhile (dry run only: no lock)
                };
                let idx = pack::parse_index(p, &b, packs.size_of(&Key::Pack(*p)))?;
                let pack_bytes = packs.size_of(&Key::Pack(*p)).unwrap_or(0);
                let (dead, alive): (Vec<&pack::PackEntry>, Vec<&pack::PackEntry>) = idx
                    .objects
                    .iter()
                    .partition(|e| !live.objects.contains(&e.id));
                rep.live_bytes += alive.iter().map(|e| e.len).sum::<u64>();
                if dead.is_empty() {
                    continue;
                }
                let dead_bytes: u64 = dead.iter().map(|e| e.len).sum();
                let young = grace(&Key::Pack(*p), &packs.modified);
                if alive.is_empty() {
                    let d = Doomed {
                        key: Key::Pack(*p).path(),
                        bytes: pack_bytes + b.len() as u64,
                        why: format!("a pack of {} object(s) no version needs", dead.len()),
                    };
                    if young {
                        rep.kept_by_grace.push(d);
                    } else {
                        rep.freed_bytes += d.bytes;
                        rep.deleted.push(d);
                        doomed_packs.push(*p);
                    }
                } else if !young
                    && (dead_bytes as f64 >= REPACK_DEAD_SHARE * pack_bytes.max(1) as f64
                        // A pruned version's data goes whatever its share of the pack:
                        // pruning is a decision that these bytes leave the remote.
                        || dead.iter().any(|e| live.pruned_data.contains_key(&e.id)))
                {
                    rep.freed_bytes += dead_bytes;
                    rep.repacked.push(Repack {
                        pack: *p,
                        bytes: pack_bytes,
                        live_objects: alive.len(),
                        dead_objects: dead.len(),
                        dead_bytes,
                    });
                    rewrite.push((*p, idx.clone()));
                }
            }
            Key::Pack(_) => {}
            other => rep.unknown.push((other.path(), *size)),
        }
    }
    // Probe objects a killed push left (each is deleted right after the probe).
    for (key, size) in &probes.keys {
        if !grace(key, &probes.modified) {
            rep.freed_bytes += size;
            rep.deleted.push(Doomed {
                key: key.path(),
                bytes: *size,
                why: "a conditional-write probe a killed push left".into(),
            });
            doomed_keys.push(key.clone());
        }
    }
    let survey = |live| Survey {
        live,
        objects: objects.clone(),
        packs: packs.clone(),
    };
    let Some(lock) = lock else {
        rep.requests = s.backend.requests();
        return Ok((rep, survey(live)));
    };

    // The sweep. Each step leaves every live object reachable.
    progress.start("removing", rep.freed_bytes);
    for (old, idx) in &rewrite {
        lock.check()?;
        let Some(buf) = s.backend.get(&Key::Pack(*old), pack::MAX_PACK_READ)? else {
            continue;
        };
        let mut keep = Vec::new();
        for e in idx.objects.iter().filter(|e| live.objects.contains(&e.id)) {
            let enc = buf
                .get(e.offset as usize..(e.offset + e.len) as usize)
                .ok_or_else(|| {
                    RemoteError::Corrupt(format!("pack {old}: object {} outside it", e.id))
                })?;
            // Verified before it is written again: a damaged object is not copied.
            crate::object::decode(&e.id, enc)
                .map_err(|err| RemoteError::Corrupt(format!("pack {old}: {err}")))?;
            keep.push((e.id, enc.to_vec()));
        }
        let (pid, bytes, index) = pack::build(&keep);
        let ibytes = serde_json::to_vec(&index).map_err(|e| Error::Encode {
            what: "a pack index",
            source: e.into(),
        })?;
        // The new pack and its index first; then the old index (its objects are now
        // found in the new pack), then the old pack.
        s.backend.put(&Key::Pack(pid), &bytes)?;
        s.backend.put(&Key::PackIndex(pid), &ibytes)?;
        if pid != *old {
            lock.check()?;
            s.backend.delete(&Key::PackIndex(*old))?;
            s.backend.delete(&Key::Pack(*old))?;
        }
        progress.advance(buf.len().saturating_sub(bytes.len()) as u64);
    }
    for p in &doomed_packs {
        lock.check()?;
        s.backend.delete(&Key::PackIndex(*p))?;
        s.backend.delete(&Key::Pack(*p))?;
    }
    let sizes: HashMap<&Key, u64> = objects
        .keys
        .iter()
        .chain(packs.keys.iter())
        .chain(probes.keys.iter())
        .map(|(k, n)| (k, *n))
        .collect();
    super::parallel(&doomed_keys, s.jobs(), |k| {
        lock.check()?;
        s.backend.delete(k)?;
        progress.advance(sizes.get(k).copied().unwrap_or(0));
        Ok(())
    })?;
    progress.finish();
    drop(lock);
    rep.requests = s.backend.requests();
    Ok((rep, survey(live)))
}

/// One version's bytes on a remote.
#[derive(Clone, Debug, Serialize)]
pub struct RemoteVersionUsage {
    pub model: ModelName,
    pub id: CommitId,
    pub version: Option<u64>,
    pub pruned: bool,
    /// Stored bytes of every object it needs that the remote holds.
    pub bytes: u64,
    /// Of those, bytes no other version there needs (freed if it alone were pruned).
    pub unique: u64,
    pub shared: u64,
}

/// `du --remote`: bytes per version, unique and shared, and what gc would free.
#[derive(Clone, Debug, Serialize)]
pub struct RemoteUsage {
    pub remote: String,
    pub url: String,
    pub versions: Vec<RemoteVersionUsage>,
    /// Bytes of every object listed (loose and in packs, indexes included).
    pub total_bytes: u64,
    /// What `gc --remote` would do now (with the default grace period).
    pub gc: RemoteGcReport,
}

/// Bytes on the remote per model and version, unique versus shared, and gc's plan.
pub fn du_remote(
    repo: &Repo,
    remote: Option<&str>,
    progress: &dyn Progress,
) -> Result<RemoteUsage> {
    let s = Session::open(repo, remote)?;
    let (
        gc,
        Survey {
            live,
            objects,
            packs,
        },
    ) = gc_in(&s, repo, &RemoteGcOptions::default(), &[], progress)?;
    let pm = pack::load(
        &s.backend,
        &repo.store_dir().join("remotes").join(&s.name).join("packs"),
    )?;
    let mut size: HashMap<ObjectId, u64> =
        pm.entries.iter().map(|(id, (_, e))| (*id, e.len)).collect();
    for (k, n) in &objects.keys {
        if let Key::Object(id) = k {
            size.insert(*id, *n);
        }
    }
    let mut users: HashMap<ObjectId, usize> = HashMap::new();
    for (_, objs, _) in live.versions.values() {
        for o in objs {
            *users.entry(*o).or_default() += 1;
        }
    }
    let mut versions = Vec::new();
    for (id, (model, objs, pruned)) in &live.versions {
        let numbers = crate::versions::of_model(repo, model).unwrap_or_default();
        let version = numbers.iter().find(|(v, _)| v == id).and_then(|(_, n)| *n);
        let (mut bytes, mut unique) = (0, 0);
        for o in objs {
            let n = size.get(o).copied().unwrap_or(0);
            bytes += n;
            if users.get(o) == Some(&1) {
                unique += n;
            }
        }
        versions.push(RemoteVersionUsage {
            model: model.clone(),
            id: *id,
            version,
            pruned: *pruned,
            bytes,
            unique,
            shared: bytes - unique,
        });
    }
    versions.sort_by(|a, b| (&a.model, a.version, a.id).cmp(&(&b.model, b.version, b.id)));
    let total_bytes = objects
        .keys
        .iter()
        .chain(packs.keys.iter())
        .map(|(_, n)| n)
        .sum::<u64>()
        + objects
            .unknown
            .iter()
            .chain(packs.unknown.iter())
            .map(|(_, n)| n)
            .sum::<u64>();
    Ok(RemoteUsage {
        remote: s.name.clone(),
        url: s.backend.describe(),
        versions,
        total_bytes,
        gc,
    })
}

/// What `prune --remote` did.
#[derive(Clone, Debug, Serialize)]
pub struct RemotePrune {
    pub id: CommitId,
    pub model: ModelName,
    /// The local prune (its data here), when it was not pruned here already.
    pub local: Option<crate::gc::PrunePlan>,
    pub push: super::PushReport,
    pub gc: RemoteGcReport,
}

/// Prune a version on a remote: its data goes from this store and from the remote (what no
/// other version there needs), its metadata and history stay. The prune is a history line
/// every store sees after a pull. Refused for a version a ref points at, here or on the
/// remote. With `dry_run`, only what the remote's gc would then free.
pub fn prune_remote(
    repo: &Repo,
    id: CommitId,
    remote: Option<&str>,
    info: MoveInfo,
    opts: &RemoteGcOptions,
    progress: &dyn Progress,
) -> Result<RemotePrune> {
    let commit = repo.read_commit(&id)?;
    let model = commit.model.clone();
    let (name, _) = super::config::resolve(repo, remote)?;
    // The remote's refs, as fetched now: refused if one points at it there.
    {
        let s = Session::open(repo, Some(&name))?;
        fetch_in(&s, progress)?;
        let tf = s.track(&model)?;
        let pointing: Vec<String> = tf
            .track
            .state
            .refs()
            .into_iter()
            .filter(|(_, v)| *v == id)
            .map(|(k, _)| format!("{} on {name}", k.describe()))
            .collect();
        if !pointing.is_empty() {
            return Err(Error::PruneRefused {
                id,
                model: model.clone(),
                why: crate::error::PruneRefusal::Referenced(pointing),
            });
        }
    }
    if opts.dry_run {
        let plan = crate::gc::prune(repo, id, true, info).or_else(|e| match e {
            Error::PruneRefused {
                why: crate::error::PruneRefusal::AlreadyPruned,
                ..
            } => Ok(crate::gc::PrunePlan {
                id,
                model: model.clone(),
                plan: Default::default(),
                loses_data: false,
            }),
            e => Err(e),
        })?;
        let gc = gc_planned(repo, Some(&name), opts, &[id], progress)?;
        return Ok(RemotePrune {
            id,
            model,
            local: Some(plan),
            push: Default::default(),
            gc,
        });
    }
    let local = if crate::gc_marks::is_pruned(repo, &id) {
        repo.transact(&model, info, Action::Prune, |t| {
            t.record_prune(id);
            t.set_extra(super::REMOTE_PRUNE, name.clone().into());
            Ok(())
        })?;
        None
    } else {
        Some(crate::gc::prune_marked(
            repo,
            id,
            info,
            (super::REMOTE_PRUNE, name.clone().into()),
        )?)
    };
    let push = super::push(repo, Some(&name), std::slice::from_ref(&model), progress)?;
    if let Some(r) = push.models.iter().find_map(|m| m.refused.as_ref()) {
        return Err(RemoteError::Protocol(format!(
            "the prune was recorded here but not published on {name}: {r}; run `mreg pull {name}`, then `mreg push {name}`"
        ))
        .into());
    }
    let gc = gc_remote(repo, Some(&name), opts, progress)?;
    Ok(RemotePrune {
        id,
        model,
        local,
        push,
        gc,
    })
}
