//! The library's public API, as a second client (a Python package, a web server) uses it:
//! commit → resolve `MODEL@production` → checkout → list → promote → eval → gc, with no
//! binary and nothing marked internal.

use std::collections::BTreeMap;
use std::path::PathBuf;

use mreg::gc::GcOptions;
use mreg::history::MoveInfo;
use mreg::ops::checkout::{checkout, CheckoutRequest};
use mreg::ops::commit::commit;
use mreg::ops::eval::{add_evaluation, EvaluationRequest};
use mreg::ops::query::{best, list, BestQuery, ListQuery};
use mreg::ops::NoProgress;
use mreg::{CommitRequest, Error, ModelName, Repo};

fn info(why: &str) -> MoveInfo {
    MoveInfo {
        time: mreg::Timestamp::parse("2026-05-01T12:00:00Z").unwrap(),
        author: "Lib <lib@example.com>".into(),
        message: why.into(),
    }
}

#[test]
fn commit_resolve_checkout_list_promote_eval_gc_through_the_public_api() {
    let dir = tempfile::tempdir().unwrap();
    let repo = Repo::init(dir.path()).unwrap();
    let model = ModelName::new("fraud").unwrap();
    let weights = dir.path().join("model.bin");

    // Two versions.
    let mut ids = Vec::new();
    for (i, acc) in [0.81, 0.87].iter().enumerate() {
        std::fs::write(&weights, format!("weights v{i}").repeat(1000)).unwrap();
        let out = commit(
            &repo,
            CommitRequest {
                message: format!("v{i}"),
                metrics: BTreeMap::from([("acc".to_string(), *acc)]),
                ..CommitRequest::new(
                    model.clone(),
                    "Lib <lib@example.com>",
                    dir.path().to_path_buf(),
                    vec![PathBuf::from("model.bin")],
                )
            },
            &NoProgress,
        )
        .unwrap();
        ids.push(out.id);
    }

    // Promote the first, then resolve the alias.
    mreg::refs::promote(&repo, &model, Some(ids[0]), None, info("first release")).unwrap();
    assert_eq!(repo.resolve("fraud@production").unwrap(), ids[0]);

    // Check the production version out elsewhere, byte for byte.
    let serve = dir.path().join("serve");
    checkout(
        &repo,
        &CheckoutRequest {
            commit: repo.resolve("fraud@production").unwrap(),
            paths: vec![],
            to: Some(serve.clone()),
            force: false,
            pin: false,
            strip_root: true,
            verify: None,
        },
        &NoProgress,
    )
    .unwrap();
    assert_eq!(
        std::fs::read(serve.join("model.bin")).unwrap(),
        "weights v0".repeat(1000).into_bytes()
    );

    // List with a filter in the query language.
    let q = ListQuery {
        filters: mreg::ops::query::parse_filters(&["metrics.acc > 0.85".into()]).unwrap(),
        ..Default::default()
    };
    let hits = list(&repo, &q).unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].row.id, ids[1]);

    // Promote the better one; the previous production becomes rollback.
    let p = mreg::refs::promote(&repo, &model, Some(ids[1]), None, info("better")).unwrap();
    assert_eq!(p.previous, Some(ids[0]));
    assert_eq!(repo.resolve("fraud@rollback").unwrap(), ids[0]);

    // Evaluate on a holdout set, then rank by it.
    for (id, f1) in [(ids[0], 0.9), (ids[1], 0.7)] {
        add_evaluation(
            &repo,
            EvaluationRequest {
                commit: id,
                dataset: "holdout".into(),
                metrics: BTreeMap::from([("f1".to_string(), f1)]),
                data: None,
                info: info("weekly holdout"),
            },
        )
        .unwrap();
    }
    let b = best(
        &repo,
        BestQuery {
            model: model.clone(),
            key: "eval.holdout.f1".into(),
            dataset: None,
            minimize: Some(false),
            set_alias: None,
        },
    )
    .unwrap();
    assert_eq!(b.winner.row.id, ids[0]);

    // gc: nothing is garbage, every version survives; errors are typed.
    let now = humantime::parse_rfc3339_weak("2026-05-02T00:00:00Z").unwrap();
    let plan = mreg::gc::gc(
        &repo,
        &GcOptions::garbage_only(now, std::time::Duration::from_secs(90 * 86400)),
        false,
        "2026-05-02T00:00:00Z",
    )
    .unwrap();
    assert!(plan.delete.is_empty() && plan.prune_versions.is_empty());
    assert!(matches!(
        repo.resolve("fraud@nosuch"),
        Err(Error::UnknownRevision(_))
    ));
    assert!(mreg::ops::fsck::fsck(&repo).unwrap().is_clean());
}

/// Issue 26: the load cache is bounded. Under a cap of 2.5 MiB, loading six 1 MiB versions
/// one after another keeps the cache under the cap (least recently used evicted first),
/// never evicts a version a process still holds, and `gc` reports and trims it.
#[test]
fn the_load_cache_holds_its_cap_and_never_evicts_a_version_in_use() {
    use mreg::ops::checkout::load;
    use mreg::ops::load_cache;
    let dir = tempfile::tempdir().unwrap();
    let repo = Repo::init(dir.path()).unwrap();
    repo.update_config(|c| {
        c.cache.load_max = Some("2.5MiB".into());
        Ok(())
    })
    .unwrap();
    let repo = Repo::open(&dir.path().join(".modelreg")).unwrap();
    let model = ModelName::new("m").unwrap();
    let mut ids = Vec::new();
    for i in 0..6u8 {
        let bytes: Vec<u8> = (0..1 << 20)
            .map(|k: u32| (k as u8) ^ i.wrapping_mul(37))
            .collect();
        std::fs::write(dir.path().join("w.bin"), &bytes).unwrap();
        let out = commit(
            &repo,
            CommitRequest::new(
                model.clone(),
                "A <a@b.c>",
                dir.path().into(),
                vec!["w.bin".into()],
            ),
            &NoProgress,
        )
        .unwrap();
        ids.push(out.id);
    }
    let cache_bytes = || load_cache::trim(&repo, u64::MAX, None, true).unwrap().bytes;
    // v0 stays in use (a serving process holds it) through every later load.
    let held = load(&repo, &ids[0], None, false, false, &NoProgress).unwrap();
    for id in &ids[1..] {
        let l = load(&repo, id, None, false, false, &NoProgress).unwrap();
        assert!(l.path.exists());
        assert!(
            cache_bytes() <= (5 << 20) / 2,
            "the cache stays under its cap: {}",
            cache_bytes()
        );
        assert!(held.path.exists(), "a version in use is never evicted");
    }
    // Released, and the cap lowered: gc evicts down to it and says so.
    drop(held);
    repo.update_config(|c| {
        c.cache.load_max = Some("1MiB".into());
        Ok(())
    })
    .unwrap();
    let repo = Repo::open(&dir.path().join(".modelreg")).unwrap();
    let opts = GcOptions::garbage_only(
        std::time::SystemTime::now(),
        std::time::Duration::from_secs(90 * 86_400),
    );
    let plan = mreg::gc::gc(&repo, &opts, false, "2026-05-01T12:00:00Z").unwrap();
    let c = plan.load_cache.unwrap();
    assert!(!c.evicted.is_empty(), "{c:?}");
    assert!(c.bytes - c.evicted_bytes <= 1 << 20, "{c:?}");
}
