//! Which remotes a store knows, and how to reach them.
//!
//! A remote is a name and a URL plus S3 connection settings (`RemoteSpec`). They are kept
//! in the store's `config.yaml` (`remotes:`), or — with `remote add --tracked` — in
//! `mreg-remotes.yaml` at the project root, a file meant to be committed to git so that a
//! fresh clone of the code knows where its models are. The store's own entry wins when a
//! name is in both.
//!
//! Credentials are never written by mreg. They come from `AWS_ACCESS_KEY_ID` /
//! `AWS_SECRET_ACCESS_KEY` (and `AWS_SESSION_TOKEN`), else from the profile `AWS_PROFILE`
//! (or `default`) in `~/.aws/credentials` and `~/.aws/config` (paths overridable with
//! `AWS_SHARED_CREDENTIALS_FILE` / `AWS_CONFIG_FILE`). The region likewise comes from the
//! remote's settings, `AWS_REGION` / `AWS_DEFAULT_REGION`, or the profile.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::backend::{Backend, S3Settings};
use super::RemoteError;
use crate::error::{Error, Result};
use crate::repo::Repo;

/// The tracked remotes file, at the project root.
pub const TRACKED_FILE: &str = "mreg-remotes.yaml";

/// One remote as configured.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteSpec {
    /// `s3://bucket/prefix`, `file:///path` or a directory path.
    pub url: String,
    /// S3 endpoint (`http://127.0.0.1:8333`); AWS when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Path-style addressing (`endpoint/bucket/key`); the default with a custom endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_style: Option<bool>,
}

/// Where a remote's URL points.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    Dir(PathBuf),
    S3 { bucket: String, prefix: String },
}

impl RemoteSpec {
    /// Parse the URL (no network access).
    pub fn location(&self) -> Result<Location, RemoteError> {
        let url = self.url.trim();
        if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            let ok = bucket.len() >= 3
                && bucket.len() <= 63
                && bucket
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
            if !ok {
                return Err(RemoteError::Config(format!(
                    "{url}: {bucket:?} is not a valid bucket name (3-63 lowercase letters, digits, '-', '.')"
                )));
            }
            let prefix = prefix.trim_matches('/').to_string();
            if prefix.split('/').any(|p| p == ".." || p == ".") {
                return Err(RemoteError::Config(format!("{url}: '..' in the prefix")));
            }
            return Ok(Location::S3 {
                bucket: bucket.to_string(),
                prefix,
            });
        }
        if let Some(rest) = url.strip_prefix("file://") {
            if !rest.starts_with('/') {
                return Err(RemoteError::Config(format!(
                    "{url}: a file:// URL needs an absolute path (file:///shared/models)"
                )));
            }
            return Ok(Location::Dir(PathBuf::from(rest)));
        }
        if url.contains("://") {
            return Err(RemoteError::Config(format!(
                "{url}: unsupported URL scheme (use s3://bucket/prefix, file:///path or a directory)"
            )));
        }
        if url.is_empty() {
            return Err(RemoteError::Config("the remote URL is empty".into()));
        }
        Ok(Location::Dir(PathBuf::from(url)))
    }

    /// Connect (no request is made yet; errors here are configuration errors).
    pub fn open(&self, options: &super::RemoteOptions) -> Result<Backend, RemoteError> {
        let env = |k: &str| options.env.get(k).filter(|v| !v.is_empty()).cloned();
        match self.location()? {
            Location::Dir(p) => Backend::dir(&p),
            Location::S3 { bucket, prefix } => {
                let profile = AwsProfile::load(&env);
                let settings = S3Settings {
                    bucket,
                    prefix,
                    path_style: self.path_style.unwrap_or(self.endpoint.is_some()),
                    region: self
                        .region
                        .clone()
                        .or_else(|| env("AWS_REGION"))
                        .or_else(|| env("AWS_DEFAULT_REGION"))
                        .or(profile.region),
                    endpoint: self.endpoint.clone().or_else(|| env("AWS_ENDPOINT_URL")),
                    credentials: profile.credentials,
                    retries: options.retries,
                    chain: super::backend::CHAIN_VARS
                        .iter()
                        .filter_map(|k| env(k).map(|v| (k.to_string(), v)))
                        .collect(),
                };
                Backend::s3(&settings)
            }
        }
    }
}

pub use super::backend::Credentials;

/// What the environment and the AWS files say.
#[derive(Default)]
struct AwsProfile {
    credentials: Option<Credentials>,
    region: Option<String>,
}

