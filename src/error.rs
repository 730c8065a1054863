//! The library's error type.
//!
//! Every error names its subject (a path, an id, a name) and keeps its cause as `source`
//! (I/O errors, gix errors). The error says what went wrong; [`Error::hint`] says what to do
//! about it and [`Error::category`] what kind of failure it is (both in `hints.rs`, exhaustive
//! matches shared by the CLI and the Python package). The CLI renders `error: ...`, the
//! cause chain and `hint: ...` once, in one place (`cli::render_error`).

use std::path::PathBuf;

use crate::id::CommitId;
use crate::names::{AliasName, ModelName};

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
        model: ModelName,
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
    UnknownModel(ModelName),

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
        model: ModelName,
        alias: AliasName,
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

    #[error("commit {} has had its file data pruned by gc", .commit.short())]
    Pruned { commit: CommitId },

    #[error("{model}@{alias} has moved: expected {expected}, found {actual}")]
    AliasMoved {
        model: ModelName,
        alias: AliasName,
        expected: String,
        actual: String,
    },

    #[error("model {model} has no alias {alias:?}")]
    UnknownAlias { model: ModelName, alias: AliasName },

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
    NoCandidate { model: ModelName },

    #[error("model {model} has no rollback alias to roll back to")]
    NoRollback { model: ModelName },

    #[error("cannot archive {}: {model}@{} points at it", .id.short(), .aliases.join(", @"))]
    ArchiveAliased {
        id: CommitId,
        model: ModelName,
        aliases: Vec<String>,
    },

    #[error("refused: a move of {model}'s refs breaks a rule every move obeys: {why}")]
    BrokenRule { model: ModelName, why: String },

    #[error("commit {} is archived", .id.short())]
    Archived { id: CommitId },

    #[error("invalid expression at column {}: {why}\n  {expr}\n  {}^", .pos + 1, " ".repeat(*.pos))]
    Expression {
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

    #[error(transparent)]
    Query(#[from] QueryError),

    #[error(transparent)]
    Record(#[from] RecordError),

    #[error(transparent)]
    Train(#[from] TrainError),

    #[error(transparent)]
    Trust(#[from] TrustError),

    /// A value the caller gave (an option, an environment variable) that is not of the
    /// expected form.
    #[error("{option} {value:?}: {expected}")]
    BadValue {
        option: &'static str,
        value: String,
        expected: String,
    },

    /// Serializing one of mreg's own records failed (a bug, never bad input).
    #[error("cannot serialize {what}: {source}")]
    Encode {
        what: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },

    #[error("training failed: {0}")]
    Training(String),

    #[error("gc refused: {} item(s) it must keep cannot be read, so it cannot tell which objects they need:\n{}", .problems.len(), .problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    GcRefused { problems: Vec<String> },

    #[error("no version of model {model} has {key}")]
    UnknownKey { model: ModelName, key: String },

    #[error("refusing to prune {}: {why}", .id.short())]
    PruneRefused {
        id: CommitId,
        model: ModelName,
        why: PruneRefusal,
    },

    #[error("this store does not have version {commit} ({what})")]
    NotInStore { commit: CommitId, what: String },

    #[error("{path} is a symbolic link ({link})")]
    Symlink { path: String, link: PathBuf },

    #[error("commit {} belongs to model {actual}, not {expected}", .id.short())]
    WrongModel {
        id: CommitId,
        actual: ModelName,
        expected: ModelName,
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
            Error::Expression { .. } => "Query",
            Error::Query(q) => q.code(),
            Error::Record(r) => r.code(),
            Error::Trust(t) => t.code(),
            Error::Train(t) => t.code(),
            Error::BadValue { .. } => "BadValue",
            Error::Encode { .. } => "Encode",
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

impl From<crate::names::NameError> for Error {
    fn from(e: crate::names::NameError) -> Self {
        match e {
            crate::names::NameError::Name { what, name, why } => {
                Error::InvalidName { what, name, why }
            }
            crate::names::NameError::Path { path, why } => Error::InvalidPath { path, why },
        }
    }
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
    #[error("{} is not inside a git repository", .dir.display())]
    NotARepository {
        dir: PathBuf,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    #[error("git revision {rev} has no {file}")]
    NoLockFile { rev: String, file: &'static str },
    #[error("{} is not mreg's hook, but {} (a hook mreg chained to) is also there", .path.display(), .chained.display())]
    HookConflict { path: PathBuf, chained: PathBuf },
    #[error("`git {command}` failed ({status})")]
    CommandFailed { command: String, status: String },
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
    #[error("commit {} has no recipe: only commits made by `mreg train` or `mreg run` can be reproduced", .commit.short())]
    NoRecipe { commit: CommitId },
    #[error("commit {} cannot be reproduced: {why}", .commit.short())]
    NotReproducible { commit: CommitId, why: String },
    #[error("the commit has no dataset {name:?}")]
    NoSuchDataset { name: String },
    #[error("dataset {name:?} was not stored, so it cannot be restored")]
    DatasetNotStored { name: String },
    #[error("this mreg was built without the `train` feature, so it cannot retrain")]
    TrainingNotBuilt,
    #[error("no run {id:?}")]
    NoRun { id: String },
    #[error("version {} was committed directly, not by a run", .commit.short())]
    NotARun { commit: CommitId },
    #[error("{what} kept no output log: logs are kept for jobs `mreg run` ran")]
    NoLog { what: String },
    #[error("--set applies to commits made by `mreg train`")]
    SetNeedsTrain,
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
    #[error("the remote is busy: {0}")]
    Locked(String),
    #[error("{missing} object(s) of version {commit} are neither in this store nor on the remote {remote}")]
    DataUnavailable {
        commit: CommitId,
        remote: String,
        missing: usize,
    },
}

/// A query that cannot be answered as asked: a key, a time or a duration that does not
/// parse, or a ranking with nothing left to rank. (A bad `--where` expression is
/// [`Error::Expression`], which points at the column.)
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// A key (`metrics.acc`, `params.lr`, a bare metric name) given to an option.
    #[error("{option}: {why}")]
    BadKey { option: String, why: String },
    #[error("{input:?}: expected a time like 2026-03-03T12:00:00Z or a date like 2026-03-03")]
    BadTime { input: String },
    #[error("{input:?} is not a duration (e.g. 90days, 2weeks, 12h): {why}")]
    BadDuration { input: String, why: String },
    /// Every version that has the key was pruned, so none can be the best.
    #[error("no version of {model} with {key} has its data: {skipped} pruned version(s) skipped")]
    AllPruned {
        model: String,
        key: String,
        skipped: usize,
    },
}

/// What is wrong with a version (or an evaluation) about to be recorded. Nothing was
/// recorded.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("nothing to commit: the given directories hold no files")]
    NoFiles,
    #[error("dataset {name:?} is given twice")]
    DuplicateDataset { name: String },
    #[error("metric {metric} is not a finite number")]
    NotFinite { metric: String },
    #[error("an evaluation needs at least one metric (--metric K=V or --metrics-file)")]
    NoMetrics,
    #[error("cannot carry {path} from {}: its data was pruned; commit the file itself", .parent.short())]
    CarryPruned { path: String, parent: CommitId },
    #[error("--carry would record the parent's content for {} file(s) that have local changes: {}; commit them too, or restore them with `mreg checkout {} PATH`", .paths.len(), .paths.join(", "), .parent.short())]
    CarryChanged {
        paths: Vec<String>,
        parent: CommitId,
    },
    #[error("a model description is at most {max} bytes of text")]
    DescriptionTooLong { max: usize },
}

/// Why a signature, a key or a version's pickles cannot be trusted. Nothing was changed.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error("key {path}: {why}")]
    BadKey { path: String, why: String },
    #[error("signature bundle: {why}")]
    BadBundle { why: String },
    #[error("the signature does not verify with this key: what was signed has been changed since, or another key signed it")]
    BadSignature,
    #[error("the bundle names another key (hint {hint}) than the one given ({key})")]
    WrongKey { hint: String, key: String },
    #[error("the signature does not cover the files of {} as they are: {differences}", .commit.short())]
    FilesDiffer {
        commit: CommitId,
        differences: String,
    },
    #[error("{} has no signature", .commit.short())]
    Unsigned { commit: CommitId },
    #[error("{} has no valid signature by a trusted key: {why}", .commit.short())]
    NotTrusted { commit: CommitId, why: String },
    #[error("{} holds pickles that would run code when loaded: {}", .commit.short(), .findings.join("; "))]
    UnsafePickle {
        commit: CommitId,
        findings: Vec<String>,
    },
    #[error("no key to verify with: {model} trusts no key")]
    NoTrustedKeys { model: ModelName },
}

/// Why `mreg train` (burn) cannot train on what it was given. Failures while training
/// are [`Error::Training`].
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("training config: {why}")]
    Config { why: String },
    #[error("name the model: --model NAME, or `name:` in the config")]
    NoModelName,
    #[error("{}: no feature columns besides the target {target:?}", .path.display())]
    NoFeatures { path: PathBuf, target: String },
    #[error("{}: classification needs at least two classes in {target:?}, found {found}", .path.display())]
    TooFewClasses {
        path: PathBuf,
        target: String,
        found: usize,
    },
    #[error("{}: {rows} row(s) cannot be split into training and validation data", .path.display())]
    TooFewRows { path: PathBuf, rows: usize },
    #[error("commit {} was not made by `mreg train` (it has no training recipe)", .commit.short())]
    NotTrained { commit: CommitId },
}

/// The stable code of an area's variant: the area's prefix and the variant's name.
macro_rules! area_codes {
    ($ty:ident, $prefix:literal, [$($variant:ident),* $(,)?]) => {
        impl $ty {
            /// A stable code for programs: the area and the variant (never renamed).
            pub fn code(&self) -> &'static str {
                match self {
                    $($ty::$variant { .. } => concat!($prefix, stringify!($variant)),)*
                }
            }
        }
    };
}
area_codes!(
    GitError,
    "Git",
    [
        Gix,
        UnknownRevision,
        NotACommit,
        NotAWorkTree,
        Patch,
        NotARepository,
        NoLockFile,
        HookConflict,
        CommandFailed
    ]
);
area_codes!(
    RunError,
    "Run",
    [
        NoCommand,
        NoOutputs,
        CommandFailed,
        Interrupted,
        NotCommitted,
        BadGlob,
        ReplayFailed,
        NoRecipe,
        NotReproducible,
        NoSuchDataset,
        DatasetNotStored,
        TrainingNotBuilt,
        NoRun,
        NotARun,
        NoLog,
        SetNeedsTrain
    ]
);
area_codes!(
    RemoteError,
    "Remote",
    [
        UnknownRemote,
        NoRemote,
        Config,
        NotFound,
        NoDirectory,
        Credentials,
        Unreachable,
        Io,
        Corrupt,
        Protocol,
        NoConditionalWrites,
        DataUnavailable,
        Locked
    ]
);
area_codes!(
    QueryError,
    "Query",
    [BadKey, BadTime, BadDuration, AllPruned]
);
area_codes!(
    RecordError,
    "Record",
    [
        NoFiles,
        DuplicateDataset,
        NotFinite,
        NoMetrics,
        CarryPruned,
        CarryChanged,
        DescriptionTooLong
    ]
);
area_codes!(
    TrainError,
    "Train",
    [
        Config,
        NoModelName,
        NoFeatures,
        TooFewClasses,
        TooFewRows,
        NotTrained
    ]
);

#[cfg(test)]
mod tests {
    use super::*;

    /// Python maps errors by these codes: an area's code is its prefix and the variant,
    /// and codes that existed before the areas were split out keep their old text.
    #[test]
    fn codes_are_stable_and_name_their_area() {
        let e = Error::from(QueryError::BadTime { input: "x".into() });
        assert_eq!(e.code(), "QueryBadTime");
        let e = Error::Expression {
            expr: "a >".into(),
            pos: 3,
            why: "x".into(),
        };
        assert_eq!(e.code(), "Query");
        assert_eq!(Error::from(RecordError::NoFiles).code(), "RecordNoFiles");
        assert_eq!(
            Error::from(TrainError::NoModelName).code(),
            "TrainNoModelName"
        );
        assert_eq!(
            Error::from(RunError::SetNeedsTrain).code(),
            "RunSetNeedsTrain"
        );
        assert_eq!(Error::from(RemoteError::NoRemote).code(), "RemoteNoRemote");
        assert_eq!(Error::Training("x".into()).code(), "Training");
    }
}

area_codes!(
    TrustError,
    "Trust",
    [
        BadKey,
        BadBundle,
        BadSignature,
        WrongKey,
        FilesDiffer,
        Unsigned,
        NotTrusted,
        UnsafePickle,
        NoTrustedKeys,
    ]
);
