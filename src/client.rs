//! What a client of the library — the `mreg` command line, the Python package — takes from
//! the process it runs in, interpreted in one place: which store (`MREG_STORE`, else upward
//! from the working directory), who acts (`MREG_AUTHOR`, else git's user, else `$USER`),
//! what time it is (`MREG_NOW`, for tests), how remotes are reached (`MREG_REMOTE_JOBS`,
//! `MREG_REMOTE_RETRIES`, the `AWS_*` variables and `~/.aws` files), and how an error
//! reads with its causes.
//!
//! The library never reads the environment itself: a client takes a snapshot of its
//! variables (`Environment::from_os` of what the OS lists) and passes it here, so a test
//! or an embedding program decides exactly what mreg sees.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::history::MoveInfo;
use crate::remote::RemoteOptions;
use crate::repo::Repo;

/// The variables a client's process runs with, as it hands them to the library.
#[derive(Clone, Debug, Default)]
pub struct Environment {
    vars: BTreeMap<String, String>,
}

impl Environment {
    /// From `(name, value)` pairs.
    pub fn new(vars: impl IntoIterator<Item = (String, String)>) -> Environment {
        Environment {
            vars: vars.into_iter().collect(),
        }
    }

    /// From the process's variables as the OS lists them (`OsString` pairs); one that is
    /// not UTF-8 is left out (the standard library's UTF-8 iterator would panic on it).
    pub fn from_os(
        vars: impl IntoIterator<Item = (std::ffi::OsString, std::ffi::OsString)>,
    ) -> Environment {
        Environment::new(
            vars.into_iter()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))),
        )
    }

    /// The value of `name`, if set and not empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

/// Open the store a client means: `given` (a `.modelreg` directory, or a directory to
/// search upward from), else `MREG_STORE`, else upward from `cwd` — with the remote
/// options of `env`.
pub fn open_store(env: &Environment, given: Option<&Path>, cwd: &Path) -> Result<Repo> {
    let given: Option<PathBuf> = given
        .map(Path::to_path_buf)
        .or_else(|| env.get("MREG_STORE").map(PathBuf::from));
    let repo = match given {
        Some(p) => {
            let p = cwd.join(p);
            if p.join("config.yaml").is_file() {
                Repo::open(&p)?
            } else if p.is_dir() {
                Repo::discover(&p)?
            } else {
                return Err(Error::NotARepo(p));
            }
        }
        None => Repo::discover(cwd)?,
    };
    Ok(repo.with_remote_options(remote_options(env)))
}

/// The author of new commits and moves: `explicit` when given, else `MREG_AUTHOR`, else
/// git's `user.name <user.email>` (as git would read it in `cwd`), else `$USER`.
pub fn author(env: &Environment, explicit: Option<&str>, cwd: &Path) -> String {
    let explicit = explicit
        .filter(|a| !a.trim().is_empty())
        .or_else(|| env.get("MREG_AUTHOR"));
    crate::git::default_author(explicit, cwd, env.get("USER"))
}

/// The time of new commits and moves (UTC): `MREG_NOW` overrides it (tests).
pub fn now(env: &Environment) -> Result<crate::Timestamp> {
    match env.get("MREG_NOW") {
        Some(t) => crate::Timestamp::parse(t).map_err(|_| Error::BadValue {
            option: "MREG_NOW",
            value: t.to_string(),
            expected: "an RFC 3339 time like 2026-03-03T12:00:00Z".into(),
        }),
        None => Ok(crate::Timestamp::now()),
    }
}

/// Who, when and why of a move made now, in `cwd`.
pub fn move_info(
    env: &Environment,
    message: String,
    author: Option<&str>,
    cwd: &Path,
) -> Result<MoveInfo> {
    Ok(MoveInfo {
        time: now(env)?,
        author: self::author(env, author, cwd),
        message,
    })
}

/// How remotes are reached: transfers in flight (`MREG_REMOTE_JOBS`, default 16), attempts
/// per request (`MREG_REMOTE_RETRIES`, default 4), and the AWS variables (`AWS_*`, and
/// `HOME` for `~/.aws`).
pub fn remote_options(env: &Environment) -> RemoteOptions {
    let number = |k: &str| env.get(k).and_then(|s| s.parse::<usize>().ok());
    let defaults = RemoteOptions::default();
    RemoteOptions {
        jobs: number("MREG_REMOTE_JOBS")
            .filter(|&n| n > 0)
            .unwrap_or(defaults.jobs),
        retries: number("MREG_REMOTE_RETRIES").unwrap_or(defaults.retries),
        env: env
            .vars
            .iter()
            .filter(|(k, v)| (k.starts_with("AWS_") || *k == "HOME") && !v.is_empty())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    }
}

/// An error's message followed by its causes, one `caused by:` line each (an I/O error's
/// message already names its cause).
pub fn error_text(e: &Error) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(c) = src {
        if !matches!(e, Error::Io { .. }) {
            s.push_str(&format!("\n  caused by: {c}"));
        }
        src = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_given_is_the_only_one_read() {
        let env = Environment::new([
            ("MREG_NOW".to_string(), "2026-01-02T03:04:05Z".to_string()),
            ("MREG_AUTHOR".into(), "Ada <ada@example.com>".into()),
            ("MREG_REMOTE_JOBS".into(), "3".into()),
            ("AWS_REGION".into(), "eu-west-1".into()),
            ("UNRELATED".into(), "x".into()),
            ("AWS_PROFILE".into(), String::new()),
        ]);
        assert_eq!(now(&env).unwrap().to_string(), "2026-01-02T03:04:05Z");
        assert_eq!(author(&env, None, Path::new("/")), "Ada <ada@example.com>");
        assert_eq!(author(&env, Some("Bo <b@x>"), Path::new("/")), "Bo <b@x>");
        let o = remote_options(&env);
        assert_eq!((o.jobs, o.retries), (3, 4));
        assert_eq!(o.env.keys().collect::<Vec<_>>(), ["AWS_REGION"]);
        let bad = Environment::new([("MREG_NOW".to_string(), "yesterday".to_string())]);
        assert!(now(&bad).is_err());
    }
}
