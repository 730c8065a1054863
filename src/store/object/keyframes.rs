//! The keyframe cache: a standalone encoding of each delta chunk at the head of a chain,
//! `cache/keyframes/<id>`, so that the newest version of a fine-tune reads at the speed of
//! a keyframe instead of decoding every level of its chain.
//!
//! Why: a delta chain of depth d costs d + 1 plane decodes and d additions per chunk; the
//! end of a 5-deep chain read 4–5× slower than its keyframe (docs/BENCHMARKS.md), and the
//! newest checkpoint is the one people check out. Reverse deltas would fix that by
//! rewriting the previous head of every chain on each commit; this cache gets the same read
//! speed without touching any stored object (docs/DESIGN.md, "Where chain reads stand").
//!
//! The rules:
//! - An entry is written when a chunk is stored as a delta at depth [`MIN_DEPTH`] or more
//!   (its standalone encoding is made then, from the data in hand; a delta of a keyframe
//!   reads fast enough without), and the entry of the parent's chunk it follows goes once
//!   the new objects are named, whether the new chunk is a delta of it or not (a new chain
//!   starts at the depth cap): that chunk is no longer the head of its line. So the cache
//!   holds about one version of each line of work (every head of a sweep).
//! - It is bounded by `cache.keyframes_max` (default [`DEFAULT_MAX`]; `0` turns it off and
//!   gc empties it):
//!   past the cap the least recently written entries go.
//! - An entry is a file in the object format (header, extension, payload; never a delta),
//!   written without fsync: it is only a copy. Every read decodes and verifies it against
//!   the id; one that does not verify is deleted and the chain is read instead. It is used
//!   only for an object that exists and is a delta, so it never makes a missing object
//!   appear. gc removes the entries of the objects it deletes and entries left without one.

use std::fs;
use std::path::{Path, PathBuf};

use super::ObjectStore;
use crate::error::{IoContext, Result};
use crate::id::ObjectId;

/// The cap when config.yaml sets none: a few versions of a large model.
pub const DEFAULT_MAX: u64 = 4 << 30;

/// Name prefix of an entry's temp file in `tmp/`.
pub(super) const TEMP: &str = ".keyframe-";

/// Deltas at least this deep get an entry. A delta of a keyframe reads in one residual
/// decode more (1.3× the keyframe where a tenth of the tensors changed, docs/BENCHMARKS.md);
/// caching those too made a store of six such versions 1.39× one version instead of 1.09×.
pub(super) const MIN_DEPTH: u8 = 2;

/// Where and how large.
#[derive(Clone, Debug)]
pub(crate) struct KeyframeCache {
    dir: PathBuf,
    max: u64,
}

impl KeyframeCache {
    /// A cache in `dir` of at most `max` bytes; 0 turns it off (nothing is read or
    /// written, and gc empties the directory).
    pub(crate) fn new(dir: PathBuf, max: u64) -> KeyframeCache {
        KeyframeCache { dir, max }
    }
}

/// What [`ObjectStore::sweep_keyframes`] removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct KeyframeSweep {
    pub entries: usize,
    pub bytes: u64,
}

impl ObjectStore {
    /// The cache when it is on.
    pub(super) fn keyframes_on(&self) -> Option<&KeyframeCache> {
        self.keyframes.as_ref().filter(|c| c.max > 0)
    }

    /// The cache's directory, on or off (what `du` measures).
    pub(crate) fn keyframe_dir(&self) -> Option<&Path> {
        self.keyframes.as_ref().map(|c| c.dir.as_path())
    }

    fn keyframe_path(&self, id: &ObjectId) -> Option<PathBuf> {
        self.keyframes_on().map(|c| c.dir.join(id.to_hex()))
    }

    /// The files a read of `id` starts with: the object, and its keyframe cache entry when
    /// it has one (what checkout reads ahead; entries, written with direct I/O like large
    /// objects, are not in the page cache after their commit).
    pub(crate) fn read_paths(&self, id: &ObjectId) -> impl Iterator<Item = PathBuf> {
        // A missing entry is skipped by the reader ahead (it cannot be opened).
        std::iter::once(self.path_of(id)).chain(self.keyframe_path(id))
    }

