//! Training with burn: `mreg train` and the library API for burn users.
//!
//! [`train`] reads a [`TrainConfig`], loads the CSV data, trains an MLP on burn's CPU
//! backend (see `train/fit.rs` for what makes it bit-reproducible), writes the weights into the work
//! tree as safetensors and commits them with the resolved config (params), final and best
//! metrics, the stored dataset and a [`TrainRecipe`] (per-epoch history, seed, backend,
//! versions, machine). [`crate::reproduce`] re-runs a recipe and compares; [`evaluate_commit`]
//! scores stored weights on new data.
//!
//! burn users with their own training code call [`commit_module`]: it saves any burn module
//! the same way (safetensors, no metadata) and commits it.

pub mod config;
pub(crate) mod data;
pub(crate) mod fit;
pub(crate) mod model;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::store::{ModuleSnapshot, SafetensorsStore};
use burn::tensor::backend::Backend;

use crate::commit::Environment;
use crate::error::{Error, Result, RunError, TrainError};
use crate::id::ObjectId;
use crate::names::ModelName;
use crate::ops::commit::{commit, CommitOutcome, CommitRequest};
use crate::ops::Progress;
use crate::recipe::{EpochRecord, Recipe, TrainRecipe};
use crate::repo::Repo;

use config::Task;
pub use config::TrainConfig;
use data::Prepared;

/// Data ready for the model, and what is needed to read new data the same way.
pub struct PreparedData {
    pub features: Vec<String>,
    pub classes: Vec<String>,
    pub normalization: Vec<(f64, f64)>,
    pub train: Prepared,
    pub val: Prepared,
    pub outputs: usize,
    /// Absolute paths of the data files: (train, separate validation file).
    pub train_path: PathBuf,
    pub val_path: Option<PathBuf>,
}

