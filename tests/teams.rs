//! Issue 24 (teams train in parallel): `promote` and `rollback` with `--expect`
//! (compare-and-swap on production), locally and through a remote; runs checked before the
//! job starts and kept when they fail; settings that travel. Sibling versions and their
//! numbers are in `parallel.rs`.

use std::process::Stdio;

use crate::common::{noise, production, TestRepo};

fn versions(r: &TestRepo, n: u64) -> Vec<String> {
    (0..n)
        .map(|i| {
            r.write("m.bin", &noise(1000, i));
            r.commit(&["m.bin", "--model", "m", "-q"])
        })
        .collect()
}

#[test]
fn promote_and_rollback_expect_refuse_a_wrong_production_and_change_nothing() {
    let r = TestRepo::new();
    let v = versions(&r, 3);
    // No production yet: `none` holds, a revision does not.
    let e = r.mreg(&["promote", "m", &v[0], "--expect", &v[1]]).fails();
    assert!(e.stderr.contains("production"), "{}", e.describe());
    r.mreg(&["promote", "m", &v[0], "--expect", "none", "-m", "first"])
        .ok();
    let before = r.snapshot();
    let e = r.mreg(&["promote", "m", &v[2], "--expect", &v[1]]).fails();
    assert!(
        e.stderr.contains(&v[1][..12]) && e.stderr.contains(&v[0][..12]),
        "names what was expected and what is: {}",
        e.describe()
    );
    let e = r.mreg(&["rollback", "m", "--expect", &v[1]]).fails();
    assert!(e.stderr.contains("production"), "{}", e.describe());
    assert_eq!(r.snapshot(), before, "a refused move changed the store");
    r.mreg(&["promote", "m", &v[1], "--expect", "m@production"])
        .ok();
    assert_eq!(production(&r), v[1]);
    r.mreg(&["rollback", "m", "--expect", &v[1]]).ok();
    assert_eq!(production(&r), v[0]);
}

