//! Regression tests for issue 30: gc retention walked a model's ancestry through `--from`
//! links into another model, counted that model's versions as its own and pruned the data
//! of versions an alias or tag of their own model pointed at. Each test checks that no
//! aliased or tagged version loses data and that each model's count is its own.

mod common;

use common::{noise, TestRepo};

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
