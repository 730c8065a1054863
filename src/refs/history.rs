//! Per-model history logs: the single source of truth for a model's refs.
//!
//! Each model has `models/<name>/log`, an append-only file of JSON lines. Every line is one
//! move (a commit moving the head, an alias set, a promote moving several aliases at once,
//! a tag...) and carries:
//! - `seq`, `prev` (blake3 of the previous line's bytes: a tamper-evident chain),
//! - `time`, `author`, `action`, `message`,
//! - `changes`: each ref that moved, with its old and new id,
//! - `state`: the model's refs *after* the move (head, aliases, tags).
//!
//! Because the state after each move is in the same line as the move, one `write` of one
//! line is the whole operation: a promote that moves two aliases is atomic, and the history
//! can never disagree with the refs. Reading the current refs reads only the last line.
//!
//! Crash safety: a line is written with a single `write` on an `O_APPEND` descriptor and
//! fsynced before the lock is released. A crash can at worst leave a torn last line without
//! its newline; readers ignore it (the move did not happen) and the next writer truncates it
//! under the lock before appending.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, IoContext, Result};
use crate::fsutil;
use crate::id::{CommitId, ObjectId};
use crate::lock;
use crate::names::{AliasName, TagName};

/// Extra key of a `prune` line: the version whose data was pruned.
pub const PRUNED: &str = "pruned";

/// The refs of one model at one point in its history.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefState {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head: Option<CommitId>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub aliases: BTreeMap<AliasName, CommitId>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<TagName, CommitId>,
}

/// The name of one ref of a model. Written as `head`, `alias:<name>` or `tag:<name>`, and
/// ordered by that text (the order history lines record their changes in).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum RefName {
    Head,
    Alias(AliasName),
    Tag(TagName),
}

impl RefName {
    /// For people: `head`, `alias production`, `tag v1`.
    pub fn describe(&self) -> String {
        match self {
            RefName::Head => "head".into(),
            RefName::Alias(a) => format!("alias {a}"),
            RefName::Tag(t) => format!("tag {t}"),
        }
    }

    /// The alias or tag name (`head` for the head).
    pub fn short(&self) -> &str {
        match self {
            RefName::Head => "head",
            RefName::Alias(n) => n.as_str(),
            RefName::Tag(n) => n.as_str(),
        }
    }

    fn parse(s: &str) -> Option<RefName> {
        match s.split_once(':') {
            None if s == "head" => Some(RefName::Head),
            // Names read back from history are not re-validated (see `AliasName`).
            Some(("alias", n)) if !n.is_empty() => {
                serde_json::from_value(n.into()).ok().map(RefName::Alias)
            }
            Some(("tag", n)) if !n.is_empty() => {
                serde_json::from_value(n.into()).ok().map(RefName::Tag)
            }
            _ => None,
        }
    }
}

impl std::fmt::Display for RefName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RefName::Head => f.write_str("head"),
            RefName::Alias(a) => write!(f, "alias:{a}"),
            RefName::Tag(t) => write!(f, "tag:{t}"),
        }
    }
}

impl Ord for RefName {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.to_string().cmp(&other.to_string())
    }
}

impl PartialOrd for RefName {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Serialize for RefName {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for RefName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<RefName, D::Error> {
        let s = String::deserialize(d)?;
        RefName::parse(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("{s:?} is not a ref name")))
    }
}

impl RefState {
    /// Point `name` at `to`, or remove it (`None`; the head is never removed).
    pub fn set(&mut self, name: &RefName, to: Option<CommitId>) {
        match (name, to) {
            (RefName::Head, v) => {
                if v.is_some() {
                    self.head = v
                }
            }
            (RefName::Alias(a), Some(v)) => {
                self.aliases.insert(a.clone(), v);
            }
            (RefName::Alias(a), None) => {
                self.aliases.remove(a.as_str());
            }
            (RefName::Tag(t), Some(v)) => {
                self.tags.insert(t.clone(), v);
            }
            (RefName::Tag(t), None) => {
                self.tags.remove(t.as_str());
            }
        }
    }

