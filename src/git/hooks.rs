//! Git hooks: installing mreg's hooks beside the user's own, and what each hook checks.
//!
//! The scripts live in the repository's `hooks/` directory and are compiled into the binary.
//! `install` writes them into the git repository's hooks directory (`core.hooksPath` when
//! set, else `$GIT_COMMON_DIR/hooks`). A hook already there is never overwritten: it is
//! renamed to `<hook>.mreg-chained` and mreg's script runs it first (same arguments; its
//! failure stops the commit as before). `uninstall` removes mreg's scripts and renames the
//! chained hooks back, so the directory is as it was. Both are idempotent.
//!
//! The scripts call `mreg hook run <hook>`, which lands in the functions below:
//! - [`pre_commit`]: staged files pinned in `mreg.lock` or above `mreg.maxFileSize` (git
//!   config, default 10 MiB) are refused, as is a staged `mreg.lock` that names commits the
//!   store does not have. [`lock_needs_staging`] says whether mreg updated the lock file
//!   since it was staged (the CLI then stages it with `git add`, the one git write mreg does,
//!   so that git's own index locking and `GIT_INDEX_FILE` are honored).
//! - [`post_commit`]: a `git-pin` note on every model commit pinned in the new HEAD's lock
//!   file (once per git commit and model commit).
//! - [`trailers`] / [`add_trailers`]: `Model: mnist@3fa2c1d0` lines for `prepare-commit-msg`,
//!   when `git config mreg.trailers true`.
//!
//! Git state is read with gix, honoring the environment git gives hooks (`GIT_DIR`,
//! `GIT_INDEX_FILE`, ...), so `git commit -a` and `git commit -- PATH` are checked against the
//! index that will really be committed.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, IoContext, Result};
use crate::fsutil;
use crate::history::MoveInfo;
use crate::id::ObjectId;
use crate::lockfile::{LockFile, LOCK_FILE};
use crate::repo::Repo;

/// The hooks mreg installs, with their scripts (from `hooks/`).
pub const HOOKS: [(&str, &str); 3] = [
    ("pre-commit", include_str!("../../hooks/pre-commit")),
    ("post-commit", include_str!("../../hooks/post-commit")),
    (
        "prepare-commit-msg",
        include_str!("../../hooks/prepare-commit-msg"),
    ),
];

/// The first lines of every mreg script: how mreg recognizes its own hooks.
const MARKER: &str = "# mreg-managed hook:";
/// Suffix of a user's hook that mreg's script runs first.
pub const CHAINED_SUFFIX: &str = ".mreg-chained";
/// Default of `git config mreg.maxFileSize`.
pub const DEFAULT_MAX_FILE_SIZE: u64 = 10 * 1024 * 1024;

use crate::git::git_err;

/// Open the git repository for a hook or a hook command: from the environment git gives
/// hooks (`GIT_DIR`, `GIT_INDEX_FILE`), else by searching upward from `dir`.
pub fn open_git(dir: &Path) -> Result<gix::Repository> {
    gix::discover_with_environment_overrides(dir).map_err(|e| {
        Error::from(crate::error::GitError::NotARepository {
            dir: dir.to_path_buf(),
            source: Box::new(e),
        })
    })
}

/// Where git looks for hooks: `core.hooksPath` (relative paths are relative to the work tree
/// root, as git runs hooks there) or the `hooks` directory of the common git directory.
pub fn hooks_dir(git: &gix::Repository) -> Result<PathBuf> {
    let configured = git
        .config_snapshot()
        .trusted_path("core.hooksPath")
        .map_err(|e| git_err("reading core.hooksPath", e))?;
    Ok(match configured {
        Some(p) if p.is_absolute() => p,
        Some(p) => git.workdir().unwrap_or_else(|| git.git_dir()).join(p),
        None => git.common_dir().join("hooks"),
    })
}

/// What `install` or `uninstall` did to one hook.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "action")]
pub enum HookAction {
    /// mreg's script written where there was no hook.
    Installed,
    /// The user's hook renamed to `<hook>.mreg-chained`; mreg's script runs it first.
    Chained { previous: String },
    /// mreg's script was there already and is now current.
    Updated,
    /// Nothing to do.
    Unchanged,
    /// mreg's script removed (and the chained hook, if any, put back).
    Removed { restored: Option<String> },
    /// No mreg script there.
    NotInstalled,
}

