//! push, fetch, pull, clone, lazy data and remote fsck (the protocol is in `remote`'s docs).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use serde::Serialize;

use super::backend::{Backend, Created};
use super::config::{self, RemoteSpec};
use super::log::{self, Appended, RemoteLine, TrackFile, Writer};
use super::pack;
use super::{jobs, parallel, store_id, RemoteError};
use crate::commit::Commit;
use crate::error::{Error, Result};
use crate::filestore::Manifest;
use crate::gc_marks;
use crate::history::PULLED_FROM;
/// Extra key of a prune line: the version whose data was pruned.
pub(super) const PRUNED: &str = "pruned";
use crate::history::{Action, LogEntry, MoveInfo, RefChange, RefName, RefState};
use crate::id::{CommitId, ObjectId};
use crate::names::ModelName;
use crate::object::{self, Kind};
use crate::ops::Progress;
use crate::reach;
use crate::repo::Repo;

/// The marker object at a remote's root: its format.
const MARKER: &str = "mreg-remote.json";
const REMOTE_FORMAT: u32 = 1;
/// Largest marker or probe object read.
const SMALL: u64 = 64 * 1024;
/// Largest object read from a remote: the local bound plus header room.
pub(super) const MAX_OBJECT_READ: u64 = object::MAX_OBJECT_LEN + (1 << 20);

/// An open connection to one remote, for one operation.
pub(super) struct Session<'r> {
    repo: &'r Repo,
    pub(super) name: String,
    pub(super) backend: Box<dyn Backend>,
    pub(super) store_id: String,
    dir: PathBuf,
    packs: std::sync::OnceLock<pack::PackMap>,
}

impl<'r> Session<'r> {
    pub(super) fn open(repo: &'r Repo, name: Option<&str>) -> Result<Session<'r>> {
        let (name, spec) = config::resolve(repo, name)?;
        let backend = spec.open()?;
        Ok(Session {
            repo,
            dir: repo.store_dir().join("remotes").join(&name).join("models"),
            name,
            backend,
            store_id: store_id(repo)?,
            packs: std::sync::OnceLock::new(),
        })
    }

    /// The remote's pack indexes (read once per operation, cached across operations).
    fn pack_map(&self) -> Result<&pack::PackMap> {
        if let Some(m) = self.packs.get() {
            return Ok(m);
        }
        let cache = self
            .dir
            .parent()
            .expect("remotes/<name>/models")
            .join("packs");
        let m = pack::load(self.backend.as_ref(), &cache)?;
        let _ = self.packs.set(m);
        Ok(self.packs.get().expect("just set"))
    }

    /// Download objects (loose or packed; packed neighbours in one ranged read), verify
    /// each against its id, and hand them to `f`. Returns the ids the remote does not have.
    fn fetch_many(
        &self,
        ids: &[ObjectId],
        f: impl Fn(&ObjectId, Fetched) -> Result<()> + Sync,
    ) -> Result<Vec<ObjectId>> {
        enum Task {
            Loose(ObjectId),
            Range(pack::RangeRead),
        }
        let map = self.pack_map()?;
        let (packed, loose): (Vec<ObjectId>, Vec<ObjectId>) =
            ids.iter().partition(|id| map.entries.contains_key(id));
        let mut tasks: Vec<Task> = pack::plan_reads(map, &packed)
            .into_iter()
            .map(Task::Range)
            .collect();
        tasks.extend(loose.into_iter().map(Task::Loose));
        let missing = std::sync::Mutex::new(Vec::new());
        parallel(&tasks, jobs(), |t| -> Result<()> {
            match t {
                Task::Loose(id) => match self.get_object(id)? {
                    Some(o) => f(id, o),
                    None => {
                        missing.lock().expect("not poisoned").push(*id);
                        Ok(())
                    }
                },
                Task::Range(r) => {
                    let key = pack::pack_key(&r.pack);
                    let buf = self
                        .backend
                        .get_range(&key, r.start, r.end)?
                        .ok_or_else(|| {
                            RemoteError::Corrupt(format!("{key} is indexed but missing"))
                        })?;
                    for e in &r.objects {
                        let at = (e.offset - r.start) as usize;
                        let enc = buf[at..at + e.len as usize].to_vec();
                        f(&e.id, Fetched::decode(&e.id, enc, &format!("in {key}"))?)?;
                    }
                    Ok(())
                }
            }
        })?;
        Ok(missing.into_inner().expect("not poisoned"))
    }

    pub(super) fn track(&self, model: &ModelName) -> Result<TrackFile> {
        TrackFile::open(self.dir.clone(), self.repo.tmp_dir(), model)
    }

    /// Every model the remote has a history for.
    pub(super) fn remote_models(&self) -> Result<Vec<ModelName>> {
        let mut out = BTreeSet::new();
        for (key, _) in self.backend.list("models/")? {
            let name = key
                .strip_prefix("models/")
                .and_then(|r| r.split('/').next())
                .unwrap_or("");
            let m = ModelName::new(name).map_err(|_| {
                Error::from(RemoteError::Corrupt(format!(
                    "{key}: {name:?} is not a valid model name"
                )))
            })?;
            out.insert(m);
        }
        Ok(out.into_iter().collect())
    }

    /// Every object id the remote holds (one listing, plus the pack indexes).
    fn remote_objects(&self) -> Result<HashSet<ObjectId>> {
        let mut out: HashSet<ObjectId> = self.pack_map()?.entries.keys().copied().collect();
        for (key, _) in self.backend.list("objects/")? {
            if let Some(id) = object_key_id(&key) {
                out.insert(id);
            }
        }
        Ok(out)
    }

    /// Check (or write, for a new remote) the marker object.
    pub(super) fn check_marker(&self, create: bool) -> Result<()> {
        let body =
            serde_json::json!({ "format": REMOTE_FORMAT, "kind": "mreg remote" }).to_string();
        let existing = match self.backend.get(MARKER, SMALL)? {
            Some(b) => b,
            None if create => match self.backend.create(MARKER, body.as_bytes())? {
                Created::New => return Ok(()),
                Created::Exists => self.backend.get(MARKER, SMALL)?.unwrap_or_default(),
            },
            None => return Ok(()),
        };
        let v: serde_json::Value = serde_json::from_slice(&existing)
            .map_err(|e| Error::from(RemoteError::Corrupt(format!("{MARKER} is not JSON: {e}"))))?;
        match v.get("format").and_then(|f| f.as_u64()) {
            Some(f) if f == REMOTE_FORMAT as u64 => Ok(()),
            other => Err(RemoteError::Corrupt(format!(
                "{MARKER}: remote format {other:?}; this mreg reads format {REMOTE_FORMAT} (upgrade mreg)"
            ))
            .into()),
        }
    }

    /// Download one object, verify it against its id, and return its bytes (as stored
    /// remotely: header and payload) with the decoded content.
    fn get_object(&self, id: &ObjectId) -> Result<Option<Fetched>> {
        let Some(buf) = self.backend.get(&object_key(id), MAX_OBJECT_READ)? else {
            return Ok(None);
        };
        Fetched::decode(id, buf, "on the remote").map(Some)
    }

    fn lock(&self) -> Result<crate::lock::LockGuard> {
        self.repo.lock_named(&format!("remote-{}", self.name))
    }
}

/// An object downloaded and verified: its bytes as stored, its kind, its content.
struct Fetched {
    encoded: Vec<u8>,
    kind: Kind,
    data: Vec<u8>,
}

impl Fetched {
    /// Decode bytes received for `id` (from `whence`) and verify them against the id.
    fn decode(id: &ObjectId, encoded: Vec<u8>, whence: &str) -> Result<Fetched> {
        let (kind, data) = object::decode(id, &encoded)
            .map_err(|e| Error::from(RemoteError::Corrupt(format!("object {id} {whence}: {e}"))))?;
        Ok(Fetched {
            encoded,
            kind,
            data,
        })
    }

