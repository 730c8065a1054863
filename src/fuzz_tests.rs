//! Fuzz-style robustness tests: the readers of bytes that come from a store (commits,
//! manifests, history lines, safetensors headers) never panic or loop on mutated input;
//! they return errors (or "not safetensors"). Mutations are deterministic (a seeded
//! xorshift), so a failure names an input that reproduces.
#![cfg(test)]

use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::commit::Commit;
use crate::filestore::{ChunkRef, Manifest};
use crate::history::{ModelLog, MoveInfo};
use crate::id::ObjectId;
use crate::object::Kind;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One random mutation: flip bytes, truncate, insert, delete a span, or swap in
/// characters that break ids and numbers.
fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut b = input.to_vec();
    for _ in 0..1 + rng.below(3) {
        if b.is_empty() {
            b.push(rng.next() as u8);
            continue;
        }
        let i = rng.below(b.len());
        match rng.below(6) {
            0 => b[i] ^= 1 << rng.below(8),
            1 => b.truncate(i),
            2 => b.insert(i, rng.next() as u8),
            3 => {
                let end = (i + rng.below(16)).min(b.len());
                b.drain(i..end);
            }
            4 => b[i] = b"z9-:\n\"{[ \xff"[rng.below(10)],
            _ => {
                let end = (i + rng.below(32)).min(b.len());
                let copy = b[i..end].to_vec();
                let at = rng.below(b.len());
                b.splice(at..at, copy);
            }
        }
    }
    b
}

/// Run `f` on `n` mutations of `valid`; fail with the input on any panic.
fn never_panics(seed: u64, n: usize, valid: &[u8], f: impl Fn(&[u8])) {
    let mut rng = Rng(seed);
    for i in 0..n {
        let input = mutate(&mut rng, valid);
        let r = catch_unwind(AssertUnwindSafe(|| f(&input)));
        assert!(
            r.is_ok(),
            "panicked on mutation {i}: {:?}",
            String::from_utf8_lossy(&input)
        );
    }
}

fn sample_commit() -> Commit {
    Commit::sample()
}

#[test]
fn mutated_commits_never_panic() {
    let bytes = sample_commit().encode().expect("a valid commit encodes");
    never_panics(1, 3000, &bytes, |b| {
        if let Ok(c) = Commit::decode(&ObjectId::hash(b), b) {
            // What decodes must be safe to use: paths validated, roots usable.
            let _ = c.roots();
            let _ = c.total_size();
        }
    });
}

#[test]
fn mutated_manifests_never_panic() {
    let m = Manifest {
        size: 30,
        blake3: ObjectId::hash(b"f"),
        chunks: vec![
            ChunkRef {
                id: ObjectId::hash(b"a"),
                len: 10,
            },
            ChunkRef {
                id: ObjectId::hash(b"b"),
                len: 20,
            },
        ],
    };
    let bytes = m.encode();
    never_panics(2, 3000, &bytes, |b| {
        let _ = Manifest::parse(&ObjectId::hash(b), b);
    });
    // Lengths that overflow when added are an error, not a panic.
    let huge = format!(
        "mreg-manifest 1\nsize 5\nblake3 {}\n{} {}\n{} {}\n",
        ObjectId::hash(b"f"),
        ObjectId::hash(b"a"),
        u64::MAX,
        ObjectId::hash(b"b"),
        6
    );
    assert!(Manifest::parse(&ObjectId::hash(b"x"), huge.as_bytes()).is_err());
}

#[test]
fn mutated_history_lines_never_panic() {
    let d = tempfile::tempdir().expect("a temp dir");
    let log = ModelLog::new(d.path().join("m"));
    for (i, x) in [b"a", b"b", b"c"].iter().enumerate() {
        log.update(
            MoveInfo {
                time: crate::Timestamp::parse("2026-01-01T00:00:00Z").expect("a valid time"),
                author: "t".into(),
                message: format!("v{i}"),
            },
            crate::history::Action::Commit,
            |t| {
                t.set_head(crate::id::CommitId(ObjectId::hash(*x)));
                t.set_alias(
                    &crate::names::AliasName::new("production").expect("a valid alias"),
                    crate::id::CommitId(ObjectId::hash(*x)),
                );
                t.edit_label(crate::id::CommitId(ObjectId::hash(*x)), "baseline", true);
                Ok(())
            },
        )
        .expect("history entries are written");
    }
    let valid = std::fs::read(log.path()).expect("the log was written");
    never_panics(3, 600, &valid, |b| {
        std::fs::write(log.path(), b).expect("the mutated log is written");
        let _ = log.entries();
        let _ = log.state();
        let _ = log.signature();
        let _ = log.verify_chain();
        if let Ok((entries, _)) = log.entries() {
            let _ = crate::notes::model_notes(&entries);
            let _ = crate::refs::archived_in(&entries);
        }
    });
}

