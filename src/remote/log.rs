//! A model's history on a remote: one create-only object per line.
//!
//! Line `n` of model `m` is the object `models/<m>/log/<n, 12 digits>`, written with a
//! create-only put. Whoever creates `n` first owns it; a writer that loses the race reads
//! the winner's line, re-checks its move against the new state and tries `n + 1`. Each line
//! carries:
//! - `prev`: the blake3 of line `n - 1`'s bytes, so the lines form a chain and a line
//!   written without having read its predecessor is detected;
//! - `writer`: the writing store's id and the local history line it publishes. After an
//!   ambiguous reply (timeout, retried request answered "exists"), a writer recognises its
//!   own line by it, and a rerun of an interrupted push skips lines already published;
//! - `changes`: each ref moved, with the value it had *in the writer's view*. The line is
//!   valid only if every `old` equals the remote's value after line `n - 1`: this is the
//!   compare-and-swap that refuses a move made from a stale view.
//!
//! Readers verify all of it (sequence, chain, model, compare-and-swap replay) before using
//! a line; a remote that breaks any rule is reported, never trusted.
//!
//! Locally, `remotes/<name>/models/<m>.json` caches what was verified (`Track`: the last
//! line's number and hash and the replayed refs), and `<m>.lines` the verified lines, so a
//! push or fetch reads only lines it has not seen.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::backend::{Backend, Created};
use super::key::{Key, Prefix};
use super::RemoteError;
use crate::error::{Error, IoContext, Result};
use crate::history::{Action, RefChange, RefName, RefState};
use crate::id::ObjectId;
use crate::names::ModelName;

/// Extra key of a commit line: the version number it publishes (`refs::versions`).
pub const VERSION: &str = "version";

/// The remote line format this build writes and reads.
pub const LINE_FORMAT: u32 = 1;
/// Largest history line accepted from a remote.
const MAX_LINE: usize = 1 << 20;

/// Who wrote a line: a store id and that store's local history line number.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Writer {
    pub store: String,
    pub seq: u64,
}

/// One line of a model's remote history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RemoteLine {
    pub format: u32,
    pub model: ModelName,
    pub seq: u64,
    pub prev: Option<ObjectId>,
    pub writer: Writer,
    pub time: crate::Timestamp,
    pub author: String,
    pub action: Action,
    #[serde(default)]
    pub message: String,
    pub changes: Vec<RefChange>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// Apply a line's changes to `state`, checking each `old` (the compare-and-swap rule).
pub fn apply(state: &mut RefState, changes: &[RefChange]) -> std::result::Result<(), String> {
    for c in changes {
        let cur = state.get(&c.name);
        if cur != c.old {
            return Err(format!(
                "{} was {} on the remote, the line says it moved from {}",
                c.name.describe(),
                show(cur),
                show(c.old)
            ));
        }
        state.set(&c.name, c.new);
    }
    Ok(())
}

pub(crate) fn show(id: Option<crate::CommitId>) -> String {
    id.map_or_else(|| "(unset)".to_string(), |i| i.short())
}

/// What this store knows (verified) of one model's remote history.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Track {
    /// The last verified remote line, its hash, and the remote refs after it.
    pub seq: u64,
    pub last_hash: Option<ObjectId>,
    pub state: RefState,
    /// Length of the verified lines cache (bytes past it are from an interrupted update).
    pub cache_len: u64,
    /// Remote lines applied to the local history (`pull`).
    pub applied: u64,
    /// Local history lines up to this one are published or decided (`push`).
    pub pushed: u64,
    /// Local lines that will not be published: their move conflicted with the remote.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dropped: Vec<u64>,
    /// Local commit lines published as their version alone: the other moves they made
    /// (aliases, the policy's `candidate` and `best`) conflicted with the remote and were
    /// not published. Every version lands; a move decided on a stale view does not.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub partial: Vec<u64>,
    /// Of `partial`, the lines up to this one had the model's policy re-applied after a pull.
    #[serde(default)]
    pub policy_reapplied: u64,
    /// Commit lines among the verified lines: the number of the last version published
    /// (None in a tracking file written before version numbers: recounted on open).
    #[serde(default)]
    pub versions: Option<u64>,
}

