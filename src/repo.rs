//! The `.modelreg` store: its layout, its config, and finding it.
//!
//! ```text
//! .modelreg/
//!   config.yaml          format_version, compression settings, per-model policies
//!   objects/ab/cdef...   write-once objects (chunks, manifests, commits, notes)
//!   models/<name>/log    the model's history log: the source of truth for its refs
//!   models/<name>/lock   flock taken around each move of the model's refs
//!   worktree.json        what mreg last wrote or committed at each work-tree path (+ stat cache)
//!   locks/               store-wide locks (store: shared by writers, exclusive for gc)
//!   tmp/                 temp files; anything here is garbage after a crash
//! ```
//!
//! The work tree (the root that commit paths are relative to) is the directory containing
//! the store.

use std::fs;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::commit::Commit;
use crate::error::{Error, IoContext, Result};
use crate::fsutil;
use crate::history::{ModelLog, RefState};
use crate::id::ObjectId;
use crate::lock::{self, LockGuard};
use crate::names::ModelName;
use crate::object::{CompressPolicy, Kind, ObjectStore};

/// The store format this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;
/// Name of the store directory.
pub const STORE_DIR: &str = ".modelreg";

/// Compression settings kept in the config.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CompressionConfig {
    pub level: i32,
    pub min_saving: f64,
    /// Store float data as byte planes (object codec 2). Stores written before it existed
    /// read as `true`; set `false` for stores that older mreg versions must read.
    #[serde(default = "yes")]
    pub float_planes: bool,
    /// Longest chain of delta objects (codec 3) a new chunk may end; 0 writes no deltas
    /// (for stores that older mreg versions must read). Absent: the default.
    #[serde(default = "default_delta_depth")]
    pub delta_max_depth: u8,
}

fn default_delta_depth() -> u8 {
    crate::object::DEFAULT_DELTA_DEPTH
}

fn yes() -> bool {
    true
}

impl Default for CompressionConfig {
    fn default() -> Self {
        let p = CompressPolicy::default();
        CompressionConfig {
            level: p.level,
            min_saving: p.min_saving,
            float_planes: p.planes,
            delta_max_depth: p.delta_max_depth,
        }
    }
}

/// `config.yaml`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Config {
    pub format_version: u32,
    #[serde(default)]
    pub compression: CompressionConfig,
    /// Per-model settings.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub models: std::collections::BTreeMap<String, ModelConfig>,
    /// gc settings.
    #[serde(default)]
    pub gc: GcConfig,
    #[serde(default, skip_serializing_if = "CacheConfig::is_default")]
    pub cache: CacheConfig,
    /// Remotes this store pushes to and pulls from (`mreg remote add`).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub remotes: std::collections::BTreeMap<String, crate::remote::RemoteSpec>,
}

/// Caches' size caps (`cache:` in config.yaml).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CacheConfig {
    /// The load cache's cap (a size: `20GiB`); default 20 GiB (`ops::load_cache`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "size_text"
    )]
    pub load_max: Option<String>,
    /// The keyframe cache's cap (a size; `0` turns it off); default 4 GiB
    /// (`store::object::keyframes`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "size_text"
    )]
    pub keyframes_max: Option<String>,
}

/// A size as config.yaml may write it: `4GiB`, or a bare number of bytes (`0`).
fn size_text<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Size {
        Bytes(u64),
        Text(String),
    }
    Ok(Option::<Size>::deserialize(d)?.map(|s| match s {
        Size::Bytes(n) => n.to_string(),
        Size::Text(t) => t,
    }))
}

impl CacheConfig {
    /// The load cache's cap in bytes (`ops::load_cache`).
    pub fn load_cap(&self) -> Result<u64> {
        cap_of(
            &self.load_max,
            "cache.load_max (config.yaml)",
            crate::ops::load_cache::DEFAULT_LOAD_MAX,
        )
    }

    /// The keyframe cache's cap in bytes (`store::object::keyframes`; 0: no cache).
    pub fn keyframes_cap(&self) -> Result<u64> {
        cap_of(
            &self.keyframes_max,
            "cache.keyframes_max (config.yaml)",
            crate::object::keyframes::DEFAULT_MAX,
        )
    }

