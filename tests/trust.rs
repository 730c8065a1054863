//! Regression tests for the trust issue: no command may silently lose, hide or misreport a
//! version. Each test is named after what it guards.

mod common;

use common::{git, noise, versions, TestRepo};

/// Assert the store is as it was (the query cache may be rebuilt: it is not state).
#[track_caller]
fn assert_unchanged(
    r: &TestRepo,
    before: &std::collections::BTreeMap<String, Vec<u8>>,
    what: &str,
) {
    let now = r.snapshot();
    let keys: std::collections::BTreeSet<&String> = before
        .keys()
        .chain(now.keys())
        .filter(|k| !k.starts_with("cache/"))
        .collect();
    let changed: Vec<&&String> = keys
        .iter()
        .filter(|k| before.get(**k) != now.get(**k))
        .collect();
    assert!(
        changed.is_empty(),
        "store changed ({changed:?}) by:\n{what}"
    );
}

fn ids(v: &serde_json::Value, field: &str) -> Vec<String> {
    v[field]
        .as_array()
        .unwrap_or_else(|| panic!("no {field} in {v}"))
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_string())
        .collect()
}

fn manifest_of(r: &TestRepo, rev: &str) -> String {
    let show = r.mreg(&["show", rev, "--json"]).ok().json();
    show["files"][0]["manifest"].as_str().unwrap().to_string()
}

fn object_path(r: &TestRepo, id: &str) -> std::path::PathBuf {
    r.store().join("objects").join(&id[..2]).join(&id[2..])
}

#[test]
fn gc_fails_closed_when_a_live_manifest_is_unreadable() {
    let r = TestRepo::new();
    let v = versions(&r, 3);
    // Garbage gc would otherwise delete, so "deletes nothing" is a real check.
    let other = TestRepo::new();
    other.write("junk.bin", &noise(100_000, 5));
    other.commit(&["junk.bin", "--model", "junk"]);
    let junk_manifest = manifest_of(&other, "junk");
    let dest = object_path(&r, &junk_manifest);
    std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
    std::fs::copy(object_path(&other, &junk_manifest), &dest).unwrap();

    // Truncate the manifest of a live version (v1): its chunks are now unknown.
    let m = manifest_of(&r, &v[1]);
    let p = object_path(&r, &m);
    let bytes = std::fs::read(&p).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
    let snap = r.snapshot();
    for args in [
        vec!["gc"],
        vec!["gc", "--keep-last", "1"],
        vec!["gc", "--dry-run"],
    ] {
        let e = r.mreg(&args).fails();
        assert!(e.stderr.contains("gc refused"), "{}", e.describe());
        assert!(
            e.stderr.contains(&m[..12]) || e.stderr.contains(&m),
            "names the manifest:\n{}",
            e.describe()
        );
        assert!(e.stderr.contains("hint:"), "{}", e.describe());
        assert_unchanged(&r, &snap, &e.describe());
    }
    // du still reports, and says what is unreadable.
    let du = r.mreg(&["du", "--json"]).ok().json();
    assert!(!du["problems"].as_array().unwrap().is_empty(), "{du}");
}

#[test]
fn gc_keep_top_uses_the_query_key_language_and_refuses_unknown_keys() {
    let r = TestRepo::new();
    let v = versions(&r, 5);
    // Evaluations on v0, v1, v3 only (total_time: lower is better).
    for (i, t) in [(0, "9"), (1, "3"), (3, "5")] {
        r.mreg(&[
            "eval",
            "add",
            &v[i],
            "--dataset",
            "production",
            "--metric",
            &format!("total_time={t}"),
        ])
        .ok();
    }
    let snap = r.snapshot();
    // A misspelt key, a metric no version has: an error, nothing pruned.
    for key in ["acuracy", "metrics.training_time", "eval.production.nosuch"] {
        let e = r.mreg(&["gc", "--keep-top", "1", "--by", key]).fails();
        assert!(
            e.stderr.contains("no version of model m has"),
            "{}",
            e.describe()
        );
        assert_unchanged(&r, &snap, "");
    }
    // eval.DATASET.NAME works; versions lacking it are never pruned by --keep-top.
    let plan = r
        .mreg(&[
            "gc",
            "--keep-top",
            "1",
            "--by",
            "eval.production.total_time",
            "--min",
            "--dry-run",
            "--json",
        ])
        .ok()
        .json();
    let mut pruned = ids(&plan, "prune_versions");
    pruned.sort();
    let mut want = vec![v[0].clone(), v[3].clone()];
    want.sort();
    assert_eq!(
        pruned, want,
        "v0 (time 9) and v3 (time 5) are pruned: {plan}"
    );
    let kept = &plan["kept_versions"];
    let reasons = |id: &str| {
        kept.as_array()
            .unwrap()
            .iter()
            .find(|k| k["id"] == id)
            .map(|k| k["reasons"].to_string())
            .unwrap_or_default()
    };
    assert!(reasons(&v[1]).contains("top 1"), "{plan}");
    assert!(
        reasons(&v[2]).contains("has no eval.production.total_time"),
        "{plan}"
    );
    // A bare name means metrics.NAME, as in `best`.
    let plan = r
        .mreg(&[
            "gc",
            "--keep-top",
            "2",
            "--by",
            "acc",
            "--dry-run",
            "--json",
        ])
        .ok()
        .json();
    let mut pruned = ids(&plan, "prune_versions");
    pruned.sort();
    let mut want = vec![v[0].clone(), v[1].clone(), v[2].clone()];
    want.sort();
    // v4 is the head, v3 second best: kept.
    assert_eq!(pruned, want, "{plan}");
}

