//! Immutable metadata commits.
//!
//! A commit is a YAML document describing one version of one model. Its id is the blake3
//! of its stored bytes, and it is stored as a `commit` object under that id, so a commit
//! can never change. Fields that later features add are optional, and unknown fields are
//! ignored on read, so older and newer mreg versions read each other's commits.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::id::{CommitId, FileId, ManifestId, ObjectId};
use crate::names::ModelName;

/// Schema version written into every commit.
pub const COMMIT_FORMAT: u32 = 1;

/// A file recorded in a commit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Path relative to the repository root, `/`-separated.
    pub path: String,
    /// blake3 of the whole file (what `b3sum` prints).
    pub blake3: FileId,
    pub size: u64,
    #[serde(default, skip_serializing_if = "is_false")]
    pub executable: bool,
    /// The manifest object listing the file's chunks.
    pub manifest: ManifestId,
}

/// A dataset a version was trained or evaluated on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DatasetEntry {
    pub name: String,
    /// Where it was, as given (repository-relative when inside the repository).
    pub path: String,
    /// blake3 of the file, or of the directory listing for a directory (see FORMAT.md).
    pub blake3: ObjectId,
    pub size: u64,
    /// Present when the dataset's bytes were stored too (`--store-datasets`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stored: Vec<FileEntry>,
}

/// The machine and software a commit was made with.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Environment {
    pub mreg_version: String,
    pub os: String,
    pub arch: String,
    pub cpus: usize,
    pub hostname: String,
    /// Room for more (GPU, library versions) without a schema change.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// One version of one model.
