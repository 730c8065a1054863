//! The library's error type.
//!
//! Every error names its subject (a path, an id, a name) and, where the user can do
//! something about it, carries a hint toward the next step. The library never prints:
//! the CLI renders `error: ...` and `hint: ...` once, in one place (`cli::render_error`).

use std::path::PathBuf;

/// Result alias used throughout the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in mreg, typed so callers can match on it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{context}: {path}: {source}")]
    Io {
        context: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("not an mreg repository (or any parent directory): {0}")]
    NotARepo(PathBuf),

    #[error("an mreg store already exists at {0}")]
    AlreadyInitialized(PathBuf),

    #[error("the store at {path} has format version {found}; this mreg understands version {supported}")]
    UnsupportedFormat {
        path: PathBuf,
        found: u32,
        supported: u32,
    },

    #[error("invalid {what} {name:?}: {why}")]
    InvalidName {
        what: &'static str,
        name: String,
        why: &'static str,
    },

    #[error("invalid path {path:?}: {why}")]
    InvalidPath { path: String, why: String },

    #[error("{0}")]
    InvalidArgument(String),

    #[error("unknown revision {0:?}")]
    UnknownRevision(String),

    #[error("ambiguous revision {prefix:?}: it matches {}", .candidates.join(", "))]
    AmbiguousRevision {
        prefix: String,
        candidates: Vec<String>,
    },

    #[error("unknown model {0:?}")]
    UnknownModel(String),

    #[error("{rev}: only {available} commit(s) back are reachable (asked for ~{asked})")]
    HistoryTooShort {
        rev: String,
        asked: usize,
        available: usize,
    },

    #[error("object {id} is missing from the store")]
    MissingObject { id: String },

    #[error("object {id} is corrupt: {why}")]
    CorruptObject { id: String, why: String },

    #[error("corrupt store file {path}: {why}")]
    CorruptFile { path: PathBuf, why: String },

    #[error("{path}: {why}")]
    UnsupportedFile { path: PathBuf, why: String },

    #[error("path {0} is not committed in this revision")]
    PathNotInCommit(String),

    #[error("checkout would overwrite {} file(s) with local changes: {}", .0.len(), .0.join(", "))]
    WouldOverwrite(Vec<String>),

    #[error("{path}: file changed while it was being read")]
    ChangedWhileReading { path: PathBuf },

    #[error("cannot parse {what} {path}: {why}")]
    Parse {
        what: &'static str,
        path: PathBuf,
        why: String,
    },

    #[error("commit {commit} has had its file data pruned by gc")]
    Pruned { commit: String },
}

impl Error {
    /// Shorthand for an I/O error with its context and path.
    pub fn io(context: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            context,
            path: path.into(),
            source,
        }
    }

    /// A hint toward the next step, where there is an obvious one.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            Error::NotARepo(_) => {
                "run `mreg init` to create a store here, or pass --store PATH / set MREG_STORE"
                    .into()
            }
            Error::AlreadyInitialized(_) => "use the existing store; nothing was changed".into(),
            Error::UnsupportedFormat { .. } => {
                "upgrade mreg to a version that knows this store format".into()
            }
            Error::InvalidName { .. } => {
                "names use letters, digits, '.', '_' and '-' (at most 100 characters, not '.' or '..')"
                    .into()
            }
            Error::InvalidPath { .. } => {
                "paths must stay inside the repository (no '..', no absolute paths)".into()
            }
            Error::UnknownRevision(_) => {
                "run `mreg log` to see commits; a revision is an id (4+ hex digits), MODEL, or REV~N"
                    .into()
            }
            Error::AmbiguousRevision { .. } => "give more hex digits of the id".into(),
            Error::UnknownModel(_) => "run `mreg log` to see the models in this store".into(),
            Error::MissingObject { .. } | Error::CorruptObject { .. } | Error::CorruptFile { .. } => {
                "run `mreg fsck` for a full report of the store's health".into()
            }
            Error::PathNotInCommit(_) => {
                "run `mreg show REV` to list the files of that commit".into()
            }
            Error::WouldOverwrite(_) => {
                "commit those files first, move them away, or pass --force to overwrite them".into()
            }
            Error::ChangedWhileReading { .. } => "commit again once the file is no longer being written".into(),
            Error::Pruned { .. } => {
                "the metadata is kept; the file data was removed by a gc retention option".into()
            }
            _ => return None,
        })
    }
}

/// Attach a context and a path to `std::io::Result`s.
pub(crate) trait IoContext<T> {
    fn ctx(self, context: &'static str, path: impl Into<PathBuf>) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn ctx(self, context: &'static str, path: impl Into<PathBuf>) -> Result<T> {
        self.map_err(|e| Error::io(context, path, e))
    }
}
