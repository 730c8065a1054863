//! Differences between two commits: params, metrics, files, and inside safetensors files,
//! tensors.
//!
//! Files are read straight from the store through their manifests, a chunk at a time, so a
//! multi-GB model is never loaded whole. For safetensors files the header is parsed with
//! the `safetensors` crate; each tensor present in both versions is:
//! - *identical* when its byte range is covered by the same chunk ids in both (mreg cuts
//!   chunks at tensor boundaries, so this needs no data read), or when its bytes are equal;
//! - *reshaped* when its dtype or shape changed;
//! - otherwise *changed*, with the max absolute difference and the relative L2 change
//!   `||new - old|| / ||old||`, computed in one streaming pass.
//!
//! A tensor removed under one name and added under another with the same dtype, shape and
//! bytes is reported as *renamed*. Files of other formats get a byte-level summary (sizes,
//! chunks changed): never an error.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::commit::{Commit, FileEntry};
use crate::error::Result;
use crate::filestore::{load_manifest, Manifest};
use crate::id::ObjectId;
use crate::object::ObjectStore;
use crate::query::flatten;

/// Reads byte ranges of a stored file through its manifest: chunks from the store, or,
/// for those it does not hold, from a remote (`with_remote`; each verified against its id).
pub struct ManifestReader<'a> {
    objects: &'a ObjectStore,
    manifest: Manifest,
    offsets: Vec<u64>,
    cache: RefCell<Option<(usize, std::rc::Rc<Vec<u8>>)>>,
    remote: Option<crate::remote::ChunkFetcher<'a>>,
}

impl<'a> ManifestReader<'a> {
    pub fn new(objects: &'a ObjectStore, manifest_id: &ObjectId) -> Result<Self> {
        Ok(Self::of(objects, load_manifest(objects, manifest_id)?))
    }

    /// A reader of an already loaded manifest.
    pub fn of(objects: &'a ObjectStore, manifest: Manifest) -> Self {
        let mut offsets = Vec::with_capacity(manifest.chunks.len() + 1);
        let mut off = 0;
        for c in &manifest.chunks {
            offsets.push(off);
            off += c.len;
        }
        offsets.push(off);
        ManifestReader {
            objects,
            manifest,
            offsets,
            cache: RefCell::new(None),
            remote: None,
        }
    }

    /// Read the chunks this store does not hold through `remote`.
    pub fn with_remote(mut self, remote: Option<crate::remote::ChunkFetcher<'a>>) -> Self {
        self.remote = remote;
        self
    }

    /// Whether some chunk is not in this store.
    pub fn missing_chunks(&self) -> bool {
        self.manifest
            .chunks
            .iter()
            .any(|c| !self.objects.exists(&c.id))
    }

    /// Bytes read from the remote so far (as stored there: compressed).
    pub fn bytes_fetched(&self) -> u64 {
        self.remote.as_ref().map_or(0, |f| f.bytes_fetched())
    }

    pub fn size(&self) -> u64 {
        self.manifest.size
    }

    fn chunk(&self, i: usize) -> Result<std::rc::Rc<Vec<u8>>> {
        if let Some((j, d)) = self.cache.borrow().as_ref() {
            if *j == i {
                return Ok(d.clone());
            }
        }
        // Verified and length-checked: a lying manifest would make offsets lie (and reads
        // loop or slice out of bounds).
        let c = &self.manifest.chunks[i];
        let d = std::rc::Rc::new(match &self.remote {
            Some(f) if !self.objects.exists(&c.id) => {
                let d = f.chunk(c)?;
                if d.len() as u64 != c.len {
                    return Err(crate::Error::CorruptObject {
                        id: c.id.to_hex(),
                        why: format!("{} bytes, its manifest says {}", d.len(), c.len),
                    });
                }
                d
            }
            _ => crate::filestore::read_chunk(self.objects, c)?,
        });
        *self.cache.borrow_mut() = Some((i, d.clone()));
        Ok(d)
    }

