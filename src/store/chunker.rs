//! Where a file is cut into chunks.
//!
//! Content-defined chunking (FastCDC 2020) makes boundaries follow content, so an insertion
//! in the middle of a file changes only the chunks around it.
//!
//! Safetensors files are cut by their own structure instead: the header is one segment and
//! every tensor's byte range is cut into fixed 4 MiB blocks from the tensor's start. A
//! tensor's bytes never shift (its shape fixes its size; a shape change rewrites it anyway),
//! so content-defined boundaries buy nothing inside a tensor, while fixed blocks cost no
//! scan of the data at all and still isolate partial updates (changed rows of an embedding
//! touch only their blocks). A fine-tuning step that changes some tensors shares every
//! unchanged tensor's chunks byte for byte with the previous version, and no chunk ever
//! straddles two tensors.
//!
//! PyTorch checkpoints (`torch.save`'s zip of uncompressed storages) are cut the same way,
//! at each storage's data (`store::zip`).
//!
//! Other files of the same size as their previous version (a PyTorch checkpoint after a
//! fine-tuning step: same tensors, every value moved) are cut where the previous version
//! was cut ([`chunk_spans_following`]). Content-defined cut points would move with the
//! changed content, and then no new chunk would line up with an old one: neither dedup
//! nor a delta against the previous version's chunk (`store::delta`) could apply.

/// Chunk size limits (bytes). Chunks average 1 MiB: small enough for dedup inside big
/// tensors, large enough that per-object overhead (a file, an fsync) stays negligible.
pub const MIN_CHUNK: u32 = 256 * 1024;
pub const AVG_CHUNK: u32 = 1024 * 1024;
pub const MAX_CHUNK: u32 = 4 * 1024 * 1024;

/// Block size inside a safetensors tensor. Measured (docs/BENCHMARKS.md): with 1 MiB
/// blocks, creating ~1,100 object files per GiB cost more than hashing and syncing it.
pub const TENSOR_BLOCK: usize = 4 * 1024 * 1024;

/// A byte range of a file: `[offset, offset + len)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    pub offset: usize,
    pub len: usize,
}

/// Cut `data` into chunks covering it exactly, in order.
pub fn chunk_spans(data: &[u8]) -> Vec<Span> {
    let mut out = Vec::with_capacity(data.len() / AVG_CHUNK as usize + 1);
    if let Some(cuts) = structure_cuts(data) {
        for seg in spans_between(cuts, data.len()) {
            let mut off = seg.offset;
            let end = seg.offset + seg.len;
            while off < end {
                let len = TENSOR_BLOCK.min(end - off);
                out.push(Span { offset: off, len });
                off += len;
            }
        }
        return out;
    }
    for seg in segments(data) {
        let part = &data[seg.offset..seg.offset + seg.len];
        if part.len() <= MIN_CHUNK as usize {
            out.push(seg);
            continue;
        }
        for c in fastcdc::v2020::FastCDC::new(part, MIN_CHUNK, AVG_CHUNK, MAX_CHUNK) {
            out.push(Span {
                offset: seg.offset + c.offset,
                len: c.length,
            });
        }
    }
    out
}

/// Cut `data` as a previous version of the same file was cut (`previous`: its chunk
/// lengths in order) when `data` has the same size and no structure of its own
/// (safetensors, a zip of stored members); else as [`chunk_spans`] does. Lengths from a manifest are untrusted:
/// any that is zero or above `MAX_CHUNK`, or a total that differs, means "cut afresh".
pub fn chunk_spans_following(data: &[u8], previous: Option<&[u64]>) -> Vec<Span> {
    let usable = previous.filter(|p| {
        p.iter().all(|&l| l > 0 && l <= MAX_CHUNK as u64)
            && p.iter().sum::<u64>() == data.len() as u64
    });
    match usable {
        Some(lens) if structure_cuts(data).is_none() => {
            let mut off = 0;
            lens.iter()
                .map(|&l| {
                    let s = Span {
                        offset: off,
                        len: l as usize,
                    };
                    off += l as usize;
                    s
                })
                .collect()
        }
        _ => chunk_spans(data),
    }
}

