//! `mreg run` records the whole story of a Python job: its output log, what the job itself
//! used, every value of its metrics file, params and labels. Driven with real `python3`.

use crate::common;
use crate::common::{git, git_repo, TestRepo};

const ALLOC_MIB: u64 = 200;

fn script() -> String {
    format!(
        r#"import json, sys
buf = b"\x01" * ({ALLOC_MIB} * 2**20)      # touched, so it is resident
print("epoch 1 loss 0.5", flush=True)
print("a warning on stderr", file=sys.stderr, flush=True)
print("epoch 2 loss 0.25", flush=True)
open("model.bin", "wb").write(b"weights")
json.dump({{"acc": 0.9, "loss": float("nan"), "best": float("inf"), "model_name": "mlp",
           "curve": [0.5, 0.25], "converged": True, "nested": {{"f1": 0.8}}}},
          open("metrics.json", "w"))
"#
    )
}

#[test]
fn run_keeps_the_log_measures_the_job_and_no_metrics_value_loses_the_run() {
    let r = TestRepo::new();
    common::git(r.path(), &["init", "-q"]);
    r.write("train.py", script().as_bytes());
    common::git(r.path(), &["add", "train.py"]);
    common::git(r.path(), &["commit", "-q", "-m", "train"]);
    let out = r
        .mreg(&[
            "run",
            "--model",
            "clf",
            "--outputs",
            "model.bin",
            "--metrics-file",
            "metrics.json",
            "--param",
            "lr=0.1",
            "--param",
            "opt.name=adam",
            "--label",
            "baseline",
            "--",
            "python3",
            "train.py",
        ])
        .ok();
    // Shown live, as the job wrote it.
    assert!(out.stdout.contains("epoch 2 loss 0.25"), "{}", out.stdout);
    assert!(out.stderr.contains("a warning on stderr"), "{}", out.stderr);
    // Non-numbers are warnings, never a lost run.
    for k in ["loss", "best", "model_name", "curve", "converged"] {
        assert!(
            out.stderr.contains(&format!("metric \"{k}\"")),
            "{k}: {}",
            out.stderr
        );
    }
    let v = r.mreg(&["show", "clf", "--json"]).ok().json();
    assert_eq!(v["metrics"]["acc"], 0.9);
    assert_eq!(v["metrics"]["nested.f1"], 0.8);
    let recipe = &v["recipe"];
    assert_eq!(recipe["recorded"]["loss"], "NaN");
    assert_eq!(recipe["recorded"]["best"], "Infinity");
    assert_eq!(recipe["recorded"]["model_name"], "mlp");
    assert_eq!(recipe["recorded"]["converged"], true);
    assert_eq!(v["params"]["lr"], 0.1);
    assert_eq!(v["params"]["opt"]["name"], "adam");
    assert_eq!(v["labels"], serde_json::json!(["baseline"]));

    // The job's own peak memory (not mreg's): within 20% of what it allocated.
    let peak = recipe["resources"]["peak_rss_bytes"].as_u64().unwrap();
    let alloc = ALLOC_MIB << 20;
    assert!(
        peak as f64 >= alloc as f64 * 0.95 && (peak as f64) <= alloc as f64 * 1.2,
        "peak {peak} for {alloc} allocated"
    );
    assert!(recipe["resources"]["cpu_seconds"].as_f64().unwrap() > 0.0);
    assert!(recipe["resources"]["peak_threads"].as_u64().unwrap() >= 1);
    assert_eq!(
        recipe["system"]["threads"],
        recipe["resources"]["peak_threads"]
    );
    // GPU use was sampled, or the reason it could not be is recorded.
    let gpu = &recipe["resources"]["gpu"];
    assert!(
        gpu["unavailable"].is_string() || gpu["samples"].as_u64().unwrap() > 0,
        "{gpu}"
    );

    // The log, stdout and stderr as they came, kept through gc.
    r.mreg(&["gc"]).ok();
    let log = r.mreg(&["show", "clf", "--log"]).ok().stdout;
    // Both streams, each in its order (lines of the two streams are kept in arrival order,
    // which two pipes cannot make exact for lines written at the same instant).
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 3, "{log}");
    assert!(lines.contains(&"a warning on stderr"), "{log}");
    let pos = |l: &str| lines.iter().position(|x| *x == l).unwrap();
    assert!(pos("epoch 1 loss 0.5") < pos("epoch 2 loss 0.25"), "{log}");
    let text = r.mreg(&["show", "clf"]).ok().stdout;
    assert!(
        text.contains("peak memory") && text.contains("--log"),
        "{text}"
    );
    r.fsck_clean();

    // Replay compares outputs and metrics, not the log.
    let rep = r.mreg(&["reproduce", "clf", "--json"]).ok().json();
    assert_eq!(rep["verdict"], "identical", "{rep}");

    // A commit without a run has no log to show.
    r.write("w.bin", b"w");
    r.commit(&["w.bin", "--model", "other"]);
    let e = r.mreg(&["show", "other", "--log"]).fails();
    assert!(e.stderr.contains("no output log"), "{}", e.stderr);
}