    /// Bytes `[start, start + len)` (clamped to the file).
    pub fn read(&self, start: u64, len: u64) -> Result<Vec<u8>> {
        let end = start.saturating_add(len).min(self.size());
        let mut out = Vec::with_capacity(end.saturating_sub(start) as usize);
        let mut pos = start;
        while pos < end {
            let i = self.offsets.partition_point(|&o| o <= pos) - 1;
            let data = self.chunk(i)?;
            let from = (pos - self.offsets[i]) as usize;
            let to = ((end - self.offsets[i]) as usize).min(data.len());
            out.extend_from_slice(&data[from..to]);
            pos = self.offsets[i] + to as u64;
        }
        Ok(out)
    }

    /// The chunk ids covering exactly `[start, end)`, when both are chunk boundaries.
    fn chunk_ids(&self, start: u64, end: u64) -> Option<Vec<ObjectId>> {
        let a = self.offsets.binary_search(&start).ok()?;
        let b = self.offsets.binary_search(&end).ok()?;
        Some(self.manifest.chunks[a..b].iter().map(|c| c.id).collect())
    }
}

/// One tensor's description.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TensorInfo {
    pub name: String,
    pub dtype: String,
    pub shape: Vec<usize>,
    /// The tensor's bytes in the file, `[start, end)` (absolute offsets).
    #[serde(skip)]
    pub(crate) start: u64,
    #[serde(skip)]
    pub(crate) end: u64,
}

/// A stored safetensors file's tensors and its `__metadata__` map.
pub struct SafetensorsHeader {
    pub tensors: BTreeMap<String, TensorInfo>,
    pub metadata: BTreeMap<String, String>,
}

/// The tensors of a stored safetensors file, or None when it is not one.
pub fn tensors(r: &ManifestReader) -> Option<BTreeMap<String, TensorInfo>> {
    header(r).map(|h| h.tensors)
}

/// The header of a stored safetensors file, or None when it is not one (any malformed
/// header, however crafted, is "not safetensors", never a panic).
pub fn header(r: &ManifestReader) -> Option<SafetensorsHeader> {
    let first8 = r.read(0, 8).ok()?;
    let n = crate::store::safetensors::header_len(&first8, r.size())?;
    let h = crate::store::safetensors::parse(&r.read(8, n).ok()?, r.size())?;
    let tensors = h
        .tensors
        .into_iter()
        .map(|t| {
            let info = TensorInfo {
                name: t.name.clone(),
                dtype: t.dtype,
                shape: t.shape,
                start: t.start,
                end: t.end,
            };
            (t.name, info)
        })
        .collect();
    Some(SafetensorsHeader {
        tensors,
        metadata: h.metadata,
    })
}

