//! A directory is a version: committing directories (subsets, carried files, symlinks),
//! checking them out (removing what the older version lacks, never through a symlink),
//! and the work-tree state that remembers what was checked out.

use crate::common::{assert_unchanged, git_repo, noise, TestRepo};

#[test]
fn checkout_of_an_older_directory_version_removes_the_newer_versions_files() {
    let r = git_repo();
    r.write("models/m/a.bin", &noise(5000, 1));
    let v1 = r.commit(&["models/m", "--model", "m"]);
    r.write("models/m/b.bin", &noise(5000, 2));
    let v2 = r.commit(&["models/m", "--model", "m"]);
    // A file mreg never tracked, inside the committed directory.
    r.write("models/m/notes.txt", b"mine");
    let st = r.mreg(&["status", "--json"]).ok().json();
    assert_eq!(st["untracked"][0]["path"], "models/m/notes.txt", "{st}");
    assert!(r
        .mreg(&["status"])
        .ok()
        .stdout
        .contains("untracked: models/m/notes.txt"));

    // b.bin modified: the checkout refuses, like any overwrite.
    r.write("models/m/b.bin", b"local edit");
    let snap = r.snapshot();
    let e = r.mreg(&["checkout", &v1]).fails();
    assert!(e.stderr.contains("models/m/b.bin"), "{}", e.describe());
    assert_unchanged(&r, &snap, &e.describe());
    assert_eq!(r.read("models/m/b.bin"), b"local edit");

    // Unmodified: removed, and the directory is exactly v1 (plus the user's own file).
    r.write("models/m/b.bin", &noise(5000, 2));
    let out = r.mreg(&["checkout", &v1, "--json"]).ok().json();
    assert_eq!(
        out["removed"],
        serde_json::json!(["models/m/b.bin"]),
        "{out}"
    );
    assert!(!r.path().join("models/m/b.bin").exists());
    assert_eq!(
        r.read("models/m/notes.txt"),
        b"mine",
        "untracked files are left alone"
    );
    let st = r.mreg(&["status", "--json"]).ok().json();
    assert_eq!(st["clean"], true, "{st}");
    // The lock file pins one version of the model, by its directory.
    let lock = std::fs::read_to_string(r.path().join("mreg.lock")).unwrap();
    assert!(lock.contains(&v1) && !lock.contains(&v2), "{lock}");
    assert!(
        lock.contains("models/m/") && !lock.contains("a.bin"),
        "{lock}"
    );
    // Back to v2: b.bin returns.
    r.mreg(&["checkout", &v2]).ok();
    assert_eq!(r.read("models/m/b.bin"), noise(5000, 2));
}

