//! Git integration with real git repositories made in temp dirs (the git CLI drives them;
//! mreg reads them through gix).

use crate::common;
use crate::common::{b3, git, git_repo, noise, TestRepo};

use std::path::Path;
use std::process::Command;

/// Run git; returns (success, stdout, stderr).
fn git_run(dir: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "Dev")
        .env("GIT_AUTHOR_EMAIL", "dev@example.com")
        .env("GIT_COMMITTER_NAME", "Dev")
        .env("GIT_COMMITTER_EMAIL", "dev@example.com")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env_remove("MREG_STORE")
        .output()
        .expect("git runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
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

#[test]
fn hook_install_chains_to_an_existing_hook_and_uninstall_restores_it() {
    let r = code_repo();
    let hook = r.path().join(".git/hooks/pre-commit");
    let user_hook = "#!/bin/sh\necho ran >> user-hook.log\n";
    std::fs::write(&hook, user_hook).unwrap();
    set_mode(&hook, 0o755);
    let out = r.mreg(&["hook", "install"]).ok();
    assert!(
        out.stdout.contains("your hook now runs first"),
        "{}",
        out.stdout
    );
    // Twice is harmless.
    let again = r.mreg(&["hook", "install", "--json"]).ok().json();
    assert!(again["hooks"]
        .as_array()
        .unwrap()
        .iter()
        .all(|h| h["action"] == "unchanged"));
    // A normal code commit passes, and both hooks ran: the user's first, then mreg's
    // post-commit (no lock file yet, so nothing to note).
    r.write("train.py", b"import torch\nlr = 0.02\n");
    git(r.path(), &["commit", "-qam", "tune lr"]);
    assert_eq!(r.read("user-hook.log"), b"ran\n");
    // The user's failing hook still stops commits.
    std::fs::write(
        r.path().join(".git/hooks/pre-commit.mreg-chained"),
        "#!/bin/sh\nexit 3\n",
    )
    .unwrap();
    r.write("train.py", b"import torch\nlr = 0.03\n");
    let (ok, ..) = git_run(r.path(), &["commit", "-qam", "x"]);
    assert!(!ok, "the chained hook's failure stops the commit");
    std::fs::write(
        r.path().join(".git/hooks/pre-commit.mreg-chained"),
        user_hook,
    )
    .unwrap();
    r.mreg(&["hook", "uninstall"]).ok();
    assert_eq!(std::fs::read_to_string(&hook).unwrap(), user_hook);
    assert!(!r.path().join(".git/hooks/post-commit").exists());
    assert!(!r.path().join(".git/hooks/pre-commit.mreg-chained").exists());
    // core.hooksPath is respected (relative to the work tree root, as git runs hooks there).
    git(r.path(), &["config", "core.hooksPath", "githooks"]);
    let st = r.mreg(&["hook", "install", "--json"]).ok().json();
    assert!(st["hooks_dir"].as_str().unwrap().ends_with("githooks"));
    assert!(r.path().join("githooks/pre-commit").exists());
    let st = r.mreg(&["hook", "status", "--json"]).ok().json();
    assert!(st["hooks"]
        .as_array()
        .unwrap()
        .iter()
        .all(|h| h["installed"] == true));
}

#[cfg(unix)]
fn set_mode(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn hooks_keep_models_out_of_git_and_record_which_code_shipped_them() {
    let r = code_repo();
    r.mreg(&["hook", "install"]).ok();
    let trained_at = git(r.path(), &["rev-parse", "HEAD"]);

    // A 50 MB model staged by mistake: refused, with the way out.
    r.write("models/big.bin", &noise(50 << 20, 7));
    git(r.path(), &["add", "models/big.bin"]);
    let (ok, _, err) = git_run(r.path(), &["commit", "-qm", "add weights"]);
    assert!(!ok, "refused");
    assert!(
        err.contains("models/big.bin") && err.contains("larger than mreg.maxFileSize"),
        "{err}"
    );
    assert!(err.contains("mreg commit models/big.bin"), "hint: {err}");
    assert_eq!(
        git(r.path(), &["rev-parse", "HEAD"]),
        trained_at,
        "no commit made"
    );

    // Done right: the model goes into mreg, which pins it in mreg.lock.
    git(r.path(), &["rm", "-q", "--cached", "models/big.bin"]);
    let big = r.commit(&["models/big.bin", "--model", "big", "-m", "v1"]);
    r.write("models/small.bin", &noise(4096, 8));
    let small = r.commit(&["models/small.bin", "--model", "small"]);

    // A model file pinned by mreg is refused whatever its size.
    git(r.path(), &["add", "-f", "models/small.bin"]);
    let (ok, _, err) = git_run(r.path(), &["commit", "-qm", "oops"]);
    assert!(!ok && err.contains("versioned by mreg"), "{err}");
    git(r.path(), &["rm", "-q", "--cached", "models/small.bin"]);

    // A normal code commit passes; the hook stages the lock file mreg updated.
    git(r.path(), &["config", "mreg.trailers", "true"]);
    r.write("train.py", b"import torch\nlr = 0.02\n");
    git(r.path(), &["add", "train.py", ".gitignore"]);
    git(r.path(), &["commit", "-qm", "train big and small"]);
    let head = git(r.path(), &["rev-parse", "HEAD"]);
    let files = git(r.path(), &["show", "--name-only", "--format=", "HEAD"]);
    assert!(
        files.lines().any(|l| l == "mreg.lock"),
        "lock staged: {files}"
    );
    // prepare-commit-msg added trailers.
    let msg = git(r.path(), &["log", "-1", "--format=%B"]);
    assert!(msg.contains(&format!("Model: big@{}", &big[..8])), "{msg}");
    assert!(
        msg.contains(&format!("Model: small@{}", &small[..8])),
        "{msg}"
    );

    // post-commit: the git commit is noted on both model commits.
    for m in ["big", "small"] {
        let show = r.mreg(&["show", m, "--json"]).ok().json();
        assert_eq!(show["git_pins"], serde_json::json!([head]), "{m}");
    }
    assert!(r.mreg(&["show", "big"]).ok().stdout.contains(&head));
    let lineage = r.mreg(&["lineage", "big", "--json"]).ok().json();
    assert!(lineage["edges"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["kind"] == "pinned"));

    // blame, both ways round.
    let b = r.mreg(&["blame", "HEAD", "--json"]).ok().json();
    assert_eq!(b["git_commit"], head);
    let pinned: Vec<&str> = b["pinned"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["commit"].as_str().unwrap())
        .collect();
    assert_eq!(pinned.len(), 2);
    assert!(pinned.contains(&big.as_str()) && pinned.contains(&small.as_str()));
    assert!(b["pinned"]
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["noted"] == true));
    let b = r.mreg(&["blame", &trained_at[..10], "--json"]).ok().json();
    let trained: Vec<&str> = b["trained_from"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["commit"].as_str().unwrap())
        .collect();
    assert_eq!(trained, vec![big.as_str(), small.as_str()]);
    assert!(b["pinned"].as_array().unwrap().is_empty());
    r.mreg(&["blame", "no-such-rev"]).fails();

    // A lock file naming a commit the store lacks is refused.
    let lock = std::fs::read_to_string(r.path().join("mreg.lock")).unwrap();
    let forged = lock.replace(&small, &"ab".repeat(32));
    std::fs::write(r.path().join("mreg.lock"), forged).unwrap();
    git(r.path(), &["add", "mreg.lock"]);
    let (ok, _, err) = git_run(r.path(), &["commit", "-qm", "forged"]);
    assert!(!ok && err.contains("not in the store"), "{err}");
    r.fsck_clean();
}

#[test]
fn lock_file_and_gitignore_have_one_line_per_model_directory() {
    let r = git_repo();
    for i in 0..300 {
        r.write(&format!("models/big/shard-{i:04}.bin"), &noise(64, i));
    }
    let id = r.commit(&["models/big", "--model", "big"]);
    let lock = std::fs::read_to_string(r.path().join("mreg.lock")).unwrap();
    assert!(lock.lines().count() < 10, "{lock}");
    assert!(lock.contains(&id) && lock.contains("models/big/"), "{lock}");
    let ignore = std::fs::read_to_string(r.path().join(".gitignore")).unwrap();
    assert_eq!(
        ignore
            .lines()
            .filter(|l| l.starts_with('/'))
            .collect::<Vec<_>>(),
        vec!["/models/big/"],
        "{ignore}"
    );
    // checkout --git restores the pinned version from the one line.
    git(r.path(), &["add", "mreg.lock", ".gitignore"]);
    git(r.path(), &["commit", "-qm", "pin big"]);
    std::fs::remove_dir_all(r.path().join("models/big")).unwrap();
    r.mreg(&["checkout", "--git", "HEAD"]).ok();
    assert_eq!(r.read("models/big/shard-0299.bin"), noise(64, 299));
}

#[test]
fn post_commit_notes_a_version_only_when_the_git_commit_changed_its_pin() {
    let r = git_repo();
    r.mreg(&["hook", "install"]).ok();
    r.write("models/s.bin", &noise(4096, 8));
    let v1 = r.commit(&["models/s.bin", "--model", "s"]);
    git(r.path(), &["add", ".gitignore"]);
    git(r.path(), &["commit", "-qm", "pin s"]);
    let pinned_at = git(r.path(), &["rev-parse", "HEAD"]);
    let show = r.mreg(&["show", "s", "--json"]).ok().json();
    assert_eq!(show["git_pins"], serde_json::json!([pinned_at]));
    let history = r.mreg(&["history", "s", "--json"]).ok().stdout;
    // Code-only commits: nothing is noted, the model's history does not grow.
    for i in 0..3 {
        r.write("train.py", format!("lr = 0.0{i}\n").as_bytes());
        git(r.path(), &["commit", "-qam", "tune"]);
    }
    assert_eq!(r.mreg(&["history", "s", "--json"]).ok().stdout, history);
    // A new version pinned: noted on the new version only.
    r.write("models/s.bin", &noise(4096, 9));
    let v2 = r.commit(&["models/s.bin", "--model", "s"]);
    git(r.path(), &["commit", "-qam", "new s"]);
    let head = git(r.path(), &["rev-parse", "HEAD"]);
    assert_eq!(
        r.mreg(&["show", &v2, "--json"]).ok().json()["git_pins"],
        serde_json::json!([head])
    );
    assert_eq!(
        r.mreg(&["show", &v1, "--json"]).ok().json()["git_pins"],
        serde_json::json!([pinned_at])
    );
}

#[test]
fn checkout_git_of_a_version_this_store_lacks_says_so() {
    let r = git_repo();
    r.write("models/w.bin", &noise(100, 1));
    let id = r.commit(&["models/w.bin", "--model", "m"]);
    git(r.path(), &["add", "mreg.lock", ".gitignore"]);
    git(r.path(), &["commit", "-qm", "pin"]);
    // A fresh clone of the code with an empty store.
    let clone = tempfile::tempdir().unwrap();
    git(
        clone.path(),
        &["clone", "-q", r.path().to_str().unwrap(), "c"],
    );
    let c = clone.path().join("c");
    let out = std::process::Command::new(common::bin())
        .args(["init"])
        .current_dir(&c)
        .output()
        .unwrap();
    assert!(out.status.success());
    let out = std::process::Command::new(common::bin())
        .args(["checkout", "--git", "HEAD"])
        .current_dir(&c)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("does not have version") && err.contains(&id),
        "{err}"
    );
    assert!(!err.contains("fsck"), "{err}");
}

