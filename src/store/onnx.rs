//! Where the weights of an ONNX model lie, for the chunker: an ONNX file is a protobuf
//! `ModelProto` whose graph's initializers (`TensorProto`) keep their values in a
//! `raw_data` bytes field. Cutting at each `raw_data` makes a chunk start at a tensor's
//! first element (one element phase per chunk, as byte planes want) and keeps a changed
//! tensor's chunks from touching its neighbours — as `store::zip` does for PyTorch.
//!
//! Only the path to the weights is walked: `ModelProto.graph` (field 7) →
//! `GraphProto.initializer` (field 5) → `TensorProto.raw_data` (field 9). File bytes are
//! untrusted: anything that is not well-formed protobuf on that path (a bad varint, a
//! length past the end, a wire type that cannot be), or a file without weights there,
//! means "not an ONNX model we cut", never a panic; callers fall back to content-defined
//! chunking.

/// `raw_data` smaller than this is not worth a cut.
const MIN_TENSOR: usize = 4096;

/// A protobuf field: its number and where its value lies (for length-delimited fields,
/// the bytes; for others, nothing to look into).
struct Field {
    number: u64,
    bytes: Option<(usize, usize)>,
}

fn varint(d: &[u8], at: &mut usize) -> Option<u64> {
    let mut v: u64 = 0;
    for shift in (0..64).step_by(7) {
        let b = *d.get(*at)?;
        *at += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// The fields of the message in `d[start..end]`, or None when it is not well-formed.
fn fields(d: &[u8], start: usize, end: usize) -> Option<Vec<Field>> {
    let mut out = Vec::new();
    let mut at = start;
    while at < end {
        let key = varint(d, &mut at)?;
        let (number, wire) = (key >> 3, key & 7);
        if number == 0 {
            return None;
        }
        let bytes = match wire {
            0 => {
                varint(d, &mut at)?;
                None
            }
            1 => {
                at = at.checked_add(8)?;
                None
            }
            2 => {
                let len = usize::try_from(varint(d, &mut at)?).ok()?;
                let s = at;
                at = at.checked_add(len)?;
                Some((s, at))
            }
            5 => {
                at = at.checked_add(4)?;
                None
            }
            _ => return None, // groups (3, 4) are not in ONNX; 6, 7 do not exist
        };
        if at > end {
            return None;
        }
        out.push(Field { number, bytes });
    }
    Some(out)
}

/// The byte ranges `[start, end)` of the initializers' `raw_data` of at least `MIN_TENSOR`
/// bytes, sorted, or None when `data` is not an ONNX model with such weights.
pub fn raw_data_ranges(data: &[u8]) -> Option<Vec<(usize, usize)>> {
    // A ModelProto starts with a small field: `ir_version` (1, varint) as exporters write
    // it. Anything else is not worth parsing as a model.
    if data.first() != Some(&0x08) {
        return None;
    }
    let model = fields(data, 0, data.len())?;
    let mut out = Vec::new();
    for g in model.iter().filter(|f| f.number == 7) {
        let (gs, ge) = g.bytes?;
        for init in fields(data, gs, ge)?.iter().filter(|f| f.number == 5) {
            let (ts, te) = init.bytes?;
            for raw in fields(data, ts, te)?.iter().filter(|f| f.number == 9) {
                let (rs, re) = raw.bytes?;
                if re - rs >= MIN_TENSOR {
                    out.push((rs, re));
                }
            }
        }
    }
    out.sort_unstable();
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(number: u64, wire: u64) -> Vec<u8> {
        varint_bytes((number << 3) | wire)
    }

    fn varint_bytes(mut v: u64) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(b);
                return out;
            }
            out.push(b | 0x80);
        }
    }

    fn bytes_field(number: u64, value: &[u8]) -> Vec<u8> {
        let mut out = key(number, 2);
        out.extend(varint_bytes(value.len() as u64));
        out.extend_from_slice(value);
        out
    }

    /// A minimal ModelProto: ir_version, a producer name, a graph with a node and two
    /// initializers (one small), each with dims, a data type and raw_data.
    fn model(tensors: &[Vec<u8>]) -> (Vec<u8>, Vec<(usize, usize)>) {
        let mut graph = bytes_field(1, &bytes_field(4, b"MatMul"));
        let mut spans_in_graph = Vec::new();
        for (i, t) in tensors.iter().enumerate() {
            let mut tp = key(1, 0);
            tp.extend(varint_bytes(t.len() as u64 / 4));
            tp.extend(key(2, 0));
            tp.push(1); // FLOAT
            tp.extend(bytes_field(8, format!("w{i}").as_bytes()));
            let raw_at = tp.len() + key(9, 2).len() + varint_bytes(t.len() as u64).len();
            tp.extend(bytes_field(9, t));
            let init_at = graph.len() + key(5, 2).len() + varint_bytes(tp.len() as u64).len();
            spans_in_graph.push((init_at + raw_at, init_at + raw_at + t.len()));
            graph.extend(bytes_field(5, &tp));
        }
        let mut out = key(1, 0);
        out.push(8);
        out.extend(bytes_field(2, b"pytorch"));
        let graph_at = out.len() + key(7, 2).len() + varint_bytes(graph.len() as u64).len();
        out.extend(bytes_field(7, &graph));
        let spans = spans_in_graph
            .into_iter()
            .zip(tensors)
            .filter(|(_, t)| t.len() >= MIN_TENSOR)
            .map(|((s, e), _)| (graph_at + s, graph_at + e))
            .collect();
        (out, spans)
    }

    #[test]
    fn finds_the_initializers_raw_data() {
        let (m, spans) = model(&[vec![7; 40_000], vec![1; 100], vec![9; 8_192]]);
        assert_eq!(spans.len(), 2);
        assert_eq!(raw_data_ranges(&m).unwrap(), spans);
        assert!(m[spans[0].0..spans[0].1].iter().all(|b| *b == 7));
    }

    #[test]
    fn anything_else_is_not_a_model_we_cut() {
        let (m, _) = model(&[vec![7; 40_000]]);
        assert!(raw_data_ranges(&m[..m.len() - 1]).is_none(), "truncated");
        assert!(raw_data_ranges(b"").is_none());
        assert!(raw_data_ranges(&[0x08]).is_none());
        assert!(raw_data_ranges(b"PK\x03\x04 a zip").is_none());
        for i in 0..300.min(m.len()) {
            let mut bad = m.clone();
            bad[i] ^= 0xff;
            // Never a panic; a damaged model parses to ranges inside it or not at all.
            if let Some(r) = raw_data_ranges(&bad) {
                assert!(r.iter().all(|(s, e)| s <= e && *e <= bad.len()));
            }
        }
    }
}
