//! `mreg reproduce`: make a commit again from its recipe and say whether it came out the same.
//!
//! - A `train` commit is retrained in-process from the recorded config, the dataset restored
//!   from the store, and the seed. The weights file is compared by blake3: identical bytes
//!   mean identical weights, because mreg saves safetensors without metadata.
//! - A `run` commit is re-run in a temporary directory holding the recorded git commit's tree
//!   with the stored dirty patch applied, its datasets and params file restored; then the
//!   outputs are compared by blake3, and the metrics file within a tolerance.
//!
//! The verdict is `identical` (every output byte-identical), `within_tolerance` (bytes differ,
//! every metric within the tolerance), or `different`, with metric deltas and the environment
//! drift (versions, backend, CPU, GPU, threads) that may explain it. It is recorded as a
//! `reproduction` note on the commit.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::history::MoveInfo;
use crate::id::ObjectId;
use crate::ops::run::RunError;
use crate::recipe::{EpochRecord, Recipe, RunRecipe};
use crate::repo::Repo;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Identical,
    WithinTolerance,
    Different,
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Verdict::Identical => "identical",
            Verdict::WithinTolerance => "within_tolerance",
            Verdict::Different => "different",
        })
    }
}

/// One output file: recorded and reproduced blake3 (None when it was not produced).
#[derive(Clone, Debug, Serialize)]
pub struct FileCheck {
    pub path: String,
    pub recorded: ObjectId,
    pub reproduced: Option<ObjectId>,
}