/// The local cache of one model's remote history.
pub struct TrackFile {
    dir: PathBuf,
    tmp: PathBuf,
    model: ModelName,
    pub track: Track,
    /// Lines read by this `sync` that carry this store's writer id without being its moves.
    pub impostors: Vec<u64>,
}

/// This store as a writer: its id, and the check that a line carrying the id is one of
/// its own moves (the same local line: time, author, action, reason and changes).
pub struct Identity<'a> {
    pub store: &'a str,
    pub moves: &'a dyn OwnMoves,
}

/// Recognises this store's own moves among lines that carry its writer id.
pub trait OwnMoves {
    fn is_our_move(&self, l: &RemoteLine) -> bool;
}

impl RemoteLine {
    /// The same move as `other` (both published lines): who, when, what and why.
    pub fn same_move(&self, other: &RemoteLine) -> bool {
        self.writer == other.writer
            && self.time == other.time
            && self.author == other.author
            && self.action == other.action
            && self.message == other.message
            && self.changes == other.changes
    }

    /// This line publishes local history line `e` (its changes are `e`'s, or a subset of
    /// them: a commit published as its version alone, or a line published by mreg before
    /// issue 32). A commit line's head moves from wherever the remote's head was (versions
    /// are siblings, not a race), so only its new value must match.
    pub fn publishes(&self, e: &crate::history::LogEntry) -> bool {
        let commit = e.action == Action::Commit;
        self.writer.seq == e.seq
            && self.time == e.time
            && self.author == e.author
            && self.action == e.action
            && self.message == e.message
            && self.changes.iter().all(|c| {
                e.changes.contains(c)
                    || (commit
                        && c.name == RefName::Head
                        && e.changes
                            .iter()
                            .any(|l| l.name == RefName::Head && l.new == c.new))
            })
    }

    /// The version number a commit line publishes, as it says (`extra.version`).
    pub fn version_number(&self) -> Option<u64> {
        self.extra.get(VERSION).and_then(|v| v.as_u64())
    }
}

impl TrackFile {
    pub fn open(dir: PathBuf, tmp: PathBuf, model: &ModelName) -> Result<TrackFile> {
        let path = dir.join(format!("{model}.json"));
        let track = match std::fs::read(&path) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| Error::CorruptFile {
                path: path.clone(),
                why: format!("bad remote tracking file: {e}"),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Track::default(),
            Err(e) => return Err(Error::io("reading", path, e)),
        };
        let mut tf = TrackFile {
            dir,
            tmp,
            model: model.clone(),
            track,
            impostors: Vec::new(),
        };
        if tf.track.versions.is_none() {
            let n = tf
                .cached_lines_after(0)?
                .iter()
                .filter(|l| crate::history::committed(&l.action, &l.changes).is_some())
                .count();
            tf.track.versions = Some(n as u64);
        }
        Ok(tf)
    }

    /// The number the next version published on this remote gets.
    pub fn next_version(&self) -> u64 {
        self.track.versions.unwrap_or(0) + 1
    }

    fn lines_path(&self) -> PathBuf {
        self.dir.join(format!("{}.lines", self.model))
    }

    /// Save the tracking state (atomically).
    pub fn save(&self) -> Result<()> {
        crate::fsutil::create_dir_durable(&self.dir)?;
        let bytes = serde_json::to_vec_pretty(&self.track).expect("track serializes");
        crate::fsutil::write_atomic(
            &self.dir.join(format!("{}.json", self.model)),
            &bytes,
            &self.tmp,
        )
    }

    /// Verified remote lines after `after`, from the cache.
    /// The versions the remote's history pruned (its `prune` lines), as verified here.
    pub fn pruned_versions(&self) -> Result<std::collections::HashSet<crate::id::CommitId>> {
        Ok(self
            .cached_lines_after(0)?
            .iter()
            .filter(|l| l.action == crate::history::Action::Prune)
            .filter_map(|l| l.extra.get(crate::history::PRUNED))
            .filter_map(|v| v.as_str().and_then(crate::id::CommitId::from_hex))
            .collect())
    }