    fn is_default(&self) -> bool {
        *self == CacheConfig::default()
    }
}

/// A cache's cap: the configured size, else `default`; a value that is not a size is
/// refused with the option's name.
fn cap_of(value: &Option<String>, option: &'static str, default: u64) -> Result<u64> {
    match value {
        None => Ok(default),
        Some(s) => crate::format::parse_size(s).ok_or_else(|| Error::BadValue {
            option,
            value: s.clone(),
            expected: "a size like 4GiB or 500MB (0 for none)".into(),
        }),
    }
}

/// Per-model settings in `config.yaml`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ModelConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<Policy>,
}

/// Promotion policy: when set, `commit` marks a new version `candidate` if it beats
/// production on `metric`, and keeps `best` on the best version so far.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    pub metric: String,
    pub goal: Goal,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Goal {
    Max,
    Min,
}

impl Goal {
    /// True when `a` is strictly better than `b`.
    pub fn better(self, a: f64, b: f64) -> bool {
        match self {
            Goal::Max => a > b,
            Goal::Min => a < b,
        }
    }
}

/// gc settings in `config.yaml`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GcConfig {
    /// How long a past alias or tag target stays protected from retention pruning.
    pub expire: String,
    /// How old an interrupted commit (a commit object no history names, with its pending
    /// marker) must be before gc removes it and its data.
    #[serde(default = "default_grace")]
    pub grace: String,
}

fn default_grace() -> String {
    "14days".into()
}

impl Default for GcConfig {
    fn default() -> Self {
        GcConfig {
            expire: "90days".into(),
            grace: default_grace(),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            format_version: FORMAT_VERSION,
            compression: CompressionConfig::default(),
            models: Default::default(),
            gc: GcConfig::default(),
            cache: CacheConfig::default(),
            remotes: Default::default(),
        }
    }
}

/// An open store.
impl std::fmt::Debug for Repo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Repo")
            .field("store", &self.store)
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

/// An open store.
pub struct Repo {
    store: PathBuf,
    root: PathBuf,
    config: Config,
    objects: ObjectStore,
    waiter: Option<lock::LockWaiter>,
    /// Parsed history logs, keyed by model and the log's signature (size and hash of its
    /// last line): a long-lived client (the Python package, the dashboard) parses a log
    /// again only after it changed.
    histories: std::sync::Mutex<HistoryCache>,
    /// Query rows per model, keyed the same way (`index::model_rows_shared`).
    pub(crate) rows: std::sync::Mutex<RowsCache>,
    /// How remotes are reached (the client's; defaults otherwise).
    remote_options: crate::remote::RemoteOptions,
    /// The policy each model's history records (outer None: none recorded), keyed by the
    /// log's signature (`Repo::policy`).
    pub(crate) policies: std::sync::Mutex<PolicyCache>,
}

pub(crate) type PolicyCache = std::collections::HashMap<
    ModelName,
    ((u64, Option<crate::id::ObjectId>), Option<Option<Policy>>),
>;

pub(crate) type RowsCache = std::collections::HashMap<
    ModelName,
    (
        crate::index::Signature,
        std::sync::Arc<crate::index::ModelIndex>,
    ),
>;

type HistoryCache = std::collections::HashMap<
    ModelName,
    (
        (u64, Option<crate::id::ObjectId>),
        std::sync::Arc<Vec<crate::history::LogEntry>>,
    ),
>;

impl Repo {
    /// Create a store in `dir/.modelreg`.
    pub fn init(dir: &Path) -> Result<Repo> {
        let store = dir.join(STORE_DIR);
        Self::init_at(&store)
    }

