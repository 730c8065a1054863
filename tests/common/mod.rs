//! Test helpers: a temp repository and a way to run the real `mreg` binary in it.
//! On failure, assertions print the command, its directory, stdout and stderr.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub struct TestRepo {
    pub dir: tempfile::TempDir,
}

pub struct Run {
    pub cmd: String,
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    #[track_caller]
    pub fn ok(self) -> Run {
        assert_eq!(self.code, 0, "expected success:\n{}", self.describe());
        self
    }
    #[track_caller]
    pub fn fails(self) -> Run {
        assert_ne!(self.code, 0, "expected failure:\n{}", self.describe());
        assert!(
            !self.stderr.contains("panicked") && !self.stderr.contains("RUST_BACKTRACE"),
            "must not panic:\n{}",
            self.describe()
        );
        assert!(
            self.stderr.starts_with("error: "),
            "clear error expected:\n{}",
            self.describe()
        );
        self
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.describe()))
    }
    pub fn describe(&self) -> String {
        format!(
            "$ {}\nexit: {}\n--- stdout\n{}--- stderr\n{}",
            self.cmd, self.code, self.stdout, self.stderr
        )
    }
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_mreg")
}

impl TestRepo {
    /// An empty directory with `mreg init` done.
    pub fn new() -> TestRepo {
        let r = TestRepo::bare();
        r.mreg(&["init"]).ok();
        r
    }

    /// An empty directory, no store.
    pub fn bare() -> TestRepo {
        TestRepo {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn store(&self) -> PathBuf {
        self.path().join(".modelreg")
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(bin());
        c.args(args)
            .current_dir(self.path())
            .env("MREG_AUTHOR", "Test <test@example.com>")
            .env_remove("MREG_STORE")
            .env_remove("MREG_NOW");
        c
    }

    pub fn mreg(&self, args: &[&str]) -> Run {
        self.run(self.command(args), args)
    }

    pub fn mreg_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut c = self.command(args);
        for (k, v) in env {
            c.env(k, v);
        }
        self.run(c, args)
    }

    fn run(&self, mut c: Command, args: &[&str]) -> Run {
        let out: Output = c.output().expect("run mreg");
        Run {
            cmd: format!("mreg {} (in {})", args.join(" "), self.path().display()),
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    pub fn write(&self, rel: &str, bytes: &[u8]) -> PathBuf {
        let p = self.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, bytes).unwrap();
        p
    }

    pub fn read(&self, rel: &str) -> Vec<u8> {
        std::fs::read(self.path().join(rel)).unwrap()
    }

    /// Commit and return the new id.
    pub fn commit(&self, args: &[&str]) -> String {
        let mut a = vec!["commit"];
        a.extend_from_slice(args);
        self.mreg(&a).ok().stdout.trim().to_string()
    }

    /// Every file under the store with its content, for "the store is unchanged" checks.
    /// Lock files and the empty tmp dir are skipped (taking a lock creates its file).
    pub fn snapshot(&self) -> BTreeMap<String, Vec<u8>> {
        let mut out = BTreeMap::new();
        walk(&self.store(), &self.store(), &mut out);
        out
    }
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd {
        let p = e.unwrap().path();
        let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
        if rel.starts_with("locks") || rel.ends_with("/lock") {
            continue;
        }
        if p.is_dir() {
            walk(root, &p, out);
        } else {
            out.insert(rel, std::fs::read(&p).unwrap());
        }
    }
}

/// Deterministic pseudo-random bytes (incompressible, like trained weights).
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E3779B97F4A7C15) | 1;
    let mut v = Vec::with_capacity(len);
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(len);
    v
}

pub fn b3(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex().to_string()
}

impl TestRepo {
    /// Assert that `mreg fsck` finds the store clean.
    #[track_caller]
    pub fn fsck_clean(&self) {
        let out = self.mreg(&["fsck", "--json"]).ok().json();
        assert_eq!(out["clean"], true, "{out}");
    }

    /// The ids in `mreg log MODEL`, newest first.
    pub fn chain(&self, model: &str) -> Vec<String> {
        let log = self.mreg(&["log", model, "--json"]).ok().json();
        log.as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_string())
            .collect()
    }
}

/// Run git in `dir` with a fixed identity and no system config; returns stdout (trimmed).
/// Panics with git's stderr when it fails.
pub fn git(dir: &Path, args: &[&str]) -> String {
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
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// `n` versions of model `m`, each with its own 200 KB `w.bin`, `acc = 0.50 + i/100`,
/// message `v{i}` and a creation day of January 2026.
pub fn versions(r: &TestRepo, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            r.write("w.bin", &noise(200_000, 1000 + i as u64));
            let t = format!("2026-01-{:02}T00:00:00Z", i + 1);
            let acc = format!("acc=0.{}", 50 + i);
            r.mreg_env(
                &[
                    "commit",
                    "w.bin",
                    "--model",
                    "m",
                    "--metric",
                    &acc,
                    "-m",
                    &format!("v{i}"),
                ],
                &[("MREG_NOW", &t)],
            )
            .ok()
            .stdout
            .trim()
            .to_string()
        })
        .collect()
}

/// The messages of `model`'s history lines that `history --json` marks as never published
/// on `remote` (a pull took the remote's move instead), oldest first.
#[allow(dead_code)]
pub fn never_published(r: &TestRepo, model: &str, remote: &str) -> Vec<String> {
    let h = r.mreg(&["history", model, "--json"]).ok().json();
    h.as_array()
        .unwrap()
        .iter()
        .filter(|e| e["never_published"] == serde_json::json!([remote]))
        .map(|e| e["message"].as_str().unwrap().to_string())
        .collect()
}

// ---- Helpers shared by several areas (store snapshots, ids, a git-tracked store) ----

/// Assert the store is as it was (the query cache may be rebuilt: it is not state).
#[track_caller]
pub fn assert_unchanged(
    r: &TestRepo,
    before: &std::collections::BTreeMap<String, Vec<u8>>,
    what: &str,
) {
    let now = r.snapshot();
    let keys: std::collections::BTreeSet<&String> = before
        .keys()
        .chain(now.keys())
        .filter(|k| !k.starts_with("cache/"))
        .collect();
    let changed: Vec<&&String> = keys
        .iter()
        .filter(|k| before.get(**k) != now.get(**k))
        .collect();
    assert!(
        changed.is_empty(),
        "store changed ({changed:?}) by:\n{what}"
    );
}

pub fn ids(v: &serde_json::Value, field: &str) -> Vec<String> {
    v[field]
        .as_array()
        .unwrap_or_else(|| panic!("no {field} in {v}"))
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_string())
        .collect()
}

pub fn manifest_of(r: &TestRepo, rev: &str) -> String {
    let show = r.mreg(&["show", rev, "--json"]).ok().json();
    show["files"][0]["manifest"].as_str().unwrap().to_string()
}

pub fn object_path(r: &TestRepo, id: &str) -> std::path::PathBuf {
    r.store().join("objects").join(&id[..2]).join(&id[2..])
}

pub fn git_repo() -> TestRepo {
    let r = TestRepo::bare();
    git(r.path(), &["init", "-q", "-b", "main"]);
    r.write("train.py", b"lr = 0.01\n");
    git(r.path(), &["add", "."]);
    git(r.path(), &["commit", "-qm", "code"]);
    r.mreg(&["init"]).ok();
    r
}

/// The id `m@production` points at.
pub fn production(r: &TestRepo) -> String {
    r.mreg(&["show", "m@production", "--json"]).ok().json()["id"]
        .as_str()
        .unwrap()
        .to_string()
}