#[test]
fn of_four_concurrent_promotes_expecting_the_same_production_exactly_one_wins() {
    let r = TestRepo::new();
    let v = versions(&r, 5);
    r.mreg(&["promote", "m", &v[0]]).ok();
    let racers: Vec<_> = (1..5)
        .map(|i| {
            r.command(&[
                "promote",
                "m",
                &v[i],
                "--expect",
                &v[0],
                "-m",
                &format!("racer {i}"),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
        })
        .collect();
    let outcomes: Vec<bool> = racers
        .into_iter()
        .map(|c| c.wait_with_output().unwrap().status.success())
        .collect();
    assert_eq!(outcomes.iter().filter(|ok| **ok).count(), 1, "{outcomes:?}");
    let winner = outcomes.iter().position(|ok| *ok).unwrap() + 1;
    assert_eq!(production(&r), v[winner]);
    let rb = r.mreg(&["show", "m@rollback", "--json"]).ok().json();
    assert_eq!(rb["id"], v[0]);
}

#[test]
fn a_promote_expecting_a_production_that_moved_on_the_remote_is_refused_at_push() {
    let remote = tempfile::tempdir().unwrap();
    let url = remote.path().to_str().unwrap().to_string();
    let a = TestRepo::new();
    let v = versions(&a, 3);
    a.mreg(&["promote", "m", &v[0]]).ok();
    a.mreg(&["remote", "add", "origin", &url]).ok();
    a.mreg(&["push"]).ok();
    let b = TestRepo::bare();
    b.mreg(&["clone", &url, "."]).ok();
    a.mreg(&["promote", "m", &v[1], "--expect", &v[0], "-m", "A"])
        .ok();
    a.mreg(&["push"]).ok();
    // B saw production = v0 too: its promote holds locally, and loses at the remote.
    b.mreg(&["promote", "m", &v[2], "--expect", &v[0], "-m", "B"])
        .ok();
    let e = b.mreg(&["push"]).fails();
    assert!(e.stderr.contains("moved on the remote"), "{}", e.describe());
    b.mreg(&["pull"]).ok();
    assert_eq!(production(&b), v[1]);
    assert_eq!(production(&a), v[1]);
}

/// Issue 24: `mreg run` checks everything its commit will record before the job starts; a
/// typo in a label used to be found after the training, which was then lost.
#[test]
fn run_refuses_a_bad_label_dataset_or_path_before_the_job_runs() {
    let r = TestRepo::new();
    r.write("data.csv", b"x\n1\n");
    for (extra, why) in [
        (vec!["--label", "bad:label"], "label"),
        (vec!["--dataset", "a b=data.csv"], "dataset"),
        (
            vec!["--dataset", "train=data.csv", "--dataset", "train=data.csv"],
            "twice",
        ),
        (vec!["--metrics-file", "../outside.json"], "outside"),
        (vec!["--outputs", "ckpt/[x"], "ckpt/[x"),
    ] {
        let _ = std::fs::remove_file(r.path().join("ran"));
        let mut args = vec!["run", "--model", "m", "--outputs", "model.bin"];
        args.extend(extra.iter().copied());
        args.extend(["--", "sh", "-c", "touch ran; echo w > model.bin"]);
        let e = r.mreg(&args).fails();
        assert!(e.stderr.contains(why), "{why}: {}", e.describe());
        assert!(
            !r.path().join("ran").exists(),
            "{why}: the job ran before the refusal"
        );
    }
    // The same run without the mistakes goes through.
    r.mreg(&[
        "run",
        "--model",
        "m",
        "--outputs",
        "model.bin",
        "--label",
        "good",
        "--",
        "sh",
        "-c",
        "touch ran; echo w > model.bin",
    ])
    .ok();
    assert!(r.path().join("ran").exists());
}

/// Issue 24: `latest` reads as a pointer the registry moves; an alias by that name would lie
/// after the next commit. It is refused, as `head` is (MODEL means the latest version).
#[test]
fn an_alias_named_latest_is_refused_and_says_what_to_use() {
    let r = TestRepo::new();
    let v = versions(&r, 1);
    for name in ["latest", "head"] {
        let e = r.mreg(&["alias", "set", "m", name, &v[0]]).fails();
        assert!(e.stderr.contains("reserved"), "{}", e.describe());
    }
}

/// Issue 24: labels filter by several values (a version must have all), and archived
/// versions can be listed alone.
#[test]
fn list_filters_by_several_labels_and_lists_archived_versions_alone() {
    let r = TestRepo::new();
    let mut ids = Vec::new();
    for (i, labels) in [vec!["sweep", "gpu"], vec!["sweep"], vec!["gpu"]]
        .iter()
        .enumerate()
    {
        r.write("m.bin", &noise(1000, i as u64));
        let mut args = vec!["m.bin", "--model", "m", "-q"];
        for l in labels {
            args.extend(["--label", l]);
        }
        ids.push(r.commit(&args));
    }
    let listed = |args: &[&str]| -> Vec<String> {
        let mut a = vec!["list", "--json"];
        a.extend_from_slice(args);
        r.mreg(&a)
            .ok()
            .json()
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        listed(&["--label", "sweep", "--label", "gpu"]),
        vec![ids[0].clone()]
    );
    assert_eq!(listed(&["--label", "gpu"]).len(), 2);
    r.mreg(&["archive", &ids[1]]).ok();
    assert_eq!(listed(&["--only-archived"]), vec![ids[1].clone()]);
    assert_eq!(listed(&[]).len(), 2);
    assert_eq!(listed(&["--archived"]).len(), 3);
    // The same in the query language: a filter on `archived` sees archived versions
    // without --archived; `labels ==` tests membership.
    assert_eq!(
        listed(&["--where", "archived == true"]),
        vec![ids[1].clone()]
    );
    assert_eq!(
        listed(&["--where", "labels == sweep and archived == false"]),
        vec![ids[0].clone()]
    );
}

/// Issue 24: the promotion policy is part of the model's history, so it travels. Set on A,
/// a better version committed on B becomes candidate on B, and on A after a pull; `best`
/// and the policy agree on every store.
#[test]
fn a_policy_set_on_one_machine_marks_candidates_committed_on_another() {
    let remote = tempfile::tempdir().unwrap();
    let url = remote.path().to_str().unwrap().to_string();
    let a = TestRepo::new();
    // Set before the first commit: that commit records it.
    a.mreg(&["policy", "m", "--metric", "acc", "--max"]).ok();
    a.write("m.bin", &noise(1000, 1));
    let v1 = a.commit(&["m.bin", "--model", "m", "-q", "--metric", "acc=0.5"]);
    a.mreg(&["promote", "m", &v1]).ok();
    a.mreg(&["remote", "add", "origin", &url]).ok();
    a.mreg(&["push"]).ok();
    let b = TestRepo::bare();
    b.mreg(&["clone", &url, "."]).ok();
    let p = b.mreg(&["policy", "m", "--json"]).ok().json();
    assert_eq!(p["policy"]["metric"], "acc", "{p}");
    b.write("m.bin", &noise(1000, 2));
    let v2 = b.commit(&["m.bin", "--model", "m", "-q", "--metric", "acc=0.9"]);
    let cand = b.mreg(&["show", "m@candidate", "--json"]).ok().json();
    assert_eq!(cand["id"], v2, "B marks its better version candidate");
    b.mreg(&["push"]).ok();
    a.mreg(&["pull"]).ok();
    for s in [&a, &b] {
        assert_eq!(
            s.mreg(&["show", "m@candidate", "--json"]).ok().json()["id"],
            v2
        );
        assert_eq!(s.mreg(&["show", "m@best", "--json"]).ok().json()["id"], v2);
    }
    // A changes the policy (lower is better now, on a new key); B takes it with a pull.
    a.mreg(&[
        "policy",
        "m",
        "--metric",
        "loss",
        "--min",
        "-m",
        "rank by loss",
    ])
    .ok();
    let h = a.mreg(&["history", "m"]).ok().stdout;
    assert!(h.contains("rank by loss"), "{h}");
    a.mreg(&["push"]).ok();
    b.mreg(&["pull"]).ok();
    let p = b.mreg(&["policy", "m", "--json"]).ok().json();
    assert_eq!(p["policy"]["metric"], "loss", "{p}");
    assert_eq!(p["policy"]["goal"], "min", "{p}");
    a.mreg(&["policy", "m", "--clear"]).ok();
    a.mreg(&["push"]).ok();
    b.mreg(&["pull"]).ok();
    let p = b.mreg(&["policy", "m", "--json"]).ok().json();
    assert!(p["policy"].is_null(), "{p}");
}

fn runs_json(r: &TestRepo, args: &[&str]) -> Vec<serde_json::Value> {
    let mut a = vec!["runs", "--json"];
    a.extend_from_slice(args);
    r.mreg(&a).ok().json().as_array().unwrap().clone()
}

/// Issue 24: a job that fails is kept as a run (status, exit code, command, labels, log),
/// listed beside the runs that made versions; it is not a version.
#[test]
fn a_job_exiting_3_is_listed_as_a_failed_run_with_its_log() {
    let r = TestRepo::new();
    let e = r.mreg(&[
        "run",
        "--model",
        "m",
        "--outputs",
        "model.bin",
        "--label",
        "sweep-1",
        "--param",
        "lr=0.3",
        "--",
        "sh",
        "-c",
        "echo epoch 1; echo diverged >&2; exit 3",
    ]);
    // The job's own stderr comes first (live), then mreg's error.
    assert_eq!(e.code, 1, "{}", e.describe());
    assert!(
        e.stderr.contains("error: the command failed (exit code 3)")
            && e.stderr.contains("mreg runs show"),
        "{}",
        e.stderr
    );
    r.mreg(&[
        "run",
        "--model",
        "m",
        "--outputs",
        "ckpt/*.bin",
        "--",
        "sh",
        "-c",
        "mkdir -p ckpt; echo a > ckpt/a.bin; echo b > ckpt/b.bin",
    ])
    .ok();
    let runs = runs_json(&r, &["m"]);
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert_eq!(runs[0]["status"], "succeeded");
    assert_eq!(runs[0]["version_number"], 1);
    let failed = &runs[1];
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["exit_code"], 3);
    assert!(failed["version"].is_null());
    let id = failed["id"].as_str().unwrap();
    // Both streams, whole lines (their order across the two pipes is the arrival order).
    let lines = |s: String| {
        let mut l: Vec<String> = s.lines().map(String::from).collect();
        l.sort();
        l
    };
    let log = r.mreg(&["runs", "show", &id[..10], "--log"]).ok().stdout;
    assert_eq!(lines(log), ["diverged", "epoch 1"]);
    // The dashboard's model page lists it, marked, with a link to the same log (issue 27).
    let repo = mreg::Repo::discover(r.path()).unwrap();
    let page = mreg::web::handle(&repo, "GET", "/model/m");
    let page = String::from_utf8_lossy(&page.body);
    assert!(
        page.contains("Runs without a version") && page.contains("failed"),
        "{page}"
    );
    assert!(
        page.contains(&format!(r#"<a href="/run/{id}/log">log</a>"#)),
        "{page}"
    );
    let served = mreg::web::handle(&repo, "GET", &format!("/run/{id}/log"));
    assert_eq!(served.status, 200);
    assert_eq!(
        lines(String::from_utf8(served.body).unwrap()),
        ["diverged", "epoch 1"]
    );
    let shown = r.mreg(&["runs", "show", &id[..10], "--json"]).ok().json();
    assert_eq!(shown["record"]["labels"], serde_json::json!(["sweep-1"]));
    assert_eq!(shown["record"]["params"]["lr"], 0.3);
    // The glob took both checkpoints; the failed run is no version.
    let v = r.mreg(&["show", "m#1", "--json"]).ok().json();
    assert_eq!(v["files"].as_array().unwrap().len(), 2, "{v}");
    assert_eq!(
        r.mreg(&["list", "--model", "m", "--json"])
            .ok()
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // An output glob that matches nothing: the job ran, the run is kept as uncommitted.
    let e = r
        .mreg(&[
            "run",
            "--model",
            "m",
            "--outputs",
            "none/*.pt",
            "--",
            "true",
        ])
        .fails();
    assert!(e.stderr.contains("matched nothing"), "{}", e.stderr);
    assert_eq!(runs_json(&r, &["--failed"])[0]["status"], "uncommitted");
    // Runs travel: a clone lists them, reads the log, and gc and fsck keep them.
    let remote = tempfile::tempdir().unwrap();
    let url = remote.path().to_str().unwrap();
    r.mreg(&["remote", "add", "origin", url]).ok();
    r.mreg(&["push"]).ok();
    r.mreg(&["gc"]).ok();
    r.fsck_clean();
    let c = TestRepo::bare();
    c.mreg(&["clone", url, "."]).ok();
    assert_eq!(runs_json(&c, &["m"]).len(), 3);
    assert_eq!(
        lines(c.mreg(&["runs", "show", &id[..10], "--log"]).ok().stdout),
        ["diverged", "epoch 1"]
    );
    c.fsck_clean();
}

/// Issue 24: a job stopped by SIGTERM sent to mreg (a scheduler cancelling it) is stopped
/// too, and the run is kept as interrupted.
#[test]
fn a_run_stopped_by_sigterm_is_kept_as_interrupted() {
    let r = TestRepo::new();
    let mut child = r
        .command(&[
            "run",
            "--model",
            "m",
            "--outputs",
            "out.bin",
            "--",
            "sh",
            "-c",
            "echo started; exec sleep 60",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = std::time::Instant::now();
    // Wait until the job runs (its log line is printed live), then stop mreg.
    let mut out = child.stdout.take().unwrap();
    let mut buf = [0u8; 8];
    use std::io::Read;
    let n = out.read(&mut buf).unwrap();
    assert!(n > 0);
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let status = child.wait().unwrap();
    assert!(!status.success());
    assert!(t0.elapsed().as_secs() < 30, "the job was not stopped");
    let runs = runs_json(&r, &["m"]);
    assert_eq!(runs[0]["status"], "interrupted", "{runs:?}");
    assert!(
        runs[0]["reason"].as_str().unwrap().contains("SIGTERM"),
        "{runs:?}"
    );
}

/// Issue 24: a model's description and labels are settings of the model's history: set on
/// one machine, every store has them after a pull, with who and why.
#[test]
fn a_model_description_and_labels_travel_with_the_model() {
    let remote = tempfile::tempdir().unwrap();
    let url = remote.path().to_str().unwrap().to_string();
    let a = TestRepo::new();
    versions(&a, 1);
    a.mreg(&[
        "describe",
        "m",
        "Card-fraud scorer; owner risk-ml",
        "--label",
        "tabular",
        "--label",
        "pii",
        "-m",
        "documented",
    ])
    .ok();
    a.mreg(&["remote", "add", "origin", &url]).ok();
    a.mreg(&["push"]).ok();
    let b = TestRepo::bare();
    b.mreg(&["clone", &url, "."]).ok();
    let d = b.mreg(&["describe", "m", "--json"]).ok().json();
    assert_eq!(d["description"], "Card-fraud scorer; owner risk-ml");
    assert_eq!(d["labels"], serde_json::json!(["pii", "tabular"]));
    b.mreg(&["describe", "m", "--unlabel", "pii", "-m", "no PII any more"])
        .ok();
    b.mreg(&["push"]).ok();
    a.mreg(&["pull"]).ok();
    let models = a
        .mreg(&["models", "--label", "tabular", "--json"])
        .ok()
        .json();
    assert_eq!(
        models[0]["labels"],
        serde_json::json!(["tabular"]),
        "{models}"
    );
    assert_eq!(
        a.mreg(&["models", "--label", "pii", "--json"]).ok().json(),
        serde_json::json!([])
    );
    let h = a.mreg(&["history", "m"]).ok().stdout;
    assert!(
        h.contains("no PII any more") && h.contains("documented"),
        "{h}"
    );
    // Bad input changes nothing.
    let before = a.snapshot();
    a.mreg(&["describe", "m", "--label", "bad:label"]).fails();
    a.mreg(&["describe", "nosuch"]).fails();
    assert_eq!(before, a.snapshot());
}