    /// Create a store at exactly `store`.
    pub fn init_at(store: &Path) -> Result<Repo> {
        if store.exists() {
            return Err(Error::AlreadyInitialized(store.to_path_buf()));
        }
        let parent = store
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        if !parent.is_dir() {
            return Err(Error::io(
                "creating store in",
                parent,
                std::io::Error::from(std::io::ErrorKind::NotFound),
            ));
        }
        // Build the store under a temp name and rename it into place, so a crash during
        // init never leaves a half-made store that later commands would trust.
        let staging = parent.join(format!(".modelreg-init-{}", std::process::id()));
        let _ = fs::remove_dir_all(&staging);
        let made = Self::build_staging(&staging).and_then(|()| {
            fs::rename(&staging, store).ctx("creating store", store)?;
            fsutil::fsync_parent(store)
        });
        if let Err(e) = made {
            // Nothing is left behind on failure (a full disk, a permission): the guide
            // promises it, and a stray staging directory would confuse the user.
            let _ = fs::remove_dir_all(&staging);
            return Err(e);
        }
        Repo::open(store)
    }

    /// The content of a new store, under its staging name.
    fn build_staging(staging: &Path) -> Result<()> {
        for sub in ["objects", "models", "locks", "tmp"] {
            fs::create_dir_all(staging.join(sub)).ctx("creating", staging.join(sub))?;
        }
        // The store ignores itself, as a virtualenv does: its objects must never enter git.
        fsutil::write_atomic(
            &staging.join(".gitignore"),
            b"# mreg store: never committed to git (mreg.lock pins versions instead)\n*\n",
            &staging.join("tmp"),
        )?;
        let cfg = serde_yaml::to_string(&Config::default()).expect("config serializes");
        fsutil::write_atomic(
            &staging.join("config.yaml"),
            cfg.as_bytes(),
            &staging.join("tmp"),
        )?;
        for sub in ["objects", "models", "locks", "tmp"] {
            fsutil::fsync_dir(&staging.join(sub))?;
        }
        fsutil::fsync_dir(staging)
    }

