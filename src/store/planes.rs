//! The byte-plane codec for float data (object codec 2, `Codec::Planes`).
//!
//! Float weights barely compress as they are: every byte position mixes sign, exponent and
//! mantissa bits. Split into byte planes (byte k of every element in plane k), the
//! exponent plane compresses about 3× while the mantissa planes stay near 8 bits of entropy;
//! each plane is entropy coded block by block where that pays (`entropy`: Huffman or tANS,
//! at the order-0 bound) and stored raw where it does not. Each element is first rotated
//! left by one bit (ZipNN's trick): the
//! sign moves to the bottom, so the top plane holds exactly the 8 exponent bits of an f32
//! or a bf16.
//!
//! Nothing tells the codec what a chunk holds (a safetensors tensor, a slice of a PyTorch
//! zip, an ONNX initializer): [`choose`] estimates, on a sample, the order-0 entropy of the
//! planes for element widths 4 and 2 at every phase (a content-defined chunk may start
//! mid-element) and picks the smallest, or none when planes do not pay.
//!
//! Layout (the object header's extension, then the payload):
//! ```text
//! ext:     width (2|4), phase (< width), then per plane: mode (0 raw, 1 one zstd frame,
//!          2 entropy coded: `entropy`), length u32 LE
//! payload: the first `phase` bytes raw, the planes in order, the tail (< width bytes) raw
//! ```
//! Decoding trusts nothing: every length is checked against the recorded object length.

use std::cell::RefCell;
use std::io;
use std::mem::MaybeUninit;

const PLANE_RAW: u8 = 0;
const PLANE_ZSTD: u8 = 1;
const PLANE_ENTROPY: u8 = 2;
/// A plane whose entropy code spends under this many bits a byte is also tried with zstd,
/// which can win where bytes repeat in runs or patterns that order-0 statistics do not see
/// (delta residuals of barely changed tensors, padded or quantized planes).
const ZSTD_TRIAL_BITS: f64 = 1.6;
/// The largest sample [`choose`] looks at.
const SAMPLE: usize = 64 * 1024;

/// How a chunk is split: element width in bytes and the offset of the first element.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Layout {
    pub width: usize,
    pub phase: usize,
}

/// Split `data` (whole elements) into `w` planes, rotating each element left by one bit.
fn split(data: &[u8], w: usize) -> Vec<Vec<u8>> {
    let mut planes = Vec::new();
    split_into(data, w, &mut planes);
    planes
}

/// [`split`] into `planes`, reusing their memory (every byte of the `w` planes of
/// `data.len() / w` bytes is overwritten).
fn split_into(data: &[u8], w: usize, planes: &mut Vec<Vec<u8>>) {
    let n = data.len() / w;
    planes.resize_with(w, Vec::new);
    for p in planes.iter_mut() {
        p.resize(n, 0);
    }
    // The vector part first (16 elements per step), then the element loop for the rest.
    let done = simd::split(data, w, planes);
    let data = &data[done * w..];
    let mut rest: Vec<&mut [u8]> = planes.iter_mut().map(|p| &mut p[done..]).collect();
    let n = n - done;
    match w {
        4 => {
            let [p0, p1, p2, p3] = &mut rest[..] else {
                unreachable!()
            };
            // Zipped iterators: no bounds checks in the loop.
            let outs = p0
                .iter_mut()
                .zip(p1.iter_mut())
                .zip(p2.iter_mut())
                .zip(p3.iter_mut());
            for (c, (((a, b), c2), d)) in data[..n * 4].chunks_exact(4).zip(outs) {
                let r = u32::from_le_bytes([c[0], c[1], c[2], c[3]]).rotate_left(1);
                *a = r as u8;
                *b = (r >> 8) as u8;
                *c2 = (r >> 16) as u8;
                *d = (r >> 24) as u8;
            }
        }
        2 => {
            let [p0, p1] = &mut rest[..] else {
                unreachable!()
            };
            for (c, (a, b)) in data[..n * 2]
                .chunks_exact(2)
                .zip(p0.iter_mut().zip(p1.iter_mut()))
            {
                let r = u16::from_le_bytes([c[0], c[1]]).rotate_left(1);
                *a = r as u8;
                *b = (r >> 8) as u8;
            }
        }
        _ => unreachable!("widths are 2 or 4"),
    }
}

