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

    #[error("training failed: {0}")]
    Training(String),

    #[error("gc refused: {} item(s) it must keep cannot be read, so it cannot tell which objects they need:\n{}", .problems.len(), .problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    GcRefused { problems: Vec<String> },

    #[error("no version of model {model} has {key}")]
    UnknownKey { model: String, key: String },

    #[error("refusing to prune {id}: {why}")]
    PruneRefused {
        id: String,
        why: String,
        hint: String,
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
    /// Shorthand for an I/O error with its context and path.
    pub fn io(context: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            context,
            path: path.into(),
            source,
        }
    }

    /// A hint toward the next step. Every error has one (`Option` for callers that build
    /// errors of their own).
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
                "run `mreg log` to see commits; a revision is an id (4+ hex digits), MODEL, MODEL@ALIAS, MODEL@ALIAS@{N}, TAG, or REV~N"
                    .into()
            }
            Error::AmbiguousRevision { .. } => "give more hex digits of the id".into(),
            Error::FileIdNotObject { path, commit, manifest, .. } => format!(
                "`mreg cat-object {manifest}` shows its manifest; `mreg checkout {commit} {path} --to DIR` writes the file"
            ),
            Error::NoSuchObject { .. } => {
                "object ids are listed by `mreg show REV --json` (manifests) and `mreg cat-object MANIFEST` (chunks); commits by `mreg log`".into()
            }
            Error::AliasHistoryTooShort { model, alias, .. } => format!(
                "run `mreg history {model} --alias {alias}` to see every move of the alias"
            ),
            Error::HistoryTooShort { .. } => {
                "REV~N counts commits back along the parent chain; run `mreg log REV` to see them".into()
            }
            Error::UnknownModel(_) => "run `mreg models` to see the models in this store".into(),
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
            Error::AliasMoved { .. } => {
                "someone else moved it first: check `mreg history MODEL`, then retry with the new --expect"
                    .into()
            }
            Error::UnknownAlias { .. } => "run `mreg alias list MODEL` to see its aliases".into(),
            Error::TagExists { .. } => {
                "choose a new tag name, or delete the tag first with `mreg tag -d NAME`".into()
            }
            Error::UnknownTag(_) => "run `mreg tag --list` to see the tags".into(),
            Error::NoCandidate { model } => format!(
                "name the version: `mreg promote {model} REV`, or set one: `mreg alias set {model} candidate REV`"
            ),
            Error::NoRollback { .. } => {
                "rollback needs a previous production: it is set by `mreg promote`".into()
            }
            Error::Query { .. } => {
                "e.g. --where 'metrics.acc >= 0.9 and (params.lr < 0.01 or eval.test.f1 > 0.8)'".into()
            }
            Error::Archived { .. } => "run `mreg unarchive REV` first".into(),
            Error::ArchiveAliased { model, aliases, .. } => format!(
                "move the alias first (`mreg alias set {model} {} OTHER_REV` or `mreg alias rm {model} {}`), then archive",
                aliases[0], aliases[0]
            ),
            Error::HookRefused { advice, .. } => advice.clone(),
            Error::CorruptWorktree { path, .. } => format!(
                "it records which work-tree files mreg wrote (the store itself is not affected): move it away (`mv {} {}.bad`); mreg then treats existing files as yours, so checkout asks for --force before replacing them",
                path.display(),
                path.display()
            ),
            Error::NotInStore { .. } => {
                "the version was committed in another store: get that store (or a copy of it) and use it with --store PATH; `mreg log` lists what this store has".into()
            }
            Error::Symlink { .. } => {
                "mreg never follows symbolic links on its own: to commit what a link points to (a Hugging Face cache snapshot is made of links), pass --follow-symlinks; to check out over a link, remove the link first".into()
            }
            Error::WrongModel { .. } => "aliases point at versions of their own model".into(),
            Error::Pruned { .. } => {
                "its params, metrics and file list are kept (`mreg show REV`); its file data was removed by gc or `mreg prune`, so choose another version".into()
            }
            Error::GcRefused { .. } => {
                "nothing was deleted; run `mreg fsck` for a full report, restore or repair those items, then run gc again".into()
            }
            Error::UnknownKey { .. } => {
                "a bare name means metrics.NAME; also params.NAME and eval.DATASET.NAME (run `mreg compare` or `mreg list --json` to see the keys versions record); nothing was changed".into()
            }
            Error::PruneRefused { hint, .. } => hint.clone(),
            Error::Io { source, .. } => match source.kind() {
                std::io::ErrorKind::NotFound => "check the path; nothing was changed".into(),
                std::io::ErrorKind::PermissionDenied => {
                    "check the file's permissions (and that the store is writable for commands that write); nothing was changed".into()
                }
                std::io::ErrorKind::ReadOnlyFilesystem => {
                    "the file system is read-only: read commands work there, commands that write need a writable store".into()
                }
                std::io::ErrorKind::StorageFull => {
                    "free disk space (`mreg gc --dry-run` shows what gc would free), then retry; nothing was committed".into()
                }
                _ => "retry once the cause is fixed; an interrupted write leaves only garbage that `mreg gc` removes".into(),
            },
            Error::InvalidArgument(_) => {
                "nothing was changed; `mreg help COMMAND` explains the arguments it takes".into()
            }
            Error::NameClash { name, .. } => format!(
                "model names and tags share one namespace in revisions: choose a name other than {name:?}"
            ),
            Error::Parse { .. } => {
                "fix the file (YAML or JSON as documented in docs/GUIDE.md) and retry; nothing was changed".into()
            }
            Error::Training(_) => {
                "nothing was committed; check the config and data (`mreg train --help`), then retry".into()
            }
            Error::UnsupportedFile { .. } => {
                "commit regular files and directories only; nothing was changed".into()
            }
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