fn resolve(base: &Path, p: &str) -> PathBuf {
    let p = Path::new(p);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

/// Load and prepare the data of `cfg`; relative paths are relative to `base`.
pub fn prepare_data(cfg: &TrainConfig, base: &Path) -> Result<PreparedData> {
    let train_path = resolve(base, &cfg.data.path);
    let table = data::read_csv(&train_path)?;
    let features = table.feature_names(&train_path, &cfg.data.features, &cfg.data.target)?;
    if features.is_empty() {
        return Err(TrainError::NoFeatures {
            path: train_path.to_path_buf(),
            target: cfg.data.target.clone(),
        }
        .into());
    }
    let val_path = cfg
        .data
        .validation_path
        .as_deref()
        .map(|p| resolve(base, p));
    let val_table = match &val_path {
        Some(p) => Some(data::read_csv(p)?),
        None => None,
    };
    let classes = match cfg.task {
        Task::Classification => {
            let mut c = table.labels(&train_path, &cfg.data.target)?;
            if let (Some(t), Some(p)) = (&val_table, &val_path) {
                c.extend(t.labels(p, &cfg.data.target)?);
                c.sort();
                c.dedup();
                if c.iter().all(|v| v.parse::<f64>().is_ok()) {
                    c.sort_by(|a, b| {
                        a.parse::<f64>()
                            .unwrap_or(0.0)
                            .total_cmp(&b.parse::<f64>().unwrap_or(0.0))
                    });
                }
            }
            if c.len() < 2 {
                return Err(TrainError::TooFewClasses {
                    path: train_path.to_path_buf(),
                    target: cfg.data.target.clone(),
                    found: c.len(),
                }
                .into());
            }
            c
        }
        Task::Regression => Vec::new(),
    };
    let (mut train, mut val) = match (&val_table, &val_path) {
        (Some(vt), Some(vp)) => {
            let all: Vec<usize> = (0..table.rows.len()).collect();
            let vall: Vec<usize> = (0..vt.rows.len()).collect();
            (
                table.prepare(
                    &train_path,
                    &features,
                    &cfg.data.target,
                    cfg.task,
                    &classes,
                    &all,
                )?,
                vt.prepare(vp, &features, &cfg.data.target, cfg.task, &classes, &vall)?,
            )
        }
        _ => {
            if table.rows.len() < 2 {
                return Err(TrainError::TooFewRows {
                    path: train_path.to_path_buf(),
                    rows: table.rows.len(),
                }
                .into());
            }
            let (tr, va) = data::split(table.rows.len(), cfg.data.validation_split, cfg.seed);
            (
                table.prepare(
                    &train_path,
                    &features,
                    &cfg.data.target,
                    cfg.task,
                    &classes,
                    &tr,
                )?,
                table.prepare(
                    &train_path,
                    &features,
                    &cfg.data.target,
                    cfg.task,
                    &classes,
                    &va,
                )?,
            )
        }
    };
    let normalization = if cfg.data.normalize {
        let stats = data::standardization(&train);
        data::apply_standardization(&mut train, &stats);
        data::apply_standardization(&mut val, &stats);
        stats
    } else {
        Vec::new()
    };
    let outputs = match cfg.task {
        Task::Classification => classes.len(),
        Task::Regression => 1,
    };
    Ok(PreparedData {
        features,
        classes,
        normalization,
        train,
        val,
        outputs,
        train_path,
        val_path,
    })
}

/// A training to run and commit.
pub struct TrainRequest {
    pub config: TrainConfig,
    /// Directory that relative data paths in the config are relative to.
    pub base_dir: PathBuf,
    /// Overrides `config.name`.
    pub model: Option<String>,
    pub message: Option<String>,
    pub author: String,
    pub created_at: crate::Timestamp,
    pub environment: Environment,
    pub aliases: Vec<crate::names::AliasName>,
    pub labels: Vec<String>,
}

pub struct TrainOutcome {
    pub commit: CommitOutcome,
    pub weights_path: PathBuf,
}

/// The commit's metrics from an epoch history: the last epoch's validation loss and metrics
/// (`val_*`), its training loss, and the best validation loss and its epoch.
pub fn final_metrics(epochs: &[EpochRecord], best_epoch: usize) -> BTreeMap<String, f64> {
    let mut m = BTreeMap::new();
    if let Some(last) = epochs.last() {
        m.insert("train_loss".into(), last.train_loss);
        m.insert("val_loss".into(), last.val_loss);
        for (k, v) in &last.metrics {
            m.insert(format!("val_{k}"), *v);
        }
    }
    if let Some(b) = epochs.iter().find(|e| e.epoch == best_epoch) {
        m.insert("best_val_loss".into(), b.val_loss);
        for (k, v) in &b.metrics {
            m.insert(format!("best_val_{k}"), *v);
        }
        m.insert("best_epoch".into(), best_epoch as f64);
    }
    m
}

/// Train and commit. The weights are written to `config.output` (default
/// `models/NAME.safetensors` under the store's work tree) only after training succeeded, and
/// committed with the data; a failure or a kill before the commit leaves no commit.
pub fn train(
    repo: &Repo,
    req: TrainRequest,
    on_epoch: &mut dyn FnMut(&EpochRecord),
    progress: &dyn Progress,
) -> Result<TrainOutcome> {
    let name = req
        .model
        .clone()
        .or_else(|| req.config.name.clone())
        .ok_or_else(|| Error::from(TrainError::NoModelName))?;
    let model = ModelName::new(&name)?;
    let output = req
        .config
        .output
        .clone()
        .unwrap_or_else(|| format!("models/{model}.safetensors"));
    crate::names::validate_rel_path(&output)?;
    let weights_path = repo.work_path(repo.root(), &output)?;
    let data = prepare_data(&req.config, &req.base_dir)?;
    let threads = rayon::current_num_threads();
    let fitted = fit::fit(&req.config, &data.train, &data.val, data.outputs, on_epoch)?;
    let system = crate::sysinfo::system_info(threads);

    if let Some(dir) = weights_path.parent() {
        crate::fsutil::create_dir_durable(dir)?;
    }
    crate::fsutil::write_atomic(&weights_path, &fitted.weights, &repo.tmp_dir())?;

    let mut datasets = vec![("train".to_string(), data.train_path.clone())];
    if let Some(v) = &data.val_path {
        datasets.push(("validation".to_string(), v.clone()));
    }
    let recipe = TrainRecipe {
        config: req.config.to_json(),
        seed: req.config.seed,
        backend: fit::BACKEND.into(),
        burn_version: fit::BURN_VERSION.into(),
        weights: output.clone(),
        features: data.features.clone(),
        target: req.config.data.target.clone(),
        classes: data.classes.clone(),
        normalization: data.normalization.clone(),
        train_dataset: "train".into(),
        validation_dataset: data.val_path.as_ref().map(|_| "validation".to_string()),
        epochs: fitted.epochs.clone(),
        best_epoch: fitted.best_epoch,
        train_seconds: fitted.seconds,
        system,
    };
    let outcome = commit(
        repo,
        CommitRequest {
            message: req.message.clone().unwrap_or_else(|| {
                format!(
                    "mreg train: {:?} {} epochs, seed {}",
                    req.config.task, req.config.epochs, req.config.seed
                )
                .to_lowercase()
            }),
            created_at: req.created_at,
            params: req.config.to_json(),
            metrics: final_metrics(&fitted.epochs, fitted.best_epoch),
            datasets,
            store_datasets: true,
            labels: req.labels,
            environment: req.environment,
            aliases: req.aliases,
            recipe: Some(Recipe::Train(Box::new(recipe))),
            ..CommitRequest::new(
                model,
                &req.author,
                repo.root().to_path_buf(),
                vec![weights_path.clone()],
            )
        },
        progress,
    )?;
    Ok(TrainOutcome {
        commit: outcome,
        weights_path,
    })
}

/// The train recipe of a commit, or a clear error.
pub fn train_recipe(c: &crate::Commit, id: &ObjectId) -> Result<TrainRecipe> {
    match &c.recipe {
        Some(Recipe::Train(r)) => Ok((**r).clone()),
        _ => Err(TrainError::NotTrained {
            commit: (*id).into(),
        }
        .into()),
    }
}

/// The bytes of one of a commit's files.
pub fn commit_file_bytes(repo: &Repo, c: &crate::Commit, path: &str) -> Result<Vec<u8>> {
    let f = c
        .files
        .iter()
        .find(|f| f.path == path)
        .ok_or_else(|| Error::PathNotInCommit(path.to_string()))?;
    let bytes = crate::filestore::read_small(repo.objects(), &f.manifest)?;
    if crate::id::ObjectId::hash(&bytes) != f.blake3 {
        return Err(Error::CorruptObject {
            id: f.blake3.to_hex(),
            why: format!("{path}: restored bytes do not match the recorded blake3"),
        });
    }
    Ok(bytes)
}

/// Restore a stored dataset of a commit into `dir`; returns the file's path.
pub fn restore_dataset(repo: &Repo, c: &crate::Commit, name: &str, dir: &Path) -> Result<PathBuf> {
    let d = c
        .datasets
        .iter()
        .find(|d| d.name == name)
        .ok_or_else(|| RunError::NoSuchDataset {
            name: name.to_string(),
        })?;
    let [f] = d.stored.as_slice() else {
        return Err(RunError::DatasetNotStored {
            name: name.to_string(),
        }
        .into());
    };
    let bytes = crate::filestore::read_small(repo.objects(), &f.manifest)?;
    if ObjectId::hash(&bytes) != f.blake3 {
        return Err(Error::CorruptObject {
            id: f.blake3.to_hex(),
            why: format!("dataset {name}: restored bytes do not match the recorded blake3"),
        });
    }
    let file_name = Path::new(&f.path)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| format!("{name}.csv"));
    let out = dir.join(format!("{name}-{file_name}"));
    std::fs::write(&out, &bytes).map_err(|e| Error::io("writing", &out, e))?;
    Ok(out)
}

