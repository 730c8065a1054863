//! Regression tests for issue 23 (trust across machines): no lost update between a store
//! and its remote. Directory remotes here; the S3 servers are exercised in remote.rs.

use crate::common;

use std::process::Stdio;

use crate::common::{noise, TestRepo};

/// Issue 23, defect 2: push read the local log's last line *after* uploading and marked
/// everything up to it as pushed, so a move made in the same store meanwhile was recorded
/// as pushed but never published. Now push publishes exactly the lines it read; the next
/// push publishes the rest, and a clone sees the local state.
#[test]
fn issue23_moves_made_while_push_uploads_are_published_by_the_next_push() {
    let r = TestRepo::new();
    let remote = tempfile::tempdir().unwrap();
    // A large version makes the upload take a while.
    r.write("big.bin", &noise(96 << 20, 1));
    let v1 = r.commit(&["big.bin", "--model", "m", "-q"]);
    r.write("small.bin", &noise(1000, 2));
    let v2 = r.commit(&["small.bin", "--model", "m", "-q"]);
    r.mreg(&["remote", "add", "origin", remote.path().to_str().unwrap()])
        .ok();
    let mut push = r
        .command(&["push", "-q"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Move an alias back and forth while the push runs.
    let mut during = 0;
    let mut target = &v1;
    loop {
        target = if target == &v1 { &v2 } else { &v1 };
        r.mreg(&["alias", "set", "m", "production", target, "-q"])
            .ok();
        if push.try_wait().unwrap().is_some() {
            break;
        }
        during += 1;
    }
    let out = push.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        during >= 2,
        "only {during} moves while the push ran: the test did not test the race"
    );
    // The next push publishes what the first did not read; then all is published.
    r.mreg(&["push"]).ok();
    let again = r.mreg(&["push", "--json"]).ok().json();
    assert_eq!(again["models"][0]["lines_pushed"], 0, "{again}");
    let c = TestRepo::bare();
    c.mreg(&["clone", remote.path().to_str().unwrap(), "."])
        .ok();
    let here = r.mreg(&["show", "m@production", "--json"]).ok().json();
    let there = c.mreg(&["show", "m@production", "--json"]).ok().json();
    assert_eq!(here["id"], there["id"], "production differs on the remote");
    assert_eq!(
        r.mreg(&["history", "m", "--json"])
            .ok()
            .json()
            .as_array()
            .map(Vec::len),
        c.mreg(&["history", "m", "--json"])
            .ok()
            .json()
            .as_array()
            .map(Vec::len),
        "every move reached the remote"
    );
    // A commit after that is not refused as a stale head.
    r.write("small.bin", &noise(1000, 3));
    r.commit(&["small.bin", "--model", "m", "-q"]);
    r.mreg(&["push"]).ok();
}

/// Issue 23 (smaller items): `fsck --remote` compares against the lines this clone has
/// already verified, so a rewritten last line is noticed at once.
#[test]
fn issue23_fsck_remote_notices_a_rewritten_last_line_at_once() {
    let r = TestRepo::new();
    let remote = tempfile::tempdir().unwrap();
    r.write("m.bin", &noise(1000, 1));
    let v = r.commit(&["m.bin", "--model", "m", "-q"]);
    r.mreg(&["alias", "set", "m", "production", &v, "-m", "ship"])
        .ok();
    r.mreg(&["remote", "add", "origin", remote.path().to_str().unwrap()])
        .ok();
    r.mreg(&["push"]).ok();
    let f = r.mreg(&["fsck", "--remote", "origin"]).ok();
    assert!(f.stdout.contains("remote is clean"), "{}", f.describe());
    // Rewrite the last line's reason (still a valid line: its prev hash is unchanged).
    let last = remote.path().join("models/m/log/000000000002");
    let text = std::fs::read_to_string(&last).unwrap();
    assert!(text.contains("\"ship\""), "{text}");
    std::fs::write(
        &last,
        text.replace("\"ship\"", "\"shipped by someone else\""),
    )
    .unwrap();
    let f = r.mreg(&["fsck", "--remote", "origin"]);
    assert_ne!(f.code, 0, "{}", f.describe());
    assert!(f.stdout.contains("rewritten"), "{}", f.describe());
}

/// Issue 23, defect 5: pruning a version that was never pushed made every push fail. Now
/// push publishes its metadata and the prune (who, when, why), says the data was not
/// pushed, and every other store sees the version as pruned.
#[test]
fn issue23_a_version_pruned_before_push_does_not_block_push() {
    let r = TestRepo::new();
    let remote = tempfile::tempdir().unwrap();
    let url = remote.path().to_str().unwrap().to_string();
    r.mreg(&["remote", "add", "origin", &url]).ok();
    r.write("m.bin", &noise(200_000, 1));
    r.commit(&["m.bin", "--model", "m", "-q"]);
    r.mreg(&["push"]).ok();
    r.write("m.bin", &noise(200_000, 2));
    let v2 = r.commit(&["m.bin", "--model", "m", "-q"]);
    r.write("m.bin", &noise(200_000, 3));
    let v3 = r.commit(&["m.bin", "--model", "m", "-q"]);
    r.mreg(&["prune", &v2, "--yes", "-m", "leaked data"]).ok();
    let out = r.mreg(&["push"]).ok();
    assert!(
        out.stderr.contains(&v2[..12]) && out.stderr.contains("was not"),
        "{}",
        out.describe()
    );
    r.mreg(&["fsck", "--remote", "origin"]).ok();
    let c = TestRepo::bare();
    c.mreg(&["clone", &url, "."]).ok();
    assert_eq!(c.chain("m"), r.chain("m"));
    let show = c.mreg(&["show", &v2, "--json"]).ok().json();
    assert_eq!(show["files_pruned"], true, "{show}");
    let e = c.mreg(&["checkout", &v2, "--to", "x"]).fails();
    assert!(e.stderr.contains("pruned"), "{}", e.describe());
    c.mreg(&["checkout", &v3, "--to", "y"]).ok();
    assert_eq!(c.read("y/m.bin"), noise(200_000, 3));
    c.fsck_clean();
    c.mreg(&["fsck", "--remote", "origin"]).ok();
    // The prune's reason travelled.
    let h = c.mreg(&["history", "m", "--json"]).ok().json();
    assert!(h.to_string().contains("leaked data"), "{h}");
    // Nothing left to push.
    let again = r.mreg(&["push", "--json"]).ok().json();
    assert_eq!(again["models"][0]["lines_pushed"], 0, "{again}");
}

/// Issue 23, defect 3a: a store image restored at the same path (here: the same machine,
/// where the id is kept) and used beside the original. Each used to take the other's
/// moves for its own: pull applied none, push said "everything up to date". Now a line
/// is a store's own only if it publishes that store's local line.
#[test]
fn issue23_a_restored_store_image_and_the_original_exchange_their_moves() {
    let r = TestRepo::new();
    let remote = tempfile::tempdir().unwrap();
    r.mreg(&["remote", "add", "origin", remote.path().to_str().unwrap()])
        .ok();
    r.write("m.bin", &noise(1000, 1));
    let v1 = r.commit(&["m.bin", "--model", "m", "-q"]);
    r.write("m.bin", &noise(1000, 2));
    let v2 = r.commit(&["m.bin", "--model", "m", "-q"]);
    r.mreg(&["push"]).ok();
    let store = r.store();
    let image = r.path().join("image");
    let copy = |from: &std::path::Path, to: &std::path::Path| {
        let _ = std::fs::remove_dir_all(to);
        let ok = std::process::Command::new("cp")
            .args(["-a", from.to_str().unwrap(), to.to_str().unwrap()])
            .status()
            .unwrap()
            .success();
        assert!(ok);
    };
    copy(&store, &image);
    // Machine 1 moves staging and pushes.
    r.mreg(&["alias", "set", "m", "staging", &v1, "-m", "machine 1"])
        .ok();
    r.mreg(&["push"]).ok();
    let machine1 = r.path().join("machine1");
    copy(&store, &machine1);
    // Machine 2: the image restored at the same path moves production and pushes.
    copy(&image, &store);
    r.mreg(&["alias", "set", "m", "production", &v2, "-m", "machine 2"])
        .ok();
    let p = r.mreg(&["push", "--json"]).ok().json();
    assert_eq!(
        p["models"][0]["lines_pushed"], 1,
        "machine 2's move published: {p}"
    );
    r.mreg(&["pull"]).ok();
    let staging = r.mreg(&["show", "m@staging", "--json"]).ok().json();
    assert_eq!(staging["id"], v1, "machine 2 took machine 1's move");
    // Back on machine 1: it takes machine 2's move.
    copy(&machine1, &store);
    r.mreg(&["pull"]).ok();
    let prod = r.mreg(&["show", "m@production", "--json"]).ok().json();
    assert_eq!(prod["id"], v2, "machine 1 took machine 2's move");
    let c = TestRepo::bare();
    c.mreg(&["clone", remote.path().to_str().unwrap(), "."])
        .ok();
    for rev in ["m@staging", "m@production"] {
        assert_eq!(
            c.mreg(&["show", rev, "--json"]).ok().json()["id"],
            r.mreg(&["show", rev, "--json"]).ok().json()["id"]
        );
    }
}

/// Issue 23, defect 3b: a no-op line forged with a victim's writer id and a huge sequence
/// number made the victim's later pushes publish nothing, silently. Now the victim's move
/// is published, and push and `fsck --remote` name the forged line.
#[test]
fn issue23_a_forged_line_with_a_victims_id_does_not_swallow_its_pushes() {
    let r = TestRepo::new();
    let remote = tempfile::tempdir().unwrap();
    r.mreg(&["remote", "add", "origin", remote.path().to_str().unwrap()])
        .ok();
    r.write("m.bin", &noise(1000, 1));
    let v1 = r.commit(&["m.bin", "--model", "m", "-q"]);
    r.mreg(&["push"]).ok();
    // The forger copies line 1, keeps its writer id, sets a huge writer seq and no changes.
    let dir = remote.path().join("models/m/log");
    let first = std::fs::read(dir.join("000000000001")).unwrap();
    let mut line: serde_json::Value = serde_json::from_slice(&first).unwrap();
    line["seq"] = 2.into();
    line["prev"] = common::b3(&first).into();
    line["writer"]["seq"] = 1_000_000u64.into();
    line["changes"] = serde_json::json!([]);
    line["action"] = "label add".into();
    line["extra"].as_object_mut().unwrap().remove("version");
    line["message"] = "forged".into();
    std::fs::write(dir.join("000000000002"), serde_json::to_vec(&line).unwrap()).unwrap();
    r.mreg(&["alias", "set", "m", "production", &v1, "-m", "real move"])
        .ok();
    let out = r.mreg(&["push", "--json"]).ok();
    let p = out.json();
    assert_eq!(p["models"][0]["lines_pushed"], 1, "{p}");
    assert!(p["impostor_lines"].to_string().contains("line 2"), "{p}");
    let f = r.mreg(&["fsck", "--remote", "origin"]);
    assert_ne!(f.code, 0, "{}", f.describe());
    assert!(f.stdout.contains("writer id"), "{}", f.describe());
    let c = TestRepo::bare();
    c.mreg(&["clone", remote.path().to_str().unwrap(), "."])
        .ok();
    assert_eq!(
        c.mreg(&["show", "m@production", "--json"]).ok().json()["id"],
        v1
    );
}

/// Append a line to a directory remote's history of `model`, written by another writer,
/// with these changes and extra facts (a hostile or hand-made line: valid chain, valid
/// compare-and-swap, but a move no mreg command makes).
fn append_remote_line(
    remote: &std::path::Path,
    model: &str,
    action: &str,
    changes: serde_json::Value,
    extra: serde_json::Value,
) {
    let dir = remote.join("models").join(model).join("log");
    let n = std::fs::read_dir(&dir).unwrap().count() as u64;
    let last = std::fs::read(dir.join(format!("{n:012}"))).unwrap();
    let mut line: serde_json::Value = serde_json::from_slice(&last).unwrap();
    line["seq"] = (n + 1).into();
    line["prev"] = common::b3(&last).into();
    line["writer"] = serde_json::json!({"store": "e".repeat(32), "seq": n + 1});
    line["action"] = action.into();
    line["message"] = "hostile".into();
    line["changes"] = changes;
    if let Some(o) = line.as_object_mut() {
        o.remove("extra");
    }
    if !extra.is_null() {
        line["extra"] = extra;
    }
    std::fs::write(
        dir.join(format!("{:012}", n + 1)),
        serde_json::to_vec(&line).unwrap(),
    )
    .unwrap();
}

/// Issue 23, defect 4: remote lines bypassed the rules local moves obey. Each hostile
/// line is refused by pull with an error naming the remote and the line; nothing after it
/// in that model is applied, other models are; `fsck --remote` lists it; the store is
/// as it was for that model.
#[test]
fn issue23_remote_lines_that_break_local_rules_are_refused_and_named() {
    let remote = tempfile::tempdir().unwrap();
    let url = remote.path().to_str().unwrap().to_string();
    let a = TestRepo::new();
    a.mreg(&["remote", "add", "origin", &url]).ok();
    a.write("m.bin", &noise(1000, 1));
    let v1 = a.commit(&["m.bin", "--model", "m", "-q"]);
    a.write("m.bin", &noise(1000, 2));
    let v2 = a.commit(&["m.bin", "--model", "m", "-q"]);
    a.mreg(&["alias", "set", "m", "production", &v2]).ok();
    a.write("o.bin", &noise(1000, 3));
    let o1 = a.commit(&["o.bin", "--model", "other", "-q"]);
    a.mreg(&["push"]).ok();
    let b = TestRepo::bare();
    b.mreg(&["clone", &url, "."]).ok();
    let hostile = [
        (
            "tag",
            serde_json::json!([{"ref": format!("tag:{v1}"), "old": null, "new": v2}]),
            serde_json::Value::Null,
            "commit id",
        ),
        (
            "alias set",
            serde_json::json!([{"ref": "alias:<script>x", "old": null, "new": v2}]),
            serde_json::Value::Null,
            "alias",
        ),
        (
            "alias set",
            serde_json::json!([{"ref": "alias:../../x", "old": null, "new": v2}]),
            serde_json::Value::Null,
            "alias",
        ),
        (
            "archive",
            serde_json::json!([]),
            serde_json::json!({"archived": v2}),
            "alias production",
        ),
        (
            "alias set",
            serde_json::json!([{"ref": "alias:staging", "old": null, "new": o1}]),
            serde_json::Value::Null,
            "model other",
        ),
    ];
    for (action, changes, extra, why) in hostile {
        let r = tempfile::tempdir().unwrap();
        // Each case on its own copy of the remote.
        let ok = std::process::Command::new("cp")
            .args(["-a", &format!("{url}/."), r.path().to_str().unwrap()])
            .status()
            .unwrap()
            .success();
        assert!(ok);
        append_remote_line(r.path(), "m", action, changes, extra);
        let c = TestRepo::bare();
        let e = c.mreg(&["clone", r.path().to_str().unwrap(), "."]);
        assert_eq!(e.code, 1, "{}", e.describe());
        assert!(
            e.stderr
                .contains("error: refused remote origin model m line")
                && e.stderr.contains(why),
            "{why}: {}",
            e.describe()
        );
        // The store has everything else, and nothing of the hostile move.
        assert_eq!(c.chain("m"), a.chain("m"));
        assert_eq!(c.chain("other"), vec![o1.clone()]);
        let dir = c.path().join("out");
        c.mreg(&["checkout", &v1, "--to", dir.to_str().unwrap()])
            .ok();
        assert_eq!(c.read("out/m.bin"), noise(1000, 1), "{why}: wrong bytes");
        let prod = c.mreg(&["show", "m@production", "--json"]).ok().json();
        assert_eq!(prod["id"], v2);
        let f = c.mreg(&["fsck", "--remote", "origin"]);
        assert_ne!(f.code, 0, "{}", f.describe());
        assert!(
            f.stdout.contains("model m line 4") && f.stdout.contains(why),
            "{why}: {}",
            f.describe()
        );
        // A pull says it again; the store stays usable.
        assert_eq!(c.mreg(&["pull"]).code, 1);
        c.fsck_clean();
    }
    let _ = b;
}

/// Issue 23 (smaller items): a store without `locks/` or `tmp/` (a read-only image, or a
/// store committed to git, which keeps no empty directory) is readable, and reads create
/// nothing; the first write creates them.
#[test]
fn issue23_reads_work_on_a_store_without_locks_or_tmp_and_create_nothing() {
    let r = TestRepo::new();
    r.write("m.bin", &noise(100_000, 1));
    let v = r.commit(&["m.bin", "--model", "m", "-q", "--metric", "acc=0.5"]);
    for d in ["locks", "tmp"] {
        std::fs::remove_dir_all(r.store().join(d)).unwrap();
    }
    let out = r.path().join("out");
    for args in [
        vec!["log", "m"],
        vec!["show", "m"],
        vec!["list", "--model", "m"],
        vec!["models"],
        vec!["history", "m"],
        vec!["diff", &v, &v],
        vec!["du"],
        vec!["fsck"],
        vec!["gc", "--dry-run"],
        vec!["checkout", &v, "--to", out.to_str().unwrap()],
    ] {
        r.mreg(&args).ok();
        for d in ["locks", "tmp"] {
            assert!(
                !r.store().join(d).exists(),
                "`mreg {}` created {d}/",
                args.join(" ")
            );
        }
    }
    assert_eq!(std::fs::read(out.join("m.bin")).unwrap(), noise(100_000, 1));
    r.write("m.bin", &noise(100_000, 2));
    r.commit(&["m.bin", "--model", "m", "-q"]);
    assert!(r.store().join("locks").is_dir() && r.store().join("tmp").is_dir());
    r.fsck_clean();
}

/// Issue 23 (smaller items): `checkout --to DIR` of a directory version that hits a corrupt
/// chunk in its last file left 301 of 302 files. Now a directory version is written all or
/// nothing, as a file is.
#[test]
fn issue23_a_directory_checkout_that_hits_a_corrupt_chunk_writes_no_file() {
    let r = TestRepo::new();
    for i in 0..40u64 {
        r.write(&format!("model/part-{i:02}.bin"), &noise(20_000, i));
    }
    let v = r.commit(&["model", "--model", "m", "-q"]);
    // Corrupt the (only) chunk of the last file.
    let show = r.mreg(&["show", &v, "--json"]).ok().json();
    let last = show["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == "model/part-39.bin")
        .unwrap()
        .clone();
    let manifest = last["manifest"].as_str().unwrap();
    // The manifest's text: a header, then one "CHUNK_ID LEN" line per chunk.
    let m = r.mreg(&["cat-object", manifest]).ok().stdout;
    let chunk = m
        .lines()
        .skip(3)
        .find_map(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("no chunk in {m}"))
        .to_string();
    let p = r
        .store()
        .join("objects")
        .join(&chunk[..2])
        .join(&chunk[2..]);
    let mut bytes = std::fs::read(&p).unwrap();
    let n = bytes.len();
    bytes[n - 1] ^= 0xff;
    std::fs::write(&p, bytes).unwrap();
    let out = r.path().join("out");
    r.mreg(&["checkout", &v, "--to", out.to_str().unwrap()])
        .fails();
    let left: Vec<_> = walk_files(&out);
    assert!(
        left.is_empty(),
        "a failed checkout left {} files: {left:?}",
        left.len()
    );
}

fn walk_files(p: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            if e.path().is_dir() {
                out.extend(walk_files(&e.path()));
            } else {
                out.push(e.path());
            }
        }
    }
    out
}

