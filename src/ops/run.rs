//! `mreg run`: run any training command, then commit its outputs with the command line,
//! params, metrics, datasets, environment and git lineage, so that `reproduce` can run it
//! again from the recorded code.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::commit::Environment;
use crate::error::{Error, Result};
use crate::names::ModelName;
use crate::ops::commit::{commit, CommitOutcome, CommitRequest};
use crate::ops::Progress;
use crate::recipe::{Recipe, RunRecipe};
use crate::repo::Repo;

/// The dataset name under which a run's params file is stored (so it can be restored).
pub const PARAMS_DATASET: &str = "mreg-params-file";

pub struct RunRequest {
    pub model: ModelName,
    pub command: Vec<String>,
    /// Where the command runs; relative paths below are relative to it.
    pub cwd: PathBuf,
    pub outputs: Vec<PathBuf>,
    pub metrics_file: Option<PathBuf>,
    pub params_file: Option<PathBuf>,
    /// (name, path) of input data, stored so `reproduce` can restore it.
    pub datasets: Vec<(String, PathBuf)>,
    pub message: String,
    pub author: String,
    pub created_at: crate::Timestamp,
    pub environment: Environment,
    pub aliases: Vec<crate::names::AliasName>,
}

/// The root paths of a run are recorded against: the git work tree, else the store's.
pub fn run_root(repo: &Repo) -> PathBuf {
    crate::git::work_tree_root(repo.root())
        .and_then(|r| std::fs::canonicalize(&r).ok())
        .unwrap_or_else(|| repo.root().to_path_buf())
}

fn rel_to(root: &Path, p: &Path) -> Result<String> {
    let abs = crate::repo::normalize(p);
    let rel = abs.strip_prefix(root).map_err(|_| Error::InvalidPath {
        path: p.display().to_string(),
        why: format!("is outside {}", root.display()),
    })?;
    Ok(rel.to_string_lossy().replace('\\', "/"))
}

/// Why running a command, or replaying a recorded one, did not give a version.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("no command given: mreg run [options] -- COMMAND [ARGS...]")]
    NoCommand,
    #[error("name what the command produces: --outputs PATH (repeatable)")]
    NoOutputs,
    #[error("the command failed ({status}); nothing was committed")]
    CommandFailed { status: String },
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

/// Run the command (its stdio is the caller's), then commit. A failing command commits
/// nothing.
pub fn run(repo: &Repo, req: RunRequest, progress: &dyn Progress) -> Result<CommitOutcome> {
    let Some((program, args)) = req.command.split_first() else {
        return Err(RunError::NoCommand.into());
    };
    if req.outputs.is_empty() {
        return Err(RunError::NoOutputs.into());
    }
    let root = run_root(repo);
    let cwd = std::fs::canonicalize(&req.cwd).map_err(|e| Error::io("resolving", &req.cwd, e))?;
    let cwd_rel = rel_to(&root, &cwd)?;
    let start = Instant::now();
    let status = std::process::Command::new(program)
        .args(args)
        .current_dir(&cwd)
        .status()
        .map_err(|e| Error::io("running", PathBuf::from(program), e))?;
    let seconds = start.elapsed().as_secs_f64();
    if !status.success() {
        return Err(RunError::CommandFailed {
            status: status.to_string(),
        }
        .into());
    }
    let abs = |p: &Path| cwd.join(p);
    let mut params = serde_json::json!({});
    let mut datasets = req.datasets.clone();
    let params_file = match &req.params_file {
        Some(p) => {
            params = crate::datafile::read_structured("params file", &abs(p))?;
            datasets.push((PARAMS_DATASET.to_string(), abs(p)));
            Some(rel_to(&root, &abs(p))?)
        }
        None => None,
    };
    let metrics = match &req.metrics_file {
        Some(p) => crate::datafile::read_metrics(&abs(p))?,
        None => Default::default(),
    };
    let recipe = RunRecipe {
        command: req.command.clone(),
        cwd: cwd_rel,
        outputs: req
            .outputs
            .iter()
            .map(|p| rel_to(&root, &abs(p)))
            .collect::<Result<_>>()?,
        metrics_file: req
            .metrics_file
            .as_ref()
            .map(|p| rel_to(&root, &abs(p)))
            .transpose()?,
        params_file,
        datasets: datasets
            .iter()
            .map(|(n, p)| Ok((n.clone(), rel_to(&root, &abs(p))?)))
            .collect::<Result<_>>()?,
        seconds,
        system: crate::sysinfo::system_info(1),
    };
    commit(
        repo,
        CommitRequest {
            message: req.message,
            created_at: req.created_at,
            params,
            metrics,
            datasets: datasets.into_iter().map(|(n, p)| (n, abs(&p))).collect(),
            store_datasets: true,
            environment: req.environment,
            aliases: req.aliases,
            recipe: Some(Recipe::Run(Box::new(recipe))),
            ..CommitRequest::new(
                req.model,
                &req.author,
                cwd.clone(),
                req.outputs.iter().map(|p| abs(p)).collect(),
            )
        },
        progress,
    )
}
