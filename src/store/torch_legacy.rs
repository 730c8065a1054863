//! Where the tensors of a legacy PyTorch checkpoint lie, for the chunker. `torch.save`
//! before 1.6 (and `_use_new_zipfile_serialization=False` since) writes no zip: five
//! pickles — the magic number, the protocol version, system info, the object (tensors
//! stand in as persistent ids), the sorted storage keys — then each storage as an 8-byte
//! little-endian element count followed by its raw bytes. Cutting at each storage's first
//! byte gives the byte-plane codec whole elements, as `store::zip` does for the zip format.
//!
//! The pickles are skipped by walking their opcodes (protocols 2 to 5) to each `STOP`; no
//! object is built and nothing is executed. The element size of each storage is not read
//! from the pickle: the storages must tile the rest of the file exactly, and the one
//! reading that does (4, 2, 8 or 1 bytes per element, tried in that order) is taken.
//! Anything that does not fit — another magic number, an unknown opcode, a count past the
//! end — means "not a checkpoint we cut", never a panic.

/// The magic number `torch.save` pickles first (as a LONG1 under protocol 2).
const MAGIC: [u8; 14] = [
    0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19,
];
/// Storages smaller than this are not worth a cut.
const MIN_STORAGE: usize = 4096;
/// Most storages a file may be read as (bounds the search).
const MAX_STORAGES: usize = 1_000_000;

fn le(d: &[u8], at: usize, n: usize) -> Option<u64> {
    let b = d.get(at..at.checked_add(n)?)?;
    Some(b.iter().rev().fold(0u64, |v, &x| (v << 8) | u64::from(x)))
}

/// The offset just past the pickle that starts at `at` (its STOP opcode), or None.
fn skip_pickle(d: &[u8], mut at: usize) -> Option<usize> {
    let line = |at: usize| -> Option<usize> {
        let rest = d.get(at..)?;
        Some(at + rest.iter().position(|&b| b == b'\n')? + 1)
    };
    loop {
        let op = *d.get(at)?;
        at += 1;
        at = match op {
            b'.' => return Some(at),
            // No argument.
            b'(' | b')' | b']' | b'}' | b'N' | 0x88 | 0x89 | b'a' | b'e' | b's' | b'u' | b't'
            | 0x85 | 0x86 | 0x87 | b'R' | b'b' | 0x81 | b'o' | b'0' | b'1' | b'2' | b'l' | b'd'
            | b'Q' | 0x94 | 0x93 | 0x8f | 0x90 | 0x91 | 0x92 | 0x97 | 0x98 => at,
            // Fixed-size arguments.
            0x80 | b'K' | b'q' | b'h' | 0x82 => at + 1,
            b'M' | 0x83 => at + 2,
            b'J' | b'r' | b'j' | 0x84 => at + 4,
            b'G' => at + 8,
            0x95 => at + 8, // FRAME: its size; the opcodes inside are walked as usual
            // A length, then that many bytes.
            0x8a | b'U' | b'C' | 0x8c => {
                let n = *d.get(at)? as usize;
                at.checked_add(1 + n)?
            }
            0x8b | b'X' | b'T' | b'B' => {
                let n = usize::try_from(le(d, at, 4)?).ok()?;
                at.checked_add(4)?.checked_add(n)?
            }
            0x8d | 0x8e | 0x96 => {
                let n = usize::try_from(le(d, at, 8)?).ok()?;
                at.checked_add(8)?.checked_add(n)?
            }
            // Newline-terminated arguments (one, or two for GLOBAL and INST).
            b'I' | b'L' | b'S' | b'V' | b'F' | b'p' | b'g' | b'P' => line(at)?,
            b'c' | b'i' => line(line(at)?)?,
            _ => return None,
        };
        if at > d.len() {
            return None;
        }
    }
}

