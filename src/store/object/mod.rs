//! Loose, write-once objects: `objects/<2 hex>/<62 hex>`.
//!
//! An object is named by the blake3 hash of its *uncompressed* content, so the codec can
//! change without changing any id. On disk each object is a 16-byte header followed by an
//! optional extension and the payload:
//!
//! ```text
//! 0..4   magic "MRGO"
//! 4      header version (1)
//! 5      kind   (1 chunk, 2 manifest, 3 commit, 4 note, 5 blob)
//! 6      codec  (0 raw, 1 zstd, 2 byte planes: `store::planes`, 3 delta: `store::delta`)
//! 7      extension length in bytes (the plane layout for codec 2, the base, chain depth
//!        and residual layout for codec 3, else 0)
//! 8..16  uncompressed length, u64 little-endian
//! 16..   extension, then payload
//! ```
//!
//! A write is two steps, so that encoding and the disk overlap: `prepare_chunk` hashes and
//! encodes (the encoders are in `encode`), `write_framed` writes a temp file in `tmp/`
//! (large ones with direct I/O: `fsutil::write_parts`) and may run on another thread.
//! `flush()` makes every pending object durable with one filesystem sync, renames them into
//! place and makes the renames durable, and callers run it before any commit or ref refers
//! to the new objects. Every read checks the header, bounds decompression by the recorded
//! length, and verifies the hash. A delta object (codec 3) is read by reading its base
//! (verified in turn) and applying its residual, or from its keyframe cache entry when it
//! heads a chain (`keyframes`); it is never sent to a remote as it is
//! (`ObjectStore::read_encoded` gives its standalone encoding), so a store's chains stay
//! local and a remote's objects always decode alone.

use std::borrow::Cow;
use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::error::{Error, IoContext, Result};
use crate::fsutil;
use crate::id::ObjectId;

const MAGIC: &[u8; 4] = b"MRGO";
const HEADER_VERSION: u8 = 1;
/// Size of the fixed header.
pub const HEADER_LEN: usize = 16;
/// Name prefix of an object's temp file in `tmp/`.
const OBJECT_TEMP: &str = ".obj-";
/// Name prefixes of the temp files written only under the store lock (objects, keyframe
/// cache entries): gc, holding that lock exclusively, knows them for garbage at once.
pub(crate) const STORE_LOCKED_TEMPS: [&str; 2] = [OBJECT_TEMP, keyframes::TEMP];
/// Largest uncompressed object accepted on read: bounds allocation driven by object data.
pub const MAX_OBJECT_LEN: u64 = 1 << 30;

/// What an object holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Chunk = 1,
    Manifest = 2,
    Commit = 3,
    Note = 4,
    Blob = 5,
}

impl Kind {
    fn from_u8(b: u8) -> Option<Kind> {
        Some(match b {
            1 => Kind::Chunk,
            2 => Kind::Manifest,
            3 => Kind::Commit,
            4 => Kind::Note,
            5 => Kind::Blob,
            _ => return None,
        })
    }
    pub fn name(self) -> &'static str {
        match self {
            Kind::Chunk => "chunk",
            Kind::Manifest => "manifest",
            Kind::Commit => "commit",
            Kind::Note => "note",
            Kind::Blob => "blob",
        }
    }
}

/// How the payload is encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codec {
    Raw = 0,
    Zstd = 1,
    /// Float data split into byte planes, the compressible ones zstd-coded
    /// (`store::planes`); the layout is in the header extension.
    Planes = 2,
    /// The difference from a base chunk of the same length (`store::delta`); the base id,
    /// chain depth and residual layout are in the header extension.
    Delta = 3,
}

/// Compression settings for new objects.
#[derive(Clone, Copy, Debug)]
pub struct CompressPolicy {
    /// zstd level.
    pub level: i32,
    /// Store raw when zstd saves less than this fraction (e.g. 0.05 = 5%): such chunks
    /// check out faster raw and the disk saving is small.
    pub min_saving: f64,
    /// Store float data as byte planes when they save at least `PLANES_MIN_SAVING`.
    pub planes: bool,
    /// Longest delta chain a new object may end (0: never write deltas).
    pub delta_max_depth: u8,
}

/// Byte planes decode at memory speed (measured 2.4–3.1 GB/s per thread), so they are
/// used from a small saving on (fp16 weights save about 15%).
const PLANES_MIN_SAVING: f64 = 0.03;

thread_local! {
    /// The plane compressor of this thread (its zstd context is reused across objects).
    static PLANE_COMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Compressor<'static>>> =
        const { std::cell::RefCell::new(None) };
}

