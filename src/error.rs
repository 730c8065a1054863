//! The library's error type.
//!
//! Every error names its subject (a path, an id, a name) and keeps its cause as `source`
//! (I/O errors, gix errors). The error says what went wrong; [`Error::hint`] says what to do
//! about it and [`Error::category`] what kind of failure it is (`crate::hints`, exhaustive
//! matches shared by the CLI and the Python package). The CLI renders `error: ...`, the
//! cause chain and `hint: ...` once, in one place (`cli::render_error`).

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

    #[error(
        "the store at {path} has format version {found}; this mreg understands version {supported}"
    )]
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

    #[error("{model} has no version #{number} here{}", .latest.map_or(" (no version has a number yet)".to_string(), |n| format!(" (its latest numbered version is #{n})")))]
    UnknownVersionNumber {
        model: String,
        number: u64,
        latest: Option<u64>,
        /// The remote that numbers the model's versions (None: this store numbers them).
        upstream: Option<String>,
    },

    #[error("ambiguous revision {prefix:?}: it matches {}", .candidates.join(", "))]
    AmbiguousRevision {
        prefix: String,
        candidates: Vec<String>,
    },

    #[error("unknown model {0:?}")]
    UnknownModel(String),

    /// A name that does not exist, and the existing one it is closest to (a typo).
    #[error("{error} (did you mean {suggestion}?)")]
    Suggested {
        error: Box<Error>,
        suggestion: String,
    },

    #[error("{rev}: only {available} commit(s) back are reachable (asked for ~{asked})")]
    HistoryTooShort {
        rev: String,
        asked: usize,
        available: usize,
    },

    #[error("{rev}: {model}@{alias} has had {targets} target(s) in its history, so it has no target {asked} move(s) back (@{{0}} is the current one, @{{{}}} the oldest)", .targets.saturating_sub(1))]
    AliasHistoryTooShort {
        rev: String,
        model: String,
        alias: String,
        asked: usize,
        targets: usize,
    },

    #[error("{id} is not an object id: it is the blake3 of file {path} in commit {commit} (a file is stored as chunks listed by its manifest)")]
    FileIdNotObject {
        id: String,
        path: String,
        commit: String,
        manifest: String,
    },

    #[error("no object {id} in this store")]
    NoSuchObject { id: String },

    #[error("object {id} is missing from the store")]
    MissingObject { id: String },

    #[error("object {id} is corrupt: {why}")]
    CorruptObject { id: String, why: String },

    #[error("corrupt store file {path}: {why}")]
    CorruptFile { path: PathBuf, why: String },

    #[error("corrupt work-tree state {path}: {why}")]
    CorruptWorktree { path: PathBuf, why: String },

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

    #[error("{model}@{alias} has moved: expected {expected}, found {actual}")]
    AliasMoved {
        model: String,
        alias: String,
        expected: String,
        actual: String,
    },

    #[error("model {model} has no alias {alias:?}")]
    UnknownAlias { model: String, alias: String },

    #[error("tag {tag:?} already exists (on {model}@{id}); tags never move")]
    TagExists {
        tag: String,
        model: String,
        id: String,
    },

    #[error("unknown tag {0:?}")]
    UnknownTag(String),

    #[error("{name:?} is already a {other}; {what} names must not shadow it")]
    NameClash {
        name: String,
        what: &'static str,
        other: &'static str,
    },

    #[error("model {model} has no candidate to promote")]
    NoCandidate { model: String },

    #[error("model {model} has no rollback alias to roll back to")]
    NoRollback { model: String },

    #[error("cannot archive {id}: {model}@{} points at it", .aliases.join(", @"))]
    ArchiveAliased {
        id: String,
        model: String,
        aliases: Vec<String>,
    },

    #[error("refused: a move of {model}'s refs breaks a rule every move obeys: {why}")]
    BrokenRule { model: String, why: String },

    #[error("commit {id} is archived")]
    Archived { id: String },

    #[error("invalid expression at column {}: {why}\n  {expr}\n  {}^", .pos + 1, " ".repeat(*.pos))]
    Query {
        expr: String,
        pos: usize,
        why: String,
    },

    #[error("git commit refused by mreg's {hook} hook:\n{}", .problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    HookRefused {
        hook: String,
        problems: Vec<String>,
        advice: String,
    },

    #[error(transparent)]
    Git(#[from] GitError),

    #[error(transparent)]
    Run(#[from] RunError),

    #[error(transparent)]
    Remote(#[from] RemoteError),

    #[error("training failed: {0}")]
    Training(String),

    #[error("gc refused: {} item(s) it must keep cannot be read, so it cannot tell which objects they need:\n{}", .problems.len(), .problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    GcRefused { problems: Vec<String> },

    #[error("no version of model {model} has {key}")]
    UnknownKey { model: String, key: String },

    #[error("refusing to prune {id}: {why}")]
    PruneRefused {
        id: String,
        model: String,
        why: PruneRefusal,
    },

    #[error("this store does not have version {commit} ({what})")]
    NotInStore { commit: String, what: String },

    #[error("{path} is a symbolic link ({link})")]
    Symlink { path: String, link: PathBuf },

    #[error("commit {id} belongs to model {actual}, not {expected}")]
    WrongModel {
        id: String,
        actual: String,
        expected: String,
    },
}

impl Error {
    /// A stable code for this error, for programs (Python maps it to its exception
    /// classes): the variant's name, and for an area's error the area and its variant
    /// (`RemoteCredentials`, `GitUnknownRevision`, `RunCommandFailed`). Codes are never
    /// renamed; new ones are added.
    pub fn code(&self) -> &'static str {
        match self {
            Error::NotARepo { .. } => "NotARepo",
            Error::AlreadyInitialized { .. } => "AlreadyInitialized",
            Error::UnsupportedFormat { .. } => "UnsupportedFormat",
            Error::InvalidName { .. } => "InvalidName",
            Error::InvalidPath { .. } => "InvalidPath",
            Error::InvalidArgument { .. } => "InvalidArgument",
            Error::UnknownRevision { .. } => "UnknownRevision",
            Error::UnknownVersionNumber { .. } => "UnknownVersionNumber",
            Error::AmbiguousRevision { .. } => "AmbiguousRevision",
            Error::UnknownModel { .. } => "UnknownModel",
            Error::Suggested { error, .. } => error.code(),
            Error::HistoryTooShort { .. } => "HistoryTooShort",
            Error::AliasHistoryTooShort { .. } => "AliasHistoryTooShort",
            Error::FileIdNotObject { .. } => "FileIdNotObject",
            Error::NoSuchObject { .. } => "NoSuchObject",
            Error::MissingObject { .. } => "MissingObject",
            Error::CorruptObject { .. } => "CorruptObject",
            Error::CorruptFile { .. } => "CorruptFile",
            Error::CorruptWorktree { .. } => "CorruptWorktree",
            Error::UnsupportedFile { .. } => "UnsupportedFile",
            Error::PathNotInCommit { .. } => "PathNotInCommit",
            Error::WouldOverwrite { .. } => "WouldOverwrite",
            Error::ChangedWhileReading { .. } => "ChangedWhileReading",
            Error::Parse { .. } => "Parse",
            Error::Pruned { .. } => "Pruned",
            Error::AliasMoved { .. } => "AliasMoved",
            Error::UnknownAlias { .. } => "UnknownAlias",
            Error::TagExists { .. } => "TagExists",
            Error::UnknownTag { .. } => "UnknownTag",
            Error::NameClash { .. } => "NameClash",
            Error::NoCandidate { .. } => "NoCandidate",
            Error::NoRollback { .. } => "NoRollback",
            Error::ArchiveAliased { .. } => "ArchiveAliased",
            Error::BrokenRule { .. } => "BrokenRule",
            Error::Archived { .. } => "Archived",
            Error::Query { .. } => "Query",
            Error::HookRefused { .. } => "HookRefused",
            Error::Git(g) => g.code(),
            Error::Run(r) => r.code(),
            Error::Remote(r) => r.code(),
            Error::Training { .. } => "Training",
            Error::GcRefused { .. } => "GcRefused",
            Error::UnknownKey { .. } => "UnknownKey",
            Error::PruneRefused { .. } => "PruneRefused",
            Error::NotInStore { .. } => "NotInStore",
            Error::Symlink { .. } => "Symlink",
            Error::WrongModel { .. } => "WrongModel",
            Error::Io { .. } => "Io",
        }
    }
}

impl Error {
    /// The next step for the user, in the command line's words.
    pub fn hint(&self) -> String {
        crate::hints::hint(self)
    }

    /// What kind of failure this is (clients map it to their own error types).
    pub fn category(&self) -> crate::hints::Category {
        crate::hints::category(self)
    }

    /// Shorthand for an I/O error with its context and path.
    pub fn io(context: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            context,
            path: path.into(),
            source,
        }
    }
}