/// Interleave planes back into `out` (n × w bytes, written in full), undoing the rotation.
fn merge(planes: &[&[u8]], w: usize, out: &mut [MaybeUninit<u8>]) {
    // The vector part first (16 elements per step), then the element loop for the rest.
    let done = simd::merge(planes, w, out);
    let planes: Vec<&[u8]> = planes.iter().map(|p| &p[done..]).collect();
    let out = &mut out[done * w..];
    match (w, &planes[..]) {
        (4, [p0, p1, p2, p3]) => {
            let ins = p0.iter().zip(p1.iter()).zip(p2.iter()).zip(p3.iter());
            for (o, (((a, b), c), d)) in out.chunks_exact_mut(4).zip(ins) {
                let r = *a as u32 | (*b as u32) << 8 | (*c as u32) << 16 | (*d as u32) << 24;
                for (slot, byte) in o.iter_mut().zip(r.rotate_right(1).to_le_bytes()) {
                    slot.write(byte);
                }
            }
        }
        (2, [p0, p1]) => {
            for (o, (a, b)) in out.chunks_exact_mut(2).zip(p0.iter().zip(p1.iter())) {
                let r = *a as u16 | (*b as u16) << 8;
                for (slot, byte) in o.iter_mut().zip(r.rotate_right(1).to_le_bytes()) {
                    slot.write(byte);
                }
            }
        }
        _ => unreachable!("validated by decode"),
    }
}

/// Vector merging on x86-64 with SSE2 (part of the x86-64 baseline: no detection needed).
/// An element-at-a-time merge was 15% of a plane checkout's CPU; a 4×16-byte transpose
/// with unpack instructions does 16 elements per step.
#[cfg(target_arch = "x86_64")]
mod simd {
    use std::arch::x86_64::*;
    use std::mem::MaybeUninit;

    /// Split the first multiple of 16 elements of `data` into `planes` (each at least that
    /// long), rotating each element left by one bit; returns how many were split.
    pub(super) fn split(data: &[u8], w: usize, planes: &mut [Vec<u8>]) -> usize {
        let n = data.len() / w.max(1);
        let m = n / 16 * 16;
        if planes.iter().any(|p| p.len() < m) {
            return 0;
        }
        match (w, planes) {
            (4, [p0, p1, p2, p3]) => {
                for i in (0..m).step_by(16) {
                    // SAFETY: SSE2 is always present on x86-64. The loads read 64 bytes at
                    // data[i·4 ..] with i + 16 ≤ m ≤ n = data.len() / 4; each store writes 16
                    // bytes at i < m ≤ plane length − 16 + 16 (checked above).
                    unsafe {
                        let src = data.as_ptr().add(i * 4) as *const __m128i;
                        let rot = |k: usize| {
                            let x = _mm_loadu_si128(src.add(k));
                            _mm_or_si128(_mm_slli_epi32(x, 1), _mm_srli_epi32(x, 31))
                        };
                        let v = [rot(0), rot(1), rot(2), rot(3)];
                        // Low and high 16-bit halves, sign-extended so that the signed
                        // pack keeps their bits, packed 8 to a vector.
                        let lo = |x| _mm_srai_epi32(_mm_slli_epi32(x, 16), 16);
                        let hi = |x| _mm_srai_epi32(x, 16);
                        let l01 = _mm_packs_epi32(lo(v[0]), lo(v[1]));
                        let l23 = _mm_packs_epi32(lo(v[2]), lo(v[3]));
                        let h01 = _mm_packs_epi32(hi(v[0]), hi(v[1]));
                        let h23 = _mm_packs_epi32(hi(v[2]), hi(v[3]));
                        let mask = _mm_set1_epi16(0xFF);
                        let low =
                            |a, b| _mm_packus_epi16(_mm_and_si128(a, mask), _mm_and_si128(b, mask));
                        let high =
                            |a, b| _mm_packus_epi16(_mm_srli_epi16(a, 8), _mm_srli_epi16(b, 8));
                        let st = |p: &mut Vec<u8>, x| {
                            _mm_storeu_si128(p.as_mut_ptr().add(i) as *mut __m128i, x)
                        };
                        st(p0, low(l01, l23));
                        st(p1, high(l01, l23));
                        st(p2, low(h01, h23));
                        st(p3, high(h01, h23));
                    }
                }
                m
            }
            (2, [p0, p1]) => {
                for i in (0..m).step_by(16) {
                    // SAFETY: as above, with 2-byte elements: loads of 32 bytes at
                    // data[i·2 ..] inside data[.. m·2].
                    unsafe {
                        let src = data.as_ptr().add(i * 2) as *const __m128i;
                        let rot = |k: usize| {
                            let x = _mm_loadu_si128(src.add(k));
                            _mm_or_si128(_mm_slli_epi16(x, 1), _mm_srli_epi16(x, 15))
                        };
                        let (a, b) = (rot(0), rot(1));
                        let mask = _mm_set1_epi16(0xFF);
                        let low = _mm_packus_epi16(_mm_and_si128(a, mask), _mm_and_si128(b, mask));
                        let high = _mm_packus_epi16(_mm_srli_epi16(a, 8), _mm_srli_epi16(b, 8));
                        _mm_storeu_si128(p0.as_mut_ptr().add(i) as *mut __m128i, low);
                        _mm_storeu_si128(p1.as_mut_ptr().add(i) as *mut __m128i, high);
                    }
                }
                m
            }
            _ => 0,
        }
    }

