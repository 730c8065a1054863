//! Git integration with real git repositories made in temp dirs (the git CLI drives them;
//! mreg reads them through gix).

mod common;

use std::path::Path;
use std::process::Command;

use common::{b3, noise, TestRepo};

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "Dev")
        .env("GIT_AUTHOR_EMAIL", "dev@example.com")
        .env("GIT_COMMITTER_NAME", "Dev")
        .env("GIT_COMMITTER_EMAIL", "dev@example.com")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A git repository with one commit of code and an mreg store at its root.
fn code_repo() -> TestRepo {
    let r = TestRepo::bare();
    git(r.path(), &["init", "-q", "-b", "main"]);
    r.write("train.py", b"import torch\nlr = 0.01\nepochs = 3\n");
    r.write("README.md", b"# project\n");
    git(r.path(), &["add", "."]);
    git(r.path(), &["commit", "-qm", "code"]);
    git(
        r.path(),
        &[
            "remote",
            "add",
            "origin",
            "https://alice:s3cret@git.example.com/team/proj.git",
        ],
    );
    r.mreg(&["init"]).ok();
    r
}

fn lineage_of(r: &TestRepo, rev: &str) -> serde_json::Value {
    r.mreg(&["show", rev, "--json"]).ok().json()["git"].clone()
}

#[test]
fn clean_tree_lineage() {
    let r = code_repo();
    git(r.path(), &["tag", "v0.1"]);
    r.write("model.bin", &noise(1000, 1));
    r.commit(&["model.bin", "--model", "m"]);
    let g = lineage_of(&r, "m");
    assert_eq!(g["present"], true);
    assert_eq!(g["head"], git(r.path(), &["rev-parse", "HEAD"]));
    assert_eq!(g["branch"], "main");
    assert_eq!(g["describe"], "v0.1");
    assert_eq!(g["dirty"], false);
    assert_eq!(
        g["remote_url"], "https://git.example.com/team/proj.git",
        "credentials stripped"
    );
    assert!(g.get("patch").is_none());
}

