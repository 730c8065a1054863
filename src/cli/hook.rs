//! `mreg hook`: install mreg's git hooks beside the user's own, and run them.

use std::path::PathBuf;

use mreg::hooks::{self, HookAction};
use mreg::Error;

use super::alias::move_info;
use super::{fmt, Ctx, Output};

/// Git hooks that keep models out of git and record which code shipped which model.
///
/// `mreg hook install` writes three hooks into the repository's hooks directory
/// (core.hooksPath when set). A hook already there keeps running: it is renamed to
/// HOOK.mreg-chained and mreg's hook runs it first. `mreg hook uninstall` puts it back.
///
///   pre-commit          refuses a commit that stages a model file pinned in mreg.lock, or
///                       any file larger than `git config mreg.maxFileSize` (default 10m),
///                       or a mreg.lock naming commits missing from the store; stages
///                       mreg.lock when mreg updated it
///   post-commit         notes the new git commit on every model commit pinned in mreg.lock
///                       (see `mreg show`, `mreg lineage`, `mreg blame`)
///   prepare-commit-msg  adds "Model: mnist@3fa2c1d0" trailers to messages, when
///                       `git config mreg.trailers true`
///
/// Examples:
///   mreg hook install
///   git config mreg.maxFileSize 50m
///   mreg hook status
///   mreg hook uninstall
#[derive(clap::Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Subcommand, Debug)]
enum Cmd {
    /// Install mreg's hooks, chaining to hooks already there (running it twice is harmless).
    Install {
        #[arg(long)]
        json: bool,
    },
    /// Remove mreg's hooks and restore the hooks they chained to.
    Uninstall {
        #[arg(long)]
        json: bool,
    },
    /// Show where hooks live and which of mreg's are installed.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Run one hook's work (what the installed scripts call; git passes ARGS).
    Run {
        /// pre-commit, post-commit or prepare-commit-msg.
        hook: String,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

fn render_reports(dir: &std::path::Path, r: &[hooks::HookReport], json: bool) -> String {
    if json {
        return super::json(&hooks::HooksChange {
            hooks_dir: dir.to_path_buf(),
            hooks: r.to_vec(),
        });
    }
    let mut s = format!("hooks directory: {}\n", dir.display());
    for h in r {
        let what = match &h.action {
            HookAction::Installed => "installed".to_string(),
            HookAction::Chained { previous } => {
                format!("installed; your hook now runs first from {previous}")
            }
            HookAction::Updated => "updated".into(),
            HookAction::Unchanged => "already installed".into(),
            HookAction::Removed { restored: None } => "removed".into(),
            HookAction::Removed { restored: Some(p) } => format!("removed; restored {p}"),
            HookAction::NotInstalled => "not installed".into(),
        };
        s.push_str(&format!("  {:<19} {what}\n", h.hook));
    }
    s
}

pub fn run(ctx: &Ctx, a: Args) -> mreg::Result<Output> {
    let git = hooks::open_git(&ctx.cwd)?;
    match a.cmd {
        Cmd::Install { json } => {
            let dir = hooks::hooks_dir(&git)?;
            let exe = std::env::current_exe()
                .map_err(|e| Error::io("locating the mreg binary", "mreg", e))?;
            let r = hooks::install(&dir, &exe)?;
            Ok(Output::ok(render_reports(&dir, &r, json)))
        }
        Cmd::Uninstall { json } => {
            let dir = hooks::hooks_dir(&git)?;
            let r = hooks::uninstall(&dir)?;
            Ok(Output::ok(render_reports(&dir, &r, json)))
        }
        Cmd::Status { json } => {
            let st = hooks::status(&git)?;
            if json {
                return Ok(Output::ok(super::json(&st)));
            }
            let mut s = format!("hooks directory: {}\n", st.hooks_dir.display());
            for h in &st.hooks {
                s.push_str(&format!(
                    "  {:<19} {}{}\n",
                    h.hook,
                    if h.installed {
                        "installed"
                    } else {
                        "not installed"
                    },
                    if h.chained {
                        " (chains to your hook)"
                    } else {
                        ""
                    }
                ));
            }
            s.push_str(&format!(
                "mreg.maxFileSize: {}\nmreg.trailers: {}\n",
                fmt::size(st.max_file_size),
                st.trailers
            ));
            Ok(Output::ok(s))
        }
        Cmd::Run { hook, args } => {
            match hook.as_str() {
                "pre-commit" => pre_commit(ctx, &git)?,
                "post-commit" => post_commit(ctx, &git)?,
                "prepare-commit-msg" => prepare_commit_msg(&git, &args)?,
                other => {
                    return Err(Error::InvalidArgument(format!(
                        "unknown hook {other:?}: mreg runs pre-commit, post-commit and prepare-commit-msg"
                    )))
                }
            }
            Ok(Output::ok(String::new()))
        }
    }
}

/// The store, when there is one (hooks still run their git-only checks without it).
fn store(ctx: &Ctx) -> mreg::Result<Option<mreg::Repo>> {
    match ctx.repo() {
        Ok(r) => Ok(Some(r)),
        Err(Error::NotARepo(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

fn pre_commit(ctx: &Ctx, git: &gix::Repository) -> mreg::Result<()> {
    if hooks::lock_needs_staging(git)? {
        // The one git write mreg makes: `git add` honors git's index lock and GIT_INDEX_FILE.
        let root = git.workdir().map(PathBuf::from).unwrap_or_default();
        let st = std::process::Command::new("git")
            .args(["add", "--", mreg::lockfile::LOCK_FILE])
            .current_dir(&root)
            .status()
            .map_err(|e| Error::io("running `git add`", &root, e))?;
        if !st.success() {
            return Err(mreg::error::GitError::CommandFailed {
                command: format!("add {}", mreg::lockfile::LOCK_FILE),
                status: st.to_string(),
            }
            .into());
        }
        ctx.note(format_args!(
            "mreg: staged {} (mreg updated it)",
            mreg::lockfile::LOCK_FILE
        ));
    }
    let repo = store(ctx)?;
    let r = hooks::pre_commit(git, repo.as_ref())?;
    if r.ok() {
        return Ok(());
    }
    let mut problems = Vec::new();
    let mut advice = Vec::new();
    for (path, size, pinned) in &r.large_files {
        problems.push(if *pinned {
            format!(
                "{path} ({}) is a model file versioned by mreg (pinned in mreg.lock)",
                fmt::size(*size)
            )
        } else {
            format!(
                "{path} ({}) is larger than mreg.maxFileSize ({})",
                fmt::size(*size),
                fmt::size(r.max_file_size)
            )
        });
    }
    if let Some((path, ..)) = r.large_files.first() {
        advice.push(format!(
            "version model files with mreg and keep them out of git: `git rm --cached {path}`, then `mreg commit {path} --model NAME` (it adds the file to .gitignore and mreg.lock); to allow larger files: `git config mreg.maxFileSize 100m`"
        ));
    }
    for (path, commit) in &r.missing_commits {
        problems.push(format!(
            "mreg.lock pins {path} to commit {commit}, which is not in the store"
        ));
    }
    if !r.missing_commits.is_empty() {
        advice.push("commit the model with `mreg commit` (or fetch the store that has it) before committing mreg.lock".into());
    }
    if let Some(p) = &r.lock_problem {
        problems.push(p.clone());
    }
    advice.push("`git commit --no-verify` skips this check".into());
    Err(Error::HookRefused {
        hook: "pre-commit".into(),
        problems,
        advice: advice.join("; "),
    })
}

fn post_commit(ctx: &Ctx, git: &gix::Repository) -> mreg::Result<()> {
    let Some(repo) = store(ctx)? else {
        return Ok(()); // no store, nothing to note
    };
    let info = move_info(String::new())?;
    let Some((head, records)) = hooks::post_commit(git, &repo, &info)? else {
        return Ok(());
    };
    for r in records {
        if r.missing {
            ctx.note(format_args!(
                "mreg: warning: git {} pins {}@{} ({}), which is not in this store",
                &head[..12],
                r.model,
                r.commit.short(),
                r.path
            ));
        } else if r.recorded {
            ctx.note(format_args!(
                "mreg: noted git {} on {}@{} ({})",
                &head[..12],
                r.model,
                r.commit.short(),
                r.path
            ));
        }
    }
    Ok(())
}

fn prepare_commit_msg(git: &gix::Repository, args: &[String]) -> mreg::Result<()> {
    if !hooks::trailers_enabled(git) {
        return Ok(());
    }
    let Some(file) = args.first().map(PathBuf::from) else {
        return Err(Error::InvalidArgument(
            "prepare-commit-msg needs the message file (git passes it)".into(),
        ));
    };
    let file = if file.is_absolute() {
        file
    } else {
        git.workdir().map(|w| w.join(&file)).unwrap_or(file)
    };
    hooks::add_trailers_to_message_file(git, &file)?;
    Ok(())
}