#[test]
fn dash_c_records_the_author_from_that_directory() {
    let r = git_repo();
    git(r.path(), &["config", "user.name", "Repo Author"]);
    git(r.path(), &["config", "user.email", "repo@example.com"]);
    r.write("w.bin", &noise(100, 1));
    let elsewhere = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(common::bin())
        .args([
            "-C",
            r.path().to_str().unwrap(),
            "commit",
            "w.bin",
            "--model",
            "m",
            "--json",
        ])
        .current_dir(elsewhere.path())
        .env_remove("MREG_AUTHOR")
        .env("HOME", elsewhere.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["author"], "Repo Author <repo@example.com>");
}

#[test]
fn checkout_git_is_all_or_nothing_across_models() {
    let r = git_repo();
    r.write("models/a/w.bin", &noise(100, 1));
    r.commit(&["models/a", "--model", "a"]);
    r.write("models/b/w.bin", &noise(100, 2));
    r.commit(&["models/b", "--model", "b"]);
    git(r.path(), &["add", "mreg.lock", ".gitignore"]);
    git(r.path(), &["commit", "-qm", "pin a and b"]);
    std::fs::remove_file(r.path().join("models/a/w.bin")).unwrap();
    r.write("models/b/w.bin", b"local edit");
    let e = r.mreg(&["checkout", "--git", "HEAD"]).fails();
    assert!(e.stderr.contains("models/b/w.bin"), "{}", e.describe());
    assert!(
        !r.path().join("models/a/w.bin").exists(),
        "a refusal writes nothing, not even the other model's files"
    );
    r.mreg(&["checkout", "--git", "HEAD", "--force"]).ok();
    assert_eq!(r.read("models/a/w.bin"), noise(100, 1));
    assert_eq!(r.read("models/b/w.bin"), noise(100, 2));
}

#[test]
fn git_errors_keep_their_cause_chain_and_a_hint() {
    let r = git_repo();
    let e = r.mreg(&["blame", "no-such-rev"]).fails();
    assert!(
        e.stderr.contains("unknown git revision"),
        "{}",
        e.describe()
    );
    assert!(
        e.stderr.contains("  caused by: "),
        "the gix cause is printed:\n{}",
        e.describe()
    );
    assert!(e.stderr.contains("hint: "), "{}", e.describe());
}