    /// Merge the first multiple of 16 elements; returns how many were merged.
    pub(super) fn merge(planes: &[&[u8]], w: usize, out: &mut [MaybeUninit<u8>]) -> usize {
        let n = planes.first().map_or(0, |p| p.len());
        let m = n / 16 * 16;
        if planes.iter().any(|p| p.len() < m) || out.len() < m * w {
            return 0;
        }
        match (w, planes) {
            (4, [p0, p1, p2, p3]) => {
                for i in (0..m).step_by(16) {
                    // SAFETY: SSE2 is always present on x86-64. Every load reads 16 bytes at
                    // i < m ≤ plane length − 16 + 16, and every store writes 16 bytes inside
                    // out[i·4 .. i·4 + 64] ⊆ out[.. m·4] (checked above); unaligned forms.
                    unsafe {
                        let ld = |p: &[u8]| _mm_loadu_si128(p.as_ptr().add(i) as *const __m128i);
                        let (a, b, c, d) = (ld(p0), ld(p1), ld(p2), ld(p3));
                        let ab_lo = _mm_unpacklo_epi8(a, b);
                        let ab_hi = _mm_unpackhi_epi8(a, b);
                        let cd_lo = _mm_unpacklo_epi8(c, d);
                        let cd_hi = _mm_unpackhi_epi8(c, d);
                        let words = [
                            _mm_unpacklo_epi16(ab_lo, cd_lo),
                            _mm_unpackhi_epi16(ab_lo, cd_lo),
                            _mm_unpacklo_epi16(ab_hi, cd_hi),
                            _mm_unpackhi_epi16(ab_hi, cd_hi),
                        ];
                        let dst = out.as_mut_ptr().add(i * 4) as *mut __m128i;
                        for (k, x) in words.into_iter().enumerate() {
                            let r = _mm_or_si128(_mm_srli_epi32(x, 1), _mm_slli_epi32(x, 31));
                            _mm_storeu_si128(dst.add(k), r);
                        }
                    }
                }
                m
            }
            (2, [p0, p1]) => {
                for i in (0..m).step_by(16) {
                    // SAFETY: as above, with 2-byte elements: stores inside out[i·2 .. i·2 + 32].
                    unsafe {
                        let ld = |p: &[u8]| _mm_loadu_si128(p.as_ptr().add(i) as *const __m128i);
                        let (a, b) = (ld(p0), ld(p1));
                        let halves = [_mm_unpacklo_epi8(a, b), _mm_unpackhi_epi8(a, b)];
                        let dst = out.as_mut_ptr().add(i * 2) as *mut __m128i;
                        for (k, x) in halves.into_iter().enumerate() {
                            let r = _mm_or_si128(_mm_srli_epi16(x, 1), _mm_slli_epi16(x, 15));
                            _mm_storeu_si128(dst.add(k), r);
                        }
                    }
                }
                m
            }
            _ => 0,
        }
    }
}

