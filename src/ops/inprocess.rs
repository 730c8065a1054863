//! Runs recorded from inside the caller's process: the Python package's `repo.run()`
//! block. The block is not a child mreg can `wait4`, so what `mreg run` measures from
//! outside is measured here from inside: a `Watch` samples this process's threads and the
//! GPUs (NVML) while the block runs, and the block's printed output arrives as a
//! `CapturedLog` (its first and last parts, as `mreg run` keeps them). A block that ends
//! without a version is kept as a run record (`runs`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::history::MoveInfo;
use crate::names::ModelName;
use crate::ops::commit::{commit, CommitOutcome, CommitRequest};
use crate::ops::run::{rel_to, run_root, store_curves, RunError, LOG_HEAD, LOG_TAIL};
use crate::ops::Progress;
use crate::recipe::{Recipe, RunRecipe};
use crate::repo::Repo;

/// Samples this process while a block runs: its threads, and each GPU's memory and
/// utilization through NVML (every 200 ms, as `mreg run` samples a job).
pub struct Watch(crate::sysinfo::JobSampler);

impl Watch {
    pub fn start() -> Watch {
        Watch(crate::sysinfo::JobSampler::start(
            std::process::id(),
            std::time::Duration::from_millis(200),
        ))
    }

    /// Stop and return (peak threads, GPU use).
    pub fn finish(self) -> (Option<usize>, crate::recipe::GpuUsage) {
        self.0.finish()
    }
}

/// What a block printed, bounded as `mreg run` bounds a job's log: the first `LOG_HEAD`
/// bytes and the last `LOG_TAIL`, and how many there were in all.
#[derive(Clone, Debug, Default)]
pub struct CapturedLog {
    pub head: Vec<u8>,
    pub tail: Vec<u8>,
    pub total: u64,
}

impl CapturedLog {
    /// The largest head and tail a caller should keep.
    pub const HEAD: usize = LOG_HEAD;
    pub const TAIL: usize = LOG_TAIL;
}

/// Store a captured log as a blob; its reference for the recipe.
fn store_log(repo: &Repo, log: &CapturedLog) -> Result<crate::recipe::RunLog> {
    let head = &log.head[..log.head.len().min(LOG_HEAD)];
    let tail = &log.tail[log.tail.len().saturating_sub(LOG_TAIL)..];
    let (data, truncated) = crate::ops::run::log_bytes(head, tail, log.total);
    let _store = repo.lock_store_shared()?;
    let put = repo.objects().put(crate::object::Kind::Blob, &data)?;
    repo.objects().flush()?;
    Ok(crate::recipe::RunLog {
        blob: put.id,
        bytes: log.total,
        truncated,
    })
}

/// A run that happened inside the caller's process (the Python package's `repo.run()`
/// context): what it measured, to be committed with the recipe `mreg run` writes.
pub struct InProcessRun {
    /// The version to commit; its `recipe` is filled in here. Outputs are its `paths`.
    pub commit: CommitRequest,
    /// The process's command line (what `mreg reproduce` runs again), e.g.
    /// `["python", "train.py", "--epochs", "3"]`.
    pub command: Vec<String>,
    /// Per-step metrics logged during the run.
    pub curves: crate::datafile::Curves,
    pub python: Option<crate::recipe::PythonEnv>,
    pub resources: crate::recipe::RunResources,
    /// Values that are not finite numbers (kept as recorded information, as `mreg run`
    /// keeps them from a metrics file).
    pub recorded: BTreeMap<String, serde_json::Value>,
    /// What the block printed.
    pub log: Option<CapturedLog>,
}

/// A run made in-process (`repo.run()`) whose block raised or was interrupted.
pub struct FailedInProcess {
    pub model: ModelName,
    pub command: Vec<String>,
    pub cwd: PathBuf,
    pub interrupted: bool,
    /// Why, for people (the exception).
    pub reason: String,
    pub params: serde_json::Value,
    pub labels: Vec<String>,
    pub message: String,
    pub resources: crate::recipe::RunResources,
    pub author: String,
    /// What the block printed.
    pub log: Option<CapturedLog>,
}

