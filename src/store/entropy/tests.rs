use super::*;
use crate::planes::tests::rng;

/// Code `data`, check the size against the plan, decode, compare; the coded size.
fn round_trip(data: &[u8]) -> usize {
    let p = plan(data);
    let mut out = vec![9u8; 3];
    encode(data, &p, &mut out);
    let size = out.len() - 3;
    assert!(size <= p.size + 8 * p.blocks.len(), "{size} > {}", p.size);
    let mut back = vec![0u8; data.len() + 4];
    decode(&out[3..], data.len(), &mut back).unwrap();
    assert_eq!(&back[..data.len()], data);
    // Bytes after the last block are refused.
    out.push(0);
    assert!(decode(&out[3..], data.len(), &mut back).is_err());
    size
}

fn entropy_bytes(data: &[u8]) -> f64 {
    entropy_bits(&histogram(data)) / 8.0
}

/// Exponent-like bytes: geometric below 120.
fn exponents(n: usize, seed: u64, spread: u64) -> Vec<u8> {
    let mut r = rng(seed);
    (0..n)
        .map(|_| 120u8.wrapping_sub((r() % spread).trailing_zeros() as u8))
        .collect()
}

#[test]
fn skewed_uniform_constant_and_tiny_planes_round_trip() {
    let skewed = exponents(300_007, 1, 64);
    let size = round_trip(&skewed);
    assert!(size < skewed.len() / 3, "{size}");
    let mut r = rng(2);
    let uniform: Vec<u8> = (0..70_001).map(|_| r() as u8).collect();
    // Nothing to gain: stored raw, a few bytes a block over.
    assert!(round_trip(&uniform) <= uniform.len() + 16);
    round_trip(&vec![7u8; 100_000]);
    for n in (0..70).chain([1023, 1024, 1025, BLOCK - 1, BLOCK, BLOCK + 1]) {
        round_trip(&skewed[..n]);
        round_trip(&uniform[..n.min(uniform.len())]);
    }
    // A steep distribution whose unlimited Huffman code would exceed 11 bits.
    let mut steep = Vec::new();
    for s in 0..40u8 {
        steep.extend(std::iter::repeat_n(s, 1usize << (s / 2).min(20)));
    }
    let h = huffman::Code::new(&histogram(&steep));
    assert!(h.len.iter().all(|&l| l <= 11));
    round_trip(&steep);
}

#[test]
fn both_coders_and_table_reuse_round_trip() {
    let data = exponents(5 * BLOCK + 17, 3, 256);
    let freq = histogram(&data);
    for code in [
        Code::Huffman(Box::new(huffman::Code::new(&freq))),
        Code::Tans(Box::new(tans::Code::new(&freq))),
    ] {
        // The first block with its table, the others reusing it.
        let blocks = data
            .chunks(BLOCK)
            .enumerate()
            .map(|(i, _)| BlockPlan {
                code: Some(code.clone()),
                reuse: i > 0,
            })
            .collect();
        let p = Plan { blocks, size: 0 };
        let mut out = Vec::new();
        encode(&data, &p, &mut out);
        let mut back = vec![0u8; data.len() + 4];
        decode(&out, data.len(), &mut back).unwrap();
        assert_eq!(&back[..data.len()], &data[..]);
        // tANS lands at the entropy; Huffman within a few percent of it.
        let ratio = out.len() as f64 / entropy_bytes(&data);
        match code {
            Code::Tans(_) => assert!(ratio < 1.003, "tANS {ratio}"),
            Code::Huffman(_) => assert!(ratio < 1.05, "huffman {ratio}"),
        }
    }
}

#[test]
fn the_plan_lands_at_the_entropy_and_adapts_to_drift() {
    // Two halves with different statistics: blocks follow them.
    let mut data = exponents(8 * BLOCK, 4, 256);
    data.extend(exponents(8 * BLOCK, 5, 8).iter().map(|b| b.wrapping_sub(9)));
    let size = round_trip(&data) as f64;
    let per_half = entropy_bytes(&data[..8 * BLOCK]) + entropy_bytes(&data[8 * BLOCK..]);
    assert!(size < per_half * 1.005, "{size} vs {per_half}");
    assert!(size < entropy_bytes(&data) * 0.9);
}