impl Default for CompressPolicy {
    fn default() -> Self {
        // Measured (docs/BENCHMARKS.md): zstd saves ~7.5% on float32 weights but doubles
        // commit CPU and slows checkout; below a 10% saving a chunk is stored raw.
        CompressPolicy {
            level: 3,
            min_saving: 0.10,
            planes: true,
            delta_max_depth: DEFAULT_DELTA_DEPTH,
        }
    }
}

/// Default bound on delta chains: six checkpoints of a fine-tune (a keyframe and five
/// deltas) share one chain; checkout of the deepest reads six objects per chunk
/// (docs/BENCHMARKS.md measures what that costs).
pub const DEFAULT_DELTA_DEPTH: u8 = 5;

/// A delta is kept only when it is at most this fraction of the standalone encoding:
/// a delta costs its base's decoding on every read, so it must clearly pay.
const DELTA_MAX_FRACTION: f64 = 0.8;

/// Piece size for streamed reads (`read_chunk_into`): small enough to stay in a core's
/// cache between decoding, hashing and writing.
const PIECE: usize = 256 * 1024;

/// Bytes trial-compressed to decide whether a large object is worth compressing.
const SAMPLE: usize = 64 * 1024;

/// An encoded object: its codec, header extension and payload.
type Encoded = (Codec, Vec<u8>, Vec<u8>);

/// An object ready to write: header, extension, payload (the data itself when raw).
type Frame<'a> = ([u8; HEADER_LEN], Vec<u8>, Cow<'a, [u8]>);

/// An object opened for reading, its header and extension read.
type Opened = (File, Header, Vec<u8>);

/// Parsed header of a stored object.
#[derive(Clone, Copy, Debug)]
pub struct Header {
    pub kind: Kind,
    pub codec: Codec,
    pub raw_len: u64,
    ext_len: usize,
}

fn parse_header(id: &ObjectId, buf: &[u8]) -> Result<Header> {
    let corrupt = |why: &str| Error::CorruptObject {
        id: id.to_hex(),
        why: why.to_string(),
    };
    if buf.len() < HEADER_LEN || &buf[0..4] != MAGIC {
        return Err(corrupt("bad header magic"));
    }
    if buf[4] != HEADER_VERSION {
        return Err(corrupt(&format!("unknown header version {}", buf[4])));
    }
    let kind = Kind::from_u8(buf[5]).ok_or_else(|| corrupt("unknown object kind"))?;
    let codec = match buf[6] {
        0 => Codec::Raw,
        1 => Codec::Zstd,
        2 => Codec::Planes,
        3 => Codec::Delta,
        c => return Err(corrupt(&format!("unknown codec {c}"))),
    };
    let ext_len = buf[7] as usize;
    let mut len = [0u8; 8];
    len.copy_from_slice(&buf[8..16]);
    let raw_len = u64::from_le_bytes(len);
    if raw_len > MAX_OBJECT_LEN {
        return Err(corrupt("recorded length is implausibly large"));
    }
    Ok(Header {
        kind,
        codec,
        raw_len,
        ext_len,
    })
}

/// Result of a `put`.
#[derive(Clone, Copy, Debug)]
pub struct Put {
    pub id: ObjectId,
    /// Bytes written to disk (0 when the object already existed).
    pub stored_bytes: u64,
}

/// A new object encoded and framed, not yet written ([`ObjectStore::write_framed`]).
pub(crate) struct Framed<'a> {
    id: ObjectId,
    header: [u8; HEADER_LEN],
    ext: Vec<u8>,
    /// The encoded payload, or the data itself when stored raw.
    payload: Cow<'a, [u8]>,
    /// The parent version's chunk this one follows (delta or not): no longer the head of
    /// its line, its keyframe cache entry goes (`keyframes`).
    base: Option<ObjectId>,
    /// A delta's standalone encoding, for the keyframe cache.
    keyframe: Option<Frame<'a>>,
}

impl Framed<'_> {
    pub(crate) fn id(&self) -> ObjectId {
        self.id
    }
}

/// What [`ObjectStore::prepare_chunk`] found: the object exists (or is pending), or it is
/// new and encoded.
pub(crate) enum Prepared<'a> {
    Exists(ObjectId),
    New(Framed<'a>),
}

/// The loose object directory of a store.
#[derive(Debug)]
pub struct ObjectStore {
    dir: PathBuf,
    tmp: PathBuf,
    policy: CompressPolicy,
    pending: Mutex<Pending>,
    keyframes: Option<keyframes::KeyframeCache>,
}