    /// Where `name` points.
    pub fn get(&self, name: &RefName) -> Option<CommitId> {
        match name {
            RefName::Head => self.head,
            RefName::Alias(a) => self.aliases.get(a.as_str()).copied(),
            RefName::Tag(t) => self.tags.get(t.as_str()).copied(),
        }
    }

    /// Every ref and where it points, ordered by name.
    pub fn refs(&self) -> BTreeMap<RefName, CommitId> {
        let mut m = BTreeMap::new();
        if let Some(h) = self.head {
            m.insert(RefName::Head, h);
        }
        for (k, v) in &self.aliases {
            m.insert(RefName::Alias(k.clone()), *v);
        }
        for (k, v) in &self.tags {
            m.insert(RefName::Tag(k.clone()), *v);
        }
        m
    }
}

/// One ref that moved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefChange {
    #[serde(rename = "ref")]
    pub name: RefName,
    pub old: Option<CommitId>,
    pub new: Option<CommitId>,
}

/// What a history line records. Written as its name (`"alias set"`); a name this version
/// does not know (written by a newer mreg) is kept as `Other`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    Commit,
    AliasSet,
    AliasRemove,
    Tag,
    TagDelete,
    Promote,
    Rollback,
    Archive,
    Unarchive,
    LabelAdd,
    LabelRemove,
    Evaluation,
    Reproduction,
    GitPin,
    Prune,
    Other(String),
}

impl Action {
    pub fn as_str(&self) -> &str {
        match self {
            Action::Commit => "commit",
            Action::AliasSet => "alias set",
            Action::AliasRemove => "alias remove",
            Action::Tag => "tag",
            Action::TagDelete => "tag delete",
            Action::Promote => "promote",
            Action::Rollback => "rollback",
            Action::Archive => "archive",
            Action::Unarchive => "unarchive",
            Action::LabelAdd => "label add",
            Action::LabelRemove => "label remove",
            Action::Evaluation => "evaluation",
            Action::Reproduction => "reproduction",
            Action::GitPin => "git-pin",
            Action::Prune => "prune",
            Action::Other(s) => s,
        }
    }

    fn parse(s: &str) -> Action {
        const ALL: [Action; 15] = [
            Action::Commit,
            Action::AliasSet,
            Action::AliasRemove,
            Action::Tag,
            Action::TagDelete,
            Action::Promote,
            Action::Rollback,
            Action::Archive,
            Action::Unarchive,
            Action::LabelAdd,
            Action::LabelRemove,
            Action::Evaluation,
            Action::Reproduction,
            Action::GitPin,
            Action::Prune,
        ];
        ALL.into_iter()
            .find(|a| a.as_str() == s)
            .unwrap_or_else(|| Action::Other(s.to_string()))
    }

    /// The action that attaches a note of `kind` (evaluation, reproduction, git-pin).
    pub fn for_note(kind: &str) -> Action {
        Action::parse(kind)
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Action {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Action {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Action, D::Error> {
        Ok(Action::parse(&String::deserialize(d)?))
    }
}

/// One line of a history log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogEntry {
    pub seq: u64,
    pub prev: Option<ObjectId>,
    pub time: crate::Timestamp,
    pub author: String,
    pub action: Action,
    #[serde(default)]
    pub message: String,
    pub changes: Vec<RefChange>,
    pub state: RefState,
    /// Extra facts about the move (e.g. the archived flag), open for later features.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl LogEntry {
    /// "by AUTHOR at TIME: MESSAGE" (no colon part without a message): who moved a ref, when
    /// and why, as `history --at` and the dashboard's timeline say it.
    pub fn attribution(&self) -> String {
        let mut s = format!("by {} at {}", self.author, self.time);
        if !self.message.is_empty() {
            s.push_str(": ");
            s.push_str(&self.message);
        }
        s
    }
}

/// The entries that moved `name` (every entry for None), oldest first: `history --alias`.
pub fn moves_of<'a>(entries: &'a [LogEntry], name: Option<&RefName>) -> Vec<&'a LogEntry> {
    entries
        .iter()
        .filter(|e| name.is_none_or(|k| e.changes.iter().any(|c| &c.name == k)))
        .collect()
}

