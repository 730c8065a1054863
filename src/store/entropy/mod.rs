//! Order-0 entropy coding of one byte plane (plane mode 2 of the byte-plane codec).
//!
//! The exponent plane of float weights is a skewed, memoryless byte source and the
//! mantissa planes are nearly flat: for both, order-0 entropy is the bound, and zstd (tuned
//! as well as it goes) spends a few percent more on them. A plane is cut into blocks of
//! [`BLOCK`] bytes, each coded on its own statistics (weights drift along a matrix and from
//! tensor to tensor) with the cheaper of two coders:
//! - **Huffman** (`huffman`): canonical codes of at most 11 bits; one table lookup yields up
//!   to three exponents. Within about 1.5% of the entropy on an exponent plane, 0.1% on a
//!   mantissa plane.
//! - **tANS** (`tans`, the table variant of asymmetric numeral systems, as in FSE):
//!   fractional bits per symbol, within about 0.1% of the entropy, one symbol a lookup.
//!
//! A block may reuse the last table (one byte instead of the table), and a block that coding
//! would shrink by less than 1/64 is stored raw: a nearly flat mantissa plane would cost
//! decoding time for a fraction of a percent (docs/BENCHMARKS.md). Each block
//! is four independent bit streams (four segments of the block) that the decoder runs in
//! lockstep, so the CPU overlaps their table lookups.
//!
//! Layout of a coded plane:
//! ```text
//! plane:   block size B (u32 LE, symbols), then ⌈n / B⌉ blocks
//! block:   body length (u32 LE), then the body:
//!          kind: 0 a Huffman table follows, 1 the last table read, 2 a tANS table,
//!                3 raw (the block's bytes follow, nothing else)
//!          table (by kind; `huffman::Code::write_table`, `tans::Code::write_table`)
//!          sizes: u32 LE × 3, the byte lengths of streams 0..3 (stream 3 takes the rest)
//!          streams: bits least significant first; stream k codes symbols [k·q, (k+1)·q)
//!          of the block, q = ⌈m / 4⌉ (m: the block's symbols)
//! ```
//! Decoding trusts nothing: every table is validated, every table entry decodes to some
//! symbol, a stream is read with zeros past its end, and a stream that needed more bits than
//! it holds, or bytes left after the last block, are errors. What decodes is then checked
//! against the object's hash by the caller, as every object is.

mod huffman;
mod tans;

/// Symbols per block in planes this build writes. 64 Ki measured best on real weights:
/// 16 Ki blocks pay more in tables than they gain, 256 Ki blocks adapt too slowly
/// (docs/BENCHMARKS.md, "Codecs at the entropy bound").
const BLOCK: usize = 64 * 1024;
/// Block sizes a reader accepts (a tiny one would only make decoding slow).
const MIN_BLOCK: usize = 1024;
const MAX_BLOCK: usize = 1 << 24;
/// Independent bit streams per block.
const STREAMS: usize = 4;

const KIND_HUFFMAN: u8 = 0;
const KIND_REUSE: u8 = 1;
const KIND_TANS: u8 = 2;
const KIND_RAW: u8 = 3;
/// A block is coded only where that saves at least 1/WORTH of its bytes.
const WORTH: u64 = 64;

/// Byte frequencies (four interleaved counters: a single one stalls on repeated bytes).
fn histogram(data: &[u8]) -> [u64; 256] {
    let mut h = [[0u32; 256]; 4];
    let mut quads = data.chunks_exact(4);
    for q in &mut quads {
        h[0][q[0] as usize] += 1;
        h[1][q[1] as usize] += 1;
        h[2][q[2] as usize] += 1;
        h[3][q[3] as usize] += 1;
    }
    for &b in quads.remainder() {
        h[0][b as usize] += 1;
    }
    let mut out = [0u64; 256];
    for (s, o) in out.iter_mut().enumerate() {
        *o = h.iter().map(|x| u64::from(x[s])).sum();
    }
    out
}

/// Frequencies of every `stride`th byte.
fn histogram_every(data: &[u8], stride: usize) -> [u64; 256] {
    let mut h = [0u64; 256];
    for &b in data.iter().step_by(stride) {
        h[b as usize] += 1;
    }
    h
}

/// Order-0 entropy of every `stride`th byte of `data`, in bits a byte (8 when there is no
/// byte): what the plane codec's layout choice and this coder's raw test estimate from.
pub(crate) fn bits_per_byte(data: &[u8], stride: usize) -> f64 {
    let freq = if stride <= 1 {
        histogram(data)
    } else {
        histogram_every(data, stride)
    };
    let n: u64 = freq.iter().sum();
    if n == 0 {
        return 8.0;
    }
    entropy_bits(&freq) / n as f64
}

