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

/// Issue 29: `list` selects, sorts and limits on the query index's columns and parses only
/// the rows it returns. Guard: for many queries over versions with mixed-type params,
/// missing metrics, evaluations, labels, aliases and archived versions, the answer is the
/// one evaluating the same expression on whole rows gives, in the same order; and a
/// corrupt or truncated columns file is rebuilt, never believed.
#[test]
fn list_by_columns_answers_as_whole_rows_do() {
    use mreg::query::{parse, SortKey};
    let dir = tempfile::tempdir().unwrap();
    let repo = Repo::init(dir.path()).unwrap();
    let weights = dir.path().join("w.bin");
    let mut ids = Vec::new();
    for i in 0..36u64 {
        let model = ModelName::new(["fraud", "bert", "tiny"][i as usize % 3]).unwrap();
        std::fs::write(&weights, format!("weights {i}")).unwrap();
        // `opt` is a number in some versions and text in others; `layers` a list.
        let opt = if i % 4 == 0 {
            serde_json::json!(3)
        } else {
            serde_json::json!("adam")
        };
        let lr = [0.1, 0.01, 0.001][i as usize % 3];
        let layers = if i % 2 == 0 {
            serde_json::json!([32, 16])
        } else {
            serde_json::json!([64])
        };
        let mut metrics = BTreeMap::new();
        if i % 5 != 0 {
            metrics.insert("acc".to_string(), (i % 7) as f64 / 7.0);
        }
        let out = commit(
            &repo,
            CommitRequest {
                message: format!("v{i}"),
                created_at: mreg::Timestamp::parse(&format!("2026-03-{:02}T10:00:00Z", 1 + i % 28))
                    .unwrap(),
                params: serde_json::json!({"lr": lr, "opt": opt, "layers": layers}),
                metrics,
                labels: if i % 6 == 0 {
                    vec!["baseline".into()]
                } else {
                    vec![]
                },
                ..CommitRequest::new(
                    model.clone(),
                    "Lib <lib@example.com>",
                    dir.path().to_path_buf(),
                    vec![PathBuf::from("w.bin")],
                )
            },
            &NoProgress,
        )
        .unwrap();
        if i % 4 == 1 {
            add_evaluation(
                &repo,
                EvaluationRequest {
                    commit: out.id,
                    dataset: "holdout".into(),
                    metrics: BTreeMap::from([("f1".to_string(), (i % 9) as f64 / 9.0)]),
                    data: None,
                    info: info("eval"),
                },
            )
            .unwrap();
        }
        if i % 11 == 3 {
            mreg::refs::set_archived(&repo, out.id, true, info("old")).unwrap();
        }
        if i % 10 == 2 {
            mreg::refs::promote(&repo, &model, Some(out.id), None, info("ship")).unwrap();
        }
        ids.push(out.id);
    }
    let everything = |archived: bool| {
        list(
            &repo,
            &ListQuery {
                include_archived: archived,
                ..Default::default()
            },
        )
        .unwrap()
    };
    let all = everything(true);
    assert_eq!(all.len(), 36);
    let filters = [
        "metrics.acc >= 0.5",
        "acc > 0.2 and (params.lr < 0.01 or eval.holdout.f1 > 0.3)",
        "params.opt == adam",
        "params.opt == 3",
        "params.opt > 1",
        "params.layers == '[32,16]'",
        "not metrics.acc < 0.4",
        "labels == baseline",
        "labels != baseline and model == bert",
        "archived == true",
        "version > 5",
        "author == 'Lib <lib@example.com>' and message == v7",
        "created_at >= '2026-03-10'",
        "eval.holdout.f1 >= 0",
        "params.nosuch == 1",
    ];
    let sorts = [
        None,
        Some("-metrics.acc"),
        Some("params.opt"),
        Some("eval.holdout.f1"),
        Some("-version"),
        Some("created_at"),
        Some("params.layers"),
    ];
    let mut checked = 0;
    for f in filters {
        let expr = parse(f).unwrap();
        for s in sorts {
            for limit in [None, Some(3)] {
                let sort = s.map(|s| SortKey::parse(s).unwrap());
                let q = ListQuery {
                    filters: vec![expr.clone()],
                    sort: sort.clone(),
                    limit,
                    ..Default::default()
                };
                let got: Vec<_> = list(&repo, &q)
                    .unwrap()
                    .into_iter()
                    .map(|l| l.row)
                    .collect();
                // The reference: whole rows, the expression evaluated on each.
                let archived_ok = |r: &mreg::query::Row| !r.archived || f.contains("archived");
                let mut want: Vec<_> = all
                    .iter()
                    .map(|l| l.row.clone())
                    .filter(|r| archived_ok(r) && expr.matches(r))
                    .collect();
                // Each model's versions keep their order (newest first); `all` interleaves
                // them, so they are taken apart again per model.
                let models = repo.models().unwrap();
                let pos = |r: &mreg::query::Row| models.iter().position(|m| *m == r.model);
                want.sort_by_key(|a| pos(a));
                match &sort {
                    // Ties keep model order, each model newest first.
                    Some(k) => want.sort_by(|a, b| k.cmp(a, b)),
                    None => {
                        let lists = models
                            .iter()
                            .map(|m| want.iter().filter(|r| r.model == *m).cloned().collect())
                            .collect();
                        want = mreg::ops::query::interleave_newest_first(lists, |r| {
                            r.created_at.clone()
                        });
                    }
                }
                if let Some(n) = limit {
                    want.truncate(n);
                }
                assert_eq!(
                    got.iter().map(|r| r.id).collect::<Vec<_>>(),
                    want.iter().map(|r| r.id).collect::<Vec<_>>(),
                    "where {f:?} sort {s:?} limit {limit:?}"
                );
                assert_eq!(got, want);
                checked += 1;
            }
        }
    }
    assert_eq!(checked, filters.len() * sorts.len() * 2);
    // The selections beside --where read their columns too.
    let q = ListQuery {
        alias: Some("production".into()),
        labels: vec!["baseline".into()],
        dataset: Some("holdout".into()),
        ..Default::default()
    };
    let got: Vec<_> = list(&repo, &q)
        .unwrap()
        .into_iter()
        .map(|l| l.row.id)
        .collect();
    let want: Vec<_> = everything(false)
        .into_iter()
        .map(|l| l.row)
        .filter(|r| {
            r.aliases.contains(&"production".to_string())
                && r.labels.contains(&"baseline".to_string())
                && r.evals.contains_key("holdout")
        })
        .map(|r| r.id)
        .collect();
    assert_eq!(got, want);

    // A damaged columns file is rebuilt from the rows, never believed.
    let cols = dir.path().join(".modelreg/cache/index/fraud.cols");
    let good = std::fs::read(&cols).unwrap();
    let q = ListQuery {
        filters: vec![parse("metrics.acc >= 0.5").unwrap()],
        sort: Some(SortKey::parse("-metrics.acc").unwrap()),
        ..Default::default()
    };
    let want = list(&repo, &q).unwrap();
    // A query reading other columns (the version numbers are the file's last bytes).
    let q2 = ListQuery {
        filters: vec![parse("labels != baseline").unwrap()],
        sort: Some(SortKey::parse("-version").unwrap()),
        include_archived: true,
        ..Default::default()
    };
    let want2 = list(&repo, &q2).unwrap();
    for damage in [
        good[..good.len() / 2].to_vec(),
        good[..10].to_vec(),
        {
            let mut b = good.clone();
            let n = b.len();
            b[n - 40..].fill(0xff);
            b
        },
        {
            // A flipped bit in the middle: every column and row is checksummed.
            let mut b = good.clone();
            for k in (good.len() / 3..good.len()).step_by(997) {
                b[k] ^= 0x04;
            }
            b
        },
        b"MREGCOL1\xff\xff\xff\xff\xff\xff\xff\x7f".to_vec(),
    ] {
        std::fs::write(&cols, &damage).unwrap();
        for (q, want) in [(&q, &want), (&q2, &want2)] {
            let got = list(&repo, q).unwrap();
            assert_eq!(
                got.iter().map(|l| &l.row).collect::<Vec<_>>(),
                want.iter().map(|l| &l.row).collect::<Vec<_>>()
            );
        }
    }
}