#[derive(Clone, Debug, Serialize)]
pub struct HookReport {
    pub hook: String,
    pub path: PathBuf,
    #[serde(flatten)]
    pub action: HookAction,
}

fn is_mreg_script(path: &Path) -> bool {
    fs::read(path).is_ok_and(|b| {
        b.split(|&c| c == b'\n')
            .take(3)
            .any(|l| l.starts_with(MARKER.as_bytes()))
    })
}

/// A script with the installing binary filled in as the last-resort fallback.
fn render(script: &str, mreg_bin: &Path) -> String {
    let bin = mreg_bin.display().to_string().replace('\'', r"'\''");
    script.replace("@MREG_BIN@", &bin)
}

/// Install mreg's hooks into `dir` (see the module docs). `mreg_bin` is written into the
/// scripts as the fallback when `mreg` is not on PATH.
pub fn install(dir: &Path, mreg_bin: &Path) -> Result<Vec<HookReport>> {
    fsutil::create_dir_durable(dir)?;
    // Check every hook first, so a conflict changes nothing.
    for (name, _) in HOOKS {
        let path = dir.join(name);
        let chained = dir.join(format!("{name}{CHAINED_SUFFIX}"));
        if chained.exists() && path.exists() && !is_mreg_script(&path) {
            return Err(crate::error::GitError::HookConflict { path, chained }.into());
        }
    }
    let mut out = Vec::new();
    for (name, script) in HOOKS {
        let path = dir.join(name);
        let text = render(script, mreg_bin);
        let action = match fs::symlink_metadata(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => HookAction::Installed,
            Err(e) => return Err(Error::io("reading", &path, e)),
            Ok(_) if is_mreg_script(&path) => {
                if fs::read(&path).ctx("reading", &path)? == text.as_bytes() {
                    out.push(HookReport {
                        hook: name.into(),
                        path,
                        action: HookAction::Unchanged,
                    });
                    continue;
                }
                HookAction::Updated
            }
            Ok(_) => {
                // The user's hook (a file or a symlink) keeps running, first.
                let chained = dir.join(format!("{name}{CHAINED_SUFFIX}"));
                fs::rename(&path, &chained).ctx("renaming", &path)?;
                fsutil::fsync_dir(dir)?;
                HookAction::Chained {
                    previous: chained.display().to_string(),
                }
            }
        };
        fsutil::write_atomic_mode(&path, text.as_bytes(), dir, Some(0o755))?;
        out.push(HookReport {
            hook: name.into(),
            path,
            action,
        });
    }
    Ok(out)
}

/// Remove mreg's hooks from `dir` and put back the hooks they chained to.
pub fn uninstall(dir: &Path) -> Result<Vec<HookReport>> {
    let mut out = Vec::new();
    for (name, _) in HOOKS {
        let path = dir.join(name);
        let chained = dir.join(format!("{name}{CHAINED_SUFFIX}"));
        let action = if is_mreg_script(&path) {
            if fs::symlink_metadata(&chained).is_ok() {
                // rename over mreg's script: the hook is never missing.
                fs::rename(&chained, &path).ctx("restoring", &chained)?;
                HookAction::Removed {
                    restored: Some(path.display().to_string()),
                }
            } else {
                fs::remove_file(&path).ctx("removing", &path)?;
                HookAction::Removed { restored: None }
            }
        } else {
            HookAction::NotInstalled
        };
        fsutil::fsync_dir(dir)?;
        out.push(HookReport {
            hook: name.into(),
            path,
            action,
        });
    }
    Ok(out)
}

/// One of mreg's hooks in a hooks directory.
#[derive(Clone, Debug, Serialize)]
pub struct HookState {
    pub hook: String,
    /// mreg's script is the hook.
    pub installed: bool,
    /// The user's own hook, which mreg's runs first.
    pub chained: bool,
}

