//! Aliases, tags, promote/rollback, history and gc, through the real binary.

use crate::common;
use crate::common::{assert_unchanged, b3, noise, versions, TestRepo};

use std::process::Stdio;
use std::time::Duration;

fn resolve(r: &TestRepo, rev: &str) -> String {
    r.mreg(&["show", rev, "--json"]).ok().json()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn aliases_resolve_move_and_keep_their_history() {
    let r = TestRepo::new();
    let v = versions(&r, 3);
    r.mreg(&["alias", "set", "m", "candidate", &v[0], "-m", "first try"])
        .ok();
    r.mreg(&["alias", "set", "m", "candidate", &v[1]]).ok();
    r.mreg(&["alias", "set", "m", "candidate", &v[2]]).ok();
    assert_eq!(resolve(&r, "m@candidate"), v[2]);
    assert_eq!(resolve(&r, "m@candidate@{1}"), v[1]);
    assert_eq!(resolve(&r, "m@candidate@{2}"), v[0]);
    assert_eq!(resolve(&r, "m@candidate~1"), v[1]);
    r.mreg(&["show", "m@candidate@{3}"]).fails();
    let list = r.mreg(&["alias", "list", "m", "--json"]).ok().json();
    assert_eq!(list[0]["alias"], "candidate");
    assert_eq!(list[0]["id"], v[2].as_str());
    let hist = r
        .mreg(&["history", "m", "--alias", "candidate", "--json"])
        .ok()
        .json();
    assert_eq!(hist.as_array().unwrap().len(), 3);
    assert_eq!(hist[0]["message"], "first try");
    assert_eq!(hist[0]["author"], "Test <test@example.com>");
    r.mreg(&["alias", "rm", "m", "candidate"]).ok();
    r.mreg(&["show", "m@candidate"]).fails();
    // commit --alias sets the alias in the same history entry as the head move.
    r.write("w.bin", b"new");
    let id = r.commit(&[
        "w.bin",
        "--model",
        "m",
        "--alias",
        "candidate",
        "--alias",
        "staging",
    ]);
    assert_eq!(resolve(&r, "m@staging"), id);
    let last = r.mreg(&["history", "m", "--json"]).ok().json();
    let last = last.as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["action"], "commit");
    assert_eq!(last["changes"].as_array().unwrap().len(), 3);
    r.fsck_clean();
}

#[test]
fn tags_are_immutable_and_resolve_by_name() {
    let r = TestRepo::new();
    let v = versions(&r, 2);
    r.mreg(&["tag", "v1.0", &v[0], "-m", "release"]).ok();
    assert_eq!(resolve(&r, "v1.0"), v[0]);
    let e = r.mreg(&["tag", "v1.0", &v[1]]).fails();
    assert!(e.stderr.contains("already exists"), "{}", e.describe());
    assert_eq!(resolve(&r, "v1.0"), v[0]);
    let list = r.mreg(&["tag", "--list", "--json"]).ok().json();
    assert_eq!(list[0]["tag"], "v1.0");
    r.mreg(&["tag", "-d", "v1.0"]).ok();
    r.mreg(&["show", "v1.0"]).fails();
    r.mreg(&["tag", "v1.0", &v[1]]).ok();
    assert_eq!(resolve(&r, "v1.0"), v[1]);
    // A tag may not shadow a model name.
    r.mreg(&["tag", "m", &v[0]]).fails();
}

