//! Issue 26: a remote that stays clean. `prune --remote` takes a version's data off the
//! remote (its history stays, every clone refuses it clearly), `gc --remote` removes what
//! no version there needs — while other machines push, and killed at any instant — and
//! never a byte a published version needs.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::common::{b3, noise, TestRepo};
use crate::servers;
use crate::servers::remote::Remote;

/// Commit `bytes` as `w.bin` of model `m`; returns the version id.
fn commit(remote: &Remote, r: &TestRepo, bytes: &[u8], msg: &str) -> String {
    r.write("w.bin", bytes);
    remote
        .run(r, &["commit", "w.bin", "--model", "m", "-q", "-m", msg])
        .ok()
        .stdout
        .trim()
        .to_string()
}

/// Every version in `want` checks out byte-identical from a fresh clone, every one in
/// `pruned` is refused as pruned, and `fsck --remote` finds the remote clean.
#[track_caller]
fn fresh_clone_agrees(remote: &Remote, want: &BTreeMap<String, String>, pruned: &[String]) {
    let c = remote.clone();
    for (id, hash) in want {
        let dir = c.path().join("out").join(&id[..12]);
        remote
            .run(&c, &["checkout", id, "--to", dir.to_str().unwrap()])
            .ok();
        let got = std::fs::read(dir.join("w.bin")).unwrap();
        assert_eq!(&b3(&got), hash, "version {id} checks out byte-identical");
    }
    for id in pruned {
        let dir = c.path().join("out-pruned");
        let out = remote
            .run(&c, &["checkout", id, "--to", dir.to_str().unwrap()])
            .fails();
        assert!(out.stderr.contains("pruned"), "{}", out.describe());
    }
    let f = remote.run(&c, &["fsck", "--remote", "origin"]).ok();
    assert!(f.stdout.contains("remote is clean"), "{}", f.describe());
}

fn remote_bytes(remote: &Remote, r: &TestRepo) -> u64 {
    remote
        .run(r, &["du", "--remote", "origin", "--json"])
        .ok()
        .json()["total_bytes"]
        .as_u64()
        .unwrap()
}

/// Push 6 versions; prune 2 on the remote; run remote gc while two other clones push new
/// versions — one of them re-using a pruned version's bytes, the object a racing gc would
/// delete under it. Afterwards the pruned versions' bytes are gone from the remote, every
/// other version (old and new) checks out byte-identical from a fresh clone, and `fsck
/// --remote` is clean.
fn gc_while_others_push(remote: Remote) {
    let a = TestRepo::new();
    remote.add(&a);
    let mut want = BTreeMap::new();
    let mut ids = Vec::new();
    let mut data = Vec::new();
    for i in 0..6 {
        let bytes = noise(400_000, 100 + i);
        let id = commit(&remote, &a, &bytes, &format!("v{i}"));
        want.insert(id.clone(), b3(&bytes));
        ids.push(id);
        data.push(bytes);
    }
    remote.run(&a, &["push"]).ok();
    // Two teammates, each with the data of v1 here (fetched by a checkout).
    let b = remote.clone();
    let c = remote.clone();
    for t in [&b, &c] {
        let dir = t.path().join("v1");
        remote
            .run(t, &["checkout", &ids[1], "--to", dir.to_str().unwrap()])
            .ok();
    }
    let before = remote_bytes(&remote, &a);
    let pruned = vec![ids[1].clone(), ids[3].clone()];
    for p in &pruned {
        let out = remote
            .run(
                &a,
                &[
                    "prune", p, "--remote", "origin", "--yes", "--grace", "0s", "-m", "leaked",
                ],
            )
            .ok();
        assert!(
            out.stdout.contains("pruned on the remote"),
            "{}",
            out.describe()
        );
        want.remove(p);
    }
    let after = remote_bytes(&remote, &a);
    assert!(
        before - after >= 2 * 400_000 * 9 / 10,
        "the two pruned versions' bytes left the remote: {before} -> {after}"
    );
    // Now gc runs again and again while b pushes a version made of v1's bytes (pruned on
    // the remote, so its chunks were deleted there: b must upload them again) and c pushes
    // new versions.
    let gc = std::thread::scope(|sc| {
        let pushes = [(0u64, &b), (1, &c)].map(|(who, t)| {
            let remote = &remote;
            let data = &data;
            sc.spawn(move || {
                let mut made = Vec::new();
                for k in 0..3u64 {
                    let bytes = if who == 0 && k == 0 {
                        data[1].clone()
                    } else {
                        noise(300_000, 1000 + 10 * who + k)
                    };
                    let id = commit(remote, t, &bytes, &format!("teammate {k}"));
                    remote.run(t, &["push"]).ok();
                    made.push((id, b3(&bytes)));
                }
                made
            })
        });
        let mut sweeps = 0;
        for _ in 0..3 {
            let out = remote.run(&a, &["gc", "--remote", "origin", "--yes", "--grace", "0s"]);
            assert_eq!(out.code, 0, "{}", out.describe());
            sweeps += 1;
        }
        for p in pushes {
            want.extend(p.join().unwrap());
        }
        sweeps
    });
    assert_eq!(gc, 3);
    remote
        .run(&a, &["gc", "--remote", "origin", "--yes", "--grace", "0s"])
        .ok();
    // v3 is refused everywhere; v1's bytes are on the remote again as b's version, so
    // they are not "lost" (a checkout of v1 may find them; what matters is b's version).
    fresh_clone_agrees(&remote, &want, &pruned[1..]);
}

