//! Issue 24, every version lands: versions of one model committed concurrently on several
//! stores are all published, in one order that every store and a fresh clone agree on,
//! each with the same version number everywhere (`fraud#12`). A commit's parent records
//! lineage, not a lock: the second machine to push no longer loses its version. Aliases
//! keep their compare-and-swap: a commit whose policy moves (`candidate`, `best`) were
//! decided on a stale view publishes its version alone, and the policy is re-applied after
//! a pull, so `best` ends on the true best version on every store.
//!
//! Each scenario runs on a shared-directory remote and on SeaweedFS on loopback.

use crate::common;
use crate::servers;

use std::collections::BTreeSet;

use crate::common::{noise, TestRepo};
use crate::servers::remote::Remote;

/// (number or "pending", full id) of every version of `model`, newest first, as `list`
/// prints them.
fn numbered(remote: &Remote, r: &TestRepo, model: &str) -> Vec<(String, String)> {
    remote
        .run(r, &["list", "--model", model, "--archived", "--json"])
        .ok()
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["version"]
                    .as_u64()
                    .map_or("pending".to_string(), |n| n.to_string()),
                v["id"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Commit one version of `model` with metric acc = `acc`.
fn commit(remote: &Remote, r: &TestRepo, model: &str, seed: u64, acc: f64) -> String {
    r.write("m.bin", &noise(2000, seed));
    remote
        .run(
            r,
            &[
                "commit",
                "m.bin",
                "--model",
                model,
                "-q",
                "-m",
                &format!("v{seed}"),
                "--metric",
                &format!("acc={acc}"),
            ],
        )
        .ok()
        .stdout
        .trim()
        .to_string()
}

/// Push; when a move is refused (the version itself always lands), pull and push again.
/// Returns how many pushes were refused.
fn push_until_published(remote: &Remote, r: &TestRepo) -> usize {
    for refused in 0..50 {
        let p = remote.run(r, &["push"]);
        if p.code == 0 {
            return refused;
        }
        assert!(
            p.stderr
                .contains("moved on the remote since your last fetch"),
            "push failed for another reason:\n{}",
            p.describe()
        );
        remote.run(r, &["pull"]).ok();
    }
    panic!("push never got through");
}

/// A model `m` with one version, pushed; `n` clones of it.
fn team(remote: &Remote, n: usize, policy: bool) -> (TestRepo, Vec<TestRepo>) {
    let a = TestRepo::new();
    if policy {
        a.mreg(&["policy", "m", "--metric", "acc", "--max"]).ok();
    }
    commit(remote, &a, "m", 0, 0.1);
    remote.add(&a);
    remote.run(&a, &["push"]).ok();
    let clones = (0..n).map(|_| remote.clone()).collect();
    (a, clones)
}

/// Every store and a fresh clone list the same versions with the same numbers, 1..=total,
/// and agree on every ref; `m#N` names the same version everywhere.
#[track_caller]
fn everyone_agrees(remote: &Remote, stores: &[&TestRepo], total: usize) {
    let fresh = remote.clone();
    let want = numbered(remote, &fresh, "m");
    assert_eq!(want.len(), total, "{want:?}");
    let numbers: Vec<String> = want.iter().map(|(n, _)| n.clone()).collect();
    let expect: Vec<String> = (1..=total).rev().map(|n| n.to_string()).collect();
    assert_eq!(numbers, expect, "numbers are 1..{total}, newest first");
    let ids: BTreeSet<&String> = want.iter().map(|(_, id)| id).collect();
    assert_eq!(ids.len(), total, "no version listed twice");
    let refs = |r: &TestRepo| {
        let m = remote.run(r, &["models", "--json"]).ok().json();
        (m[0]["head"].clone(), m[0]["aliases"].clone())
    };
    for (i, s) in stores.iter().enumerate() {
        assert_eq!(
            numbered(remote, s, "m"),
            want,
            "store {i} lists other versions"
        );
        assert_eq!(refs(s), refs(&fresh), "store {i} has other refs");
        let third = remote.run(s, &["show", "m#3", "--json"]).ok().json();
        assert_eq!(third["id"], *want[total - 3].1, "m#3 on store {i}");
        assert_eq!(third["version"], 3);
    }
    // The head, "the latest version", is the last one published.
    assert_eq!(refs(&fresh).0, *want[0].1);
    let f = remote.run(&fresh, &["fsck", "--remote", "origin"]).ok();
    assert!(f.stdout.contains("remote is clean"), "{}", f.describe());
}

fn four_stores_commit_and_push_three_versions_each_concurrently(remote: Remote) {
    let (a, mut others) = team(&remote, 3, false);
    others.insert(0, a);
    std::thread::scope(|sc| {
        for (w, r) in others.iter().enumerate() {
            let remote = &remote;
            sc.spawn(move || {
                for k in 0..3u64 {
                    commit(remote, r, "m", 100 * (w as u64 + 1) + k, 0.5);
                    // Never refused: a sibling version is not a stale move.
                    let p = remote.run(r, &["push"]).ok();
                    assert!(p.stderr.contains("published m#"), "{}", p.describe());
                }
            });
        }
    });
    for r in &others {
        remote.run(r, &["pull"]).ok();
    }
    let stores: Vec<&TestRepo> = others.iter().collect();
    everyone_agrees(&remote, &stores, 13);
    for r in &stores {
        r.fsck_clean();
    }
}

#[test]
fn four_stores_commit_and_push_three_versions_each_concurrently_on_a_directory() {
    four_stores_commit_and_push_three_versions_each_concurrently(Remote::dir());
}

#[test]
fn four_stores_commit_and_push_three_versions_each_concurrently_on_seaweedfs() {
    if !servers::available(
        "four_stores_commit_and_push_three_versions_each_concurrently_on_seaweedfs",
    ) {
        return;
    }
    four_stores_commit_and_push_three_versions_each_concurrently(Remote::seaweed());
}

/// A sweep: 8 workers, each its own store, commit 5 versions each to one model with a
/// policy (every commit moves `best` or `candidate`, so pushes race on aliases), pushing
/// after each commit and pulling when told. All 40 land; `best` ends on the best.
fn a_sweep_of_eight_workers_lands_every_version(remote: Remote) {
    let (a, workers) = team(&remote, 8, true);
    let accs: Vec<Vec<f64>> = (0..8)
        .map(|w| {
            (0..5)
                .map(|k| 0.2 + ((w * 5 + k) * 37 % 40) as f64 / 100.0)
                .collect()
        })
        .collect();
    std::thread::scope(|sc| {
        for (w, r) in workers.iter().enumerate() {
            let (remote, accs) = (&remote, &accs);
            sc.spawn(move || {
                for (k, acc) in accs[w].iter().enumerate() {
                    commit(remote, r, "m", 1000 + (w * 10 + k) as u64, *acc);
                    push_until_published(remote, r);
                }
            });
        }
    });
    // Everyone settles: pull, publish the policy's re-ranking, until nothing is refused.
    let mut stores: Vec<&TestRepo> = workers.iter().collect();
    stores.push(&a);
    for _ in 0..2 {
        for r in &stores {
            remote.run(r, &["pull"]).ok();
            push_until_published(&remote, r);
        }
    }
    for r in &stores {
        remote.run(r, &["pull"]).ok();
    }
    everyone_agrees(&remote, &stores, 41);
    // `best` is the true best on every store: the highest acc of all 41.
    let top = accs.iter().flatten().cloned().fold(0.1, f64::max);
    for r in &stores {
        let b = remote.run(r, &["show", "m@best", "--json"]).ok().json();
        assert_eq!(b["metrics"]["acc"].as_f64(), Some(top), "{b}");
    }
}

#[test]
fn a_sweep_of_eight_workers_lands_every_version_on_a_directory() {
    a_sweep_of_eight_workers_lands_every_version(Remote::dir());
}

#[test]
fn a_sweep_of_eight_workers_lands_every_version_on_seaweedfs() {
    if !servers::available("a_sweep_of_eight_workers_lands_every_version_on_seaweedfs") {
        return;
    }
    a_sweep_of_eight_workers_lands_every_version(Remote::seaweed());
}

/// Two colleagues each commit a better version from the same production without pulling.
/// The second push publishes its version and says its `best` move was refused; a pull
/// re-applies the policy and everyone ends with `best` on the better of the two.
#[test]
fn a_sibling_whose_policy_moves_are_stale_publishes_its_version_and_the_policy_settles() {
    let remote = Remote::dir();
    let (a, clones) = team(&remote, 2, true);
    let (b, c) = (&clones[0], &clones[1]);
    let vb = commit(&remote, b, "m", 1, 0.8);
    let vc = commit(&remote, c, "m", 2, 0.9);
    remote.run(b, &["push"]).ok();
    let p = remote.run(c, &["push", "--json"]).fails();
    let rep = p.json();
    assert_eq!(
        rep["models"][0]["versions"],
        serde_json::json!([3]),
        "{rep}"
    );
    assert_eq!(rep["models"][0]["refused"]["version_published"], 3, "{rep}");
    // The version is published: a second push has nothing left to publish.
    let p = remote.run(c, &["push"]).ok();
    assert!(
        p.stderr.contains("everything up to date"),
        "{}",
        p.describe()
    );
    let pulled = remote.run(c, &["pull", "--json"]).ok().json();
    assert!(
        pulled["policy"]["m"]
            .as_array()
            .is_some_and(|m| m.iter().any(|x| x["alias"] == "best" && x["to"] == vc)),
        "{pulled}"
    );
    remote.run(c, &["push"]).ok();
    for r in [&a, b] {
        remote.run(r, &["pull"]).ok();
    }
    for r in [&a, b, c] {
        let best = remote.run(r, &["show", "m@best", "--json"]).ok().json();
        assert_eq!(best["id"], vc);
    }
    // C's history says its commit's own alias moves were not published.
    let h = remote.run(c, &["history", "m"]).ok().stdout;
    assert!(h.contains("only its version was published"), "{h}");
    everyone_agrees(&remote, &[&a, b, c], 3);
    assert_ne!(vb, vc);
}

/// Numbers: a store without a remote numbers its own versions; pushed to an empty remote
/// they keep their numbers; a version not pushed yet is pending, and `#N` refuses a number
/// this store does not know, saying where numbers come from.
#[test]
fn version_numbers_are_pending_until_published_and_name_versions_everywhere() {
    let remote = Remote::dir();
    let a = TestRepo::new();
    let v1 = commit(&remote, &a, "m", 1, 0.1);
    let v2 = commit(&remote, &a, "m", 2, 0.2);
    assert_eq!(
        numbered(&remote, &a, "m"),
        vec![("2".into(), v2.clone()), ("1".into(), v1.clone())]
    );
    remote.add(&a);
    // With a remote, what is not on it is pending.
    assert_eq!(numbered(&remote, &a, "m")[0].0, "pending");
    remote.run(&a, &["push"]).ok();
    assert_eq!(
        numbered(&remote, &a, "m"),
        vec![("2".into(), v2.clone()), ("1".into(), v1.clone())]
    );
    let v3 = commit(&remote, &a, "m", 3, 0.3);
    let show = remote.run(&a, &["show", &v3]).ok().stdout;
    assert!(show.contains("Version: pending"), "{show}");
    let e = remote.run(&a, &["show", "m#3"]).fails();
    assert!(
        e.stderr.contains("no version #3") && e.stderr.contains("mreg pull origin"),
        "{}",
        e.stderr
    );
    remote.run(&a, &["push"]).ok();
    assert_eq!(
        remote.run(&a, &["show", "m#3", "--json"]).ok().json()["id"],
        v3
    );
    assert_eq!(
        remote.run(&a, &["show", "m#2~1", "--json"]).ok().json()["id"],
        v1
    );
    // The query language knows the number.
    let l = remote
        .run(
            &a,
            &[
                "list",
                "--where",
                "version >= 2",
                "--columns",
                "version",
                "--sort",
                "version",
            ],
        )
        .ok()
        .stdout;
    assert_eq!(
        l.split_whitespace().collect::<Vec<_>>(),
        ["VERSION", "#2", "#3"],
        "{l}"
    );
    let log = remote.run(&a, &["log", "m", "--oneline"]).ok().stdout;
    assert!(log.lines().next().unwrap().contains("#3"), "{log}");
    let log = remote.run(&a, &["log", "m", "--json"]).ok().json();
    assert_eq!(log[2]["version"], 1);
}

/// Regression: a line a pull dropped was marked "never published" in `history` only until
/// the next push, which forgot the mark (the tracking file pruned its `dropped` list).
#[test]
fn a_dropped_move_stays_marked_never_published_after_later_pushes() {
    let remote = Remote::dir();
    let (a, clones) = team(&remote, 1, false);
    let b = &clones[0];
    let v1 = remote.run(&a, &["show", "m", "--json"]).ok().json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    remote
        .run(&a, &["alias", "set", "m", "staging", &v1, "-m", "A stages"])
        .ok();
    remote.run(&a, &["push"]).ok();
    remote
        .run(
            b,
            &["alias", "set", "m", "staging", &v1, "-m", "B stages too"],
        )
        .ok();
    remote.run(b, &["push"]).fails();
    remote.run(b, &["pull"]).ok();
    commit(&remote, b, "m", 7, 0.2);
    remote.run(b, &["push"]).ok();
    assert_eq!(
        common::never_published(b, "m", "origin"),
        vec!["B stages too"]
    );
}

/// Bytes from a remote are untrusted: a commit line whose version number is not its place
/// among the model's commit lines (a forged or buggy writer) is refused by every reader,
/// with the line and the rule named, and nothing from it is used.
#[test]
fn a_remote_line_with_a_wrong_version_number_is_refused() {
    let remote = Remote::dir();
    let (a, _) = team(&remote, 0, false);
    commit(&remote, &a, "m", 2, 0.2);
    remote.run(&a, &["push"]).ok();
    let last = std::path::Path::new(&remote.url).join("models/m/log/000000000002");
    let text = std::fs::read_to_string(&last).unwrap();
    assert!(text.contains("\"version\":2"), "{text}");
    std::fs::write(&last, text.replace("\"version\":2", "\"version\":7")).unwrap();
    let fresh = TestRepo::bare();
    let e = remote.run(&fresh, &["clone", &remote.url, "."]).fails();
    assert!(
        e.stderr.contains("line 2 of m") && e.stderr.contains("version 7"),
        "{}",
        e.stderr
    );
    assert!(
        !fresh.path().join(".modelreg").exists(),
        "a failed clone leaves nothing"
    );
}
