//! push: publish local history lines to a remote, each a compare-and-swap against the
//! remote's refs (a commit's version always lands), after the data and commits they name.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

use super::key::Key;
use super::lock::LockKind;
use super::log::{self, Appended, RemoteLine, Writer};
use super::pack;
use super::sync::{
    hex_id, line_refs, probe_conditional_writes, Membership, OurMoves, Session, PRUNED,
};
use super::{parallel, RemoteError};
use crate::error::Result;
use crate::gc_marks;
use crate::history::{Action, LogEntry, RefChange, RefName, RefState, PULLED_FROM};
use crate::id::{CommitId, ObjectId};
use crate::names::ModelName;
use crate::ops::Progress;
use crate::reach;
use crate::repo::Repo;

/// A move refused because the remote moved the same ref since this store last saw it.
#[derive(Clone, Debug, Serialize)]
pub struct Refusal {
    pub model: ModelName,
    #[serde(rename = "ref")]
    pub reference: String,
    /// Where this store believed the ref was (and moved it from).
    pub local_view: Option<CommitId>,
    /// Where it is on the remote.
    pub remote: Option<CommitId>,
    /// The local history line not published (or, for a commit, published in part).
    pub local_seq: u64,
    /// A commit whose other moves were refused: its version was published alone, under
    /// this number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_published: Option<u64>,
    /// The move pointed the ref at this version, pruned on the remote.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pruned_on_remote: Option<CommitId>,
}

