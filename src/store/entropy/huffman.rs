//! Canonical Huffman codes for a plane's blocks: lengths limited to 11 bits, codes in
//! DEFLATE's canonical order (so the lengths define them), bit-reversed for streams read
//! least significant bit first. Decoding looks up 12 bits at a time and yields up to three
//! symbols a lookup when codes are short (an exponent costs about 2.6 bits), one a lookup
//! otherwise.
//!
//! Table layout: the largest symbol with a code (u8), then that many + 1 code lengths
//! (0 = no code, 1..=11), two a byte, low nibble first.

use super::{peek, segment, write_fields, STREAMS};

/// Longest code: 11 bits (a 2 KiB single-symbol table; at most 2^11 ≥ 256 codes).
const MAX_LEN: u32 = 11;
/// Bits one multi-symbol lookup reads.
const TABLE_BITS: u32 = 12;

/// A block's Huffman code: its lengths.
#[derive(Clone)]
pub(super) struct Code {
    pub(super) len: [u8; 256],
}

impl Code {
    /// Huffman's code for the frequencies, limited to [`MAX_LEN`] by halving them (rare
    /// symbols lose a little) until the tree fits.
    pub(super) fn new(freq: &[u64; 256]) -> Code {
        let mut f = *freq;
        loop {
            let len = lengths(&f);
            if len.iter().all(|&l| u32::from(l) <= MAX_LEN) {
                return Code { len };
            }
            for x in f.iter_mut().filter(|x| **x > 0) {
                *x = (*x >> 1).max(1);
            }
        }
    }

    /// Bits under this code, or None when a counted symbol has no code.
    pub(super) fn cost(&self, freq: &[u64; 256]) -> Option<u64> {
        let mut bits = 0;
        for (&f, &l) in freq.iter().zip(&self.len) {
            if f > 0 && l == 0 {
                return None;
            }
            bits += f * u64::from(l);
        }
        Some(bits)
    }

    fn last(&self) -> usize {
        self.len.iter().rposition(|&l| l > 0).unwrap_or(0)
    }

    pub(super) fn table_bytes(&self) -> usize {
        1 + (self.last() + 2) / 2
    }

    pub(super) fn write_table(&self, out: &mut Vec<u8>) {
        let last = self.last();
        out.push(last as u8);
        for pair in self.len[..=last].chunks(2) {
            out.push(pair[0] | pair.get(1).map_or(0, |h| h << 4));
        }
    }

    pub(super) fn encoder(&self) -> Encoder {
        let code = codes(&self.len);
        let mut table = [0u16; 256];
        for s in 0..256 {
            table[s] = code[s] | u16::from(self.len[s]) << 12;
        }
        Encoder { table }
    }
}

/// Unlimited Huffman code lengths (two-queue construction over the sorted leaves).
fn lengths(freq: &[u64; 256]) -> [u8; 256] {
    let mut len = [0u8; 256];
    let mut leaves: Vec<(u64, u8)> = (0..=255u8)
        .filter(|&s| freq[s as usize] > 0)
        .map(|s| (freq[s as usize], s))
        .collect();
    match leaves.len() {
        0 => return len,
        1 => {
            len[leaves[0].1 as usize] = 1;
            return len;
        }
        _ => {}
    }
    leaves.sort_unstable();
    let m = leaves.len();
    let mut weight: Vec<u64> = leaves.iter().map(|l| l.0).collect();
    weight.resize(2 * m - 1, 0);
    let mut parent = vec![0usize; 2 * m - 1];
    let (mut li, mut ni) = (0, m);
    for k in m..2 * m - 1 {
        let mut take = || {
            if li < m && (ni >= k || weight[li] <= weight[ni]) {
                li += 1;
                li - 1
            } else {
                ni += 1;
                ni - 1
            }
        };
        let (a, b) = (take(), take());
        weight[k] = weight[a] + weight[b];
        parent[a] = k;
        parent[b] = k;
    }
    // Parents come after their children: one backward pass gives every depth.
    let mut depth = vec![0u8; 2 * m - 1];
    for k in (0..2 * m - 2).rev() {
        depth[k] = depth[parent[k]].saturating_add(1);
    }
    for (i, &(_, s)) in leaves.iter().enumerate() {
        len[s as usize] = depth[i];
    }
    len
}

/// Canonical codes for `len`, bit-reversed for least-significant-first streams.
fn codes(len: &[u8; 256]) -> [u16; 256] {
    let mut count = [0u16; 16];
    for &l in len.iter().filter(|&&l| l > 0) {
        count[l as usize] += 1;
    }
    let mut next = [0u16; 16];
    let mut code = 0u16;
    for l in 1..16 {
        code = (code + count[l - 1]) << 1;
        next[l] = code;
    }
    let mut out = [0u16; 256];
    for s in 0..256 {
        let l = len[s];
        if l > 0 {
            let c = next[l as usize];
            next[l as usize] += 1;
            out[s] = c.reverse_bits() >> (16 - l);
        }
    }
    out
}

/// A code ready to write: code | length << 12 per symbol.
pub(super) struct Encoder {
    table: [u16; 256],
}

impl Encoder {
    /// Append a block's streams (its four segments' codes) to `out`; returns each
    /// stream's length.
    pub(super) fn encode(&self, block: &[u8], out: &mut Vec<u8>) -> [usize; STREAMS] {
        let mut lens = [0; STREAMS];
        for (k, len) in lens.iter_mut().enumerate() {
            let seg = &block[segment(block.len(), k)];
            let start = out.len();
            write_fields(seg, |b| self.table[b as usize], out);
            *len = out.len() - start;
        }
        lens
    }
}

