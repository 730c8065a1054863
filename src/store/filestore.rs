//! Storing whole files as chunks plus a manifest, and restoring them.
//!
//! A file's id is blake3 of its whole content (what `b3sum FILE` prints). Its manifest is
//! a small text object listing the chunks in order:
//!
//! ```text
//! mreg-manifest 1
//! size <bytes>
//! blake3 <file id>
//! <chunk id> <chunk length>
//! ...
//! ```
//!
//! Storing memory-maps the file, cuts it (`chunker`), and hashes, compresses and writes the
//! chunks in parallel (rayon), so memory stays bounded by the threads' chunks in flight.
//! Restoring preallocates the output and writes verified chunks at their offsets in
//! parallel, the workers taking the chunks in manifest order.

use std::fs::{self, File};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use rayon::prelude::*;

use crate::chunker;
use crate::error::{Error, IoContext, Result};
use crate::id::ObjectId;
use crate::object::{Framed, Kind, ObjectStore, Prepared};

/// Threads that write a file's new objects while the workers encode the next ones: two
/// keep the device busy while one waits for a direct write.
const WRITERS: usize = 2;
/// Encoded chunks waiting for a writer, at most (each up to `chunker::MAX_CHUNK`).
const WRITE_QUEUE: usize = 4;
/// Files of fewer chunks are written by the workers themselves: starting writer threads
/// for each of 2,000 small files would cost more than it overlaps.
const PIPELINE_MIN_CHUNKS: usize = 4;

/// Progress callback: called with a number of bytes just processed.
pub type ProgressFn<'a> = &'a (dyn Fn(u64) + Sync);

/// One chunk of a manifest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkRef {
    pub id: ObjectId,
    pub len: u64,
}

/// A parsed manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manifest {
    pub size: u64,
    pub blake3: ObjectId,
    pub chunks: Vec<ChunkRef>,
}

impl Manifest {
    pub fn encode(&self) -> Vec<u8> {
        let mut s = String::with_capacity(64 + self.chunks.len() * 80);
        s.push_str("mreg-manifest 1\n");
        s.push_str(&format!("size {}\nblake3 {}\n", self.size, self.blake3));
        for c in &self.chunks {
            s.push_str(&format!("{} {}\n", c.id, c.len));
        }
        s.into_bytes()
    }

    pub fn parse(id: &ObjectId, bytes: &[u8]) -> Result<Manifest> {
        let bad = |why: &str| Error::CorruptObject {
            id: id.to_hex(),
            why: format!("bad manifest: {why}"),
        };
        let text = std::str::from_utf8(bytes).map_err(|_| bad("not UTF-8"))?;
        let mut lines = text.lines();
        if lines.next() != Some("mreg-manifest 1") {
            return Err(bad("unknown manifest version"));
        }
        let size = lines
            .next()
            .and_then(|l| l.strip_prefix("size "))
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or_else(|| bad("missing size"))?;
        let blake3 = lines
            .next()
            .and_then(|l| l.strip_prefix("blake3 "))
            .and_then(ObjectId::from_hex)
            .ok_or_else(|| bad("missing blake3"))?;
        let mut chunks = Vec::new();
        let mut total = 0u64;
        for l in lines {
            let (h, n) = l.split_once(' ').ok_or_else(|| bad("bad chunk line"))?;
            let id = ObjectId::from_hex(h).ok_or_else(|| bad("bad chunk id"))?;
            let len: u64 = n.parse().map_err(|_| bad("bad chunk length"))?;
            total = total.checked_add(len).ok_or_else(|| bad("size overflow"))?;
            chunks.push(ChunkRef { id, len });
        }
        if total != size {
            return Err(bad("chunk lengths do not add up to the size"));
        }
        Ok(Manifest {
            size,
            blake3,
            chunks,
        })
    }
}

/// What storing one file did.
#[derive(Clone, Debug)]
pub struct StoredFile {
    pub blake3: ObjectId,
    pub size: u64,
    pub manifest: ObjectId,
    pub executable: bool,
    pub chunks: usize,
    pub new_chunks: usize,
    /// Bytes written to the store (compressed, headers included).
    pub stored_bytes: u64,
    /// Stat of the file as it was read (for the work tree's stat cache).
    pub stat: FileStat,
}

/// The stat fields that tell whether a file changed since it was last hashed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FileStat {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub mtime_ns: i128,
    pub ctime_ns: i128,
}