    /// Refuse an object of another kind than the reader expects.
    fn expect_kind(&self, id: &ObjectId, want: &[Kind]) -> Result<()> {
        if want.contains(&self.kind) {
            return Ok(());
        }
        Err(RemoteError::Corrupt(format!(
            "object {id} on the remote is a {}, expected a {}",
            self.kind.name(),
            want[0].name()
        ))
        .into())
    }
}

/// The outcome of verifying one remote object: its kind and (for commits and manifests,
/// which fsck reads further) its content, or what is wrong with it.
pub(super) type Verified = std::result::Result<(Kind, Option<Vec<u8>>), String>;

/// A pack's objects, verified, and what is wrong with the pack itself.
pub(super) type PackCheck = (Vec<(ObjectId, Verified)>, Vec<String>);

/// `objects/ab/cdef…` for an id.
pub(super) fn object_key(id: &ObjectId) -> String {
    let h = id.to_hex();
    format!("objects/{}/{}", &h[..2], &h[2..])
}

pub(super) fn object_key_id(key: &str) -> Option<ObjectId> {
    let rest = key.strip_prefix("objects/")?;
    let (a, b) = rest.split_once('/')?;
    if a.len() != 2 {
        return None;
    }
    ObjectId::from_hex(&format!("{a}{b}"))
}

pub(super) fn hex_id(v: Option<&serde_json::Value>) -> Option<ObjectId> {
    v.and_then(|v| v.as_str()).and_then(ObjectId::from_hex)
}

/// Check that a server honours create-only writes: create a probe object twice; the second
/// must be refused. Servers that ignore `If-None-Match` (`rclone serve s3`) fail here.
pub fn probe_conditional_writes(remote: &dyn Backend) -> Result<()> {
    let nonce = ObjectId::hash(
        format!("{:?}{}", std::time::SystemTime::now(), std::process::id()).as_bytes(),
    );
    let key = format!("probe/{}", nonce.to_hex());
    let first = remote.create(&key, b"first")?;
    let second = remote.create(&key, b"second")?;
    let kept = remote.get(&key, SMALL)?;
    let _ = remote.delete(&key);
    if first != Created::New || second != Created::Exists || kept.as_deref() != Some(b"first") {
        return Err(RemoteError::NoConditionalWrites(remote.describe()).into());
    }
    Ok(())
}

// ----------------------------------------------------------------------------------------
// push

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
    /// The local history line not published.
    pub local_seq: u64,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
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
}