    /// The content of delta chunk `id` (`raw_len` bytes) from its cached keyframe, verified
    /// against the id; None when there is no usable entry (a bad one is deleted).
    pub(super) fn cached_keyframe(&self, id: &ObjectId, raw_len: u64) -> Option<Vec<u8>> {
        self.read_entry(id, raw_len).map(|(_, data)| data)
    }

    /// The cached keyframe's bytes as stored (the object format), after checking that they
    /// decode to the chunk: what a push sends for a delta object instead of encoding it
    /// again. None when there is no usable entry.
    pub(super) fn cached_keyframe_encoded(&self, id: &ObjectId, raw_len: u64) -> Option<Vec<u8>> {
        self.read_entry(id, raw_len).map(|(stored, _)| stored)
    }

    /// An entry's bytes as stored and its decoded, verified content; a bad entry is
    /// deleted.
    fn read_entry(&self, id: &ObjectId, raw_len: u64) -> Option<(Vec<u8>, Vec<u8>)> {
        let path = self.keyframe_path(id)?;
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut crate::fsutil::open_regular(&path).ok()?, &mut buf).ok()?;
        match decode_entry(id, &buf, raw_len) {
            Some(data) => Some((buf, data)),
            None => {
                let _ = fs::remove_file(&path);
                None
            }
        }
    }

    /// Store `parts` (a standalone object encoding of `id`) as its cache entry: through a
    /// temp file, renamed into place, not synced. Best effort: a cache that cannot be
    /// written only means slower reads, so nothing here fails the caller.
    pub(super) fn write_keyframe(&self, id: &ObjectId, parts: &[&[u8]]) {
        let Some(path) = self.keyframe_path(id) else {
            return;
        };
        let write = || -> std::io::Result<()> {
            if let Some(dir) = path.parent() {
                fs::create_dir_all(dir)?;
            }
            let mut tmp = tempfile::Builder::new()
                .prefix(TEMP)
                .tempfile_in(&self.tmp)?;
            crate::fsutil::write_parts(tmp.as_file_mut(), parts)?;
            // Readable by whoever can read the objects (a shared store), as they are.
            tmp.as_file().set_permissions(super::read_only_perms())?;
            tmp.persist(&path).map_err(|e| e.error)?;
            Ok(())
        };
        let _ = write();
    }

    /// After new objects are named: drop the entries of chunks that new ones followed
    /// (`superseded`), then bring the cache under its cap, oldest entries first. Best
    /// effort, as every cache write.
    pub(super) fn settle_keyframes(&self, superseded: &[ObjectId], wrote: bool) {
        let Some(cache) = self.keyframes_on() else {
            return;
        };
        for id in superseded {
            let _ = fs::remove_file(cache.dir.join(id.to_hex()));
        }
        if wrote {
            let _ = trim(&cache.dir, cache.max);
        }
    }

    /// Remove the cache entry of `id` (gc deleted the object).
    pub(super) fn remove_keyframe(&self, id: &ObjectId) {
        if let Some(path) = self.keyframe_path(id) {
            let _ = fs::remove_file(path);
        }
    }

    /// gc: remove entries whose object is gone or is no longer a delta, and anything else
    /// in the cache directory (temp names of an interrupted write); with the cache off,
    /// every entry. Runs under gc's exclusive store lock.
    pub(crate) fn sweep_keyframes(&self) -> Result<KeyframeSweep> {
        let mut swept = KeyframeSweep::default();
        let Some(cache) = &self.keyframes else {
            return Ok(swept);
        };
        let rd = match fs::read_dir(&cache.dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(swept),
            Err(e) => return Err(crate::Error::io("listing", &cache.dir, e)),
        };
        for ent in rd {
            let ent = ent.ctx("listing", &cache.dir)?;
            let name = ent.file_name().to_string_lossy().into_owned();
            let keep = cache.max > 0
                && ObjectId::from_hex(&name)
                    .is_some_and(|id| matches!(self.delta_ref(&id), Ok(Some(_))));
            if !keep {
                let bytes = ent.metadata().map_or(0, |m| m.len());
                if fs::remove_file(ent.path()).is_ok() {
                    swept.entries += 1;
                    swept.bytes += bytes;
                }
            }
        }
        Ok(swept)
    }
}

