//! Registry queries at scale: builds a store of N commits over M models (each with params,
//! metrics, every 50th with an evaluation, every 100th promoted to production), then times
//! through the real binary `mreg list --where ... --sort ... --limit 20` with no index (it is
//! built), warm (the index current), cold (the index on disk, the page cache dropped where
//! the machine allows it) and after a new commit, `show MODEL@production` and
//! `history MODEL --alias production --at DATE`, reporting medians; then the dashboard's
//! pages in process.
//!
//! Run: `cargo bench --features bench-internals --bench registry_scale`
//! (MREG_SCALE_COMMITS=N, default 100,000; MREG_SCALE_MODELS=M, default 100;
//! MREG_SCALE_KEEP=1 keeps the store and prints where, for profiling). The curve of issue 29:
//! N = 10,000, 100,000 and 1,000,000 with 100 models.
//! The fixture is written with fsync off (`set_durable_for_benchmarks_only`): it is
//! throwaway, and a durable build of 100,000 commits would measure the disk, not queries.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Instant;

use mreg::commit::{Commit, Environment, COMMIT_FORMAT};
use mreg::history::MoveInfo;
use mreg::{ModelName, Repo};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn time_cmd(dir: &std::path::Path, args: &[&str]) -> (f64, String) {
    let t = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_mreg"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    let secs = t.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (secs, String::from_utf8_lossy(&out.stdout).into_owned())
}