/// Record an in-process run that made no version: a run record, as `mreg run` keeps for
/// a failed job. Returns the record's id.
pub fn record_failed_in_process(
    repo: &Repo,
    run: FailedInProcess,
    info: MoveInfo,
) -> Result<crate::ObjectId> {
    use crate::ops::runs::{RunRecord, RunStatus, RUN};
    crate::ops::commit::check_names(repo, &run.model, &run.labels, std::iter::empty())?;
    let root = run_root(repo);
    let cwd = std::fs::canonicalize(&run.cwd).map_err(|e| Error::io("resolving", &run.cwd, e))?;
    let status = if run.interrupted {
        RunStatus::Interrupted
    } else {
        RunStatus::Failed
    };
    let record = RunRecord {
        kind: RUN.into(),
        model: run.model,
        status,
        exit_code: None,
        signal: None,
        reason: run.reason.clone(),
        author: run.author,
        started_at: crate::Timestamp::from_system_time(
            std::time::SystemTime::now()
                .checked_sub(
                    std::time::Duration::try_from_secs_f64(run.resources.wall_seconds)
                        .unwrap_or_default(),
                )
                .unwrap_or_else(std::time::SystemTime::now),
        ),
        message: run.message,
        params: run.params,
        labels: run.labels,
        recipe: RunRecipe {
            command: run.command,
            cwd: rel_to(&root, &cwd)?,
            outputs: Vec::new(),
            metrics_file: None,
            params_file: None,
            datasets: Default::default(),
            seconds: run.resources.wall_seconds,
            system: crate::sysinfo::system_info(run.resources.peak_threads.unwrap_or(1)),
            log: run.log.as_ref().map(|l| store_log(repo, l)).transpose()?,
            curves: None,
            resources: Some(run.resources),
            recorded: Default::default(),
            python: None,
        },
    };
    let info = MoveInfo {
        message: format!("run {}: {}", status.as_str(), run.reason),
        ..info
    };
    crate::ops::runs::record_failed(repo, &record, info)
}

/// Commit a run made in-process, with the same recipe as `mreg run`: command, working
/// directory, outputs, curves, resources, machine and Python environment. The commit records
/// git lineage (with the dirty patch) as every commit does.
pub fn record_in_process(
    repo: &Repo,
    run: InProcessRun,
    progress: &dyn Progress,
) -> Result<CommitOutcome> {
    if run.commit.paths.is_empty() {
        return Err(RunError::NoOutputs.into());
    }
    if run.command.is_empty() {
        return Err(RunError::NoCommand.into());
    }
    let root = run_root(repo);
    let cwd = std::fs::canonicalize(&run.commit.cwd)
        .map_err(|e| Error::io("resolving", &run.commit.cwd, e))?;
    let abs = |p: &Path| cwd.join(p);
    let recipe = RunRecipe {
        command: run.command,
        cwd: rel_to(&root, &cwd)?,
        outputs: run
            .commit
            .paths
            .iter()
            .map(|p| rel_to(&root, &abs(p)))
            .collect::<Result<_>>()?,
        metrics_file: None,
        params_file: None,
        datasets: run
            .commit
            .datasets
            .iter()
            .map(|(n, p)| Ok((n.clone(), rel_to(&root, &abs(p))?)))
            .collect::<Result<_>>()?,
        seconds: run.resources.wall_seconds,
        system: crate::sysinfo::system_info(run.resources.peak_threads.unwrap_or(1)),
        log: run.log.as_ref().map(|l| store_log(repo, l)).transpose()?,
        curves: store_curves(repo, &run.curves)?,
        resources: Some(run.resources),
        recorded: run.recorded,
        python: run.python,
    };
    commit(
        repo,
        CommitRequest {
            recipe: Some(Recipe::Run(Box::new(recipe))),
            ..run.commit
        },
        progress,
    )
}