    pub fn cached_lines_after(&self, after: u64) -> Result<Vec<RemoteLine>> {
        let path = self.lines_path();
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(Error::io("reading", path, e)),
        };
        let end = (self.track.cache_len as usize).min(bytes.len());
        let mut out = Vec::new();
        for line in bytes[..end]
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
        {
            let l: RemoteLine = serde_json::from_slice(line).map_err(|e| Error::CorruptFile {
                path: path.clone(),
                why: format!("bad cached remote line: {e}"),
            })?;
            if l.seq > after {
                out.push(l);
            }
        }
        Ok(out)
    }

    /// Read the lines the remote has beyond what is tracked, verify each, and record them.
    /// Returns the new lines. A line is taken as this store's own (advancing `pushed`)
    /// only if `me` recognises the move; one that merely carries this store's writer id is
    /// recorded in `impostors` (issue 23: a restored copy of this store, or a forged line
    /// that would otherwise make this store's later moves look published).
    pub fn sync(&mut self, remote: &Backend, me: &Identity) -> Result<Vec<RemoteLine>> {
        let listed = remote.list(&Prefix::Log(self.model.clone()))?;
        if let Some((name, _)) = listed.unknown.first() {
            return Err(RemoteError::Corrupt(format!(
                "unexpected object {name} in the history of {}",
                self.model
            ))
            .into());
        }
        let mut seqs = Vec::new();
        for (key, _) in &listed.keys {
            match key {
                Key::Line(m, n) if *m == self.model => seqs.push(*n),
                other => {
                    return Err(RemoteError::Corrupt(format!(
                        "unexpected object {other} in the history of {}",
                        self.model
                    ))
                    .into())
                }
            }
        }
        seqs.sort_unstable();
        for (i, n) in seqs.iter().enumerate() {
            if *n != i as u64 + 1 {
                return Err(RemoteError::Corrupt(format!(
                    "the history of {} on the remote has a gap: line {} is missing",
                    self.model,
                    i + 1
                ))
                .into());
            }
        }
        let top = seqs.len() as u64;
        if top < self.track.seq {
            return Err(RemoteError::Corrupt(format!(
                "the remote history of {} has {} lines, but {} were seen before: lines were deleted",
                self.model, top, self.track.seq
            ))
            .into());
        }
        let mut new = Vec::new();
        let mut cache = Vec::new();
        for seq in self.track.seq + 1..=top {
            let Some(bytes) = remote.get(&Key::Line(self.model.clone(), seq), MAX_LINE as u64)?
            else {
                return Err(RemoteError::Corrupt(format!(
                    "line {seq} of {} was listed but cannot be read",
                    self.model
                ))
                .into());
            };
            let line = self.verify(seq, &bytes)?;
            if line.writer.store == me.store {
                if me.moves.is_our_move(&line) {
                    self.track.pushed = self.track.pushed.max(line.writer.seq);
                } else {
                    self.impostors.push(seq);
                }
            }
            self.track.seq = seq;
            self.track.last_hash = Some(ObjectId::hash(&bytes));
            cache.extend_from_slice(&bytes);
            cache.push(b'\n');
            new.push(line);
        }
        if !cache.is_empty() {
            self.append_cache(&cache)?;
            self.save()?;
        }
        Ok(new)
    }

    /// Check line `seq` against the rules and apply it to the tracked state.
    fn verify(&mut self, seq: u64, bytes: &[u8]) -> Result<RemoteLine> {
        let bad = |why: String| -> Error {
            RemoteError::Corrupt(format!("line {seq} of {} on the remote: {why}", self.model))
                .into()
        };
        if bytes.len() > MAX_LINE {
            return Err(bad(format!(
                "{} bytes is too long for a history line",
                bytes.len()
            )));
        }
        if bytes.contains(&b'\n') {
            return Err(bad("a history line must be one line".into()));
        }
        let line: RemoteLine =
            serde_json::from_slice(bytes).map_err(|e| bad(format!("not a history line: {e}")))?;
        if line.format != LINE_FORMAT {
            return Err(bad(format!(
                "format {} (this mreg reads format {LINE_FORMAT}: upgrade mreg)",
                line.format
            )));
        }
        if line.seq != seq || line.model != self.model {
            return Err(bad(format!(
                "it says it is line {} of {}",
                line.seq, line.model
            )));
        }
        if line.prev != self.track.last_hash {
            return Err(bad(
                "its chain link does not match the previous line (a line was overwritten, or the server ignores conditional writes)".into(),
            ));
        }
        let mut state = self.track.state.clone();
        apply(&mut state, &line.changes).map_err(bad)?;
        // A commit line publishes one version, numbered by its place among commit lines.
        let mut versions = self.track.versions.unwrap_or(0);
        if line.action == Action::Commit {
            if crate::history::committed(&line.action, &line.changes).is_none() {
                return Err(bad("a commit line that names no version".into()));
            }
            versions += 1;
            if let Some(n) = line.version_number() {
                if n != versions {
                    return Err(bad(format!(
                        "it says it publishes version {n}, but it is version {versions} of the model"
                    )));
                }
            }
        } else if line.extra.contains_key(VERSION) {
            return Err(bad("a version number on a line that is not a commit".into()));
        }
        self.track.state = state;
        self.track.versions = Some(versions);
        Ok(line)
    }

    fn append_cache(&mut self, bytes: &[u8]) -> Result<()> {
        crate::fsutil::create_dir_durable(&self.dir)?;
        let path = self.lines_path();
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .ctx("opening", &path)?;
        // Cut what an interrupted update left past the recorded length.
        f.set_len(self.track.cache_len).ctx("truncating", &path)?;
        let mut f = f;
        f.write_all(bytes).ctx("writing", &path)?;
        f.sync_all().ctx("syncing", &path)?;
        self.track.cache_len += bytes.len() as u64;
        Ok(())
    }

    /// Publish a line: create it at the next number. On a lost race, read the winner,
    /// and — unless the winner is this very line (an ambiguous earlier reply) — give the
    /// caller the new state to re-check its move against. Returns true when the line is
    /// now on the remote.
    pub fn try_append(
        &mut self,
        remote: &Backend,
        me: &Identity,
        mut line: RemoteLine,
    ) -> Result<Appended> {
        line.format = LINE_FORMAT;
        line.model = self.model.clone();
        line.seq = self.track.seq + 1;
        line.prev = self.track.last_hash;
        let bytes = serde_json::to_vec(&line).map_err(|e| Error::Encode {
            what: "a history line",
            source: e.into(),
        })?;
        let mut check = self.track.state.clone();
        apply(&mut check, &line.changes).map_err(|e| {
            Error::from(RemoteError::Protocol(format!(
                "refusing to write an invalid line: {e}"
            )))
        })?;
        let key = Key::Line(self.model.clone(), line.seq);
        let created = match remote.create(&key, &bytes)? {
            // Read the line back: a server whose create-only PUT is not atomic under
            // concurrency (moto, once in about ten runs of 6 racing writers) can accept a
            // second create of the same number; the later one stands. A writer that finds
            // another line there lost the race after all: it re-syncs and re-checks its move,
            // instead of recording a line the remote does not hold.
            Created::New => match remote.get(&key, MAX_LINE as u64)? {
                Some(stored) if stored == bytes => Created::New,
                _ => Created::Exists,
            },
            Created::Exists => Created::Exists,
        };
        match created {
            Created::New => {
                // Record it as verified: it is exactly what was created.
                self.verify(line.seq, &bytes)?;
                self.track.seq = line.seq;
                self.track.last_hash = Some(ObjectId::hash(&bytes));
                let mut c = bytes;
                c.push(b'\n');
                self.append_cache(&c)?;
                self.track.pushed = self.track.pushed.max(line.writer.seq);
                self.save()?;
                Ok(Appended::Written)
            }
            Created::Exists => {
                let new = self.sync(remote, me)?;
                if new
                    .iter()
                    .any(|l| l.writer == line.writer && l.same_move(&line))
                {
                    Ok(Appended::Written)
                } else {
                    Ok(Appended::Raced)
                }
            }
        }
    }
}

