//! Training with burn, evaluation, `mreg run`, and reproduction verdicts, driving the real
//! binary (each training in its own process: burn's seed is process-global).
#![cfg(feature = "train")]

use crate::common::{git, TestRepo};

fn weights_b3(v: &serde_json::Value) -> String {
    v["files"][0]["blake3"].as_str().unwrap().to_string()
}

#[test]
fn same_config_and_seed_give_identical_weights_and_reproduce_says_so() {
    let r = TestRepo::new();
    let a = r.mreg(&["train", "--example", "--json", "-q"]).ok().json();
    let b = r.mreg(&["train", "--example", "--json", "-q"]).ok().json();
    assert_eq!(weights_b3(&a), weights_b3(&b), "byte-identical weights");
    assert_eq!(a["metrics"], b["metrics"]);
    let recipe = &a["recipe"];
    assert_eq!(recipe["kind"], "train");
    assert_eq!(recipe["epochs"].as_array().unwrap().len(), 15);
    assert_eq!(recipe["seed"], 42);
    assert_eq!(recipe["backend"], "ndarray-cpu");
    let gpu = &recipe["system"]["gpu"];
    assert!(
        gpu["devices"].as_array().is_some_and(|d| !d.is_empty()) || gpu["unavailable"].is_string(),
        "NVML absent is recorded, not an error: {gpu}"
    );
    assert!(a["metrics"]["val_accuracy"].as_f64().unwrap() > 0.8);
    assert_eq!(
        a["datasets"][0]["stored"].as_array().unwrap().len(),
        1,
        "data stored"
    );

    // The dataset file can go: reproduce uses the stored copy.
    std::fs::remove_file(r.path().join("mreg-example/flowers.csv")).unwrap();
    let id = a["id"].as_str().unwrap();
    let rep = r.mreg(&["reproduce", id, "--json", "-q"]).ok().json();
    assert_eq!(rep["verdict"], "identical");
    assert_eq!(rep["files"][0]["reproduced"], rep["files"][0]["recorded"]);

    // Another seed: different, with metric deltas; exit code 2.
    let out = r.mreg(&["reproduce", id, "--set", "seed=7", "--json", "-q"]);
    assert_eq!(
        out.code,
        3,
        "different exits 3 (2 is a usage error): {}",
        out.describe()
    );
    let rep = out.json();
    assert_eq!(rep["verdict"], "different");
    assert!(rep["metrics"]
        .as_object()
        .unwrap()
        .values()
        .any(|m| m["delta"].as_f64().is_some_and(|d| d != 0.0)));
    // Both verdicts are notes on the commit.
    let show = r.mreg(&["show", id]).ok().stdout;
    assert!(show.contains("reproduction: identical"), "{show}");
    assert!(show.contains("reproduction: different"), "{show}");
    assert!(
        show.contains("Training: models/example.safetensors"),
        "{show}"
    );
    r.fsck_clean();
}

#[test]
fn eval_scores_stored_weights_on_new_data_and_attaches_the_result() {
    let r = TestRepo::new();
    let id = r.mreg(&["train", "--example", "--json", "-q"]).ok().json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let csv = std::fs::read_to_string(r.path().join("mreg-example/flowers.csv")).unwrap();
    let holdout: String = csv.lines().take(61).map(|l| format!("{l}\n")).collect();
    r.write("holdout.csv", holdout.as_bytes());
    std::fs::remove_file(r.path().join("models/example.safetensors")).unwrap();
    let e = r
        .mreg(&["eval", "example", "--data", "holdout.csv", "--json"])
        .ok()
        .json();
    assert_eq!(e["dataset"], "holdout");
    let acc = e["metrics"]["accuracy"].as_f64().unwrap();
    assert!((0.8..=1.0).contains(&acc), "{acc}");
    let list = r
        .mreg(&["list", "--where", "eval.holdout.accuracy > 0.5", "--json"])
        .ok()
        .json();
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    let shown = r.mreg(&["show", "example", "--json"]).ok().json();
    assert_eq!(shown["id"], id.as_str());
    // The epochs as curves, in the format of a run's curves: [epoch, value] per point.
    let epochs = shown["recipe"]["epochs"].as_array().unwrap().len();
    assert_eq!(
        shown["curves"]["val_loss"].as_array().unwrap().len(),
        epochs
    );
    assert_eq!(shown["curves"]["train_loss"][0][0], 1.0);
    // A CSV without the model's columns is a clear error.
    r.write("bad.csv", b"a,b\n1,2\n");
    let err = r
        .mreg(&["eval", "example", "--data", "bad.csv"])
        .fails()
        .stderr;
    assert!(err.contains("no column"), "{err}");
}

fn config(r: &TestRepo, extra: &str) -> String {
    r.write(
        "data.csv",
        b"x1,x2,y\n0.1,0.2,a\n0.9,0.8,b\n0.2,0.1,a\n0.8,0.9,b\n0.15,0.25,a\n0.85,0.75,b\n",
    );
    let text = format!(
        "name: m\ntask: classification\ndata: {{path: data.csv, target: y, validation_split: 0.34}}\nepochs: 3\nbatch_size: 2\nseed: 1\n{extra}"
    );
    r.write("train.yaml", text.as_bytes());
    "train.yaml".into()
}