/// How a tensor present in both versions changed numerically.
#[derive(Clone, Debug, Serialize)]
pub struct TensorChange {
    pub name: String,
    pub dtype: String,
    pub shape: Vec<usize>,
    /// None for dtypes mreg does not decode (then only `changed_bytes` is known).
    pub max_abs_diff: Option<f64>,
    pub rel_l2: Option<f64>,
    pub changed_bytes: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Reshape {
    pub name: String,
    pub old: TensorInfo,
    pub new: TensorInfo,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct TensorDiff {
    pub added: Vec<TensorInfo>,
    pub removed: Vec<TensorInfo>,
    pub renamed: Vec<(String, String)>,
    pub reshaped: Vec<Reshape>,
    pub changed: Vec<TensorChange>,
    pub identical: Vec<String>,
    /// `__metadata__` keys whose value changed, was added or removed.
    pub metadata_changed: Vec<String>,
}

/// A byte-level summary for formats mreg does not parse.
#[derive(Clone, Debug, Serialize)]
pub struct ByteDiff {
    pub old_chunks: usize,
    pub new_chunks: usize,
    /// Chunks of the new version that the old one does not have.
    pub changed_chunks: usize,
    pub changed_chunk_bytes: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct FileDiff {
    pub path: String,
    /// added, removed, changed, unchanged
    pub status: &'static str,
    pub old_size: Option<u64>,
    pub new_size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tensors: Option<TensorDiff>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<ByteDiff>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ValueChange {
    pub key: String,
    pub old: Option<serde_json::Value>,
    pub new: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delta: Option<f64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct CommitDiff {
    pub old: ObjectId,
    pub new: ObjectId,
    pub params: Vec<ValueChange>,
    pub metrics: Vec<ValueChange>,
    pub files: Vec<FileDiff>,
}

fn value_changes(
    a: &BTreeMap<String, serde_json::Value>,
    b: &BTreeMap<String, serde_json::Value>,
) -> Vec<ValueChange> {
    let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| {
            let (o, n) = (a.get(k).cloned(), b.get(k).cloned());
            let delta = match (
                o.as_ref().and_then(|v| v.as_f64()),
                n.as_ref().and_then(|v| v.as_f64()),
            ) {
                (Some(x), Some(y)) => Some(y - x),
                _ => None,
            };
            ValueChange {
                key: k.clone(),
                old: o,
                new: n,
                delta,
            }
        })
        .collect()
}

/// Diff two commits. With `deep`, changed files are compared inside (tensors or chunks).
pub fn diff_commits(
    objects: &ObjectStore,
    (ia, a): (ObjectId, &Commit),
    (ib, b): (ObjectId, &Commit),
    deep: bool,
) -> Result<CommitDiff> {
    let (mut pa, mut pb) = (BTreeMap::new(), BTreeMap::new());
    flatten("", &a.params, &mut pa);
    flatten("", &b.params, &mut pb);
    let to_json = |m: &BTreeMap<String, f64>| -> BTreeMap<String, serde_json::Value> {
        m.iter()
            .map(|(k, v)| (k.clone(), serde_json::json!(v)))
            .collect()
    };
    let fa: BTreeMap<&str, &FileEntry> = a.files.iter().map(|f| (f.path.as_str(), f)).collect();
    let fb: BTreeMap<&str, &FileEntry> = b.files.iter().map(|f| (f.path.as_str(), f)).collect();
    let paths: BTreeSet<&str> = fa.keys().chain(fb.keys()).copied().collect();
    let mut files = Vec::new();
    for p in paths {
        let (x, y) = (fa.get(p), fb.get(p));
        let mut d = FileDiff {
            path: p.to_string(),
            status: "unchanged",
            old_size: x.map(|f| f.size),
            new_size: y.map(|f| f.size),
            tensors: None,
            bytes: None,
        };
        match (x, y) {
            (None, Some(_)) => d.status = "added",
            (Some(_), None) => d.status = "removed",
            (Some(x), Some(y)) if x.blake3 != y.blake3 => {
                d.status = "changed";
                if deep {
                    diff_file(objects, x, y, &mut d)?;
                }
            }
            _ => {}
        }
        files.push(d);
    }
    Ok(CommitDiff {
        old: ia,
        new: ib,
        params: value_changes(&pa, &pb),
        metrics: value_changes(&to_json(&a.metrics), &to_json(&b.metrics)),
        files,
    })
}

fn diff_file(objects: &ObjectStore, x: &FileEntry, y: &FileEntry, d: &mut FileDiff) -> Result<()> {
    let (ra, rb) = (
        ManifestReader::new(objects, &x.manifest)?,
        ManifestReader::new(objects, &y.manifest)?,
    );
    if let (Some(ha), Some(hb)) = (header(&ra), header(&rb)) {
        let mut t = diff_tensors(&ra, &rb, &ha.tensors, &hb.tensors)?;
        let keys: BTreeSet<&String> = ha.metadata.keys().chain(hb.metadata.keys()).collect();
        t.metadata_changed = keys
            .into_iter()
            .filter(|k| ha.metadata.get(*k) != hb.metadata.get(*k))
            .cloned()
            .collect();
        d.tensors = Some(t);
        return Ok(());
    }
    let old: BTreeSet<ObjectId> = ra.manifest.chunks.iter().map(|c| c.id).collect();
    let new_only: Vec<_> = rb
        .manifest
        .chunks
        .iter()
        .filter(|c| !old.contains(&c.id))
        .collect();
    d.bytes = Some(ByteDiff {
        old_chunks: ra.manifest.chunks.len(),
        new_chunks: rb.manifest.chunks.len(),
        changed_chunks: new_only.len(),
        changed_chunk_bytes: new_only.iter().map(|c| c.len).sum(),
    });
    Ok(())
}

/// A key identifying a tensor's bytes: its chunk ids when chunk-aligned, else its blake3.
fn content_key(r: &ManifestReader, t: &TensorInfo) -> Result<String> {
    if let Some(ids) = r.chunk_ids(t.start, t.end) {
        return Ok(format!(
            "chunks:{}",
            ids.iter().map(|i| i.to_hex()).collect::<Vec<_>>().join(",")
        ));
    }
    let mut h = blake3::Hasher::new();
    let mut pos = t.start;
    while pos < t.end {
        let n = (t.end - pos).min(1 << 20);
        h.update(&r.read(pos, n)?);
        pos += n;
    }
    Ok(format!("b3:{}", h.finalize().to_hex()))
}

fn diff_tensors(
    ra: &ManifestReader,
    rb: &ManifestReader,
    ta: &BTreeMap<String, TensorInfo>,
    tb: &BTreeMap<String, TensorInfo>,
) -> Result<TensorDiff> {
    let mut out = TensorDiff::default();
    let mut removed: Vec<&TensorInfo> = ta.values().filter(|t| !tb.contains_key(&t.name)).collect();
    let mut added: Vec<&TensorInfo> = tb.values().filter(|t| !ta.contains_key(&t.name)).collect();
    // Renames: a removed and an added tensor with the same dtype, shape and bytes.
    if !removed.is_empty() && !added.is_empty() {
        let mut keys = BTreeMap::new();
        for t in &removed {
            keys.insert(
                (t.dtype.clone(), t.shape.clone(), content_key(ra, t)?),
                t.name.clone(),
            );
        }
        let mut renamed_to = BTreeSet::new();
        for t in &added {
            if let Some(from) =
                keys.remove(&(t.dtype.clone(), t.shape.clone(), content_key(rb, t)?))
            {
                out.renamed.push((from.clone(), t.name.clone()));
                renamed_to.insert(t.name.clone());
                removed.retain(|r| r.name != from);
            }
        }
        added.retain(|t| !renamed_to.contains(&t.name));
    }
    out.removed = removed.into_iter().cloned().collect();
    out.added = added.into_iter().cloned().collect();
    for (name, a) in ta {
        let Some(b) = tb.get(name) else { continue };
        if a.dtype != b.dtype || a.shape != b.shape {
            out.reshaped.push(Reshape {
                name: name.clone(),
                old: a.clone(),
                new: b.clone(),
            });
            continue;
        }
        if let (Some(x), Some(y)) = (ra.chunk_ids(a.start, a.end), rb.chunk_ids(b.start, b.end)) {
            if x == y {
                out.identical.push(name.clone());
                continue;
            }
        }
        match compare_tensor(ra, rb, a, b)? {
            None => out.identical.push(name.clone()),
            Some(c) => out.changed.push(c),
        }
    }
    Ok(out)
}

/// Decode little-endian elements of a known dtype into f64.
fn decode(dtype: &str, b: &[u8]) -> Option<Vec<f64>> {
    fn f16(h: u16) -> f64 {
        let s = if h >> 15 == 1 { -1.0 } else { 1.0 };
        let e = ((h >> 10) & 0x1f) as i32;
        let m = (h & 0x3ff) as f64;
        match e {
            0 => s * m * 2f64.powi(-24),
            31 => {
                if m == 0.0 {
                    s * f64::INFINITY
                } else {
                    f64::NAN
                }
            }
            _ => s * (1.0 + m / 1024.0) * 2f64.powi(e - 15),
        }
    }
    macro_rules! le {
        ($t:ty, $n:expr) => {
            b.chunks_exact($n)
                .map(|c| <$t>::from_le_bytes(c.try_into().expect("exact")) as f64)
                .collect()
        };
    }
    Some(match dtype {
        "F32" => le!(f32, 4),
        "F64" => le!(f64, 8),
        "F16" => b
            .chunks_exact(2)
            .map(|c| f16(u16::from_le_bytes([c[0], c[1]])))
            .collect(),
        "BF16" => b
            .chunks_exact(2)
            .map(|c| f32::from_bits((u16::from_le_bytes([c[0], c[1]]) as u32) << 16) as f64)
            .collect(),
        "I8" => le!(i8, 1),
        "U8" => le!(u8, 1),
        "I16" => le!(i16, 2),
        "U16" => le!(u16, 2),
        "I32" => le!(i32, 4),
        "U32" => le!(u32, 4),
        "I64" => le!(i64, 8),
        "U64" => le!(u64, 8),
        "BOOL" => b.iter().map(|&x| (x != 0) as u8 as f64).collect(),
        _ => return None,
    })
}

fn elem_size(dtype: &str) -> u64 {
    match dtype {
        "F64" | "I64" | "U64" => 8,
        "F32" | "I32" | "U32" => 4,
        "F16" | "BF16" | "I16" | "U16" => 2,
        _ => 1,
    }
}

/// Stream both tensors in aligned pieces; None when byte-identical.
fn compare_tensor(
    ra: &ManifestReader,
    rb: &ManifestReader,
    a: &TensorInfo,
    b: &TensorInfo,
) -> Result<Option<TensorChange>> {
    let len = a.end - a.start;
    let es = elem_size(&a.dtype);
    let piece = ((1u64 << 20) / es).max(1) * es;
    let (mut max_abs, mut diff2, mut base2) = (0f64, 0f64, 0f64);
    let mut changed_bytes = 0u64;
    let mut numeric = true;
    let mut off = 0;
    while off < len {
        let n = piece.min(len - off);
        let (x, y) = (ra.read(a.start + off, n)?, rb.read(b.start + off, n)?);
        changed_bytes += x.iter().zip(&y).filter(|(p, q)| p != q).count() as u64;
        if numeric {
            match (decode(&a.dtype, &x), decode(&a.dtype, &y)) {
                (Some(xs), Some(ys)) => {
                    for (p, q) in xs.iter().zip(&ys) {
                        let d = q - p;
                        if d.abs() > max_abs || d.is_nan() {
                            max_abs = if d.is_nan() { f64::NAN } else { d.abs() };
                        }
                        diff2 += d * d;
                        base2 += p * p;
                    }
                }
                _ => numeric = false,
            }
        }
        off += n;
    }
    if changed_bytes == 0 {
        return Ok(None);
    }
    let rel = if base2 > 0.0 {
        diff2.sqrt() / base2.sqrt()
    } else {
        f64::INFINITY
    };
    Ok(Some(TensorChange {
        name: a.name.clone(),
        dtype: a.dtype.clone(),
        shape: a.shape.clone(),
        max_abs_diff: numeric.then_some(max_abs),
        rel_l2: numeric.then_some(rel),
        changed_bytes,
    }))
}

#[cfg(test)]
mod tests {
    use super::decode;

    #[test]
    fn half_precision_decoding() {
        // 1.0 and -2.0 in f16; 1.0 in bf16.
        assert_eq!(
            decode("F16", &[0x00, 0x3c, 0x00, 0xc0]).unwrap(),
            vec![1.0, -2.0]
        );
        assert_eq!(decode("BF16", &[0x80, 0x3f]).unwrap(), vec![1.0]);
        assert_eq!(decode("I16", &[0xff, 0xff]).unwrap(), vec![-1.0]);
        assert!(decode("F8_E4M3", &[0]).is_none());
    }
}