/// The entry in force at time `t`: the last one written at or before it (`history --at`,
/// "what was production on that date").
pub fn entry_at(entries: &[LogEntry], t: std::time::SystemTime) -> Option<&LogEntry> {
    entries
        .iter()
        .rfind(|e| e.time.system_time().is_some_and(|et| et <= t))
}

/// Diff two states into the list of ref changes.
pub fn diff_states(old: &RefState, new: &RefState) -> Vec<RefChange> {
    let (a, b) = (old.refs(), new.refs());
    let mut names: Vec<&RefName> = a.keys().chain(b.keys()).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .filter(|n| a.get(*n) != b.get(*n))
        .map(|n| RefChange {
            name: n.clone(),
            old: a.get(n).copied(),
            new: b.get(n).copied(),
        })
        .collect()
}

/// Who, when and why of a move (what it is, the `Action`, is decided by the operation).
#[derive(Clone, Debug)]
pub struct MoveInfo {
    /// UTC, RFC 3339.
    pub time: crate::Timestamp,
    pub author: String,
    pub message: String,
}

#[cfg(test)]
impl MoveInfo {
    /// A move at a fixed time by a fixed author, for the crate's unit tests.
    pub(crate) fn for_tests(message: &str) -> MoveInfo {
        MoveInfo {
            time: crate::Timestamp::parse("2026-05-01T12:00:00Z").expect("a valid time"),
            author: "T <t@example.com>".into(),
            message: message.into(),
        }
    }
}

/// One move of one model's refs, in progress: the only way refs change (`Repo::transact`).
/// It holds the model's lock; what it changes is written as one history line when the
/// closure returns `Ok`, and nothing is written when it fails.
pub(crate) struct Transaction<'a> {
    state: &'a mut RefState,
    extra: &'a mut BTreeMap<String, serde_json::Value>,
    /// Every ref the move set or read to decide, with its value when the move began: the
    /// move's view. Refs it left unchanged are recorded in the line (`UNCHANGED`), so that
    /// replaying the move elsewhere (push, pull) checks the whole view, not only the refs
    /// that changed: a promote moves production *given* the rollback it saw.
    touched: &'a mut BTreeMap<RefName, Option<CommitId>>,
}

/// Extra key of a history line: the refs its move relied on but did not change, as
/// `[{ref, old, new}]` with `old == new` (see `Transaction::touched`).
pub const UNCHANGED: &str = "unchanged";

/// Extra key of a local history line that replays (or reconciles with) a remote's line:
/// `"<remote> <remote seq>"`. Such lines are never published again.
pub const PULLED_FROM: &str = "pulled_from";

