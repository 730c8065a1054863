//! Crash, concurrency and corruption tests of the store, through the real binary.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{b3, noise, TestRepo};

/// SIGKILL `mreg commit` of a large file at random instants, many times. Afterwards fsck is
/// clean, the head is a complete commit, and every earlier commit checks out byte-identical.
#[test]
fn kill_during_commit_leaves_a_consistent_store() {
    let r = TestRepo::new();
    let base = noise(48 << 20, 1);
    r.write("w.bin", &base);
    // Time an uninterrupted all-new commit: kills are drawn uniformly inside that window.
    let t = std::time::Instant::now();
    let first = r.commit(&["w.bin", "--model", "m"]);
    let window_us = t.elapsed().as_micros() as u64;
    let mut known = vec![(first.clone(), b3(&base))];
    let mut killed = 0;
    let mut rng = 0x1234_5678_9abc_def0u64;
    for round in 0..20u64 {
        let mut v = base.clone();
        let at = (round as usize * 1_000_003) % (v.len() - 4096);
        v[at..at + 4096].copy_from_slice(&noise(4096, 100 + round));
        if round % 3 != 0 {
            v = noise(48 << 20, 200 + round); // an all-new version: the longest commit
        }
        r.write("w.bin", &v);
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let delay = rng % window_us.max(1);
        let mut child = r
            .command(&["commit", "w.bin", "--model", "m", "-q"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_micros(delay));
        let _ = child.kill(); // SIGKILL
        let out = child.wait_with_output().unwrap();
        if out.status.success() {
            known.push((
                String::from_utf8_lossy(&out.stdout).trim().to_string(),
                b3(&v),
            ));
        } else {
            killed += 1;
        }
        r.fsck_clean();
        // The head is a complete commit whose data checks out.
        let head = r.mreg(&["show", "m", "--json"]).ok().json();
        let head_id = head["id"].as_str().unwrap().to_string();
        let dir = r.path().join(format!("co-{round}"));
        r.mreg(&["checkout", &head_id, "--to", dir.to_str().unwrap()])
            .ok();
        assert_eq!(
            b3(&std::fs::read(dir.join("w.bin")).unwrap()),
            head["files"][0]["blake3"].as_str().unwrap()
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
    eprintln!("{killed} of 20 commits were killed mid-way (window {window_us} us)");
    assert!(
        killed >= 3,
        "only {killed} of 20 commits were interrupted: the test did not test crashes"
    );
    // Every commit that reported success is intact and in the chain.
    let chain = r.chain("m");
    for (id, hash) in &known {
        assert!(chain.contains(id), "commit {id} lost");
        let dir = r.path().join("verify");
        r.mreg(&["checkout", id, "--to", dir.to_str().unwrap()])
            .ok();
        assert_eq!(&b3(&std::fs::read(dir.join("w.bin")).unwrap()), hash);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

/// SIGKILL `mreg checkout` at random instants: the target is either the old or the new
/// content, never a mix, and no half-written file appears under the real name.
#[test]
fn kill_during_checkout_never_leaves_a_half_written_file() {
    let r = TestRepo::new();
    let a = noise(24 << 20, 5);
    let b = noise(24 << 20, 6);
    r.write("w.bin", &a);
    r.commit(&["w.bin", "--model", "m"]);
    r.write("w.bin", &b);
    r.commit(&["w.bin", "--model", "m"]);
    let (ha, hb) = (b3(&a), b3(&b));
    // Time one uninterrupted checkout: kills are drawn inside that window.
    let t = std::time::Instant::now();
    r.mreg(&["checkout", "m~1", "-q"]).ok();
    let window_us = t.elapsed().as_micros() as u64;
    let mut killed = 0;
    let mut rng = 0x0123_4567_89ab_cdefu64;
    for round in 0..16u64 {
        let target = if round % 2 == 0 { "m" } else { "m~1" };
        let mut child = r
            .command(&["checkout", target, "-q"])
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        std::thread::sleep(Duration::from_micros(rng % window_us.max(1)));
        let _ = child.kill();
        if !child.wait().unwrap().success() {
            killed += 1;
        }
        let h = b3(&r.read("w.bin"));
        assert!(
            h == ha || h == hb,
            "round {round}: w.bin is neither version"
        );
        r.fsck_clean();
        // Interrupted or not, the next checkout must succeed (mreg wrote what is there).
        if round % 4 == 3 {
            r.mreg(&["checkout", target, "-q"]).ok();
            assert_eq!(
                b3(&r.read("w.bin")),
                if target == "m" {
                    hb.clone()
                } else {
                    ha.clone()
                }
            );
        }
    }
    eprintln!("{killed} of 16 checkouts were killed mid-way (window {window_us} us)");
    assert!(
        killed >= 2,
        "only {killed} checkouts were interrupted: the test did not test crashes"
    );
}

/// Several processes commit to the same model at once: every commit lands in the chain.
#[test]
fn concurrent_commits_to_one_model_all_land() {
    let r = TestRepo::new();
    let n = 6;
    for i in 0..n {
        r.write(&format!("f{i}.bin"), &noise(2 << 20, i as u64));
    }
    let children: Vec<_> = (0..n)
        .map(|i| {
            r.command(&[
                "commit",
                &format!("f{i}.bin"),
                "--model",
                "m",
                "-m",
                &format!("p{i}"),
                "-q",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
        })
        .collect();
    let mut ids = Vec::new();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        ids.push(String::from_utf8_lossy(&out.stdout).trim().to_string());
    }
    let chain = r.chain("m");
    assert_eq!(chain.len(), n);
    for id in &ids {
        assert!(chain.contains(id), "{id} missing from the chain");
    }
    r.fsck_clean();
}

fn object_path(r: &TestRepo, id: &str) -> std::path::PathBuf {
    r.store().join("objects").join(&id[..2]).join(&id[2..])
}

/// Flip one byte in a chunk: fsck names it, checkout refuses and writes no wrong bytes.
#[test]
fn a_flipped_byte_is_found_and_never_checked_out() {
    use std::os::unix::fs::PermissionsExt;
    let r = TestRepo::new();
    let data = noise(3 << 20, 9);
    r.write("w.bin", &data);
    r.commit(&["w.bin", "--model", "m"]);
    let show = r.mreg(&["show", "m", "--json"]).ok().json();
    let manifest = show["files"][0]["manifest"].as_str().unwrap().to_string();
    let text = Command::new(common::bin())
        .args(["cat-object", &manifest])
        .current_dir(r.path())
        .output()
        .unwrap()
        .stdout;
    let text = String::from_utf8(text).unwrap();
    let chunk = text
        .lines()
        .nth(3)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .to_string();
    let p = object_path(&r, &chunk);
    let mut bytes = std::fs::read(&p).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::write(&p, &bytes).unwrap();

    let out = r.mreg(&["fsck"]);
    assert_eq!(out.code, 1, "{}", out.describe());
    assert!(
        out.stdout.contains(&chunk),
        "fsck names the chunk:\n{}",
        out.describe()
    );

    std::fs::remove_file(r.path().join("w.bin")).unwrap();
    let e = r.mreg(&["checkout", "m"]).fails();
    assert!(e.stderr.contains("corrupt"), "{}", e.describe());
    assert!(
        !r.path().join("w.bin").exists(),
        "no wrong bytes written under the real name"
    );
    let dir = r.path().join("out");
    r.mreg(&["checkout", "m", "--to", dir.to_str().unwrap()])
        .fails();
    assert!(!dir.join("w.bin").exists());
}

#[test]
fn fsck_reports_a_missing_commit_and_a_tampered_history() {
    let r = TestRepo::new();
    r.write("w.bin", &noise(1000, 1));
    let id = r.commit(&["w.bin", "--model", "m"]);
    r.write("w.bin", &noise(1000, 2));
    r.commit(&["w.bin", "--model", "m"]);
    let log = r.store().join("models/m/log");
    let text = std::fs::read_to_string(&log).unwrap();
    std::fs::write(&log, text.replacen("Test <test@example.com>", "Mallory", 1)).unwrap();
    let out = r.mreg(&["fsck"]);
    assert_eq!(out.code, 1);
    assert!(out.stdout.contains("chain broken"), "{}", out.describe());
    std::fs::write(&log, &text).unwrap();
    std::fs::remove_file(object_path(&r, &id)).unwrap();
    let out = r.mreg(&["fsck"]);
    assert_eq!(out.code, 1);
    assert!(out.stdout.contains(&id), "{}", out.describe());
}

#[test]
fn versions_share_unchanged_chunks() {
    let r = TestRepo::new();
    let mut data = noise(8 << 20, 4);
    r.write("w.bin", &data);
    let first = r
        .mreg(&["commit", "w.bin", "--model", "m", "--json"])
        .ok()
        .json();
    data[4 << 20..(4 << 20) + 10].copy_from_slice(b"0123456789");
    r.write("w.bin", &data);
    let second = r
        .mreg(&["commit", "w.bin", "--model", "m", "--json"])
        .ok()
        .json();
    let stored1 = first["stats"]["stored_bytes"].as_u64().unwrap();
    let stored2 = second["stats"]["stored_bytes"].as_u64().unwrap();
    assert!(
        stored2 * 4 < stored1,
        "a small edit stores far less: {stored2} vs {stored1}"
    );
}
