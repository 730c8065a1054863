//! A session with a remote, fetch, clone and lazy data (push is in `push.rs`, pull in
//! `pull.rs`, fsck in `fsck.rs`; the protocol is in `remote`'s docs).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use serde::Serialize;

use super::backend::{Backend, Created};
use super::config;
use super::key::{Key, Prefix};
use super::log::{self, RemoteLine, TrackFile};
use super::pack;
use super::{parallel, store_id, RemoteError};
use crate::commit::Commit;
use crate::error::{Error, Result};
use crate::filestore::Manifest;
use crate::gc_marks;
/// Extra key of a prune line: the version whose data was pruned.
pub(super) use crate::history::PRUNED;
use crate::history::{LogEntry, RefChange};
use crate::id::{CommitId, ObjectId};
use crate::names::ModelName;
use crate::object::{self, Kind};
use crate::ops::Progress;
use crate::reach;
use crate::repo::Repo;

/// The marker object at a remote's root: its format.
const REMOTE_FORMAT: u32 = 1;
/// Largest marker or probe object read.
pub(super) const SMALL: u64 = 64 * 1024;
/// Largest object read from a remote: the local bound plus header room.
pub(super) const MAX_OBJECT_READ: u64 = object::MAX_OBJECT_LEN + (1 << 20);

/// An open connection to one remote, for one operation.
pub(super) struct Session<'r> {
    repo: &'r Repo,
    pub(super) name: String,
    pub(super) backend: Backend,
    pub(super) store_id: String,
    dir: PathBuf,
    packs: std::sync::OnceLock<pack::PackMap>,
}