impl Transaction<'_> {
    /// The model's refs as they are now (including this transaction's changes).
    pub(crate) fn state(&self) -> &RefState {
        self.state
    }
    fn touch(&mut self, name: RefName) {
        let now = self.state.get(&name);
        self.touched.entry(name).or_insert(now);
    }
    /// The move's decision depends on `name`'s current value (e.g. promote reads
    /// `candidate`): a replay elsewhere must find the same value.
    pub(crate) fn depends_on(&mut self, name: RefName) {
        self.touch(name);
    }
    pub(crate) fn set_head(&mut self, id: CommitId) {
        self.touch(RefName::Head);
        self.state.head = Some(id);
    }
    /// Point an alias at `id`; returns where it pointed before.
    pub(crate) fn set_alias(&mut self, alias: &AliasName, id: CommitId) -> Option<CommitId> {
        self.touch(RefName::Alias(alias.clone()));
        self.state.aliases.insert(alias.clone(), id)
    }
    pub(crate) fn remove_alias(&mut self, alias: &str) -> Option<CommitId> {
        if let Some(a) = self
            .state
            .aliases
            .keys()
            .find(|k| k.as_str() == alias)
            .cloned()
        {
            self.touch(RefName::Alias(a));
        }
        self.state.aliases.remove(alias)
    }
    pub(crate) fn set_tag(&mut self, tag: &TagName, id: CommitId) {
        self.touch(RefName::Tag(tag.clone()));
        self.state.tags.insert(tag.clone(), id);
    }
    pub(crate) fn remove_tag(&mut self, tag: &str) -> Option<CommitId> {
        if let Some(t) = self.state.tags.keys().find(|k| k.as_str() == tag).cloned() {
            self.touch(RefName::Tag(t));
        }
        self.state.tags.remove(tag)
    }
    /// Attach note object `note` to `commit`.
    pub(crate) fn attach_note(&mut self, note: crate::id::NoteId, commit: CommitId) {
        self.extra.insert("note".into(), note.to_hex().into());
        self.extra.insert("commit".into(), commit.to_hex().into());
    }
    /// Add (or remove) a label on `commit`.
    pub(crate) fn edit_label(&mut self, commit: CommitId, label: &str, add: bool) {
        let key = if add { "label_add" } else { "label_remove" };
        self.extra.insert(key.into(), label.into());
        self.extra.insert("commit".into(), commit.to_hex().into());
    }
    /// Mark `id` archived (or not).
    pub(crate) fn set_archived(&mut self, id: CommitId, archived: bool) {
        let key = if archived { "archived" } else { "unarchived" };
        self.extra.insert(key.into(), id.to_hex().into());
    }
    /// Move (or remove) any ref by name.
    pub(crate) fn set_ref(&mut self, name: &RefName, to: Option<CommitId>) {
        self.touch(name.clone());
        self.state.set(name, to);
    }
    /// The facts recorded so far (notes, labels, archive flags...).
    pub(crate) fn extra(&self) -> &BTreeMap<String, serde_json::Value> {
        self.extra
    }
    /// Record a fact about the move (e.g. which remote line it replays).
    pub(crate) fn set_extra(&mut self, key: &str, value: serde_json::Value) {
        self.extra.insert(key.into(), value);
    }
    /// Record that `id`'s data is being pruned on purpose.
    pub(crate) fn record_prune(&mut self, id: CommitId) {
        self.extra.insert(PRUNED.into(), id.to_hex().into());
    }
}

/// The history log of one model.
#[derive(Clone)]
pub struct ModelLog {
    dir: PathBuf,
    what: String,
    waiter: Option<lock::LockWaiter>,
}

impl std::fmt::Debug for ModelLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelLog").field("dir", &self.dir).finish()
    }
}

impl ModelLog {
    pub fn new(dir: PathBuf) -> Self {
        ModelLog {
            dir,
            what: "model".into(),
            waiter: None,
        }
    }

    pub(crate) fn with_waiter(
        mut self,
        model: &crate::names::ModelName,
        waiter: Option<lock::LockWaiter>,
    ) -> Self {
        self.what = format!("model {model}");
        self.waiter = waiter;
        self
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join("log")
    }

    fn lock_path(&self) -> PathBuf {
        self.dir.join("lock")
    }

    pub fn exists(&self) -> bool {
        self.path().is_file()
    }