impl FileStat {
    pub fn of(md: &fs::Metadata) -> FileStat {
        FileStat {
            dev: md.dev(),
            ino: md.ino(),
            size: md.len(),
            mtime_ns: md.mtime() as i128 * 1_000_000_000 + md.mtime_nsec() as i128,
            ctime_ns: md.ctime() as i128 * 1_000_000_000 + md.ctime_nsec() as i128,
        }
    }
}

/// Map a file read-only (None for an empty file, which mmap refuses).
fn map_file(path: &Path, file: &File, len: u64) -> Result<Option<memmap2::Mmap>> {
    if len == 0 {
        return Ok(None);
    }
    // SAFETY: the map is read-only and private to this call. A concurrent writer that
    // truncates the file could fault the process; concurrent modification is detected by
    // the stat comparison after reading and reported as ChangedWhileReading.
    let map = unsafe { memmap2::Mmap::map(file) }.ctx("memory-mapping", path)?;
    Ok(Some(map))
}

/// Hash a file's whole content (the file id, same as `b3sum`), in parallel.
pub fn hash_file(path: &Path) -> Result<(ObjectId, FileStat)> {
    let file = File::open(path).ctx("opening", path)?;
    let md = file.metadata().ctx("reading metadata of", path)?;
    let map = map_file(path, &file, md.len())?;
    let mut h = blake3::Hasher::new();
    if let Some(m) = &map {
        h.update_rayon(m);
    }
    Ok((ObjectId::from_blake3(h.finalize()), FileStat::of(&md)))
}

