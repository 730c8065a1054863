//! The delta codec for fine-tunes (object codec 3, `Codec::Delta`).
//!
//! A fine-tuning step moves every weight a little: chunk dedup shares nothing, and each
//! checkpoint would cost a full copy. Stored as a delta, a changed float chunk keeps only
//! its difference from the same block of the parent version (its *base*, another chunk
//! object of the same length): per element, the integer difference of the bit patterns
//! (wrapping), zigzag-coded so that small steps of either sign have zero high bytes, then
//! split into byte planes and coded as codec 2 does. On all-MiniLM-shaped weights a 1e-3
//! step leaves about 0.55 of the raw size for f32 and 0.13 for bf16 (standalone planes:
//! 0.83 and 0.67; `../shared/NOTES-codecs.md`).
//!
//! Chains are bounded: the extension records the chain depth (1 when the base is
//! standalone), the store writes a delta only while its depth stays within
//! `compression.delta_max_depth` (then a standalone keyframe starts a new chain), and a
//! reader refuses a base whose recorded depth is not exactly one less (so a corrupt or
//! hostile store cannot make a reader loop). The base is an ordinary object, verified by
//! its own hash when read; the decoded result is verified against the delta's id.
//!
//! Layout (the object header's extension, then the payload):
//! ```text
//! ext:     base object id (32 bytes), chain depth (u8, ≥ 1), then the residual's plane
//!          layout (codec 2's extension: width, phase, per plane mode + length)
//! payload: the residual, plane-coded. Residual: head (`phase` bytes) and tail
//!          (< width bytes) are new XOR base; each element is
//!          rotr1(zigzag(new − base)) so that codec 2's rotl1 leaves the zigzag bytes.
//! ```

use crate::id::ObjectId;
use crate::planes::Layout;

/// Length of the fixed part of a delta extension (base id and depth).
pub(crate) const EXT_FIXED: usize = 33;
/// The deepest chain any reader follows, whatever a store's configuration says.
pub(crate) const MAX_DEPTH: u8 = 32;

/// The fixed part of a delta object's extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct DeltaRef {
    pub base: ObjectId,
    pub depth: u8,
}

impl DeltaRef {
    pub fn encode(&self, plane_ext: &[u8]) -> Vec<u8> {
        let mut ext = Vec::with_capacity(EXT_FIXED + plane_ext.len());
        ext.extend_from_slice(self.base.as_bytes());
        ext.push(self.depth);
        ext.extend_from_slice(plane_ext);
        ext
    }

    /// Parse an extension: the reference and the residual's plane extension.
    pub fn parse(ext: &[u8]) -> Result<(DeltaRef, &[u8]), String> {
        if ext.len() < EXT_FIXED {
            return Err("delta extension too short".into());
        }
        let mut b = [0u8; 32];
        b.copy_from_slice(&ext[..32]);
        let depth = ext[32];
        if depth == 0 || depth > MAX_DEPTH {
            return Err(format!("delta chain depth {depth} out of range"));
        }
        Ok((
            DeltaRef {
                base: ObjectId::from_bytes(b),
                depth,
            },
            &ext[EXT_FIXED..],
        ))
    }
}

fn zigzag32(d: u32) -> u32 {
    (d << 1) ^ ((d as i32 >> 31) as u32)
}

fn unzigzag32(z: u32) -> u32 {
    (z >> 1) ^ (z & 1).wrapping_neg()
}

fn zigzag16(d: u16) -> u16 {
    (d << 1) ^ ((d as i16 >> 15) as u16)
}

fn unzigzag16(z: u16) -> u16 {
    (z >> 1) ^ (z & 1).wrapping_neg()
}

/// The residual of `new` against `base` (same length) under layout `l`.
pub(crate) fn residual(new: &[u8], base: &[u8], l: Layout) -> Vec<u8> {
    debug_assert_eq!(new.len(), base.len());
    let mut out = vec![0u8; new.len()];
    let phase = l.phase.min(new.len());
    let n = (new.len() - phase) / l.width;
    let end = phase + n * l.width;
    for i in (0..phase).chain(end..new.len()) {
        out[i] = new[i] ^ base[i];
    }
    let (a, b, o) = (&new[phase..end], &base[phase..end], &mut out[phase..end]);
    match l.width {
        4 => {
            for ((x, y), r) in a
                .chunks_exact(4)
                .zip(b.chunks_exact(4))
                .zip(o.chunks_exact_mut(4))
            {
                let x = u32::from_le_bytes([x[0], x[1], x[2], x[3]]);
                let y = u32::from_le_bytes([y[0], y[1], y[2], y[3]]);
                r.copy_from_slice(&zigzag32(x.wrapping_sub(y)).rotate_right(1).to_le_bytes());
            }
        }
        2 => {
            for ((x, y), r) in a
                .chunks_exact(2)
                .zip(b.chunks_exact(2))
                .zip(o.chunks_exact_mut(2))
            {
                let x = u16::from_le_bytes([x[0], x[1]]);
                let y = u16::from_le_bytes([y[0], y[1]]);
                r.copy_from_slice(&zigzag16(x.wrapping_sub(y)).rotate_right(1).to_le_bytes());
            }
        }
        _ => unreachable!("widths are 2 or 4"),
    }
    out
}

