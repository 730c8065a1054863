//! Tabled asymmetric numeral systems (tANS, as in FSE) for a plane's blocks: symbols cost
//! fractional bits, so a skewed exponent plane lands within about 0.1% of its entropy where
//! a Huffman code loses 1.5%. Frequencies are normalized to 2^12; the decoder is a table of
//! 4096 states, each giving a symbol, the bits to read and the next state's base.
//!
//! The encoder runs over a segment backwards and the decoder forwards: the encoder collects
//! each symbol's bits, then writes the final state (12 bits) and the fields in reverse, so
//! the decoder reads one stream from its start.
//!
//! Table layout: the table log (u8, 12: other values are refused), the first and the last
//! symbol with a frequency (u8 each), then each frequency from first to last (LEB128, 0 =
//! no symbol); they sum to 2^12.

use super::{peek, segment, split4, write_fields, STREAMS};

/// The table log this build writes.
const LOG: u32 = 12;

/// A block's tANS code: normalized frequencies summing to 2^log.
#[derive(Clone)]
pub(super) struct Code {
    log: u32,
    freq: [u32; 256],
}

/// Symbol of each state: the frequencies spread over the table (FSE's odd step, which
/// visits every slot once).
fn spread(freq: &[u32; 256], log: u32) -> Vec<u8> {
    let size = 1usize << log;
    let step = (size >> 1) + (size >> 3) + 3;
    let mut at = vec![0u8; size];
    let mut pos = 0;
    for (s, &f) in freq.iter().enumerate() {
        for _ in 0..f {
            at[pos] = s as u8;
            pos = (pos + step) & (size - 1);
        }
    }
    at
}

fn highbit(x: u32) -> u32 {
    31 - x.leading_zeros()
}

fn varint_len(x: u32) -> usize {
    if x < 128 {
        1
    } else {
        2
    }
}

impl Code {
    /// Frequencies for the counts, normalized to 2^[`LOG`]: rounded, every counted symbol
    /// at least 1, then moved one unit at a time where it costs least.
    pub(super) fn new(counts: &[u64; 256]) -> Code {
        let total: u64 = counts.iter().sum();
        let size = 1u64 << LOG;
        let mut freq = [0u32; 256];
        if total == 0 {
            return Code { log: LOG, freq };
        }
        for (f, &c) in freq.iter_mut().zip(counts) {
            if c > 0 {
                *f = ((c * size + total / 2) / total).max(1) as u32;
            }
        }
        let mut sum: u64 = freq.iter().map(|&f| u64::from(f)).sum();
        if sum != size {
            let grow = sum < size;
            // Bits saved by growing, or lost by shrinking, each frequency by one; only the
            // changed symbol's entry is recomputed (at most 256 + rounding steps).
            let delta = |s: usize, f: u32| -> f64 {
                let (c, f) = (counts[s] as f64, f64::from(f));
                match (counts[s], grow) {
                    (0, _) => f64::NEG_INFINITY,
                    (_, true) => c * ((f + 1.0) / f).log2(),
                    (_, false) if f <= 1.0 => f64::NEG_INFINITY,
                    (_, false) => -c * (f / (f - 1.0)).log2(),
                }
            };
            let mut gain: Vec<f64> = (0..256).map(|s| delta(s, freq[s])).collect();
            while sum != size {
                let Some((s, _)) = gain
                    .iter()
                    .enumerate()
                    .filter(|(_, d)| d.is_finite())
                    .max_by(|a, b| a.1.total_cmp(b.1))
                else {
                    break;
                };
                if grow {
                    freq[s] += 1;
                    sum += 1;
                } else {
                    freq[s] -= 1;
                    sum -= 1;
                }
                gain[s] = delta(s, freq[s]);
            }
        }
        Code { log: LOG, freq }
    }

