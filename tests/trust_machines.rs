//! Regression tests for issue 23 (trust across machines): no lost update between a store
//! and its remote. Directory remotes here; the S3 servers are exercised in remote.rs.

mod common;

use std::process::Stdio;

use common::{noise, TestRepo};

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