fn main() {
    let total: usize = std::env::var("MREG_SCALE_COMMITS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let models: usize = std::env::var("MREG_SCALE_MODELS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100);
    let dir = tempfile::tempdir().unwrap();
    mreg::internals::set_durable_for_benchmarks_only(false);
    let repo = Repo::init(dir.path()).unwrap();
    let t = Instant::now();
    let mut x = 0x2545F4914F6CDD1Du64;
    for m in 0..models {
        let model = ModelName::new(&format!("model-{m}")).unwrap();
        for i in 0..total / models {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let acc = (x % 10_000) as f64 / 10_000.0;
            let lr = [0.1, 0.01, 0.001, 0.0001][(x >> 20) as usize % 4];
            let time = mreg::Timestamp::parse(&format!(
                "2026-{:02}-{:02}T{:02}:{:02}:00Z",
                1 + i % 12,
                1 + i % 28,
                i % 24,
                i % 60
            ))
            .unwrap();
            let info = MoveInfo {
                time: time.clone(),
                author: "bench".into(),
                message: String::new(),
            };
            let id = mreg::internals::append_commit_for_benchmarks(&repo, &model, info, |head| {
                Commit {
                    format: COMMIT_FORMAT,
                    model: model.clone(),
                    parents: head.into_iter().collect(),
                    message: format!("run {i}"),
                    author: "bench".into(),
                    created_at: time.clone(),
                    files: vec![],
                    params: serde_json::json!({"lr": lr, "batch": 32 << (i % 3), "opt": {"name": "adam"}}),
                    metrics: BTreeMap::from([("acc".to_string(), acc), ("loss".to_string(), 1.0 - acc)]),
                    datasets: vec![],
                    labels: vec![],
                    environment: Environment::default(),
                    git: None,
                    derived_from: vec![],
                    recipe: None,
                    roots: vec![],
                    unsafe_pickles: vec![],
                }
            })
            .unwrap();
            if i % 100 == 7 {
                let info = MoveInfo {
                    time: time.clone(),
                    author: "bench".into(),
                    message: "ship".into(),
                };
                mreg::refs::promote(&repo, &model, Some(id), None, info).unwrap();
            }
            if i % 50 == 0 {
                let note = serde_json::json!({"kind": "evaluation", "commit": id, "dataset": "holdout",
                    "metrics": {"f1": acc * 0.9}, "time": time.to_string(), "author": "bench", "message": ""});
                let info = MoveInfo {
                    time,
                    author: "bench".into(),
                    message: String::new(),
                };
                mreg::notes::add(&repo, &id, &note, info).unwrap();
            }
        }
    }
    let build = t.elapsed().as_secs_f64();
    if std::env::var_os("MREG_SCALE_KEEP").is_some() {
        println!("the store is kept at {}", dir.path().display());
    }
    mreg::internals::set_durable_for_benchmarks_only(true);
    let q = [
        "list",
        "--where",
        "metrics.acc >= 0.9 and (params.lr < 0.01 or eval.holdout.f1 > 0.85)",
        "--sort",
        "-metrics.acc",
        "--limit",
        "20",
    ];
    // Side by side with another build (MREG_SCALE_COMPARE_BIN, e.g. the previous main): in
    // two rounds, each binary's first run (re)builds its own query index, then 5 warm runs.
    if let Ok(other) = std::env::var("MREG_SCALE_COMPARE_BIN") {
        let this = env!("CARGO_BIN_EXE_mreg").to_string();
        let mut warm: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
        for _round in 0..2 {
            for (name, bin) in [("other", other.as_str()), ("this", this.as_str())] {
                for i in 0..6 {
                    let t = Instant::now();
                    let out = Command::new(bin)
                        .args(q)
                        .current_dir(dir.path())
                        .output()
                        .unwrap();
                    assert!(
                        out.status.success(),
                        "{}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                    if i > 0 {
                        warm.entry(name)
                            .or_default()
                            .push(t.elapsed().as_secs_f64());
                    }
                }
            }
        }
        let (o, t) = (median(warm["other"].clone()), median(warm["this"].clone()));
        println!(
            "  side by side, warm list (median of 10 each): other {o:.3} s, this {t:.3} s, ratio {:.2}",
            t / o
        );
    }
    let (noindex, out) = time_cmd(dir.path(), &q);
    let warm: Vec<f64> = (0..7).map(|_| time_cmd(dir.path(), &q).0).collect();
    // Cold: the index on disk, nothing in the page cache (needs root; else not measured).
    let drop_caches = || {
        Command::new("sync").status().ok();
        std::fs::write("/proc/sys/vm/drop_caches", "3").is_ok()
    };
    let cold: Vec<f64> = (0..3)
        .filter(|_| drop_caches())
        .map(|_| time_cmd(dir.path(), &q).0)
        .collect();
    // A model other than model-0 (which the runs after a commit change), where there is one.
    let probe = format!("model-{}", 3.min(models - 1));
    let at_production = format!("{probe}@production");
    let show: Vec<f64> = (0..7)
        .map(|_| time_cmd(dir.path(), &["show", &at_production, "--json"]).0)
        .collect();
    let history: Vec<f64> = (0..7)
        .map(|_| {
            time_cmd(
                dir.path(),
                &[
                    "history",
                    &probe,
                    "--alias",
                    "production",
                    "--at",
                    "2026-06-15T00:00:00Z",
                ],
            )
            .0
        })
        .collect();
    let (_, all) = time_cmd(
        dir.path(),
        &[
            "list",
            "--json",
            "--where",
            "metrics.acc >= 0.9 and (params.lr < 0.01 or eval.holdout.f1 > 0.85)",
        ],
    );
    let matched = serde_json::from_str::<serde_json::Value>(&all)
        .unwrap()
        .as_array()
        .unwrap()
        .len();
    // After one more commit the model's index is stale: rows of known commits are reused.
    let after: Vec<f64> = (0..5)
        .map(|i| {
            std::fs::write(dir.path().join("w.bin"), format!("weights {i}")).unwrap();
            time_cmd(
                dir.path(),
                &[
                    "commit", "-q", "w.bin", "--model", "model-0", "--metric", "acc=0.5",
                ],
            );
            time_cmd(dir.path(), &q).0
        })
        .collect();
    let best: Vec<f64> = (0..7)
        .map(|_| time_cmd(dir.path(), &["best", &probe, "--metric", "acc"]).0)
        .collect();
    println!("registry_scale: {total} commits in {models} models (fixture built in {build:.1} s, fsync off)");
    println!("  list --where ... --sort -metrics.acc --limit 20: no index (built) {noindex:.3} s, warm median {:.3} s (min {:.3}, max {:.3}, n=7); {matched} versions match",
        median(warm.clone()), warm.iter().cloned().fold(f64::MAX, f64::min), warm.iter().cloned().fold(0.0, f64::max));
    if cold.is_empty() {
        println!("  the same, cold: not measured (the page cache cannot be dropped here)");
    } else {
        println!(
            "  the same, cold (index on disk, page cache dropped): median {:.3} s (n={})",
            median(cold.clone()),
            cold.len()
        );
    }
    println!(
        "  show {at_production} --json: warm median {:.4} s (n=7)",
        median(show)
    );
    println!(
        "  history {probe} --alias production --at DATE: warm median {:.4} s (n=7)",
        median(history)
    );
    println!(
        "  the same list right after a new commit to model-0 ({} versions): median {:.3} s (n=5)",
        total / models,
        median(after)
    );
    println!(
        "  best {probe} --metric acc: warm median {:.3} s (n=7)",
        median(best)
    );
    print!(
        "{}",
        out.lines()
            .take(3)
            .map(|l| format!("  | {l}\n"))
            .collect::<String>()
    );
    // Dashboard pages, server time (`web::handle`, what `mreg ui` runs per request), on a
    // fresh Repo (as a new `mreg ui` process: nothing cached in memory) and then warm.
    println!("  dashboard pages (server time; first request on a fresh Repo, then median of 7):");
    let head = repo.resolve("model-0").unwrap().to_hex();
    for target in [
        "/".to_string(),
        "/model/model-0".to_string(),
        "/model/model-0?where=metrics.acc+%3E%3D+0.9+and+params.lr+%3C+0.01".to_string(),
        format!("/version/{head}"),
        "/compare?rev=model-0&rev=model-0~1&rev=model-0~2".to_string(),
        "/history/model-0?alias=production".to_string(),
    ] {
        let fresh = Repo::open(&dir.path().join(".modelreg")).unwrap();
        let t = Instant::now();
        let r = mreg::web::handle(&fresh, "GET", &target);
        let first = t.elapsed().as_secs_f64();
        assert_eq!(
            r.status,
            200,
            "{target}: {}",
            String::from_utf8_lossy(&r.body)
        );
        let warm: Vec<f64> = (0..7)
            .map(|_| {
                let t = Instant::now();
                let r = mreg::web::handle(&fresh, "GET", &target);
                assert_eq!(r.status, 200);
                t.elapsed().as_secs_f64()
            })
            .collect();
        println!(
            "    {target}: first {:.3} s, warm median {:.3} s, {} KiB",
            first,
            median(warm),
            r.body.len() / 1024
        );
    }
    if std::env::var_os("MREG_SCALE_KEEP").is_some() {
        let _ = dir.keep();
    }
}