impl<'r> Session<'r> {
    pub(super) fn open(repo: &'r Repo, name: Option<&str>) -> Result<Session<'r>> {
        let (name, spec) = config::resolve(repo, name)?;
        let backend = spec.open(repo.remote_options())?;
        Ok(Session {
            repo,
            dir: repo.store_dir().join("remotes").join(&name).join("models"),
            name,
            backend,
            store_id: store_id(repo)?,
            packs: std::sync::OnceLock::new(),
        })
    }

    /// Transfers in flight at once.
    pub(super) fn jobs(&self) -> usize {
        self.repo.remote_options().jobs.max(1)
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
        let m = pack::load(&self.backend, &cache)?;
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
        parallel(&tasks, self.jobs(), |t| -> Result<()> {
            match t {
                Task::Loose(id) => match self.get_object(id)? {
                    Some(o) => f(id, o),
                    None => {
                        missing.lock().expect("not poisoned").push(*id);
                        Ok(())
                    }
                },
                Task::Range(r) => {
                    let key = Key::Pack(r.pack);
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
        let listed = self.backend.list(&Prefix::Models)?;
        if let Some((name, _)) = listed.unknown.first() {
            let model = name.split('/').nth(1).unwrap_or("");
            let why = match ModelName::new(model) {
                Err(_) => format!("{model:?} is not a valid model name"),
                Ok(_) => {
                    "not a line of a model's history (MODEL/log/ and a 12-digit number)".into()
                }
            };
            return Err(RemoteError::Corrupt(format!("{name}: {why}")).into());
        }
        for (key, _) in listed.keys {
            if let Key::Line(m, _) = key {
                out.insert(m);
            }
        }
        Ok(out.into_iter().collect())
    }

    /// Every object id the remote holds (one listing, plus the pack indexes).
    /// What the remote holds, asked about only the objects a push needs: packed objects
    /// from the pack indexes, loose ones by one HEAD each (in parallel) — so a push of a
    /// small version to a bucket of a million objects costs requests in proportion to the
    /// version, not the bucket. Past [`LIST_OVER`] questions in all, one listing of
    /// `objects/` answers the rest instead (a first push of a large store).
    pub(super) fn membership(&self) -> Result<Membership<'_, 'r>> {
        Ok(Membership {
            session: self,
            known: self.pack_map()?.entries.keys().copied().collect(),
            absent: HashSet::new(),
            listed: false,
            asked: 0,
        })
    }

    pub(super) fn remote_objects(&self) -> Result<HashSet<ObjectId>> {
        let mut out: HashSet<ObjectId> = self.pack_map()?.entries.keys().copied().collect();
        for (key, _) in self.backend.list(&Prefix::Objects)?.keys {
            if let Key::Object(id) = key {
                out.insert(id);
            }
        }
        Ok(out)
    }

    /// Check (or write, for a new remote) the marker object.
    pub(super) fn check_marker(&self, create: bool) -> Result<()> {
        let body =
            serde_json::json!({ "format": REMOTE_FORMAT, "kind": "mreg remote" }).to_string();
        let existing = match self.backend.get(&Key::Marker, SMALL)? {
            Some(b) => b,
            None if create => match self.backend.create(&Key::Marker, body.as_bytes())? {
                Created::New => return Ok(()),
                Created::Exists => self.backend.get(&Key::Marker, SMALL)?.unwrap_or_default(),
            },
            None => return Ok(()),
        };
        let v: serde_json::Value = serde_json::from_slice(&existing).map_err(|e| {
            Error::from(RemoteError::Corrupt(format!(
                "{} is not JSON: {e}",
                Key::Marker
            )))
        })?;
        match v.get("format").and_then(|f| f.as_u64()) {
            Some(f) if f == REMOTE_FORMAT as u64 => Ok(()),
            other => Err(RemoteError::Corrupt(format!(
                "{}: remote format {other:?}; this mreg reads format {REMOTE_FORMAT} (upgrade mreg)",
                Key::Marker
            ))
            .into()),
        }
    }

    /// Download one object, verify it against its id, and return its bytes (as stored
    /// remotely: header and payload) with the decoded content.
    fn get_object(&self, id: &ObjectId) -> Result<Option<Fetched>> {
        let Some(buf) = self.backend.get(&Key::Object(*id), MAX_OBJECT_READ)? else {
            return Ok(None);
        };
        Fetched::decode(id, buf, "on the remote").map(Some)
    }

    pub(super) fn lock(&self) -> Result<crate::lock::LockGuard> {
        self.repo.lock_named(&format!("remote-{}", self.name))
    }

    /// Take a lock on the remote itself (`remote::lock`), telling the caller's lock-wait
    /// callback whom it waits for.
    pub(super) fn remote_lock(
        &self,
        kind: super::lock::LockKind,
        operation: &str,
    ) -> Result<super::lock::RemoteLock<'_>> {
        let url = self.backend.describe();
        let on_wait = |holder: &super::lock::LockInfo| {
            if let Some(w) = self.repo.lock_waiter() {
                w(&crate::lock::LockWait {
                    what: &format!("remote {} ({})", self.name, holder.describe()),
                    path: std::path::Path::new(&url),
                    exclusive: kind == super::lock::LockKind::Exclusive,
                });
            }
        };
        super::lock::acquire(
            &self.backend,
            kind,
            operation,
            &self.store_id,
            super::lock::WAIT,
            &on_wait,
        )
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

    pub(super) fn is(&self, l: &RemoteLine) -> bool {
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
    // Notes, and the blobs a run line names (its log and curves): uploaded and fetched
    // with the line, like notes.
    let mut notes: Vec<ObjectId> = hex_id(extra.get("note")).into_iter().collect();
    notes.extend(crate::ops::runs::blobs_of(extra));
    (commits, notes)
}

pub(super) fn hex_id(v: Option<&serde_json::Value>) -> Option<ObjectId> {
    v.and_then(|v| v.as_str()).and_then(ObjectId::from_hex)
}

/// Check that a server honours create-only writes: create a probe object twice; the second
/// must be refused. Servers that ignore `If-None-Match` (`rclone serve s3`) fail here.
pub fn probe_conditional_writes(remote: &Backend) -> Result<()> {
    let nonce = ObjectId::hash(
        format!("{:?}{}", std::time::SystemTime::now(), std::process::id()).as_bytes(),
    );
    let key = Key::Probe(nonce);
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

pub(super) fn fetch_in(s: &Session, progress: &dyn Progress) -> Result<FetchReport> {
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
        let new = tf.sync(&s.backend, &ours.identity(&s.store_id))?;
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
    get(
        &absent(&mut notes.iter().copied()),
        &[Kind::Note, Kind::Blob],
    )?;
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
        c.select(paths)?
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
        // Pruned (here, or on the remote for the team: a pulled `prune --remote`): its data
        // is gone on purpose, and the error says so.
        if gc_marks::is_pruned(repo, commit) {
            return Err(Error::Pruned { commit: *commit });
        }
        return Err(RemoteError::DataUnavailable {
            commit: *commit,
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
                    commit: (*self.commit).into(),
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

/// Above this many unanswered questions, one listing of `objects/` is cheaper than a HEAD
/// each (a listing page holds 1,000 names).
pub(super) const LIST_OVER: usize = 4096;

/// Which objects a remote holds, found out as questions come (`Session::membership`).
/// Answers hold while the caller holds the remote's shared lock: remote gc, the only
/// deleter, takes it exclusively.
pub(super) struct Membership<'a, 'r> {
    session: &'a Session<'r>,
    known: HashSet<ObjectId>,
    absent: HashSet<ObjectId>,
    listed: bool,
    /// HEAD requests made so far.
    asked: usize,
}

impl Membership<'_, '_> {
    /// Find out about `ids` (those not answered yet).
    pub(super) fn ask(&mut self, ids: &[ObjectId]) -> Result<()> {
        let open: Vec<ObjectId> = ids
            .iter()
            .filter(|id| !self.known.contains(id) && !self.absent.contains(id))
            .copied()
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        if open.is_empty() || self.listed {
            self.absent
                .extend(open.iter().filter(|id| !self.known.contains(id)));
            return Ok(());
        }
        if self.asked + open.len() > LIST_OVER {
            self.known.extend(self.session.remote_objects()?);
            self.listed = true;
            self.absent
                .extend(open.iter().filter(|id| !self.known.contains(id)));
            return Ok(());
        }
        self.asked += open.len();
        let found = super::parallel(&open, self.session.jobs(), |id| {
            Ok(self.session.backend.exists(&Key::Object(*id))?)
        })?;
        for (id, there) in open.into_iter().zip(found) {
            if there {
                self.known.insert(id);
            } else {
                self.absent.insert(id);
            }
        }
        Ok(())
    }

    /// Whether the remote holds `id` (asked before with [`Membership::ask`]).
    pub(super) fn has(&self, id: &ObjectId) -> bool {
        self.known.contains(id)
    }
}