/// Why `prune` refused a version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PruneRefusal {
    /// Refs (`head`, `alias production`, `tag v1`) point at it.
    Referenced(Vec<String>),
    AlreadyPruned,
    /// No model's history names it.
    Unknown,
}

impl std::fmt::Display for PruneRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PruneRefusal::Referenced(refs) => write!(f, "{} points at it", refs.join(", ")),
            PruneRefusal::AlreadyPruned => f.write_str("its data was already pruned"),
            PruneRefusal::Unknown => f.write_str("no model's history names it"),
        }
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

// The errors of each area: defined here, where `Error` wraps them, so that the error
// module depends on no area (the areas re-export them: `git::GitError`, `ops::run::RunError`,
// `remote::RemoteError`).

/// Errors reading git repositories (through gix). The gix error is kept as the source, so
/// the whole cause chain reaches the user.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("git: {what}")]
    Gix {
        what: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    #[error("unknown git revision {rev:?}")]
    UnknownRevision {
        rev: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    #[error("git revision {rev:?} is not a commit")]
    NotACommit {
        rev: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    #[error("{} is not inside a git work tree", .dir.display())]
    NotAWorkTree { dir: PathBuf },
    #[error("cannot apply the stored patch: {why}")]
    Patch { why: String },
}

/// Why running a command, or replaying a recorded one, did not give a version.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("no command given: mreg run [options] -- COMMAND [ARGS...]")]
    NoCommand,
    #[error("name what the command produces: --outputs PATH (repeatable)")]
    NoOutputs,
    #[error("the command failed ({status}); no version was committed, the run is kept as {run}")]
    CommandFailed { status: String, run: String },
    #[error("the command was interrupted ({status}); no version was committed, the run is kept as {run}")]
    Interrupted { status: String, run: String },
    #[error("the command succeeded but its outputs could not be committed: {why}; the run is kept as {run}")]
    NotCommitted { why: String, run: String },
    #[error("--outputs {pattern:?}: {why}")]
    BadGlob { pattern: String, why: String },
    #[error("the recorded command failed when re-run ({status})")]
    ReplayFailed { status: String },
    #[error("commit {commit} has no recipe: only commits made by `mreg train` or `mreg run` can be reproduced")]
    NoRecipe { commit: String },
    #[error("commit {commit} cannot be reproduced: {why}")]
    NotReproducible { commit: String, why: String },
    #[error("the commit has no dataset {name:?}")]
    NoSuchDataset { name: String },
    #[error("dataset {name:?} was not stored, so it cannot be restored")]
    DatasetNotStored { name: String },
    #[error("this mreg was built without the `train` feature, so it cannot retrain")]
    TrainingNotBuilt,
}

/// What can go wrong talking to a remote.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("no remote named {0:?}")]
    UnknownRemote(String),
    #[error("this store has no remote")]
    NoRemote,
    #[error("remote configuration: {0}")]
    Config(String),
    #[error("remote not found: {0}")]
    NotFound(String),
    #[error("no directory for the remote: {0}")]
    NoDirectory(String),
    #[error("credentials refused: {0}")]
    Credentials(String),
    #[error("remote unreachable: {0}")]
    Unreachable(String),
    #[error("remote I/O: {0}")]
    Io(String),
    #[error("the remote's content is invalid: {0}")]
    Corrupt(String),
    #[error("remote protocol: {0}")]
    Protocol(String),
    #[error("{0} does not honour conditional writes (a create-only PUT overwrote an existing object): mreg cannot keep history there without losing updates")]
    NoConditionalWrites(String),
    #[error("{missing} object(s) of version {commit} are neither in this store nor on the remote {remote}")]
    DataUnavailable {
        commit: String,
        remote: String,
        missing: usize,
    },
}
