//! What a client of the library — the `mreg` command line, the Python package — takes from
//! the process it runs in, read in one place: which store (`MREG_STORE`, else upward from
//! the working directory), who acts (`MREG_AUTHOR`, else git's user, else `$USER`), what
//! time it is (`MREG_NOW`, for tests), how remotes are reached (`MREG_REMOTE_JOBS`,
//! `MREG_REMOTE_RETRIES`, the `AWS_*` variables and `~/.aws` files), and how an error
//! reads with its causes. The rest of the library never reads the environment: clients
//! pass these in (`Repo::with_remote_options`, `MoveInfo`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::history::MoveInfo;
use crate::remote::RemoteOptions;
use crate::repo::Repo;

/// Open the store a client means: `given` (a `.modelreg` directory, or a directory to
/// search upward from), else `$MREG_STORE`, else upward from `cwd` — with the remote
/// options of this process.
pub fn open_store(given: Option<&Path>, cwd: &Path) -> Result<Repo> {
    let given: Option<PathBuf> = given
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os("MREG_STORE").map(PathBuf::from));
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
    Ok(repo.with_remote_options(remote_options()))
}

/// The author of new commits and moves: `explicit` when given, else `MREG_AUTHOR`, else
/// git's `user.name <user.email>` (as git would read it in `cwd`), else `$USER`.
pub fn author(explicit: Option<&str>, cwd: &Path) -> String {
    let explicit = explicit
        .filter(|a| !a.trim().is_empty())
        .map(String::from)
        .or_else(|| std::env::var("MREG_AUTHOR").ok());
    crate::git::default_author(
        explicit.as_deref(),
        cwd,
        std::env::var("USER").ok().as_deref(),
    )
}

/// The time of new commits and moves (UTC): `MREG_NOW` overrides it (tests).
pub fn now() -> Result<crate::Timestamp> {
    match std::env::var("MREG_NOW") {
        Ok(t) => crate::Timestamp::parse(&t)
            .map_err(|e| Error::InvalidArgument(format!("MREG_NOW: {e}"))),
        Err(_) => Ok(crate::Timestamp::now()),
    }
}

/// Who, when and why of a move made now.
pub fn move_info(message: String, author: Option<&str>) -> Result<MoveInfo> {
    let cwd = std::env::current_dir().unwrap_or_default();
    Ok(MoveInfo {
        time: now()?,
        author: self::author(author, &cwd),
        message,
    })
}

/// How remotes are reached from this process: transfers in flight (`MREG_REMOTE_JOBS`,
/// default 16), attempts per request (`MREG_REMOTE_RETRIES`, default 4), and the AWS
/// variables (`AWS_*`, and `HOME` for `~/.aws`).
pub fn remote_options() -> RemoteOptions {
    let number = |k: &str| std::env::var(k).ok().and_then(|s| s.parse::<usize>().ok());
    let defaults = RemoteOptions::default();
    let env: BTreeMap<String, String> = std::env::vars()
        .filter(|(k, v)| (k.starts_with("AWS_") || k == "HOME") && !v.is_empty())
        .collect();
    RemoteOptions {
        jobs: number("MREG_REMOTE_JOBS")
            .filter(|&n| n > 0)
            .unwrap_or(defaults.jobs),
        retries: number("MREG_REMOTE_RETRIES").unwrap_or(defaults.retries),
        env,
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
