//! The `mreg` command line: argument parsing, output, exit codes.
//!
//! Each subcommand is one file with an `Args` struct and a `run` function. Commands write
//! their output into a `String` that `main` prints once (so a closed pipe is not an error),
//! progress goes to stderr, and every error is rendered in one place (`render_error`).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use mreg::{Error, Repo};

mod alias;
mod archive;
mod blame;
mod cat_object;
mod checkout;
mod commit;
mod completions;
mod describe;
mod diff;
mod eval;
mod fmt;
mod fsck;
mod gc;
mod history;
mod hook;
mod init;
mod lineage;
mod list;
mod log;
mod models;
mod policy;
mod progress;
mod promote;
mod remote;
mod remote_gc;
mod reproduce;
mod run_cmd;
mod runs;
mod scan;
mod show;
mod sign;
mod status;
mod tag;
#[cfg(feature = "train")]
mod train;
mod ui;
mod values;

const ABOUT: &str = "Git-style, content-addressed versioning for machine-learning models.

mreg keeps model files as deduplicated, compressed chunks named by their blake3 hash, and
every version as an immutable commit recording params, metrics, datasets and environment.";

const AFTER_HELP: &str =
    "Revisions (REV): a commit id or a unique prefix of 4+ hex digits, MODEL (its latest
commit), MODEL#N (version number N), MODEL@ALIAS, MODEL@ALIAS@{N}, TAG, and REV~N (N
commits back).

Quick start:
  mreg init
  mreg commit model.safetensors --model mnist -m 'baseline' --param lr=0.01 --metric acc=0.91
  mreg log mnist
  mreg checkout mnist~1";

#[derive(Parser, Debug)]
#[command(name = "mreg", version, about = ABOUT, after_help = AFTER_HELP)]
pub struct Cli {
    /// Run as if mreg was started in DIR.
    #[arg(short = 'C', global = true, value_name = "DIR")]
    dir: Option<PathBuf>,

    /// Use the store at PATH (the .modelreg directory itself) instead of searching upward.
    #[arg(long, global = true, env = "MREG_STORE", value_name = "PATH")]
    store: Option<PathBuf>,

    /// No progress bars and no summaries on stderr (errors are still printed).
    #[arg(long, short = 'q', global = true)]
    quiet: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    Init(init::Args),
    Commit(commit::Args),
    Log(log::Args),
    Models(models::Args),
    Show(show::Args),
    Checkout(checkout::Args),
    Status(status::Args),
    Fsck(fsck::Args),
    Alias(alias::Args),
    Tag(tag::Args),
    Promote(promote::PromoteArgs),
    Rollback(promote::RollbackArgs),
    Archive(archive::Args),
    /// Undo `mreg archive`.
    Unarchive(archive::Args),
    History(history::Args),
    Policy(policy::Args),
    Gc(gc::Args),
    Prune(gc::PruneArgs),
    Du(gc::DuArgs),
    Eval(eval::EvalArgs),
    Label(eval::LabelArgs),
    List(list::Args),
    Best(list::BestArgs),
    Compare(list::CompareArgs),
    Diff(diff::Args),
    Lineage(lineage::Args),
    Blame(blame::Args),
    Reproduce(reproduce::Args),
    Run(run_cmd::Args),
    Runs(runs::Args),
    Describe(describe::Args),
    #[cfg(feature = "train")]
    Train(train::Args),
    Hook(hook::Args),
    Remote(remote::Args),
    Push(remote::PushArgs),
    Fetch(remote::FetchArgs),
    Pull(remote::PullArgs),
    Clone(remote::CloneArgs),
    Ui(ui::Args),
    Report(ui::ReportArgs),
    Sign(sign::SignArgs),
    Signature(sign::SignatureArgs),
    Verify(sign::VerifyArgs),
    Scan(scan::Args),
    Completions(completions::Args),
    #[command(name = "cat-object")]
    CatObject(cat_object::Args),
}