#[test]
fn remote_gc_while_others_push_keeps_every_published_version_on_a_directory() {
    gc_while_others_push(Remote::dir());
}

#[test]
fn remote_gc_while_others_push_keeps_every_published_version_on_seaweedfs() {
    if !servers::available("remote_gc_while_others_push_keeps_every_published_version_on_seaweedfs")
    {
        return;
    }
    gc_while_others_push(Remote::seaweed());
}

/// Kill remote gc at 12 instants: no live object is lost, and the rerun completes.
#[test]
fn remote_gc_killed_at_any_instant_loses_nothing_and_the_rerun_completes() {
    let remote = Remote::dir();
    let a = TestRepo::new();
    remote.add(&a);
    let mut want = BTreeMap::new();
    let mut pruned = Vec::new();
    for round in 0..12u64 {
        // Garbage for this round: two versions, one pruned on the remote.
        let keep = noise(200_000, 7000 + round);
        let gone = noise(200_000, 8000 + round);
        let g = commit(&remote, &a, &gone, &format!("gone {round}"));
        let k = commit(&remote, &a, &keep, &format!("keep {round}"));
        want.insert(k, b3(&keep));
        remote.run(&a, &["push"]).ok();
        remote
            .run(&a, &["prune", &g, "--remote", "origin", "--yes", "-m", "x"])
            .ok();
        pruned.push(g);
        let mut child = a
            .command(&["gc", "--remote", "origin", "--yes", "--grace", "0s"])
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(round * 37 % 400));
        let _ = child.kill();
        let _ = child.wait();
    }
    // The rerun completes (the killed gcs' locks do not block it) and finds nothing live
    // missing.
    remote
        .run(&a, &["gc", "--remote", "origin", "--yes", "--grace", "0s"])
        .ok();
    fresh_clone_agrees(&remote, &want, &pruned);
    let plan = remote
        .run(&a, &["gc", "--remote", "origin", "--json", "--grace", "0s"])
        .ok()
        .json();
    assert_eq!(plan["freed_bytes"], 0, "nothing left to sweep: {plan}");
}