#[test]
fn dirty_tree_patch_reproduces_the_code() {
    let r = code_repo();
    r.write(
        "train.py",
        b"import torch\nlr = 0.003  # tuned\nepochs = 3\nwarmup = 100\n",
    );
    r.write("new_module.py", b"def f():\n    return 1\n");
    git(r.path(), &["add", "new_module.py"]);
    std::fs::remove_file(r.path().join("README.md")).unwrap();
    r.write("model.bin", &noise(1000, 2));
    r.commit(&["model.bin", "--model", "m"]);
    let g = lineage_of(&r, "m");
    assert_eq!(g["dirty"], true);
    let modified: Vec<&str> = g["modified"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for f in ["train.py", "new_module.py", "README.md"] {
        assert!(modified.contains(&f), "{f} not in {modified:?}");
    }
    assert!(
        !modified.contains(&"model.bin"),
        "mreg's own files are git-ignored"
    );
    // The stored patch applied to a clean checkout of HEAD reproduces the dirty tree.
    let patch = Command::new(common::bin())
        .args(["cat-object", g["patch"].as_str().unwrap()])
        .current_dir(r.path())
        .output()
        .unwrap()
        .stdout;
    let clone = tempfile::tempdir().unwrap();
    git(
        clone.path(),
        &["clone", "-q", r.path().to_str().unwrap(), "c"],
    );
    let c = clone.path().join("c");
    git(&c, &["checkout", "-q", g["head"].as_str().unwrap()]);
    std::fs::write(clone.path().join("p.diff"), &patch).unwrap();
    git(&c, &["apply", "--index", "../p.diff"]);
    for f in ["train.py", "new_module.py"] {
        assert_eq!(std::fs::read(c.join(f)).unwrap(), r.read(f), "{f}");
    }
    assert!(!c.join("README.md").exists());
    let fsck = r.mreg(&["fsck", "--json"]).ok().json();
    assert_eq!(fsck["clean"], true);
}

#[test]
fn lock_file_pins_versions_and_weights_stay_out_of_git() {
    let r = code_repo();
    r.write("models/w.bin", &noise(50_000, 3));
    let id = r.commit(&["models/w.bin", "--model", "m"]);
    let lock = std::fs::read_to_string(r.path().join("mreg.lock")).unwrap();
    assert!(
        lock.contains("models/w.bin") && lock.contains(&id),
        "{lock}"
    );
    let ignore = std::fs::read_to_string(r.path().join(".gitignore")).unwrap();
    assert!(ignore.lines().any(|l| l == "/models/w.bin"), "{ignore}");
    let status = git(r.path(), &["status", "--porcelain"]);
    assert!(
        !status.contains("w.bin"),
        "model file is ignored by git: {status}"
    );
    assert!(status.contains("mreg.lock"));
    // Committing again does not duplicate the ignore line.
    r.write("models/w.bin", &noise(50_000, 4));
    r.commit(&["models/w.bin", "--model", "m"]);
    let ignore = std::fs::read_to_string(r.path().join(".gitignore")).unwrap();
    assert_eq!(ignore.lines().filter(|l| *l == "/models/w.bin").count(), 1);
}

#[test]
fn checkout_git_restores_the_models_of_an_older_code_revision() {
    let r = code_repo();
    let v1 = noise(3 << 20, 10);
    r.write("model.bin", &v1);
    r.commit(&["model.bin", "--model", "m"]);
    git(r.path(), &["add", "mreg.lock", ".gitignore"]);
    git(r.path(), &["commit", "-qm", "model v1"]);
    let v2 = noise(3 << 20, 11);
    r.write("model.bin", &v2);
    r.commit(&["model.bin", "--model", "m"]);
    git(r.path(), &["commit", "-qam", "model v2"]);
    let lock_before = std::fs::read(r.path().join("mreg.lock")).unwrap();
    r.mreg(&["checkout", "--git", "HEAD~1"]).ok();
    assert_eq!(b3(&r.read("model.bin")), b3(&v1), "byte-identical v1");
    assert_eq!(
        std::fs::read(r.path().join("mreg.lock")).unwrap(),
        lock_before,
        "tracked files untouched"
    );
    assert_eq!(
        git(r.path(), &["status", "--porcelain"]),
        "",
        "git work tree and index untouched"
    );
    r.mreg(&["checkout", "--git", "HEAD"]).ok();
    assert_eq!(b3(&r.read("model.bin")), b3(&v2));
    let e = r.mreg(&["checkout", "--git", "HEAD~2"]).fails();
    assert!(e.stderr.contains("no mreg.lock"), "{}", e.describe());
    let e = r.mreg(&["checkout", "--git", "nosuchrev"]).fails();
    assert!(
        e.stderr.contains("unknown git revision"),
        "{}",
        e.describe()
    );
}

#[test]
fn odd_git_states_are_recorded_not_fatal() {
    // Outside any git repository.
    let r = TestRepo::new();
    r.write("m.bin", b"x");
    r.commit(&["m.bin", "--model", "m"]);
    assert_eq!(lineage_of(&r, "m")["present"], false);
    assert!(r
        .mreg(&["show", "m"])
        .ok()
        .stdout
        .contains("not in a git work tree"));
    let e = r.mreg(&["checkout", "--git", "HEAD"]).fails();
    assert!(
        e.stderr.contains("not inside a git work tree"),
        "{}",
        e.describe()
    );

    // A repository with no commits yet.
    let r = TestRepo::bare();
    git(r.path(), &["init", "-q", "-b", "main"]);
    r.mreg(&["init"]).ok();
    r.write("m.bin", b"x");
    r.commit(&["m.bin", "--model", "m"]);
    let g = lineage_of(&r, "m");
    assert_eq!(g["present"], true);
    assert!(g.get("head").is_none());
    assert!(g["note"].as_str().unwrap().contains("no commits"));

    // A detached HEAD.
    let r = code_repo();
    let head = git(r.path(), &["rev-parse", "HEAD"]);
    git(r.path(), &["checkout", "-q", "--detach", &head]);
    r.write("m.bin", b"x");
    r.commit(&["m.bin", "--model", "m"]);
    let g = lineage_of(&r, "m");
    assert_eq!(g["head"], head);
    assert!(g.get("branch").is_none());
    assert!(r.mreg(&["show", "m"]).ok().stdout.contains("detached HEAD"));

    // Inside a bare repository's directory.
    let r = TestRepo::bare();
    git(r.path(), &["init", "-q", "--bare", "b.git"]);
    let dir = r.path().join("b.git");
    let out = Command::new(common::bin())
        .args(["init"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(out.status.success());
    std::fs::write(dir.join("m.bin"), b"x").unwrap();
    let out = Command::new(common::bin())
        .args(["commit", "m.bin", "--model", "m", "--json"])
        .current_dir(&dir)
        .env("MREG_AUTHOR", "t")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["git"]["present"], false);
}

#[test]
fn submodule_work_tree_is_its_own_lineage() {
    let sub = code_repo();
    let r = code_repo();
    git(
        r.path(),
        &[
            "-c",
            "protocol.file.allow=always",
            "submodule",
            "add",
            "-q",
            sub.path().to_str().unwrap(),
            "vendor/sub",
        ],
    );
    git(r.path(), &["commit", "-qm", "add submodule"]);
    let inner = r.path().join("vendor/sub");
    let out = Command::new(common::bin())
        .args(["init"])
        .current_dir(&inner)
        .output()
        .unwrap();
    assert!(out.status.success());
    std::fs::write(inner.join("m.bin"), b"x").unwrap();
    let out = Command::new(common::bin())
        .args(["commit", "m.bin", "--model", "m", "--json"])
        .current_dir(&inner)
        .env("MREG_AUTHOR", "t")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["git"]["head"], git(&inner, &["rev-parse", "HEAD"]));
    assert!(v["git"]["root"].as_str().unwrap().ends_with("vendor/sub"));
}

#[test]
fn derived_versions_and_the_lineage_graph() {
    let r = code_repo();
    r.write("base.bin", &noise(1000, 1));
    r.write("data/train.csv", b"x,y\n1,2\n");
    let base = r.commit(&["base.bin", "--model", "bert-base", "-m", "pretrained"]);
    r.write("ft.bin", &noise(1000, 2));
    let ft = r.commit(&[
        "ft.bin",
        "--model",
        "bert-sentiment",
        "--from",
        "bert-base",
        "--dataset",
        "train=data/train.csv",
        "-m",
        "fine-tuned",
    ]);
    r.write("ft.bin", &noise(1000, 3));
    let ft2 = r.commit(&["ft.bin", "--model", "bert-sentiment", "-m", "more epochs"]);
    let g = r.mreg(&["lineage", &ft, "--json"]).ok().json();
    let edges = g["edges"].as_array().unwrap();
    let has = |from: &str, to: &str, kind: &str| {
        edges
            .iter()
            .any(|e| e["from"] == from && e["to"] == to && e["kind"] == kind)
    };
    assert!(has(&base, &ft, "from"), "{g}");
    assert!(has(&ft, &ft2, "parent"), "descendants are found: {g}");
    assert!(edges
        .iter()
        .any(|e| e["kind"] == "data" && e["to"] == ft.as_str()));
    assert!(edges
        .iter()
        .any(|e| e["kind"] == "code" && e["to"] == ft.as_str()));
    let dot = r.mreg(&["lineage", &ft, "--dot"]).ok().stdout;
    assert!(
        dot.starts_with("digraph lineage {")
            && dot.contains("-> ")
            && dot.trim_end().ends_with('}')
    );
    let mermaid = r.mreg(&["lineage", &ft, "--mermaid"]).ok().stdout;
    assert!(mermaid.starts_with("flowchart LR") && mermaid.contains("-->|from|"));
    let text = r.mreg(&["lineage", &ft]).ok().stdout;
    assert!(
        text.contains("derived from: bert-base@") && text.contains("trained on: train"),
        "{text}"
    );
    r.mreg(&["commit", "ft.bin", "--model", "x", "--from", "nosuch"])
        .fails();
}