/// Exit codes (README.md, "Exit codes"): 0 success, 1 error (or fsck found problems),
/// 2 usage error (clap's), 3 `reproduce` found the result different.
pub const EXIT_DIFFERENT: u8 = 3;

/// What every command gets: where it runs and how to open the store.
pub struct Ctx {
    pub cwd: PathBuf,
    pub store: Option<PathBuf>,
    pub progress: bool,
    pub quiet: bool,
}

impl Ctx {
    pub fn repo(&self) -> mreg::Result<Repo> {
        // `--store` (or MREG_STORE, which clap reads into it) names the store itself.
        let mut repo = match &self.store {
            Some(s) => {
                let s = self.cwd.join(s);
                if !s.join("config.yaml").is_file() {
                    return Err(Error::NotARepo(s));
                }
                mreg::client::open_store(&env(), Some(&s), &self.cwd)?
            }
            None => mreg::client::open_store(&env(), None, &self.cwd)?,
        };
        if !self.quiet {
            // As cargo does: say what we wait for instead of hanging silently.
            repo.set_lock_waiter(|w| {
                let why = match (w.what, w.exclusive) {
                    ("store", true) => " (writers are running; gc waits for them)",
                    ("store", false) => " (gc is running)",
                    _ => "",
                };
                eprintln!(
                    "waiting for the {} lock held by another mreg process{why}: {}",
                    w.what,
                    w.path.display()
                );
            });
        }
        Ok(repo)
    }

    /// A summary line for stderr, unless --quiet.
    pub fn note(&self, msg: std::fmt::Arguments) {
        if !self.quiet {
            eprintln!("{msg}");
        }
    }

    pub fn progress(&self) -> progress::CliProgress {
        progress::CliProgress::new(self.progress)
    }
}

/// A command's result: text for stdout and the exit code.
pub struct Output {
    pub stdout: String,
    pub code: u8,
}

impl Output {
    pub fn ok(stdout: String) -> Self {
        Output { stdout, code: 0 }
    }
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(out) => {
            write_stdout(&out.stdout);
            ExitCode::from(out.code)
        }
        Err(e) => {
            render_error(&e);
            ExitCode::from(1)
        }
    }
}

fn write_stdout(s: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    // A closed pipe (`mreg log | head`) is not an error.
    let _ = out.write_all(s.as_bytes()).and_then(|_| out.flush());
}

/// Print `error: ...`, the cause chain, and `hint: ...`, once.
pub fn render_error(e: &Error) {
    eprintln!("error: {}", mreg::client::error_text(e));
    eprintln!("hint: {}", e.hint());
}