/// Objects written to temp files but not yet durable and named (see `flush`).
#[derive(Debug, Default)]
struct Pending {
    ids: std::collections::HashSet<ObjectId>,
    objects: Vec<(ObjectId, tempfile::TempPath)>,
    /// The chunks the new ones follow: their keyframe cache entries go once these are named.
    superseded: Vec<ObjectId>,
    /// Whether a keyframe cache entry was written (the cache's cap is checked at flush).
    wrote_keyframes: bool,
}

impl ObjectStore {
    pub fn new(dir: PathBuf, tmp: PathBuf, policy: CompressPolicy) -> Self {
        ObjectStore {
            dir,
            tmp,
            policy,
            pending: Mutex::new(Pending::default()),
            keyframes: None,
        }
    }

    /// Keep a keyframe cache of chain heads (`keyframes`); None: no cache.
    pub(crate) fn with_keyframe_cache(mut self, cache: Option<keyframes::KeyframeCache>) -> Self {
        self.keyframes = cache;
        self
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The path an object lives at.
    pub fn path_of(&self, id: &ObjectId) -> PathBuf {
        let hex = id.to_hex();
        self.dir.join(&hex[..2]).join(&hex[2..])
    }

    pub fn exists(&self, id: &ObjectId) -> bool {
        self.path_of(id).is_file()
    }

    /// Store `data` as an object of `kind`; a no-op when it already exists.
    pub(crate) fn put(&self, kind: Kind, data: &[u8]) -> Result<Put> {
        let id = ObjectId::hash(data);
        self.put_with_id(id, kind, data)
    }

    /// Store `data` whose id the caller already computed (it must be blake3 of `data`).
    pub(crate) fn put_with_id(&self, id: ObjectId, kind: Kind, data: &[u8]) -> Result<Put> {
        self.put_inner(id, kind, data, None)
    }

    /// Store a chunk, as a delta against `base` (the same block of the parent version)
    /// when that is clearly smaller than storing it alone and the chain stays within the
    /// policy's depth. A base that is missing, unreadable or of another length is simply
    /// not used.
    #[cfg(test)]
    pub(crate) fn put_chunk(&self, data: &[u8], base: Option<ObjectId>) -> Result<Put> {
        self.put_inner(ObjectId::hash(data), Kind::Chunk, data, base)
    }

    fn put_inner(
        &self,
        id: ObjectId,
        kind: Kind,
        data: &[u8],
        base: Option<ObjectId>,
    ) -> Result<Put> {
        match self.prepare(id, kind, data, base)? {
            Prepared::Exists(id) => Ok(Put {
                id,
                stored_bytes: 0,
            }),
            Prepared::New(framed) => self.write_framed(framed),
        }
    }

    /// The first half of [`ObjectStore::put_chunk`]: hash and encode a chunk, without
    /// writing it. A writer thread then hands it to [`ObjectStore::write_framed`], so that
    /// encoding the next chunks overlaps with this one's disk write (`filestore`).
    pub(crate) fn prepare_chunk<'a>(
        &self,
        data: &'a [u8],
        base: Option<ObjectId>,
    ) -> Result<Prepared<'a>> {
        self.prepare(ObjectId::hash(data), Kind::Chunk, data, base)
    }

    fn prepare<'a>(
        &self,
        id: ObjectId,
        kind: Kind,
        data: &'a [u8],
        base: Option<ObjectId>,
    ) -> Result<Prepared<'a>> {
        debug_assert_eq!(id, ObjectId::hash(data));
        let path = self.path_of(&id);
        if path.is_file() || self.pending_lock().ids.contains(&id) {
            return Ok(Prepared::Exists(id));
        }
        let base = base.filter(|b| *b != id && kind == Kind::Chunk);
        let delta = match base {
            Some(base) => self.encode_delta(data, base, &path)?,
            None => None,
        };
        let framed = |encoded: Option<Encoded>| {
            let (codec, ext, payload) = match encoded {
                Some((codec, ext, payload)) => (codec, ext, Cow::Owned(payload)),
                None => (Codec::Raw, Vec::new(), Cow::Borrowed(data)),
            };
            (frame(kind, codec, ext.len(), data.len()), ext, payload)
        };
        let (header, ext, payload, keyframe) = match delta {
            Some(d) => {
                // The new head of a chain deep enough to be slow to read: its standalone
                // encoding (the delta's planes layout, already chosen) for the cache too.
                let keyframe = match self.keyframes_on() {
                    Some(_) if d.depth >= keyframes::MIN_DEPTH => {
                        Some(framed(self.encode_planes(data, d.layout, &path)?))
                    }
                    _ => None,
                };
                let (h, e, p) = framed(Some(d.encoded));
                (h, e, p, keyframe)
            }
            _ => {
                let (h, e, p) = framed(self.encode(data, &path)?);
                (h, e, p, None)
            }
        };
        Ok(Prepared::New(Framed {
            id,
            header,
            ext,
            payload,
            base,
            keyframe,
        }))
    }

    /// Write an encoded object to a temp file and add it to the pending objects (named by
    /// the next [`ObjectStore::flush`]). Safe to call from several threads.
    pub(crate) fn write_framed(&self, framed: Framed) -> Result<Put> {
        let Framed {
            id,
            header,
            ext,
            payload,
            base,
            keyframe,
        } = framed;
        let exists = Put {
            id,
            stored_bytes: 0,
        };
        if self.pending_lock().ids.contains(&id) {
            return Ok(exists);
        }
        if let Some((h, e, p)) = &keyframe {
            self.write_keyframe(&id, &[h, e, p]);
        }
        let Some(mut pending) = self.stage(id, &[&header, &ext, &payload])? else {
            return Ok(exists);
        };
        pending.superseded.extend(base);
        pending.wrote_keyframes |= keyframe.is_some();
        Ok(Put {
            id,
            stored_bytes: (HEADER_LEN + ext.len() + payload.len()) as u64,
        })
    }

    /// Write an object's bytes (`parts`, one after the other) to a temp file and add it to
    /// the pending objects, returned locked; None when another writer added it first. Not
    /// synced nor named yet: `flush` makes all pending objects durable with one filesystem
    /// sync, then names them. The temp file is deleted if never flushed.
    fn stage(
        &self,
        id: ObjectId,
        parts: &[&[u8]],
    ) -> Result<Option<std::sync::MutexGuard<'_, Pending>>> {
        let mut tmp = tempfile::Builder::new()
            .prefix(OBJECT_TEMP)
            .tempfile_in(&self.tmp)
            .ctx("creating temp file in", &self.tmp)?;
        let path_of_tmp = tmp.path().to_path_buf();
        fsutil::write_parts(tmp.as_file_mut(), parts).ctx("writing object", path_of_tmp)?;
        // Objects are read-only once named, as in git.
        let _ = tmp.as_file().set_permissions(read_only_perms());
        let mut pending = self.pending_lock();
        if !pending.ids.insert(id) {
            return Ok(None);
        }
        pending.objects.push((id, tmp.into_temp_path()));
        Ok(Some(pending))
    }

    /// Store an object received in its on-disk encoding (from a remote). The caller has
    /// already verified `buf` with [`decode`] against `id`; a no-op when it exists.
    pub(crate) fn put_encoded(&self, id: ObjectId, buf: &[u8]) -> Result<Put> {
        let path = self.path_of(&id);
        if path.is_file() || self.pending_lock().ids.contains(&id) {
            return Ok(Put {
                id,
                stored_bytes: 0,
            });
        }
        self.stage(id, &[buf])?;
        Ok(Put {
            id,
            stored_bytes: buf.len() as u64,
        })
    }

    /// The object's bytes as stored (header and encoded payload), unverified: for sending
    /// to a remote, whose readers verify them. A delta object is sent in its standalone
    /// encoding (decoded, verified and encoded again): a remote never holds a chain, so
    /// fetching one version never needs another version's objects.
    pub(crate) fn read_encoded(&self, id: &ObjectId) -> Result<Vec<u8>> {
        let path = self.path_of(id);
        let mut buf = Vec::new();
        let mut f = open_object(id, &path)?;
        f.read_to_end(&mut buf).ctx("reading object", &path)?;
        if buf.len() < HEADER_LEN || buf[6] != Codec::Delta as u8 {
            return Ok(buf);
        }
        if let Some(kf) = parse_header(id, &buf)
            .ok()
            .and_then(|h| self.cached_keyframe_encoded(id, h.raw_len))
        {
            return Ok(kf);
        }
        let (kind, data) = self.get(id)?;
        let encoded = self.encode(&data, &path)?;
        let (codec, ext, payload) = match &encoded {
            Some((codec, ext, payload)) => (*codec, ext.as_slice(), payload.as_slice()),
            None => (Codec::Raw, &[][..], data.as_slice()),
        };
        let mut out = Vec::with_capacity(HEADER_LEN + ext.len() + payload.len());
        out.extend_from_slice(&frame(kind, codec, ext.len(), data.len()));
        out.extend_from_slice(ext);
        out.extend_from_slice(payload);
        Ok(out)
    }

    /// The base and chain depth of a delta object (None for any other codec), from its
    /// header alone: gc keeps bases alive and fsck checks chains without decoding.
    pub(crate) fn delta_ref(&self, id: &ObjectId) -> Result<Option<crate::delta::DeltaRef>> {
        let (_, h, ext) = self.open_with_header(id)?;
        delta_ref_of(id, h, &ext)
    }

    /// Open an object and read its header and extension: the one place every reader starts.
    fn open_with_header(&self, id: &ObjectId) -> Result<Opened> {
        let path = self.path_of(id);
        let mut f = open_object(id, &path)?;
        let corrupt = |why: &str| Error::CorruptObject {
            id: id.to_hex(),
            why: why.to_string(),
        };
        let mut head = [0u8; HEADER_LEN];
        f.read_exact(&mut head)
            .map_err(|_| corrupt("truncated header"))?;
        let h = parse_header(id, &head)?;
        let mut ext = vec![0u8; h.ext_len];
        f.read_exact(&mut ext)
            .map_err(|_| corrupt("truncated extension"))?;
        Ok((f, h, ext))
    }

    fn pending_lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().expect("pending set is never poisoned")
    }

    /// Make every object written so far durable and visible: one sync of the filesystem
    /// for all their contents, then each is renamed to its name, then the renames are made
    /// durable (a second `syncfs` on Linux, else an fsync per fan-out directory). Callers
    /// flush before anything refers to the new objects. (One `syncfs` costs far less than
    /// an fsync per object or directory: docs/BENCHMARKS.md.)
    pub(crate) fn flush(&self) -> Result<()> {
        let batch = std::mem::take(&mut *self.pending_lock());
        if batch.objects.is_empty() {
            return Ok(());
        }
        // Fan-out directories first, without an fsync each: the filesystem sync below
        // makes the new directories durable together with the objects' contents.
        let mut dirs = std::collections::BTreeSet::new();
        for (id, _) in &batch.objects {
            let path = self.path_of(id);
            let fanout = path.parent().expect("object paths have a fan-out parent");
            if dirs.insert(fanout.to_path_buf()) && !fanout.is_dir() {
                match fs::create_dir(fanout) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                    Err(e) => return Err(Error::io("creating directory", fanout, e)),
                }
            }
        }
        fsutil::sync_filesystem(&self.tmp, batch.objects.iter().map(|(_, p)| p.as_ref()))?;
        fsutil::fsync_dir(&self.dir)?;
        for (id, tmp) in batch.objects {
            let path = self.path_of(&id);
            match tmp.persist_noclobber(&path) {
                Ok(()) => {}
                // A concurrent writer stored the same object first: same bytes, same name.
                Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(Error::io("renaming object into place", &path, e.error)),
            }
        }
        fsutil::sync_dirs(&self.tmp, dirs.iter().map(|d| d.as_path()))?;
        self.settle_keyframes(&batch.superseded, batch.wrote_keyframes);
        Ok(())
    }

    /// Read only an object's header (cheap; used to tell commits from chunks).
    pub fn header(&self, id: &ObjectId) -> Result<Header> {
        self.open_with_header(id).map(|(_, h, _)| h)
    }

    /// Read, decode and verify an object.
    pub fn get(&self, id: &ObjectId) -> Result<(Kind, Vec<u8>)> {
        self.get_at(id, None, true, true).map(|(k, d, _)| (k, d))
    }

    /// Read, decode and verify an object as it is stored: a delta through its chain, never
    /// from the keyframe cache. What fsck checks (a cache entry can vanish; the chain is
    /// what the store promises).
    pub fn get_stored(&self, id: &ObjectId) -> Result<(Kind, Vec<u8>)> {
        self.get_at(id, None, true, false).map(|(k, d, _)| (k, d))
    }

    /// Read and decode an object; `want`: the chain depth a delta naming it as its base
    /// expects (None when it is read for itself). With `verify`, the result is checked
    /// against the id. Bases inside a chain are read without that check: the end of the
    /// chain is verified, and a mismatch there reads the chain again verifying every level,
    /// to name the damaged object. Returns the kind, the data and the chain depth.
    /// With `cache`, a delta with a keyframe cache entry reads from it (verified).
    fn get_at(
        &self,
        id: &ObjectId,
        want: Option<u8>,
        verify: bool,
        cache: bool,
    ) -> Result<(Kind, Vec<u8>, u8)> {
        let opened = self.open_with_header(id)?;
        self.decode_opened(id, opened, want, verify, cache)
    }

    /// The rest of `get_at`, for an object whose header and extension are read.
    fn decode_opened(
        &self,
        id: &ObjectId,
        (mut f, h, ext): Opened,
        want: Option<u8>,
        verify: bool,
        cache: bool,
    ) -> Result<(Kind, Vec<u8>, u8)> {
        let path = self.path_of(id);
        let corrupt = |why: String| Error::CorruptObject {
            id: id.to_hex(),
            why,
        };
        let checked = |data: Vec<u8>| -> Result<Vec<u8>> {
            if verify {
                return verify_data(id, h, data);
            }
            if data.len() as u64 != h.raw_len {
                return Err(corrupt(format!(
                    "length {} differs from the recorded {}",
                    data.len(),
                    h.raw_len
                )));
            }
            Ok(data)
        };
        if h.codec != Codec::Delta {
            if want.is_some_and(|w| w != 0) {
                return Err(corrupt(format!(
                    "a delta of depth {} names it as its base, but it is standalone",
                    want.unwrap_or(0) + 1
                )));
            }
            let data = if h.codec == Codec::Raw {
                // Straight into its final buffer: a raw object needs no copy.
                let mut payload = Vec::with_capacity(h.raw_len as usize);
                f.read_to_end(&mut payload).ctx("reading object", &path)?;
                payload
            } else {
                with_read_buffer(|buf| {
                    f.read_to_end(buf).ctx("reading object", &path)?;
                    decode_slice(id, h, &ext, buf)
                })?
            };
            return Ok((h.kind, checked(data)?, 0));
        }
        let (r, plane_ext) = crate::delta::DeltaRef::parse(&ext).map_err(corrupt)?;
        if want.is_some_and(|w| w != r.depth) {
            return Err(corrupt(format!(
                "delta chain depth {} where its delta expects {}",
                r.depth,
                want.unwrap_or(0)
            )));
        }
        if h.kind != Kind::Chunk {
            return Err(corrupt(format!("a delta {}", h.kind.name())));
        }
        // The head of a chain reads from its keyframe (verified there).
        if let Some(data) = cache.then(|| self.cached_keyframe(id, h.raw_len)).flatten() {
            return Ok((h.kind, data, r.depth));
        }
        let base_error = |e: Error| corrupt(format!("its delta base {}: {e}", r.base.short()));
        // The base first: it uses this thread's read buffer and gives it back.
        let (base_kind, mut data, _) = self
            .get_at(&r.base, Some(r.depth - 1), false, cache)
            .map_err(base_error)?;
        if base_kind != Kind::Chunk || data.len() as u64 != h.raw_len {
            return Err(corrupt(format!(
                "its delta base {} is a {} of {} bytes, not a chunk of {}",
                r.base.short(),
                base_kind.name(),
                data.len(),
                h.raw_len
            )));
        }
        with_read_buffer(|buf| {
            f.read_to_end(buf).ctx("reading object", &path)?;
            crate::delta::apply_coded(&mut data, plane_ext, buf)
                .map_err(|e| corrupt(format!("delta residual: {e}")))
        })?;
        match checked(data) {
            Ok(data) => Ok((h.kind, data, r.depth)),
            // Which object is damaged: the base (verified this time), or this delta.
            Err(e) => match self.get_at(&r.base, Some(r.depth - 1), true, cache) {
                Err(b) => Err(base_error(b)),
                Ok(_) => Err(e),
            },
        }
    }

    /// Stream a chunk's content to `sink` in order, in pieces that stay in the CPU's cache,
    /// hashing each piece as it goes, and verify the whole against the id at the end. The
    /// chunk must be `len` bytes long (its manifest's word). On any error `sink` may already
    /// have received bytes that are not the chunk's: callers write into a temp file that
    /// they discard on error. Checkout's read path: merging planes, hashing and writing a
    /// piece while it is hot saves two passes over memory per chunk.
    pub(crate) fn read_chunk_into(
        &self,
        id: &ObjectId,
        len: u64,
        sink: &mut dyn FnMut(&[u8]) -> Result<()>,
    ) -> Result<()> {
        let path = self.path_of(id);
        let (mut f, h, ext) = self.open_with_header(id)?;
        let corrupt = |why: String| Error::CorruptObject {
            id: id.to_hex(),
            why,
        };
        if h.kind != Kind::Chunk {
            return Err(corrupt(format!(
                "expected a chunk, found a {}",
                h.kind.name()
            )));
        }
        if h.raw_len != len {
            return Err(corrupt(format!(
                "chunk is {} bytes, its manifest says {len}",
                h.raw_len
            )));
        }
        let mut hasher = blake3::Hasher::new();
        let mut pass = |piece: &[u8]| -> Result<()> {
            hasher.update(piece);
            sink(piece)
        };
        match h.codec {
            Codec::Raw => with_read_buffer(|buf| -> Result<()> {
                buf.resize(PIECE, 0);
                let mut left = h.raw_len as usize;
                while left > 0 {
                    let want = left.min(PIECE);
                    f.read_exact(&mut buf[..want])
                        .map_err(|_| corrupt("shorter than its recorded length".into()))?;
                    pass(&buf[..want])?;
                    left -= want;
                }
                if f.read(&mut buf[..1]).ctx("reading object", &path)? != 0 {
                    return Err(corrupt("longer than its recorded length".into()));
                }
                Ok(())
            })?,
            Codec::Planes => with_read_buffer(|buf| -> Result<()> {
                f.read_to_end(buf).ctx("reading object", &path)?;
                crate::planes::decode_pieces(&ext, buf, h.raw_len as usize, PIECE, &mut pass)
                    .map_err(|e| corrupt(format!("byte planes: {e}")))?
            })?,
            Codec::Delta if self.keyframes_on().is_some() => {
                if let Some(data) = self.cached_keyframe(id, h.raw_len) {
                    // Verified against the id already.
                    for piece in data.chunks(PIECE) {
                        sink(piece)?;
                    }
                    return Ok(());
                }
                let (_, data, _) = self.decode_opened(id, (f, h, ext), None, false, true)?;
                for piece in data.chunks(PIECE) {
                    pass(piece)?;
                }
            }
            Codec::Zstd | Codec::Delta => {
                let (_, data, _) = self.decode_opened(id, (f, h, ext), None, false, true)?;
                for piece in data.chunks(PIECE) {
                    pass(piece)?;
                }
            }
        }
        let actual = ObjectId::from_blake3(hasher.finalize());
        if actual == *id {
            return Ok(());
        }
        if h.codec == Codec::Delta {
            // Name the damaged object of the chain.
            self.get(id)?;
        }
        Err(corrupt(format!("content hashes to {}", actual.short())))
    }

    /// Read an object and require its kind.
    pub fn get_kind(&self, id: &ObjectId, want: Kind) -> Result<Vec<u8>> {
        let (kind, data) = self.get(id)?;
        if kind != want {
            return Err(Error::CorruptObject {
                id: id.to_hex(),
                why: format!("expected a {}, found a {}", want.name(), kind.name()),
            });
        }
        Ok(data)
    }

    /// Size of the object file on disk.
    pub fn disk_size(&self, id: &ObjectId) -> Result<u64> {
        let p = self.path_of(id);
        Ok(fs::metadata(&p).ctx("reading metadata of", &p)?.len())
    }

    /// Delete an object (gc only).
    pub(crate) fn remove(&self, id: &ObjectId) -> Result<()> {
        self.remove_keyframe(id);
        let p = self.path_of(id);
        match fs::remove_file(&p) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io("removing object", p, e)),
        }
    }

    /// Every object id in the store, plus the paths of files that are not valid objects
    /// names (reported by fsck).
    pub fn list(&self) -> Result<(Vec<ObjectId>, Vec<PathBuf>)> {
        let mut ids = Vec::new();
        let mut strays = Vec::new();
        let rd = match fs::read_dir(&self.dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((ids, strays)),
            Err(e) => return Err(Error::io("listing", &self.dir, e)),
        };
        for fan in rd {
            let fan = fan.ctx("listing", &self.dir)?;
            let fname = fan.file_name().to_string_lossy().into_owned();
            if fname.len() != 2 || !fan.path().is_dir() {
                strays.push(fan.path());
                continue;
            }
            for ent in fs::read_dir(fan.path()).ctx("listing", fan.path())? {
                let ent = ent.ctx("listing", fan.path())?;
                let name = ent.file_name().to_string_lossy().into_owned();
                match ObjectId::from_hex(&format!("{fname}{name}")) {
                    Some(id) => ids.push(id),
                    None => strays.push(ent.path()),
                }
            }
        }
        ids.sort();
        Ok((ids, strays))
    }

    /// Object ids starting with `prefix` (lowercase hex, at least 2 digits).
    pub fn find_prefix(&self, prefix: &str) -> Result<Vec<ObjectId>> {
        let prefix = prefix.to_ascii_lowercase();
        if prefix.len() < 2 {
            return Ok(Vec::new());
        }
        let fan = self.dir.join(&prefix[..2]);
        let rd = match fs::read_dir(&fan) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io("listing", fan, e)),
        };
        let mut out = Vec::new();
        for ent in rd {
            let ent = ent.ctx("listing", &fan)?;
            let name = ent.file_name().to_string_lossy().into_owned();
            if name.starts_with(&prefix[2..]) {
                if let Some(id) = ObjectId::from_hex(&format!("{}{}", &prefix[..2], name)) {
                    out.push(id);
                }
            }
        }
        out.sort();
        Ok(out)
    }
}