    /// Expected bits under this code, or None when a counted symbol has no frequency.
    pub(super) fn cost(&self, counts: &[u64; 256]) -> Option<u64> {
        let mut bits = 0.0;
        for (&c, &f) in counts.iter().zip(&self.freq) {
            if c > 0 {
                if f == 0 {
                    return None;
                }
                bits += c as f64 * (f64::from(self.log) - f64::from(f).log2());
            }
        }
        Some(bits.ceil() as u64)
    }

    fn bounds(&self) -> (usize, usize) {
        let first = self.freq.iter().position(|&f| f > 0).unwrap_or(0);
        let last = self.freq.iter().rposition(|&f| f > 0).unwrap_or(0);
        (first, last)
    }

    pub(super) fn table_bytes(&self) -> usize {
        let (first, last) = self.bounds();
        3 + self.freq[first..=last]
            .iter()
            .map(|&f| varint_len(f))
            .sum::<usize>()
    }

    pub(super) fn write_table(&self, out: &mut Vec<u8>) {
        let (first, last) = self.bounds();
        out.extend_from_slice(&[self.log as u8, first as u8, last as u8]);
        for &f in &self.freq[first..=last] {
            if f < 128 {
                out.push(f as u8);
            } else {
                out.extend_from_slice(&[(f & 0x7F) as u8 | 0x80, (f >> 7) as u8]);
            }
        }
    }

    pub(super) fn encoder(&self) -> Encoder {
        let size = 1usize << self.log;
        let at = spread(&self.freq, self.log);
        let mut start = [0u32; 256];
        let mut acc = 0;
        for (st, &f) in start.iter_mut().zip(&self.freq) {
            *st = acc;
            acc += f;
        }
        // The states of symbol s, in table order: the one to enter from x ∈ [f, 2f) is
        // states[start[s] + x − f].
        let mut states = Box::new([0u16; 1 << LOG]);
        let mut next = start;
        for (i, &s) in at.iter().enumerate() {
            states[next[s as usize] as usize] = (size + i) as u16;
            next[s as usize] += 1;
        }
        // Per symbol (FSE's form): bits out = (x + delta_bits) >> 16 shifts x ∈ [2^log,
        // 2^(log+1)) into [f, 2f); the state index is then (x >> bits) + delta_state.
        let mut symbol = [(0u32, 0i32); 256];
        for (s, &f) in self.freq.iter().enumerate() {
            if f > 0 {
                let max_bits = self.log - highbit(f);
                let delta_bits = (max_bits << 16).wrapping_sub(f << max_bits);
                symbol[s] = (delta_bits, start[s] as i32 - f as i32);
            }
        }
        Encoder {
            log: self.log,
            symbol,
            states,
        }
    }
}

/// A code ready to write.
pub(super) struct Encoder {
    log: u32,
    /// Per symbol: delta_bits, delta_state.
    symbol: [(u32, i32); 256],
    states: Box<[u16; 1 << LOG]>,
}