    /// Open the store at `store` (the `.modelreg` directory itself).
    pub fn open(store: &Path) -> Result<Repo> {
        let cfg_path = store.join("config.yaml");
        if !cfg_path.is_file() {
            return Err(Error::NotARepo(store.to_path_buf()));
        }
        let text = fs::read_to_string(&cfg_path).ctx("reading", &cfg_path)?;
        #[derive(Deserialize)]
        struct VersionOnly {
            format_version: u32,
        }
        let v: VersionOnly = serde_yaml::from_str(&text).map_err(|e| Error::CorruptFile {
            path: cfg_path.clone(),
            why: e.to_string(),
        })?;
        if v.format_version != FORMAT_VERSION {
            return Err(Error::UnsupportedFormat {
                path: store.to_path_buf(),
                found: v.format_version,
                supported: FORMAT_VERSION,
            });
        }
        let config: Config = serde_yaml::from_str(&text).map_err(|e| Error::CorruptFile {
            path: cfg_path.clone(),
            why: e.to_string(),
        })?;
        let store = fs::canonicalize(store).ctx("resolving", store)?;
        let root = store
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("/"));
        let policy = CompressPolicy {
            level: config.compression.level,
            min_saving: config.compression.min_saving,
            planes: config.compression.float_planes,
            delta_max_depth: config.compression.delta_max_depth,
        };
        // `locks/` and `tmp/` hold no data (git cannot even track them while empty, as in
        // the checked-in example store, and a read-only image may lack them): reads work
        // without them and create nothing; a writer creates them when it takes its lock
        // (`ensure_write_dirs`).
        for sub in ["objects", "models"] {
            if !store.join(sub).is_dir() {
                return Err(Error::CorruptFile {
                    path: store.join(sub),
                    why: "missing store directory".into(),
                });
            }
        }
        let keyframes = crate::object::keyframes::KeyframeCache::new(
            store.join("cache").join("keyframes"),
            config.cache.keyframes_cap()?,
        );
        let objects = ObjectStore::new(store.join("objects"), store.join("tmp"), policy)
            .with_keyframe_cache(Some(keyframes));
        Ok(Repo {
            store,
            root,
            config,
            objects,
            waiter: None,
            histories: Default::default(),
            rows: Default::default(),
            remote_options: Default::default(),
            policies: Default::default(),
        })
    }

    /// Find the store by walking up from `start`, as git does.
    pub fn discover(start: &Path) -> Result<Repo> {
        let mut dir = Some(start);
        while let Some(d) = dir {
            let candidate = d.join(STORE_DIR);
            if candidate.join("config.yaml").is_file() {
                return Repo::open(&candidate);
            }
            dir = d.parent();
        }
        Err(Error::NotARepo(start.to_path_buf()))
    }

    /// Be told before this store waits for a lock another process holds (the CLI says
    /// "waiting for …", as cargo does).
    /// The caller's lock-wait callback, if any.
    pub(crate) fn lock_waiter(&self) -> Option<&lock::LockWaiter> {
        self.waiter.as_ref()
    }

    pub fn set_lock_waiter(&mut self, waiter: impl Fn(&lock::LockWait) + Send + Sync + 'static) {
        self.waiter = Some(std::sync::Arc::new(waiter));
    }

    pub fn store_dir(&self) -> &Path {
        &self.store
    }

    /// The work tree root: commit paths are relative to it.
    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Change `config.yaml` under its lock, atomically; `self` keeps the old view.
    pub fn update_config(&self, f: impl FnOnce(&mut Config) -> Result<()>) -> Result<Config> {
        let _g = self.lock_named("config")?;
        let path = self.store.join("config.yaml");
        let text = fs::read_to_string(&path).ctx("reading", &path)?;
        let mut cfg: Config = serde_yaml::from_str(&text).map_err(|e| Error::CorruptFile {
            path: path.clone(),
            why: e.to_string(),
        })?;
        f(&mut cfg)?;
        let out = serde_yaml::to_string(&cfg).expect("config serializes");
        fsutil::write_atomic(&path, out.as_bytes(), &self.tmp_dir())?;
        Ok(cfg)
    }

    /// Reach remotes with these options (`client::remote_options` turns a client's environment into them).
    pub fn with_remote_options(mut self, options: crate::remote::RemoteOptions) -> Repo {
        self.remote_options = options;
        self
    }

    pub fn remote_options(&self) -> &crate::remote::RemoteOptions {
        &self.remote_options
    }

    pub fn objects(&self) -> &ObjectStore {
        &self.objects
    }

    pub fn tmp_dir(&self) -> PathBuf {
        self.store.join("tmp")
    }

    /// `locks/` and `tmp/`, which hold no data, exist: every writer calls this (through
    /// the locks it takes) before it writes anything; readers never do.
    fn ensure_write_dirs(&self) -> Result<()> {
        for sub in ["locks", "tmp"] {
            let d = self.store.join(sub);
            if !d.is_dir() {
                match fs::create_dir(&d) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                    Err(e) => return Err(Error::io("creating store directory", d, e)),
                }
            }
        }
        Ok(())
    }

    /// Shared store lock: held by every writer; gc takes it exclusively.
    pub(crate) fn lock_store_shared(&self) -> Result<LockGuard> {
        self.ensure_write_dirs()?;
        lock::shared(
            &self.store.join("locks").join("store"),
            "store",
            self.waiter.as_ref(),
        )
    }

    /// Shared store lock for a command that only reads: works on a read-only store.
    pub(crate) fn lock_store_read(&self) -> Result<LockGuard> {
        lock::shared_for_read(
            &self.store.join("locks").join("store"),
            "store",
            self.waiter.as_ref(),
        )
    }

    /// Exclusive store lock (gc).
    pub(crate) fn lock_store_exclusive(&self) -> Result<LockGuard> {
        self.ensure_write_dirs()?;
        lock::exclusive(
            &self.store.join("locks").join("store"),
            "store",
            self.waiter.as_ref(),
        )
    }

    /// A named store-wide lock (e.g. `tags`, `worktree`).
    pub(crate) fn lock_named(&self, name: &str) -> Result<LockGuard> {
        self.ensure_write_dirs()?;
        lock::exclusive(
            &self.store.join("locks").join(name),
            name,
            self.waiter.as_ref(),
        )
    }

    pub fn model_log(&self, model: &ModelName) -> ModelLog {
        ModelLog::new(self.store.join("models").join(model.as_str()))
            .with_waiter(model, self.waiter.clone())
    }

    /// Every complete entry of a model's history, oldest first, parsed once per change of
    /// the log (see `histories`). A torn tail (an interrupted append) is not an entry.
    pub fn history_entries(
        &self,
        model: &ModelName,
    ) -> Result<std::sync::Arc<Vec<crate::history::LogEntry>>> {
        let log = self.model_log(model);
        let sig = log.signature()?;
        if let Some((s, e)) = self
            .histories
            .lock()
            .ok()
            .and_then(|c| c.get(model).cloned())
        {
            if s == sig {
                return Ok(e);
            }
        }
        let (entries, _) = log.entries()?;
        let entries = std::sync::Arc::new(entries);
        // Keyed by the signature read before parsing: an append in between makes the entry
        // stale (parsed again next time), never wrong.
        if let Ok(mut c) = self.histories.lock() {
            c.insert(model.clone(), (sig, entries.clone()));
        }
        Ok(entries)
    }

    /// Every model with a history, sorted by name.
    pub fn models(&self) -> Result<Vec<ModelName>> {
        let dir = self.store.join("models");
        let mut out = Vec::new();
        for ent in fs::read_dir(&dir).ctx("listing", &dir)? {
            let ent = ent.ctx("listing", &dir)?;
            let name = ent.file_name().to_string_lossy().into_owned();
            if let Ok(m) = ModelName::new(&name) {
                if ent.path().join("log").is_file() {
                    out.push(m);
                }
            }
        }
        out.sort();
        Ok(out)
    }

    pub fn model_exists(&self, model: &ModelName) -> bool {
        self.model_log(model).exists()
    }

    /// The model's current refs.
    pub fn model_state(&self, model: &ModelName) -> Result<RefState> {
        self.model_log(model).state()
    }

    /// Read and parse a commit.
    pub fn read_commit(&self, id: &ObjectId) -> Result<Commit> {
        let bytes = self.objects.get_kind(id, Kind::Commit)?;
        Commit::decode(id, &bytes)
    }

    /// Store a commit object; returns its id. Objects it refers to must be stored first.
    ///
    /// A pending marker (`pending/<id>`, holding the model's name) is written durably
    /// before the object: until the history line that records the commit is appended
    /// (then the caller calls [`Repo::commit_recorded`]), the marker is the evidence that
    /// an unrecorded commit object is an interrupted write. A commit object that no
    /// history names and no marker explains is evidence of a lost history line: `fsck`
    /// reports it and gc never deletes it (see `reach::orphans`).
    pub(crate) fn write_commit(&self, c: &Commit) -> Result<crate::id::CommitId> {
        let bytes = c.encode()?;
        let id = crate::id::CommitId(ObjectId::hash(&bytes));
        let dir = self.pending_dir();
        crate::fsutil::create_dir_durable(&dir)?;
        crate::fsutil::write_atomic(
            &dir.join(id.to_hex()),
            c.model.as_str().as_bytes(),
            &self.tmp_dir(),
        )?;
        self.objects.put_with_id(*id, Kind::Commit, &bytes)?;
        self.objects.flush()?;
        Ok(id)
    }

    /// The history line recording `id` is durable: its pending marker goes. (A marker
    /// left by a crash between the two is harmless: gc removes markers of recorded
    /// commits.)
    pub(crate) fn commit_recorded(&self, id: &crate::id::CommitId) {
        let _ = std::fs::remove_file(self.pending_dir().join(id.to_hex()));
    }

    /// Pending markers of commit objects written but not (yet) named by a history line.
    pub(crate) fn pending_dir(&self) -> PathBuf {
        self.store.join("pending")
    }

    /// The commits of a model from its head back to its first, newest first.
    pub fn model_chain(&self, model: &ModelName) -> Result<Vec<(crate::id::CommitId, Commit)>> {
        match self.model_state(model)?.head {
            Some(h) => self.chain_from(h),
            None => Ok(Vec::new()),
        }
    }

    /// The commits from `start` back along first parents, newest first.
    pub fn chain_from(
        &self,
        start: crate::id::CommitId,
    ) -> Result<Vec<(crate::id::CommitId, Commit)>> {
        let mut out = Vec::new();
        let mut next = Some(start);
        let mut seen = std::collections::HashSet::new();
        while let Some(id) = next {
            if !seen.insert(id) {
                break; // a cycle is impossible by hashing, but never loop forever
            }
            let c = self.read_commit(&id)?;
            next = c.parent().copied();
            out.push((id, c));
        }
        Ok(out)
    }

    /// Turn a user path (absolute, or relative to `cwd`) into a repository-relative path,
    /// lexically (symlinks are not followed). Errors when it is outside the work tree.
    pub fn rel_path(&self, cwd: &Path, p: &Path) -> Result<String> {
        let abs = normalize(&cwd.join(p));
        let rel = abs
            .strip_prefix(&self.root)
            .map_err(|_| Error::InvalidPath {
                path: p.display().to_string(),
                why: format!("it is outside the repository at {}", self.root.display()),
            })?;
        let mut parts = Vec::new();
        for c in rel.components() {
            match c {
                Component::Normal(s) => {
                    parts.push(s.to_str().ok_or_else(|| Error::InvalidPath {
                        path: p.display().to_string(),
                        why: "it is not valid UTF-8".into(),
                    })?)
                }
                _ => {
                    return Err(Error::InvalidPath {
                        path: p.display().to_string(),
                        why: "it cannot be made relative to the repository".into(),
                    })
                }
            }
        }
        Ok(parts.join("/"))
    }

    /// The absolute path of a repository-relative path, refusing any symlink on the way
    /// (nothing is ever followed out of the tree).
    pub fn work_path(&self, base: &Path, rel: &str) -> Result<PathBuf> {
        crate::names::validate_rel_path(rel)?;
        let mut p = base.to_path_buf();
        let comps: Vec<&str> = rel.split('/').collect();
        for (i, c) in comps.iter().enumerate() {
            p.push(c);
            if let Ok(md) = fs::symlink_metadata(&p) {
                if md.file_type().is_symlink() {
                    return Err(Error::Symlink {
                        path: rel.to_string(),
                        link: p.clone(),
                    });
                }
                if i + 1 < comps.len() && !md.is_dir() {
                    return Err(Error::InvalidPath {
                        path: rel.to_string(),
                        why: format!("{} is not a directory", p.display()),
                    });
                }
            }
        }
        Ok(p)
    }
}