/// The state of mreg's hooks in a git repository, and the settings they read.
#[derive(Clone, Debug, Serialize)]
pub struct HooksStatus {
    pub hooks_dir: PathBuf,
    pub hooks: Vec<HookState>,
    /// `mreg.maxFileSize`: the pre-commit hook refuses larger files staged in git.
    pub max_file_size: u64,
    /// `mreg.trailers`: prepare-commit-msg adds model trailers.
    pub trailers: bool,
}

/// What `install` or `uninstall` did, hook by hook.
#[derive(Clone, Debug, Serialize)]
pub struct HooksChange {
    pub hooks_dir: PathBuf,
    pub hooks: Vec<HookReport>,
}

/// Which of mreg's hooks are installed in `dir`, and whether each chains to the user's.
pub fn installed(dir: &Path) -> Vec<HookState> {
    HOOKS
        .iter()
        .map(|(name, _)| HookState {
            hook: name.to_string(),
            installed: is_mreg_script(&dir.join(name)),
            chained: dir.join(format!("{name}{CHAINED_SUFFIX}")).exists(),
        })
        .collect()
}

/// The state of mreg's hooks in `git`.
pub fn status(git: &gix::Repository) -> Result<HooksStatus> {
    let dir = hooks_dir(git)?;
    Ok(HooksStatus {
        hooks: installed(&dir),
        hooks_dir: dir,
        max_file_size: max_file_size(git),
        trailers: trailers_enabled(git),
    })
}

/// `git config mreg.maxFileSize` (k/m/g suffixes as git), or the default.
pub fn max_file_size(git: &gix::Repository) -> u64 {
    git.config_snapshot()
        .integer("mreg.maxFileSize")
        .and_then(|v| u64::try_from(v).ok())
        .unwrap_or(DEFAULT_MAX_FILE_SIZE)
}

/// `git config mreg.trailers` (default false).
pub fn trailers_enabled(git: &gix::Repository) -> bool {
    git.config_snapshot()
        .boolean("mreg.trailers")
        .unwrap_or(false)
}

/// One file whose staged content differs from HEAD.
#[derive(Clone, Debug)]
pub struct Staged {
    pub path: String,
    pub id: gix::ObjectId,
    pub size: u64,
}

/// Index entries (of the index the commit will be made from) that are new or changed
/// against HEAD.
pub fn staged_changes(git: &gix::Repository) -> Result<Vec<Staged>> {
    let index = match git.open_index() {
        Ok(i) => i,
        // No index yet: nothing is staged.
        Err(_) if !git.index_path().exists() => return Ok(Vec::new()),
        Err(e) => return Err(git_err("reading the index", e)),
    };
    let head: HashMap<Vec<u8>, gix::ObjectId> = match git.head_commit() {
        Ok(c) => {
            let tree = c.tree_id().map_err(|e| git_err("reading HEAD", e))?;
            let head_index = git
                .index_from_tree(&tree)
                .map_err(|e| git_err("reading HEAD's tree", e))?;
            head_index
                .entries()
                .iter()
                .map(|e| (e.path(&head_index).to_vec(), e.id))
                .collect()
        }
        Err(_) => HashMap::new(), // no commits yet: everything in the index is new
    };
    let mut out = Vec::new();
    for e in index.entries() {
        if !(e.mode == gix::index::entry::Mode::FILE
            || e.mode == gix::index::entry::Mode::FILE_EXECUTABLE)
        {
            continue; // submodules (commits) and symlinks carry no large payload
        }
        let path = e.path(&index);
        if head.get(path.as_ref() as &[u8]) == Some(&e.id) {
            continue;
        }
        let size = git
            .find_header(e.id)
            .map_err(|err| git_err(&format!("reading staged blob of {path}"), err))?
            .size();
        out.push(Staged {
            path: path.to_string(),
            id: e.id,
            size,
        });
    }
    Ok(out)
}

/// The staged `mreg.lock` (its bytes in the index), if any.
fn staged_lock(git: &gix::Repository) -> Result<Option<Vec<u8>>> {
    let Ok(index) = git.open_index() else {
        return Ok(None);
    };
    let Some(entry) = index.entry_by_path(LOCK_FILE.into()) else {
        return Ok(None);
    };
    let blob = git
        .find_object(entry.id)
        .map_err(|e| git_err("reading the staged mreg.lock", e))?;
    Ok(Some(blob.data.clone()))
}

