//! Regression tests for issue 30: gc retention walked a model's ancestry through `--from`
//! links into another model, counted that model's versions as its own and pruned the data
//! of versions an alias or tag of their own model pointed at. Each test checks that no
//! aliased or tagged version loses data and that each model's count is its own.

use crate::common::{assert_unchanged, ids, manifest_of, noise, object_path, versions, TestRepo};

/// Commit a fresh 300 kB version of `model` (with `extra` arguments); returns its id.
fn version(r: &TestRepo, model: &str, seed: u64, extra: &[&str]) -> String {
    let file = format!("{model}-{seed}.bin");
    r.write(&file, &noise(300_000, seed));
    let mut args = vec![file.as_str(), "--model", model, "-m", "v", "-q"];
    args.extend_from_slice(extra);
    r.commit(&args)
}

/// Pruned versions of a plan as (id, model).
fn pruned(plan: &serde_json::Value) -> Vec<(String, String)> {
    plan["prune_versions"]
        .as_array()
        .unwrap_or_else(|| panic!("no prune_versions in {plan}"))
        .iter()
        .map(|p| {
            (
                p["id"].as_str().unwrap().to_string(),
                p["model"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The version checks out byte-identical (its data is all there).
#[track_caller]
fn checks_out(r: &TestRepo, rev: &str) {
    let dir = r.path().join("co-check");
    let _ = std::fs::remove_dir_all(&dir);
    r.mreg(&["checkout", rev, "--to", dir.to_str().unwrap()])
        .ok();
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The model a version belongs to, as `show` says.
fn model_of(r: &TestRepo, id: &str) -> String {
    r.mreg(&["show", id, "--json"]).ok().json()["model"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn issue30_keep_last_never_prunes_production_of_the_model_a_fine_tune_derives_from() {
    let r = TestRepo::new();
    let z: Vec<String> = (1..=3).map(|i| version(&r, "zeta", i, &[])).collect();
    r.mreg(&["promote", "zeta", &z[0], "-m", "ship"]).ok();
    let ft = version(&r, "alpha", 10, &["--from", "zeta@production"]);
    let plan = r.mreg(&["gc", "--keep-last", "1", "--json"]).ok().json();
    let p = pruned(&plan);
    // alpha has one version (its own count): nothing of alpha goes. zeta keeps its newest
    // and its production; only zeta v2 goes, and the plan names zeta.
    assert_eq!(p, vec![(z[1].clone(), "zeta".to_string())], "{plan}");
    for (id, model) in &p {
        assert_eq!(&model_of(&r, id), model, "the plan names the right model");
    }
    checks_out(&r, "zeta@production");
    checks_out(&r, &ft);
    checks_out(&r, &z[2]);
    r.fsck_clean();
}

#[test]
fn issue30_keep_last_never_prunes_a_tagged_version_reached_through_from() {
    let r = TestRepo::new();
    let z: Vec<String> = (1..=3).map(|i| version(&r, "zeta", i, &[])).collect();
    r.mreg(&["tag", "v1", &z[0], "-m", "first"]).ok();
    version(&r, "alpha", 10, &["--from", "v1"]);
    // Ten newest of three: nothing of zeta may go, and alpha's one version stays.
    let plan = r.mreg(&["gc", "--keep-last", "10", "--json"]).ok().json();
    assert!(pruned(&plan).is_empty(), "{plan}");
    assert_eq!(plan["bytes_freed"], 0, "{plan}");
    // Keep only one: zeta's tagged v1 and head v3 stay, v2 goes; alpha keeps its head.
    let plan = r.mreg(&["gc", "--keep-last", "1", "--json"]).ok().json();
    assert_eq!(pruned(&plan), vec![(z[1].clone(), "zeta".into())], "{plan}");
    checks_out(&r, "v1");
    checks_out(&r, "alpha");
}

#[test]
fn issue30_a_chain_of_three_derived_models_counts_each_model_on_its_own() {
    let r = TestRepo::new();
    // Names sort against the derivation (the walk visits models by name): zeta is the
    // base (3 versions, production = zeta v1); mu has 3 versions from zeta@production,
    // tag mu-rel = mu v1; alpha has 2 versions from mu-rel.
    let z: Vec<String> = (1..=3).map(|i| version(&r, "zeta", i, &[])).collect();
    r.mreg(&["alias", "set", "zeta", "production", &z[0]]).ok();
    let mu: Vec<String> = (1..=3)
        .map(|i| version(&r, "mu", 10 + i, &["--from", "zeta@production"]))
        .collect();
    r.mreg(&["tag", "mu-rel", &mu[0]]).ok();
    let al: Vec<String> = (1..=2)
        .map(|i| version(&r, "alpha", 20 + i, &["--from", "mu-rel"]))
        .collect();
    let plan = r
        .mreg(&["gc", "--keep-last", "1", "--dry-run", "--json"])
        .ok()
        .json();
    let mut p = pruned(&plan);
    p.sort();
    let mut want = vec![
        (z[1].clone(), "zeta".to_string()),
        (mu[1].clone(), "mu".to_string()),
        (al[0].clone(), "alpha".to_string()),
    ];
    want.sort();
    assert_eq!(p, want, "{plan}");
    // Every kept version is explained under its own model.
    for k in plan["kept_versions"].as_array().unwrap() {
        let id = k["id"].as_str().unwrap();
        assert_eq!(k["model"].as_str().unwrap(), model_of(&r, id), "{k}");
    }
    r.mreg(&["gc", "--keep-last", "1"]).ok();
    for keep in ["zeta@production", &z[2], "mu-rel", &mu[2], &al[1]] {
        checks_out(&r, keep);
    }
    r.fsck_clean();
}

#[test]
fn issue30_keep_last_with_model_prunes_only_that_models_versions() {
    let r = TestRepo::new();
    let z: Vec<String> = (1..=3).map(|i| version(&r, "zeta", i, &[])).collect();
    r.mreg(&["alias", "set", "zeta", "production", &z[0]]).ok();
    let al: Vec<String> = (1..=3)
        .map(|i| version(&r, "alpha", 10 + i, &["--from", "zeta@production"]))
        .collect();
    // Retention of alpha only: alpha's two older versions go, nothing of zeta.
    let plan = r
        .mreg(&["gc", "--keep-last", "1", "--model", "alpha", "--json"])
        .ok()
        .json();
    let mut p = pruned(&plan);
    p.sort();
    let mut want = vec![
        (al[0].clone(), "alpha".to_string()),
        (al[1].clone(), "alpha".to_string()),
    ];
    want.sort();
    assert_eq!(p, want, "{plan}");
    for id in &z {
        checks_out(&r, id);
    }
    // Retention of zeta only: v2 goes (v1 is production, v3 the newest), nothing of alpha.
    let plan = r
        .mreg(&["gc", "--keep-last", "1", "--model", "zeta", "--json"])
        .ok()
        .json();
    assert_eq!(pruned(&plan), vec![(z[1].clone(), "zeta".into())], "{plan}");
    checks_out(&r, "zeta@production");
    checks_out(&r, &al[2]);
}

#[test]
fn issue30_keep_top_with_model_never_prunes_the_derived_from_production() {
    let r = TestRepo::new();
    // zeta: acc 0.1, 0.2, 0.3; production = the worst (0.1).
    let z: Vec<String> = (1..=3)
        .map(|i| version(&r, "zeta", i, &["--metric", &format!("acc=0.{i}")]))
        .collect();
    r.mreg(&["alias", "set", "zeta", "production", &z[0]]).ok();
    // alpha: derived from production, acc 0.5 and 0.9.
    let al: Vec<String> = [5, 9]
        .iter()
        .map(|a| {
            version(
                &r,
                "alpha",
                10 + a,
                &[
                    "--from",
                    "zeta@production",
                    "--metric",
                    &format!("acc=0.{a}"),
                ],
            )
        })
        .collect();
    let plan = r
        .mreg(&[
            "gc",
            "--keep-top",
            "1",
            "--by",
            "acc",
            "--model",
            "alpha",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(
        pruned(&plan),
        vec![(al[0].clone(), "alpha".into())],
        "{plan}"
    );
    let plan = r
        .mreg(&["gc", "--keep-top", "1", "--by", "acc", "--json"])
        .ok()
        .json();
    // zeta keeps its best (v3) and production (v1): only v2 goes.
    assert_eq!(pruned(&plan), vec![(z[1].clone(), "zeta".into())], "{plan}");
    checks_out(&r, "zeta@production");
    checks_out(&r, &z[2]);
    checks_out(&r, &al[1]);
    r.fsck_clean();
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