impl PushReport {
    pub fn refused(&self) -> impl Iterator<Item = &Refusal> {
        self.models.iter().filter_map(|m| m.refused.as_ref())
    }
}

/// This store's local history of one model, to recognise its own moves on a remote: a
/// line is ours only if it carries our writer id *and* publishes our local line of that
/// number (issue 23: ids alone were trusted, so a restored copy of the store or a forged
/// line could make real moves look published, or a peer's moves look like our own).
pub(super) struct OurMoves {
    entries: Vec<LogEntry>,
}

impl OurMoves {
    pub(super) fn read(repo: &Repo, m: &ModelName) -> Result<OurMoves> {
        Ok(OurMoves {
            entries: repo.model_log(m).entries()?.0,
        })
    }

    fn is(&self, l: &RemoteLine) -> bool {
        log::OwnMoves::is_our_move(self, l)
    }

    pub(super) fn identity<'a>(&'a self, store: &'a str) -> log::Identity<'a> {
        log::Identity { store, moves: self }
    }
}

impl log::OwnMoves for OurMoves {
    fn is_our_move(&self, l: &RemoteLine) -> bool {
        // Local seqs are 1, 2, ... in order: line n is at index n - 1.
        l.writer
            .seq
            .checked_sub(1)
            .and_then(|i| self.entries.get(i as usize))
            .is_some_and(|e| l.publishes(e))
    }
}