#[test]
fn promote_and_rollback_walkthrough() {
    let r = TestRepo::new();
    let v = versions(&r, 3);
    r.mreg(&["alias", "set", "m", "candidate", &v[0]]).ok();
    r.mreg(&["promote", "m", "-m", "first release"]).ok();
    assert_eq!(resolve(&r, "m@production"), v[0]);
    r.mreg(&["alias", "set", "m", "candidate", &v[1]]).ok();
    r.mreg(&["promote", "m", "-m", "better"]).ok();
    assert_eq!(resolve(&r, "m@production"), v[1]);
    assert_eq!(resolve(&r, "m@rollback"), v[0]);
    r.mreg(&["rollback", "m", "-m", "regression in prod"]).ok();
    assert_eq!(resolve(&r, "m@production"), v[0]);
    assert_eq!(resolve(&r, "m@rollback"), v[1]);
    // Promote an explicit revision.
    r.mreg(&["promote", "m", &v[2]]).ok();
    assert_eq!(resolve(&r, "m@production"), v[2]);
    // Archived versions cannot be promoted until unarchived (and a version an alias points
    // at cannot be archived: candidate still names v1).
    r.mreg(&["archive", &v[1]]).fails();
    r.mreg(&["alias", "rm", "m", "candidate"]).ok();
    r.mreg(&["archive", &v[1]]).ok();
    let e = r.mreg(&["promote", "m", &v[1]]).fails();
    assert!(e.stderr.contains("archived"), "{}", e.describe());
    r.mreg(&["unarchive", &v[1]]).ok();
    r.mreg(&["promote", "m", &v[1]]).ok();
    // "What was production at the end of Jan 3?" The history answers with time travel.
    let hist = r
        .mreg(&["history", "m", "--alias", "production", "--json"])
        .ok()
        .json();
    assert_eq!(hist.as_array().unwrap().len(), 5);
    assert_eq!(hist[2]["action"], "rollback");
    assert_eq!(hist[2]["message"], "regression in prod");
    r.fsck_clean();
}