/// A block's decoding tables.
pub(super) struct Decoder {
    /// symbol | length << 8, indexed by the next [`MAX_LEN`] bits.
    single: Vec<u16>,
    /// Up to three symbols whose codes fit in [`TABLE_BITS`] bits (bits 0..24), the bits
    /// they take (24..28) and their count (28..30); empty when no two codes fit together.
    multi: Vec<u32>,
}

impl Decoder {
    /// Read a table from the start of `src`: the decoder and the bytes it took. Lengths
    /// over [`MAX_LEN`] and oversubscribed codes are errors.
    pub(super) fn read(src: &[u8]) -> Result<(Decoder, usize), String> {
        let last = *src.first().ok_or("truncated huffman table")? as usize;
        let packed = src
            .get(1..1 + (last + 2) / 2)
            .ok_or("truncated huffman table")?;
        let mut len = [0u8; 256];
        for (s, l) in len.iter_mut().enumerate().take(last + 1) {
            *l = (packed[s / 2] >> (4 * (s % 2))) & 15;
            if u32::from(*l) > MAX_LEN {
                return Err("huffman code too long".into());
            }
        }
        Ok((Decoder::new(&len)?, 1 + packed.len()))
    }

    fn new(len: &[u8; 256]) -> Result<Decoder, String> {
        let kraft: u32 = len
            .iter()
            .filter(|&&l| l > 0)
            .map(|&l| 1u32 << (MAX_LEN - u32::from(l)))
            .sum();
        if kraft == 0 || kraft > 1 << MAX_LEN {
            return Err("invalid huffman code lengths".into());
        }
        let code = codes(len);
        // Entries no code reaches (an incomplete code: one symbol) stay symbol 0 of length
        // 1: harmless, the object's hash decides.
        let mut single = vec![1u16 << 8; 1 << MAX_LEN];
        for s in 0..256 {
            let l = u32::from(len[s]);
            if l > 0 {
                let step = 1usize << l;
                let mut i = code[s] as usize;
                while i < single.len() {
                    single[i] = s as u16 | (l as u16) << 8;
                    i += step;
                }
            }
        }
        let shortest = len.iter().filter(|&&l| l > 0).min().copied().unwrap_or(1);
        let mut multi = Vec::new();
        if 2 * u32::from(shortest) <= TABLE_BITS {
            multi = vec![0u32; 1 << TABLE_BITS];
            for (idx, m) in multi.iter_mut().enumerate() {
                let (mut bits, mut syms, mut count) = (0u32, 0u32, 0u32);
                while count < 3 {
                    let e = single[(idx >> bits) & ((1 << MAX_LEN) - 1)];
                    let l = u32::from(e >> 8);
                    if bits + l > TABLE_BITS {
                        break;
                    }
                    syms |= u32::from(e & 0xFF) << (8 * count);
                    bits += l;
                    count += 1;
                }
                *m = syms | bits << 24 | count << 28;
            }
        }
        Ok(Decoder { single, multi })
    }

    /// Decode a block of `n` symbols from its streams into `out[..n]` (`out` holds n + 4).
    pub(super) fn decode(
        &self,
        streams: &[&[u8]; STREAMS],
        n: usize,
        out: &mut [u8],
    ) -> Result<(), String> {
        let mut pos = [0usize; STREAMS];
        let mut end = [0usize; STREAMS];
        for k in 0..STREAMS {
            let r = segment(n, k);
            (pos[k], end[k]) = (r.start, r.end);
        }
        let mut bit = [0usize; STREAMS];
        if self.multi.is_empty() {
            // Codes of 7 bits or more: five lookups per stream per round (≤ 55 of one
            // peek's 57 bits), one byte each.
            let mask = (1u64 << MAX_LEN) - 1;
            while (0..STREAMS).all(|k| end[k] - pos[k] >= 5) {
                for k in 0..STREAMS {
                    let mut w = peek(streams[k], bit[k]);
                    let (p, mut b) = (pos[k], bit[k]);
                    for o in &mut out[p..p + 5] {
                        let e = self.single[(w & mask) as usize];
                        *o = e as u8;
                        let used = u32::from(e >> 8);
                        w >>= used;
                        b += used as usize;
                    }
                    pos[k] = p + 5;
                    bit[k] = b;
                }
            }
        } else {
            // Four lookups per stream per round (≤ 48 bits of one peek, ≤ 12 symbols, each
            // lookup a 4-byte store inside the stream's own segment).
            let mask = (1u64 << TABLE_BITS) - 1;
            while (0..STREAMS).all(|k| end[k] - pos[k] >= 16) {
                for k in 0..STREAMS {
                    let mut w = peek(streams[k], bit[k]);
                    let (mut p, mut b) = (pos[k], bit[k]);
                    for _ in 0..4 {
                        let e = self.multi[(w & mask) as usize];
                        out[p..p + 4].copy_from_slice(&e.to_le_bytes());
                        let used = (e >> 24) & 15;
                        w >>= used;
                        b += used as usize;
                        p += (e >> 28) as usize;
                    }
                    pos[k] = p;
                    bit[k] = b;
                }
            }
        }
        for k in 0..STREAMS {
            let (s, mut b) = (streams[k], bit[k]);
            for o in &mut out[pos[k]..end[k]] {
                let e = self.single[(peek(s, b) & ((1 << MAX_LEN) - 1)) as usize];
                *o = e as u8;
                b += usize::from(e >> 8);
            }
            if b > s.len() * 8 {
                return Err(format!("huffman stream {k} ends early"));
            }
        }
        Ok(())
    }
}