    /// The last complete entry, or None for a model with no history yet.
    pub fn last(&self) -> Result<Option<LogEntry>> {
        let path = self.path();
        let mut f = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io("opening history log", path, e)),
        };
        match last_complete_line(&mut f, &path)? {
            Some((line, _)) => parse_line(&path, &line).map(Some),
            None => Ok(None),
        }
    }

    /// The value of `key` in the extra facts of the last complete line that has it. Scans
    /// the raw lines from the end and parses only those that mention the key, so that a
    /// setting read on every commit (the policy) costs a byte search, not a parse of a
    /// history of 100,000 lines.
    pub fn last_extra(&self, key: &str) -> Result<Option<serde_json::Value>> {
        let path = self.path();
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io("reading history log", path, e)),
        };
        let complete = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let needle = format!("\"{key}\"");
        let lines = &bytes[..complete];
        // Occurrences of the key (a forward search: vectorized, unlike a reverse one), then
        // their lines from the last, each parsed once.
        let hits: Vec<usize> = memchr::memmem::find_iter(lines, needle.as_bytes()).collect();
        let mut parsed_from = lines.len();
        for &at in hits.iter().rev() {
            if at >= parsed_from {
                continue; // in a line already parsed
            }
            let start = memchr::memrchr(b'\n', &lines[..at]).map_or(0, |i| i + 1);
            let end = memchr::memchr(b'\n', &lines[at..]).map_or(lines.len(), |i| at + i);
            if let Some(v) = parse_line(&path, &lines[start..end])?.extra.get(key) {
                return Ok(Some(v.clone()));
            }
            parsed_from = start;
        }
        Ok(None)
    }

    /// A cheap signature of the log's content: its size and the hash of its last complete
    /// line. Any append changes it (the query index uses it to detect staleness).
    pub fn signature(&self) -> Result<(u64, Option<ObjectId>)> {
        let path = self.path();
        let mut f = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((0, None)),
            Err(e) => return Err(Error::io("opening history log", path, e)),
        };
        Ok(match last_complete_line(&mut f, &path)? {
            Some((line, end)) => (end, Some(ObjectId::hash(&line))),
            None => (0, None),
        })
    }

    /// The current refs (empty when the model has no history).
    pub fn state(&self) -> Result<RefState> {
        Ok(self.last()?.map(|e| e.state).unwrap_or_default())
    }

    /// Every complete entry, oldest first, plus whether a torn tail was found.
    pub fn entries(&self) -> Result<(Vec<LogEntry>, bool)> {
        let path = self.path();
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), false)),
            Err(e) => return Err(Error::io("reading history log", path, e)),
        };
        let complete = match bytes.iter().rposition(|&b| b == b'\n') {
            Some(i) => i + 1,
            None => 0,
        };
        let torn = complete < bytes.len();
        let mut out = Vec::new();
        for line in bytes[..complete].split(|&b| b == b'\n') {
            if line.is_empty() {
                continue;
            }
            out.push(parse_line(&path, line)?);
        }
        Ok((out, torn))
    }

    /// Verify the chain: sequence numbers, `prev` hashes, and that each entry's changes
    /// lead from the previous state to its state. Returns the problems found.
    pub fn verify_chain(&self) -> Result<Vec<String>> {
        let path = self.path();
        let bytes = fs::read(&path).ctx("reading history log", &path)?;
        let mut problems = Vec::new();
        let mut prev_hash: Option<ObjectId> = None;
        let mut prev_state = RefState::default();
        let complete = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        for (i, line) in bytes[..complete]
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .enumerate()
        {
            let e = match parse_line(&path, line) {
                Ok(e) => e,
                Err(err) => {
                    problems.push(format!("line {}: {err}", i + 1));
                    return Ok(problems);
                }
            };
            if e.seq != i as u64 + 1 {
                problems.push(format!(
                    "line {}: seq is {}, expected {}",
                    i + 1,
                    e.seq,
                    i + 1
                ));
            }
            if e.prev != prev_hash {
                problems.push(format!(
                    "line {}: chain broken (prev hash does not match line {})",
                    i + 1,
                    i
                ));
            }
            let expect = diff_states(&prev_state, &e.state);
            if expect != e.changes {
                problems.push(format!(
                    "line {}: recorded changes do not lead from the previous state to this one",
                    i + 1
                ));
            }
            prev_hash = Some(ObjectId::hash(line));
            prev_state = e.state;
        }
        Ok(problems)
    }

    /// Apply one move under the model's lock: `f` sees the current state and changes it
    /// (or fails, for compare-and-swap checks), and may record facts in `extra`. Nothing is
    /// written when `f` fails, or when no ref moved and `extra` is empty. Returns the entry
    /// written.
    pub(crate) fn update<F>(&self, info: MoveInfo, action: Action, f: F) -> Result<Option<LogEntry>>
    where
        F: FnOnce(&mut Transaction) -> Result<()>,
    {
        fsutil::create_dir_durable(&self.dir)?;
        let _guard = lock::exclusive(&self.lock_path(), &self.what, self.waiter.as_ref())?;
        let path = self.path();
        let mut file = fsutil::open_append(&path)?;
        let last = match last_complete_line(&mut file, &path)? {
            Some((line, end)) => {
                truncate_torn_tail(&file, &path, end)?;
                Some((parse_line(&path, &line)?, ObjectId::hash(&line)))
            }
            None => {
                truncate_torn_tail(&file, &path, 0)?;
                None
            }
        };
        let (seq, prev, old_state) = match &last {
            Some((e, h)) => (e.seq + 1, Some(*h), e.state.clone()),
            None => (1, None, RefState::default()),
        };
        let mut state = old_state.clone();
        let mut extra = BTreeMap::new();
        let mut touched = BTreeMap::new();
        f(&mut Transaction {
            state: &mut state,
            extra: &mut extra,
            touched: &mut touched,
        })?;
        let changes = diff_states(&old_state, &state);
        if changes.is_empty() && extra.is_empty() {
            return Ok(None);
        }
        let unchanged: Vec<RefChange> = touched
            .into_iter()
            .filter(|(name, old)| state.get(name) == *old && !extra.contains_key(PULLED_FROM))
            .map(|(name, old)| RefChange {
                name,
                old,
                new: old,
            })
            .collect();
        if !unchanged.is_empty() {
            extra.insert(
                UNCHANGED.into(),
                serde_json::to_value(&unchanged).expect("ref changes serialize"),
            );
        }
        let entry = LogEntry {
            seq,
            prev,
            time: info.time,
            author: info.author,
            action,
            message: info.message,
            changes,
            state,
            extra,
        };
        let mut line = serde_json::to_vec(&entry).map_err(|e| Error::Encode {
            what: "a history entry",
            source: e.into(),
        })?;
        line.push(b'\n');
        // One write of the whole line: a crash leaves the line whole or torn, never mixed.
        file.write_all(&line)
            .ctx("appending to history log", &path)?;
        fsutil::sync_file(&file, false).ctx("syncing history log", &path)?;
        Ok(Some(entry))
    }
}