#[test]
fn gc_retention_counts_archived_versions_unless_prune_archived() {
    let r = TestRepo::new();
    let v = versions(&r, 4);
    r.mreg(&["archive", &v[1]]).ok();
    let plan = r
        .mreg(&["gc", "--keep-last", "5", "--dry-run", "--json"])
        .ok()
        .json();
    assert!(
        ids(&plan, "prune_versions").is_empty(),
        "keep-last 5 of 4 keeps all: {plan}"
    );
    let plan = r
        .mreg(&["gc", "--keep-last", "3", "--dry-run", "--json"])
        .ok()
        .json();
    assert_eq!(ids(&plan, "prune_versions"), vec![v[0].clone()], "{plan}");
    let plan = r
        .mreg(&["gc", "--prune-archived", "--dry-run", "--json"])
        .ok()
        .json();
    assert_eq!(ids(&plan, "prune_versions"), vec![v[1].clone()], "{plan}");
}

#[test]
fn prune_removes_one_version_after_showing_its_plan_and_refuses_referenced_ones() {
    let r = TestRepo::new();
    let v = versions(&r, 4);
    r.mreg(&["alias", "set", "m", "production", &v[1]]).ok();
    r.mreg(&["tag", "paper-v1", &v[0]]).ok();
    let snap = r.snapshot();
    for (rev, needle) in [
        (&v[1], "alias production points at it"),
        (&v[0], "tag paper-v1 points at it"),
        (&v[3], "head points at it"),
    ] {
        let e = r.mreg(&["prune", rev, "--yes"]).fails();
        assert!(e.stderr.contains(needle), "{}", e.describe());
        assert!(e.stderr.contains("hint:"), "{}", e.describe());
        assert_unchanged(&r, &snap, "");
    }
    // Without --yes: the plan, nothing changed.
    let out = r.mreg(&["prune", &v[2], "-m", "leaked test data"]).ok();
    assert!(out.stdout.contains("w.bin"), "{}", out.describe());
    assert!(out.stdout.contains("--yes"), "{}", out.describe());
    assert_unchanged(&r, &snap, "");
    let done = r
        .mreg(&["prune", &v[2], "--yes", "-m", "leaked test data", "--json"])
        .ok()
        .json();
    assert_eq!(done["loses_data"], true, "{done}");
    assert!(done["bytes_freed"].as_u64().unwrap() > 150_000, "{done}");
    let show = r.mreg(&["show", &v[2], "--json"]).ok().json();
    assert_eq!(show["files_pruned"], true);
    assert_eq!(show["files_missing_data"][0], "w.bin");
    let hist = r.mreg(&["history", "m", "--json"]).ok().stdout;
    assert!(
        hist.contains("leaked test data"),
        "the prune is in the history:\n{hist}"
    );
    r.fsck_clean();
    for keep in [&v[0], &v[1], &v[3]] {
        r.mreg(&["checkout", keep, "--to", "out", "--force"]).ok();
    }
    let e = r.mreg(&["prune", &v[2], "--yes"]).fails();
    assert!(e.stderr.contains("already pruned"), "{}", e.describe());
}