/// Order-0 entropy of the counted symbols, in bits (all of them).
fn entropy_bits(freq: &[u64; 256]) -> f64 {
    let n: u64 = freq.iter().sum();
    let n = n as f64;
    freq.iter()
        .filter(|&&c| c > 0)
        .map(|&c| -(c as f64) * (c as f64 / n).log2())
        .sum()
}

/// A block's code.
#[derive(Clone)]
enum Code {
    Huffman(Box<huffman::Code>),
    Tans(Box<tans::Code>),
}

impl Code {
    /// Bits the symbols counted in `freq` cost under this code (tANS: the expectation),
    /// or None when one of them has no code.
    fn cost(&self, freq: &[u64; 256]) -> Option<u64> {
        match self {
            Code::Huffman(c) => c.cost(freq),
            Code::Tans(c) => c.cost(freq),
        }
    }

    fn table_bytes(&self) -> usize {
        match self {
            Code::Huffman(c) => c.table_bytes(),
            Code::Tans(c) => c.table_bytes(),
        }
    }
}

/// How one block is coded.
struct BlockPlan {
    /// None: stored raw.
    code: Option<Code>,
    /// The last table written is used (no table is written).
    reuse: bool,
}

/// A plane's codes, chosen from its bytes, and the size of the plane coded with them.
pub(crate) struct Plan {
    blocks: Vec<BlockPlan>,
    /// Bytes `encode` will append, at most (tANS: its expected size, which it meets within
    /// a few bytes a block).
    pub size: usize,
}

/// The codes for `data`, block by block, and its coded size (headers and padding included).
pub(crate) fn plan(data: &[u8]) -> Plan {
    let mut blocks: Vec<BlockPlan> = Vec::new();
    let mut last: Option<Code> = None;
    let mut size = 4;
    for b in data.chunks(BLOCK) {
        // Near-flat blocks (mantissas) are raw without building codes: no code beats the
        // order-0 entropy. A sample of every 8th byte decides the clear cases (its
        // estimate runs low: a block measures over 7.92 bits only if it is at least as flat).
        if b.len() >= 16 * 1024 && bits_per_byte(b, 8) > 7.92 {
            size += 4 + 1 + b.len();
            blocks.push(BlockPlan {
                code: None,
                reuse: false,
            });
            continue;
        }
        let freq = histogram(b);
        // The exact test: no code saves 1/WORTH where the entropy does not.
        let entropy = entropy_bits(&freq);
        if entropy * WORTH as f64 > 8.0 * (WORTH - 1) as f64 * b.len() as f64 {
            size += 4 + 1 + b.len();
            blocks.push(BlockPlan {
                code: None,
                reuse: false,
            });
            continue;
        }
        // A block the last table codes within 0.3% of its entropy keeps it, without
        // building codes (stationary planes).
        if let Some((code, bits)) = last
            .as_ref()
            .and_then(|c| Some((c.clone(), c.cost(&freq)?)))
            .filter(|(_, bits)| (*bits as f64) < entropy * 1.003 + 64.0)
        {
            size += 4 + 1 + 4 * (STREAMS - 1) + bits as usize / 8 + 3 * STREAMS;
            blocks.push(BlockPlan {
                code: Some(code),
                reuse: true,
            });
            continue;
        }
        // The cheapest of a new tANS table, a new Huffman table and the last table. A
        // Huffman code costs at least the entropy plus its table, so it is built only when
        // that could beat tANS (short blocks, nearly dyadic frequencies).
        let mut best: Option<(Code, bool, u64)> = None;
        let mut consider = |code: Code, reuse: bool| -> Option<u64> {
            let bits = code.cost(&freq)?;
            let table = if reuse { 0 } else { code.table_bytes() as u64 };
            let bytes = bits / 8 + table;
            if best.as_ref().is_none_or(|(_, _, c)| bytes < *c) {
                best = Some((code, reuse, bytes));
            }
            Some(bytes)
        };
        let tans = consider(Code::Tans(Box::new(tans::Code::new(&freq))), false);
        let last_symbol = freq.iter().rposition(|&f| f > 0).unwrap_or(0) as u64;
        let huffman_floor = (entropy / 8.0) as u64 + 1 + (last_symbol + 2) / 2;
        if tans.is_none_or(|t| huffman_floor < t) {
            consider(Code::Huffman(Box::new(huffman::Code::new(&freq))), false);
        }
        if let Some(code) = last.clone() {
            consider(code, true);
        }
        // Body length, kind, then the table, stream sizes, streams and their padding.
        size += 4 + 1;
        match best {
            Some((code, reuse, bytes)) if bytes * WORTH <= b.len() as u64 * (WORTH - 1) => {
                size += 4 * (STREAMS - 1) + bytes as usize + 3 * STREAMS;
                last = Some(code.clone());
                blocks.push(BlockPlan {
                    code: Some(code),
                    reuse,
                });
            }
            _ => {
                size += b.len();
                blocks.push(BlockPlan {
                    code: None,
                    reuse: false,
                });
            }
        }
    }
    Plan { blocks, size }
}