fn parse_line(path: &Path, line: &[u8]) -> Result<LogEntry> {
    serde_json::from_slice(line).map_err(|e| Error::CorruptFile {
        path: path.to_path_buf(),
        why: format!("bad history entry: {e}"),
    })
}

/// The last newline-terminated line of `f` (without its newline) and the offset just past
/// it, reading backwards from the end in blocks.
fn last_complete_line(f: &mut File, path: &Path) -> Result<Option<(Vec<u8>, u64)>> {
    let len = f.seek(SeekFrom::End(0)).ctx("seeking in", path)?;
    if len == 0 {
        return Ok(None);
    }
    let mut block = 64 * 1024u64;
    loop {
        let start = len.saturating_sub(block);
        f.seek(SeekFrom::Start(start)).ctx("seeking in", path)?;
        let mut buf = Vec::with_capacity((len - start) as usize);
        Read::by_ref(f)
            .take(len - start)
            .read_to_end(&mut buf)
            .ctx("reading", path)?;
        // The end of the last complete line.
        let Some(end) = buf.iter().rposition(|&b| b == b'\n') else {
            if start == 0 {
                return Ok(None); // only a torn line
            }
            block *= 2;
            continue;
        };
        match buf[..end].iter().rposition(|&b| b == b'\n') {
            Some(s) => return Ok(Some((buf[s + 1..end].to_vec(), start + end as u64 + 1))),
            None if start == 0 => return Ok(Some((buf[..end].to_vec(), end as u64 + 1))),
            None => block *= 2,
        }
    }
}

fn truncate_torn_tail(file: &File, path: &Path, end: u64) -> Result<()> {
    let len = file.metadata().ctx("reading metadata of", path)?.len();
    if len > end {
        file.set_len(end)
            .ctx("truncating torn history line in", path)?;
        fsutil::sync_file(file, false).ctx("syncing history log", path)?;
    }
    Ok(())
}

