//! Float byte planes (object codec 2) through the real binary: float weights are stored
//! smaller and check out byte-identical; `compression.float_planes: false` turns the codec
//! off; a store whose config predates the setting uses it; a damaged plane object is
//! refused by checkout and reported by fsck.
//!
//! Fine-tune deltas (object codec 3): checkpoints of a fine-tune are stored as deltas of
//! their parent, every version checks out byte-identical, gc keeps bases that kept versions
//! need, and a damaged base is detected by checkout and fsck.

use crate::common::*;

/// N(0, 0.02)-like f32 weights, little-endian.
fn weights(n: usize, seed: u64) -> Vec<u8> {
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

/// (logical, stored) bytes of the model's head, from `mreg du --json`.
fn sizes(r: &TestRepo) -> (f64, f64) {
    let du = r.mreg(&["du", "--json"]).ok().json();
    let v = &du["models"][0]["versions"][0];
    (
        v["logical_bytes"].as_f64().unwrap(),
        v["unique_bytes"].as_f64().unwrap(),
    )
}

fn set_planes(r: &TestRepo, on: Option<bool>) {
    let path = r.store().join("config.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let kept: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("float_planes:"))
        .collect();
    let mut out = kept.join("\n");
    if let Some(on) = on {
        out = out.replace(
            "compression:",
            &format!("compression:\n  float_planes: {on}"),
        );
    }
    std::fs::write(&path, out + "\n").unwrap();
}

#[test]
fn float_weights_are_stored_smaller_and_check_out_identical() {
    let r = TestRepo::new();
    let data = weights(600_000, 1);
    r.write("w.bin", &data);
    r.commit(&["w.bin", "--model", "m"]);
    let (logical, stored) = sizes(&r);
    assert!(stored < logical * 0.88, "stored {stored} of {logical}");
    r.mreg(&["checkout", "m", "--to", "out"]).ok();
    assert_eq!(r.read("out/w.bin"), data);
    r.fsck_clean();
}

#[test]
fn float_planes_false_stores_floats_as_before() {
    let r = TestRepo::new();
    set_planes(&r, Some(false));
    r.write("w.bin", &weights(600_000, 2));
    r.commit(&["w.bin", "--model", "m"]);
    let (logical, stored) = sizes(&r);
    assert!(stored > logical * 0.97, "stored {stored} of {logical}");
}

#[test]
fn a_config_without_the_setting_uses_byte_planes() {
    let r = TestRepo::new();
    set_planes(&r, None);
    r.write("w.bin", &weights(600_000, 3));
    r.commit(&["w.bin", "--model", "m"]);
    let (logical, stored) = sizes(&r);
    assert!(stored < logical * 0.88, "stored {stored} of {logical}");
}

#[test]
fn a_damaged_plane_object_is_refused_by_checkout_and_reported_by_fsck() {
    let r = TestRepo::new();
    let data = weights(600_000, 4);
    r.write("w.bin", &data);
    r.commit(&["w.bin", "--model", "m"]);
    // The largest object is the chunk; flip a byte in its plane layout (the header
    // extension starts at byte 16).
    let mut biggest = (0, std::path::PathBuf::new());
    for dir in std::fs::read_dir(r.store().join("objects")).unwrap() {
        for f in std::fs::read_dir(dir.unwrap().path()).unwrap() {
            let p = f.unwrap().path();
            let len = std::fs::metadata(&p).unwrap().len();
            if len > biggest.0 {
                biggest = (len, p);
            }
        }
    }
    let mut bytes = std::fs::read(&biggest.1).unwrap();
    assert_eq!(bytes[6], 2, "the chunk is plane-coded");
    bytes[19] ^= 0x40; // the length of the first plane
    let mut perm = std::fs::metadata(&biggest.1).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perm.set_readonly(false);
    std::fs::set_permissions(&biggest.1, perm).unwrap();
    std::fs::write(&biggest.1, &bytes).unwrap();
    let out = r.mreg(&["checkout", "m", "--to", "out"]).fails();
    assert!(out.stderr.contains("byte planes"), "{}", out.describe());
    assert!(!r.path().join("out/w.bin").exists(), "no half-written file");
    let fsck = r.mreg(&["fsck"]);
    assert_ne!(fsck.code, 0, "{}", fsck.describe());
}

/// One fine-tuning step: every weight moves by about `r` of the weights' scale.
fn step(data: &[u8], r: f32, seed: u64) -> Vec<u8> {
    let noise = weights(data.len() / 4, seed);
    data.chunks_exact(4)
        .zip(noise.chunks_exact(4))
        .flat_map(|(w, n)| {
            let w = f32::from_le_bytes([w[0], w[1], w[2], w[3]]);
            let n = f32::from_le_bytes([n[0], n[1], n[2], n[3]]);
            (w + r * n).to_le_bytes()
        })
        .collect()
}

/// Six checkpoints of a fine-tune (a raw f32 file, cut by content): ids and contents.
fn fine_tune(r: &TestRepo) -> Vec<(String, Vec<u8>)> {
    let mut data = weights(800_000, 9);
    let mut out = Vec::new();
    for k in 0..6 {
        if k > 0 {
            data = step(&data, 1e-3, 50 + k);
        }
        r.write("ckpt.bin", &data);
        let id = r.commit(&["ckpt.bin", "--model", "ft", "-m", &format!("step {k}")]);
        out.push((id, data.clone()));
    }
    out
}

/// Unique stored bytes of every version of model `ft`, oldest first.
fn unique_bytes(r: &TestRepo) -> Vec<f64> {
    let du = r.mreg(&["du", "--json"]).ok().json();
    let mut v: Vec<f64> = du["models"][0]["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["unique_bytes"].as_f64().unwrap())
        .collect();
    v.reverse();
    v
}

#[test]
fn fine_tune_checkpoints_are_stored_as_deltas_and_every_version_checks_out_identical() {
    let r = TestRepo::new();
    let versions = fine_tune(&r);
    let unique = unique_bytes(&r);
    assert_eq!(unique.len(), 6);
    for (k, u) in unique.iter().enumerate().skip(1) {
        assert!(
            *u < unique[0] * 0.8,
            "checkpoint {k} costs {u} bytes, the first {}",
            unique[0]
        );
    }
    for (k, (id, data)) in versions.iter().enumerate() {
        let dir = format!("out{k}");
        r.mreg(&["checkout", id, "--to", &dir]).ok();
        assert_eq!(&r.read(&format!("{dir}/ckpt.bin")), data, "version {k}");
    }
    r.fsck_clean();
}

#[test]
fn gc_never_deletes_a_delta_base_that_a_kept_version_needs() {
    let r = TestRepo::new();
    let versions = fine_tune(&r);
    // Keep only the newest: the older checkpoints are pruned, but the newest is a delta
    // whose chain runs down to the first one's chunks.
    let plan = r.mreg(&["gc", "--keep-last", "1", "--json"]).ok().json();
    assert!(plan["delete"].as_array().unwrap().is_empty(), "{plan}");
    r.mreg(&["checkout", "ft", "--to", "out"]).ok();
    assert_eq!(r.read("out/ckpt.bin"), versions[5].1);
    r.fsck_clean();
    // With deltas off, the same history gives gc real garbage to delete: the check above
    // is not vacuous.
    let off = TestRepo::new();
    let path = off.store().join("config.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("delta_max_depth: 5"), "{text}");
    std::fs::write(
        &path,
        text.replace("delta_max_depth: 5", "delta_max_depth: 0"),
    )
    .unwrap();
    fine_tune(&off);
    let plan = off.mreg(&["gc", "--keep-last", "1", "--json"]).ok().json();
    assert!(!plan["delete"].as_array().unwrap().is_empty(), "{plan}");
    off.mreg(&["checkout", "ft", "--to", "out"]).ok();
    off.fsck_clean();
}

#[test]
fn a_damaged_delta_base_is_detected_by_checkout_and_fsck() {
    let r = TestRepo::new();
    let versions = fine_tune(&r);
    // Damage every chunk of the first checkpoint: the base of every chain.
    let show = r.mreg(&["show", &versions[0].0, "--json"]).ok().json();
    let manifest = show["files"][0]["manifest"].as_str().unwrap().to_string();
    let listing = r.mreg(&["cat-object", &manifest]).ok().stdout;
    let chunk = listing
        .lines()
        .nth(3)
        .and_then(|l| l.split(' ').next())
        .unwrap()
        .to_string();
    let p = r
        .store()
        .join("objects")
        .join(&chunk[..2])
        .join(&chunk[2..]);
    let mut bytes = std::fs::read(&p).unwrap();
    let n = bytes.len();
    bytes[n - 7] ^= 0x10;
    let mut perm = std::fs::metadata(&p).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perm.set_readonly(false);
    std::fs::set_permissions(&p, perm).unwrap();
    std::fs::write(&p, &bytes).unwrap();
    let out = r.mreg(&["checkout", &versions[3].0, "--to", "out"]).fails();
    assert!(out.stderr.contains("delta base"), "{}", out.describe());
    assert!(
        !r.path().join("out/ckpt.bin").exists(),
        "no half-written file"
    );
    let fsck = r.mreg(&["fsck"]);
    assert_ne!(fsck.code, 0, "{}", fsck.describe());
    assert!(fsck.stdout.contains("delta base"), "{}", fsck.describe());
}

/// The codec byte of every object a directory remote holds, loose or in packs.
fn remote_codecs(remote: &std::path::Path) -> Vec<u8> {
    let mut out = Vec::new();
    for fan in std::fs::read_dir(remote.join("objects")).unwrap() {
        for f in std::fs::read_dir(fan.unwrap().path()).unwrap() {
            out.push(std::fs::read(f.unwrap().path()).unwrap()[6]);
        }
    }
    if let Ok(packs) = std::fs::read_dir(remote.join("packs")) {
        for f in packs {
            let p = f.unwrap().path();
            if p.extension().is_some_and(|e| e == "idx") {
                let idx: serde_json::Value =
                    serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
                let pack = std::fs::read(p.with_extension("pack")).unwrap();
                for o in idx["objects"].as_array().unwrap() {
                    out.push(pack[o["offset"].as_u64().unwrap() as usize + 6]);
                }
            }
        }
    }
    out
}

#[test]
fn deltas_are_pushed_standalone_and_every_version_comes_back_from_the_remote() {
    let remote = tempfile::tempdir().unwrap();
    let url = remote.path().display().to_string();
    let a = TestRepo::new();
    let versions = fine_tune(&a);
    a.mreg(&["remote", "add", "origin", &url]).ok();
    a.mreg(&["push"]).ok();
    let codecs = remote_codecs(remote.path());
    assert!(codecs.len() > 10, "{codecs:?}");
    assert!(
        !codecs.contains(&3),
        "no delta object on the remote: {codecs:?}"
    );

    // A metadata-only clone streams each version from the remote, verified.
    let b = TestRepo::bare();
    b.mreg(&["clone", &url, "."]).ok();
    for (k, (id, data)) in versions.iter().enumerate() {
        let dir = format!("out{k}");
        b.mreg(&["checkout", id, "--to", &dir]).ok();
        assert_eq!(&b.read(&format!("{dir}/ckpt.bin")), data, "version {k}");
    }
    b.mreg(&["fsck", "--remote", "origin"]).ok();
}

#[test]
fn a_renamed_checkpoint_and_a_new_model_from_another_get_deltas_too() {
    let r = TestRepo::new();
    let v0 = weights(600_000, 21);
    r.write("ckpt-100.bin", &v0);
    let first = r.commit(&["ckpt-100.bin", "--model", "ft", "-m", "step 100"]);
    // The next checkpoint under another name: the parent's one file of the same size is
    // its base.
    let v1 = step(&v0, 1e-3, 22);
    std::fs::remove_file(r.path().join("ckpt-100.bin")).unwrap();
    r.write("ckpt-200.bin", &v1);
    r.commit(&["ckpt-200.bin", "--model", "ft", "-m", "step 200"]);
    let unique = unique_bytes(&r);
    assert!(unique[1] < unique[0] * 0.8, "{unique:?}");
    // A new model derived from a version (--from): that version is the base.
    let v2 = step(&v1, 1e-3, 23);
    r.write("ckpt-200.bin", &v2);
    r.commit(&["ckpt-200.bin", "--model", "ft2", "--from", &first]);
    let du = r.mreg(&["du", "ft2", "--json"]).ok().json();
    let ft2 = du["models"][0]["versions"][0]["unique_bytes"]
        .as_f64()
        .unwrap();
    assert!(
        ft2 < unique[0] * 0.8,
        "ft2 stores {ft2}, a full version {}",
        unique[0]
    );
    r.mreg(&["checkout", "ft2", "--to", "out"]).ok();
    assert_eq!(r.read("out/ckpt-200.bin"), v2);
    r.fsck_clean();
}

/// The chunk ids of version `rev`'s one file, from its manifest.
fn chunks_of(r: &TestRepo, rev: &str) -> Vec<String> {
    let listing = r.mreg(&["cat-object", &manifest_of(r, rev)]).ok().stdout;
    listing
        .lines()
        .skip(3)
        .filter_map(|l| l.split(' ').next().map(str::to_string))
        .collect()
}

fn keyframe_entries(r: &TestRepo) -> Vec<String> {
    let dir = r.store().join("cache").join("keyframes");
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Guards the keyframe cache (`store::object::keyframes`): the newest checkpoint's delta
/// chunks have entries and no older one keeps them; damaged or deleted entries change no
/// byte a checkout writes; fsck and gc treat the store as it is without the cache.
#[test]
fn the_newest_checkpoint_reads_from_the_keyframe_cache_and_the_store_never_depends_on_it() {
    let r = TestRepo::new();
    let versions = fine_tune(&r);
    let entries = keyframe_entries(&r);
    assert!(!entries.is_empty(), "the head's deltas have keyframes");
    let head_chunks = chunks_of(&r, "ft");
    for e in &entries {
        assert!(
            head_chunks.contains(e),
            "{e} is not a chunk of the newest version"
        );
        assert!(
            !chunks_of(&r, "ft~1").contains(e),
            "{e} is also in the version before"
        );
    }
    r.mreg(&["checkout", "ft", "--to", "a"]).ok();
    assert_eq!(r.read("a/ckpt.bin"), versions[5].1);

    // Three more checkpoints. The first starts a new chain (the depth cap): it is stored
    // whole, needs no entry, and the previous head's entries go; the second is a delta of
    // it (depth 1: read fast enough without an entry); the third is at depth 2, with
    // entries.
    let mut data = versions[5].1.clone();
    for k in 6..9 {
        data = step(&data, 1e-3, 90 + k);
        r.write("ckpt.bin", &data);
        r.commit(&["ckpt.bin", "--model", "ft", "-m", &format!("step {k}")]);
        if k < 8 {
            let e = keyframe_entries(&r);
            assert!(e.is_empty(), "step {k}: {e:?}");
        }
    }
    let now = keyframe_entries(&r);
    assert!(!now.is_empty());
    let head_chunks = chunks_of(&r, "ft");
    assert!(now.iter().all(|e| head_chunks.contains(e)), "{now:?}");
    assert!(now.iter().all(|e| !entries.contains(e)), "{now:?}");
    let du = r.mreg(&["du", "--json"]).ok().json();
    assert!(du["keyframe_cache_bytes"].as_u64().unwrap() > 0, "{du}");

    // Junk in every entry: the checkout is still exact (read from the chains) and the junk
    // is gone; the next checkout reads the chains too.
    let dir = r.store().join("cache").join("keyframes");
    let good = std::fs::read(dir.join(&now[0])).unwrap();
    for e in &now {
        // Entries are read-only, as objects: replaced, not written over.
        std::fs::remove_file(dir.join(e)).unwrap();
        std::fs::write(dir.join(e), b"MRGO junk").unwrap();
    }
    r.mreg(&["checkout", "ft", "--to", "b"]).ok();
    assert_eq!(r.read("b/ckpt.bin"), data);
    assert!(
        keyframe_entries(&r).is_empty(),
        "{:?}",
        keyframe_entries(&r)
    );
    r.mreg(&["checkout", "ft", "--to", "c"]).ok();
    assert_eq!(r.read("c/ckpt.bin"), data);

    // gc removes what has no delta object behind it and keeps a good entry; fsck checks
    // the chains themselves.
    std::fs::write(dir.join("not-an-object"), b"x").unwrap();
    std::fs::write(dir.join(&now[0]), &good).unwrap();
    let out = r.mreg(&["gc"]).ok();
    assert!(
        out.stdout.contains("keyframe cache: removed 1"),
        "{}",
        out.describe()
    );
    assert_eq!(keyframe_entries(&r), vec![now[0].clone()]);
    r.fsck_clean();

    // Without the cache directory at all, every version still checks out exactly.
    std::fs::remove_dir_all(&dir).unwrap();
    for (k, (id, want)) in versions.iter().enumerate() {
        let to = format!("c{k}");
        r.mreg(&["checkout", id, "--to", &to]).ok();
        assert_eq!(&r.read(&format!("{to}/ckpt.bin")), want, "version {k}");
    }
    r.fsck_clean();
}

#[test]
fn keyframes_max_zero_turns_the_cache_off_and_a_bad_cap_is_refused() {
    let r = TestRepo::new();
    let path = r.store().join("config.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    // Off from the start (a bare number is a size too, for either cache): no entry.
    let off = format!("{text}\ncache:\n  keyframes_max: 0\n  load_max: 1000000000\n");
    std::fs::write(&path, &off).unwrap();
    let versions = fine_tune(&r);
    assert!(keyframe_entries(&r).is_empty());
    r.mreg(&["checkout", "ft", "--to", "out"]).ok();
    assert_eq!(r.read("out/ckpt.bin"), versions[5].1);

    // Turned off after entries were written: checkouts stay exact, and gc empties the
    // cache (an entry nothing would read again is only disk).
    let on = TestRepo::new();
    let versions = fine_tune(&on);
    assert!(!keyframe_entries(&on).is_empty());
    let on_path = on.store().join("config.yaml");
    let on_text = std::fs::read_to_string(&on_path).unwrap();
    std::fs::write(&on_path, format!("{on_text}\ncache:\n  keyframes_max: 0\n")).unwrap();
    on.mreg(&["checkout", "ft", "--to", "out"]).ok();
    assert_eq!(on.read("out/ckpt.bin"), versions[5].1);
    let out = on.mreg(&["gc"]).ok();
    assert!(
        out.stdout.contains("keyframe cache: removed"),
        "{}",
        out.describe()
    );
    assert!(keyframe_entries(&on).is_empty());
    on.fsck_clean();

    // A cap that is not a size is refused with the option's name: the keyframe cache's
    // by every command (the store is opened with it), the load cache's where it is used.
    for (key, command) in [("keyframes_max", "log"), ("load_max", "gc")] {
        std::fs::write(&path, format!("{text}\ncache:\n  {key}: lots\n")).unwrap();
        let out = r.mreg(&[command]).fails();
        assert!(
            out.stderr.contains(&format!("cache.{key}")),
            "{}",
            out.describe()
        );
    }
}