impl AwsProfile {
    fn load(env: &dyn Fn(&str) -> Option<String>) -> AwsProfile {
        let home = env("HOME").map(PathBuf::from);
        let aws_file = |var: &str, name: &str| {
            env(var)
                .map(PathBuf::from)
                .or_else(|| home.as_ref().map(|h| h.join(".aws").join(name)))
        };
        let profile = env("AWS_PROFILE").unwrap_or_else(|| "default".into());
        let creds_file = aws_file("AWS_SHARED_CREDENTIALS_FILE", "credentials")
            .and_then(|p| std::fs::read_to_string(p).ok())
            .map(|t| ini_section(&t, &profile))
            .unwrap_or_default();
        let config_section = if profile == "default" {
            "default".to_string()
        } else {
            format!("profile {profile}")
        };
        let config_file = aws_file("AWS_CONFIG_FILE", "config")
            .and_then(|p| std::fs::read_to_string(p).ok())
            .map(|t| ini_section(&t, &config_section))
            .unwrap_or_default();
        let from = |m: &BTreeMap<String, String>| {
            Some(Credentials {
                access_key_id: m.get("aws_access_key_id")?.clone(),
                secret_access_key: m.get("aws_secret_access_key")?.clone(),
                session_token: m.get("aws_session_token").cloned(),
            })
        };
        let from_env = match (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
            (Some(k), Some(s)) => Some(Credentials {
                access_key_id: k,
                secret_access_key: s,
                session_token: env("AWS_SESSION_TOKEN"),
            }),
            _ => None,
        };
        AwsProfile {
            credentials: from_env
                .or_else(|| from(&creds_file))
                .or_else(|| from(&config_file)),
            region: config_file.get("region").cloned(),
        }
    }
}

/// The `key = value` pairs of `[section]` in an INI file (the AWS files' format).
fn ini_section(text: &str, section: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut inside = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.starts_with(';') || line.is_empty() {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            inside = name.trim() == section;
            continue;
        }
        if inside {
            if let Some((k, v)) = line.split_once('=') {
                out.insert(k.trim().to_lowercase(), v.trim().to_string());
            }
        }
    }
    out
}

/// Check a remote name: the rules of model names (it becomes a directory name).
pub fn validate_remote_name(name: &str) -> Result<()> {
    Ok(crate::names::validate_name("remote name", name)?)
}

#[derive(Default, Serialize, Deserialize)]
struct TrackedFile {
    #[serde(default)]
    remotes: BTreeMap<String, RemoteSpec>,
}

fn tracked_path(root: &Path) -> PathBuf {
    root.join(TRACKED_FILE)
}

/// The remotes in the tracked file under `root` (empty when there is none).
pub fn tracked_remotes(root: &Path) -> Result<BTreeMap<String, RemoteSpec>> {
    let path = tracked_path(root);
    match std::fs::read_to_string(&path) {
        Ok(t) => {
            let f: TrackedFile = serde_yaml::from_str(&t).map_err(|e| Error::CorruptFile {
                path: path.clone(),
                why: format!("bad remotes file: {e}"),
            })?;
            Ok(f.remotes)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(e) => Err(Error::io("reading", path, e)),
    }
}

/// Where a configured remote is defined.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    Store,
    Tracked,
}

/// Every remote the store knows: its own, then the tracked file's.
pub fn remotes(repo: &Repo) -> Result<BTreeMap<String, (RemoteSpec, Origin)>> {
    let mut out: BTreeMap<String, (RemoteSpec, Origin)> = tracked_remotes(repo.root())?
        .into_iter()
        .map(|(k, v)| (k, (v, Origin::Tracked)))
        .collect();
    for (k, v) in &repo.config().remotes {
        out.insert(k.clone(), (v.clone(), Origin::Store));
    }
    Ok(out)
}

/// A configured remote, as `remote list` shows it.
#[derive(Clone, Debug, Serialize)]
pub struct ConfiguredRemote {
    pub name: String,
    pub url: String,
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub path_style: Option<bool>,
    /// The store's own config, or the tracked file every clone of the code shares.
    pub defined_in: Origin,
}

/// Every remote the store knows, by name.
pub fn list(repo: &Repo) -> Result<Vec<ConfiguredRemote>> {
    Ok(remotes(repo)?
        .into_iter()
        .map(|(name, (s, defined_in))| ConfiguredRemote {
            name,
            url: s.url,
            endpoint: s.endpoint,
            region: s.region,
            path_style: s.path_style,
            defined_in,
        })
        .collect())
}