#[test]
fn corrupt_planes_are_errors_or_garbage_never_panics() {
    let data = exponents(3 * BLOCK / 2, 6, 16);
    let mut r = rng(7);
    let uniform: Vec<u8> = (0..20_000).map(|_| r() as u8).collect();
    let mut out = vec![0u8; data.len() + 4];
    for d in [&data[..], &uniform[..]] {
        let p = plan(d);
        let mut coded = Vec::new();
        encode(d, &p, &mut coded);
        assert!(decode(&coded, d.len(), &mut out[..d.len()]).is_err());
        for cut in [0, 1, 5, 20, coded.len() / 2, coded.len() - 1] {
            assert!(decode(&coded[..cut], d.len(), &mut out).is_err());
        }
        for i in (0..coded.len()).step_by(coded.len() / 300 + 1) {
            for v in [0u8, 1, 2, 0x0F, 0x80, 0xFF] {
                let mut c = coded.clone();
                c[i] = v;
                let _ = decode(&c, d.len(), &mut out);
            }
        }
    }
    for _ in 0..300 {
        let mut junk: Vec<u8> = (0..(r() % 400) as usize).map(|_| r() as u8).collect();
        if junk.len() > 8 && r().is_multiple_of(2) {
            junk[..4].copy_from_slice(&(BLOCK as u32).to_le_bytes());
            let body = (junk.len() - 8) as u32;
            junk[4..8].copy_from_slice(&body.to_le_bytes());
            junk[8] = (r() % 3) as u8;
        }
        let n = (r() % 2000) as usize;
        let _ = decode(&junk, n, &mut vec![0u8; n + 4]);
    }
}

/// Guards the format: bytes coded by this version (a Huffman block, a tANS block, a block
/// reusing the tANS table and a raw block) must decode to the same symbols forever, and the
/// encoder must keep producing them (a deliberate encoder change updates `CODED`; a decoder
/// change must not).
#[test]
fn the_coded_format_is_stable() {
    let mut r = rng(42);
    let data: Vec<u8> = (0..4 * MIN_BLOCK)
        .map(|i| match i / MIN_BLOCK {
            0..=2 => 100 + (r() % 16).trailing_zeros() as u8,
            _ => r() as u8,
        })
        .collect();
    let freq = histogram(&data[..MIN_BLOCK]);
    let mut out = Vec::new();
    // Blocks of MIN_BLOCK symbols (the writer's block size is a field of the format).
    out.extend_from_slice(&(MIN_BLOCK as u32).to_le_bytes());
    let codes = [
        Some(Code::Huffman(Box::new(huffman::Code::new(&freq)))),
        Some(Code::Tans(Box::new(tans::Code::new(&freq)))),
    ];
    for (b, (code, reuse)) in data.chunks(MIN_BLOCK).zip([
        (codes[0].clone(), false),
        (codes[1].clone(), false),
        (codes[1].clone(), true),
        (None, false),
    ]) {
        let p = Plan {
            blocks: vec![BlockPlan { code, reuse }],
            size: 0,
        };
        let mut one = Vec::new();
        encode(b, &p, &mut one);
        // The writer's block size field is dropped: this plane has one field for all.
        out.extend_from_slice(&one[4..]);
    }
    let hash = blake3::hash(&out).to_hex().to_string();
    // When the hash matches, `out` is the pinned byte string, and it must decode.
    const CODED: &str = "2013607885900e19522792269f27bfe6bad7907e176e9ef3471e67cc8f072b4d";
    let mut back = vec![0u8; data.len() + 4];
    decode(&out, data.len(), &mut back).unwrap();
    assert_eq!(&back[..data.len()], &data[..]);
    assert_eq!(hash, CODED, "{} bytes", out.len());
}