impl Environment {
    /// This machine and this mreg.
    pub fn current() -> Environment {
        Environment {
            mreg_version: env!("CARGO_PKG_VERSION").to_string(),
            os: std::env::consts::OS.to_string(),
            arch: std::env::consts::ARCH.to_string(),
            cpus: crate::sysinfo::cpus(),
            hostname: crate::sysinfo::hostname(),
            extra: Default::default(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Commit {
    pub format: u32,
    pub model: ModelName,
    #[serde(default)]
    pub parents: Vec<CommitId>,
    #[serde(default)]
    pub message: String,
    pub author: String,
    /// UTC, RFC 3339.
    pub created_at: crate::Timestamp,
    #[serde(default)]
    pub files: Vec<FileEntry>,
    #[serde(default = "empty_object")]
    pub params: serde_json::Value,
    #[serde(default)]
    pub metrics: BTreeMap<String, f64>,
    #[serde(default)]
    pub datasets: Vec<DatasetEntry>,
    #[serde(default)]
    pub labels: Vec<String>,
    #[serde(default)]
    pub environment: Environment,
    /// Code lineage (absent in commits made before mreg recorded it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git: Option<crate::git::GitLineage>,
    /// Versions this one was derived from (`--from`: fine-tuning a base model, possibly of
    /// another model), as opposed to `parents`, the model's own history.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub derived_from: Vec<CommitId>,
    /// How it was made, when mreg made it (`train`, `run`): what `reproduce` re-runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipe: Option<crate::recipe::Recipe>,
    /// The paths the version was committed as (directories end with `/`): what `mreg.lock`
    /// pins and `.gitignore` lists, and the root `checkout --to` writes relative to.
    /// Absent in commits made before mreg recorded it (then derived from `files`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roots: Vec<String>,
    /// What its pickles would import that no allowlist vouches for (`trust::pickle`),
    /// found at commit: such a version cannot become production without `--allow-unsafe`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unsafe_pickles: Vec<crate::trust::pickle::Finding>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(Default::default())
}

impl Commit {
    /// The bytes stored for this commit (its id is their hash).
    pub fn encode(&self) -> Result<Vec<u8>> {
        serde_yaml::to_string(self)
            .map(String::into_bytes)
            .map_err(|e| Error::Encode {
                what: "a commit",
                source: e.into(),
            })
    }

    pub fn decode(id: &ObjectId, bytes: &[u8]) -> Result<Commit> {
        let c: Commit = serde_yaml::from_slice(bytes).map_err(|e| Error::CorruptObject {
            id: id.to_hex(),
            why: format!("not a valid commit: {e}"),
        })?;
        if c.format > COMMIT_FORMAT {
            return Err(Error::CorruptObject {
                id: id.to_hex(),
                why: format!("commit format {} is newer than this mreg", c.format),
            });
        }
        for f in &c.files {
            crate::names::validate_rel_path(&f.path).map_err(|e| Error::CorruptObject {
                id: id.to_hex(),
                why: e.to_string(),
            })?;
        }
        Ok(c)
    }

    pub fn parent(&self) -> Option<&CommitId> {
        self.parents.first()
    }

    /// The directory prefix `checkout --to` strips, and signatures name files under: the
    /// version's root directory (`models/minilm/`), or a single file's directory; none when
    /// the version spans several top-level entries.
    pub fn version_root(&self) -> Option<String> {
        let roots = self.roots();
        match roots.as_slice() {
            [one] if one.ends_with('/') => Some(one.clone()),
            [one] => one.rsplit_once('/').map(|(d, _)| format!("{d}/")),
            _ => None,
        }
    }

    /// The version's roots: as recorded, else derived from its files.
    pub fn roots(&self) -> Vec<String> {
        if self.roots.is_empty() {
            roots(self.files.iter().map(|f| f.path.as_str()))
        } else {
            self.roots.clone()
        }
    }

    pub fn total_size(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }
}

impl Commit {
    /// The files selected by `paths` (exact paths or directory prefixes).
    pub fn select(&self, paths: &[String]) -> Result<Vec<&FileEntry>> {
        if paths.is_empty() {
            return Ok(self.files.iter().collect());
        }
        let mut out = Vec::new();
        for p in paths {
            let p = p.trim_end_matches('/');
            let matched: Vec<&FileEntry> = self
                .files
                .iter()
                .filter(|f| f.path == p || f.path.starts_with(&format!("{p}/")) || p.is_empty())
                .collect();
            if matched.is_empty() {
                return Err(Error::PathNotInCommit(p.to_string()));
            }
            out.extend(matched);
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        out.dedup_by(|a, b| a.path == b.path);
        Ok(out)
    }
}

/// The roots of a set of files: their common directory (`dir/`) when they share one and
/// there are several, the file itself when there is one, else each top-level entry.
pub fn roots<'a>(files: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let files: Vec<&str> = files.into_iter().collect();
    match files.as_slice() {
        [] => Vec::new(),
        [one] => vec![one.to_string()],
        [first, rest @ ..] => {
            let mut common: Vec<&str> = first.split('/').collect();
            common.pop();
            for f in rest {
                let parts: Vec<&str> = f.split('/').collect();
                let dir = &parts[..parts.len() - 1];
                let n = common.iter().zip(dir).take_while(|(a, b)| a == b).count();
                common.truncate(n);
            }
            if !common.is_empty() {
                return vec![format!("{}/", common.join("/"))];
            }
            let mut tops: Vec<String> = files
                .iter()
                .map(|f| match f.split_once('/') {
                    Some((top, _)) => format!("{top}/"),
                    None => f.to_string(),
                })
                .collect();
            tops.sort();
            tops.dedup();
            tops
        }
    }
}

#[cfg(test)]
impl Commit {
    /// A small, valid commit for this crate's tests.
    pub(crate) fn sample() -> Commit {
        Commit {
            format: 1,
            model: ModelName::new("m").expect("valid name"),
            parents: vec![CommitId(ObjectId::hash(b"p"))],
            message: "msg: with colon\nand newline".into(),
            author: "A <a@b>".into(),
            created_at: crate::Timestamp::parse("2026-01-01T00:00:00Z").expect("valid time"),
            files: vec![FileEntry {
                path: "models/w.bin".into(),
                blake3: FileId(ObjectId::hash(b"w")),
                size: 1,
                executable: false,
                manifest: ManifestId(ObjectId::hash(b"m")),
            }],
            params: serde_json::json!({"lr": 0.01, "opt": {"name": "adam"}, "hidden": [32, 16]}),
            metrics: [("acc".to_string(), 0.9)].into_iter().collect(),
            datasets: vec![],
            labels: vec!["x".into()],
            environment: Environment::default(),
            git: None,
            derived_from: vec![],
            recipe: None,
            roots: vec!["models/".into()],
            unsafe_pickles: vec![],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_round_trip_is_stable() {
        let c = Commit::sample();
        let bytes = c.encode().unwrap();
        let id = ObjectId::hash(&bytes);
        let back = Commit::decode(&id, &bytes).unwrap();
        assert_eq!(back, c);
        assert_eq!(
            back.encode().unwrap(),
            bytes,
            "re-encoding gives the same bytes"
        );
    }

    #[test]
    fn rejects_escaping_paths() {
        let y = "format: 1\nmodel: m\nauthor: a\ncreated_at: x\nfiles:\n- path: ../x\n  blake3: af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262\n  size: 0\n  manifest: af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262\n";
        assert!(Commit::decode(&ObjectId::hash(y.as_bytes()), y.as_bytes()).is_err());
    }
}
