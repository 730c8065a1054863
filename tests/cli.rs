//! End-to-end tests of each command through the real binary.

use crate::common;

use crate::common::{b3, noise, TestRepo};

#[test]
fn init_refuses_existing_store_and_commands_need_a_store() {
    let r = TestRepo::new();
    let e = r.mreg(&["init"]).fails();
    assert!(e.stderr.contains("already exists"), "{}", e.describe());
    let bare = TestRepo::bare();
    let e = bare.mreg(&["log"]).fails();
    assert!(e.stderr.contains("not an mreg repository"));
    assert!(e.stderr.contains("hint: run `mreg init`"));
}

#[test]
fn store_is_found_from_subdirectories_and_with_c_and_store_options() {
    let r = TestRepo::new();
    r.write("models/w.bin", &noise(1000, 1));
    r.commit(&["models/w.bin", "--model", "m"]);
    std::fs::create_dir_all(r.path().join("a/b")).unwrap();
    let mut c = r.command(&["log", "--oneline"]);
    c.current_dir(r.path().join("a/b"));
    assert!(c.output().unwrap().status.success());
    let other = TestRepo::bare();
    let p = r.path().to_str().unwrap();
    assert!(other
        .mreg(&["-C", p, "log", "--oneline"])
        .ok()
        .stdout
        .contains(" m "));
    let s = r.store();
    let s = s.to_str().unwrap();
    assert!(other
        .mreg(&["--store", s, "log", "--oneline"])
        .ok()
        .stdout
        .contains(" m "));
    assert!(other
        .mreg_env(&["log", "--oneline"], &[("MREG_STORE", s)])
        .ok()
        .stdout
        .contains(" m "));
}

#[test]
fn commit_records_everything_and_ids_are_content_hashes() {
    let r = TestRepo::new();
    let w = noise(3_000_000, 2);
    r.write("w.bin", &w);
    r.write(
        "params.yaml",
        b"lr: 0.01\noptimizer:\n  name: adam\n  betas: [0.9, 0.999]\n",
    );
    r.write("metrics.json", br#"{"acc": 0.91, "val": {"loss": 0.3}}"#);
    r.write("data/train.csv", b"x,y\n1,2\n");
    let out = r
        .mreg_env(
            &[
                "commit",
                "w.bin",
                "--model",
                "mnist",
                "-m",
                "baseline",
                "--params-file",
                "params.yaml",
                "--param",
                "epochs=3",
                "--metrics-file",
                "metrics.json",
                "--metric",
                "f1=0.5",
                "--dataset",
                "train=data/train.csv",
                "--label",
                "exp1",
                "--json",
            ],
            &[("MREG_NOW", "2026-01-02T03:04:05Z")],
        )
        .ok()
        .json();
    let id = out["id"].as_str().unwrap().to_string();
    assert_eq!(out["model"], "mnist");
    assert_eq!(out["files"][0]["path"], "w.bin");
    assert_eq!(
        out["files"][0]["blake3"],
        b3(&w),
        "file id is b3sum of the file"
    );
    assert_eq!(out["files"][0]["size"], 3_000_000);
    assert_eq!(out["params"]["optimizer"]["name"], "adam");
    assert_eq!(out["params"]["epochs"], 3);
    assert_eq!(out["metrics"]["val.loss"], 0.3);
    assert_eq!(out["metrics"]["f1"], 0.5);
    assert_eq!(out["datasets"][0]["name"], "train");
    assert_eq!(out["datasets"][0]["path"], "data/train.csv");
    assert_eq!(out["datasets"][0]["blake3"], b3(b"x,y\n1,2\n"));
    assert_eq!(out["labels"][0], "exp1");
    assert_eq!(out["created_at"], "2026-01-02T03:04:05Z");
    assert_eq!(out["author"], "Test <test@example.com>");
    assert_eq!(out["environment"]["os"], "linux");
    assert_eq!(out["parents"].as_array().unwrap().len(), 0);

    // The commit id is the blake3 of the commit's stored bytes.
    let raw = std::process::Command::new(common::bin())
        .args(["cat-object", &id])
        .current_dir(r.path())
        .output()
        .unwrap();
    assert_eq!(b3(&raw.stdout), id);

    // show --json has the documented fields.
    let show = r.mreg(&["show", "mnist", "--json"]).ok().json();
    for k in [
        "id",
        "model",
        "parents",
        "message",
        "author",
        "created_at",
        "files",
        "params",
        "metrics",
        "datasets",
        "labels",
    ] {
        assert!(show.get(k).is_some(), "show --json lacks {k}");
    }
    assert_eq!(show["id"], id.as_str());

    // The second commit's parent is the first.
    r.write("w.bin", &noise(3_000_000, 3));
    let id2 = r.commit(&["w.bin", "--model", "mnist", "-m", "second"]);
    let show2 = r.mreg(&["show", &id2, "--json"]).ok().json();
    assert_eq!(show2["parents"][0], id.as_str());
}

#[test]
fn log_orders_newest_first_and_filters() {
    let r = TestRepo::new();
    for (i, model) in ["a", "b", "a"].iter().enumerate() {
        r.write("w.bin", &noise(100, i as u64));
        let t = format!("2026-01-0{}T00:00:00Z", i + 1);
        r.mreg_env(
            &["commit", "w.bin", "--model", model, "-m", &format!("c{i}")],
            &[("MREG_NOW", &t)],
        )
        .ok();
    }
    let all = r.mreg(&["log", "--json"]).ok().json();
    let msgs: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["message"].as_str().unwrap())
        .collect();
    assert_eq!(msgs, ["c2", "c1", "c0"]);
    let a = r.mreg(&["log", "a", "--oneline"]).ok().stdout;
    assert_eq!(a.lines().count(), 2);
    assert_eq!(
        r.mreg(&["log", "-n", "1", "--oneline"])
            .ok()
            .stdout
            .lines()
            .count(),
        1
    );
    r.mreg(&["log", "nosuch"]).fails();
}