fn open_object(id: &ObjectId, path: &Path) -> Result<File> {
    fsutil::open_regular(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::MissingObject { id: id.to_hex() },
        std::io::ErrorKind::InvalidData => Error::CorruptObject {
            id: id.to_hex(),
            why: e.to_string(),
        },
        _ => Error::io("opening object", path, e),
    })
}

/// Decode the on-disk bytes of object `id` and verify them against the id.
pub fn decode(id: &ObjectId, buf: &[u8]) -> Result<(Kind, Vec<u8>)> {
    let h = parse_header(id, buf)?;
    let start = HEADER_LEN + h.ext_len;
    let corrupt = |why: String| Error::CorruptObject {
        id: id.to_hex(),
        why,
    };
    if buf.len() < start {
        return Err(corrupt("truncated extension".into()));
    }
    if h.codec == Codec::Delta {
        return Err(corrupt(
            "a delta object, which stores never send (it needs its base)".into(),
        ));
    }
    let data = decode_slice(id, h, &buf[HEADER_LEN..start], &buf[start..])?;
    Ok((h.kind, verify_data(id, h, data)?))
}

/// The delta reference in an object's extension (None unless it is a delta).
fn delta_ref_of(id: &ObjectId, h: Header, ext: &[u8]) -> Result<Option<crate::delta::DeltaRef>> {
    if h.codec != Codec::Delta {
        return Ok(None);
    }
    let (r, _) = crate::delta::DeltaRef::parse(ext).map_err(|why| Error::CorruptObject {
        id: id.to_hex(),
        why,
    })?;
    Ok(Some(r))
}