/// The `k`th of [`STREAMS`] segments of `n` symbols: its range.
fn segment(n: usize, k: usize) -> std::ops::Range<usize> {
    let q = n.div_ceil(STREAMS);
    (k * q).min(n)..((k + 1) * q).min(n)
}

/// Append `data` coded with `plan` to `out`.
pub(crate) fn encode(data: &[u8], plan: &Plan, out: &mut Vec<u8>) {
    out.extend_from_slice(&(BLOCK as u32).to_le_bytes());
    let mut encoder: Option<Encoder> = None;
    // tANS's per-symbol bits, reused from block to block.
    let mut fields: [Vec<u16>; STREAMS] = Default::default();
    for (b, bp) in data.chunks(BLOCK).zip(&plan.blocks) {
        let at = out.len();
        out.extend_from_slice(&[0u8; 4]);
        let Some(code) = &bp.code else {
            out.push(KIND_RAW);
            out.extend_from_slice(b);
            let body = (out.len() - at - 4) as u32;
            out[at..at + 4].copy_from_slice(&body.to_le_bytes());
            continue;
        };
        match (code, bp.reuse) {
            (_, true) => out.push(KIND_REUSE),
            (Code::Huffman(c), false) => {
                out.push(KIND_HUFFMAN);
                c.write_table(out);
            }
            (Code::Tans(c), false) => {
                out.push(KIND_TANS);
                c.write_table(out);
            }
        }
        let sizes_at = out.len();
        out.extend_from_slice(&[0u8; 4 * (STREAMS - 1)]);
        // A reused code keeps its encoder.
        if !bp.reuse {
            encoder = None;
        }
        let lens = match encoder.get_or_insert_with(|| match code {
            Code::Huffman(c) => Encoder::Huffman(Box::new(c.encoder())),
            Code::Tans(c) => Encoder::Tans(Box::new(c.encoder())),
        }) {
            Encoder::Huffman(e) => e.encode(b, out),
            Encoder::Tans(e) => e.encode(b, &mut fields, out),
        };
        for (k, n) in lens.iter().take(STREAMS - 1).enumerate() {
            out[sizes_at + 4 * k..sizes_at + 4 * k + 4].copy_from_slice(&(*n as u32).to_le_bytes());
        }
        let body = (out.len() - at - 4) as u32;
        out[at..at + 4].copy_from_slice(&body.to_le_bytes());
    }
}

enum Encoder {
    Huffman(Box<huffman::Encoder>),
    Tans(Box<tans::Encoder>),
}

/// Append bit fields to `out`, one per item: `field(item)` is `value | bits << 12`
/// (bits ≤ 12), written least significant bits first, the last byte padded with zeros.
#[inline(always)]
fn write_fields<T: Copy>(items: &[T], field: impl Fn(T) -> u16, out: &mut Vec<u8>) {
    // At most 12 bits a field; each store appends 8 bytes and keeps the whole ones.
    out.reserve(items.len() * 12 / 8 + 16);
    let (mut acc, mut nb) = (0u64, 0u32);
    let mut quads = items.chunks_exact(4);
    for q in &mut quads {
        // Four fields (≤ 48 bits) joined apart from the accumulator's chain, then added on
        // top of its < 8 pending bits.
        let f = [field(q[0]), field(q[1]), field(q[2]), field(q[3])];
        let n = f.map(|x| u32::from(x >> 12));
        let v = u64::from(f[0] & 0xFFF)
            | u64::from(f[1] & 0xFFF) << n[0]
            | u64::from(f[2] & 0xFFF) << (n[0] + n[1])
            | u64::from(f[3] & 0xFFF) << (n[0] + n[1] + n[2]);
        acc |= v << nb;
        nb += n[0] + n[1] + n[2] + n[3];
        out.extend_from_slice(&acc.to_le_bytes());
        out.truncate(out.len() - 8 + (nb >> 3) as usize);
        acc >>= nb & !7;
        nb &= 7;
    }
    for &i in quads.remainder() {
        let f = field(i);
        acc |= u64::from(f & 0xFFF) << nb;
        nb += u32::from(f >> 12);
    }
    out.extend_from_slice(&acc.to_le_bytes());
    out.truncate(out.len() - 8 + nb.div_ceil(8) as usize);
}