/// Elsewhere the element loop does all the merging.
#[cfg(not(target_arch = "x86_64"))]
mod simd {
    pub(super) fn split(_: &[u8], _: usize, _: &mut [Vec<u8>]) -> usize {
        0
    }

    pub(super) fn merge(_: &[&[u8]], _: usize, _: &mut [std::mem::MaybeUninit<u8>]) -> usize {
        0
    }
}

fn write_bytes(out: &mut [MaybeUninit<u8>], src: &[u8]) {
    for (slot, b) in out.iter_mut().zip(src) {
        slot.write(*b);
    }
}

/// Estimated encoded size of `data` under a layout (planes at their entropy, or raw).
fn estimate(data: &[u8], l: Layout) -> usize {
    if data.len() <= l.phase + l.width {
        return data.len();
    }
    let body = &data[l.phase..];
    let planes = split(body, l.width);
    let n = planes[0].len();
    let coded: usize = planes
        .iter()
        .map(|p| {
            let bits = crate::entropy::bits_per_byte(p, 1);
            // The entropy coder lands within about 1% of order-0 entropy.
            let est = (n as f64 * bits / 8.0 * 1.01) as usize + 64;
            est.min(n)
        })
        .sum();
    l.phase + coded + (body.len() - n * l.width)
}

/// The best layout for `data`, judged on a sample from its middle, with its estimated
/// saving on the sample (a fraction), or None for small data.
pub(crate) fn choose(data: &[u8]) -> Option<(Layout, f64)> {
    if data.len() < 4 * 1024 {
        return None;
    }
    // A sample starting at a multiple of 4, so phases are the same as in `data`.
    let take = SAMPLE.min(data.len());
    let start = ((data.len() - take) / 2) & !3;
    let sample = &data[start..start + take];
    let mut best: Option<(Layout, usize)> = None;
    for (width, phases) in [(4usize, 4usize), (2, 2)] {
        for phase in 0..phases {
            let l = Layout { width, phase };
            let e = estimate(sample, l);
            if best.is_none_or(|(_, b)| e < b) {
                best = Some((l, e));
            }
        }
    }
    best.map(|(l, e)| (l, 1.0 - e as f64 / sample.len() as f64))
}

/// The zstd compressor tried on planes the entropy coder codes under
/// [`ZSTD_TRIAL_BITS`] a byte: level 1 without effort spent on long match searches (tuned
/// when zstd coded every plane: 2.96× at 245 MB/s on a bf16 exponent plane).
pub(crate) fn compressor() -> io::Result<zstd::bulk::Compressor<'static>> {
    use zstd::stream::raw::CParameter;
    let mut c = zstd::bulk::Compressor::new(1)?;
    c.set_parameter(CParameter::MinMatch(7))?;
    c.set_parameter(CParameter::SearchLog(1))?;
    c.set_parameter(CParameter::HashLog(10))?;
    c.set_parameter(CParameter::Strategy(zstd::zstd_safe::Strategy::ZSTD_fast))?;
    Ok(c)
}