fn recorded_config(recipe: &TrainRecipe, id: &ObjectId) -> Result<TrainConfig> {
    serde_json::from_value(recipe.config.clone()).map_err(|e| Error::CorruptObject {
        id: id.to_hex(),
        why: format!("the recorded training config does not parse: {e}"),
    })
}

/// Retrain a commit's recipe from its stored data (in `scratch`), without committing.
/// `overrides` (`key.path=value`) change the recorded config: a what-if, which is then
/// expected to come out different.
pub fn retrain(
    repo: &Repo,
    id: &ObjectId,
    scratch: &Path,
    overrides: &[String],
    on_epoch: &mut dyn FnMut(&EpochRecord),
) -> Result<(TrainRecipe, fit::Fitted)> {
    let c = repo.read_commit(id)?;
    let recipe = train_recipe(&c, id)?;
    let mut cfg = recorded_config(&recipe, id)?;
    if !overrides.is_empty() {
        let mut doc = serde_yaml::to_value(&cfg).expect("the config serializes");
        for o in overrides {
            config::set_override(&mut doc, o)?;
        }
        cfg = serde_yaml::from_value(doc).map_err(|e| TrainError::Config {
            why: format!("after --set: {e}"),
        })?;
        cfg.validate()?;
    }
    cfg.data.path = restore_dataset(repo, &c, &recipe.train_dataset, scratch)?
        .display()
        .to_string();
    if let Some(v) = &recipe.validation_dataset {
        cfg.data.validation_path =
            Some(restore_dataset(repo, &c, v, scratch)?.display().to_string());
    }
    let data = prepare_data(&cfg, scratch)?;
    let fitted = fit::fit(&cfg, &data.train, &data.val, data.outputs, on_epoch)?;
    Ok((recipe, fitted))
}

