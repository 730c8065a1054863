//! Tests of the object store: round trips, codecs, verification, crash leftovers.
#![cfg(test)]

use super::*;

/// Tests return errors instead of unwrapping them: `?` names the failing step.
type TestResult = std::result::Result<(), Box<dyn std::error::Error>>;

fn store(d: &Path) -> ObjectStore {
    test_store(d)
}

#[test]
fn put_get_round_trip_and_dedup() -> TestResult {
    let d = tempfile::tempdir()?;
    let s = store(d.path());
    let data = b"hello hello hello hello hello hello hello hello hello hello hello".repeat(10);
    let p = s.put(Kind::Chunk, &data)?;
    assert!(
        p.stored_bytes > 0 && p.stored_bytes < data.len() as u64,
        "compressible data is compressed"
    );
    assert_eq!(s.put(Kind::Chunk, &data)?.stored_bytes, 0);
    s.flush()?;
    assert_eq!(s.get(&p.id)?, (Kind::Chunk, data.clone()));
    assert_eq!(s.find_prefix(&p.id.to_hex()[..6])?, vec![p.id]);
    assert!(s.get_kind(&p.id, Kind::Commit).is_err());
    Ok(())
}

/// N(0, 0.02)-like f32 weights.
pub(super) fn floats(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x >> 11) as f64 / (1u64 << 53) as f64
    };
    (0..n)
        .flat_map(|_| {
            let s: f64 = (0..4).map(|_| next()).sum::<f64>() - 2.0;
            ((s * 0.035) as f32).to_le_bytes()
        })
        .collect()
}

#[test]
fn float_chunks_are_stored_as_byte_planes_and_read_back_verified() -> TestResult {
    let d = tempfile::tempdir()?;
    let s = store(d.path());
    for data in [floats(300_000, 7), floats(20_000, 8)] {
        let p = s.put(Kind::Chunk, &data)?;
        s.flush()?;
        assert_eq!(s.header(&p.id)?.codec, Codec::Planes);
        assert!(
            (p.stored_bytes as f64) < data.len() as f64 * 0.9,
            "{} of {}",
            p.stored_bytes,
            data.len()
        );
        assert_eq!(s.get(&p.id)?, (Kind::Chunk, data.clone()));
        // As received from a remote: the on-disk bytes decode and verify.
        let enc = s.read_encoded(&p.id)?;
        assert_eq!(decode(&p.id, &enc)?.1, data);
    }
    Ok(())
}

#[test]
fn byte_planes_can_be_turned_off() -> TestResult {
    let d = tempfile::tempdir()?;
    let s = ObjectStore::new(
        d.path().join("objects"),
        d.path().join("tmp"),
        CompressPolicy {
            planes: false,
            ..Default::default()
        },
    );
    std::fs::create_dir_all(d.path().join("tmp"))?;
    std::fs::create_dir_all(d.path().join("objects"))?;
    let data = floats(300_000, 9);
    let p = s.put(Kind::Chunk, &data)?;
    s.flush()?;
    assert_ne!(s.header(&p.id)?.codec, Codec::Planes);
    assert_eq!(s.get(&p.id)?.1, data);
    Ok(())
}

#[test]
fn a_damaged_plane_object_is_refused() -> TestResult {
    let d = tempfile::tempdir()?;
    let s = store(d.path());
    let data = floats(100_000, 10);
    let p = s.put(Kind::Chunk, &data)?;
    s.flush()?;
    let enc = s.read_encoded(&p.id)?;
    // Every byte of the header extension, and bytes across the payload.
    let ext_len = enc[7] as usize;
    assert!(ext_len > 0);
    let positions: Vec<usize> = (HEADER_LEN..HEADER_LEN + ext_len)
        .chain((HEADER_LEN + ext_len..enc.len()).step_by(4099))
        .collect();
    for i in positions {
        let mut bad = enc.clone();
        bad[i] ^= 0x5A;
        assert!(decode(&p.id, &bad).is_err(), "flip at {i} went unnoticed");
    }
    Ok(())
}

#[test]
fn incompressible_is_stored_raw() -> TestResult {
    let d = tempfile::tempdir()?;
    let s = store(d.path());
    let mut data = vec![0u8; 100_000];
    let mut x = 0x2545F4914F6CDD1Du64;
    for b in data.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    let p = s.put(Kind::Chunk, &data)?;
    s.flush()?;
    assert_eq!(p.stored_bytes, (HEADER_LEN + data.len()) as u64);
    assert_eq!(s.header(&p.id)?.codec, Codec::Raw);
    Ok(())
}

