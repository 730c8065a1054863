//! Hints: the next step for each error, in the words of the `mreg` command line (commands
//! and flags), and the category a client maps an error to (a Python exception class, an
//! HTTP status). Both clients, the CLI and the Python package, show the same hint, so it
//! lives here rather than in the CLI. The matches are exhaustive: every error, including
//! any added later, has a hint and a category.

use crate::Error;

/// What kind of failure an error is, for clients that map errors to their own types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// No store where one was expected (or one already exists).
    NotARepo,
    /// A revision, model, alias, tag or key that does not exist (or is ambiguous).
    NotFound,
    /// A compare-and-swap lost: someone else moved the ref first, or the remote moved.
    Conflict,
    /// The version's file data was pruned.
    Pruned,
    /// The store (or a remote) holds bytes that fail verification, or misses objects.
    Corrupt,
    /// The request itself is wrong: a bad name, path, argument, filter or file.
    InvalidArgument,
    /// A refusal to do something unsafe (overwrite files, archive an aliased version, gc
    /// with unreadable items, ...). Nothing was changed.
    Refused,
    /// A remote could not be used (unreachable, credentials, configuration).
    Remote,
    /// A command (run, replay, training) failed.
    Run,
    /// Git could not be read.
    Git,
    /// The operating system refused (I/O).
    Io,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::NotARepo => "not_a_repo",
            Category::NotFound => "not_found",
            Category::Conflict => "conflict",
            Category::Pruned => "pruned",
            Category::Corrupt => "corrupt",
            Category::InvalidArgument => "invalid_argument",
            Category::Refused => "refused",
            Category::Remote => "remote",
            Category::Run => "run",
            Category::Git => "git",
            Category::Io => "io",
        }
    }
}

impl Error {
    /// The next step for the user, in the command line's words.
    pub fn hint(&self) -> String {
        hint(self)
    }

    /// What kind of failure this is (clients map it to their own error types).
    pub fn category(&self) -> Category {
        category(self)
    }
}

/// The category of an error.
pub fn category(e: &Error) -> Category {
    use crate::error::RemoteError as R;
    use Category::*;
    match e {
        Error::Suggested { error, .. } => category(error),
        Error::NotARepo(_) | Error::AlreadyInitialized(_) => NotARepo,
        Error::UnknownRevision(_)
        | Error::UnknownVersionNumber { .. }
        | Error::AmbiguousRevision { .. }
        | Error::UnknownModel(_)
        | Error::HistoryTooShort { .. }
        | Error::AliasHistoryTooShort { .. }
        | Error::NoSuchObject { .. }
        | Error::FileIdNotObject { .. }
        | Error::UnknownAlias { .. }
        | Error::UnknownTag(_)
        | Error::UnknownKey { .. }
        | Error::PathNotInCommit(_)
        | Error::NotInStore { .. }
        | Error::NoCandidate { .. }
        | Error::NoRollback { .. } => NotFound,
        Error::AliasMoved { .. } | Error::TagExists { .. } | Error::NameClash { .. } => Conflict,
        Error::Pruned { .. } | Error::Remote(R::DataUnavailable { .. }) => Pruned,
        Error::MissingObject { .. }
        | Error::CorruptObject { .. }
        | Error::CorruptFile { .. }
        | Error::CorruptWorktree { .. }
        | Error::Remote(R::Corrupt(_)) => Corrupt,
        Error::Remote(_) => Remote,
        Error::InvalidName { .. }
        | Error::InvalidPath { .. }
        | Error::InvalidArgument(_)
        | Error::UnsupportedFormat { .. }
        | Error::UnsupportedFile { .. }
        | Error::Parse { .. }
        | Error::Expression { .. }
        | Error::Query(_)
        | Error::Record(_)
        | Error::Trust(crate::error::TrustError::BadKey { .. })
        | Error::Trust(crate::error::TrustError::BadBundle { .. })
        | Error::Trust(crate::error::TrustError::NoTrustedKeys { .. })
        | Error::Train(_)
        | Error::BadValue { .. }
        | Error::Symlink { .. }
        | Error::WrongModel { .. } => InvalidArgument,
        Error::WouldOverwrite(_)
        | Error::ChangedWhileReading { .. }
        | Error::Archived { .. }
        | Error::ArchiveAliased { .. }
        | Error::BrokenRule { .. }
        | Error::HookRefused { .. }
        | Error::GcRefused { .. }
        | Error::PruneRefused { .. }
        | Error::Trust(_) => Refused,
        Error::Run(crate::error::RunError::NoRun { .. }) => NotFound,
        Error::Run(_) | Error::Training(_) => Run,
        Error::Encode { .. } => Io,
        Error::Git(crate::error::GitError::HookConflict { .. }) => Refused,
        Error::Git(_) => Git,
        Error::Io { .. } => Io,
    }
}