/// The fixed header of an object.
fn frame(kind: Kind, codec: Codec, ext_len: usize, raw_len: usize) -> [u8; HEADER_LEN] {
    let mut header = [0u8; HEADER_LEN];
    header[0..4].copy_from_slice(MAGIC);
    header[4] = HEADER_VERSION;
    header[5] = kind as u8;
    header[6] = codec as u8;
    header[7] = u8::try_from(ext_len).expect("extensions are short");
    header[8..16].copy_from_slice(&(raw_len as u64).to_le_bytes());
    header
}

/// Decode a compressed or plane-coded payload (not verified).
fn decode_slice(id: &ObjectId, h: Header, ext: &[u8], payload: &[u8]) -> Result<Vec<u8>> {
    let corrupt = |why: String| Error::CorruptObject {
        id: id.to_hex(),
        why,
    };
    match h.codec {
        Codec::Raw => Ok(payload.to_vec()),
        Codec::Zstd => zstd::bulk::decompress(payload, h.raw_len as usize)
            .map_err(|e| corrupt(format!("zstd: {e}"))),
        Codec::Planes => crate::planes::decode(ext, payload, h.raw_len as usize)
            .map_err(|e| corrupt(format!("byte planes: {e}"))),
        Codec::Delta => Err(corrupt("a delta object read without its base".into())),
    }
}