#[test]
fn history_at_a_time() {
    let r = TestRepo::new();
    let v = versions(&r, 2);
    r.mreg_env(
        &["alias", "set", "m", "production", &v[0]],
        &[("MREG_NOW", "2026-03-01T10:00:00Z")],
    )
    .ok();
    r.mreg_env(
        &["alias", "set", "m", "production", &v[1]],
        &[("MREG_NOW", "2026-03-05T10:00:00Z")],
    )
    .ok();
    let at = r
        .mreg(&[
            "history",
            "m",
            "--alias",
            "production",
            "--at",
            "2026-03-03",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(at["refs"]["production"], v[0].as_str());
    let at = r
        .mreg(&[
            "history",
            "m",
            "--alias",
            "production",
            "--at",
            "2026-03-06T00:00:00Z",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(at["refs"]["production"], v[1].as_str());
    let at = r
        .mreg(&[
            "history",
            "m",
            "--alias",
            "production",
            "--at",
            "2026-02-01",
            "--json",
        ])
        .ok()
        .json();
    assert!(at["refs"]["production"].is_null());
    r.mreg(&["history", "m", "--at", "last tuesday"]).fails();
}

#[test]
fn policy_marks_candidate_and_best() {
    let r = TestRepo::new();
    r.mreg(&["policy", "m", "--metric", "acc", "--max"]).ok();
    let commit = |seed: u64, acc: &str| {
        r.write("w.bin", &noise(1000, seed));
        r.commit(&["w.bin", "--model", "m", "--metric", &format!("acc={acc}")])
    };
    let a = commit(1, "0.80");
    assert_eq!(
        resolve(&r, "m@candidate"),
        a,
        "no production yet: the first is a candidate"
    );
    r.mreg(&["promote", "m"]).ok();
    let b = commit(2, "0.70");
    assert_eq!(
        resolve(&r, "m@candidate"),
        a,
        "worse than production: not a candidate"
    );
    assert_eq!(resolve(&r, "m@best"), a);
    let c = commit(3, "0.90");
    assert_eq!(resolve(&r, "m@candidate"), c);
    assert_eq!(resolve(&r, "m@best"), c);
    let _ = b;
}

/// Several processes race `alias set --expect` from the same old value: exactly one wins
/// each round, the others get a clear error, and the history has no gaps.
#[test]
fn concurrent_compare_and_swap_has_one_winner_per_round() {
    let r = TestRepo::new();
    let v = versions(&r, 6);
    r.mreg(&["alias", "set", "m", "production", &v[0]]).ok();
    let rounds = 5;
    for round in 0..rounds {
        let current = resolve(&r, "m@production");
        // Every racer targets a commit other than the current value (setting an alias to
        // where it already points is an idempotent no-op, not a move).
        let children: Vec<_> = (0..6)
            .filter(|&i| v[i] != current)
            .map(|i| {
                r.command(&[
                    "alias",
                    "set",
                    "m",
                    "production",
                    &v[i],
                    "--expect",
                    &current,
                    "-m",
                    &format!("r{round} p{i}"),
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
            })
            .collect();
        let mut winners = 0;
        for c in children {
            let out = c.wait_with_output().unwrap();
            if out.status.success() {
                winners += 1;
            } else {
                let err = String::from_utf8_lossy(&out.stderr);
                // The winner may have moved it to the loser's own target: then nothing moved.
                assert!(err.contains("has moved"), "{err}");
            }
        }
        let now = resolve(&r, "m@production");
        assert_ne!(now, current);
        assert!(winners >= 1, "round {round}: no winner");
        assert_eq!(winners, 1, "round {round}: {winners} winners");
    }
    let hist = r.mreg(&["history", "m", "--json"]).ok().json();
    let seqs: Vec<u64> = hist
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>(), "no gaps");
    assert_eq!(seqs.len(), 6 + 1 + rounds);
    r.fsck_clean();
}

/// SIGKILL at random instants during promote and rollback: afterwards fsck is clean and the
/// aliases are all as before or all as after.
#[test]
fn kill_during_promote_and_rollback_is_all_or_nothing() {
    let r = TestRepo::new();
    let v = versions(&r, 2);
    r.mreg(&["alias", "set", "m", "production", &v[0]]).ok();
    r.mreg(&["alias", "set", "m", "rollback", &v[1]]).ok();
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    let mut changed = 0;
    for round in 0..30 {
        let before = (resolve(&r, "m@production"), resolve(&r, "m@rollback"));
        let args: Vec<String> = if round % 2 == 0 {
            vec!["rollback".into(), "m".into()]
        } else {
            let target = if before.0 == v[0] { &v[1] } else { &v[0] };
            vec!["promote".into(), "m".into(), target.clone()]
        };
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut child = r
            .command(&argv)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        std::thread::sleep(Duration::from_micros(rng % 8000));
        let _ = child.kill();
        let _ = child.wait();
        r.fsck_clean();
        let after = (resolve(&r, "m@production"), resolve(&r, "m@rollback"));
        let swapped = (before.1.clone(), before.0.clone());
        assert!(
            after == before || after == swapped,
            "round {round}: half-done move {after:?} from {before:?}"
        );
        if after != before {
            changed += 1;
        }
    }
    assert!(
        changed > 0,
        "no move ever completed: the test did not exercise anything"
    );
}

/// gc loops while other processes commit (reusing chunks that interrupted commits left
/// behind, which gc would delete as garbage): afterwards fsck is clean and every committed
/// version checks out byte-identical.
#[test]
fn gc_racing_commits_never_loses_data() {
    let r = TestRepo::new();
    let files: Vec<Vec<u8>> = (0..3).map(|i| noise(6 << 20, 50 + i)).collect();
    for (i, f) in files.iter().enumerate() {
        r.write(&format!("f{i}.bin"), f);
    }
    // Leave dangling chunks of the very files about to be committed.
    for i in 0..3 {
        let mut c = r
            .command(&[
                "commit",
                &format!("f{i}.bin"),
                "--model",
                &format!("m{i}"),
                "-q",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(20));
        let _ = c.kill();
        let _ = c.wait();
    }
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let gc_loop = {
        let stop = stop.clone();
        let dir = r.path().to_path_buf();
        std::thread::spawn(move || {
            let mut runs = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let out = std::process::Command::new(common::bin())
                    .args(["gc", "-q"])
                    .current_dir(&dir)
                    .output()
                    .unwrap();
                assert!(
                    out.status.success(),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
                runs += 1;
            }
            runs
        })
    };
    let mut committed = Vec::new();
    for round in 0..3 {
        let children: Vec<_> = (0..3)
            .map(|i| {
                r.command(&[
                    "commit",
                    &format!("f{i}.bin"),
                    "--model",
                    &format!("m{i}"),
                    "-q",
                    "-m",
                    &format!("r{round}"),
                ])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
            })
            .collect();
        for (i, c) in children.into_iter().enumerate() {
            let out = c.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            committed.push((String::from_utf8_lossy(&out.stdout).trim().to_string(), i));
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let runs = gc_loop.join().unwrap();
    assert!(runs >= 2, "gc ran {runs} times");
    r.fsck_clean();
    for (id, i) in committed {
        let dir = r.path().join("verify");
        r.mreg(&["checkout", &id, "--to", dir.to_str().unwrap()])
            .ok();
        assert_eq!(
            b3(&std::fs::read(dir.join(format!("f{i}.bin"))).unwrap()),
            b3(&files[i])
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

fn objects_bytes(r: &TestRepo) -> u64 {
    fn walk(p: &std::path::Path) -> u64 {
        std::fs::read_dir(p)
            .unwrap()
            .map(|e| {
                let p = e.unwrap().path();
                if p.is_dir() {
                    walk(&p)
                } else {
                    std::fs::metadata(&p).unwrap().len()
                }
            })
            .sum()
    }
    walk(&r.store().join("objects"))
}

#[test]
fn gc_removes_exactly_the_garbage_and_dry_run_changes_nothing() {
    let r = TestRepo::new();
    let v = versions(&r, 3);
    // Garbage, deterministically: valid objects no commit of this store refers to (as a
    // commit interrupted before its commit object leaves them), copied from another store.
    let other = TestRepo::new();
    other.write("junk.bin", &noise(3 << 20, 77));
    let junk_commit = other.commit(&["junk.bin", "--model", "junk"]);
    let mut planted = 0u64;
    let mut planted_ids = Vec::new();
    for fan in std::fs::read_dir(other.store().join("objects")).unwrap() {
        let fan = fan.unwrap().path();
        for obj in std::fs::read_dir(&fan).unwrap() {
            let obj = obj.unwrap().path();
            let dest = r.store().join("objects").join(fan.file_name().unwrap());
            std::fs::create_dir_all(&dest).unwrap();
            let target = dest.join(obj.file_name().unwrap());
            let id = format!(
                "{}{}",
                fan.file_name().unwrap().to_string_lossy(),
                obj.file_name().unwrap().to_string_lossy()
            );
            // Not the commit object: a commit no history names is kept as a possibly lost
            // version (lost_history.rs); an interrupted commit's data is garbage.
            if !target.exists() && id != junk_commit {
                std::fs::copy(&obj, &target).unwrap();
                planted += std::fs::metadata(&target).unwrap().len();
                planted_ids.push(id);
            }
        }
    }
    assert!(planted > 3 << 20);
    let before_bytes = objects_bytes(&r);
    let snap = r.snapshot();
    let plan = r.mreg(&["gc", "--dry-run", "--json"]).ok().json();
    assert_eq!(r.snapshot(), snap, "--dry-run changed the store");
    assert_eq!(
        plan["bytes_freed"].as_u64().unwrap(),
        planted,
        "plans exactly the garbage: {plan}"
    );
    let deleted: Vec<&str> = plan["delete"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert_eq!(deleted.len(), planted_ids.len());
    for id in &planted_ids {
        assert!(deleted.contains(&id.as_str()), "{id} not planned");
    }
    let done = r.mreg(&["gc", "--json"]).ok().json();
    assert_eq!(done["bytes_freed"].as_u64().unwrap(), planted);
    assert_eq!(
        objects_bytes(&r),
        before_bytes - planted,
        "freed exactly what was planned"
    );
    // Everything reachable is still there and intact.
    r.fsck_clean();
    for id in &v {
        let dir = r.path().join("co");
        r.mreg(&["checkout", id, "--to", dir.to_str().unwrap()])
            .ok();
        std::fs::remove_dir_all(&dir).unwrap();
    }
    // A second gc finds nothing.
    let again = r.mreg(&["gc", "--json"]).ok().json();
    assert_eq!(again["bytes_freed"], 0);
}

#[test]
fn retention_prunes_data_but_keeps_metadata_and_refs() {
    let r = TestRepo::new();
    let v = versions(&r, 6);
    r.mreg(&["tag", "paper", &v[0]]).ok();
    r.mreg(&["alias", "set", "m", "production", &v[1]]).ok();
    let out = r.mreg(&["gc", "--keep-last", "2", "--json"]).ok().json();
    let pruned: Vec<&str> = out["prune_versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    // Kept: v5, v4 (last 2), v0 (tag), v1 (production). Pruned: v2, v3.
    assert_eq!(pruned.len(), 2, "{out}");
    assert!(pruned.contains(&v[2].as_str()) && pruned.contains(&v[3].as_str()));
    assert!(out["bytes_freed"].as_u64().unwrap() > 2 * 190_000);
    let log = r.mreg(&["log", "m", "--json"]).ok().json();
    assert_eq!(
        log.as_array().unwrap().len(),
        6,
        "log still lists every version"
    );
    let show = r.mreg(&["show", &v[2], "--json"]).ok().json();
    assert_eq!(show["files_pruned"], true);
    assert!(r.mreg(&["show", &v[2]]).ok().stdout.contains("pruned"));
    let e = r.mreg(&["checkout", &v[2], "--to", "x"]).fails();
    assert!(e.stderr.contains("pruned"), "{}", e.describe());
    for keep in [&v[0], &v[1], &v[4], &v[5]] {
        r.mreg(&["checkout", keep, "--to", "y", "--force"]).ok();
    }
    r.fsck_clean();
    // keep-top by a metric (acc grows with the version): v5 is best.
    let out = r
        .mreg(&[
            "gc",
            "--keep-top",
            "1",
            "--by",
            "acc",
            "--dry-run",
            "--json",
        ])
        .ok()
        .json();
    let would: Vec<&str> = out["prune_versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert!(
        would.contains(&v[4].as_str()) && !would.contains(&v[5].as_str()),
        "{out}"
    );
    let du = r.mreg(&["du", "--json"]).ok().json();
    assert_eq!(du["models"][0]["versions"].as_array().unwrap().len(), 6);
}

#[test]
fn registry_bad_input_is_refused_and_changes_nothing() {
    let r = TestRepo::new();
    let v = versions(&r, 2);
    r.mreg(&["tag", "t1", &v[0]]).ok();
    r.mreg(&["alias", "set", "m", "staging", &v[0]]).ok();
    let long = "a".repeat(200);
    let snap = r.snapshot();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["alias", "set", "nosuch", "production", &v[0]],
            "unknown model",
        ),
        (vec!["alias", "rm", "m", "nosuch"], "no alias"),
        (vec!["show", "m@nosuch"], "unknown revision"),
        (vec!["alias", "set", "m", "..", &v[0]], "invalid alias"),
        (vec!["alias", "set", "m", "a/b", &v[0]], "invalid alias"),
        (vec!["alias", "set", "m", "", &v[0]], "invalid alias"),
        (vec!["alias", "set", "m", &long, &v[0]], "longer than 100"),
        (vec!["tag", "..", &v[0]], "invalid tag"),
        (vec!["tag", "x/y", &v[0]], "invalid tag"),
        (vec!["tag", &long, &v[0]], "invalid tag"),
        (vec!["tag", "t1", &v[1]], "already exists"),
        (vec!["tag", "-d", "nosuch"], "unknown tag"),
        (vec!["promote", "m"], "no candidate"),
        (vec!["rollback", "m"], "no rollback"),
        (
            vec!["alias", "set", "m", "staging", &v[1], "--expect", &v[1]],
            "has moved",
        ),
        (
            vec!["alias", "set", "m", "staging", &v[1], "--expect", "none"],
            "has moved",
        ),
        (vec!["gc", "--expire", "soon"], "not a duration"),
        (vec!["gc", "--keep-last", "0"], "keep"),
        (vec!["history", "nosuch"], "unknown model"),
    ];
    for (args, needle) in &cases {
        let e = r.mreg(args).fails();
        assert!(
            e.stderr.contains(needle),
            "{needle:?} not in:\n{}",
            e.describe()
        );
        assert_eq!(r.snapshot(), snap, "store changed by:\n{}", e.describe());
    }
    // A commit of another model cannot take this model's alias.
    r.write("o.bin", b"other");
    let other = r.commit(&["o.bin", "--model", "other"]);
    let e = r.mreg(&["alias", "set", "m", "production", &other]).fails();
    assert!(
        e.stderr.contains("belongs to model other"),
        "{}",
        e.describe()
    );
}

#[test]
fn gc_removes_stale_temp_files_but_not_fresh_ones() {
    let r = TestRepo::new();
    versions(&r, 1);
    let old = r.store().join("tmp/.obj-left-by-a-killed-commit");
    let fresh = r.store().join("tmp/.obj-being-written-now");
    let other = r.store().join("tmp/.tmp-config-being-written");
    std::fs::write(&old, b"partial").unwrap();
    std::fs::write(&fresh, b"partial").unwrap();
    std::fs::write(&other, b"partial").unwrap();
    let two_hours_ago = std::time::SystemTime::now() - Duration::from_secs(7200);
    std::fs::File::options()
        .write(true)
        .open(&old)
        .unwrap()
        .set_modified(two_hours_ago)
        .unwrap();
    let plan = r.mreg(&["gc", "--dry-run", "--json"]).ok().json();
    // The dry run lists every temp file with its age; without the exclusive lock a writer
    // may be alive, so only the old one would go.
    assert_eq!(plan["temp_files"].as_array().unwrap().len(), 3, "{plan}");
    assert_eq!(
        plan["stale_temp_files"].as_array().unwrap().len(),
        1,
        "{plan}"
    );
    assert!(old.exists(), "--dry-run removes nothing");
    // du reports them too, with their age (an interrupted commit's data lives there).
    let du = r.mreg(&["du", "--json"]).ok().json();
    assert_eq!(du["temp_files"].as_array().unwrap().len(), 3, "{du}");
    assert!(du["temp_files"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["age_secs"].as_u64().unwrap() >= 7100));
    r.mreg(&["gc"]).ok();
    assert!(!old.exists());
    // Object temp files are written only under the shared store lock: with gc holding it
    // exclusively, no live writer owns one, whatever its age.
    assert!(
        !fresh.exists(),
        "an object temp file with no live writer is removed at once"
    );
    assert!(
        other.exists(),
        "a temp file no store lock protects, younger than the grace period, may belong to a live writer"
    );
}

#[test]
fn policy_keeps_best_on_the_true_best_version() {
    let r = TestRepo::new();
    r.mreg(&["policy", "det", "--metric", "metrics.mAP50", "--max"])
        .ok();
    let mut ids = Vec::new();
    for (i, x) in ["0.60", "0.72", "0.66"].iter().enumerate() {
        r.write("w.bin", &noise(1000, i as u64));
        let out = r
            .mreg(&[
                "commit",
                "w.bin",
                "--model",
                "det",
                "--metric",
                &format!("mAP50={x}"),
            ])
            .ok();
        ids.push(out.stdout.trim().to_string());
        if i == 1 {
            assert!(
                out.stderr.contains("policy moved best"),
                "{}",
                out.describe()
            );
        }
    }
    let best = r.mreg(&["best", "det", "--metric", "mAP50"]).ok().stdout;
    assert!(best.starts_with(&ids[1]), "{best}");
    let show = r.mreg(&["show", "det@best", "--json"]).ok().json();
    assert_eq!(
        show["id"],
        ids[1].as_str(),
        "best alias agrees with `mreg best`"
    );
    // Hand-moving best to a version without a value does not fool the policy.
    r.write("w.bin", &noise(1000, 50));
    let nometric = r.commit(&["w.bin", "--model", "det"]);
    r.mreg(&["alias", "set", "det", "best", &nometric]).ok();
    r.write("w.bin", &noise(1000, 51));
    r.commit(&["w.bin", "--model", "det", "--metric", "mAP50=0.65"]);
    let show = r.mreg(&["show", "det@best", "--json"]).ok().json();
    assert_eq!(show["id"], ids[1].as_str());
}

#[test]
fn policy_on_an_evaluation_key_fires_when_eval_add_attaches_results() {
    let r = TestRepo::new();
    r.mreg(&["policy", "det", "--metric", "eval.holdout.f1", "--max"])
        .ok();
    let mut ids = Vec::new();
    for i in 0..2u64 {
        r.write("w.bin", &noise(1000, i));
        ids.push(r.commit(&["w.bin", "--model", "det"]));
    }
    let out = r
        .mreg(&[
            "eval",
            "add",
            &ids[0],
            "--dataset",
            "holdout",
            "--metric",
            "f1=0.8",
        ])
        .ok();
    assert!(
        out.stdout.contains("policy moved best"),
        "{}",
        out.describe()
    );
    r.mreg(&[
        "eval",
        "add",
        &ids[1],
        "--dataset",
        "holdout",
        "--metric",
        "f1=0.7",
    ])
    .ok();
    let show = r.mreg(&["show", "det@best", "--json"]).ok().json();
    assert_eq!(show["id"], ids[0].as_str());
    r.mreg(&[
        "eval",
        "add",
        &ids[1],
        "--dataset",
        "holdout",
        "--metric",
        "f1=0.9",
    ])
    .ok();
    let show = r.mreg(&["show", "det@best", "--json"]).ok().json();
    assert_eq!(show["id"], ids[1].as_str());
}

#[test]
fn archiving_a_version_an_alias_points_at_is_refused() {
    let r = TestRepo::new();
    let v = versions(&r, 2);
    r.mreg(&["alias", "set", "m", "production", &v[0]]).ok();
    let snap = r.snapshot();
    let e = r.mreg(&["archive", &v[0]]).fails();
    assert!(e.stderr.contains("production"), "{}", e.describe());
    assert!(
        e.stderr.contains("hint: move the alias"),
        "{}",
        e.describe()
    );
    assert_unchanged(&r, &snap, "");
}

#[test]
fn alias_head_and_hex_looking_tags_are_refused() {
    let r = TestRepo::new();
    let v = versions(&r, 1);
    let snap = r.snapshot();
    for args in [
        vec!["alias", "set", "m", "head", v[0].as_str()],
        vec!["tag", "beef", v[0].as_str()],
        vec!["tag", "0123456", v[0].as_str()],
        vec!["commit", "w.bin", "--model", "m", "--alias", "head"],
    ] {
        let e = r.mreg(&args).fails();
        assert!(e.stderr.contains("invalid"), "{}", e.describe());
        assert_unchanged(&r, &snap, "");
    }
    r.mreg(&["tag", "v1", &v[0]]).ok();
    r.mreg(&["tag", "beefy", &v[0]]).ok();
}

#[test]
fn models_lists_every_model_with_head_aliases_and_counts() {
    let r = TestRepo::new();
    let v = versions(&r, 3);
    r.mreg(&["alias", "set", "m", "production", &v[1]]).ok();
    r.write("o.bin", b"other");
    r.commit(&["o.bin", "--model", "other"]);
    let j = r.mreg(&["models", "--json"]).ok().json();
    assert_eq!(j[0]["model"], "m");
    assert_eq!(j[0]["versions"], 3);
    assert_eq!(j[0]["head"], v[2].as_str());
    assert_eq!(j[0]["aliases"]["production"], v[1].as_str());
    assert_eq!(j[1]["model"], "other");
    let text = r.mreg(&["models"]).ok().stdout;
    assert!(
        text.contains("production=") && text.contains("other"),
        "{text}"
    );
}

#[test]
fn alias_history_past_its_moves_says_so_in_moves() {
    let r = TestRepo::new();
    let v = versions(&r, 2);
    r.mreg(&["alias", "set", "m", "production", &v[0]]).ok();
    r.mreg(&["alias", "set", "m", "production", &v[1]]).ok();
    let e = r.mreg(&["show", "m@production@{1}", "--json"]).ok().json();
    assert_eq!(e["id"], v[0].as_str());
    let e = r.mreg(&["show", "m@production@{5}"]).fails();
    assert!(
        e.stderr.contains("2 target(s)") && e.stderr.contains("alias"),
        "{}",
        e.describe()
    );
    assert!(!e.stderr.contains("commit(s) back"), "{}", e.describe());
    assert!(
        e.stderr.contains("mreg history m --alias production"),
        "{}",
        e.describe()
    );
}

#[test]
fn history_shows_labels_in_full_and_aligns_rows() {
    let r = TestRepo::new();
    let v = versions(&r, 1);
    r.mreg(&["label", "add", &v[0], "baseline-2026-candidate"])
        .ok();
    r.mreg(&["label", "add", &v[0], "ok"]).ok();
    let out = r.mreg(&["history", "m"]).ok().stdout;
    assert!(out.contains("baseline-2026-candidate"), "{out}");
    assert!(out.contains("label_add ok"), "{out}");
    // Columns line up: every row's author starts at the same character.
    let cols: Vec<usize> = out.lines().map(|l| l.find("Test <").unwrap()).collect();
    assert!(cols.windows(2).all(|w| w[0] == w[1]), "{out}");
    // show and --json see label edits.
    let show = r.mreg(&["show", &v[0], "--json"]).ok().json();
    let labels = show["labels"].to_string();
    assert!(labels.contains("baseline-2026-candidate"), "{show}");
    r.mreg(&["label", "rm", &v[0], "ok"]).ok();
    let show = r.mreg(&["show", &v[0]]).ok().stdout;
    assert!(
        show.contains("baseline-2026-candidate") && !show.contains(", ok"),
        "{show}"
    );
}
