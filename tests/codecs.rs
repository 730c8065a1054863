//! Float byte planes (object codec 2) through the real binary: float weights are stored
//! smaller and check out byte-identical; `compression.float_planes: false` turns the codec
//! off; a store whose config predates the setting uses it; a damaged plane object is
//! refused by checkout and reported by fsck.

mod common;

use common::*;

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