impl Encoder {
    /// Append a block's streams (four segments, as the decoder reads them) to `out`:
    /// each stream is the start state, then each symbol's bits, for the decoder to read
    /// forwards. Returns each stream's length. The four segments are encoded together,
    /// backwards, so the four state chains overlap in the CPU.
    /// `fields` is scratch space (kept by the caller across blocks).
    pub(super) fn encode(
        &self,
        block: &[u8],
        fields: &mut [Vec<u16>; STREAMS],
        out: &mut Vec<u8>,
    ) -> [usize; STREAMS] {
        let size = 1u32 << self.log;
        let segs: [&[u8]; STREAMS] = std::array::from_fn(|k| &block[segment(block.len(), k)]);
        // fields[k][0] is stream k's start state, fields[k][j + 1] the bits of symbol j.
        for (f, s) in fields.iter_mut().zip(&segs) {
            f.resize(s.len() + 1, 0);
        }
        let mut x = [size; STREAMS];
        let step = |x: &mut u32, s: u8| -> u16 {
            let (delta_bits, delta_state) = self.symbol[s as usize];
            let bits = x.wrapping_add(delta_bits) >> 16;
            let field = (*x & ((1 << bits) - 1) | bits << 12) as u16;
            let i = ((*x >> bits) as i32 + delta_state) as usize;
            *x = u32::from(self.states[i & ((1 << LOG) - 1)]);
            field
        };
        // Segments 0..3 have the same length and the last may be shorter: the others'
        // extra symbols first, then all four together.
        let shortest = segs[STREAMS - 1].len();
        for j in (shortest..segs[0].len()).rev() {
            for k in 0..STREAMS - 1 {
                if let Some(&s) = segs[k].get(j) {
                    fields[k][j + 1] = step(&mut x[k], s);
                }
            }
        }
        let [f0, f1, f2, f3] = fields;
        let [s0, s1, s2, s3] = segs.map(|s| &s[..shortest]);
        let (mut x0, mut x1, mut x2, mut x3) = (x[0], x[1], x[2], x[3]);
        let syms = s0.iter().zip(s1).zip(s2).zip(s3).rev();
        let outs = f0[1..=shortest]
            .iter_mut()
            .zip(&mut f1[1..=shortest])
            .zip(&mut f2[1..=shortest])
            .zip(&mut f3[1..=shortest])
            .rev();
        for ((((a, b), c), d), (((fa, fb), fc), fd)) in syms.zip(outs) {
            *fa = step(&mut x0, *a);
            *fb = step(&mut x1, *b);
            *fc = step(&mut x2, *c);
            *fd = step(&mut x3, *d);
        }
        x = [x0, x1, x2, x3];
        let mut lens = [0; STREAMS];
        for k in 0..STREAMS {
            let start = out.len();
            if !segs[k].is_empty() {
                fields[k][0] = ((x[k] - size) | self.log << 12) as u16;
                let f = &fields[k];
                write_fields(f, |v| v, out);
            }
            lens[k] = out.len() - start;
        }
        lens
    }
}

/// A block's decoding tables: per state, the bits to read (bits 0..8 of the entry, where a
/// shift by the entry finds them), the symbol (8..16) and the next state's base (16..32);
/// and beside it the mask of those bits.
pub(super) struct Decoder {
    table: Box<[u32; 1 << LOG]>,
    /// Per state, the mask of the bits to read (2^bits − 1): a load beside the entry's
    /// instead of building it from the count on the lookup chain (measured: 1.04 → 0.83 ns
    /// a symbol, with the count in the entry's low byte).
    mask: Box<[u16; 1 << LOG]>,
}

impl Decoder {
    /// Read a table from the start of `src`: the decoder and the bytes it took. A table
    /// whose frequencies do not sum to 2^12 is an error.
    pub(super) fn read(src: &[u8]) -> Result<(Decoder, usize), String> {
        let (log, first, last) = match src.get(..3) {
            Some(&[a, b, c]) => (u32::from(a), usize::from(b), usize::from(c)),
            _ => return Err("truncated tANS table".into()),
        };
        if log != LOG || first > last {
            return Err(format!("tANS table log {log}, symbols {first}..{last}"));
        }
        let mut freq = [0u32; 256];
        let mut at = 3;
        for f in &mut freq[first..=last] {
            let b = *src.get(at).ok_or("truncated tANS table")?;
            at += 1;
            *f = u32::from(b & 0x7F);
            if b & 0x80 != 0 {
                let hi = *src.get(at).ok_or("truncated tANS table")?;
                at += 1;
                *f |= u32::from(hi) << 7;
            }
        }
        let sum: u32 = freq.iter().sum();
        if sum != 1 << LOG {
            return Err("tANS frequencies do not sum to the table size".into());
        }
        let size = 1u32 << LOG;
        let mut next = freq;
        let mut table = Box::new([0u32; 1 << LOG]);
        let mut mask = Box::new([0u16; 1 << LOG]);
        for ((e, m), &s) in table
            .iter_mut()
            .zip(mask.iter_mut())
            .zip(&spread(&freq, LOG))
        {
            let x = next[s as usize];
            next[s as usize] += 1;
            // x ∈ [f, 2f): read nb bits to return to [2^12, 2^13).
            let nb = LOG - highbit(x);
            let base = (x << nb) - size;
            *e = nb | u32::from(s) << 8 | base << 16;
            *m = ((1u32 << nb) - 1) as u16;
        }
        Ok((Decoder { table, mask }, at))
    }