/// Score a trained commit's weights on a CSV file with the same columns: its loss and
/// metrics (`accuracy`, or `rmse` and `mae`).
pub fn evaluate_commit(
    repo: &Repo,
    id: &ObjectId,
    csv: &Path,
) -> Result<(f64, BTreeMap<String, f64>)> {
    let c = repo.read_commit(id)?;
    let recipe = train_recipe(&c, id)?;
    let cfg = recorded_config(&recipe, id)?;
    let table = data::read_csv(csv)?;
    let rows: Vec<usize> = (0..table.rows.len()).collect();
    let mut p = table.prepare(
        csv,
        &recipe.features,
        &recipe.target,
        cfg.task,
        &recipe.classes,
        &rows,
    )?;
    if !recipe.normalization.is_empty() {
        data::apply_standardization(&mut p, &recipe.normalization);
    }
    let outputs = match cfg.task {
        Task::Classification => recipe.classes.len(),
        Task::Regression => 1,
    };
    let weights = commit_file_bytes(repo, &c, &recipe.weights)?;
    let model = fit::load_model(&cfg, recipe.features.len(), outputs, &weights)?;
    fit::evaluate(cfg.task, &model, &p, &Default::default())
}

/// What to commit with [`commit_module`].
pub struct ModuleCommit<'a> {
    pub model: &'a str,
    /// Where the weights file goes, relative to the store's work tree.
    pub path: &'a str,
    pub params: serde_json::Value,
    pub metrics: BTreeMap<String, f64>,
    /// Aliases to point at the new version (e.g. `candidate`).
    pub aliases: Vec<crate::names::AliasName>,
    pub message: String,
    pub author: String,
}

/// Library API for burn users: save `module` as safetensors without metadata (identical
/// weights give an identical file id) and commit it as a new version, with git lineage,
/// `mreg.lock` and policy applied exactly as `mreg commit` does.
///
/// ```no_run
/// # use mreg::train::{commit_module, ModuleCommit};
/// # fn f<B: burn::tensor::backend::Backend>(net: burn::nn::Linear<B>) -> mreg::Result<()> {
/// let repo = mreg::Repo::discover(std::path::Path::new("."))?;
/// let id = commit_module(&repo, &net, ModuleCommit {
///     model: "mnist",
///     path: "models/mnist.safetensors",
///     params: serde_json::json!({"lr": 0.01}),
///     metrics: [("accuracy".to_string(), 0.93)].into_iter().collect(),
///     aliases: vec![mreg::names::AliasName::new("candidate")?],
///     message: "nightly run".into(),
///     author: "ci <ci@example.com>".into(),
/// })?;
/// println!("committed {id}");
/// # Ok(()) }
/// ```
pub fn commit_module<B: Backend, M: Module<B> + ModuleSnapshot<B>>(
    repo: &Repo,
    module: &M,
    what: ModuleCommit<'_>,
) -> Result<ObjectId> {
    let model = ModelName::new(what.model)?;
    crate::names::validate_rel_path(what.path)?;
    let mut store = SafetensorsStore::from_bytes(None).clear_metadata();
    module
        .save_into(&mut store)
        .map_err(|e| Error::Training(format!("saving weights: {e}")))?;
    let bytes = store
        .get_bytes()
        .map_err(|e| Error::Training(format!("saving weights: {e}")))?;
    let abs = repo.work_path(repo.root(), what.path)?;
    if let Some(dir) = abs.parent() {
        crate::fsutil::create_dir_durable(dir)?;
    }
    crate::fsutil::write_atomic(&abs, &bytes, &repo.tmp_dir())?;
    let out = commit(
        repo,
        CommitRequest {
            message: what.message,
            params: what.params,
            metrics: what.metrics,
            aliases: what.aliases,
            ..CommitRequest::new(model, &what.author, repo.root().to_path_buf(), vec![abs])
        },
        &crate::ops::NoProgress,
    )?;
    Ok(*out.id)
}

/// Write the built-in example (`mreg-example/flowers.csv` and `train.yaml`) next to the
/// store, keeping files already there; returns the config's path.
pub fn write_example(repo: &Repo) -> Result<std::path::PathBuf> {
    let dir = repo.root().join("mreg-example");
    crate::fsutil::create_dir_durable(&dir)?;
    for (name, text) in [
        ("flowers.csv", data::example_csv()),
        ("train.yaml", data::EXAMPLE_CONFIG.to_string()),
    ] {
        let p = dir.join(name);
        if !p.exists() {
            crate::fsutil::write_atomic(&p, text.as_bytes(), &repo.tmp_dir())?;
        }
    }
    Ok(dir.join("train.yaml"))
}