/// The version a commit line records (its new head), if `action` is a commit.
pub fn committed(action: &Action, changes: &[RefChange]) -> Option<CommitId> {
    if *action != Action::Commit {
        return None;
    }
    changes
        .iter()
        .find(|c| c.name == RefName::Head)
        .and_then(|c| c.new)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(what: &str) -> MoveInfo {
        MoveInfo::for_tests(what)
    }

    #[test]
    fn append_read_and_chain() {
        let d = tempfile::tempdir().unwrap();
        let log = ModelLog::new(d.path().join("m"));
        assert_eq!(log.state().unwrap(), RefState::default());
        let a = CommitId(ObjectId::hash(b"a"));
        let b = CommitId(ObjectId::hash(b"b"));
        log.update(info("commit"), Action::Commit, |t| {
            t.set_head(a);
            Ok(())
        })
        .unwrap();
        let e = log
            .update(info("promote"), Action::Promote, |t| {
                t.set_head(b);
                t.set_alias(&AliasName::new("production").unwrap(), b);
                t.set_alias(&AliasName::new("rollback").unwrap(), a);
                Ok(())
            })
            .unwrap()
            .unwrap();
        assert_eq!(e.changes.len(), 3);
        assert_eq!(log.state().unwrap().head, Some(b));
        assert!(log.verify_chain().unwrap().is_empty());
        let (entries, torn) = log.entries().unwrap();
        assert_eq!((entries.len(), torn), (2, false));
    }

    #[test]
    fn torn_tail_is_ignored_then_repaired() {
        let d = tempfile::tempdir().unwrap();
        let log = ModelLog::new(d.path().join("m"));
        let a = CommitId(ObjectId::hash(b"a"));
        log.update(info("commit"), Action::Commit, |t| {
            t.set_head(a);
            Ok(())
        })
        .unwrap();
        let mut f = fs::OpenOptions::new()
            .append(true)
            .open(log.path())
            .unwrap();
        f.write_all(b"{\"seq\":2,\"prev\":\"abc").unwrap();
        assert_eq!(log.state().unwrap().head, Some(a));
        assert!(log.entries().unwrap().1, "torn tail reported");
        let b = CommitId(ObjectId::hash(b"b"));
        log.update(info("commit"), Action::Commit, |t| {
            t.set_head(b);
            Ok(())
        })
        .unwrap();
        assert!(log.verify_chain().unwrap().is_empty());
        assert_eq!(log.entries().unwrap().0.len(), 2);
    }

    #[test]
    fn tampering_is_detected() {
        let d = tempfile::tempdir().unwrap();
        let log = ModelLog::new(d.path().join("m"));
        for x in [b"a", b"b", b"c"] {
            log.update(info("commit"), Action::Commit, |t| {
                t.set_head(crate::id::CommitId(ObjectId::hash(x)));
                Ok(())
            })
            .unwrap();
        }
        let text = fs::read_to_string(log.path()).unwrap();
        let edited = text.replacen("T <t@example.com>", "mallory", 1);
        assert_ne!(edited, text, "the edit must change the log");
        fs::write(log.path(), edited).unwrap();
        assert!(!log.verify_chain().unwrap().is_empty());
    }

    #[test]
    fn ref_names_and_actions_keep_their_text_and_order() {
        let names = [
            RefName::Tag(TagName::new("v1").unwrap()),
            RefName::Head,
            RefName::Alias(AliasName::new("production").unwrap()),
        ];
        let mut sorted = names.to_vec();
        sorted.sort();
        // Text order, which is the order history lines record changes in.
        let text: Vec<String> = sorted.iter().map(|n| n.to_string()).collect();
        assert_eq!(text, vec!["alias:production", "head", "tag:v1"]);
        for n in names {
            let j = serde_json::to_string(&n).unwrap();
            assert_eq!(serde_json::from_str::<RefName>(&j).unwrap(), n);
        }
        assert!(serde_json::from_str::<RefName>("\"nonsense\"").is_err());
        for a in ["commit", "alias set", "git-pin", "label remove"] {
            let act: Action = serde_json::from_str(&format!("\"{a}\"")).unwrap();
            assert_eq!(act.as_str(), a);
            assert!(!matches!(act, Action::Other(_)), "{a}");
        }
        let future: Action = serde_json::from_str("\"merge\"").unwrap();
        assert_eq!(future, Action::Other("merge".into()));
    }

    #[test]
    fn failed_update_writes_nothing() {
        let d = tempfile::tempdir().unwrap();
        let log = ModelLog::new(d.path().join("m"));
        let r = log.update(info("x"), Action::Commit, |_| {
            Err(Error::NoCandidate {
                model: crate::ModelName::new("m").unwrap(),
            })
        });
        assert!(r.is_err());
        assert_eq!(log.entries().unwrap().0.len(), 0);
    }
}