/// Structural segments of a file: tensor ranges for safetensors and stored zip members,
/// else the whole file.
pub fn segments(data: &[u8]) -> Vec<Span> {
    if data.is_empty() {
        return Vec::new();
    }
    let whole = vec![Span {
        offset: 0,
        len: data.len(),
    }];
    match structure_cuts(data) {
        Some(cuts) => spans_between(cuts, data.len()),
        None => whole,
    }
}

/// The spans between sorted, deduplicated cut points (0 and `len` included).
fn spans_between(mut cuts: Vec<usize>, len: usize) -> Vec<Span> {
    cuts.push(0);
    cuts.push(len);
    cuts.sort_unstable();
    cuts.dedup();
    cuts.windows(2)
        .map(|w| Span {
            offset: w[0],
            len: w[1] - w[0],
        })
        .collect()
}

/// Byte offsets where tensors start and end: in a safetensors file, in a zip of stored
/// members (a PyTorch checkpoint: `store::zip`), in an ONNX model's initializers
/// (`store::onnx`), or in a legacy (pre-zip) PyTorch checkpoint (`store::torch_legacy`).
/// None for any other file.
fn structure_cuts(data: &[u8]) -> Option<Vec<usize>> {
    let ranges = |r: Vec<(usize, usize)>| r.iter().flat_map(|&(s, e)| [s, e]).collect();
    safetensors_cuts(data)
        .or_else(|| {
            let members = super::zip::stored_members(data)?;
            (!members.is_empty()).then(|| ranges(members))
        })
        .or_else(|| super::onnx::raw_data_ranges(data).map(ranges))
        .or_else(|| super::torch_legacy::storage_ranges(data).map(ranges))
}