/// How a pending local line stands against the remote's refs.
pub(super) enum Check {
    /// Publish with these changes.
    Publish(Vec<RefChange>),
    /// A ref the move changed or relied on has another value on the remote than the move
    /// saw: (ref, what the move saw, what the remote has).
    Conflict(RefName, Option<CommitId>, Option<CommitId>),
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
pub(super) fn check_line(state: &RefState, e: &LogEntry) -> Check {
    for c in e.changes.iter().chain(unchanged(&e.extra).iter()) {
        let cur = state.get(&c.name);
        if cur != c.old {
            return Check::Conflict(c.name.clone(), c.old, cur);
        }
    }
    Check::Publish(e.changes.clone())
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

/// Commits and notes a line names.
pub(super) fn line_refs(
    changes: &[RefChange],
    extra: &BTreeMap<String, serde_json::Value>,
) -> (Vec<ObjectId>, Vec<ObjectId>) {
    let mut commits: Vec<ObjectId> = changes.iter().filter_map(|c| c.new.map(|n| *n)).collect();
    commits.extend(changes.iter().filter_map(|c| c.old.map(|n| *n)));
    commits.extend(hex_id(extra.get("commit")));
    for k in ["archived", "unarchived"] {
        commits.extend(hex_id(extra.get(k)));
    }
    // A prune line names its version: the remote needs its commit (metadata) for the
    // line to refer to something.
    commits.extend(hex_id(extra.get(PRUNED)));
    let notes = hex_id(extra.get("note")).into_iter().collect();
    (commits, notes)
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
    probe_conditional_writes(s.backend.as_ref())?;
    s.check_marker(true)?;
    let models = if models.is_empty() {
        repo.models()?
    } else {
        for m in models {
            if !repo.model_exists(m) {
                return Err(Error::UnknownModel(m.to_string()));
            }
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
        tf.sync(s.backend.as_ref(), &ours.identity(&s.store_id))?;
        report
            .impostor_lines
            .extend(tf.impostors.iter().map(|n| format!("model {m} line {n}")));
        let (lines, read_upto) = pending(repo, &s.name, m, &tf.track)?;
        let mut sim = tf.track.state.clone();
        let mut publish = Vec::new();
        for e in lines {
            match check_line(&sim, &e) {
                Check::Publish(ch) => {
                    log::apply(&mut sim, &ch).expect("checked against this state");
                    publish.push(e);
                }
                Check::Conflict(..) => {
                    publish.push(e);
                    break; // refused when written, below
                }
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
    let have = if want_commits.is_empty() && want_notes.is_empty() {
        HashSet::new()
    } else {
        s.remote_objects()?
    };
    let (data, commit_levels, pruned_here) =
        closure(repo, &have, &want_commits, &want_notes, &s.name)?;
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
        let buf = repo.objects().read_encoded(id)?;
        s.backend.put(&object_key(id), &buf)?;
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
        let groups = pack::group(&small, small_total / jobs() as u64);
        report.packs_uploaded = groups.len();
        uploads.extend(groups.into_iter().map(Up::Pack));
    }
    parallel(&uploads, jobs(), |u| match u {
        Up::Loose(id) => upload(id),
        Up::Pack(ids) => {
            let objs = ids
                .iter()
                .map(|id| Ok((*id, repo.objects().read_encoded(id)?)))
                .collect::<Result<Vec<_>>>()?;
            let (pid, buf, index) = pack::build(&objs);
            // The pack first, then its index: an object is on the remote once indexed.
            s.backend.put(&pack::pack_key(&pid), &buf)?;
            let idx = serde_json::to_vec(&index).expect("index serializes");
            s.backend.put(&pack::index_key(&pid), &idx)?;
            bytes.fetch_add((buf.len() + idx.len()) as u64, Ordering::Relaxed);
            progress.advance(buf.len() as u64);
            Ok(())
        }
    })?;
    for level in &commit_levels {
        parallel(level, jobs(), upload)?;
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
                if e.action == Action::Prune
                    && hex_id(e.extra.get(PRUNED)).is_none_or(|id| data_on_remote(repo, &id, &have))
                {
                    mp.lines_skipped += 1;
                    break;
                }
                match check_line(&tf.track.state, &e) {
                    Check::Conflict(name, local_view, remote_now) => {
                        mp.refused = Some(Refusal {
                            model: m.clone(),
                            reference: name.describe(),
                            local_view,
                            remote: remote_now,
                            local_seq: e.seq,
                        });
                        break;
                    }
                    Check::Publish(changes) => {
                        let mut extra = e.extra.clone();
                        extra.remove(PULLED_FROM);
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
                        match tf.try_append(s.backend.as_ref(), &me, line)? {
                            Appended::Written => {
                                mp.lines_pushed += 1;
                                break;
                            }
                            Appended::Raced => continue,
                        }
                    }
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
        tf.track.dropped.retain(|&d| d > tf.track.pushed);
        tf.save()?;
        report.models.push(mp);
    }
    Ok(report)
}

/// The version's commit and every chunk its manifests list are on the remote (`have`).
fn data_on_remote(repo: &Repo, id: &ObjectId, have: &HashSet<ObjectId>) -> bool {
    if !have.contains(id) {
        return false;
    }
    match repo.read_commit(id) {
        Ok(c) => {
            let (d, problems) = reach::version_data(repo, id, &c);
            problems.is_empty() && d.chunks.iter().all(|ch| have.contains(ch))
        }
        Err(_) => false,
    }
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
    have: &HashSet<ObjectId>,
    commits: &[ObjectId],
    notes: &[ObjectId],
    remote: &str,
) -> Result<Closure> {
    let mut pruned_here = Vec::new();
    let mut data = BTreeSet::new();
    for n in notes {
        if !have.contains(n) {
            data.insert(*n);
        }
    }
    let mut missing: BTreeMap<ObjectId, Vec<ObjectId>> = BTreeMap::new(); // id -> missing parents
    let mut stack: Vec<ObjectId> = commits.to_vec();
    let mut seen = HashSet::new();
    while let Some(id) = stack.pop() {
        if have.contains(&id) || !seen.insert(id) {
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
        for o in vd.metadata.iter().chain(vd.chunks.iter()) {
            if have.contains(o) {
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
                commit: id.to_hex(),
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

// ----------------------------------------------------------------------------------------
// fetch

#[derive(Clone, Debug, Default, Serialize)]
pub struct FetchReport {
    pub remote: String,
    pub url: String,
    /// New remote history lines, per model.
    pub new_lines: BTreeMap<String, usize>,
    /// Metadata objects downloaded (commits, manifests, notes, patches).
    pub objects_fetched: usize,
    pub bytes_fetched: u64,
    /// Remote lines that carry this store's writer id but are not its moves (see push).
    pub impostor_lines: Vec<String>,
}

/// Read the remote's new history and the metadata it names (no file data).
pub fn fetch(repo: &Repo, remote: Option<&str>, progress: &dyn Progress) -> Result<FetchReport> {
    let s = Session::open(repo, remote)?;
    let _lock = s.lock()?;
    fetch_in(&s, progress)
}

fn fetch_in(s: &Session, progress: &dyn Progress) -> Result<FetchReport> {
    s.check_marker(false)?;
    let mut report = FetchReport {
        remote: s.name.clone(),
        url: s.backend.describe(),
        ..Default::default()
    };
    let mut want_commits = Vec::new();
    let mut want_notes = Vec::new();
    for m in s.remote_models()? {
        let mut tf = s.track(&m)?;
        let ours = OurMoves::read(s.repo, &m)?;
        let new = tf.sync(s.backend.as_ref(), &ours.identity(&s.store_id))?;
        report
            .impostor_lines
            .extend(tf.impostors.iter().map(|n| format!("model {m} line {n}")));
        if !new.is_empty() {
            report.new_lines.insert(m.to_string(), new.len());
        }
        // Lines not applied yet (including ones an interrupted fetch synced): their
        // metadata must be here before pull applies them.
        for l in tf.cached_lines_after(tf.track.applied)? {
            let (c, n) = line_refs(&l.changes, &l.extra);
            want_commits.extend(c);
            want_notes.extend(n);
        }
    }
    let (n, b) = fetch_metadata(s, &want_commits, &want_notes, progress)?;
    report.objects_fetched = n;
    report.bytes_fetched = b;
    Ok(report)
}

/// Download (verified) the commits named, their ancestors, manifests, patches and the
/// notes, where not local; mark versions whose chunks are not local as remote-only.
fn fetch_metadata(
    s: &Session,
    commits: &[ObjectId],
    notes: &[ObjectId],
    progress: &dyn Progress,
) -> Result<(usize, u64)> {
    let repo = s.repo;
    let _store = repo.lock_store_shared()?;
    let count = AtomicUsize::new(0);
    let bytes = AtomicU64::new(0);
    progress.start("fetching", 0);
    // Download, verify, check the kind, store; every id must be on the remote.
    let get = |ids: &[ObjectId], want: &[Kind]| -> Result<Vec<(ObjectId, Vec<u8>)>> {
        let out = std::sync::Mutex::new(Vec::new());
        let missing = s.fetch_many(ids, |id, o| {
            o.expect_kind(id, want)?;
            repo.objects().put_encoded(*id, &o.encoded)?;
            count.fetch_add(1, Ordering::Relaxed);
            bytes.fetch_add(o.encoded.len() as u64, Ordering::Relaxed);
            out.lock().expect("not poisoned").push((*id, o.data));
            Ok(())
        })?;
        if let Some(id) = missing.first() {
            return Err(RemoteError::Corrupt(format!(
                "object {id} is named by the remote's history but missing on the remote"
            ))
            .into());
        }
        Ok(out.into_inner().expect("not poisoned"))
    };
    let absent = |ids: &mut dyn Iterator<Item = ObjectId>| -> Vec<ObjectId> {
        ids.filter(|n| !repo.objects().exists(n))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect()
    };
    get(&absent(&mut notes.iter().copied()), &[Kind::Note])?;
    let mut level: Vec<ObjectId> = commits.to_vec();
    let mut seen = HashSet::new();
    let mut fetched_commits: Vec<(ObjectId, Commit)> = Vec::new();
    while !level.is_empty() {
        let todo = absent(&mut level.drain(..).filter(|id| seen.insert(*id)));
        let mut meta = Vec::new();
        for (id, data) in get(&todo, &[Kind::Commit])? {
            let c = Commit::decode(&id, &data)?;
            // Local commits have their ancestors and metadata locally.
            for p in c.parents.iter().chain(c.derived_from.iter()) {
                level.push(**p);
            }
            for f in reach::data_files(&c) {
                meta.push(*f.manifest);
            }
            meta.extend(c.git.as_ref().and_then(|g| g.patch));
            meta.extend(c.recipe.iter().flat_map(|r| r.blobs()));
            fetched_commits.push((id, c));
        }
        get(
            &absent(&mut meta.into_iter()),
            &[Kind::Manifest, Kind::Blob],
        )?;
    }
    repo.objects().flush()?;
    for (id, c) in &fetched_commits {
        if !reach::files_missing_data(repo, c).is_empty() {
            gc_marks::mark_remote_only(repo, id, &s.name)?;
        }
    }
    progress.finish();
    Ok((count.into_inner(), bytes.into_inner()))
}

// ----------------------------------------------------------------------------------------
// pull

/// A local move that was not pushed and that the remote contradicts: the remote's value
/// was taken; the local line stays in the history but will not be published.
#[derive(Clone, Debug, Serialize)]
pub struct DroppedMove {
    pub model: ModelName,
    #[serde(rename = "ref")]
    pub reference: String,
    pub local_seq: u64,
    pub action: String,
    /// The move's reason (`-m`), so its author can redo it.
    pub message: String,
    /// What the local move had set, and what the remote has.
    pub local: Option<CommitId>,
    pub remote: Option<CommitId>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct PullReport {
    pub fetch: FetchReport,
    /// Remote moves replayed onto the local history, per model.
    pub applied: BTreeMap<String, usize>,
    pub dropped: Vec<DroppedMove>,
    /// Per model, the refs pull corrected because the store's state had diverged from the
    /// remote's plus its own unpublished moves (`ref old -> new`).
    pub reconciled: BTreeMap<String, Vec<String>>,
    /// Remote lines not applied because they break a rule every move obeys (each names the
    /// remote, model, line and rule); nothing after them in their model was applied.
    pub refused_lines: Vec<String>,
    /// Chunks (and manifests) downloaded into the store (`clone --data`).
    pub data_objects: usize,
    pub data_bytes: u64,
}

/// Fetch, then replay the remote's moves onto the local history (all models, or `models`).
pub fn pull(
    repo: &Repo,
    remote: Option<&str>,
    models: &[ModelName],
    progress: &dyn Progress,
) -> Result<PullReport> {
    let s = Session::open(repo, remote)?;
    let _lock = s.lock()?;
    let fetch = fetch_in(&s, progress)?;
    let mut report = PullReport {
        fetch,
        ..Default::default()
    };
    let targets = if models.is_empty() {
        s.remote_models()?
    } else {
        models.to_vec()
    };
    for m in targets {
        let mut tf = s.track(&m)?;
        let lines = tf.cached_lines_after(tf.track.applied)?;
        let ours = OurMoves::read(repo, &m)?;
        let mut applied = 0;
        let mut refused = false;
        for l in lines {
            // Only this store's own moves are skipped: a line that merely carries its
            // writer id (a restored copy of this store) is another writer's move.
            if !(l.writer.store == s.store_id && ours.is(&l)) {
                match apply_remote_line(repo, &s.name, &m, &l) {
                    Ok(()) => applied += 1,
                    // A line that breaks a rule every local move obeys is not applied,
                    // nor anything after it in this model; other models go on.
                    Err(Error::BrokenRule { why, .. }) => {
                        report.refused_lines.push(format!(
                            "remote {} model {m} line {} ({} by {}): {why}",
                            s.name, l.seq, l.action, l.author
                        ));
                        refused = true;
                        break;
                    }
                    Err(e) => return Err(e),
                }
            }
            tf.track.applied = l.seq;
            tf.save()?;
        }
        if applied > 0 {
            report.applied.insert(m.to_string(), applied);
        }
        if refused {
            tf.save()?;
            continue;
        }
        // The local refs become exactly the remote's state plus the local moves not
        // pushed yet, replayed one by one in order; a move the remote now contradicts is
        // dropped (it will never publish) and reported. Computed under the model's lock,
        // so a local move made meanwhile is either in the replay or after it, never lost.
        let info = MoveInfo {
            time: crate::Timestamp::now(),
            author: format!("mreg pull from {}", s.name),
            message: String::new(),
        };
        let mut drops = Vec::new();
        let mut fixed = Vec::new();
        repo.transact(&m, info, Action::Other(RECONCILE.into()), |t| {
            let mut sim = tf.track.state.clone();
            for e in pending(repo, &s.name, &m, &tf.track)?.0 {
                match check_line(&sim, &e) {
                    Check::Publish(ch) => log::apply(&mut sim, &ch).expect("checked"),
                    Check::Conflict(name, _, remote_now) => {
                        let local = e
                            .changes
                            .iter()
                            .find(|c| c.name == name)
                            .and_then(|c| c.new);
                        drops.push(DroppedMove {
                            model: m.clone(),
                            reference: name.describe(),
                            local_seq: e.seq,
                            action: e.action.to_string(),
                            message: e.message.clone(),
                            local,
                            remote: remote_now,
                        });
                    }
                }
            }
            let now = t.state().refs();
            let want = sim.refs();
            if now != want {
                for name in now.keys().chain(want.keys()) {
                    let (a, b) = (now.get(name).copied(), want.get(name).copied());
                    if a != b {
                        fixed.push(format!(
                            "{} {} -> {}",
                            name.describe(),
                            a.map_or("(unset)".into(), |c| c.short()),
                            b.map_or("(unset)".into(), |c| c.short())
                        ));
                    }
                }
                fixed.sort();
                fixed.dedup();
                for name in now.keys().chain(want.keys()) {
                    t.set_ref(name, want.get(name).copied());
                }
                t.set_extra(PULLED_FROM, format!("{} {}", s.name, tf.track.seq).into());
                t.set_extra(
                    RECONCILE,
                    format!(
                        "refs set to the remote's state plus this store's unpublished moves: {}",
                        fixed.join(", ")
                    )
                    .into(),
                );
            }
            Ok(())
        })?;
        tf.track.dropped.extend(drops.iter().map(|d| d.local_seq));
        tf.track.dropped.sort_unstable();
        tf.track.dropped.dedup();
        report.dropped.extend(drops);
        if !fixed.is_empty() {
            report.reconciled.insert(m.to_string(), fixed);
        }
        tf.save()?;
    }
    Ok(report)
}

/// Local history lines of `model` that a remote refused (a pull took the remote's move
/// instead) and that will never be published: line number -> the remotes that refused it.
/// `history` marks them, so that they do not read as moves everyone saw.
pub fn never_published(repo: &Repo, model: &ModelName) -> Result<BTreeMap<u64, Vec<String>>> {
    let mut out: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    let dir = repo.store_dir().join("remotes");
    let Ok(rd) = std::fs::read_dir(&dir) else {
        return Ok(out);
    };
    let mut names: Vec<String> = rd
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for name in names {
        let tf = TrackFile::open(dir.join(&name).join("models"), repo.tmp_dir(), model)?;
        for seq in &tf.track.dropped {
            out.entry(*seq).or_default().push(name.clone());
        }
    }
    Ok(out)
}

/// Action (and extra key) of the local line with which `pull` sets a model's refs to the
/// remote's state plus the store's unpublished moves, when they differed.
pub const RECONCILE: &str = "reconcile";

/// Replay one remote line as a local move (the remote's value wins on a conflict; the
/// caller reports the local moves that lost).
fn apply_remote_line(repo: &Repo, remote: &str, model: &ModelName, l: &RemoteLine) -> Result<()> {
    let info = MoveInfo {
        time: l.time.clone(),
        author: l.author.clone(),
        message: l.message.clone(),
    };
    // `transact` checks the move against the rules every move obeys (`refs::rules`).
    repo.transact(model, info, l.action.clone(), |t| {
        for c in &l.changes {
            t.set_ref(&c.name, c.new);
        }
        for (k, v) in &l.extra {
            t.set_extra(k, v.clone());
        }
        t.set_extra(PULLED_FROM, format!("{remote} {}", l.seq).into());
        Ok(())
    })?;
    // A version its origin pruned before pushing: its data is nowhere. Marked pruned here
    // (when its data is not here either), so checkout refuses it clearly and fsck does not
    // call the missing chunks damage.
    if l.action == Action::Prune {
        if let Some(id) = hex_id(l.extra.get(PRUNED)) {
            if let Ok(c) = repo.read_commit(&id) {
                if !reach::files_missing_data(repo, &c).is_empty() {
                    gc_marks::mark_pruned(repo, &id, &l.time.to_string())?;
                }
            }
        }
    }
    Ok(())
}

// ----------------------------------------------------------------------------------------
// clone

#[derive(Clone, Debug)]
pub struct CloneRequest {
    pub spec: RemoteSpec,
    /// The directory to create the store in (its `.modelreg`).
    pub dir: PathBuf,
    /// The remote's name in the new store.
    pub name: String,
    /// Also download every version's data into the store (a full copy, for working
    /// offline); by default data is fetched on checkout.
    pub all_data: bool,
}

/// A new store in `dir` from a remote: metadata only (data comes on checkout). Nothing is
/// left behind when it fails.
pub fn clone(req: &CloneRequest, progress: &dyn Progress) -> Result<(Repo, PullReport)> {
    config::validate_remote_name(&req.name)?;
    let store = req.dir.join(crate::repo::STORE_DIR);
    if store.exists() {
        return Err(Error::AlreadyInitialized(store));
    }
    // Reach the remote before creating anything.
    let backend = req.spec.open()?;
    backend.get(MARKER, SMALL)?;
    let created_dir = !req.dir.exists();
    let result = (|| {
        std::fs::create_dir_all(&req.dir).map_err(|e| Error::io("creating", &req.dir, e))?;
        let repo = Repo::init(&req.dir)?;
        repo.update_config(|c| {
            c.remotes.insert(req.name.clone(), req.spec.clone());
            Ok(())
        })?;
        let repo = Repo::open(&store)?;
        let mut report = pull(&repo, Some(&req.name), &[], progress)?;
        if req.all_data {
            for v in reach::walk(&repo)?.versions {
                if let Some(d) = ensure_data(&repo, &v.id, &[], progress)? {
                    report.data_objects += d.objects;
                    report.data_bytes += d.bytes;
                }
            }
        }
        Ok((repo, report))
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&store);
        if created_dir {
            let _ = std::fs::remove_dir(&req.dir);
        }
    }
    result
}

// ----------------------------------------------------------------------------------------
// lazy data

/// What `ensure_data` downloaded.
#[derive(Clone, Debug, Default, Serialize)]
pub struct DataFetch {
    pub remote: String,
    pub objects: usize,
    pub bytes: u64,
}

/// Make the data of `commit`'s files `paths` (all when empty) local, fetching missing
/// chunks (and manifests) from the default remote. `None` when nothing was missing or the
/// store has no remote (the caller then reports the missing data as before).
pub fn ensure_data(
    repo: &Repo,
    commit: &CommitId,
    paths: &[String],
    progress: &dyn Progress,
) -> Result<Option<DataFetch>> {
    let c = repo.read_commit(commit)?;
    let selected: Vec<&crate::commit::FileEntry> = if paths.is_empty() {
        reach::data_files(&c).collect()
    } else {
        crate::ops::checkout::select(&c, paths)?
    };
    let local_manifest = |f: &crate::commit::FileEntry| reach::read_manifest(repo, f).ok();
    let mut missing_manifests = Vec::new();
    let mut missing_chunks: BTreeMap<ObjectId, u64> = BTreeMap::new();
    for f in &selected {
        match local_manifest(f) {
            Some(m) => {
                for ch in &m.chunks {
                    if !repo.objects().exists(&ch.id) {
                        missing_chunks.insert(ch.id, ch.len);
                    }
                }
            }
            None => missing_manifests.push((*f).clone()),
        }
    }
    if missing_manifests.is_empty() && missing_chunks.is_empty() {
        return Ok(None);
    }
    if config::remotes(repo)?.is_empty() {
        return Ok(None);
    }
    let s = Session::open(repo, None)?;
    let _store = repo.lock_store_shared()?;
    let count = AtomicUsize::new(0);
    let bytes = AtomicU64::new(0);
    let manifests = std::sync::Mutex::new(Vec::new());
    let store = |id: &ObjectId, o: Fetched, kind: Kind| -> Result<()> {
        o.expect_kind(id, &[kind])?;
        repo.objects().put_encoded(*id, &o.encoded)?;
        count.fetch_add(1, Ordering::Relaxed);
        bytes.fetch_add(o.encoded.len() as u64, Ordering::Relaxed);
        progress.advance(o.data.len() as u64);
        if kind == Kind::Manifest {
            manifests.lock().expect("not poisoned").push((*id, o.data));
        }
        Ok(())
    };
    let ids: Vec<ObjectId> = missing_manifests.iter().map(|f| *f.manifest).collect();
    let mut lacking = s
        .fetch_many(&ids, |id, o| store(id, o, Kind::Manifest))?
        .len();
    let got: Vec<(ObjectId, Vec<u8>)> =
        std::mem::take(&mut *manifests.lock().expect("not poisoned"));
    for (id, data) in got {
        for ch in Manifest::parse(&id, &data)?.chunks {
            if !repo.objects().exists(&ch.id) {
                missing_chunks.insert(ch.id, ch.len);
            }
        }
    }
    let total: u64 = missing_chunks.values().sum();
    progress.start("fetching data", total);
    let ids: Vec<ObjectId> = missing_chunks.keys().copied().collect();
    lacking += s.fetch_many(&ids, |id, o| store(id, o, Kind::Chunk))?.len();
    progress.finish();
    repo.objects().flush()?;
    if lacking > 0 {
        return Err(RemoteError::DataUnavailable {
            commit: commit.to_hex(),
            remote: s.name.clone(),
            missing: lacking,
        }
        .into());
    }
    if reach::files_missing_data(repo, &c).is_empty() {
        gc_marks::clear_data_marks(repo, commit)?;
    }
    Ok(Some(DataFetch {
        remote: s.name.clone(),
        objects: count.into_inner(),
        bytes: bytes.into_inner(),
    }))
}

/// Reads the chunks of a version whose data is not local straight from a remote: checkout
/// streams them into the files it writes, and the store stays as it was.
pub struct ChunkFetcher<'r> {
    s: Session<'r>,
    commit: CommitId,
    bytes: AtomicU64,
}

impl<'r> ChunkFetcher<'r> {
    /// A fetcher on the remote that has `commit`'s data (its mark says which), else the
    /// default remote; None when the store has no remote.
    pub fn open(repo: &'r Repo, commit: &CommitId) -> Result<Option<ChunkFetcher<'r>>> {
        let all = config::remotes(repo)?;
        if all.is_empty() {
            return Ok(None);
        }
        let name = gc_marks::remote_of(repo, commit).filter(|n| all.contains_key(n));
        Ok(Some(ChunkFetcher {
            s: Session::open(repo, name.as_deref())?,
            commit: *commit,
            bytes: AtomicU64::new(0),
        }))
    }

    /// One chunk, verified against its id (loose, or by a ranged read of its pack).
    pub fn chunk(&self, c: &crate::filestore::ChunkRef) -> Result<Vec<u8>> {
        let got = std::sync::Mutex::new(None);
        let missing = self.s.fetch_many(&[c.id], |id, o| {
            o.expect_kind(id, &[Kind::Chunk])?;
            *got.lock().expect("not poisoned") = Some(o);
            Ok(())
        })?;
        let fetched = match got.into_inner().expect("not poisoned") {
            Some(o) if missing.is_empty() => o,
            _ => {
                return Err(RemoteError::DataUnavailable {
                    commit: self.commit.to_hex(),
                    remote: self.s.name.clone(),
                    missing: 1,
                }
                .into())
            }
        };
        self.bytes
            .fetch_add(fetched.encoded.len() as u64, Ordering::Relaxed);
        Ok(fetched.data)
    }

    /// Bytes downloaded so far.
    pub fn bytes_fetched(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }
}