/// A safetensors file: header JSON then tensor bytes.
fn safetensors(header: &str, data_len: usize) -> Vec<u8> {
    let mut f = (header.len() as u64).to_le_bytes().to_vec();
    f.extend_from_slice(header.as_bytes());
    f.extend((0..data_len).map(|i| i as u8));
    f
}

#[test]
fn crafted_safetensors_headers_never_panic() {
    let valid = safetensors(
        r#"{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},"b":{"dtype":"F16","shape":[4],"data_offsets":[16,24]}}"#,
        24,
    );
    let d = tempfile::tempdir().expect("a temp dir");
    let store = crate::object::test_store(d.path());
    never_panics(4, 1500, &valid, |b| {
        let _ = crate::chunker::chunk_spans(b);
        // Through the store, as `diff` reads it.
        let chunk = store.put(Kind::Chunk, b).expect("the chunk is stored");
        let m = Manifest {
            size: b.len() as u64,
            blake3: ObjectId::hash(b),
            chunks: if b.is_empty() {
                vec![]
            } else {
                vec![ChunkRef {
                    id: chunk.id,
                    len: b.len() as u64,
                }]
            },
        };
        let mid = store
            .put(Kind::Manifest, &m.encode())
            .expect("the object is stored")
            .id;
        store.flush().expect("objects are flushed");
        if let Ok(r) = crate::diff::ManifestReader::new(&store, &mid) {
            let _ = crate::diff::header(&r);
        }
    });
    // Offsets near u64::MAX: no overflow.
    let evil = safetensors(
        r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[18446744073709551615,18446744073709551615]}}"#,
        4,
    );
    assert!(catch_unwind(|| crate::chunker::chunk_spans(&evil)).is_ok());
}

#[test]
fn a_manifest_lying_about_chunk_lengths_is_an_error_in_diff() {
    let d = tempfile::tempdir().expect("a temp dir");
    let store = crate::object::test_store(d.path());
    let a = store
        .put(Kind::Chunk, &[1u8; 10])
        .expect("the object is stored")
        .id;
    let b = store
        .put(Kind::Chunk, &[2u8; 20])
        .expect("the object is stored")
        .id;
    // Lengths swapped: they still add up to the size, so parsing accepts it.
    let m = Manifest {
        size: 30,
        blake3: ObjectId::hash(b"whatever"),
        chunks: vec![ChunkRef { id: a, len: 20 }, ChunkRef { id: b, len: 10 }],
    };
    let mid = store
        .put(Kind::Manifest, &m.encode())
        .expect("the object is stored")
        .id;
    store.flush().expect("objects are flushed");
    let r = crate::diff::ManifestReader::new(&store, &mid).expect("the manifest reads");
    let got = catch_unwind(AssertUnwindSafe(|| r.read(0, 30)));
    assert!(matches!(got, Ok(Err(_))), "an error, not a panic or a loop");
}

/// Byte-plane objects from a store: mutated extensions and payloads (entropy-coded planes:
/// block headers, Huffman and tANS tables, stream sizes, the streams) decode to an error or
/// to some bytes, never a panic or a read out of bounds.
#[test]
fn mutated_plane_objects_never_panic() {
    let mut rng = Rng(11);
    // bf16-like weights: an exponent plane skewed enough for tANS, a mantissa plane.
    let data: Vec<u8> = (0..300_000)
        .flat_map(|_| {
            let e = 120 - (rng.next() % 64).trailing_zeros() as u16;
            ((e << 7) | (rng.next() % 128) as u16).to_le_bytes()
        })
        .collect();
    let layout = crate::planes::Layout { width: 2, phase: 0 };
    let mut comp = crate::planes::compressor().expect("zstd");
    let (ext, payload) = crate::planes::encode(&data, layout, &mut comp).expect("encodes");
    assert_eq!(
        crate::planes::decode(&ext, &payload, data.len()).expect("decodes"),
        data
    );
    never_panics(12, 300, &payload, |p| {
        let _ = crate::planes::decode(&ext, p, data.len());
    });
    never_panics(13, 300, &ext, |e| {
        let _ = crate::planes::decode(e, &payload, data.len());
    });
}