/// Byte offsets where tensors start and end in a safetensors file, or None when `data`
/// is not one (any inconsistency means "not safetensors": chunking must never fail).
fn safetensors_cuts(data: &[u8]) -> Option<Vec<usize>> {
    let h = super::safetensors::parse_file(data)?;
    let mut cuts = vec![h.data_start as usize];
    for t in &h.tensors {
        cuts.push(t.start as usize);
        cuts.push(t.end as usize);
    }
    Some(cuts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise(n: usize, seed: u64) -> Vec<u8> {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    fn safetensors(tensors: &[Vec<u8>]) -> Vec<u8> {
        let mut header = String::from("{");
        let mut off = 0;
        for (i, t) in tensors.iter().enumerate() {
            if i > 0 {
                header.push(',');
            }
            header.push_str(&format!(
                "\"t{i}\":{{\"dtype\":\"U8\",\"shape\":[{}],\"data_offsets\":[{off},{}]}}",
                t.len(),
                off + t.len()
            ));
            off += t.len();
        }
        header.push('}');
        let mut out = (header.len() as u64).to_le_bytes().to_vec();
        out.extend_from_slice(header.as_bytes());
        for t in tensors {
            out.extend_from_slice(t);
        }
        out
    }

    #[test]
    fn spans_cover_data_exactly() {
        for len in [0, 1, 1000, 300_000, 5_000_000] {
            let d = noise(len, 7);
            let spans = chunk_spans(&d);
            let mut pos = 0;
            for s in &spans {
                assert_eq!(s.offset, pos);
                assert!(s.len > 0 && s.len <= MAX_CHUNK as usize);
                pos += s.len;
            }
            assert_eq!(pos, len);
        }
    }

    #[test]
    fn safetensors_boundaries_are_cut_points() {
        let ts: Vec<Vec<u8>> = (0..4).map(|i| noise(700_000, i + 1)).collect();
        let file = safetensors(&ts);
        let spans = chunk_spans(&file);
        let starts: Vec<usize> = spans.iter().map(|s| s.offset).collect();
        let hdr = 8 + u64::from_le_bytes(file[..8].try_into().unwrap()) as usize;
        for k in 0..4 {
            assert!(
                starts.contains(&(hdr + k * 700_000)),
                "tensor {k} starts a chunk"
            );
        }
    }

    #[test]
    fn changing_one_tensor_changes_only_its_chunks() {
        let mut ts: Vec<Vec<u8>> = (0..6).map(|i| noise(2_000_000, i + 1)).collect();
        let a = safetensors(&ts);
        ts[3] = noise(2_000_000, 99);
        let b = safetensors(&ts);
        let ids = |f: &[u8]| -> std::collections::HashSet<blake3::Hash> {
            chunk_spans(f)
                .iter()
                .map(|s| blake3::hash(&f[s.offset..s.offset + s.len]))
                .collect()
        };
        let (ia, ib) = (ids(&a), ids(&b));
        let new_bytes: usize = chunk_spans(&b)
            .iter()
            .filter(|s| !ia.contains(&blake3::hash(&b[s.offset..s.offset + s.len])))
            .map(|s| s.len)
            .sum();
        assert_eq!(new_bytes, 2_000_000, "exactly the changed tensor is new");
        assert!(ib.len() > 6);
    }

    #[test]
    fn a_partial_tensor_update_touches_only_its_blocks() {
        let ts: Vec<Vec<u8>> = (0..2).map(|i| noise(5 * TENSOR_BLOCK, i + 1)).collect();
        let a = safetensors(&ts);
        let mut b = a.clone();
        let hdr = 8 + u64::from_le_bytes(a[..8].try_into().unwrap()) as usize;
        b[hdr + 2 * TENSOR_BLOCK + 10] ^= 1; // one byte in tensor 0's third block
        let changed: Vec<Span> = chunk_spans(&b)
            .into_iter()
            .filter(|s| a[s.offset..s.offset + s.len] != b[s.offset..s.offset + s.len])
            .collect();
        assert_eq!(changed.len(), 1);
        assert_eq!(changed[0].len, TENSOR_BLOCK);
    }

    #[test]
    fn a_same_sized_file_is_cut_where_its_previous_version_was() {
        let a = noise(3_000_000, 5);
        let lens: Vec<u64> = chunk_spans(&a).iter().map(|s| s.len as u64).collect();
        let b = noise(3_000_000, 6);
        let follow = chunk_spans_following(&b, Some(&lens));
        assert_eq!(
            follow.iter().map(|s| s.len as u64).collect::<Vec<_>>(),
            lens
        );
        assert_ne!(chunk_spans(&b), follow, "content-defined cuts would differ");
        // Another size, a bad manifest, or safetensors: cut afresh.
        assert_eq!(
            chunk_spans_following(&b[1..], Some(&lens)),
            chunk_spans(&b[1..])
        );
        assert_eq!(
            chunk_spans_following(&b, Some(&[1_000_000, 2_000_001])),
            chunk_spans(&b)
        );
        let mut zero = lens.clone();
        zero.push(0);
        assert_eq!(chunk_spans_following(&b, Some(&zero)), chunk_spans(&b));
        let st = safetensors(&[noise(1_000_000, 1)]);
        let st_lens = vec![st.len() as u64 / 2, st.len() as u64 - st.len() as u64 / 2];
        assert_eq!(chunk_spans_following(&st, Some(&st_lens)), chunk_spans(&st));
    }

    #[test]
    fn a_pytorch_zip_is_cut_at_its_storages() {
        let storages: Vec<Vec<u8>> = (0..3).map(|i| noise(1_000_003, i + 1)).collect();
        let members: Vec<(&str, Vec<u8>)> = std::iter::once(("archive/data.pkl", vec![7; 200]))
            .chain(storages.iter().map(|s| ("archive/data/k", s.clone())))
            .collect();
        let (z, ranges) = crate::store::zip::tests::zip(&members);
        let starts: Vec<usize> = chunk_spans(&z).iter().map(|s| s.offset).collect();
        for (s, e) in &ranges[1..] {
            assert!(
                starts.contains(s) && starts.contains(e),
                "{s}..{e} in {starts:?}"
            );
        }
    }

    #[test]
    fn malformed_safetensors_header_falls_back() {
        let mut f = 50u64.to_le_bytes().to_vec();
        f.extend_from_slice(b"{\"t\":{\"data_offsets\":[0,999999999]}}              ");
        f.extend_from_slice(&noise(1000, 3));
        assert_eq!(segments(&f).len(), 1);
        let mut g = u64::MAX.to_le_bytes().to_vec();
        g.extend_from_slice(&noise(100, 4));
        assert_eq!(segments(&g).len(), 1);
    }
}