thread_local! {
    /// This thread's buffer for encoded payloads, reused across reads (checkout reads a
    /// chunk per level of a delta chain; fresh 4 MiB buffers cost page faults each time).
    static READ_BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Run `f` with this thread's read buffer, emptied; a buffer grown past 64 MiB (a rare
/// large object) is released afterwards.
fn with_read_buffer<R>(f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
    READ_BUF.with(|cell| {
        let mut buf = cell.borrow_mut();
        buf.clear();
        let r = f(&mut buf);
        if buf.capacity() > 64 << 20 {
            *buf = Vec::new();
        }
        r
    })
}

/// Check decoded data against the recorded length and the id.
fn verify_data(id: &ObjectId, h: Header, data: Vec<u8>) -> Result<Vec<u8>> {
    let corrupt = |why: String| Error::CorruptObject {
        id: id.to_hex(),
        why,
    };
    if data.len() as u64 != h.raw_len {
        return Err(corrupt(format!(
            "length {} differs from the recorded {}",
            data.len(),
            h.raw_len
        )));
    }
    let actual = ObjectId::hash(&data);
    if actual != *id {
        return Err(corrupt(format!("content hashes to {}", actual.short())));
    }
    Ok(data)
}

fn read_only_perms() -> fs::Permissions {
    use std::os::unix::fs::PermissionsExt;
    fs::Permissions::from_mode(0o444)
}

/// An object store in `d` with the default policy (tests of this crate).
#[cfg(test)]
pub(crate) fn test_store(d: &Path) -> ObjectStore {
    fs::create_dir_all(d.join("objects")).expect("test dir");
    fs::create_dir_all(d.join("tmp")).expect("test dir");
    ObjectStore::new(d.join("objects"), d.join("tmp"), CompressPolicy::default())
}

mod encode;
pub(crate) mod keyframes;

#[cfg(test)]
mod tests;