/// The outcome of `try_append`.
#[derive(Debug, PartialEq, Eq)]
pub enum Appended {
    Written,
    /// Another writer took the number: re-check against the new state and retry.
    Raced,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote::backend::Backend;

    /// A writer that recognises every line with its id as its own.
    struct Trusting;
    impl OwnMoves for Trusting {
        fn is_our_move(&self, _: &RemoteLine) -> bool {
            true
        }
    }
    fn me(store: &'static str) -> Identity<'static> {
        Identity {
            store,
            moves: &Trusting,
        }
    }

    fn line(writer_seq: u64, old: Option<crate::CommitId>, new: crate::CommitId) -> RemoteLine {
        RemoteLine {
            format: LINE_FORMAT,
            model: ModelName::new("m").unwrap(),
            seq: 0,
            prev: None,
            writer: Writer {
                store: "w".into(),
                seq: writer_seq,
            },
            time: crate::Timestamp::parse("2026-01-01T00:00:00Z").unwrap(),
            author: "t".into(),
            action: Action::Commit,
            message: String::new(),
            changes: vec![RefChange {
                name: crate::history::RefName::Head,
                old,
                new: Some(new),
            }],
            extra: BTreeMap::new(),
        }
    }

    fn id(n: u8) -> crate::CommitId {
        crate::CommitId(ObjectId::hash(&[n]))
    }

    #[test]
    fn lines_chain_and_a_stale_move_cannot_be_written() {
        let remote_dir = tempfile::tempdir().unwrap();
        let local = tempfile::tempdir().unwrap();
        let remote = Backend::dir(remote_dir.path()).unwrap();
        let m = ModelName::new("m").unwrap();
        let open =
            || TrackFile::open(local.path().join("t"), local.path().to_path_buf(), &m).unwrap();
        let mut a = open();
        assert_eq!(
            a.try_append(&remote, &me("w"), line(1, None, id(1)))
                .unwrap(),
            Appended::Written
        );
        // A second writer with a stale view (it never saw line 1) loses the race for line 1,
        // learns the new head, and its move from "no head" is now invalid.
        let other = tempfile::tempdir().unwrap();
        let mut b =
            TrackFile::open(other.path().join("t"), other.path().to_path_buf(), &m).unwrap();
        let mut l = line(1, None, id(2));
        l.writer.store = "x".into();
        assert_eq!(
            b.try_append(&remote, &me("x"), l.clone()).unwrap(),
            Appended::Raced
        );
        assert_eq!(b.track.state.head, Some(id(1)));
        assert!(
            b.try_append(&remote, &me("x"), l).is_err(),
            "a stale move must not be written"
        );
        assert_eq!(
            a.try_append(&remote, &me("w"), line(2, Some(id(1)), id(3)))
                .unwrap(),
            Appended::Written
        );

        // A fresh reader verifies the chain; tampering with line 1 breaks line 2's link.
        let fresh = tempfile::tempdir().unwrap();
        let mut c =
            TrackFile::open(fresh.path().join("t"), fresh.path().to_path_buf(), &m).unwrap();
        assert_eq!(c.sync(&remote, &me("z")).unwrap().len(), 2);
        let p = remote_dir.path().join(Key::Line(m.clone(), 1).path());
        let text = std::fs::read_to_string(&p)
            .unwrap()
            .replace("\"author\":\"t\"", "\"author\":\"u\"");
        std::fs::write(&p, text).unwrap();
        let fresh = tempfile::tempdir().unwrap();
        let mut d =
            TrackFile::open(fresh.path().join("t"), fresh.path().to_path_buf(), &m).unwrap();
        let e = d.sync(&remote, &me("z")).unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("chain link"), "{e}");
        // A gap is refused too.
        std::fs::remove_file(&p).unwrap();
        let fresh = tempfile::tempdir().unwrap();
        let mut d =
            TrackFile::open(fresh.path().join("t"), fresh.path().to_path_buf(), &m).unwrap();
        assert!(d
            .sync(&remote, &me("z"))
            .unwrap_err()
            .to_string()
            .contains("gap"));
    }
}