#[test]
fn an_unreadable_metrics_file_after_the_run_commits_without_metrics_and_says_so() {
    let r = TestRepo::new();
    r.write(
        "job.sh",
        b"echo done; echo w > model.bin; echo '{\"acc\": ' > metrics.json\n",
    );
    let out = r
        .mreg(&[
            "run",
            "--model",
            "m",
            "--outputs",
            "model.bin",
            "--metrics-file",
            "metrics.json",
            "--",
            "sh",
            "job.sh",
        ])
        .ok();
    assert!(
        out.stderr.contains("committed without metrics"),
        "{}",
        out.stderr
    );
    let v = r.mreg(&["show", "m", "--json"]).ok().json();
    assert_eq!(v["metrics"], serde_json::json!({}));
    assert_eq!(r.mreg(&["show", "m", "--log"]).ok().stdout, "done\n");
}

/// A distribution importlib.metadata finds on PYTHONPATH, at `version`.
fn fake_package(dir: &std::path::Path, version: &str) {
    let info = dir.join("mregfakepkg.dist-info");
    std::fs::create_dir_all(&info).unwrap();
    std::fs::write(
        info.join("METADATA"),
        format!("Metadata-Version: 2.1\nName: mregfakepkg\nVersion: {version}\n"),
    )
    .unwrap();
}

#[test]
fn a_python_run_records_its_interpreter_and_packages_and_replay_reports_drift() {
    let r = TestRepo::new();
    common::git(r.path(), &["init", "-q"]);
    r.write(
        "train.py",
        b"open('model.bin', 'w').write('w')\nprint('trained')\n",
    );
    common::git(r.path(), &["add", "train.py"]);
    common::git(r.path(), &["commit", "-q", "-m", "train"]);
    let site = tempfile::tempdir().unwrap();
    fake_package(site.path(), "1.0");
    let env = [("PYTHONPATH", site.path().to_str().unwrap())];
    r.mreg_env(
        &[
            "run",
            "--model",
            "py",
            "--outputs",
            "model.bin",
            "--",
            "python3",
            "train.py",
        ],
        &env,
    )
    .ok();
    let v = r.mreg(&["show", "py", "--json"]).ok().json();
    let py = &v["recipe"]["python"];
    assert!(py["version"].as_str().unwrap().starts_with('3'), "{py}");
    assert_eq!(py["packages"]["mregfakepkg"], "1.0", "{py}");
    assert!(r.mreg(&["show", "py"]).ok().stdout.contains("Python: 3."));

    // Same environment: no package drift. Upgraded: the package is named, then and now.
    let rep = r.mreg_env(&["reproduce", "py", "--json"], &env).ok().json();
    let drift = rep["drift"].to_string();
    assert!(!drift.contains("mregfakepkg"), "{drift}");
    std::fs::remove_dir_all(site.path().join("mregfakepkg.dist-info")).unwrap();
    fake_package(site.path(), "2.0");
    let rep = r.mreg_env(&["reproduce", "py", "--json"], &env).ok().json();
    assert_eq!(rep["verdict"], "identical");
    let drift = rep["drift"].as_array().unwrap();
    assert!(
        drift
            .iter()
            .any(|d| d[0] == "python package mregfakepkg" && d[1] == "1.0" && d[2] == "2.0"),
        "{drift:?}"
    );
}