#[test]
fn corruption_is_detected() -> TestResult {
    let d = tempfile::tempdir()?;
    let s = store(d.path());
    let p = s.put(
        Kind::Blob,
        b"some content that is long enough to be compressed....",
    )?;
    s.flush()?;
    let path = s.path_of(&p.id);
    let mut bytes = fs::read(&path)?;
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    fs::set_permissions(
        &path,
        <fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o644),
    )?;
    fs::write(&path, &bytes)?;
    assert!(matches!(s.get(&p.id), Err(Error::CorruptObject { .. })));
    Ok(())
}

#[test]
fn unflushed_objects_leave_no_trace() -> TestResult {
    let d = tempfile::tempdir()?;
    {
        let s = store(d.path());
        s.put(
            Kind::Chunk,
            b"never flushed, never named, never left behind",
        )?;
    }
    assert_eq!(fs::read_dir(d.path().join("tmp"))?.count(), 0);
    assert_eq!(fs::read_dir(d.path().join("objects"))?.count(), 0);
    Ok(())
}

#[test]
fn missing_and_garbage_headers() -> TestResult {
    let d = tempfile::tempdir()?;
    let s = store(d.path());
    let id = ObjectId::hash(b"x");
    assert!(matches!(s.get(&id), Err(Error::MissingObject { .. })));
    assert!(decode(&id, b"MRGO").is_err());
    let mut h = [0u8; 16];
    h[0..4].copy_from_slice(MAGIC);
    h[4] = 1;
    h[5] = 1;
    h[6] = 1;
    h[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(
        decode(&id, &h).is_err(),
        "huge recorded length is refused before allocating"
    );
    Ok(())
}

/// Guards the open of an object file: something other than a regular file where an object
/// should be (a FIFO, which an open for reading would wait on forever; a directory) is a
/// damaged object, reported at once, also by checkout's reader ahead, which skips it.
#[test]
fn an_object_that_is_not_a_regular_file_is_refused_without_waiting() -> TestResult {
    let d = tempfile::tempdir()?;
    let s = store(d.path());
    let fifo = ObjectId::hash(b"a fifo");
    let path = s.path_of(&fifo);
    fs::create_dir_all(path.parent().ok_or("no parent")?)?;
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())?;
    // SAFETY: mkfifo reads a NUL-terminated path that lives for the call.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    let dir = ObjectId::hash(b"a directory");
    fs::create_dir_all(s.path_of(&dir))?;
    for id in [fifo, dir] {
        match s.get(&id) {
            Err(Error::CorruptObject { why, .. }) => assert!(why.contains("regular"), "{why}"),
            other => panic!("{other:?}"),
        }
    }
    crate::fsutil::read_ahead([path.as_path(), s.path_of(&dir).as_path()].into_iter());
    Ok(())
}

/// A fine-tuning step on f32 weights: each element moves by about `r` of the layer's
/// scale (the "relative change ~1e-3 per step").
pub(super) fn step(data: &[u8], r: f32, seed: u64) -> Vec<u8> {
    let noise = floats(data.len() / 4, seed);
    data.chunks_exact(4)
        .zip(noise.chunks_exact(4))
        .flat_map(|(w, n)| {
            let w = f32::from_le_bytes([w[0], w[1], w[2], w[3]]);
            let n = f32::from_le_bytes([n[0], n[1], n[2], n[3]]);
            (w + r * n).to_le_bytes()
        })
        .collect()
}

#[test]
fn fine_tune_chunks_are_stored_as_deltas_with_chains_bounded_by_the_policy() -> TestResult {
    let d = tempfile::tempdir()?;
    let s = store(d.path());
    let mut data = floats(262_144, 11);
    let mut base = s.put_chunk(&data, None)?;
    s.flush()?;
    let alone = base.stored_bytes;
    let mut depths = Vec::new();
    let mut versions = vec![(base.id, data.clone())];
    for k in 0..7 {
        data = step(&data, 1e-3, 100 + k);
        let p = s.put_chunk(&data, Some(base.id))?;
        s.flush()?;
        depths.push(s.delta_ref(&p.id)?.map_or(0, |r| r.depth));
        if depths.last() != Some(&0) {
            assert!(
                (p.stored_bytes as f64) < alone as f64 * 0.8,
                "a small step costs much less than the chunk alone: {} vs {alone}",
                p.stored_bytes
            );
        }
        versions.push((p.id, data.clone()));
        base = p;
    }
    // A chain of DEFAULT_DELTA_DEPTH deltas, then a standalone keyframe, then a new chain.
    assert_eq!(depths, vec![1, 2, 3, 4, 5, 0, 1]);
    for (id, want) in &versions {
        assert_eq!(&s.get(id)?.1, want, "every version reads back exactly");
    }
    Ok(())
}