/// Whether the work tree's `mreg.lock` differs from the staged one (mreg updated it since
/// it was last staged, or it was never staged).
pub fn lock_needs_staging(git: &gix::Repository) -> Result<bool> {
    let Some(root) = git.workdir() else {
        return Ok(false);
    };
    let path = root.join(LOCK_FILE);
    let disk = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(Error::io("reading", path, e)),
    };
    Ok(staged_lock(git)?.as_deref() != Some(&disk[..]))
}

/// Why a commit was refused: one line per problem.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PreCommitReport {
    /// Staged files that belong in mreg, not git: (path, size, pinned in mreg.lock).
    pub large_files: Vec<(String, u64, bool)>,
    /// Commits named by the staged mreg.lock that the store lacks: (path, commit).
    pub missing_commits: Vec<(String, String)>,
    /// The staged mreg.lock could not be checked (no store, or it does not parse).
    pub lock_problem: Option<String>,
    pub max_file_size: u64,
}

impl PreCommitReport {
    pub fn ok(&self) -> bool {
        self.large_files.is_empty()
            && self.missing_commits.is_empty()
            && self.lock_problem.is_none()
    }
}

/// The pre-commit checks, against the index the commit will be made from. `store` is the
/// mreg store when one was found (without it a staged lock file cannot be verified).
pub fn pre_commit(git: &gix::Repository, store: Option<&Repo>) -> Result<PreCommitReport> {
    let max = max_file_size(git);
    let mut report = PreCommitReport {
        max_file_size: max,
        ..Default::default()
    };
    let staged = staged_changes(git)?;
    let lock = match staged_lock(git)? {
        Some(bytes) => match LockFile::parse(Path::new(LOCK_FILE), &bytes) {
            Ok(l) => Some(l),
            Err(e) => {
                report.lock_problem = Some(format!("the staged {LOCK_FILE} is invalid: {e}"));
                None
            }
        },
        None => None,
    };
    let pinned = |p: &str| lock.as_ref().is_some_and(|l| l.pin_of(p).is_some());
    for s in &staged {
        if s.path == LOCK_FILE {
            continue;
        }
        if pinned(&s.path) || s.size > max {
            report
                .large_files
                .push((s.path.clone(), s.size, pinned(&s.path)));
        }
    }
    // The staged lock file must only name commits the store has.
    let lock_changed = staged.iter().any(|s| s.path == LOCK_FILE);
    if let (Some(lock), true) = (&lock, lock_changed) {
        match store {
            None => {
                report.lock_problem = Some(format!(
                "{LOCK_FILE} is staged but no mreg store was found to check the commits it names"
            ))
            }
            Some(repo) => {
                for (model, pin) in &lock.pins {
                    if !repo.objects().exists(&pin.commit) {
                        report.missing_commits.push((
                            format!("{model} ({})", pin.paths.join(", ")),
                            pin.commit.to_hex(),
                        ));
                    }
                }
            }
        }
    }
    Ok(report)
}

/// The lock file in a git commit's tree (None when it has none).
fn lock_in(commit: &gix::Commit<'_>, what: &str) -> Result<Option<LockFile>> {
    let tree = commit
        .tree()
        .map_err(|e| git_err("reading a commit's tree", e))?;
    let Some(entry) = tree
        .lookup_entry_by_path(LOCK_FILE)
        .map_err(|e| git_err("reading a commit's tree", e))?
    else {
        return Ok(None);
    };
    let blob = entry
        .object()
        .map_err(|e| git_err("reading mreg.lock from git", e))?;
    LockFile::parse(Path::new(&format!("{what}:{LOCK_FILE}")), &blob.data).map(Some)
}

/// HEAD's id, its lock file, and its first parent's lock file.
type HeadLocks = (gix::ObjectId, LockFile, Option<LockFile>);

fn head_locks(git: &gix::Repository) -> Result<Option<HeadLocks>> {
    let Ok(commit) = git.head_commit() else {
        return Ok(None);
    };
    let Some(lock) = lock_in(&commit, "HEAD")? else {
        return Ok(None);
    };
    let parent = match commit.parent_ids().next() {
        Some(p) => {
            let pc = p
                .object()
                .map_err(|e| git_err("reading HEAD's parent", e))?
                .into_commit();
            lock_in(&pc, "HEAD~1")?
        }
        None => None,
    };
    Ok(Some((commit.id, lock, parent)))
}