/// Apply a residual to `base` in place, turning it into the new content.
pub(crate) fn apply(base: &mut [u8], residual: &[u8], l: Layout) -> Result<(), String> {
    if base.len() != residual.len() {
        return Err(format!(
            "residual is {} bytes, its base {}",
            residual.len(),
            base.len()
        ));
    }
    if (l.width != 2 && l.width != 4) || l.phase >= l.width {
        return Err(format!("delta layout width {} phase {}", l.width, l.phase));
    }
    let phase = l.phase.min(base.len());
    let n = (base.len() - phase) / l.width;
    let end = phase + n * l.width;
    for i in (0..phase).chain(end..base.len()) {
        base[i] ^= residual[i];
    }
    let (o, r) = (&mut base[phase..end], &residual[phase..end]);
    match l.width {
        4 => {
            for (y, r) in o.chunks_exact_mut(4).zip(r.chunks_exact(4)) {
                let b = u32::from_le_bytes([y[0], y[1], y[2], y[3]]);
                let z = u32::from_le_bytes([r[0], r[1], r[2], r[3]]).rotate_left(1);
                y.copy_from_slice(&b.wrapping_add(unzigzag32(z)).to_le_bytes());
            }
        }
        _ => {
            for (y, r) in o.chunks_exact_mut(2).zip(r.chunks_exact(2)) {
                let b = u16::from_le_bytes([y[0], y[1]]);
                let z = u16::from_le_bytes([r[0], r[1]]).rotate_left(1);
                y.copy_from_slice(&b.wrapping_add(unzigzag16(z)).to_le_bytes());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rng(seed: u64) -> impl FnMut() -> u64 {
        let mut x = seed | 1;
        move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        }
    }

    #[test]
    fn zigzag_round_trips_at_the_extremes() {
        for d in [0u32, 1, u32::MAX, 0x8000_0000, 0x7fff_ffff, 12345] {
            assert_eq!(unzigzag32(zigzag32(d)), d);
        }
        for d in [0u16, 1, u16::MAX, 0x8000, 0x7fff] {
            assert_eq!(unzigzag16(zigzag16(d)), d);
        }
        assert_eq!(zigzag32(u32::MAX), 1, "-1 is small");
    }

    #[test]
    fn residual_round_trips_every_layout_and_odd_length() {
        let mut next = rng(3);
        for len in [0usize, 1, 2, 3, 5, 7, 8, 9, 1001, 4099] {
            let base: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            let new: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            for (width, phases) in [(4, 4), (2, 2)] {
                for phase in 0..phases {
                    let l = Layout { width, phase };
                    let r = residual(&new, &base, l);
                    let mut out = base.clone();
                    apply(&mut out, &r, l).unwrap();
                    assert_eq!(out, new, "len {len} {l:?}");
                }
            }
        }
    }

    #[test]
    fn special_floats_round_trip_and_small_steps_leave_small_residuals() {
        let specials = [
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            -0.0,
            0.0,
            f32::MIN_POSITIVE / 8.0,
            f32::MAX,
            f32::MIN,
            1e-3,
        ];
        let base: Vec<u8> = specials
            .iter()
            .cycle()
            .take(900)
            .flat_map(|x| x.to_le_bytes())
            .collect();
        let new: Vec<u8> = base
            .chunks_exact(4)
            .rev()
            .flat_map(|c| c.to_vec())
            .collect();
        let l = Layout { width: 4, phase: 0 };
        let mut out = base.clone();
        apply(&mut out, &residual(&new, &base, l), l).unwrap();
        assert_eq!(out, new);

        // A step of one ulp up or down leaves only the low byte of the zigzag set.
        let w: Vec<f32> = (0..1000)
            .map(|i| 0.02 * (i as f32 - 500.0) / 500.0)
            .collect();
        let base: Vec<u8> = w.iter().flat_map(|x| x.to_le_bytes()).collect();
        let new: Vec<u8> = w
            .iter()
            .enumerate()
            .flat_map(|(i, x)| {
                let b = x.to_bits();
                f32::from_bits(if i % 2 == 0 { b + 1 } else { b - 1 }).to_le_bytes()
            })
            .collect();
        let r = residual(&new, &base, l);
        for e in r.chunks_exact(4) {
            let z = u32::from_le_bytes([e[0], e[1], e[2], e[3]]).rotate_left(1);
            assert!(z <= 2, "zigzag of ±1 is 1 or 2, got {z}");
        }
    }

    #[test]
    fn bad_layouts_and_lengths_are_errors() {
        let mut b = vec![0u8; 8];
        assert!(apply(&mut b, &[0u8; 7], Layout { width: 4, phase: 0 }).is_err());
        assert!(apply(&mut b, &[0u8; 8], Layout { width: 3, phase: 0 }).is_err());
        assert!(apply(&mut b, &[0u8; 8], Layout { width: 2, phase: 2 }).is_err());
        assert!(DeltaRef::parse(&[0u8; 20]).is_err());
        let mut ext = vec![0u8; 33];
        assert!(DeltaRef::parse(&ext).is_err(), "depth 0");
        ext[32] = MAX_DEPTH + 1;
        assert!(DeltaRef::parse(&ext).is_err());
        ext[32] = 3;
        let (r, rest) = DeltaRef::parse(&ext).unwrap();
        assert_eq!((r.depth, rest.len()), (3, 0));
        assert_eq!(DeltaRef::parse(&r.encode(&[4, 0])).unwrap().0, r);
    }
}