/// Lexical normalization: drop `.`, resolve `..` against earlier components.
pub fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_open_discover() {
        let d = tempfile::tempdir().unwrap();
        let r = Repo::init(d.path()).unwrap();
        assert!(matches!(
            Repo::init(d.path()),
            Err(Error::AlreadyInitialized(_))
        ));
        let sub = d.path().join("a/b");
        fs::create_dir_all(&sub).unwrap();
        let found = Repo::discover(&sub).unwrap();
        assert_eq!(found.store_dir(), r.store_dir());
        let e = tempfile::tempdir().unwrap();
        assert!(matches!(Repo::discover(e.path()), Err(Error::NotARepo(_))));
    }

    #[test]
    fn unknown_format_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let r = Repo::init(d.path()).unwrap();
        fs::write(r.store_dir().join("config.yaml"), "format_version: 99\n").unwrap();
        assert!(matches!(
            Repo::open(r.store_dir()),
            Err(Error::UnsupportedFormat { found: 99, .. })
        ));
    }

    #[test]
    fn rel_paths() {
        let d = tempfile::tempdir().unwrap();
        let r = Repo::init(d.path()).unwrap();
        let root = r.root().to_path_buf();
        assert_eq!(
            r.rel_path(&root, Path::new("a/./b/../c.bin")).unwrap(),
            "a/c.bin"
        );
        assert_eq!(r.rel_path(&root.join("x"), Path::new("y")).unwrap(), "x/y");
        assert!(r.rel_path(&root, Path::new("../outside")).is_err());
    }
}