impl Refusal {
    fn of(model: &ModelName, c: &Conflict, local_seq: u64, version: Option<u64>) -> Refusal {
        Refusal {
            model: model.clone(),
            reference: c.name.describe(),
            local_view: c.saw,
            remote: c.now,
            local_seq,
            version_published: version,
            pruned_on_remote: c.pruned_target,
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(n) = self.version_published {
            write!(
                f,
                "version #{n} of {} was published, but not its move of ",
                self.model
            )?;
        }
        if let Some(p) = self.pruned_on_remote {
            return write!(
                f,
                "{} of {} would point at version {}, which was pruned on the remote (its data is gone there): run `mreg pull`, then choose another version",
                self.reference,
                self.model,
                p.short()
            );
        }
        write!(
            f,
            "{} of {} moved on the remote since your last fetch (your view: {}, remote: {}): run `mreg pull`",
            self.reference,
            self.model,
            log::show(self.local_view),
            log::show(self.remote)
        )
    }
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct ModelPush {
    pub model: Option<ModelName>,
    /// History lines published by this push.
    pub lines_pushed: usize,
    /// Lines already on the remote (an earlier, interrupted push) or with nothing left to do.
    pub lines_skipped: usize,
    /// Numbers of the versions this push published.
    pub versions: Vec<u64>,
    pub refused: Option<Refusal>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct PushReport {
    pub remote: String,
    pub url: String,
    pub models: Vec<ModelPush>,
    pub objects_uploaded: usize,
    pub bytes_uploaded: u64,
    /// Versions pruned here before they were ever pushed: their metadata and the prune
    /// (who, when, why) were published, their data could not be.
    pub pushed_without_data: Vec<String>,
    /// Packs the small objects travelled in (see `remote::pack`).
    pub packs_uploaded: usize,
    /// Remote lines that carry this store's writer id but are not its moves (a restored
    /// copy of this store, or a forged line): treated as another writer's.
    pub impostor_lines: Vec<String>,
    /// Requests sent to the remote (reads, writes, listings, checks).
    pub requests: u64,
}

impl PushReport {
    pub fn refused(&self) -> impl Iterator<Item = &Refusal> {
        self.models.iter().filter_map(|m| m.refused.as_ref())
    }
}

/// A ref a move changed or relied on that has another value on the remote than the move
/// saw.
#[derive(Clone, Debug)]
pub(super) struct Conflict {
    pub name: RefName,
    /// What the move saw.
    pub saw: Option<CommitId>,
    /// What the remote has.
    pub now: Option<CommitId>,
    /// The move points the ref at a version pruned on the remote (`prune --remote`): its
    /// data is gone for the team, so no ref may point at it there.
    pub pruned_target: Option<CommitId>,
}

/// How a pending local line stands against the remote's refs.
pub(super) enum Check {
    /// Publish with these changes.
    Publish(Vec<RefChange>),
    /// A commit whose other moves (an alias, the policy's `candidate` and `best`) conflict:
    /// its version publishes alone with these changes (the head) — every version lands —
    /// and the rest is refused. No conflict: refused at an earlier pull, already reported.
    VersionOnly(Vec<RefChange>, Option<Conflict>),
    Conflict(Conflict),
}

impl Check {
    /// The changes to publish, if any.
    pub(super) fn changes(&self) -> Option<&[RefChange]> {
        match self {
            Check::Publish(c) | Check::VersionOnly(c, _) => Some(c),
            Check::Conflict(_) => None,
        }
    }
}

/// The refs a line's move relied on without changing them (`history::UNCHANGED`).
fn unchanged(extra: &BTreeMap<String, serde_json::Value>) -> Vec<RefChange> {
    extra
        .get(crate::history::UNCHANGED)
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default()
}

/// Compare-and-swap of one move as a whole (issue 32): it applies only if every ref it
/// changed *and* every ref it relied on has, on the remote, the value the move saw. A move
/// whose end state the remote happens to have already is refused too: it was decided on
/// another view, and publishing nothing would lose its author and reason silently.
///
/// A commit is the exception for its head (issue 24): its parent records what the version
/// was trained from, not a lock, so a version committed beside another one (a sweep, two
/// colleagues) publishes after it — the head, "the latest version", moves from wherever
/// the remote's head is. `version_only` (a line whose other moves an earlier pull already
/// refused) publishes the version alone.
///
/// A move that points a ref at a version the remote pruned (`pruned`) is refused the same
/// way: the ref would name data that is gone for the team.
pub(super) fn check_line(
    state: &RefState,
    e: &LogEntry,
    version_only: bool,
    pruned: &HashSet<CommitId>,
) -> Check {
    let commit = e.action == Action::Commit;
    let mut changes = e.changes.clone();
    if commit {
        for c in changes.iter_mut().filter(|c| c.name == RefName::Head) {
            c.old = state.head;
        }
    }
    let alone = || -> Vec<RefChange> {
        changes
            .iter()
            .filter(|c| c.name == RefName::Head)
            .cloned()
            .collect()
    };
    if commit && version_only {
        return Check::VersionOnly(alone(), None);
    }
    for c in e.changes.iter().chain(unchanged(&e.extra).iter()) {
        if commit && c.name == RefName::Head {
            continue;
        }
        let cur = state.get(&c.name);
        let pruned_target = c.new.filter(|n| pruned.contains(n));
        if cur != c.old || pruned_target.is_some() {
            let conflict = Conflict {
                name: c.name.clone(),
                saw: c.old,
                now: cur,
                pruned_target,
            };
            return if commit {
                Check::VersionOnly(alone(), Some(conflict))
            } else {
                Check::Conflict(conflict)
            };
        }
    }
    Check::Publish(changes)
}

/// Local lines of `model` that are not on the remote yet, in order.
///
/// Also returns the seq of the last line read: push marks lines up to it as pushed and no
/// further, so a move appended while push uploads stays pending (issue 23, defect 2).
pub(super) fn pending(
    repo: &Repo,
    remote: &str,
    model: &ModelName,
    t: &log::Track,
) -> Result<(Vec<LogEntry>, u64)> {
    let (entries, _) = repo.model_log(model).entries()?;
    let read_upto = entries.last().map_or(0, |e| e.seq);
    let dropped: HashSet<u64> = t.dropped.iter().copied().collect();
    let lines = entries
        .into_iter()
        .filter(|e| e.seq > t.pushed && !dropped.contains(&e.seq))
        .filter(|e| {
            e.extra
                .get(PULLED_FROM)
                .and_then(|v| v.as_str())
                .is_none_or(|s| s.split(' ').next() != Some(remote))
        })
        .collect();
    Ok((lines, read_upto))
}

/// Publish local history to the remote: data, then commits, then history lines.
pub fn push(
    repo: &Repo,
    remote: Option<&str>,
    models: &[ModelName],
    progress: &dyn Progress,
) -> Result<PushReport> {
    let s = Session::open(repo, remote)?;
    let _lock = s.lock()?;
    // A remote of another format is refused before anything is written to it.
    s.check_marker(false)?;
    // Held from before the remote's objects are listed until the last line is written: a
    // remote gc cannot delete an object this push decided not to upload (`remote::lock`).
    let remote_lock = s.remote_lock(LockKind::Shared, "push")?;
    // Under the lock: a remote gc running beside this push sweeps probe objects, and one
    // deleted between the probe's two writes made a sound server look like one that
    // ignores create-only writes (a push refused for nothing). Before the marker: a
    // server that cannot hold history is not made to look like a remote.
    probe_conditional_writes(&s.backend)?;
    s.check_marker(true)?;
    let models = if models.is_empty() {
        repo.models()?
    } else {
        for m in models {
            repo.require_model(m)?;
        }
        models.to_vec()
    };
    let mut report = PushReport {
        remote: s.name.clone(),
        url: s.backend.describe(),
        ..Default::default()
    };

    // 1. Read the remote's histories; decide which local lines can be published.
    let mut plans = Vec::new();
    for m in &models {
        let mut tf = s.track(m)?;
        let ours = OurMoves::read(repo, m)?;
        tf.sync(&s.backend, &ours.identity(&s.store_id))?;
        report
            .impostor_lines
            .extend(tf.impostors.iter().map(|n| format!("model {m} line {n}")));
        let (lines, read_upto) = pending(repo, &s.name, m, &tf.track)?;
        let pruned = tf.pruned_versions()?;
        let mut sim = tf.track.state.clone();
        let mut publish = Vec::new();
        for e in lines {
            let check = check_line(&sim, &e, tf.track.partial.contains(&e.seq), &pruned);
            let refused = matches!(check, Check::Conflict(_) | Check::VersionOnly(_, Some(_)));
            if let Some(ch) = check.changes() {
                log::apply(&mut sim, ch).expect("checked against this state");
            }
            publish.push(e);
            if refused {
                break; // refused (in part, for a commit) when written, below
            }
        }
        plans.push((m.clone(), tf, publish, read_upto, ours));
    }

    // 2. Upload what the lines need and the remote lacks: data first, commits after.
    let mut want_commits = Vec::new();
    let mut want_notes = Vec::new();
    for (_, _, lines, _, _) in &plans {
        for e in lines {
            let (c, n) = line_refs(&e.changes, &e.extra);
            want_commits.extend(c);
            want_notes.extend(n);
        }
    }
    let mut have = s.membership()?;
    let (data, commit_levels, pruned_here) =
        closure(repo, &mut have, &want_commits, &want_notes, &s.name)?;
    report.pushed_without_data = pruned_here.iter().map(|c| c.to_hex()).collect();
    let sizes: Vec<(ObjectId, u64)> = data
        .iter()
        .map(|id| Ok((*id, repo.objects().disk_size(id)?)))
        .collect::<Result<_>>()?;
    let total: u64 = sizes.iter().map(|s| s.1).sum::<u64>()
        + commit_levels
            .iter()
            .flatten()
            .map(|id| repo.objects().disk_size(id).unwrap_or(0))
            .sum::<u64>();
    progress.start("pushing", total);
    let bytes = AtomicU64::new(0);
    let upload = |id: &ObjectId| -> Result<()> {
        remote_lock.keep_alive()?;
        let buf = repo.objects().read_encoded(id)?;
        s.backend.put(&Key::Object(*id), &buf)?;
        bytes.fetch_add(buf.len() as u64, Ordering::Relaxed);
        progress.advance(buf.len() as u64);
        Ok(())
    };
    // Small objects go in packs (one request for many), large ones alone.
    enum Up {
        Loose(ObjectId),
        Pack(Vec<ObjectId>),
    }
    type Listed = Vec<(ObjectId, u64)>;
    let (small, large): (Listed, Listed) =
        sizes.iter().partition(|(_, n)| *n < pack::PACK_MAX_OBJECT);
    let small_total: u64 = small.iter().map(|s| s.1).sum();
    let mut uploads: Vec<Up> = large.iter().map(|(id, _)| Up::Loose(*id)).collect();
    if small.len() == 1 {
        uploads.push(Up::Loose(small[0].0));
    } else if !small.is_empty() {
        let groups = pack::group(&small, small_total / s.jobs() as u64);
        report.packs_uploaded = groups.len();
        uploads.extend(groups.into_iter().map(Up::Pack));
    }
    parallel(&uploads, s.jobs(), |u| match u {
        Up::Loose(id) => upload(id),
        Up::Pack(ids) => {
            remote_lock.keep_alive()?;
            let objs = ids
                .iter()
                .map(|id| Ok((*id, repo.objects().read_encoded(id)?)))
                .collect::<Result<Vec<_>>>()?;
            let (pid, buf, index) = pack::build(&objs);
            // The pack first, then its index: an object is on the remote once indexed.
            s.backend.put(&Key::Pack(pid), &buf)?;
            let idx = serde_json::to_vec(&index).expect("index serializes");
            s.backend.put(&Key::PackIndex(pid), &idx)?;
            bytes.fetch_add((buf.len() + idx.len()) as u64, Ordering::Relaxed);
            progress.advance(buf.len() as u64);
            Ok(())
        }
    })?;
    for level in &commit_levels {
        parallel(level, s.jobs(), upload)?;
    }
    progress.finish();
    report.objects_uploaded = data.len() + commit_levels.iter().map(Vec::len).sum::<usize>();
    report.bytes_uploaded = bytes.into_inner();

    // 3. Publish the lines, each a compare-and-swap against the remote's refs.
    for (m, mut tf, lines, read_upto, ours) in plans {
        let me = ours.identity(&s.store_id);
        let mut mp = ModelPush {
            model: Some(m.clone()),
            ..Default::default()
        };
        for e in lines {
            loop {
                if tf.track.pushed >= e.seq {
                    mp.lines_skipped += 1; // found on the remote: an earlier push wrote it
                    break;
                }
                // A prune made here after the version's data reached the remote is this
                // store's own business: the remote keeps the data (`prune --remote` is
                // another command). Only a version pushed without its data publishes its
                // prune, so that every store knows why the data is nowhere.
                let for_this_remote = e.extra.get(super::REMOTE_PRUNE).and_then(|v| v.as_str())
                    == Some(s.name.as_str());
                if e.action == Action::Prune
                    && !for_this_remote
                    && match hex_id(e.extra.get(PRUNED)) {
                        None => true,
                        Some(id) => data_on_remote(repo, &id, &mut have)?,
                    }
                {
                    mp.lines_skipped += 1;
                    break;
                }
                let pruned = tf.pruned_versions()?;
                let check = check_line(
                    &tf.track.state,
                    &e,
                    tf.track.partial.contains(&e.seq),
                    &pruned,
                );
                let (changes, conflict) = match check {
                    Check::Conflict(c) => {
                        mp.refused = Some(Refusal::of(&m, &c, e.seq, None));
                        break;
                    }
                    Check::Publish(ch) => (ch, None),
                    Check::VersionOnly(ch, c) => (ch, c),
                };
                let mut extra = e.extra.clone();
                extra.remove(PULLED_FROM);
                if conflict.is_some() || tf.track.partial.contains(&e.seq) {
                    // The version alone: what its other moves relied on is not published.
                    extra.remove(crate::history::UNCHANGED);
                }
                let number = (e.action == Action::Commit).then(|| tf.next_version());
                if let Some(n) = number {
                    extra.insert(crate::versions::VERSION.into(), n.into());
                }
                let line = RemoteLine {
                    format: log::LINE_FORMAT,
                    model: m.clone(),
                    seq: 0,
                    prev: None,
                    writer: Writer {
                        store: s.store_id.clone(),
                        seq: e.seq,
                    },
                    time: e.time.clone(),
                    author: e.author.clone(),
                    action: e.action.clone(),
                    message: e.message.clone(),
                    changes,
                    extra,
                };
                // The objects it names were uploaded (or listed) under the lock: still
                // honoured, so no gc has run since.
                remote_lock.check()?;
                match tf.try_append(&s.backend, &me, line)? {
                    Appended::Written => {
                        mp.lines_pushed += 1;
                        if let Some(n) = number {
                            mp.versions.push(n);
                        }
                        if let Some(c) = conflict {
                            if !tf.track.partial.contains(&e.seq) {
                                tf.track.partial.push(e.seq);
                            }
                            mp.refused = Some(Refusal::of(&m, &c, e.seq, number));
                        }
                        break;
                    }
                    Appended::Raced => continue,
                }
            }
            if mp.refused.is_some() {
                break;
            }
        }
        if mp.refused.is_none() && tf.track.pushed < read_upto {
            // Every line read in step 1 was published; those left among them are local-only
            // (prune records) or pulled: nothing to publish. Lines appended since (a commit
            // made while this push uploaded) stay pending for the next push.
            tf.track.pushed = read_upto;
        }
        // `dropped` is kept: `history` marks those lines as never published, for good.
        tf.save()?;
        report.models.push(mp);
    }
    report.requests = s.backend.requests();
    Ok(report)
}

/// The version's commit and every chunk its manifests list are on the remote (`have`).
fn data_on_remote(repo: &Repo, id: &ObjectId, have: &mut Membership<'_, '_>) -> Result<bool> {
    have.ask(&[*id])?;
    if !have.has(id) {
        return Ok(false);
    }
    Ok(match repo.read_commit(id) {
        Ok(c) => {
            let (d, problems) = reach::version_data(repo, id, &c);
            let chunks: Vec<ObjectId> = d.chunks.iter().copied().collect();
            have.ask(&chunks)?;
            problems.is_empty() && chunks.iter().all(|ch| have.has(ch))
        }
        Err(_) => false,
    })
}

/// The objects a set of commits and notes needs on the remote, given what it has: data
/// objects (chunks, manifests, patches, notes), and the missing commits in levels, each
/// level's parents in an earlier one (so a commit on the remote implies its ancestors).
///
/// A version pruned here (its data deleted by gc or `prune`) goes without its data: its
/// metadata and the chunks still here are uploaded, and it is returned in the third list.
type Closure = (BTreeSet<ObjectId>, Vec<Vec<ObjectId>>, Vec<ObjectId>);

fn closure(
    repo: &Repo,
    have: &mut Membership<'_, '_>,
    commits: &[ObjectId],
    notes: &[ObjectId],
    remote: &str,
) -> Result<Closure> {
    let mut pruned_here = Vec::new();
    let mut data = BTreeSet::new();
    have.ask(notes)?;
    have.ask(commits)?;
    for n in notes {
        if !have.has(n) {
            data.insert(*n);
        }
    }
    let mut missing: BTreeMap<ObjectId, Vec<ObjectId>> = BTreeMap::new(); // id -> missing parents
    let mut stack: Vec<ObjectId> = commits.to_vec();
    let mut seen = HashSet::new();
    while let Some(id) = stack.pop() {
        have.ask(&[id])?;
        if have.has(&id) || !seen.insert(id) {
            continue;
        }
        let c = repo.read_commit(&id)?;
        let (vd, problems) = reach::version_data(repo, &id, &c);
        let pruned = gc_marks::is_pruned(repo, &id);
        if pruned {
            pruned_here.push(id);
        }
        if let Some(p) = problems.first().filter(|_| !pruned) {
            return Err(RemoteError::Protocol(format!(
                "cannot push {}: {}: {}",
                id.short(),
                p.item,
                p.problem
            ))
            .into());
        }
        let mut lacking = 0;
        let needed: Vec<ObjectId> = vd
            .metadata
            .iter()
            .chain(vd.chunks.iter())
            .copied()
            .collect();
        have.ask(&needed)?;
        for o in &needed {
            if have.has(o) {
                continue;
            }
            if !repo.objects().exists(o) {
                lacking += 1;
            } else {
                data.insert(*o);
            }
        }
        if lacking > 0 && !pruned {
            return Err(RemoteError::DataUnavailable {
                commit: id.into(),
                remote: remote.to_string(),
                missing: lacking,
            }
            .into());
        }
        let ups: Vec<ObjectId> = c
            .parents
            .iter()
            .chain(c.derived_from.iter())
            .map(|p| **p)
            .collect();
        stack.extend(ups.iter().copied());
        missing.insert(id, ups);
    }
    // Levels: a commit goes after every missing commit it names.
    let mut levels = Vec::new();
    let mut placed: HashSet<ObjectId> = HashSet::new();
    while placed.len() < missing.len() {
        let level: Vec<ObjectId> = missing
            .iter()
            .filter(|(id, ups)| {
                !placed.contains(*id)
                    && ups
                        .iter()
                        .all(|u| !missing.contains_key(u) || placed.contains(u))
            })
            .map(|(id, _)| *id)
            .collect();
        if level.is_empty() {
            return Err(RemoteError::Protocol("commit ancestry has a cycle".into()).into());
        }
        placed.extend(level.iter().copied());
        levels.push(level);
    }
    Ok((data, levels, pruned_here))
}
