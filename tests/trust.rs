//! Regression tests for the trust issue: no command may silently lose, hide or misreport a
//! version. Each test is named after what it guards.

mod common;

use common::{noise, TestRepo};

/// `n` versions of model `m`, each with its own 200 KB file and `acc = 0.50 + i/100`.
fn versions(r: &TestRepo, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            r.write("w.bin", &noise(200_000, 1000 + i as u64));
            let t = format!("2026-01-{:02}T00:00:00Z", i + 1);
            let acc = format!("acc=0.{}", 50 + i);
            r.mreg_env(
                &[
                    "commit",
                    "w.bin",
                    "--model",
                    "m",
                    "--metric",
                    &acc,
                    "-m",
                    &format!("v{i}"),
                ],
                &[("MREG_NOW", &t)],
            )
            .ok()
            .stdout
            .trim()
            .to_string()
        })
        .collect()
}

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
    ] {
        let e = r.mreg(&args).fails();
        assert!(e.stderr.contains("invalid"), "{}", e.describe());
        assert_unchanged(&r, &snap, "");
    }
    r.mreg(&["tag", "v1", &v[0]]).ok();
    r.mreg(&["tag", "beefy", &v[0]]).ok();
}

// ---- A directory is a version -------------------------------------------------------

fn git(dir: &std::path::Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "Dev")
        .env("GIT_AUTHOR_EMAIL", "dev@example.com")
        .env("GIT_COMMITTER_NAME", "Dev")
        .env("GIT_COMMITTER_EMAIL", "dev@example.com")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env_remove("MREG_STORE")
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

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
