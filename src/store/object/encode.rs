//! Choosing how a new object is stored: byte planes, zstd, a delta against its base in the
//! parent version, or raw (`ObjectStore::prepare`'s encoders).

use std::path::Path;

use super::{
    delta_ref_of, Codec, Encoded, Kind, ObjectStore, DELTA_MAX_FRACTION, PLANES_MIN_SAVING,
    PLANE_COMPRESSOR, SAMPLE,
};
use crate::error::{IoContext, Result};
use crate::id::ObjectId;

impl ObjectStore {
    /// How to store `data`: (codec, header extension, payload), or None for raw.
    ///
    /// Float data (judged by plane entropies on a sample, whatever the file format: a
    /// safetensors tensor, a slice of a PyTorch zip, an ONNX initializer) goes to byte
    /// planes when they save `PLANES_MIN_SAVING` and beat zstd on the same sample; other
    /// data to zstd when it saves `min_saving` (a large object is judged on a sample
    /// first); the rest is stored raw.
    pub(super) fn encode(&self, data: &[u8], path: &Path) -> Result<Option<Encoded>> {
        if data.len() < 64 || self.policy.level <= 0 {
            return Ok(None);
        }
        let saving = |c: usize, n: usize| 1.0 - c as f64 / n as f64;
        // zstd's output, kept when it saves `min_saving`.
        let zstd = |c: Vec<u8>| {
            (saving(c.len(), data.len()) >= self.policy.min_saving).then_some((
                Codec::Zstd,
                Vec::new(),
                c,
            ))
        };
        let planes = if self.policy.planes {
            crate::planes::choose(data).filter(|(_, s)| *s >= PLANES_MIN_SAVING)
        } else {
            None
        };
        if data.len() > 4 * SAMPLE {
            let mid = data.len() / 2;
            let trial = zstd::bulk::compress(&data[mid..mid + SAMPLE], self.policy.level)
                .ctx("compressing object", path)?;
            let zstd_saving = saving(trial.len(), SAMPLE);
            if let Some((layout, s)) = planes {
                if s > zstd_saving {
                    return self.encode_planes(data, layout, path);
                }
            }
            if zstd_saving < self.policy.min_saving {
                return Ok(None);
            }
        } else if let Some((layout, _)) = planes {
            // Small enough to try both in full.
            let p = self.encode_planes(data, layout, path)?;
            let c =
                zstd::bulk::compress(data, self.policy.level).ctx("compressing object", path)?;
            let plane_len = p.as_ref().map_or(usize::MAX, |(_, e, b)| e.len() + b.len());
            if plane_len <= c.len() {
                return Ok(p);
            }
            return Ok(zstd(c));
        }
        let c = zstd::bulk::compress(data, self.policy.level).ctx("compressing object", path)?;
        Ok(zstd(c))
    }

    /// A delta of float chunk `data` against `base`, when it is at most
    /// `DELTA_MAX_FRACTION` of the standalone byte planes (estimated from the plane
    /// entropies of a sample, so that a chunk stored as a delta is encoded once) and the
    /// chain stays within the policy's depth. Not float data, or any trouble with the base
    /// (missing, damaged, another length or kind), means no delta: the chunk is stored
    /// alone.
    pub(super) fn encode_delta(
        &self,
        data: &[u8],
        base: ObjectId,
        path: &Path,
    ) -> Result<Option<Delta>> {
        if self.policy.delta_max_depth == 0 || data.len() < 4 * 1024 {
            return Ok(None);
        }
        let Some((layout, saving)) = crate::planes::choose(data).filter(|(_, s)| *s > 0.0) else {
            return Ok(None);
        };
        // The base's header first (its depth may already be the cap); the same open file
        // then reads it.
        let Ok(opened) = self.open_with_header(&base) else {
            return Ok(None);
        };
        let (_, h, ext) = &opened;
        if h.kind != Kind::Chunk || h.raw_len != data.len() as u64 {
            return Ok(None);
        }
        let Ok(depth) = delta_ref_of(&base, *h, ext).map(|r| r.map_or(0, |r| r.depth)) else {
            return Ok(None);
        };
        if depth >= self.policy.delta_max_depth.min(crate::delta::MAX_DEPTH) {
            return Ok(None);
        }
        let Ok((_, base_data, _)) = self.decode_opened(&base, opened, Some(depth), true, true)
        else {
            return Ok(None);
        };
        let residual = crate::delta::residual(data, &base_data, layout);
        let (plane_ext, payload) = split_planes(&residual, layout, path)?;
        let ext = crate::delta::DeltaRef {
            base,
            depth: depth + 1,
        }
        .encode(&plane_ext);
        let alone = data.len() as f64 * (1.0 - saving);
        Ok(
            ((ext.len() + payload.len()) as f64 <= alone * DELTA_MAX_FRACTION).then_some(Delta {
                encoded: (Codec::Delta, ext, payload),
                depth: depth + 1,
                layout,
            }),
        )
    }

    /// Byte planes, kept only when they really save `PLANES_MIN_SAVING`.
    pub(super) fn encode_planes(
        &self,
        data: &[u8],
        layout: crate::planes::Layout,
        path: &Path,
    ) -> Result<Option<Encoded>> {
        let (ext, payload) = split_planes(data, layout, path)?;
        let stored = ext.len() + payload.len();
        Ok(
            (1.0 - stored as f64 / data.len() as f64 >= PLANES_MIN_SAVING).then_some((
                Codec::Planes,
                ext,
                payload,
            )),
        )
    }
}

/// A chunk encoded as a delta: its encoding, its chain depth, and the plane layout of its
/// data (what its standalone encoding uses too).
pub(super) struct Delta {
    pub(super) encoded: Encoded,
    pub(super) depth: u8,
    pub(super) layout: crate::planes::Layout,
}

/// `data` as byte planes of `layout` with this thread's plane compressor: (extension,
/// payload).
fn split_planes(
    data: &[u8],
    layout: crate::planes::Layout,
    path: &Path,
) -> Result<(Vec<u8>, Vec<u8>)> {
    PLANE_COMPRESSOR
        .with(|c| -> std::io::Result<_> {
            let mut slot = c.borrow_mut();
            if slot.is_none() {
                *slot = Some(crate::planes::compressor()?);
            }
            crate::planes::encode(data, layout, slot.as_mut().expect("just set"))
        })
        .ctx("compressing object", path)
}