/// 64 bits of `s` from bit `pos` on (zeros past its end); at least 57 are meaningful.
#[inline(always)]
fn peek(s: &[u8], pos: usize) -> u64 {
    let i = pos >> 3;
    let mut b = [0u8; 8];
    match s.get(i..i + 8) {
        Some(w) => b.copy_from_slice(w),
        None => {
            let rest = s.get(i..).unwrap_or(&[]);
            b[..rest.len()].copy_from_slice(rest);
        }
    }
    u64::from_le_bytes(b) >> (pos & 7)
}

/// The four streams' own parts of a block's output: from each segment's start to the
/// next one's (the last to the end of `out`, which holds the block's slack).
fn split4<'a>(out: &'a mut [u8], end: &[usize; STREAMS]) -> [&'a mut [u8]; STREAMS] {
    let (a, rest) = out.split_at_mut(end[0]);
    let (b, rest) = rest.split_at_mut(end[1] - end[0]);
    let (c, d) = rest.split_at_mut(end[2] - end[1]);
    [a, b, c, d]
}

/// Read a little-endian u32 at `at` of `src`.
fn u32_at(src: &[u8], at: usize) -> Result<usize, String> {
    let b = src.get(at..at.saturating_add(4)).ok_or("truncated plane")?;
    Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
}

/// A block's decoding tables.
enum Decoder {
    Huffman(huffman::Decoder),
    Tans(tans::Decoder),
}

/// Decode a coded plane of `n` bytes into `out[..n]`; `out` must hold `n + 4` bytes (the
/// fast loops store four bytes at a time). Every byte of `src` must belong to the plane.
pub(crate) fn decode(src: &[u8], n: usize, out: &mut [u8]) -> Result<(), String> {
    if out.len() < n + 4 {
        return Err("output buffer too small".into());
    }
    let block = u32_at(src, 0)?;
    if !(MIN_BLOCK..=MAX_BLOCK).contains(&block) {
        return Err(format!("block size {block}"));
    }
    let mut at = 4;
    let mut decoder: Option<Decoder> = None;
    let mut start = 0;
    while start < n {
        let m = block.min(n - start);
        let body = u32_at(src, at)?;
        let end = (at + 4)
            .checked_add(body)
            .filter(|&e| e <= src.len())
            .ok_or("a block runs past the plane")?;
        let b = &src[at + 4..end];
        let table = b.get(1..).unwrap_or(&[]);
        let used = match b.first() {
            Some(&KIND_RAW) if table.len() == m => {
                out[start..start + m].copy_from_slice(table);
                start += m;
                at = end;
                continue;
            }
            Some(&KIND_REUSE) if decoder.is_some() => 0,
            Some(&KIND_HUFFMAN) => {
                let (d, used) = huffman::Decoder::read(table)?;
                decoder = Some(Decoder::Huffman(d));
                used
            }
            Some(&KIND_TANS) => {
                let (d, used) = tans::Decoder::read(table)?;
                decoder = Some(Decoder::Tans(d));
                used
            }
            _ => return Err("bad block kind".into()),
        };
        let streams = streams(&table[used..])?;
        let out = &mut out[start..start + m + 4];
        match decoder.as_ref().ok_or("no table")? {
            Decoder::Huffman(d) => d.decode(&streams, m, out)?,
            Decoder::Tans(d) => d.decode(&streams, m, out)?,
        }
        start += m;
        at = end;
    }
    if at != src.len() {
        return Err("bytes after the last block".into());
    }
    Ok(())
}

/// A block's streams, from its stream sizes.
fn streams(src: &[u8]) -> Result<[&[u8]; STREAMS], String> {
    let mut at = 4 * (STREAMS - 1);
    if src.len() < at {
        return Err("truncated stream sizes".into());
    }
    let mut streams: [&[u8]; STREAMS] = [&[]; STREAMS];
    for (k, stream) in streams.iter_mut().enumerate() {
        let size = if k < STREAMS - 1 {
            u32_at(src, 4 * k)?
        } else {
            src.len() - at
        };
        let end = at
            .checked_add(size)
            .filter(|&e| e <= src.len())
            .ok_or("a stream runs past the block")?;
        *stream = &src[at..end];
        at = end;
    }
    Ok(streams)
}

#[cfg(test)]
mod tests;