#[test]
fn revisions_prefixes_and_ancestors() {
    let r = TestRepo::new();
    let mut ids = Vec::new();
    for i in 0..3 {
        r.write("w.bin", &noise(500, i));
        ids.push(r.commit(&["w.bin", "--model", "m", "-m", &format!("v{i}")]));
    }
    let show = |rev: &str| {
        r.mreg(&["show", rev, "--json"]).ok().json()["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(show("m"), ids[2]);
    assert_eq!(show("m~1"), ids[1]);
    assert_eq!(show("m~2"), ids[0]);
    assert_eq!(show("m~~"), ids[0]);
    assert_eq!(show(&ids[1][..8]), ids[1]);
    assert_eq!(show(&format!("{}~1", &ids[2][..6])), ids[1]);
    assert_eq!(show(&ids[0].to_uppercase()), ids[0]);
    let e = r.mreg(&["show", "m~3"]).fails();
    assert!(e.stderr.contains("commit(s) back"), "{}", e.describe());
    r.mreg(&["show", "nosuch"]).fails();
    r.mreg(&["show", "abc"]).fails();
    r.mreg(&["show", "m~x"]).fails();
}

#[test]
fn checkout_restores_bytes_and_protects_local_changes() {
    let r = TestRepo::new();
    let v1 = noise(2_500_000, 10);
    let mut v2 = v1.clone();
    v2[1_000_000..1_000_100].copy_from_slice(&noise(100, 11));
    r.write("models/w.bin", &v1);
    r.write("models/config.json", b"{}");
    let id1 = r.commit(&["models", "--model", "m"]);
    r.write("models/w.bin", &v2);
    r.commit(&["models", "--model", "m"]);

    // mreg wrote v2 there (it committed it): replacing it needs no --force.
    r.mreg(&["checkout", "m~1"]).ok();
    assert_eq!(r.read("models/w.bin"), v1);
    r.mreg(&["checkout", "m"]).ok();
    assert_eq!(r.read("models/w.bin"), v2);

    // A user's edit is never silently overwritten.
    r.write("models/w.bin", b"my precious local edit");
    let e = r.mreg(&["checkout", &id1]).fails();
    assert!(
        e.stderr.contains("models/w.bin") && e.stderr.contains("--force"),
        "{}",
        e.describe()
    );
    assert_eq!(r.read("models/w.bin"), b"my precious local edit");
    r.mreg(&["checkout", &id1, "--force"]).ok();
    assert_eq!(r.read("models/w.bin"), v1);

    // Subset and --to.
    let out = r.path().join("elsewhere");
    r.mreg(&[
        "checkout",
        "m",
        "models/w.bin",
        "--to",
        out.to_str().unwrap(),
    ])
    .ok();
    // --to writes relative to the version's root (it was committed from models/).
    assert_eq!(std::fs::read(out.join("w.bin")).unwrap(), v2);
    assert!(!out.join("config.json").exists());
    let e = r.mreg(&["checkout", "m", "nope.bin"]).fails();
    assert!(e.stderr.contains("not committed"), "{}", e.describe());

    // No temp files are left behind.
    let leftovers: Vec<_> = std::fs::read_dir(r.path().join("models"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("mreg-tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn checkout_preserves_the_executable_bit() {
    use std::os::unix::fs::PermissionsExt;
    let r = TestRepo::new();
    let p = r.write("run.sh", b"#!/bin/sh\necho hi\n");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    r.commit(&["run.sh", "--model", "m"]);
    std::fs::remove_file(&p).unwrap();
    r.mreg(&["checkout", "m"]).ok();
    assert_ne!(
        std::fs::metadata(&p).unwrap().permissions().mode() & 0o111,
        0
    );
}

#[test]
fn status_reports_modified_and_deleted_and_uses_the_stat_cache() {
    let r = TestRepo::new();
    r.write("a.bin", &noise(10_000, 1));
    r.write("b.bin", &noise(10_000, 2));
    r.commit(&["a.bin", "b.bin", "--model", "m"]);
    let s = r.mreg(&["status", "--json"]).ok().json();
    assert_eq!(s["clean"], true);
    assert!(s["files"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["rehashed"] == false));

    // touch: re-hashed once, found clean, and the cache is refreshed.
    let f = std::fs::File::options()
        .append(true)
        .open(r.path().join("a.bin"))
        .unwrap();
    f.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(5))
        .unwrap();
    drop(f);
    let s = r.mreg(&["status", "--json"]).ok().json();
    assert_eq!(s["clean"], true);
    assert_eq!(s["files"][0]["rehashed"], true);
    let s = r.mreg(&["status", "--json"]).ok().json();
    assert_eq!(s["files"][0]["rehashed"], false);

    r.write("a.bin", &noise(10_000, 3));
    std::fs::remove_file(r.path().join("b.bin")).unwrap();
    let text = r.mreg(&["status"]).ok().stdout;
    assert!(text.contains("modified: a.bin"), "{text}");
    assert!(text.contains("deleted: b.bin"), "{text}");
}

#[test]
fn links_and_special_files_are_refused_and_paths_stay_inside() {
    let r = TestRepo::new();
    r.write("real.bin", b"data");
    std::os::unix::fs::symlink("/etc/passwd", r.path().join("link.bin")).unwrap();
    let e = r.mreg(&["commit", "link.bin", "--model", "m"]).fails();
    assert!(e.stderr.contains("symbolic link"), "{}", e.describe());
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("x"), b"x").unwrap();
    let e = r
        .mreg(&[
            "commit",
            outside.path().join("x").to_str().unwrap(),
            "--model",
            "m",
        ])
        .fails();
    assert!(
        e.stderr.contains("outside the repository"),
        "{}",
        e.describe()
    );
    r.mreg(&["commit", "../x", "--model", "m"]).fails();
    let fifo = r.path().join("pipe");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let e = r.mreg(&["commit", "pipe", "--model", "m"]).fails();
    assert!(e.stderr.contains("not a regular file"), "{}", e.describe());

    // A checkout never writes through a symlinked directory.
    r.write("d/w.bin", b"w");
    r.commit(&["d/w.bin", "--model", "m"]);
    std::fs::remove_dir_all(r.path().join("d")).unwrap();
    std::os::unix::fs::symlink(outside.path(), r.path().join("d")).unwrap();
    let e = r.mreg(&["checkout", "m", "--force"]).fails();
    assert!(e.stderr.contains("symbolic link"), "{}", e.describe());
    assert!(!outside.path().join("w.bin").exists());
}

#[test]
fn bad_input_gets_a_clear_error_and_leaves_the_store_unchanged() {
    let r = TestRepo::new();
    r.write("w.bin", &noise(5000, 1));
    r.write("bad.yaml", b"lr: [1, 2\n");
    r.write("bad.json", b"{\"lr\": ");
    r.write("list.yaml", b"- 1\n- 2\n");
    r.write("badmetric.yaml", b"acc: high\n");
    r.commit(&["w.bin", "--model", "m"]);
    let before = r.snapshot();
    let cases: &[(&[&str], &str)] = &[
        (&["commit", "missing.bin", "--model", "m"], "missing.bin"),
        (
            &["commit", "w.bin", "--model", "m", "--param", "x"],
            "KEY=VALUE",
        ),
        (
            &[
                "commit",
                "w.bin",
                "--model",
                "m",
                "--params-file",
                "bad.yaml",
            ],
            "bad.yaml",
        ),
        (
            &[
                "commit",
                "w.bin",
                "--model",
                "m",
                "--params-file",
                "bad.json",
            ],
            "bad.json",
        ),
        (
            &[
                "commit",
                "w.bin",
                "--model",
                "m",
                "--params-file",
                "list.yaml",
            ],
            "mapping",
        ),
        (
            &["commit", "w.bin", "--model", "m", "--metric", "acc=high"],
            "not a finite number",
        ),
        (
            &[
                "commit",
                "w.bin",
                "--model",
                "m",
                "--metrics-file",
                "badmetric.yaml",
            ],
            "not a number",
        ),
        (&["commit", "w.bin", "--model", "a/b"], "invalid model name"),
        (&["commit", "w.bin", "--model", ".."], "invalid model name"),
        (&["commit", "w.bin", "--model", ""], "invalid model name"),
        (
            &["commit", "w.bin", "--model", "m", "--dataset", "noequals"],
            "NAME=PATH",
        ),
        (
            &[
                "commit",
                "w.bin",
                "--model",
                "m",
                "--dataset",
                "d=nothere.csv",
            ],
            "nothere.csv",
        ),
        (&["show", "deadbeef"], "unknown revision"),
        (&["show", "m~9"], "back"),
        (&["checkout", "nosuch"], "unknown revision"),
        (&["log", "nosuch"], "unknown model"),
        (&["cat-object", "xyz"], "not a hex object id"),
    ];
    for (args, needle) in cases {
        let e = r.mreg(args).fails();
        let first = e.stderr.lines().next().unwrap();
        assert!(
            e.stderr.contains(needle),
            "{needle:?} not in error:\n{}",
            e.describe()
        );
        assert!(first.len() < 300, "error is one clear line: {first}");
        assert_eq!(r.snapshot(), before, "store changed by:\n{}", e.describe());
    }
}

#[test]
fn unknown_store_format_is_refused() {
    let r = TestRepo::new();
    std::fs::write(r.store().join("config.yaml"), "format_version: 7\n").unwrap();
    let e = r.mreg(&["log"]).fails();
    assert!(e.stderr.contains("format version 7"), "{}", e.describe());
}

#[test]
fn help_teaches() {
    let r = TestRepo::bare();
    let h = r.mreg(&["commit", "--help"]).ok().stdout;
    assert!(h.contains("Examples:") && h.contains("--metrics-file"));
    let h = r.mreg(&["--help"]).ok().stdout;
    assert!(h.contains("Revisions") && h.contains("checkout"));
}

#[test]
fn the_example_store_reads_and_verifies() {
    let store = concat!(env!("CARGO_MANIFEST_DIR"), "/.modelreg-example");
    let r = TestRepo::bare();
    let log = r.mreg(&["--store", store, "log", "--json"]).ok().json();
    let models: std::collections::BTreeSet<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["model"].as_str().unwrap())
        .collect();
    assert_eq!(models.into_iter().collect::<Vec<_>>(), ["iris", "mnist"]);
    let fsck = r.mreg(&["--store", store, "fsck", "--json"]).ok().json();
    assert_eq!(fsck["clean"], true, "{fsck}");
    let hist = r
        .mreg(&[
            "--store",
            store,
            "history",
            "mnist",
            "--alias",
            "production",
            "--json",
        ])
        .ok()
        .json();
    assert!(
        hist.as_array().unwrap().len() >= 3,
        "the example has a promote/rollback history"
    );
    let prod = r
        .mreg(&["--store", store, "show", "mnist@production", "--json"])
        .ok()
        .json();
    assert!(
        !prod["notes"].as_array().unwrap().is_empty(),
        "the example has evaluations"
    );
}

#[test]
fn completions_are_generated_for_each_shell() {
    let r = TestRepo::bare();
    let bash = r.mreg(&["completions", "bash"]).ok().stdout;
    assert!(
        bash.contains("_mreg()") && bash.contains("checkout"),
        "{bash}"
    );
    let zsh = r.mreg(&["completions", "zsh"]).ok().stdout;
    assert!(zsh.starts_with("#compdef mreg"), "{zsh}");
    let fish = r.mreg(&["completions", "fish"]).ok().stdout;
    assert!(fish.contains("complete -c mreg"), "{fish}");
    let e = r.mreg(&["completions", "tcsh"]);
    assert_eq!(
        e.code,
        2,
        "unknown shell is a usage error: {}",
        e.describe()
    );
}