/// What `post_commit` did for one pinned path.
#[derive(Clone, Debug, Serialize)]
pub struct PinRecord {
    pub path: String,
    pub model: String,
    pub commit: ObjectId,
    /// Recorded now; false when this git commit was already noted, or the store lacks it.
    pub recorded: bool,
    pub missing: bool,
}

/// Record HEAD as a `git-pin` note on every model version whose pin HEAD changed (added or
/// moved relative to its first parent's `mreg.lock`): a code commit that leaves the pins as
/// they were adds nothing, so a model's history does not grow with every code commit.
/// Returns HEAD's id and one record per pin HEAD changed (None when HEAD has no lock file).
pub fn post_commit(
    git: &gix::Repository,
    repo: &Repo,
    info: &MoveInfo,
) -> Result<Option<(String, Vec<PinRecord>)>> {
    let Some((head, lock, parent)) = head_locks(git)? else {
        return Ok(None);
    };
    let head = head.to_string();
    let branch = git
        .head_name()
        .ok()
        .flatten()
        .map(|n| n.shorten().to_string());
    let mut out = Vec::new();
    for (model, pin) in lock.pins {
        let unchanged = parent.as_ref().is_some_and(|p| {
            p.pins
                .iter()
                .any(|(m, pp)| m == &model && pp.commit == pin.commit)
        });
        if unchanged {
            continue;
        }
        let commit = pin.commit;
        let path = pin.paths.join(", ");
        let mut rec = PinRecord {
            path: path.clone(),
            model: model.to_string(),
            commit: *commit,
            recorded: false,
            missing: false,
        };
        if !repo.objects().exists(&commit) {
            rec.missing = true;
            out.push(rec);
            continue;
        }
        let already = crate::notes::git_pins(&crate::notes::notes(repo, &commit)?).contains(&head);
        if !already {
            let mut note = serde_json::json!({
                "kind": crate::notes::GIT_PIN,
                "git_commit": head,
                "path": path,
            });
            if let Some(b) = &branch {
                note["branch"] = b.clone().into();
            }
            crate::notes::add(repo, &commit, &note, info.clone())?;
            rec.recorded = true;
        }
        out.push(rec);
    }
    Ok(Some((head, out)))
}

/// `Model: NAME@SHORTID` trailers for the model versions pinned in the staged lock file.
pub fn trailers(git: &gix::Repository) -> Result<Vec<String>> {
    let Some(bytes) = staged_lock(git)? else {
        return Ok(Vec::new());
    };
    let lock = LockFile::parse(Path::new(LOCK_FILE), &bytes)?;
    let mut t: Vec<String> = lock
        .pins
        .iter()
        .map(|(m, p)| format!("Model: {m}@{}", p.commit.short()))
        .collect();
    t.sort();
    t.dedup();
    Ok(t)
}

/// Add the `Model:` trailers of the staged lock file to git's commit message file (what
/// the prepare-commit-msg hook does). Returns whether the file changed.
pub fn add_trailers_to_message_file(git: &gix::Repository, file: &Path) -> Result<bool> {
    let msg = fs::read_to_string(file).map_err(|e| Error::io("reading", file, e))?;
    let t = trailers(git)?;
    match add_trailers(&msg, &t) {
        Some(new) => {
            let dir = file.parent().unwrap_or(Path::new("."));
            crate::fsutil::write_atomic(file, new.as_bytes(), dir)?;
            Ok(true)
        }
        None => Ok(false),
    }
}