#[test]
fn dvclive_plots_and_a_json_lines_history_become_curves() {
    let r = TestRepo::new();
    r.write(
        "train.py",
        br#"import json, os
os.makedirs("dvclive/plots/metrics/train", exist_ok=True)
json.dump({"acc": 0.8, "step": 2}, open("dvclive/metrics.json", "w"))
with open("dvclive/plots/metrics/loss.tsv", "w") as f:
    f.write("timestamp\tstep\tloss\n1\t0\t0.9\n2\t1\t0.5\n3\t2\t0.6\n")
with open("dvclive/plots/metrics/train/acc.tsv", "w") as f:
    f.write("timestamp\tstep\tacc\n1\t0\t0.5\n2\t1\t0.7\n3\t2\t0.8\n")
with open("history.jsonl", "w") as f:
    for e, v in enumerate([2.0, float("nan"), 1.0, 1.5]):
        f.write(json.dumps({"epoch": e, "val_loss": v}) + "\n")
open("model.bin", "w").write("w")
"#,
    );
    r.mreg(&[
        "run",
        "--model",
        "live",
        "--outputs",
        "model.bin",
        "--metrics-file",
        "dvclive/metrics.json",
        "--metrics-history",
        "history.jsonl",
        "--",
        "python3",
        "train.py",
    ])
    .ok();
    let v = r.mreg(&["show", "live", "--json"]).ok().json();
    let summary = &v["recipe"]["curves"]["summary"];
    assert_eq!(summary["loss"]["best"], 0.5, "{summary}");
    assert_eq!(summary["loss"]["best_step"], 1.0);
    assert_eq!(summary["loss"]["last"], 0.6);
    assert_eq!(summary["train.acc"]["best"], 0.8);
    assert_eq!(summary["train.acc"]["goal"], "max");
    assert_eq!(summary["val_loss"]["points"], 4);
    assert_eq!(summary["val_loss"]["best"], 1.0, "NaN is a gap, not a best");
    assert_eq!(v["curves"]["val_loss"][1], serde_json::json!([1.0, null]));
    assert_eq!(v["curves"]["train.acc"].as_array().unwrap().len(), 3);
    assert_eq!(v["metrics"]["acc"], 0.8);
    let text = r.mreg(&["show", "live"]).ok().stdout;
    assert!(
        text.contains("Curves") && text.contains("loss: 3 points"),
        "{text}"
    );
    r.mreg(&["gc"]).ok();
    r.fsck_clean();
    r.mreg(&["show", "live", "--json"]).ok();
}

#[test]
fn untracked_scripts_are_named_before_the_run_and_include_untracked_makes_replay_work() {
    let r = TestRepo::new();
    common::git(r.path(), &["init", "-q"]);
    r.write(".gitignore", b"out/\n.modelreg/\n");
    common::git(r.path(), &["add", ".gitignore"]);
    common::git(r.path(), &["commit", "-q", "-m", "init"]);
    // Neither the script nor the module it imports is in git; the output directory is
    // ignored, so it is not in the recorded tree either.
    r.write("helpers.py", b"def weights():\n    return 'w1'\n");
    r.write(
        "train.py",
        b"import helpers\nopen('out/model.bin', 'w').write(helpers.weights())\n",
    );
    // The job expects out/ to exist; a replay from the recorded tree must create it.
    std::fs::create_dir_all(r.path().join("out")).unwrap();
    let run = |extra: &[&str]| {
        let mut a = vec!["run", "--model", "m", "--outputs", "out/model.bin"];
        a.extend_from_slice(extra);
        a.extend_from_slice(&["--", "python3", "train.py"]);
        r.mreg(&a).ok()
    };
    let out = run(&[]);
    assert!(
        out.stderr
            .contains("warning: train.py is not tracked by git (the command names it)"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("warning: helpers.py is not tracked by git"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("--include-untracked"), "{}", out.stderr);
    // As warned: the recorded code lacks the script.
    let rep = r.mreg(&["reproduce", "m"]);
    assert_eq!(rep.code, 1, "{}", rep.describe());
    assert!(
        rep.stderr.contains("can't open file")
            && rep.stderr.contains("error: the recorded command failed"),
        "{}",
        rep.stderr
    );

    let out = run(&["--include-untracked"]);
    assert!(!out.stderr.contains("not tracked by git"), "{}", out.stderr);
    let v = r.mreg(&["show", "m", "--json"]).ok().json();
    let inc = v["git"]["untracked_included"].as_array().unwrap();
    assert!(
        inc.contains(&"train.py".into()) && inc.contains(&"helpers.py".into()),
        "{v}"
    );
    let rep = r.mreg(&["reproduce", "m", "--json"]).ok().json();
    assert_eq!(rep["verdict"], "identical", "{rep}");
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