/// The remote named `name`, or the default one: `origin`, else the only remote.
pub fn resolve(repo: &Repo, name: Option<&str>) -> Result<(String, RemoteSpec)> {
    let all = remotes(repo)?;
    match name {
        Some(n) => all
            .get(n)
            .map(|(s, _)| (n.to_string(), s.clone()))
            .ok_or_else(|| RemoteError::UnknownRemote(n.to_string()).into()),
        None => {
            if let Some((s, _)) = all.get("origin") {
                return Ok(("origin".into(), s.clone()));
            }
            let mut it = all.into_iter();
            match (it.next(), it.next()) {
                (Some((n, (s, _))), None) => Ok((n, s)),
                (None, _) => Err(RemoteError::NoRemote.into()),
                (Some(_), Some(_)) => Err(RemoteError::Config(
                    "several remotes and none is called origin: name one".into(),
                )
                .into()),
            }
        }
    }
}

/// Add a remote to the store's config or (tracked) to the project's remotes file.
pub fn add(repo: &Repo, name: &str, spec: RemoteSpec, tracked: bool) -> Result<()> {
    validate_remote_name(name)?;
    spec.location()?;
    if remotes(repo)?.contains_key(name) {
        return Err(RemoteError::Config(format!(
            "a remote named {name} already exists (remove it first: mreg remote remove {name})"
        ))
        .into());
    }
    if tracked {
        let path = tracked_path(repo.root());
        let mut f = TrackedFile {
            remotes: tracked_remotes(repo.root())?,
        };
        f.remotes.insert(name.to_string(), spec);
        let text = serde_yaml::to_string(&f).map_err(|e| Error::Encode {
            what: "the remotes file",
            source: e.into(),
        })?;
        let text = format!(
            "# Remotes of this project's mreg store (mreg remote add --tracked). No credentials here.\n{text}"
        );
        crate::fsutil::write_atomic(&path, text.as_bytes(), &repo.tmp_dir())
    } else {
        repo.update_config(|c| {
            c.remotes.insert(name.to_string(), spec);
            Ok(())
        })
        .map(|_| ())
    }
}

/// Remove a remote (from wherever it is defined). Returns where it was.
pub fn remove(repo: &Repo, name: &str) -> Result<Origin> {
    let all = remotes(repo)?;
    let Some((_, origin)) = all.get(name) else {
        return Err(RemoteError::UnknownRemote(name.to_string()).into());
    };
    match origin {
        Origin::Store => {
            repo.update_config(|c| {
                c.remotes.remove(name);
                Ok(())
            })?;
        }
        Origin::Tracked => {
            let mut f = TrackedFile {
                remotes: tracked_remotes(repo.root())?,
            };
            f.remotes.remove(name);
            let text = serde_yaml::to_string(&f).map_err(|e| Error::Encode {
                what: "the remotes file",
                source: e.into(),
            })?;
            crate::fsutil::write_atomic(
                &tracked_path(repo.root()),
                text.as_bytes(),
                &repo.tmp_dir(),
            )?;
        }
    }
    Ok(*origin)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(url: &str) -> RemoteSpec {
        RemoteSpec {
            url: url.into(),
            endpoint: None,
            region: None,
            path_style: None,
        }
    }

    #[test]
    fn urls_parse_and_bad_ones_are_refused() {
        assert_eq!(
            spec("s3://my-bucket/team/models/").location().unwrap(),
            Location::S3 {
                bucket: "my-bucket".into(),
                prefix: "team/models".into()
            }
        );
        assert_eq!(
            spec("file:///mnt/models").location().unwrap(),
            Location::Dir("/mnt/models".into())
        );
        assert_eq!(
            spec("../m").location().unwrap(),
            Location::Dir("../m".into())
        );
        for bad in [
            "s3://AB/x",
            "s3://b",
            "gs://bucket/x",
            "file://rel",
            "s3://bkt/a/../b",
            "",
        ] {
            assert!(spec(bad).location().is_err(), "{bad}");
        }
    }

    #[test]
    fn ini_sections_are_read_by_name() {
        let t = "[default]\naws_access_key_id = A\n[profile dev]\nregion=eu-west-1\n# c\n[other]\nx=1\n";
        assert_eq!(ini_section(t, "default")["aws_access_key_id"], "A");
        assert_eq!(ini_section(t, "profile dev")["region"], "eu-west-1");
        assert!(!ini_section(t, "dev").contains_key("region"));
    }
}