#[test]
fn a_delta_is_kept_only_when_it_pays_and_only_against_a_chunk_of_the_same_length() -> TestResult {
    let d = tempfile::tempdir()?;
    let s = store(d.path());
    let a = floats(65_536, 1);
    let b = floats(65_536, 2); // unrelated weights: a delta does not pay
    let pa = s.put_chunk(&a, None)?;
    s.flush()?;
    let pb = s.put_chunk(&b, Some(pa.id))?;
    assert_eq!(s.delta_ref(&pb.id).ok().flatten(), None);
    let short = step(&a[..a.len() - 4], 1e-3, 5);
    let ps = s.put_chunk(&short, Some(pa.id))?;
    let missing = ObjectId::hash(b"no such object");
    let pm = s.put_chunk(&step(&a, 1e-3, 6), Some(missing))?;
    s.flush()?;
    for id in [pb.id, ps.id, pm.id] {
        assert_eq!(s.header(&id)?.codec, Codec::Planes);
    }
    // Deltas off: the same step is stored alone.
    let mut off = test_store(&d.path().join("off"));
    off.policy.delta_max_depth = 0;
    let qa = off.put_chunk(&a, None)?;
    off.flush()?;
    let q = off.put_chunk(&step(&a, 1e-3, 7), Some(qa.id))?;
    off.flush()?;
    assert_eq!(off.header(&q.id)?.codec, Codec::Planes);
    Ok(())
}

#[test]
fn a_corrupted_or_missing_delta_base_is_detected() -> TestResult {
    let d = tempfile::tempdir()?;
    let s = store(d.path());
    let a = floats(65_536, 21);
    let b = step(&a, 1e-3, 22);
    let pa = s.put_chunk(&a, None)?;
    s.flush()?;
    let pb = s.put_chunk(&b, Some(pa.id))?;
    s.flush()?;
    assert_eq!(s.delta_ref(&pb.id)?.map(|r| r.base), Some(pa.id));
    assert_eq!(s.get(&pb.id)?.1, b);

    // The base's bytes flipped on disk: both objects fail their reads, naming the base.
    let path = s.path_of(&pa.id);
    let mut bytes = fs::read(&path)?;
    let n = bytes.len();
    bytes[n - 100] ^= 0x40;
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644))?;
    fs::write(&path, &bytes)?;
    assert!(s.get(&pa.id).is_err());
    let err = s.get(&pb.id).unwrap_err().to_string();
    assert!(
        err.contains("delta base") && err.contains(&pa.id.short()),
        "{err}"
    );

    // The base gone: a clear error, not a panic.
    fs::remove_file(&path)?;
    let err = s.get(&pb.id).unwrap_err().to_string();
    assert!(
        err.contains("delta base") && err.contains("missing"),
        "{err}"
    );
    // Its standalone encoding (what a remote receives) cannot be made either.
    assert!(s.read_encoded(&pb.id).is_err());
    Ok(())
}

#[test]
fn deltas_travel_standalone_and_a_raw_delta_from_outside_is_refused() -> TestResult {
    let d = tempfile::tempdir()?;
    let s = store(d.path());
    let a = floats(65_536, 31);
    let b = step(&a, 1e-3, 32);
    let pa = s.put_chunk(&a, None)?;
    s.flush()?;
    let pb = s.put_chunk(&b, Some(pa.id))?;
    s.flush()?;
    let sent = s.read_encoded(&pb.id)?;
    assert_eq!(
        sent[6],
        Codec::Planes as u8,
        "sent in its standalone encoding"
    );
    assert_eq!(decode(&pb.id, &sent)?.1, b);
    let on_disk = fs::read(s.path_of(&pb.id))?;
    assert_eq!(on_disk[6], Codec::Delta as u8);
    let err = decode(&pb.id, &on_disk).unwrap_err().to_string();
    assert!(err.contains("delta"), "{err}");
    Ok(())
}

#[test]
fn a_chain_whose_recorded_depths_disagree_is_refused() -> TestResult {
    let d = tempfile::tempdir()?;
    let s = store(d.path());
    let a = floats(65_536, 41);
    let b = step(&a, 1e-3, 42);
    let pa = s.put_chunk(&a, None)?;
    s.flush()?;
    let pb = s.put_chunk(&b, Some(pa.id))?;
    s.flush()?;
    // Claim depth 2 over a standalone base (a hostile or damaged store).
    let path = s.path_of(&pb.id);
    let mut bytes = fs::read(&path)?;
    assert_eq!(bytes[HEADER_LEN + 32], 1);
    bytes[HEADER_LEN + 32] = 2;
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644))?;
    fs::write(&path, &bytes)?;
    let err = s.get(&pb.id).unwrap_err().to_string();
    assert!(err.contains("standalone"), "{err}");
    // A self-referencing delta cannot loop either.
    bytes[HEADER_LEN..HEADER_LEN + 32].copy_from_slice(pb.id.as_bytes());
    fs::write(&path, &bytes)?;
    assert!(s.get(&pb.id).is_err());
    Ok(())
}