#[derive(Clone, Debug, Serialize)]
pub struct MetricDelta {
    pub recorded: f64,
    pub reproduced: Option<f64>,
    pub delta: Option<f64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Reproduction {
    pub commit: crate::id::CommitId,
    /// `--set` overrides of a what-if retraining (empty for a true reproduction).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub overrides: Vec<String>,
    /// `train` or `run`.
    pub recipe: &'static str,
    pub verdict: Verdict,
    pub files: Vec<FileCheck>,
    pub metrics: BTreeMap<String, MetricDelta>,
    pub tolerance: f64,
    /// (what, then, now) for every environment difference.
    pub drift: Vec<(String, String, String)>,
    pub seconds: f64,
}

fn metric_deltas(
    recorded: &BTreeMap<String, f64>,
    now: &BTreeMap<String, f64>,
) -> BTreeMap<String, MetricDelta> {
    recorded
        .iter()
        .map(|(k, &r)| {
            let n = now.get(k).copied();
            (
                k.clone(),
                MetricDelta {
                    recorded: r,
                    reproduced: n,
                    delta: n.map(|n| n - r),
                },
            )
        })
        .collect()
}

fn verdict(files: &[FileCheck], metrics: &BTreeMap<String, MetricDelta>, tol: f64) -> Verdict {
    if files.iter().all(|f| f.reproduced == Some(f.recorded)) {
        return Verdict::Identical;
    }
    // |Δ| ≤ tol·max(1, |recorded|): with tol = 0, metrics that reproduce exactly are within.
    let within = !metrics.is_empty()
        && files.iter().all(|f| f.reproduced.is_some())
        && metrics.values().all(|m| {
            m.delta
                .is_some_and(|d| d.abs() <= tol * m.recorded.abs().max(1.0))
        });
    if within {
        Verdict::WithinTolerance
    } else {
        Verdict::Different
    }
}

/// Reproduce commit `id`. `tolerance` is relative (|Δ| ≤ tol·max(1, |recorded|)) and only
/// matters when the bytes differ. `on_epoch` sees the epochs of a retraining.
pub fn reproduce(
    repo: &Repo,
    id: &crate::id::CommitId,
    tolerance: f64,
    overrides: &[String],
    on_epoch: &mut dyn FnMut(&EpochRecord),
) -> Result<Reproduction> {
    if !(tolerance >= 0.0 && tolerance.is_finite()) {
        return Err(Error::BadValue {
            option: "--tolerance",
            value: tolerance.to_string(),
            expected: "a number >= 0".into(),
        });
    }
    let c = repo.read_commit(id)?;
    if !overrides.is_empty() && !matches!(c.recipe, Some(Recipe::Train(_))) {
        return Err(crate::error::RunError::SetNeedsTrain.into());
    }
    let start = std::time::Instant::now();
    let scratch = tempfile::Builder::new()
        .prefix("mreg-reproduce-")
        .tempdir()
        .map_err(|e| Error::io("creating a temporary directory", std::env::temp_dir(), e))?;
    let mut r = match &c.recipe {
        Some(Recipe::Train(_)) => {
            reproduce_train(repo, id, &c, scratch.path(), tolerance, overrides, on_epoch)?
        }
        Some(Recipe::Run(run)) => reproduce_run(repo, id, &c, run, scratch.path(), tolerance)?,
        None => return Err(RunError::NoRecipe { commit: *id }.into()),
    };
    r.seconds = start.elapsed().as_secs_f64();
    r.overrides = overrides.to_vec();
    Ok(r)
}

#[cfg(feature = "train")]
fn reproduce_train(
    repo: &Repo,
    id: &crate::id::CommitId,
    c: &crate::Commit,
    scratch: &Path,
    tolerance: f64,
    overrides: &[String],
    on_epoch: &mut dyn FnMut(&EpochRecord),
) -> Result<Reproduction> {
    let threads = rayon::current_num_threads();
    let (recipe, fitted) = crate::train::retrain(repo, id, scratch, overrides, on_epoch)?;
    let recorded = c
        .files
        .iter()
        .find(|f| f.path == recipe.weights)
        .ok_or_else(|| Error::PathNotInCommit(recipe.weights.clone()))?;
    let files = vec![FileCheck {
        path: recipe.weights.clone(),
        recorded: *recorded.blake3,
        reproduced: Some(ObjectId::hash(&fitted.weights)),
    }];
    let now = crate::train::final_metrics(&fitted.epochs, fitted.best_epoch);
    let metrics = metric_deltas(&c.metrics, &now);
    let mut drift = recipe.system.drift(&crate::sysinfo::system_info(threads));
    for (what, then, now) in [
        (
            "backend",
            recipe.backend.clone(),
            crate::train::fit::BACKEND.to_string(),
        ),
        (
            "burn version",
            recipe.burn_version.clone(),
            crate::train::fit::BURN_VERSION.to_string(),
        ),
    ] {
        if then != now {
            drift.push((what.into(), then, now));
        }
    }
    Ok(Reproduction {
        commit: *id,
        overrides: Vec::new(),
        recipe: "train",
        verdict: verdict(&files, &metrics, tolerance),
        files,
        metrics,
        tolerance,
        drift,
        seconds: 0.0,
    })
}

#[cfg(not(feature = "train"))]
fn reproduce_train(
    _: &Repo,
    _: &ObjectId,
    _: &crate::Commit,
    _: &Path,
    _: f64,
    _: &[String],
    _: &mut dyn FnMut(&EpochRecord),
) -> Result<Reproduction> {
    Err(RunError::TrainingNotBuilt.into())
}

fn restore_file(repo: &Repo, f: &crate::commit::FileEntry, to: &Path) -> Result<()> {
    let bytes = crate::filestore::read_small(repo.objects(), &f.manifest)?;
    if ObjectId::hash(&bytes) != f.blake3 {
        return Err(Error::CorruptObject {
            id: f.blake3.to_hex(),
            why: format!(
                "{}: restored bytes do not match the recorded blake3",
                f.path
            ),
        });
    }
    if let Some(p) = to.parent() {
        std::fs::create_dir_all(p).map_err(|e| Error::io("creating", p, e))?;
    }
    std::fs::write(to, bytes).map_err(|e| Error::io("writing", to, e))
}

fn reproduce_run(
    repo: &Repo,
    id: &crate::id::CommitId,
    c: &crate::Commit,
    run: &RunRecipe,
    scratch: &Path,
    tolerance: f64,
) -> Result<Reproduction> {
    let git = c
        .git
        .as_ref()
        .filter(|g| g.present && g.head.is_some())
        .ok_or_else(|| {
            Error::from(RunError::NotReproducible {
                commit: *id,
                why: "it was made outside a git work tree (or before its first git commit), so its code cannot be rebuilt".into(),
            })
        })?;
    let head = git.head.as_deref().unwrap_or_default();
    let work = scratch.join("work");
    crate::git::export_tree(repo.root(), head, &work)?;
    if let Some(p) = git.patch {
        let patch = repo.objects().get_kind(&p, crate::object::Kind::Blob)?;
        crate::git::apply_patch(&work, &String::from_utf8_lossy(&patch))?;
    }
    // The store's place inside the git work tree, as paths in the commit are store-relative.
    let root = crate::ops::run::run_root(repo);
    let store_root =
        std::fs::canonicalize(repo.root()).unwrap_or_else(|_| repo.root().to_path_buf());
    let prefix = store_root
        .strip_prefix(&root)
        .unwrap_or(Path::new(""))
        .to_path_buf();
    // Datasets (and the params file) back where they were.
    for (name, path) in &run.datasets {
        crate::names::validate_rel_path(path)?;
        let d = c
            .datasets
            .iter()
            .find(|d| &d.name == name)
            .ok_or_else(|| Error::from(RunError::NoSuchDataset { name: name.clone() }))?;
        if d.stored.is_empty() {
            return Err(RunError::DatasetNotStored { name: name.clone() }.into());
        }
        // A file dataset's blake3 is its one file's; a directory's is that of its listing.
        let single = d.stored.len() == 1 && d.stored[0].blake3 == d.blake3;
        for f in &d.stored {
            crate::names::validate_rel_path(&f.path)?;
            let to = if single {
                work.join(path)
            } else {
                work.join(path).join(&f.path)
            };
            restore_file(repo, f, &to)?;
        }
    }
    // Outputs must be made anew: remove any copy that came with the code.
    for f in &c.files {
        crate::names::validate_rel_path(&f.path)?;
        let _ = std::fs::remove_file(work.join(&prefix).join(&f.path));
    }
    if !run.cwd.is_empty() {
        crate::names::validate_rel_path(&run.cwd)?;
    }
    // Directories the outputs were written into may not be in the recorded tree (ignored
    // or never committed): the job expects them to exist.
    for o in &run.outputs {
        crate::names::validate_rel_path(o)?;
        if let Some(parent) = work.join(o).parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::io("creating", parent, e))?;
        }
    }
    if !run.cwd.is_empty() {
        let d = work.join(&run.cwd);
        std::fs::create_dir_all(&d).map_err(|e| Error::io("creating", &d, e))?;
    }
    let (program, args) = run
        .command
        .split_first()
        .ok_or_else(|| Error::from(RunError::NoCommand))?;
    let status = std::process::Command::new(program)
        .args(args)
        .current_dir(work.join(&run.cwd))
        // A job that records itself (the Python package's `repo.run()`) writes its outputs
        // and commits nothing when it sees MREG_REPLAY.
        .env("MREG_REPLAY", "1")
        // ... and finds the store it was recorded in (to read other versions, say).
        .env("MREG_STORE", repo.store_dir())
        // The replayed job's output goes to stderr: stdout carries the verdict (and --json).
        .stdout(std::io::stderr())
        .status()
        .map_err(|e| Error::io("running", std::path::PathBuf::from(program), e))?;
    if !status.success() {
        return Err(RunError::ReplayFailed {
            status: status.to_string(),
        }
        .into());
    }
    let files: Vec<FileCheck> = c
        .files
        .iter()
        .map(|f| FileCheck {
            path: f.path.clone(),
            recorded: *f.blake3,
            reproduced: crate::filestore::hash_file(&work.join(&prefix).join(&f.path))
                .ok()
                .map(|(h, _)| h),
        })
        .collect();
    let now = match &run.metrics_file {
        Some(m) => crate::datafile::read_run_metrics(&work.join(m))
            .map(|r| r.metrics)
            .unwrap_or_default(),
        None => BTreeMap::new(),
    };
    let metrics = metric_deltas(&c.metrics, &now);
    // A run's `threads` is what its job used at peak (sampled), not a setting of the
    // machine: the replay is not sampled, so it is not compared (it used to report
    // "threads 2 -> 1" on the very same machine).
    let mut drift = run
        .system
        .drift(&crate::sysinfo::system_info(run.system.threads));
    if let Some(then) = &run.python {
        match crate::sysinfo::python_env(program, &work.join(&run.cwd)) {
            Some(now) => drift.extend(then.drift(&now)),
            None => drift.push(("python".into(), then.version.clone(), "(not found)".into())),
        }
    }
    Ok(Reproduction {
        commit: *id,
        overrides: Vec::new(),
        recipe: "run",
        verdict: verdict(&files, &metrics, tolerance),
        files,
        metrics,
        tolerance,
        drift,
        seconds: 0.0,
    })
}

/// The kind of the note a reproduction leaves on its commit.
pub const NOTE_KIND: &str = "reproduction";

/// Record the verdict as a note on the commit.
pub fn record(repo: &Repo, r: &Reproduction, info: MoveInfo) -> Result<crate::id::NoteId> {
    let mut note = serde_json::to_value(r).expect("reproductions serialize");
    note["kind"] = NOTE_KIND.into();
    note["time"] = info.time.to_string().into();
    crate::notes::add(repo, &r.commit, &note, info)
}