    /// Decode a block of `n` symbols from its streams into `out[..n]`.
    pub(super) fn decode(
        &self,
        streams: &[&[u8]; STREAMS],
        n: usize,
        out: &mut [u8],
    ) -> Result<(), String> {
        const MASK: usize = (1 << LOG) - 1;
        let mut pos = [0usize; STREAMS];
        let mut end = [0usize; STREAMS];
        let mut x = [0usize; STREAMS];
        let mut bit = [0usize; STREAMS];
        for k in 0..STREAMS {
            let r = segment(n, k);
            (pos[k], end[k]) = (r.start, r.end);
            if !r.is_empty() {
                x[k] = peek(streams[k], 0) as usize & MASK;
                bit[k] = LOG as usize;
            }
        }
        // Four symbols per stream per round (at most 48 of one peek's 57 bits), the streams
        // interleaved symbol by symbol so their table lookups overlap; each stream writes
        // its own segment of `out` (split once, so the loop holds no array of positions).
        let t = &*self.table;
        let mt = &*self.mask;
        let [o0, o1, o2, o3] = split4(out, &end);
        let rounds = (0..STREAMS)
            .map(|k| (end[k] - pos[k]) / 4)
            .min()
            .unwrap_or(0);
        let (mut x0, mut x1, mut x2, mut x3) = (x[0], x[1], x[2], x[3]);
        let (mut b0, mut b1, mut b2, mut b3) = (bit[0], bit[1], bit[2], bit[3]);
        for r in 0..rounds {
            let mut w0 = peek(streams[0], b0);
            let mut w1 = peek(streams[1], b1);
            let mut w2 = peek(streams[2], b2);
            let mut w3 = peek(streams[3], b3);
            let (d0, d1, d2, d3) = (
                &mut o0[4 * r..4 * r + 4],
                &mut o1[4 * r..4 * r + 4],
                &mut o2[4 * r..4 * r + 4],
                &mut o3[4 * r..4 * r + 4],
            );
            for j in 0..4 {
                macro_rules! step {
                    ($x:ident, $w:ident, $b:ident, $d:ident) => {
                        let (e, m) = (t[$x & MASK], mt[$x & MASK]);
                        $d[j] = (e >> 8) as u8;
                        let nb = e & 63;
                        $x = (e >> 16) as usize + ($w & u64::from(m)) as usize;
                        $w >>= nb;
                        $b += nb as usize;
                    };
                }
                step!(x0, w0, b0, d0);
                step!(x1, w1, b1, d1);
                step!(x2, w2, b2, d2);
                step!(x3, w3, b3, d3);
            }
        }
        (x, bit) = ([x0, x1, x2, x3], [b0, b1, b2, b3]);
        for p in &mut pos {
            *p += 4 * rounds;
        }
        for k in 0..STREAMS {
            let (s, mut b, mut x) = (streams[k], bit[k], x[k]);
            for o in &mut out[pos[k]..end[k]] {
                let e = self.table[x & MASK];
                *o = (e >> 8) as u8;
                let nb = e & 63;
                x = (e >> 16) as usize + (peek(s, b) & ((1u64 << nb) - 1)) as usize;
                b += nb as usize;
            }
            if b > s.len() * 8 {
                return Err(format!("tANS stream {k} ends early"));
            }
        }
        Ok(())
    }
}