/// Encode `data` as planes: (extension, payload). Each plane is entropy coded, or zstd
/// coded where the entropy code would spend under [`ZSTD_TRIAL_BITS`] a byte and zstd does
/// better, or stored raw where neither saves 64 bytes (flat mantissa planes).
pub(crate) fn encode(
    data: &[u8],
    l: Layout,
    comp: &mut zstd::bulk::Compressor<'_>,
) -> io::Result<(Vec<u8>, Vec<u8>)> {
    let body = &data[l.phase.min(data.len())..];
    // This thread's plane buffers, reused across chunks (fresh ones cost page faults).
    let mut planes = SPLIT.with(|c| std::mem::take(&mut *c.borrow_mut()));
    split_into(body, l.width, &mut planes);
    let r = encode_planes(data, body, l, &planes, comp);
    SPLIT.with(|c| *c.borrow_mut() = planes);
    r
}

thread_local! {
    /// This thread's plane buffers for [`encode`].
    static SPLIT: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// The rest of [`encode`], with `body` (data after the phase) split into `planes`.
fn encode_planes(
    data: &[u8],
    body: &[u8],
    l: Layout,
    planes: &[Vec<u8>],
    comp: &mut zstd::bulk::Compressor<'_>,
) -> io::Result<(Vec<u8>, Vec<u8>)> {
    let n = planes[0].len();
    let mut ext = vec![l.width as u8, l.phase as u8];
    let mut payload = Vec::with_capacity(data.len());
    payload.extend_from_slice(&data[..l.phase.min(data.len())]);
    for p in planes {
        let start = payload.len();
        let plan = crate::entropy::plan(p);
        let mut mode = PLANE_RAW;
        if plan.size + 64 < n {
            mode = PLANE_ENTROPY;
            if (plan.size as f64) * 8.0 < ZSTD_TRIAL_BITS * n as f64 {
                let z = comp.compress(p)?;
                if z.len() < plan.size {
                    payload.extend_from_slice(&z);
                    mode = PLANE_ZSTD;
                }
            }
            if mode == PLANE_ENTROPY {
                crate::entropy::encode(p, &plan, &mut payload);
            }
        }
        if mode == PLANE_RAW {
            payload.extend_from_slice(p);
        }
        ext.push(mode);
        ext.extend_from_slice(&((payload.len() - start) as u32).to_le_bytes());
    }
    payload.extend_from_slice(&body[n * l.width..]);
    Ok((ext, payload))
}

thread_local! {
    /// This thread's zstd decoder and plane buffers, reused across objects (checkout decodes
    /// chunks on every core; a fresh context and buffers per plane cost more than decoding).
    static DECODER: RefCell<Option<(zstd::bulk::Decompressor<'static>, Vec<Vec<u8>>)>> =
        const { RefCell::new(None) };
}

/// A decoded plane layout: the raw head, the planes (each `n` bytes: byte k of every
/// element, rotation not undone) and the raw tail.
pub(crate) struct Parts<'a> {
    pub width: usize,
    pub head: &'a [u8],
    pub planes: Vec<&'a [u8]>,
    pub tail: &'a [u8],
}

/// Decode a plane-coded payload of an object whose recorded length is `raw_len`.
pub(crate) fn decode(ext: &[u8], payload: &[u8], raw_len: usize) -> Result<Vec<u8>, String> {
    decode_with(ext, payload, raw_len, |p| {
        let n = p.planes[0].len();
        let (phase, w) = (p.head.len(), p.width);
        // Every byte of `out` is written below (head, planes, tail) before it is exposed.
        let mut out: Vec<u8> = Vec::with_capacity(raw_len);
        let spare = &mut out.spare_capacity_mut()[..raw_len];
        write_bytes(&mut spare[..phase], p.head);
        merge(&p.planes, w, &mut spare[phase..phase + n * w]);
        write_bytes(&mut spare[phase + n * w..], p.tail);
        // SAFETY: the three writes above initialized all `raw_len` bytes: the head
        // (`phase` bytes), `n` elements of `w` bytes (`merge` writes every element: each plane
        // holds exactly `n` bytes, checked by `decode_with`), and the tail (the rest, checked
        // by `decode_with`: head + n × w + tail = raw_len).
        unsafe { out.set_len(raw_len) };
        out
    })
}

/// Decode a plane-coded payload in order, handing `emit` pieces of at most about `piece`
/// bytes (a size that stays in the CPU's cache: checkout hashes and writes each piece while
/// it is hot, instead of merging a whole chunk into memory and reading it twice more).
/// Stops at the first error `emit` returns.
pub(crate) fn decode_pieces<E>(
    ext: &[u8],
    payload: &[u8],
    raw_len: usize,
    piece: usize,
    mut emit: impl FnMut(&[u8]) -> Result<(), E>,
) -> Result<Result<(), E>, String> {
    decode_with(ext, payload, raw_len, |p| {
        let n = p.planes[0].len();
        let w = p.width;
        if !p.head.is_empty() {
            emit(p.head)?;
        }
        let per = (piece / w).max(1);
        let mut buf: Vec<u8> = Vec::with_capacity(per * w);
        let mut at = 0;
        while at < n {
            let m = per.min(n - at);
            let planes: Vec<&[u8]> = p.planes.iter().map(|q| &q[at..at + m]).collect();
            buf.clear();
            merge(&planes, w, &mut buf.spare_capacity_mut()[..m * w]);
            // SAFETY: `merge` wrote all m × w bytes (each plane slice holds m bytes).
            unsafe { buf.set_len(m * w) };
            emit(&buf)?;
            at += m;
        }
        if !p.tail.is_empty() {
            emit(p.tail)?;
        }
        Ok(())
    })
}

/// Check a plane layout against `raw_len`, decode its planes (with this thread's reused
/// zstd context and buffers) and hand them to `f`. Guarantees to `f`: every plane holds
/// the same number `n` of bytes, and head + n × width + tail = `raw_len`.
pub(crate) fn decode_with<R>(
    ext: &[u8],
    payload: &[u8],
    raw_len: usize,
    f: impl FnOnce(&Parts<'_>) -> R,
) -> Result<R, String> {
    let (&width, &phase) = match ext {
        [w, p, ..] => (w, p),
        _ => return Err("plane extension too short".into()),
    };
    let (w, phase) = (width as usize, phase as usize);
    if (w != 2 && w != 4) || phase >= w {
        return Err(format!("plane layout width {w} phase {phase}"));
    }
    if ext.len() != 2 + 5 * w {
        return Err("plane extension length".into());
    }
    // Data shorter than the phase is all head (as `encode` writes it).
    let phase = phase.min(raw_len);
    if payload.len() < phase {
        return Err("shorter than the layout's head".into());
    }
    let n = (raw_len - phase) / w;
    let tail = raw_len - phase - n * w;
    DECODER.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            let d = zstd::bulk::Decompressor::new().map_err(|e| format!("zstd: {e}"))?;
            *slot = Some((d, Vec::new()));
        }
        let (dec, bufs) = slot.as_mut().expect("just set");
        bufs.resize_with(w, Vec::new);
        let mut off = phase;
        let mut spans: Vec<Option<(usize, usize)>> = Vec::with_capacity(w);
        for k in 0..w {
            let e = &ext[2 + 5 * k..7 + 5 * k];
            let len = u32::from_le_bytes([e[1], e[2], e[3], e[4]]) as usize;
            let end = off
                .checked_add(len)
                .filter(|&x| x <= payload.len())
                .ok_or("a plane runs past the payload")?;
            match e[0] {
                PLANE_RAW if len == n => spans.push(Some((off, end))),
                PLANE_RAW => return Err("raw plane of the wrong length".into()),
                PLANE_ZSTD => {
                    let buf = &mut bufs[k];
                    buf.clear();
                    buf.reserve(n);
                    // Bounded by the capacity: a frame that claims more is an error.
                    dec.decompress_to_buffer(&payload[off..end], buf)
                        .map_err(|e| format!("plane {k}: zstd: {e}"))?;
                    if buf.len() != n {
                        return Err(format!("plane {k} decodes to the wrong length"));
                    }
                    spans.push(None);
                }
                PLANE_ENTROPY => {
                    // Four bytes of room past the plane for the decoder's 4-byte stores;
                    // a reused buffer only grows (what it holds is overwritten).
                    let buf = &mut bufs[k];
                    if buf.len() < n + 4 {
                        buf.resize(n + 4, 0);
                    }
                    crate::entropy::decode(&payload[off..end], n, &mut buf[..n + 4])
                        .map_err(|e| format!("plane {k}: {e}"))?;
                    buf.truncate(n);
                    spans.push(None);
                }
                m => return Err(format!("unknown plane mode {m}")),
            }
            off = end;
        }
        if payload.len() - off != tail {
            return Err("payload length differs from the layout".into());
        }
        let planes: Vec<&[u8]> = spans
            .iter()
            .enumerate()
            .map(|(k, s)| match s {
                Some((a, b)) => &payload[*a..*b],
                None => bufs[k].as_slice(),
            })
            .collect();
        Ok(f(&Parts {
            width: w,
            head: &payload[..phase],
            planes,
            tail: &payload[off..],
        }))
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A seeded xorshift (the entropy coder's tests use it too).
    pub(crate) fn rng(seed: u64) -> impl FnMut() -> u64 {
        let mut x = seed.wrapping_mul(0x9E3779B97F4A7C15) | 1;
        move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        }
    }

    /// N(0, 0.02)-like f32 weights (sum of uniforms), as little-endian bytes.
    fn weights(n: usize, seed: u64) -> Vec<u8> {
        let mut r = rng(seed);
        let mut out = Vec::with_capacity(n * 4);
        for _ in 0..n {
            let s: f64 = (0..4)
                .map(|_| (r() >> 11) as f64 / (1u64 << 53) as f64)
                .sum::<f64>()
                - 2.0;
            out.extend_from_slice(&((s * 0.035) as f32).to_le_bytes());
        }
        out
    }

    fn bf16(f32s: &[u8]) -> Vec<u8> {
        f32s.chunks_exact(4)
            .flat_map(|c| {
                let u = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                let r = (u + 0x7FFF + ((u >> 16) & 1)) >> 16;
                (r as u16).to_le_bytes()
            })
            .collect()
    }

    fn round_trip(data: &[u8], l: Layout) -> usize {
        let mut c = compressor().unwrap();
        let (ext, payload) = encode(data, l, &mut c).unwrap();
        assert_eq!(decode(&ext, &payload, data.len()).unwrap(), data, "{l:?}");
        // Streamed in pieces of any size (checkout's path), the same bytes in order.
        for piece in [1, 7, 64, 1000, 1 << 20] {
            let mut got = Vec::new();
            decode_pieces(&ext, &payload, data.len(), piece, |p| {
                assert!(
                    p.len() <= piece.max(l.width) || p.len() < l.width,
                    "{}",
                    p.len()
                );
                got.extend_from_slice(p);
                Ok::<(), ()>(())
            })
            .unwrap()
            .unwrap();
            assert_eq!(got, data, "{l:?} in pieces of {piece}");
        }
        ext.len() + payload.len()
    }

    #[test]
    fn every_layout_round_trips_odd_lengths_and_special_values() {
        let mut data = weights(5000, 1);
        for v in [
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            -0.0,
            f32::MIN_POSITIVE / 3.0,
            f32::MAX,
        ] {
            data.extend_from_slice(&v.to_le_bytes());
        }
        data.extend_from_slice(&[1, 2, 3]);
        // Around the vector merge's 16-element steps, and the element loop after them.
        let near_steps = (60..=140).chain(1020..=1030);
        for len in [0, 1, 2, 3, 4, 5, 7, 64, 4097, data.len()]
            .into_iter()
            .chain(near_steps)
        {
            for (width, phases) in [(4, 4), (2, 2)] {
                for phase in 0..phases {
                    round_trip(&data[..len], Layout { width, phase });
                }
            }
        }
        let mut r = rng(9);
        let random: Vec<u8> = (0..100_003).map(|_| r() as u8).collect();
        round_trip(&random, Layout { width: 4, phase: 1 });
    }

    #[test]
    fn floats_are_detected_with_their_width_and_phase() {
        let f = weights(100_000, 2);
        let (l, saving) = choose(&f).unwrap();
        assert_eq!(l, Layout { width: 4, phase: 0 });
        assert!(saving > 0.12, "{saving}");
        // The same floats starting one byte into the chunk.
        let mut shifted = vec![7u8];
        shifted.extend_from_slice(&f);
        assert_eq!(choose(&shifted).unwrap().0, Layout { width: 4, phase: 1 });
        let b = bf16(&f);
        let (l, saving) = choose(&b).unwrap();
        assert_eq!(l.width, 2);
        assert!(saving > 0.25, "{saving}");
        let size = round_trip(&b, l);
        assert!(
            (b.len() as f64 / size as f64) > 1.35,
            "{}",
            b.len() as f64 / size as f64
        );
        // Random bytes: no layout saves anything.
        let mut r = rng(3);
        let random: Vec<u8> = (0..100_000).map(|_| r() as u8).collect();
        assert!(choose(&random).unwrap().1 < 0.01);
    }

    /// Guards stores written before the entropy coder: their planes are zstd frames
    /// (mode 1) and must decode as they always did.
    #[test]
    fn zstd_planes_of_earlier_builds_still_decode() {
        let f = weights(50_000, 5);
        let planes = split(&f, 4);
        let mut ext = vec![4u8, 0];
        let mut payload = Vec::new();
        for p in &planes {
            let z = zstd::bulk::compress(p, 1).unwrap();
            ext.push(PLANE_ZSTD);
            ext.extend_from_slice(&(z.len() as u32).to_le_bytes());
            payload.extend_from_slice(&z);
        }
        assert_eq!(decode(&ext, &payload, f.len()).unwrap(), f);
    }

    /// The exponent plane is entropy coded, the flat low mantissa plane stored raw, and
    /// the result beats the zstd planes this codec replaced.
    #[test]
    fn exponents_are_entropy_coded_and_flat_mantissas_raw() {
        let f = weights(400_000, 6);
        let mut c = compressor().unwrap();
        let (ext, payload) = encode(&f, Layout { width: 4, phase: 0 }, &mut c).unwrap();
        let modes: Vec<u8> = (0..4).map(|k| ext[2 + 5 * k]).collect();
        assert_eq!(modes[0], PLANE_RAW, "{modes:?}");
        assert_eq!(modes[3], PLANE_ENTROPY, "{modes:?}");
        let zstd_planes: usize = split(&f, 4)
            .iter()
            .map(|p| {
                let z = c.compress(p).unwrap().len();
                z.min(p.len())
            })
            .sum();
        assert!(
            payload.len() < zstd_planes,
            "{} vs {zstd_planes}",
            payload.len()
        );
        assert_eq!(decode(&ext, &payload, f.len()).unwrap(), f);
    }

    #[test]
    fn corrupt_layouts_are_errors_not_panics() {
        let f = weights(10_000, 4);
        let mut c = compressor().unwrap();
        let (ext, payload) = encode(&f, Layout { width: 4, phase: 0 }, &mut c).unwrap();
        assert!(decode(&ext, &payload, f.len() + 1).is_err());
        assert!(decode(&ext, &payload[..payload.len() - 1], f.len()).is_err());
        assert!(decode(&ext[..5], &payload, f.len()).is_err());
        let mut bad = ext.clone();
        bad[0] = 3;
        assert!(decode(&bad, &payload, f.len()).is_err());
        for i in 0..ext.len() {
            for v in [0u8, 1, 0x7F, 0xFF] {
                let mut e = ext.clone();
                e[i] = v;
                let _ = decode(&e, &payload, f.len());
            }
        }
        let mut p = payload.clone();
        for i in (0..p.len()).step_by(997) {
            p[i] ^= 0x55;
        }
        let _ = decode(&ext, &p, f.len());
    }
}