/// A pack whose objects are half dead is rewritten with its live objects, the old one
/// removed; what the grace period keeps and names that are not mreg's are reported, never
/// deleted.
#[test]
fn a_half_dead_pack_is_rewritten_and_strays_are_reported_not_deleted() {
    let remote = Remote::dir();
    let a = TestRepo::new();
    remote.add(&a);
    // Two versions of small files (packed), pushed together: one pack.
    let mut want = BTreeMap::new();
    let mut ids = Vec::new();
    for v in 0..2u64 {
        for f in 0..6u64 {
            a.write(&format!("d/f{f}.bin"), &noise(60_000, 50 * v + f));
        }
        a.write("w.bin", &noise(30_000, 900 + v));
        let id = remote
            .run(
                &a,
                &["commit", "d", "w.bin", "--model", "m", "-q", "-m", "v"],
            )
            .ok()
            .stdout
            .trim()
            .to_string();
        want.insert(id.clone(), b3(&noise(30_000, 900 + v)));
        ids.push(id);
    }
    remote.run(&a, &["push"]).ok();
    let packs = |r: &Remote| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(std::path::Path::new(&r.url).join("packs"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    let before = packs(&remote);
    assert_eq!(before.len(), 2, "one pack and its index: {before:?}");
    // A stray file under objects/: reported, never deleted.
    let stray = std::path::Path::new(&remote.url).join("objects/stray.txt");
    std::fs::write(&stray, b"not mreg's").unwrap();
    // Fresh garbage (an interrupted push's object) is kept by the default grace period.
    let young = std::path::Path::new(&remote.url).join(format!("objects/ab/{}", "c".repeat(62)));
    std::fs::create_dir_all(young.parent().unwrap()).unwrap();
    std::fs::write(&young, b"an interrupted push").unwrap();
    remote
        .run(
            &a,
            &["prune", &ids[0], "--remote", "origin", "--yes", "-m", "x"],
        )
        .ok();
    let plan = remote
        .run(&a, &["gc", "--remote", "origin", "--json", "--grace", "1h"])
        .ok()
        .json();
    assert_eq!(plan["dry_run"], true);
    assert!(
        plan["kept_by_grace"].to_string().contains(&"c".repeat(62)),
        "{plan}"
    );
    assert!(
        plan["unknown"].to_string().contains("objects/stray.txt"),
        "{plan}"
    );
    let text = remote
        .run(&a, &["gc", "--remote", "origin", "--yes", "--grace", "0s"])
        .ok()
        .stdout;
    assert!(text.contains("rewrote pack"), "{text}");
    assert!(
        text.contains("not mreg's, left alone: objects/stray.txt"),
        "{text}"
    );
    let after = packs(&remote);
    assert_eq!(after.len(), 2, "{after:?}");
    assert_ne!(before, after, "the old pack was replaced");
    assert!(stray.exists(), "a stray name is never deleted");
    assert!(!young.exists(), "garbage past the grace period goes");
    std::fs::remove_file(&stray).unwrap();
    want.remove(&ids[0]);
    fresh_clone_agrees(&remote, &want, &ids[..1]);
}

/// A store that has not pulled a remote prune cannot point a ref at the pruned version
/// there: push refuses the move and says why, pull replaces it (reported), and the next
/// push goes through.
#[test]
fn a_move_onto_a_version_pruned_on_the_remote_is_refused_then_replaced() {
    let remote = Remote::dir();
    let a = TestRepo::new();
    remote.add(&a);
    let v1 = commit(&remote, &a, &noise(50_000, 1), "v1");
    commit(&remote, &a, &noise(50_000, 2), "v2");
    remote.run(&a, &["push"]).ok();
    let b = remote.clone();
    remote
        .run(
            &b,
            &["prune", &v1, "--remote", "origin", "--yes", "-m", "leaked"],
        )
        .ok();
    // A still has v1's data and has not pulled: it points production at v1.
    remote
        .run(
            &a,
            &["alias", "set", "m", "production", &v1, "-m", "ship v1"],
        )
        .ok();
    let refused = remote.run(&a, &["push"]).fails();
    assert!(
        refused.stderr.contains("pruned on the remote"),
        "{}",
        refused.describe()
    );
    let pulled = remote.run(&a, &["pull"]).ok();
    assert!(
        pulled.stderr.contains("which was pruned on the remote"),
        "{}",
        pulled.describe()
    );
    let out = a.mreg(&["show", "m@production"]).fails();
    assert!(
        out.stderr.contains("unknown revision"),
        "{}",
        out.describe()
    );
    remote.run(&a, &["push"]).ok();
    let f = remote.run(&a, &["fsck", "--remote", "origin"]).ok();
    assert!(f.stdout.contains("remote is clean"), "{}", f.describe());
}

/// `prune --remote` is refused for a version a ref points at on the remote, even one this
/// store has not seen move there yet; nothing is pruned anywhere.
#[test]
fn prune_on_a_remote_is_refused_for_a_version_a_remote_ref_points_at() {
    let remote = Remote::dir();
    let a = TestRepo::new();
    remote.add(&a);
    let v1 = commit(&remote, &a, &noise(50_000, 11), "v1");
    commit(&remote, &a, &noise(50_000, 12), "v2");
    remote.run(&a, &["push"]).ok();
    let b = remote.clone();
    remote
        .run(&b, &["alias", "set", "m", "staging", &v1, "-m", "try it"])
        .ok();
    remote.run(&b, &["push"]).ok();
    let out = remote
        .run(
            &a,
            &["prune", &v1, "--remote", "origin", "--yes", "-m", "x"],
        )
        .fails();
    assert!(
        out.stderr.contains("alias staging on origin"),
        "{}",
        out.describe()
    );
    let show = a.mreg(&["show", &v1, "--json"]).ok().json();
    assert_eq!(show["files_pruned"], false, "nothing pruned here");
    fresh_clone_agrees(
        &remote,
        &BTreeMap::from([(v1.clone(), b3(&noise(50_000, 11)))]),
        &[],
    );
}