/// Store `path` (a regular file) into `objects`. `base`: the manifest of the same file in
/// the parent version; a file of its size is cut at its cut points (`chunker`), and its
/// chunks may serve as delta bases (`store::delta`) for the changed chunks at the same
/// offset and of the same length.
pub fn store_file(
    objects: &ObjectStore,
    path: &Path,
    base: Option<&Manifest>,
    progress: ProgressFn,
) -> Result<StoredFile> {
    let file = File::open(path).ctx("opening", path)?;
    let md = file.metadata().ctx("reading metadata of", path)?;
    if !md.is_file() {
        return Err(Error::UnsupportedFile {
            path: path.to_path_buf(),
            why: "not a regular file".into(),
        });
    }
    let before = FileStat::of(&md);
    let map = map_file(path, &file, md.len())?;
    let data: &[u8] = map.as_deref().unwrap_or(&[]);
    let previous: Option<Vec<u64>> = base.map(|m| m.chunks.iter().map(|c| c.len).collect());
    let spans = chunker::chunk_spans_following(data, previous.as_deref());
    let bases: std::collections::HashMap<(u64, u64), ObjectId> = base
        .map(|m| {
            let mut off = 0u64;
            m.chunks
                .iter()
                .map(|c| {
                    off += c.len;
                    ((off - c.len, c.len), c.id)
                })
                .collect()
        })
        .unwrap_or_default();

    let stored = AtomicU64::new(0);
    let new_chunks = AtomicU64::new(0);
    // Counted where an object is written (by a writer thread, or inline).
    let write = |framed: Framed| -> Result<()> {
        let put = objects.write_framed(framed)?;
        if put.stored_bytes > 0 {
            stored.fetch_add(put.stored_bytes, Ordering::Relaxed);
            new_chunks.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    };
    let (whole, chunk_ids) = if spans.len() < PIPELINE_MIN_CHUNKS {
        // A small file: written by the worker that encoded it (no threads to start).
        hash_and_encode(objects, data, &spans, &bases, progress, &write)
    } else {
        // Workers hash and encode chunks; `WRITERS` threads write them, so that encoding
        // overlaps with the disk (large objects are written with direct I/O, which waits for
        // the device). The queue bounds the encoded chunks in flight. After an error the
        // writers keep draining the queue, unwritten, so no worker stays blocked on it.
        let (queue, inbox) = std::sync::mpsc::sync_channel::<Framed>(WRITE_QUEUE);
        let inbox = Mutex::new(inbox);
        let failed = AtomicBool::new(false);
        let first_error: Mutex<Option<Error>> = Mutex::new(None);
        let writer = || loop {
            let next = inbox.lock().unwrap_or_else(|e| e.into_inner()).recv();
            // Every sender is gone: all chunks were handed over.
            let Ok(framed) = next else {
                return;
            };
            if failed.load(Ordering::Relaxed) {
                continue;
            }
            if let Err(e) = write(framed) {
                failed.store(true, Ordering::Relaxed);
                first_error
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get_or_insert(e);
            }
        };
        let result = std::thread::scope(|scope| {
            let writers: Vec<_> = (0..WRITERS).map(|_| scope.spawn(writer)).collect();
            let result = hash_and_encode(objects, data, &spans, &bases, progress, &|framed| {
                // A write failed: stop encoding the rest (its error is the one returned).
                if failed.load(Ordering::Relaxed) {
                    return Err(Error::io("writing chunks of", path, writers_gone()));
                }
                // The receiver outlives the workers: a send cannot fail.
                queue
                    .send(framed)
                    .map_err(|_| Error::io("queueing a chunk of", path, writers_gone()))
            });
            drop(queue);
            let joined = writers.into_iter().all(|w| w.join().is_ok());
            (result, joined)
        });
        if let Some(e) = first_error.into_inner().unwrap_or_else(|e| e.into_inner()) {
            return Err(e);
        }
        match result {
            (r, true) => r,
            ((whole, _), false) => (
                whole,
                Err(Error::io("writing chunks of", path, writers_gone())),
            ),
        }
    };
    let chunks = chunk_ids?;
    let after = FileStat::of(&fs::metadata(path).ctx("reading metadata of", path)?);
    if after != before {
        return Err(Error::ChangedWhileReading {
            path: path.to_path_buf(),
        });
    }
    let manifest = Manifest {
        size: md.len(),
        blake3: whole,
        chunks,
    };
    let mput = objects.put(Kind::Manifest, &manifest.encode())?;
    use std::os::unix::fs::PermissionsExt;
    Ok(StoredFile {
        blake3: whole,
        size: md.len(),
        manifest: mput.id,
        executable: md.permissions().mode() & 0o111 != 0,
        chunks: manifest.chunks.len(),
        new_chunks: new_chunks.load(Ordering::Relaxed) as usize,
        stored_bytes: stored.load(Ordering::Relaxed) + mput.stored_bytes,
        stat: before,
    })
}

/// Hash and encode every chunk of `data` in parallel, handing each new one to `hand_over`
/// (which writes it); the whole file's hash alongside. Returns the file id and the chunks.
fn hash_and_encode<'a>(
    objects: &ObjectStore,
    data: &'a [u8],
    spans: &[chunker::Span],
    bases: &std::collections::HashMap<(u64, u64), ObjectId>,
    progress: ProgressFn,
    hand_over: &(dyn Fn(Framed<'a>) -> Result<()> + Sync),
) -> (ObjectId, Result<Vec<ChunkRef>>) {
    rayon::join(
        || {
            let mut h = blake3::Hasher::new();
            h.update_rayon(data);
            ObjectId::from_blake3(h.finalize())
        },
        || {
            spans
                .par_iter()
                .map(|s| {
                    let bytes = &data[s.offset..s.offset + s.len];
                    let base = bases.get(&(s.offset as u64, s.len as u64)).copied();
                    let id = match objects.prepare_chunk(bytes, base)? {
                        Prepared::Exists(id) => id,
                        Prepared::New(framed) => {
                            let id = framed.id();
                            hand_over(framed)?;
                            id
                        }
                    };
                    progress(s.len as u64);
                    Ok(ChunkRef {
                        id,
                        len: s.len as u64,
                    })
                })
                .collect()
        },
    )
}

fn writers_gone() -> std::io::Error {
    std::io::Error::other("an object writer thread stopped")
}

/// Read and parse a manifest object.
pub fn load_manifest(objects: &ObjectStore, id: &ObjectId) -> Result<Manifest> {
    let bytes = objects.get_kind(id, Kind::Manifest)?;
    Manifest::parse(id, &bytes)
}

/// A source of verified chunk content: streams chunk `c` to the sink in order (pieces of
/// any size), and returns Ok only once the content is verified against its id. On error
/// the sink may have received unverified bytes: the output is then discarded.
pub type ChunkSource<'a> =
    &'a (dyn Fn(&ChunkRef, &mut dyn FnMut(&[u8]) -> Result<()>) -> Result<()> + Sync);

/// Write the content described by `manifest` into `out` (already created, empty, and a
/// temp file that the caller discards on error), with chunks from `read` (the store's
/// `read_chunk_into`, or a remote), checking each chunk's length against the manifest.
/// `out` is extended to the full size first.
pub fn restore_from(
    manifest: &Manifest,
    out: &File,
    out_path: &Path,
    progress: ProgressFn,
    read: ChunkSource,
) -> Result<()> {
    preallocate(out, manifest.size).ctx("preallocating", out_path)?;
    let mut offsets = Vec::with_capacity(manifest.chunks.len());
    let mut off = 0u64;
    for c in &manifest.chunks {
        offsets.push(off);
        off += c.len;
    }
    // The workers take the chunks in manifest order, the order checkout reads them ahead.
    let chunks = &manifest.chunks;
    crate::ordered::try_for_each(chunks.len(), |i| -> Result<()> {
        let (c, off) = (&chunks[i], offsets[i]);
        let mut at = 0u64;
        read(c, &mut |piece: &[u8]| -> Result<()> {
            if at + piece.len() as u64 > c.len {
                return Err(too_long(c));
            }
            out.write_all_at(piece, off + at).ctx("writing", out_path)?;
            at += piece.len() as u64;
            Ok(())
        })?;
        if at != c.len {
            return Err(Error::CorruptObject {
                id: c.id.to_hex(),
                why: format!("chunk is {at} bytes, its manifest says {}", c.len),
            });
        }
        progress(c.len);
        Ok(())
    })
}

fn too_long(c: &ChunkRef) -> Error {
    Error::CorruptObject {
        id: c.id.to_hex(),
        why: format!("chunk is longer than the {} bytes its manifest says", c.len),
    }
}

/// Give `out` its final size with its blocks allocated up front (`fallocate`), so writing
/// the chunks does not reserve delayed-allocation blocks page by page, and renaming the
/// finished file over the one it replaces does not make ext4 write it back on the spot
/// (`auto_da_alloc` flushes only delayed-allocation blocks: it was 14% of a 1 GiB
/// checkout). A full disk fails here, before any writing. Where the filesystem cannot
/// preallocate, a sparse `set_len`.
fn preallocate(out: &File, size: u64) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    if size > 0 {
        // SAFETY: a plain syscall on an open file descriptor that `out` owns.
        let r = unsafe { libc::fallocate(out.as_raw_fd(), 0, 0, size as libc::off_t) };
        if r == 0 {
            return Ok(());
        }
    }
    out.set_len(size)
}

/// Read a stored file fully into memory (small files only: notes, params, patches).
pub fn read_small(objects: &ObjectStore, manifest_id: &ObjectId) -> Result<Vec<u8>> {
    let m = load_manifest(objects, manifest_id)?;
    let mut out = Vec::with_capacity(m.size as usize);
    for c in &m.chunks {
        out.extend_from_slice(&read_chunk(objects, c)?);
    }
    Ok(out)
}

/// Read one chunk of a manifest, verified (by hash, in `get`) and as long as the manifest
/// says: a manifest is untrusted input, and a length that disagrees with the chunk would
/// make every offset after it lie. The one read path for file data.
pub(crate) fn read_chunk(objects: &ObjectStore, c: &ChunkRef) -> Result<Vec<u8>> {
    let data = objects.get_kind(&c.id, Kind::Chunk)?;
    if data.len() as u64 != c.len {
        return Err(Error::CorruptObject {
            id: c.id.to_hex(),
            why: format!("chunk is {} bytes, its manifest says {}", data.len(), c.len),
        });
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_and_restore_round_trip() {
        let d = tempfile::tempdir().unwrap();
        let s = crate::object::test_store(d.path());
        let src = d.path().join("f.bin");
        let content: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
        fs::write(&src, &content).unwrap();
        let st = store_file(&s, &src, None, &|_| {}).unwrap();
        s.flush().unwrap();
        assert_eq!(st.blake3.as_bytes(), blake3::hash(&content).as_bytes());
        assert_eq!(st.size, content.len() as u64);
        let m = load_manifest(&s, &st.manifest).unwrap();
        assert_eq!(Manifest::parse(&st.manifest, &m.encode()).unwrap(), m);
        let out_path = d.path().join("out.bin");
        let out = File::create(&out_path).unwrap();
        restore_from(&m, &out, &out_path, &|_| {}, &|c, sink| {
            s.read_chunk_into(&c.id, c.len, sink)
        })
        .unwrap();
        assert_eq!(fs::read(&out_path).unwrap(), content);
        // Second store writes nothing new.
        assert_eq!(store_file(&s, &src, None, &|_| {}).unwrap().stored_bytes, 0);
    }

    /// Guards the writer threads' error path: a write that fails (here: the temp
    /// directory is gone) is the error store_file returns, for a file of more chunks than
    /// the queue holds (the workers stop encoding, none stays blocked on the queue), and
    /// nothing is named.
    #[test]
    fn a_failed_object_write_is_reported_without_hanging() {
        let d = tempfile::tempdir().unwrap();
        let s = crate::object::test_store(d.path());
        let src = d.path().join("f.bin");
        let mut r = crate::planes::tests::rng(1);
        let content: Vec<u8> = (0..12_000_000).map(|_| r() as u8).collect();
        fs::write(&src, &content).unwrap();
        fs::remove_dir(d.path().join("tmp")).unwrap();
        let err = store_file(&s, &src, None, &|_| {}).unwrap_err();
        assert!(err.to_string().contains("temp file"), "{err}");
        s.flush().unwrap();
        let (ids, _) = s.list().unwrap();
        assert!(ids.is_empty(), "{ids:?}");
        // With the directory back, the same file stores (every chunk, in order).
        fs::create_dir(d.path().join("tmp")).unwrap();
        let st = store_file(&s, &src, None, &|_| {}).unwrap();
        assert!(st.chunks > WRITE_QUEUE + WRITERS, "{} chunks", st.chunks);
        assert_eq!(st.new_chunks, st.chunks);
        s.flush().unwrap();
        let m = load_manifest(&s, &st.manifest).unwrap();
        let out: Vec<u8> = m
            .chunks
            .iter()
            .flat_map(|c| read_chunk(&s, c).unwrap())
            .collect();
        assert_eq!(out, content);
    }

    /// Guards the order of a restore's reads: the workers take the chunks front to back
    /// (what checkout's read-ahead fetches first), not the halves of the file that a
    /// parallel split would give them, where the second worker starts mid-file and waits
    /// for reads the read-ahead reaches last (docs/BENCHMARKS.md, "Chunks in manifest
    /// order").
    #[test]
    fn restore_reads_chunks_in_manifest_order() {
        let d = tempfile::tempdir().unwrap();
        let pieces: Vec<Vec<u8>> = (0..64u32)
            .map(|i| vec![i as u8; 1000 + i as usize])
            .collect();
        let m = Manifest {
            size: pieces.iter().map(|p| p.len() as u64).sum(),
            blake3: ObjectId::hash(&pieces.concat()),
            chunks: pieces
                .iter()
                .map(|p| ChunkRef {
                    id: ObjectId::hash(p),
                    len: p.len() as u64,
                })
                .collect(),
        };
        let index: std::collections::HashMap<ObjectId, usize> = m
            .chunks
            .iter()
            .enumerate()
            .map(|(i, c)| (c.id, i))
            .collect();
        let started = Mutex::new(Vec::new());
        let out_path = d.path().join("out.bin");
        let out = File::create(&out_path).unwrap();
        let threads = 2;
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            restore_from(&m, &out, &out_path, &|_| {}, &|c, sink| {
                let i = index[&c.id];
                started.lock().unwrap().push(i);
                std::thread::sleep(std::time::Duration::from_millis(1));
                sink(&pieces[i])
            })
        })
        .unwrap();
        assert_eq!(fs::read(&out_path).unwrap(), pieces.concat());
        let started = started.into_inner().unwrap();
        assert_eq!(started.len(), pieces.len());
        for (at, &i) in started.iter().enumerate() {
            assert!(
                at.abs_diff(i) <= threads,
                "chunk {i} started {at}th: {started:?}"
            );
        }
    }

    #[test]
    fn empty_file() {
        let d = tempfile::tempdir().unwrap();
        let s = crate::object::test_store(d.path());
        let src = d.path().join("empty");
        fs::write(&src, b"").unwrap();
        let st = store_file(&s, &src, None, &|_| {}).unwrap();
        assert_eq!(st.blake3, ObjectId::hash(b""));
        assert_eq!(st.chunks, 0);
    }
}