fn run(cli: Cli) -> mreg::Result<Output> {
    let start = std::env::current_dir().map_err(|e| Error::io("reading", ".", e))?;
    let cwd = match &cli.dir {
        Some(d) => {
            let d = start.join(d);
            if !d.is_dir() {
                return Err(Error::InvalidArgument(format!(
                    "-C {}: not a directory",
                    d.display()
                )));
            }
            let d = std::fs::canonicalize(&d).map_err(|e| Error::io("resolving", &d, e))?;
            // As `git -C`: really run there, so everything read from the current
            // directory (the git config the author comes from) is DIR's.
            std::env::set_current_dir(&d).map_err(|e| Error::io("changing directory to", &d, e))?;
            d
        }
        None => start,
    };
    let ctx = Ctx {
        cwd,
        store: cli.store,
        progress: !cli.quiet && std::io::stderr().is_terminal(),
        quiet: cli.quiet,
    };
    match cli.command {
        Command::Init(a) => init::run(&ctx, a),
        Command::Commit(a) => commit::run(&ctx, a),
        Command::Log(a) => log::run(&ctx, a),
        Command::Models(a) => models::run(&ctx, a),
        Command::Show(a) => show::run(&ctx, a),
        Command::Checkout(a) => checkout::run(&ctx, a),
        Command::Status(a) => status::run(&ctx, a),
        Command::Fsck(a) => fsck::run(&ctx, a),
        Command::Alias(a) => alias::run(&ctx, a),
        Command::Tag(a) => tag::run(&ctx, a),
        Command::Promote(a) => promote::promote(&ctx, a),
        Command::Rollback(a) => promote::rollback(&ctx, a),
        Command::Archive(a) => archive::run(&ctx, a, true),
        Command::Unarchive(a) => archive::run(&ctx, a, false),
        Command::History(a) => history::run(&ctx, a),
        Command::Policy(a) => policy::run(&ctx, a),
        Command::Gc(a) => gc::run(&ctx, a),
        Command::Prune(a) => gc::prune(&ctx, a),
        Command::Du(a) => gc::du(&ctx, a),
        Command::Eval(a) => eval::eval(&ctx, a),
        Command::Label(a) => eval::label(&ctx, a),
        Command::List(a) => list::run(&ctx, a),
        Command::Best(a) => list::best(&ctx, a),
        Command::Compare(a) => list::compare(&ctx, a),
        Command::Diff(a) => diff::run(&ctx, a),
        Command::Lineage(a) => lineage::run(&ctx, a),
        Command::Blame(a) => blame::run(&ctx, a),
        Command::Reproduce(a) => reproduce::run(&ctx, a),
        Command::Run(a) => run_cmd::run(&ctx, a),
        Command::Runs(a) => runs::run(&ctx, a),
        Command::Describe(a) => describe::run(&ctx, a),
        #[cfg(feature = "train")]
        Command::Train(a) => train::run(&ctx, a),
        Command::Hook(a) => hook::run(&ctx, a),
        Command::Remote(a) => remote::run(&ctx, a),
        Command::Push(a) => remote::push(&ctx, a),
        Command::Fetch(a) => remote::fetch(&ctx, a),
        Command::Pull(a) => remote::pull(&ctx, a),
        Command::Clone(a) => remote::clone(&ctx, a),
        Command::Ui(a) => ui::run(&ctx, a),
        Command::Report(a) => ui::report_cmd(&ctx, a),
        Command::Sign(a) => sign::sign(&ctx, a),
        Command::Signature(a) => sign::signature(&ctx, a),
        Command::Verify(a) => sign::verify(&ctx, a),
        Command::Scan(a) => scan::run(&ctx, a),
        Command::Completions(a) => completions::run(&ctx, a),
        Command::CatObject(a) => cat_object::run(&ctx, a),
    }
}

/// This process's environment, as the library takes it (`mreg::client`): the command line
/// is where mreg reads its variables.
pub fn env() -> mreg::client::Environment {
    mreg::client::Environment::from_os(std::env::vars_os())
}

/// The author of new commits and moves (`client::author`).
pub fn author() -> String {
    mreg::client::author(&env(), None, &std::env::current_dir().unwrap_or_default())
}

/// The time of new commits and moves (`client::now`: MREG_NOW overrides it, for tests).
pub fn now() -> mreg::Result<mreg::Timestamp> {
    mreg::client::now(&env())
}

/// Serialize for `--json` output (pretty, with a trailing newline).
pub fn json<T: serde::Serialize>(v: &T) -> String {
    let mut s = serde_json::to_string_pretty(v).expect("output values serialize");
    s.push('\n');
    s
}

/// Paths given on the command line, relative to the repository root.
pub fn rel_paths(repo: &Repo, cwd: &Path, paths: &[PathBuf]) -> mreg::Result<Vec<String>> {
    paths.iter().map(|p| repo.rel_path(cwd, p)).collect()
}

/// Alias names given on the command line, validated at the boundary.
pub fn alias_names(names: &[String]) -> mreg::Result<Vec<mreg::names::AliasName>> {
    names
        .iter()
        .map(|a| Ok(mreg::names::AliasName::new(a)?))
        .collect()
}