#[test]
fn committing_a_subset_says_which_parent_files_are_left_out_and_carry_keeps_them() {
    let r = TestRepo::new();
    r.write("m/weights.npy", &noise(3000, 1));
    r.write("m/model.pkl", &noise(3000, 2));
    r.commit(&["m", "--model", "m"]);
    r.write("m/weights.npy", &noise(3000, 4));
    let j = r
        .mreg(&[
            "commit",
            "m/weights.npy",
            "--model",
            "m",
            "--carry",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(j["carried"], serde_json::json!(["m/model.pkl"]), "{j}");
    let files: Vec<&str> = j["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(files, vec!["m/model.pkl", "m/weights.npy"]);
    // A carried file with local changes is refused: the version would misreport it.
    r.write("m/model.pkl", b"edited");
    r.write("m/weights.npy", &noise(3000, 5));
    let snap = r.snapshot();
    let e = r
        .mreg(&["commit", "m/weights.npy", "--model", "m", "--carry"])
        .fails();
    assert!(
        e.stderr.contains("m/model.pkl") && e.stderr.contains("local changes"),
        "{}",
        e.describe()
    );
    assert_unchanged(&r, &snap, &e.describe());
    // Without --carry the summary names what the new version leaves out.
    r.write("m/model.pkl", &noise(3000, 2));
    let out = r.mreg(&["commit", "m/weights.npy", "--model", "m"]).ok();
    assert!(
        out.stderr.contains("not in this version: m/model.pkl") && out.stderr.contains("--carry"),
        "{}",
        out.describe()
    );
    let d = r.mreg(&["diff", "m~1", "m"]).ok().stdout;
    assert!(d.contains("m/model.pkl"), "{d}");
}

#[test]
fn follow_symlinks_stores_link_targets_and_the_refusal_says_so() {
    let r = TestRepo::new();
    // A Hugging Face cache snapshot: links into a blobs folder.
    r.write("hf/blobs/abc", &noise(4000, 1));
    r.write("hf/blobs/def", b"{\"hidden\": 4}");
    std::fs::create_dir_all(r.path().join("hf/snapshots/main")).unwrap();
    std::os::unix::fs::symlink(
        "../../blobs/abc",
        r.path().join("hf/snapshots/main/model.safetensors"),
    )
    .unwrap();
    std::os::unix::fs::symlink(
        "../../blobs/def",
        r.path().join("hf/snapshots/main/config.json"),
    )
    .unwrap();
    let snap = r.snapshot();
    let e = r
        .mreg(&["commit", "hf/snapshots/main", "--model", "hf"])
        .fails();
    assert!(e.stderr.contains("symbolic link"), "{}", e.describe());
    assert!(e.stderr.contains("--follow-symlinks"), "{}", e.describe());
    assert!(
        !e.stderr.contains("inside the repository"),
        "{}",
        e.describe()
    );
    assert_unchanged(&r, &snap, &e.describe());
    let id = r.commit(&["hf/snapshots/main", "--model", "hf", "--follow-symlinks"]);
    r.mreg(&["checkout", &id, "--to", "out"]).ok();
    let p = r.path().join("out/model.safetensors");
    assert!(!std::fs::symlink_metadata(&p)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(std::fs::read(&p).unwrap(), noise(4000, 1));
}

#[test]
fn checkout_never_writes_through_a_symlink() {
    let r = TestRepo::new();
    r.write("m/w.bin", &noise(4000, 1));
    let id = r.commit(&["m/w.bin", "--model", "m"]);
    let outside = tempfile::tempdir().unwrap();
    let victim = outside.path().join("victim");
    std::fs::write(&victim, b"do not touch").unwrap();
    std::fs::remove_file(r.path().join("m/w.bin")).unwrap();
    std::os::unix::fs::symlink(&victim, r.path().join("m/w.bin")).unwrap();
    let e = r.mreg(&["checkout", &id, "--force"]).fails();
    assert!(e.stderr.contains("m/w.bin"), "{}", e.describe());
    assert_eq!(std::fs::read(&victim).unwrap(), b"do not touch");
    // A linked directory on the way is refused too.
    std::fs::remove_file(r.path().join("m/w.bin")).unwrap();
    std::fs::remove_dir(r.path().join("m")).unwrap();
    std::os::unix::fs::symlink(outside.path(), r.path().join("m")).unwrap();
    let e = r.mreg(&["checkout", &id, "--force"]).fails();
    assert!(e.stderr.contains("symbolic link"), "{}", e.describe());
    assert!(!outside.path().join("w.bin").exists());
}

#[test]
fn checkout_to_a_directory_is_relative_to_the_version_root() {
    let r = TestRepo::new();
    r.write("models/minilm/model.safetensors", &noise(3000, 1));
    r.write("models/minilm/tok/vocab.txt", b"a\nb\n");
    let id = r.commit(&["models/minilm", "--model", "minilm"]);
    r.mreg(&["checkout", &id, "--to", "serve"]).ok();
    assert_eq!(r.read("serve/model.safetensors"), noise(3000, 1));
    assert_eq!(r.read("serve/tok/vocab.txt"), b"a\nb\n");
    r.mreg(&["checkout", &id, "--to", "full", "--full-paths"])
        .ok();
    assert_eq!(r.read("full/models/minilm/tok/vocab.txt"), b"a\nb\n");
}

#[test]
fn dataset_directories_hash_the_same_in_commit_and_eval() {
    let r = TestRepo::new();
    r.write("data/test/b.csv", b"x,y\n1,2\n");
    r.write("data/test/a b.csv", b"x,y\n3,4\n");
    r.write("data/test/sub/c.csv", b"x\n5\n");
    r.write("w.bin", &noise(100, 1));
    let j = r
        .mreg(&[
            "commit",
            "w.bin",
            "--model",
            "m",
            "--dataset",
            "test=data/test",
            "--json",
        ])
        .ok()
        .json();
    let committed = j["datasets"][0]["blake3"].as_str().unwrap().to_string();
    let e = r
        .mreg(&[
            "eval",
            "add",
            "m",
            "--dataset",
            "test",
            "--dataset-path",
            "data/test",
            "--metric",
            "acc=1",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(e["dataset_blake3"], committed.as_str(), "{e}");
    // The summary's byte count includes stored datasets.
    r.write("w.bin", &noise(100, 2));
    let out = r
        .mreg(&[
            "commit",
            "w.bin",
            "--model",
            "m",
            "--dataset",
            "test=data/test",
            "--store-datasets",
        ])
        .ok();
    assert!(
        out.stderr.contains("of which datasets"),
        "{}",
        out.describe()
    );
}

#[test]
fn a_corrupt_worktree_state_is_an_error_not_silently_replaced() {
    let r = TestRepo::new();
    r.write("w.bin", &noise(100, 1));
    r.commit(&["w.bin", "--model", "m"]);
    std::fs::write(r.store().join("worktree.json"), b"{ not json").unwrap();
    let snap = r.snapshot();
    for args in [vec!["status"], vec!["checkout", "m"]] {
        let e = r.mreg(&args).fails();
        assert!(
            e.stderr.contains("worktree.json") && e.stderr.contains("hint:"),
            "{}",
            e.describe()
        );
        assert_unchanged(&r, &snap, &e.describe());
    }
    r.write("w.bin", &noise(100, 2));
    let e = r.mreg(&["commit", "w.bin", "--model", "m"]).fails();
    assert!(e.stderr.contains("worktree.json"), "{}", e.describe());
}