/// Read the storages from `at` to the end: each an 8-byte element count and its bytes,
/// exactly tiling the rest. Element sizes are tried per storage (4, 2, 8, 1), depth first
/// with an explicit stack (a file may hold many storages); `dead` remembers offsets from
/// which no tiling exists, so the search stays linear.
fn storages(d: &[u8], at: usize) -> Option<Vec<(usize, usize)>> {
    const SIZES: [u64; 4] = [4, 2, 8, 1];
    let mut dead = std::collections::HashSet::new();
    // (offset of a storage's count, index of the next element size to try)
    let mut stack: Vec<(usize, usize)> = vec![(at, 0)];
    // out[i] is the storage read from stack[i]'s offset.
    let mut out: Vec<(usize, usize)> = Vec::new();
    while let Some(&(pos, next)) = stack.last() {
        if pos == d.len() {
            return Some(out);
        }
        let mut found = None;
        if !(next == 0 && dead.contains(&pos)) && stack.len() <= MAX_STORAGES {
            if let Some(n) = le(d, pos, 8) {
                for (k, size) in SIZES.iter().enumerate().skip(next) {
                    let end = n
                        .checked_mul(*size)
                        .and_then(|b| usize::try_from(b).ok())
                        .and_then(|b| (pos + 8).checked_add(b));
                    if let Some(end) = end.filter(|e| *e <= d.len()) {
                        found = Some((k, end));
                        break;
                    }
                }
            }
        }
        match found {
            Some((k, end)) => {
                if let Some(top) = stack.last_mut() {
                    top.1 = k + 1;
                }
                out.push((pos + 8, end));
                stack.push((end, 0));
            }
            None => {
                // No tiling from here: back up to the storage that led here.
                dead.insert(pos);
                stack.pop();
                out.pop();
            }
        }
    }
    None
}

/// The byte ranges `[start, end)` of the storages of at least `MIN_STORAGE` bytes, sorted,
/// or None when `data` is not a legacy checkpoint.
pub fn storage_ranges(data: &[u8]) -> Option<Vec<(usize, usize)>> {
    if !data.starts_with(&MAGIC) {
        return None;
    }
    let mut at = 0;
    for _ in 0..5 {
        at = skip_pickle(data, at)?;
    }
    let all = storages(data, at)?;
    let big: Vec<(usize, usize)> = all
        .into_iter()
        .filter(|(s, e)| e - s >= MIN_STORAGE)
        .collect();
    (!big.is_empty()).then_some(big)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A legacy checkpoint as `torch.save(..., _use_new_zipfile_serialization=False)`
    /// lays it out: five protocol-2 pickles, then the storages.
    fn legacy(storages: &[(Vec<u8>, u64)]) -> (Vec<u8>, Vec<(usize, usize)>) {
        let mut out = MAGIC.to_vec();
        out.push(b'.');
        out.extend_from_slice(&[0x80, 0x02, b'M', 0xe9, 0x03, b'.']); // 1001
                                                                      // sys_info: a dict with a unicode key and a bool.
        out.extend_from_slice(&[0x80, 0x02, b'}', b'q', 0x00]);
        out.push(b'X');
        out.extend_from_slice(&13u32.to_le_bytes());
        out.extend_from_slice(b"little_endian");
        out.extend_from_slice(&[0x88, b's', b'.']);
        // The object: a GLOBAL, a persistent id, a REDUCE, a float, a tuple.
        out.extend_from_slice(&[0x80, 0x02]);
        out.extend_from_slice(b"ctorch._utils\n_rebuild_tensor_v2\n");
        out.extend_from_slice(&[b'(', b'U', 1, b'0', b'Q', b'G']);
        out.extend_from_slice(&1.5f64.to_be_bytes());
        out.extend_from_slice(&[0x86, b'R', b'.']);
        // The storage keys.
        out.extend_from_slice(&[0x80, 0x02, b']', b'(', b'U', 1, b'0', b'e', b'.']);
        let mut spans = Vec::new();
        for (bytes, elem) in storages {
            out.extend_from_slice(&(bytes.len() as u64 / elem).to_le_bytes());
            spans.push((out.len(), out.len() + bytes.len()));
            out.extend_from_slice(bytes);
        }
        (out, spans)
    }

    #[test]
    fn finds_each_storage_whatever_its_element_size() {
        let (f, spans) = legacy(&[
            (vec![1; 40_000], 4),
            (vec![2; 100], 4),
            (vec![3; 10_002], 2),
            (vec![4; 16_384], 8),
        ]);
        let want: Vec<_> = spans
            .into_iter()
            .filter(|(s, e)| e - s >= MIN_STORAGE)
            .collect();
        assert_eq!(storage_ranges(&f).unwrap(), want);
    }

    #[test]
    fn anything_else_is_not_a_checkpoint_we_cut() {
        let (f, _) = legacy(&[(vec![1; 40_000], 4)]);
        assert!(storage_ranges(&f[..f.len() - 1]).is_none(), "truncated");
        assert!(storage_ranges(b"").is_none());
        assert!(storage_ranges(&MAGIC).is_none());
        assert!(storage_ranges(b"PK\x03\x04").is_none());
        for i in 0..f.len().min(200) {
            let mut bad = f.clone();
            bad[i] ^= 0xff;
            if let Some(r) = storage_ranges(&bad) {
                assert!(r.iter().all(|(s, e)| s <= e && *e <= bad.len()));
            }
        }
    }
}