#[test]
fn training_failures_are_clear_and_commit_nothing() {
    let r = TestRepo::new();
    let cfg = config(&r, "");
    let before = r.snapshot();
    /// (extra args, expected error text, a file to overwrite first)
    type Case<'a> = (Vec<&'a str>, &'a str, Option<(&'a str, &'a [u8])>);
    let cases: Vec<Case> = vec![
        (vec!["--set", "optimizer.lrr=0.1"], "lrr", None),
        (vec!["--set", "epochs=0"], "epochs", None),
        (
            vec!["--set", "data.target=nope"],
            "no column \"nope\"",
            None,
        ),
        (
            vec![],
            "not a number",
            Some(("data.csv", b"x1,x2,y\n0.1,zero,a\n0.9,0.8,b\n0.3,0.3,a\n")),
        ),
        (vec![], "no rows", Some(("data.csv", b"x1,x2,y\n"))),
        (
            vec![],
            "cannot parse training config",
            Some(("train.yaml", b"task: [unclosed\n")),
        ),
        (
            vec![],
            "missing field `data`",
            Some(("train.yaml", b"task: classification\n")),
        ),
    ];
    for (args, want, file) in cases {
        let _ = config(&r, "");
        if let Some((f, bytes)) = file {
            r.write(f, bytes);
        }
        let mut a = vec!["train", cfg.as_str()];
        a.extend(args);
        let err = r.mreg(&a).fails().stderr;
        assert!(err.contains(want), "{a:?}: want {want:?} in {err}");
        assert_eq!(r.snapshot(), before, "{a:?} changed the store");
    }
    // Diverging training (NaN/inf loss) stops with a hint.
    let _ = config(&r, "");
    let err = r
        .mreg(&[
            "train",
            &cfg,
            "--set",
            "optimizer.name=sgd",
            "--set",
            "optimizer.lr=1e30",
            "--set",
            "data.normalize=false",
        ])
        .fails()
        .stderr;
    assert!(err.contains("diverged"), "{err}");
    assert_eq!(r.snapshot(), before);
    assert!(!r.path().join("models/m.safetensors").exists());
}

#[test]
fn a_killed_training_leaves_no_commit_and_a_clean_store() {
    let r = TestRepo::new();
    // Writes the example files. Like `commit`: the id alone on stdout, nothing on stderr
    // with -q (regression: train printed its summary on stdout and ignored -q).
    let out = r.mreg(&["train", "--example", "-q"]).ok();
    assert_eq!(out.stdout.trim().len(), 64, "{}", out.describe());
    assert!(out.stderr.is_empty(), "{}", out.describe());
    let before = r.chain("example");
    let mut child = r
        .command(&["train", "--example", "--set", "epochs=5000", "-q"])
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(700));
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(r.chain("example"), before, "nothing half-committed");
    r.fsck_clean();
}

#[test]
fn a_run_commit_reproduces_from_the_recorded_code_and_data() {
    let r = TestRepo::bare();
    git(r.path(), &["init", "-q", "-b", "main"]);
    // A "training" script: reads params and data, writes a model and metrics.
    let script = "#!/bin/sh\nset -e\nscale=$(sed -n 's/^scale: //p' params.yaml)\nmkdir -p out\n\
                  { echo \"scale=$scale\"; cat data/train.csv; } | sha256sum > out/model.txt\n\
                  echo \"{\\\"loss\\\": 0.$scale}\" > metrics.json\n";
    r.write("train.sh", script.as_bytes());
    r.write("params.yaml", b"scale: 5\n");
    git(r.path(), &["add", "train.sh", "params.yaml"]);
    git(r.path(), &["commit", "-qm", "code"]);
    r.mreg(&["init"]).ok();
    // Uncommitted change to the code: the stored patch must carry it.
    r.write(
        "train.sh",
        format!("{script}echo tuned >> out/model.txt\n").as_bytes(),
    );
    r.write("data/train.csv", b"a,b\n1,2\n");
    let c = r
        .mreg(&[
            "run",
            "--model",
            "shell",
            "--outputs",
            "out/model.txt",
            "--metrics-file",
            "metrics.json",
            "--params-file",
            "params.yaml",
            "--dataset",
            "train=data/train.csv",
            "--json",
            "--",
            "sh",
            "train.sh",
        ])
        .ok()
        .json();
    assert_eq!(c["metrics"]["loss"], 0.5);
    assert_eq!(c["params"]["scale"], 5);
    assert_eq!(c["recipe"]["kind"], "run");
    assert_eq!(c["git"]["dirty"], true);
    let id = c["id"].as_str().unwrap();
    // The data and the script change may go away: reproduce rebuilds both.
    std::fs::remove_file(r.path().join("data/train.csv")).unwrap();
    git(r.path(), &["checkout", "-q", "train.sh"]);
    let rep = r.mreg(&["reproduce", id, "--json"]).ok().json();
    assert_eq!(rep["verdict"], "identical", "{rep}");
    // A failing command commits nothing.
    let before = r.chain("shell");
    r.mreg(&["run", "--model", "shell", "--outputs", "x", "--", "false"])
        .fails();
    assert_eq!(r.chain("shell"), before);
}