/// Issue 23 (smaller items): on a full disk, `init` and `clone` leave nothing behind (no
/// `.modelreg-init-PID/`), and the hint fits every command. Needs a small tmpfs, so it
/// mounts one: run as root with `cargo test --test trust_machines -- --ignored`.
#[test]
#[ignore = "mounts a tmpfs: needs root"]
fn issue23_a_full_disk_leaves_no_half_made_store() {
    let mnt = tempfile::tempdir().unwrap();
    let ok = std::process::Command::new("mount")
        .args([
            "-t",
            "tmpfs",
            "-o",
            "size=64k",
            "tmpfs",
            mnt.path().to_str().unwrap(),
        ])
        .status()
        .unwrap()
        .success();
    assert!(ok, "cannot mount a tmpfs (run as root)");
    struct Unmount<'a>(&'a std::path::Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(self.0).status();
        }
    }
    let _guard = Unmount(mnt.path());
    // Fill the disk.
    let _ = std::fs::write(mnt.path().join("fill"), vec![0u8; 1 << 20]);
    let d = mnt.path().join("store");
    std::fs::create_dir(&d).ok();
    let r = TestRepo::bare();
    let e = r.mreg(&["-C", d.to_str().unwrap(), "init"]).fails();
    assert!(e.stderr.contains("free disk space"), "{}", e.describe());
    let left: Vec<_> = std::fs::read_dir(&d)
        .map(|rd| rd.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "init left {left:?}");
    // A clone onto the full disk: nothing left either.
    let src = TestRepo::new();
    let remote = tempfile::tempdir().unwrap();
    src.write("m.bin", &noise(200_000, 1));
    src.commit(&["m.bin", "--model", "m", "-q"]);
    src.mreg(&["remote", "add", "origin", remote.path().to_str().unwrap()])
        .ok();
    src.mreg(&["push"]).ok();
    let target = mnt.path().join("clone");
    let e = r
        .mreg(&[
            "clone",
            remote.path().to_str().unwrap(),
            target.to_str().unwrap(),
        ])
        .fails();
    assert!(
        !e.stderr.contains("nothing was committed"),
        "{}",
        e.describe()
    );
    assert!(!target.exists(), "clone left {:?}", walk_files(&target));
    let strays: Vec<_> = std::fs::read_dir(mnt.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".modelreg-init"))
        .collect();
    assert!(strays.is_empty(), "{strays:?}");
}