/// Decode and verify a cache entry: it must be a standalone encoding (`decode` refuses a
/// delta) of a chunk of `raw_len` bytes that hashes to `id`.
fn decode_entry(id: &ObjectId, buf: &[u8], raw_len: u64) -> Option<Vec<u8>> {
    let (kind, data) = super::decode(id, buf).ok()?;
    (kind == super::Kind::Chunk && data.len() as u64 == raw_len).then_some(data)
}

/// Remove the oldest entries (by modification time) until the cache holds at most `max`
/// bytes.
fn trim(dir: &Path, max: u64) -> std::io::Result<()> {
    let mut entries = Vec::new();
    let mut total = 0u64;
    for ent in fs::read_dir(dir)? {
        let ent = ent?;
        let md = ent.metadata()?;
        total += md.len();
        entries.push((md.modified()?, md.len(), ent.path()));
    }
    if total <= max {
        return Ok(());
    }
    entries.sort();
    for (_, len, path) in entries {
        if total <= max {
            break;
        }
        if fs::remove_file(&path).is_ok() {
            total -= len;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::tests::{floats, step};
    use super::super::{test_store, Codec, Kind, ObjectStore};
    use super::*;

    type TestResult = std::result::Result<(), Box<dyn std::error::Error>>;

    fn cached_store(d: &Path, max: u64) -> ObjectStore {
        test_store(d).with_keyframe_cache(Some(KeyframeCache::new(d.join("keyframes"), max)))
    }

    fn entries(d: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(d.join("keyframes"))
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    /// A fine-tune of three steps: a keyframe and two deltas (the second deep enough for
    /// an entry).
    fn chain(s: &ObjectStore) -> Result<Vec<(ObjectId, Vec<u8>)>> {
        chain_from(s, 31)
    }

    fn chain_from(s: &ObjectStore, seed: u64) -> Result<Vec<(ObjectId, Vec<u8>)>> {
        let mut data = floats(65_536, seed);
        let mut out = Vec::new();
        let mut base = None;
        for k in 0..3 {
            if k > 0 {
                data = step(&data, 1e-3, seed + 10 + k);
            }
            let p = s.put_chunk(&data, base)?;
            s.flush()?;
            base = Some(p.id);
            out.push((p.id, data.clone()));
        }
        Ok(out)
    }

    #[test]
    fn the_head_of_a_chain_has_a_keyframe_and_a_chunk_that_became_a_base_does_not() -> TestResult {
        let d = tempfile::tempdir()?;
        let s = cached_store(d.path(), DEFAULT_MAX);
        let v = chain(&s)?;
        assert_eq!(s.header(&v[1].0)?.codec, Codec::Delta);
        assert_eq!(s.header(&v[2].0)?.codec, Codec::Delta);
        // Only the delta at depth MIN_DEPTH has an entry.
        assert_eq!(entries(d.path()), vec![v[2].0.to_hex()]);
        for (id, want) in &v {
            assert_eq!(&s.get(id)?.1, want);
            assert_eq!(&s.get_stored(id)?.1, want);
            let mut got = Vec::new();
            s.read_chunk_into(id, want.len() as u64, &mut |p| {
                got.extend_from_slice(p);
                Ok(())
            })?;
            assert_eq!(&got, want);
        }
        // What a push sends for the delta: the cached standalone encoding, which decodes
        // alone.
        let sent = s.read_encoded(&v[2].0)?;
        assert_eq!(
            sent,
            fs::read(d.path().join("keyframes").join(v[2].0.to_hex()))?
        );
        assert_eq!(
            super::super::decode(&v[2].0, &sent)?,
            (Kind::Chunk, v[2].1.clone())
        );
        Ok(())
    }

    #[test]
    fn a_damaged_or_foreign_cache_entry_is_never_served_and_is_deleted() -> TestResult {
        let d = tempfile::tempdir()?;
        let s = cached_store(d.path(), DEFAULT_MAX);
        let v = chain(&s)?;
        let entry = d.path().join("keyframes").join(v[2].0.to_hex());
        // Flipped bytes, then another chunk's keyframe under this name, then junk: each
        // read is right (from the chain) and the entry is gone after it.
        let mut bytes = fs::read(&entry)?;
        let n = bytes.len();
        bytes[n / 2] ^= 0x10;
        let other = s.read_encoded(&v[0].0)?;
        for bad in [bytes, other, b"junk".to_vec()] {
            // Entries are read-only, as objects: replaced, not written over.
            let _ = fs::remove_file(&entry);
            fs::write(&entry, &bad)?;
            assert_eq!(s.get(&v[2].0)?.1, v[2].1);
            assert!(!entry.exists());
            fs::write(&entry, &bad)?;
            let sent = s.read_encoded(&v[2].0)?;
            assert_ne!(sent, bad);
            assert_eq!(super::super::decode(&v[2].0, &sent)?.1, v[2].1);
        }
        Ok(())
    }

    #[test]
    fn fsck_reads_the_chain_not_the_cache() -> TestResult {
        let d = tempfile::tempdir()?;
        let s = cached_store(d.path(), DEFAULT_MAX);
        let v = chain(&s)?;
        // The middle of the chain damaged: the head still reads from its keyframe, but the
        // object as stored does not decode, and get_stored says so.
        let path = s.path_of(&v[1].0);
        let mut bytes = fs::read(&path)?;
        let n = bytes.len();
        bytes[n - 50] ^= 0x40;
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644))?;
        fs::write(&path, &bytes)?;
        assert_eq!(s.get(&v[2].0)?.1, v[2].1);
        let err = s.get_stored(&v[2].0).unwrap_err().to_string();
        assert!(err.contains("delta base"), "{err}");
        Ok(())
    }

    #[test]
    fn the_cap_trims_the_oldest_entries_and_gc_removes_entries_without_their_object() -> TestResult
    {
        let d = tempfile::tempdir()?;
        // A cap below one entry: none stays, and reads go through the chain.
        let s = cached_store(d.path(), 1000);
        let v = chain(&s)?;
        assert!(entries(d.path()).is_empty());
        assert_eq!(s.get(&v[2].0)?.1, v[2].1);
        // A cap of about one entry: the older chain's head entry goes, the newer stays.
        let d2 = tempfile::tempdir()?;
        let s2 = cached_store(d2.path(), DEFAULT_MAX);
        let older = chain(&s2)?;
        let size = fs::metadata(d2.path().join("keyframes").join(older[2].0.to_hex()))?.len();
        let s2 = cached_store(d2.path(), size * 3 / 2);
        let newer = chain_from(&s2, 77)?;
        assert_eq!(entries(d2.path()), vec![newer[2].0.to_hex()]);
        // No cap: the entry stays until gc removes its object, and a stray file goes at the
        // next sweep.
        let d = tempfile::tempdir()?;
        let s = cached_store(d.path(), DEFAULT_MAX);
        let v = chain(&s)?;
        fs::write(d.path().join("keyframes").join(".keyframe-left"), b"x")?;
        assert_eq!(s.sweep_keyframes()?.entries, 1);
        assert_eq!(entries(d.path()), vec![v[2].0.to_hex()]);
        s.remove(&v[2].0)?;
        assert!(entries(d.path()).is_empty());
        // An entry whose object is gone is not served, and the sweep removes it.
        fs::write(
            d.path().join("keyframes").join(v[2].0.to_hex()),
            s.read_encoded(&v[0].0)?,
        )?;
        assert!(s.get(&v[2].0).is_err());
        assert_eq!(s.sweep_keyframes()?.entries, 1);
        // Off (cap 0): no directory at all.
        let d = tempfile::tempdir()?;
        let s = cached_store(d.path(), 0);
        chain(&s)?;
        assert!(!d.path().join("keyframes").exists());
        Ok(())
    }
}
