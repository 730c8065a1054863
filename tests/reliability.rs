//! Crash, concurrency and corruption tests of the store, through the real binary.

use crate::common;
use crate::common::{assert_unchanged, b3, noise, object_path, versions, TestRepo};

use std::process::{Command, Stdio};
use std::time::Duration;

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

/// Run the real binary as an unprivileged user, for whom the store is read-only (a shared
/// read-only mount behaves the same). Needs root to switch user; skipped otherwise.
fn as_nobody(r: &TestRepo, bin: &std::path::Path, args: &[&str]) -> Option<std::process::Output> {
    let ok = std::process::Command::new("setpriv")
        .args([
            "--reuid",
            "65534",
            "--regid",
            "65534",
            "--clear-groups",
            "true",
        ])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        eprintln!("skipping: cannot switch to an unprivileged user here");
        return None;
    }
    let mut cmd = std::process::Command::new("setpriv");
    cmd.args(["--reuid", "65534", "--regid", "65534", "--clear-groups"])
        .arg(bin)
        .args(args)
        .current_dir(r.path())
        .env("MREG_AUTHOR", "Reader <r@example.com>")
        .env_remove("MREG_STORE");
    Some(cmd.output().unwrap())
}

#[test]
fn read_commands_work_on_a_read_only_store() {
    use std::os::unix::fs::PermissionsExt;
    let r = TestRepo::new();
    let v = versions(&r, 2);
    r.mreg(&["eval", "add", &v[0], "--dataset", "d", "--metric", "f1=0.5"])
        .ok();
    // The binary and the repository must be reachable by the other user; the store is not
    // writable by it. The lock files and caches that exist are left as they are.
    let _ = std::fs::remove_dir_all(r.store().join("cache"));
    let _ = std::fs::remove_file(r.store().join("locks/store"));
    let mut p = r.path().to_path_buf();
    loop {
        let mode = std::fs::metadata(&p).unwrap().permissions().mode();
        let _ = std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode | 0o755));
        if !p.pop() || p.as_os_str().is_empty() {
            break;
        }
    }
    let out_dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(out_dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let to = out_dir.path().join("co");
    // The build directory may not be reachable by the other user (a CI checkout in a 0700
    // temp dir): run a copy of the binary from a directory it can enter.
    let bin = out_dir.path().join("mreg");
    std::fs::copy(common::bin(), &bin).unwrap();
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    let snap = r.snapshot();
    for args in [
        vec!["log", "m"],
        vec!["show", "m"],
        vec!["list"],
        vec!["du"],
        vec!["diff", "m~1", "m"],
        vec!["fsck"],
        vec!["models"],
        vec!["checkout", "m", "--to", to.to_str().unwrap()],
    ] {
        let Some(out) = as_nobody(&r, &bin, &args) else {
            return;
        };
        assert!(
            out.status.success(),
            "{args:?} on a read-only store:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(
        std::fs::read(to.join("w.bin")).unwrap(),
        noise(200_000, 1001)
    );
    assert_unchanged(&r, &snap, "read commands");
    assert!(
        !r.store().join("locks/store").exists(),
        "no lock file created"
    );
}

#[test]
fn a_writer_waiting_for_a_lock_says_what_it_waits_for() {
    let r = TestRepo::new();
    r.write("w.bin", &noise(100, 1));
    // Hold the store lock exclusively, as gc does.
    let lock = std::fs::File::options()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(r.store().join("locks/store"))
        .unwrap();
    lock.lock().unwrap();
    let mut child = r
        .command(&["commit", "w.bin", "--model", "m"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Read stderr as it comes; release the lock once the writer says it waits (or after a
    // generous timeout, when the assertion below fails with what it printed).
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        let mut all = String::new();
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if line.contains("waiting for") {
                let _ = tx.send(());
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    let _ = rx.recv_timeout(std::time::Duration::from_secs(20));
    lock.unlock().unwrap();
    let status = child.wait().unwrap();
    let err = reader.join().unwrap();
    assert!(status.success(), "{err}");
    assert!(
        err.contains("waiting for the store lock") && err.contains("gc is running"),
        "{err}"
    );
}

#[test]
fn a_checkout_that_did_not_wait_for_the_disk_is_rehashed_after_a_reboot() {
    // Checkout into the work tree does not fsync (as git does not); worktree.json marks the
    // files with this boot's id. A "reboot" (another boot id) makes status hash them
    // instead of trusting their stat, so bytes lost in a crash never read as clean.
    let r = TestRepo::new();
    r.write("m.bin", &common::noise(100_000, 1));
    let v1 = r.commit(&["m.bin", "--model", "m"]);
    r.write("m.bin", &common::noise(100_000, 2));
    r.commit(&["m.bin", "--model", "m"]);
    r.mreg(&["checkout", &v1]).ok();
    let wt_path = r.store().join("worktree.json");
    let wt: serde_json::Value = serde_json::from_slice(&std::fs::read(&wt_path).unwrap()).unwrap();
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap();
    assert_eq!(wt["files"]["m.bin"]["unsynced"], boot.trim());
    let status = |r: &TestRepo| r.mreg(&["status", "--json"]).ok().json();
    assert_eq!(status(&r)["files"][0]["state"], "clean", "{}", status(&r));

    // Reboot with the bytes intact: hashed, clean, and no longer marked unsynced.
    let mut w = wt.clone();
    w["files"]["m.bin"]["unsynced"] = "00000000-0000-0000-0000-previousboot".into();
    std::fs::write(&wt_path, serde_json::to_vec(&w).unwrap()).unwrap();
    assert_eq!(status(&r)["files"][0]["state"], "clean");
    let after: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&wt_path).unwrap()).unwrap();
    assert!(after["files"]["m.bin"].get("unsynced").is_none(), "{after}");

    // Reboot after a crash that lost the bytes (the file is zeros of the same size).
    std::fs::write(&wt_path, serde_json::to_vec(&w).unwrap()).unwrap();
    std::fs::write(r.path().join("m.bin"), vec![0u8; 100_000]).unwrap();
    assert_eq!(
        status(&r)["files"][0]["state"],
        "modified",
        "{}",
        status(&r)
    );
}