/// A hint toward the next step.
pub fn hint(e: &Error) -> String {
    match e {
            Error::Suggested { error, .. } => hint(error),
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
                "run `mreg log` to see commits; a revision is an id (4+ hex digits), MODEL, MODEL#N (a version number), MODEL@ALIAS, MODEL@ALIAS@{N}, TAG, or REV~N"
                    .into()
            }
            Error::UnknownVersionNumber { model, upstream, .. } => match upstream {
                Some(r) => format!(
                    "versions are numbered in the order {r} published them: `mreg pull {r}` brings newer ones; `mreg list --model {model}` shows the numbers (a version not pushed yet is pending, without a number)"
                ),
                None => format!("`mreg list --model {model}` shows the numbers"),
            },
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
            Error::Expression { .. } => {
                "e.g. --where 'metrics.acc >= 0.9 and (params.lr < 0.01 or eval.test.f1 > 0.8)'".into()
            }
            Error::Query(q) => match q {
                crate::error::QueryError::BadKey { .. } => {
                    "a key is metrics.NAME, params.PATH, eval.DATASET.NAME, a field (version, created_at, author, ...) or a bare metric name; `mreg show REV` lists a version's keys".into()
                }
                crate::error::QueryError::BadTime { .. } => {
                    "give an RFC 3339 time (2026-03-03T12:00:00Z) or a date (2026-03-03, read as its midnight UTC)".into()
                }
                crate::error::QueryError::BadDuration { .. } => {
                    "a duration is a number and a unit: 90days, 2weeks, 12h, 30min".into()
                }
                crate::error::QueryError::AllPruned { model, .. } => format!(
                    "`mreg list --model {model}` shows which versions still have their data"
                ),
            },
            Error::Record(r) => match r {
                crate::error::RecordError::CarryChanged { .. } | crate::error::RecordError::CarryPruned { .. } => {
                    "nothing was committed; name the changed files on the command line to commit their new content".into()
                }
                _ => "nothing was recorded; `mreg help commit` (or `mreg help eval`) explains what a version needs".into(),
            },
            Error::Trust(t) => {
                use crate::error::TrustError as T;
                match t {
                    T::BadKey { .. } => "keys are PEM files: openssl ecparam -name prime256v1 -genkey -noout -out key.pem; openssl ec -in key.pem -pubout -out pub.pem".into(),
                    T::BadBundle { .. } => "a bundle is what `mreg signature REV -o FILE` or `model_signing sign key` writes".into(),
                    T::BadSignature | T::WrongKey { .. } => "check that the public key is the one whose private key signed: `mreg show REV` lists each signature's key hint".into(),
                    T::FilesDiffer { .. } => "the files were changed after signing, or the bundle is for another version; sign this version again if its content is right".into(),
                    T::Unsigned { commit } => format!("sign it: mreg sign {} --key KEY.pem", commit.short()),
                    T::NotTrusted { commit, .. } => format!("sign it with a trusted key (mreg sign {} --key KEY.pem), or change the trusted keys (mreg policy MODEL --require-signature PUB.pem)", commit.short()),
                    T::UnsafePickle { .. } => "do not load it; if you know what it runs, promote with --allow-unsafe (recorded in the history); better, save weights as safetensors".into(),
                    T::NoTrustedKeys { model } => format!("name the key: --key PUB.pem, or trust one: mreg policy {model} --require-signature PUB.pem"),
                }
            }
            Error::Train(_) => {
                "nothing was committed; check the config and data (`mreg train --help`), then retry".into()
            }
            Error::BadValue { .. } => {
                "nothing was changed; `mreg help COMMAND` explains the values an option takes".into()
            }
            Error::Encode { .. } => {
                "this is a bug in mreg: please report it with the command that caused it; nothing was changed".into()
            }
            Error::Archived { .. } => "run `mreg unarchive REV` first".into(),
            Error::BrokenRule { .. } => {
                "nothing was changed; if the move came from a remote, `mreg fsck --remote NAME` lists every such line".into()
            }
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
            Error::PruneRefused { model, why, .. } => match why {
                crate::error::PruneRefusal::Referenced(refs) if refs.iter().any(|r| r == "head") => format!(
                    "it is the latest version of {model}: commit a newer version first, then prune this one"
                ),
                crate::error::PruneRefusal::Referenced(_) => format!(
                    "move or remove them first (`mreg alias set {model} ALIAS REV`, `mreg alias rm {model} ALIAS`; a tag with `mreg tag -d TAG`)"
                ),
                crate::error::PruneRefusal::AlreadyPruned => {
                    "nothing to do; `mreg show REV` lists its metadata".into()
                }
                crate::error::PruneRefusal::Unknown => {
                    format!("run `mreg log {model}` to see the versions")
                }
            },
            Error::Io { source, .. } => match source.kind() {
                std::io::ErrorKind::NotFound => "check the path; nothing was changed".into(),
                std::io::ErrorKind::PermissionDenied => {
                    "check the file's permissions (and that the store is writable for commands that write); nothing was changed".into()
                }
                std::io::ErrorKind::ReadOnlyFilesystem => {
                    "the file system is read-only: read commands work there, commands that write need a writable store".into()
                }
                std::io::ErrorKind::StorageFull => {
                    "free disk space (`mreg gc --dry-run` shows what gc would free), then retry; a write stopped by a full disk leaves no partial result (a commit is not recorded, a checkout leaves the files as they were, a clone or init leaves nothing)".into()
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
            Error::Git(g) => match g {
                crate::error::GitError::UnknownRevision { .. } | crate::error::GitError::NotACommit { .. } => {
                    "name a git commit: a branch, a tag, or a commit id (`git log --oneline` lists them)".into()
                }
                crate::error::GitError::NotAWorkTree { .. } => {
                    "run it inside the git work tree that holds the store (or `git init` one)".into()
                }
                crate::error::GitError::Patch { .. } => {
                    "the code at that commit differs from what the patch expects; check the recorded lineage with `mreg show REV`".into()
                }
                crate::error::GitError::NotARepository { .. } => {
                    "run it inside a git repository (`git init` creates one)".into()
                }
                crate::error::GitError::NoLockFile { .. } => {
                    "that commit predates the lock file: `mreg hook install` makes every later commit carry one".into()
                }
                crate::error::GitError::HookConflict { .. } => {
                    "merge the two hooks by hand, then run `mreg hook install` again".into()
                }
                crate::error::GitError::CommandFailed { .. } => {
                    "git's own message above says why; fix it and retry".into()
                }
                crate::error::GitError::Gix { .. } => {
                    "the cause above comes from git; `git status` in the same directory usually shows it".into()
                }
            },
            Error::Run(r) => {
                use crate::error::RunError;
                match r {
                    RunError::NoCommand | RunError::NoOutputs => {
                        "e.g. mreg run --model NAME --outputs model.pkl -- python train.py".into()
                    }
                    RunError::CommandFailed { run, .. } | RunError::Interrupted { run, .. } => {
                        format!("its output above says why; `mreg runs show {} --log` keeps it. Fix it and run again", &run[..12.min(run.len())])
                    }
                    RunError::NotCommitted { run, .. } => format!(
                        "the job's log and resources are kept: `mreg runs show {}`; fix the outputs and run again",
                        &run[..12.min(run.len())]
                    ),
                    RunError::BadGlob { .. } => {
                        "an output is a path or a glob (`ckpt/*.pt`); a glob must match at least one file when the job ends".into()
                    }
                    RunError::ReplayFailed { .. } => {
                        "the replay ran the recorded code on the restored data; `mreg show REV` lists what was recorded".into()
                    }
                    RunError::NoRecipe { .. } => {
                        "record the next version with `mreg run` or `mreg train` to make it reproducible".into()
                    }
                    RunError::NotReproducible { .. } => {
                        "commit the code to git before `mreg run` next time".into()
                    }
                    RunError::NoSuchDataset { .. } | RunError::DatasetNotStored { .. } => {
                        "`mreg show REV` lists the datasets the version recorded".into()
                    }
                    RunError::NoRun { .. } => {
                        "`mreg runs` lists them: a failed run by its id, a run that made a version by the version".into()
                    }
                    RunError::NotARun { commit } => {
                        format!("`mreg show {}` shows it", commit.short())
                    }
                    RunError::NoLog { .. } => {
                        "`mreg runs show RUN` shows what the run recorded".into()
                    }
                    RunError::SetNeedsTrain => {
                        "reproduce it without --set; a version `mreg run` made replays its recorded command".into()
                    }
                    RunError::TrainingNotBuilt => {
                        "install an mreg built with the default features (`cargo install mreg`)".into()
                    }
                }
            }
            Error::Remote(r) => {
                use crate::error::RemoteError;
                match r {
                    RemoteError::UnknownRemote(_) => {
                        "`mreg remote list` shows the remotes; add one with `mreg remote add NAME URL`".into()
                    }
                    RemoteError::NoRemote => {
                        "add one: `mreg remote add origin s3://BUCKET/PREFIX --endpoint URL` (or a directory path)".into()
                    }
                    RemoteError::Config(_) => {
                        "URLs are s3://BUCKET/PREFIX (with --endpoint for S3-compatible servers), file:///PATH or a directory; nothing was changed".into()
                    }
                    RemoteError::NotFound(_) => {
                        "check the bucket name and the endpoint (create the bucket first: mreg never creates buckets); nothing was changed".into()
                    }
                    RemoteError::NoDirectory(_) => {
                        "a shared-directory remote is a directory that exists (mkdir -p it once) and that every machine mounts at the same path; check the path, nothing was changed".into()
                    }
                    RemoteError::Credentials(_) => {
                        "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE with ~/.aws/credentials) for this server, or use the rest of the AWS chain: a web identity (EKS), container credentials (ECS, EKS Pod Identity), the instance's role (EC2); nothing was changed".into()
                    }
                    RemoteError::Unreachable(_) => {
                        "check the endpoint URL and that the server is running, then rerun: an interrupted transfer resumes where it stopped, and nothing half-written is ever referenced".into()
                    }
                    RemoteError::Io(_) => {
                        "rerun once the cause is fixed: an interrupted transfer resumes, and nothing half-written is ever referenced".into()
                    }
                    RemoteError::Corrupt(_) => {
                        "nothing from it was used; `mreg fsck --remote NAME` reports everything wrong with the remote".into()
                    }
                    RemoteError::Protocol(_) => {
                        "nothing was published; `mreg fsck` checks this store, `mreg fsck --remote NAME` the remote".into()
                    }
                    RemoteError::NoConditionalWrites(_) => {
                        "use a server that supports conditional writes (AWS S3, SeaweedFS, MinIO, Ceph RGW, R2), or a shared directory".into()
                    }
                    RemoteError::Locked(_) => {
                        "rerun when it has finished: pushes wait for a remote gc's sweep, and a remote gc for the pushes in flight; a lock whose holder died is ignored after 15 minutes (at once on the holder's own machine)".into()
                    }
                    RemoteError::DataUnavailable { .. } => {
                        "the version's data was pruned here and never pushed; push it from a store that still has it".into()
                    }
                }
            }
            Error::Training(_) => {
                "nothing was committed; check the config and data (`mreg train --help`), then retry".into()
            }
            Error::UnsupportedFile { .. } => {
                "commit regular files and directories only; nothing was changed".into()
            }
    }
}