#[test]
fn a_pruned_version_stays_inspectable_and_is_never_promoted() {
    let r = TestRepo::new();
    let v = versions(&r, 3);
    r.mreg(&["prune", &v[1], "--yes"]).ok();
    // Inspectable: params, metrics, file list; diff and compare work on metadata.
    let out = r.mreg(&["show", &v[1]]).ok().stdout;
    assert!(
        out.contains("w.bin") && out.contains("acc") && out.contains("data pruned"),
        "{out}"
    );
    let d = r.mreg(&["diff", &v[0], &v[1]]).ok();
    assert!(d.stdout.contains("acc"), "{}", d.describe());
    assert!(d.stderr.contains("pruned"), "{}", d.describe());
    r.mreg(&["compare", &v[0], &v[1]]).ok();
    // Never promoted, aliased or tagged.
    let snap = r.snapshot();
    for args in [
        vec!["promote", "m", v[1].as_str()],
        vec!["alias", "set", "m", "staging", v[1].as_str()],
        vec!["tag", "v1-final", v[1].as_str()],
    ] {
        let e = r.mreg(&args).fails();
        assert!(e.stderr.contains("pruned"), "{}", e.describe());
        assert_unchanged(&r, &snap, "");
    }
    // best skips it and says so (v1 is not the best here; make it the best by metric).
    let e = r.mreg(&["best", "m", "--metric", "acc", "--min"]).ok();
    assert!(e.stdout.starts_with(&v[0]), "{}", e.describe());
    let e = r
        .mreg(&["best", "m", "--metric", "acc", "--json"])
        .ok()
        .json();
    assert_eq!(e["id"], v[2].as_str());
}

#[test]
fn best_skips_a_pruned_winner_and_says_so() {
    let r = TestRepo::new();
    let v = versions(&r, 3);
    r.write("w.bin", &noise(200_000, 99));
    r.commit(&["w.bin", "--model", "m", "--metric", "acc=0.10"]);
    r.mreg(&["prune", &v[2], "--yes"]).ok();
    let out = r.mreg(&["best", "m", "--metric", "acc"]).ok();
    assert!(out.stdout.starts_with(&v[1]), "{}", out.describe());
    assert!(
        out.stderr.contains(&v[2][..8]) && out.stderr.contains("pruned"),
        "{}",
        out.describe()
    );
    let e = r
        .mreg(&["best", "m", "--metric", "acc", "--set-alias", "best"])
        .ok();
    assert!(e.stdout.contains(&v[1][..8]), "{}", e.describe());
}

