//! The safetensors header, parsed once for the chunker (tensor boundaries are cut points)
//! and for `diff` (tensors compared by name). A file is
//! `u64 little-endian header length | JSON header | tensor bytes`; the header maps tensor
//! names to dtype, shape and data offsets, plus an optional `__metadata__` map.
//!
//! File bytes are untrusted: any inconsistency (lengths, offsets past the end, offsets that
//! overflow, data that does not end where the file does) means "not safetensors", never a
//! panic, so callers fall back to treating the file as plain bytes.

use std::collections::BTreeMap;

/// Largest header accepted (the format's own limit is 100 MB).
pub const MAX_HEADER: u64 = 100 * 1024 * 1024;

/// One tensor: its byte range is absolute (from the start of the file).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tensor {
    pub name: String,
    pub dtype: String,
    pub shape: Vec<usize>,
    pub start: u64,
    pub end: u64,
}

/// A parsed header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// Where tensor data starts (8 + the header's length).
    pub data_start: u64,
    /// Sorted by name.
    pub tensors: Vec<Tensor>,
    pub metadata: BTreeMap<String, String>,
}

/// The header's length from the file's first 8 bytes, if plausible for a file of
/// `file_len` bytes.
pub fn header_len(first8: &[u8], file_len: u64) -> Option<u64> {
    let n = u64::from_le_bytes(first8.get(0..8)?.try_into().ok()?);
    ((2..=MAX_HEADER).contains(&n) && n <= file_len.saturating_sub(8)).then_some(n)
}

/// Parse the header JSON of a file of `file_len` bytes whose header is `json`.
pub fn parse(json: &[u8], file_len: u64) -> Option<Header> {
    if json.first() != Some(&b'{') {
        return None;
    }
    let meta: safetensors::tensor::Metadata = serde_json::from_slice(json).ok()?;
    let data_start = 8u64.checked_add(json.len() as u64)?;
    if data_start.checked_add(meta.data_len() as u64)? != file_len {
        return None;
    }
    let mut tensors = Vec::new();
    for (name, t) in meta.tensors() {
        let (s, e) = t.data_offsets;
        tensors.push(Tensor {
            name,
            dtype: format!("{:?}", t.dtype),
            shape: t.shape.clone(),
            start: data_start.checked_add(s as u64)?,
            end: data_start.checked_add(e as u64)?,
        });
    }
    tensors.sort_by(|a, b| a.name.cmp(&b.name));
    let metadata = meta
        .metadata()
        .as_ref()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    Some(Header {
        data_start,
        tensors,
        metadata,
    })
}

/// Parse a whole file held in memory.
pub fn parse_file(data: &[u8]) -> Option<Header> {
    let n = header_len(data, data.len() as u64)?;
    parse(data.get(8..8 + n as usize)?, data.len() as u64)
}