/// Add `trailers` to a commit message (as `git interpret-trailers` would: a paragraph of
/// their own at the end of the message, before git's `#` comment lines), skipping those
/// already present. Returns None when there is nothing to change, and also when the message
/// has no text yet (an editor is about to open): trailers alone would turn an abandoned,
/// empty message into a commit.
pub fn add_trailers(message: &str, trailers: &[String]) -> Option<String> {
    let lines: Vec<&str> = message.lines().collect();
    // The message proper ends where git's trailing comment block starts.
    let mut end = lines.len();
    while end > 0 && (lines[end - 1].starts_with('#') || lines[end - 1].trim().is_empty()) {
        end -= 1;
    }
    let body = &lines[..end];
    if body
        .iter()
        .all(|l| l.starts_with('#') || l.trim().is_empty())
    {
        return None;
    }
    let new: Vec<&String> = trailers
        .iter()
        .filter(|t| !body.iter().any(|l| l.trim() == t.as_str()))
        .collect();
    if new.is_empty() {
        return None;
    }
    // Join an existing trailer paragraph (last paragraph, all `Key: value`).
    let last_para_start = body
        .iter()
        .rposition(|l| l.trim().is_empty())
        .map_or(0, |i| i + 1);
    let is_trailer = |l: &str| {
        l.split_once(": ").is_some_and(|(k, _)| {
            !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
    };
    let joins = last_para_start > 0 && body[last_para_start..].iter().all(|l| is_trailer(l));
    let mut out = String::new();
    for l in body {
        out.push_str(l);
        out.push('\n');
    }
    if !joins {
        out.push('\n');
    }
    for t in new {
        out.push_str(t);
        out.push('\n');
    }
    for l in &lines[end..] {
        out.push_str(l);
        out.push('\n');
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailers_go_after_the_message_and_before_comments() {
        let t = vec!["Model: mnist@3fa2c1d0".to_string()];
        let m = "Fix loader\n\nLonger text.\n# Please enter the commit message\n#\n";
        assert_eq!(
            add_trailers(m, &t).unwrap(),
            "Fix loader\n\nLonger text.\n\nModel: mnist@3fa2c1d0\n# Please enter the commit message\n#\n"
        );
        // An existing trailer paragraph is extended, and trailers are not repeated.
        let m = "Fix\n\nSigned-off-by: A <a@x>\n";
        let out = add_trailers(m, &t).unwrap();
        assert_eq!(
            out,
            "Fix\n\nSigned-off-by: A <a@x>\nModel: mnist@3fa2c1d0\n"
        );
        assert_eq!(add_trailers(&out, &t), None);
    }

    #[test]
    fn an_empty_message_gets_no_trailers() {
        let t = vec!["Model: mnist@3fa2c1d0".to_string()];
        assert_eq!(
            add_trailers("\n# Please enter the commit message\n", &t),
            None
        );
        assert_eq!(add_trailers("", &t), None);
    }

    #[test]
    fn install_chains_and_uninstall_restores() {
        let d = tempfile::tempdir().unwrap();
        let user = "#!/bin/sh\necho user hook\n";
        fs::write(d.path().join("pre-commit"), user).unwrap();
        let r = install(d.path(), Path::new("/opt/mreg")).unwrap();
        assert!(matches!(r[0].action, HookAction::Chained { .. }));
        assert_eq!(r[1].action, HookAction::Installed);
        assert_eq!(
            fs::read_to_string(d.path().join("pre-commit.mreg-chained")).unwrap(),
            user
        );
        assert!(fs::read_to_string(d.path().join("pre-commit"))
            .unwrap()
            .contains("mreg='/opt/mreg'"));
        // Twice is harmless: the user's hook is not chained to mreg's own script.
        let r = install(d.path(), Path::new("/opt/mreg")).unwrap();
        assert!(r.iter().all(|h| h.action == HookAction::Unchanged));
        uninstall(d.path()).unwrap();
        assert_eq!(
            fs::read_to_string(d.path().join("pre-commit")).unwrap(),
            user
        );
        assert!(!d.path().join("post-commit").exists());
        assert!(!d.path().join("pre-commit.mreg-chained").exists());
        let r = uninstall(d.path()).unwrap();
        assert!(r.iter().all(|h| h.action == HookAction::NotInstalled));
    }

    #[test]
    fn a_replaced_hook_next_to_a_chained_one_is_a_conflict() {
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join("pre-commit"), "#!/bin/sh\n").unwrap();
        fs::write(d.path().join("pre-commit.mreg-chained"), "#!/bin/sh\n").unwrap();
        assert!(install(d.path(), Path::new("mreg")).is_err());
        assert!(
            !d.path().join("post-commit").exists(),
            "a conflict changes nothing"
        );
    }
}