#[test]
fn a_version_whose_chunks_are_all_shared_is_not_pruned() {
    let r = TestRepo::new();
    let data = noise(300_000, 7);
    r.write("w.bin", &data);
    let a = r.commit(&["w.bin", "--model", "m", "-m", "a"]);
    let b = r.commit(&[
        "w.bin",
        "--model",
        "m",
        "-m",
        "same bytes",
        "--metric",
        "acc=1",
    ]);
    assert_ne!(a, b);
    let out = r.mreg(&["gc", "--keep-last", "1", "--json"]).ok().json();
    assert!(ids(&out, "prune_versions").is_empty(), "{out}");
    assert_eq!(out["bytes_freed"], 0);
    let show = r.mreg(&["show", &a, "--json"]).ok().json();
    assert_eq!(show["files_pruned"], false);
    r.mreg(&["checkout", &a, "--to", "out"]).ok();
    assert_eq!(std::fs::read(r.path().join("out/w.bin")).unwrap(), data);
    let p = r.mreg(&["prune", &a, "--yes", "--json"]).ok().json();
    assert_eq!(p["loses_data"], false, "{p}");
    r.mreg(&["checkout", &a, "--to", "out2"]).ok();
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

// ---- A directory is a version -------------------------------------------------------

fn git_repo() -> TestRepo {
    let r = TestRepo::bare();
    git(r.path(), &["init", "-q", "-b", "main"]);
    r.write("train.py", b"lr = 0.01\n");
    git(r.path(), &["add", "."]);
    git(r.path(), &["commit", "-qm", "code"]);
    r.mreg(&["init"]).ok();
    r
}

#[test]
fn checkout_of_an_older_directory_version_removes_the_newer_versions_files() {
    let r = git_repo();
    r.write("models/m/a.bin", &noise(5000, 1));
    let v1 = r.commit(&["models/m", "--model", "m"]);
    r.write("models/m/b.bin", &noise(5000, 2));
    let v2 = r.commit(&["models/m", "--model", "m"]);
    // A file mreg never tracked, inside the committed directory.
    r.write("models/m/notes.txt", b"mine");
    let st = r.mreg(&["status", "--json"]).ok().json();
    assert_eq!(st["untracked"][0]["path"], "models/m/notes.txt", "{st}");
    assert!(r
        .mreg(&["status"])
        .ok()
        .stdout
        .contains("untracked: models/m/notes.txt"));

    // b.bin modified: the checkout refuses, like any overwrite.
    r.write("models/m/b.bin", b"local edit");
    let snap = r.snapshot();
    let e = r.mreg(&["checkout", &v1]).fails();
    assert!(e.stderr.contains("models/m/b.bin"), "{}", e.describe());
    assert_unchanged(&r, &snap, &e.describe());
    assert_eq!(r.read("models/m/b.bin"), b"local edit");

    // Unmodified: removed, and the directory is exactly v1 (plus the user's own file).
    r.write("models/m/b.bin", &noise(5000, 2));
    let out = r.mreg(&["checkout", &v1, "--json"]).ok().json();
    assert_eq!(
        out["removed"],
        serde_json::json!(["models/m/b.bin"]),
        "{out}"
    );
    assert!(!r.path().join("models/m/b.bin").exists());
    assert_eq!(
        r.read("models/m/notes.txt"),
        b"mine",
        "untracked files are left alone"
    );
    let st = r.mreg(&["status", "--json"]).ok().json();
    assert_eq!(st["clean"], true, "{st}");
    // The lock file pins one version of the model, by its directory.
    let lock = std::fs::read_to_string(r.path().join("mreg.lock")).unwrap();
    assert!(lock.contains(&v1) && !lock.contains(&v2), "{lock}");
    assert!(
        lock.contains("models/m/") && !lock.contains("a.bin"),
        "{lock}"
    );
    // Back to v2: b.bin returns.
    r.mreg(&["checkout", &v2]).ok();
    assert_eq!(r.read("models/m/b.bin"), noise(5000, 2));
}

#[test]
fn lock_file_and_gitignore_have_one_line_per_model_directory() {
    let r = git_repo();
    for i in 0..300 {
        r.write(&format!("models/big/shard-{i:04}.bin"), &noise(64, i));
    }
    let id = r.commit(&["models/big", "--model", "big"]);
    let lock = std::fs::read_to_string(r.path().join("mreg.lock")).unwrap();
    assert!(lock.lines().count() < 10, "{lock}");
    assert!(lock.contains(&id) && lock.contains("models/big/"), "{lock}");
    let ignore = std::fs::read_to_string(r.path().join(".gitignore")).unwrap();
    assert_eq!(
        ignore
            .lines()
            .filter(|l| l.starts_with('/'))
            .collect::<Vec<_>>(),
        vec!["/models/big/"],
        "{ignore}"
    );
    // checkout --git restores the pinned version from the one line.
    git(r.path(), &["add", "mreg.lock", ".gitignore"]);
    git(r.path(), &["commit", "-qm", "pin big"]);
    std::fs::remove_dir_all(r.path().join("models/big")).unwrap();
    r.mreg(&["checkout", "--git", "HEAD"]).ok();
    assert_eq!(r.read("models/big/shard-0299.bin"), noise(64, 299));
}

#[test]
fn committing_a_subset_says_which_parent_files_are_left_out_and_carry_keeps_them() {
    let r = TestRepo::new();
    r.write("m/weights.npy", &noise(3000, 1));
    r.write("m/model.pkl", &noise(3000, 2));
    r.commit(&["m", "--model", "m"]);
    r.write("m/weights.npy", &noise(3000, 4));
    let j = r
        .mreg(&[
            "commit",
            "m/weights.npy",
            "--model",
            "m",
            "--carry",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(j["carried"], serde_json::json!(["m/model.pkl"]), "{j}");
    let files: Vec<&str> = j["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(files, vec!["m/model.pkl", "m/weights.npy"]);
    // A carried file with local changes is refused: the version would misreport it.
    r.write("m/model.pkl", b"edited");
    r.write("m/weights.npy", &noise(3000, 5));
    let snap = r.snapshot();
    let e = r
        .mreg(&["commit", "m/weights.npy", "--model", "m", "--carry"])
        .fails();
    assert!(
        e.stderr.contains("m/model.pkl") && e.stderr.contains("local changes"),
        "{}",
        e.describe()
    );
    assert_unchanged(&r, &snap, &e.describe());
    // Without --carry the summary names what the new version leaves out.
    r.write("m/model.pkl", &noise(3000, 2));
    let out = r.mreg(&["commit", "m/weights.npy", "--model", "m"]).ok();
    assert!(
        out.stderr.contains("not in this version: m/model.pkl") && out.stderr.contains("--carry"),
        "{}",
        out.describe()
    );
    let d = r.mreg(&["diff", "m~1", "m"]).ok().stdout;
    assert!(d.contains("m/model.pkl"), "{d}");
}

#[test]
fn follow_symlinks_stores_link_targets_and_the_refusal_says_so() {
    let r = TestRepo::new();
    // A Hugging Face cache snapshot: links into a blobs folder.
    r.write("hf/blobs/abc", &noise(4000, 1));
    r.write("hf/blobs/def", b"{\"hidden\": 4}");
    std::fs::create_dir_all(r.path().join("hf/snapshots/main")).unwrap();
    std::os::unix::fs::symlink(
        "../../blobs/abc",
        r.path().join("hf/snapshots/main/model.safetensors"),
    )
    .unwrap();
    std::os::unix::fs::symlink(
        "../../blobs/def",
        r.path().join("hf/snapshots/main/config.json"),
    )
    .unwrap();
    let snap = r.snapshot();
    let e = r
        .mreg(&["commit", "hf/snapshots/main", "--model", "hf"])
        .fails();
    assert!(e.stderr.contains("symbolic link"), "{}", e.describe());
    assert!(e.stderr.contains("--follow-symlinks"), "{}", e.describe());
    assert!(
        !e.stderr.contains("inside the repository"),
        "{}",
        e.describe()
    );
    assert_unchanged(&r, &snap, &e.describe());
    let id = r.commit(&["hf/snapshots/main", "--model", "hf", "--follow-symlinks"]);
    r.mreg(&["checkout", &id, "--to", "out"]).ok();
    let p = r.path().join("out/model.safetensors");
    assert!(!std::fs::symlink_metadata(&p)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(std::fs::read(&p).unwrap(), noise(4000, 1));
}

#[test]
fn checkout_never_writes_through_a_symlink() {
    let r = TestRepo::new();
    r.write("m/w.bin", &noise(4000, 1));
    let id = r.commit(&["m/w.bin", "--model", "m"]);
    let outside = tempfile::tempdir().unwrap();
    let victim = outside.path().join("victim");
    std::fs::write(&victim, b"do not touch").unwrap();
    std::fs::remove_file(r.path().join("m/w.bin")).unwrap();
    std::os::unix::fs::symlink(&victim, r.path().join("m/w.bin")).unwrap();
    let e = r.mreg(&["checkout", &id, "--force"]).fails();
    assert!(e.stderr.contains("m/w.bin"), "{}", e.describe());
    assert_eq!(std::fs::read(&victim).unwrap(), b"do not touch");
    // A linked directory on the way is refused too.
    std::fs::remove_file(r.path().join("m/w.bin")).unwrap();
    std::fs::remove_dir(r.path().join("m")).unwrap();
    std::os::unix::fs::symlink(outside.path(), r.path().join("m")).unwrap();
    let e = r.mreg(&["checkout", &id, "--force"]).fails();
    assert!(e.stderr.contains("symbolic link"), "{}", e.describe());
    assert!(!outside.path().join("w.bin").exists());
}

#[test]
fn checkout_to_a_directory_is_relative_to_the_version_root() {
    let r = TestRepo::new();
    r.write("models/minilm/model.safetensors", &noise(3000, 1));
    r.write("models/minilm/tok/vocab.txt", b"a\nb\n");
    let id = r.commit(&["models/minilm", "--model", "minilm"]);
    r.mreg(&["checkout", &id, "--to", "serve"]).ok();
    assert_eq!(r.read("serve/model.safetensors"), noise(3000, 1));
    assert_eq!(r.read("serve/tok/vocab.txt"), b"a\nb\n");
    r.mreg(&["checkout", &id, "--to", "full", "--full-paths"])
        .ok();
    assert_eq!(r.read("full/models/minilm/tok/vocab.txt"), b"a\nb\n");
}

#[test]
fn dataset_directories_hash_the_same_in_commit_and_eval() {
    let r = TestRepo::new();
    r.write("data/test/b.csv", b"x,y\n1,2\n");
    r.write("data/test/a b.csv", b"x,y\n3,4\n");
    r.write("data/test/sub/c.csv", b"x\n5\n");
    r.write("w.bin", &noise(100, 1));
    let j = r
        .mreg(&[
            "commit",
            "w.bin",
            "--model",
            "m",
            "--dataset",
            "test=data/test",
            "--json",
        ])
        .ok()
        .json();
    let committed = j["datasets"][0]["blake3"].as_str().unwrap().to_string();
    let e = r
        .mreg(&[
            "eval",
            "add",
            "m",
            "--dataset",
            "test",
            "--dataset-path",
            "data/test",
            "--metric",
            "acc=1",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(e["dataset_blake3"], committed.as_str(), "{e}");
    // The summary's byte count includes stored datasets.
    r.write("w.bin", &noise(100, 2));
    let out = r
        .mreg(&[
            "commit",
            "w.bin",
            "--model",
            "m",
            "--dataset",
            "test=data/test",
            "--store-datasets",
        ])
        .ok();
    assert!(
        out.stderr.contains("of which datasets"),
        "{}",
        out.describe()
    );
}

#[test]
fn a_corrupt_worktree_state_is_an_error_not_silently_replaced() {
    let r = TestRepo::new();
    r.write("w.bin", &noise(100, 1));
    r.commit(&["w.bin", "--model", "m"]);
    std::fs::write(r.store().join("worktree.json"), b"{ not json").unwrap();
    let snap = r.snapshot();
    for args in [vec!["status"], vec!["checkout", "m"]] {
        let e = r.mreg(&args).fails();
        assert!(
            e.stderr.contains("worktree.json") && e.stderr.contains("hint:"),
            "{}",
            e.describe()
        );
        assert_unchanged(&r, &snap, &e.describe());
    }
    r.write("w.bin", &noise(100, 2));
    let e = r.mreg(&["commit", "w.bin", "--model", "m"]).fails();
    assert!(e.stderr.contains("worktree.json"), "{}", e.describe());
}

#[test]
fn post_commit_notes_a_version_only_when_the_git_commit_changed_its_pin() {
    let r = git_repo();
    r.mreg(&["hook", "install"]).ok();
    r.write("models/s.bin", &noise(4096, 8));
    let v1 = r.commit(&["models/s.bin", "--model", "s"]);
    git(r.path(), &["add", ".gitignore"]);
    git(r.path(), &["commit", "-qm", "pin s"]);
    let pinned_at = git(r.path(), &["rev-parse", "HEAD"]);
    let show = r.mreg(&["show", "s", "--json"]).ok().json();
    assert_eq!(show["git_pins"], serde_json::json!([pinned_at]));
    let history = r.mreg(&["history", "s", "--json"]).ok().stdout;
    // Code-only commits: nothing is noted, the model's history does not grow.
    for i in 0..3 {
        r.write("train.py", format!("lr = 0.0{i}\n").as_bytes());
        git(r.path(), &["commit", "-qam", "tune"]);
    }
    assert_eq!(r.mreg(&["history", "s", "--json"]).ok().stdout, history);
    // A new version pinned: noted on the new version only.
    r.write("models/s.bin", &noise(4096, 9));
    let v2 = r.commit(&["models/s.bin", "--model", "s"]);
    git(r.path(), &["commit", "-qam", "new s"]);
    let head = git(r.path(), &["rev-parse", "HEAD"]);
    assert_eq!(
        r.mreg(&["show", &v2, "--json"]).ok().json()["git_pins"],
        serde_json::json!([head])
    );
    assert_eq!(
        r.mreg(&["show", &v1, "--json"]).ok().json()["git_pins"],
        serde_json::json!([pinned_at])
    );
}

// ---- Registry semantics and honest output -------------------------------------------

#[test]
fn log_follows_the_parent_chain_not_the_clock_and_takes_any_revision() {
    let r = TestRepo::new();
    let mut ids = Vec::new();
    // The second commit comes from a machine whose clock is a year behind.
    for (i, t) in [
        "2026-03-01T00:00:00Z",
        "2025-03-01T00:00:00Z",
        "2026-03-02T00:00:00Z",
    ]
    .iter()
    .enumerate()
    {
        r.write("w.bin", &noise(100, i as u64));
        ids.push(
            r.mreg_env(&["commit", "w.bin", "--model", "m"], &[("MREG_NOW", t)])
                .ok()
                .stdout
                .trim()
                .to_string(),
        );
    }
    let chain = r.chain("m");
    assert_eq!(chain, vec![ids[2].clone(), ids[1].clone(), ids[0].clone()]);
    // Another model interleaves by time, without reordering m.
    r.write("o.bin", &noise(100, 9));
    r.mreg_env(
        &["commit", "o.bin", "--model", "o"],
        &[("MREG_NOW", "2026-03-01T12:00:00Z")],
    )
    .ok();
    let all: Vec<String> = r
        .mreg(&["log", "--json"])
        .ok()
        .json()
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["model"] == "m")
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(all, chain);
    r.mreg(&["alias", "set", "m", "production", &ids[1]]).ok();
    let from: Vec<String> = r
        .mreg(&["log", "m@production", "--json"])
        .ok()
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(from, vec![ids[1].clone(), ids[0].clone()]);
    r.mreg(&["log", "m~1", "--oneline"]).ok();
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

#[test]
fn list_valued_params_show_compare_and_filter() {
    let r = TestRepo::new();
    for (i, h) in ["[32,16]", "[64,16]"].iter().enumerate() {
        r.write("w.bin", &noise(100, i as u64));
        r.commit(&[
            "w.bin",
            "--model",
            "m",
            "--param",
            &format!("model.hidden={h}"),
        ]);
    }
    let c = r.mreg(&["compare", "m~1", "m", "--json"]).ok().json();
    let row = c["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["key"] == "params.model.hidden")
        .unwrap()
        .clone();
    assert_eq!(row["differs"], true, "{c}");
    assert_eq!(row["values"], serde_json::json!(["[32,16]", "[64,16]"]));
    let t = r
        .mreg(&["list", "--columns", "id,params.model.hidden"])
        .ok()
        .stdout;
    assert!(t.contains("[32,16]") && t.contains("[64,16]"), "{t}");
    let hits = r
        .mreg(&[
            "list",
            "--where",
            "params.model.hidden == [32, 16]",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(hits.as_array().unwrap().len(), 1, "{hits}");
    let e = r
        .mreg(&["list", "--where", "params.model.hidden == [32"])
        .fails();
    assert!(e.stderr.contains("unterminated list"), "{}", e.describe());
}

#[test]
fn cat_object_of_a_file_id_says_what_it_is() {
    let r = TestRepo::new();
    // Several chunks, so the file's id is no chunk's id.
    let data = noise(6 << 20, 1);
    r.write("w.bin", &data);
    r.commit(&["w.bin", "--model", "m"]);
    let fid = common::b3(&data);
    let e = r.mreg(&["cat-object", &fid]).fails();
    assert!(
        e.stderr.contains("blake3 of file w.bin"),
        "{}",
        e.describe()
    );
    assert!(
        e.stderr.contains("hint:") && !e.stderr.contains("fsck"),
        "{}",
        e.describe()
    );
    let e = r.mreg(&["cat-object", "0000000000"]).fails();
    assert!(
        e.stderr.contains("no object") && e.stderr.contains("hint:"),
        "{}",
        e.describe()
    );
}

#[test]
fn checkout_git_of_a_version_this_store_lacks_says_so() {
    let r = git_repo();
    r.write("models/w.bin", &noise(100, 1));
    let id = r.commit(&["models/w.bin", "--model", "m"]);
    git(r.path(), &["add", "mreg.lock", ".gitignore"]);
    git(r.path(), &["commit", "-qm", "pin"]);
    // A fresh clone of the code with an empty store.
    let clone = tempfile::tempdir().unwrap();
    git(
        clone.path(),
        &["clone", "-q", r.path().to_str().unwrap(), "c"],
    );
    let c = clone.path().join("c");
    let out = std::process::Command::new(common::bin())
        .args(["init"])
        .current_dir(&c)
        .output()
        .unwrap();
    assert!(out.status.success());
    let out = std::process::Command::new(common::bin())
        .args(["checkout", "--git", "HEAD"])
        .current_dir(&c)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("does not have version") && err.contains(&id),
        "{err}"
    );
    assert!(!err.contains("fsck"), "{err}");
}

#[test]
fn dash_c_records_the_author_from_that_directory() {
    let r = git_repo();
    git(r.path(), &["config", "user.name", "Repo Author"]);
    git(r.path(), &["config", "user.email", "repo@example.com"]);
    r.write("w.bin", &noise(100, 1));
    let elsewhere = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(common::bin())
        .args([
            "-C",
            r.path().to_str().unwrap(),
            "commit",
            "w.bin",
            "--model",
            "m",
            "--json",
        ])
        .current_dir(elsewhere.path())
        .env_remove("MREG_AUTHOR")
        .env("HOME", elsewhere.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["author"], "Repo Author <repo@example.com>");
}

/// `mreg run` of `train.sh`, which writes `out.bin` and `metrics.json`.
fn run_train_sh(r: &TestRepo, quiet: bool) -> common::Run {
    let mut args = vec!["run"];
    if quiet {
        args.push("-q");
    }
    args.extend([
        "--model",
        "m",
        "--outputs",
        "out.bin",
        "--metrics-file",
        "metrics.json",
        "--",
        "sh",
        "train.sh",
    ]);
    r.mreg(&args).ok()
}

#[test]
fn run_prints_the_id_on_stdout_and_respects_quiet() {
    let r = git_repo();
    r.write(
        "train.sh",
        b"echo '{\"loss\": 0.5}' > metrics.json; head -c 64 /dev/urandom > out.bin\n",
    );
    git(r.path(), &["add", "train.sh"]);
    git(r.path(), &["commit", "-qm", "script"]);
    let out = run_train_sh(&r, false);
    let id = out.stdout.trim().to_string();
    assert_eq!(id.len(), 64, "only the id on stdout: {}", out.describe());
    assert!(
        out.stderr.contains("[m "),
        "summary on stderr: {}",
        out.describe()
    );
    let q = run_train_sh(&r, true);
    assert!(!q.stderr.contains("[m "), "{}", q.describe());
    // Random bytes, identical metrics: --tolerance 0 is within tolerance, exit 0.
    let rep = r
        .mreg(&[
            "reproduce",
            &id,
            "--tolerance",
            "0",
            "--json",
            "--no-record",
        ])
        .ok()
        .json();
    assert_eq!(rep["verdict"], "within_tolerance", "{rep}");
    // A real difference exits 3 (2 is clap's usage error): metrics drawn at random.
    r.write(
        "train.sh",
        b"v=$(od -An -N4 -tu4 /dev/urandom | tr -d ' '); echo \"{\\\"loss\\\": $v}\" > metrics.json; head -c 64 /dev/urandom > out.bin\n",
    );
    git(r.path(), &["commit", "-qam", "random metrics"]);
    let q = run_train_sh(&r, true);
    let id2 = q.stdout.trim().to_string();
    let d = r.mreg(&["reproduce", &id2, "--no-record", "--tolerance", "0"]);
    assert_eq!(d.code, 3, "{}", d.describe());
}

#[test]
fn lineage_counts_match_the_graph_it_draws() {
    let r = TestRepo::new();
    r.write("data.csv", b"a\n1\n");
    for i in 0..3u64 {
        r.write("w.bin", &noise(100, i));
        r.commit(&["w.bin", "--model", "m", "--dataset", "train=data.csv"]);
    }
    let g = r.mreg(&["lineage", "m~1", "--json"]).ok().json();
    let (n, e) = (
        g["nodes"].as_array().unwrap().len(),
        g["edges"].as_array().unwrap().len(),
    );
    let text = r.mreg(&["lineage", "m~1"]).ok().stdout;
    assert!(
        text.contains(&format!("({n} nodes, {e} edges")),
        "{text}\n{g}"
    );
    let dot = r.mreg(&["lineage", "m~1", "--dot"]).ok().stdout;
    assert_eq!(dot.matches(" -> ").count(), e, "{dot}");
}

#[test]
fn diff_says_when_only_safetensors_metadata_changed() {
    let r = TestRepo::new();
    let st = |meta: &str| {
        let header = format!(
            r#"{{"__metadata__":{{"note":"{meta}"}},"w":{{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}}}"#
        );
        let mut f = (header.len() as u64).to_le_bytes().to_vec();
        f.extend_from_slice(header.as_bytes());
        f.extend_from_slice(&[0u8; 16]);
        f
    };
    r.write("m.safetensors", &st("one"));
    r.commit(&["m.safetensors", "--model", "m"]);
    r.write("m.safetensors", &st("two"));
    r.commit(&["m.safetensors", "--model", "m"]);
    let d = r.mreg(&["diff", "m~1", "m"]).ok().stdout;
    assert!(d.contains("only __metadata__ changed (note)"), "{d}");
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
fn checkout_git_is_all_or_nothing_across_models() {
    let r = git_repo();
    r.write("models/a/w.bin", &noise(100, 1));
    r.commit(&["models/a", "--model", "a"]);
    r.write("models/b/w.bin", &noise(100, 2));
    r.commit(&["models/b", "--model", "b"]);
    git(r.path(), &["add", "mreg.lock", ".gitignore"]);
    git(r.path(), &["commit", "-qm", "pin a and b"]);
    std::fs::remove_file(r.path().join("models/a/w.bin")).unwrap();
    r.write("models/b/w.bin", b"local edit");
    let e = r.mreg(&["checkout", "--git", "HEAD"]).fails();
    assert!(e.stderr.contains("models/b/w.bin"), "{}", e.describe());
    assert!(
        !r.path().join("models/a/w.bin").exists(),
        "a refusal writes nothing, not even the other model's files"
    );
    r.mreg(&["checkout", "--git", "HEAD", "--force"]).ok();
    assert_eq!(r.read("models/a/w.bin"), noise(100, 1));
    assert_eq!(r.read("models/b/w.bin"), noise(100, 2));
}

#[test]
fn git_errors_keep_their_cause_chain_and_a_hint() {
    let r = git_repo();
    let e = r.mreg(&["blame", "no-such-rev"]).fails();
    assert!(
        e.stderr.contains("unknown git revision"),
        "{}",
        e.describe()
    );
    assert!(
        e.stderr.contains("  caused by: "),
        "the gix cause is printed:\n{}",
        e.describe()
    );
    assert!(e.stderr.contains("hint: "), "{}", e.describe());
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
fn gc_retention_applies_only_to_the_models_named() {
    let r = TestRepo::new();
    let v = versions(&r, 3);
    let mut o = Vec::new();
    for i in 0..3u64 {
        r.write("o.bin", &noise(100_000, 50 + i));
        o.push(r.commit(&["o.bin", "--model", "other"]));
    }
    let plan = r
        .mreg(&[
            "gc",
            "--keep-last",
            "1",
            "--model",
            "other",
            "--dry-run",
            "--json",
        ])
        .ok()
        .json();
    let mut pruned = ids(&plan, "prune_versions");
    pruned.sort();
    let mut want = vec![o[0].clone(), o[1].clone()];
    want.sort();
    assert_eq!(
        pruned, want,
        "only `other` is pruned, `m` keeps {v:?}: {plan}"
    );
    let e = r
        .mreg(&["gc", "--keep-last", "1", "--model", "nosuch"])
        .fails();
    assert!(e.stderr.contains("unknown model"), "{}", e.describe());
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
