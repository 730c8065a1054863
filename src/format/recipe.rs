//! Recipes: how a commit was made, recorded so that it can be made again.
//!
//! A commit made by `mreg train` carries a [`TrainRecipe`] (the resolved config, the stored
//! dataset, the seed, backend and versions, the per-epoch history and the machine); one made
//! by `mreg run` carries a [`RunRecipe`] (the command line, working directory, outputs, the
//! params and metrics files). `mreg reproduce` reads it back. The types live outside the
//! `train` feature so every build can show and compare them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// How a commit was produced.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Recipe {
    Train(Box<TrainRecipe>),
    Run(Box<RunRecipe>),
}

/// One epoch of training.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    pub epoch: usize,
    pub train_loss: f64,
    pub val_loss: f64,
    /// Validation metrics: `accuracy` (classification) or `rmse`, `mae` (regression).
    pub metrics: BTreeMap<String, f64>,
    pub seconds: f64,
}

impl TrainRecipe {
    /// The per-epoch history as curves, in the format of a run's curves (`train_loss`,
    /// `val_loss`, and each validation metric, by epoch).
    pub fn curves(&self) -> crate::datafile::Curves {
        let mut out = crate::datafile::Curves::new();
        let finite = |v: f64| v.is_finite().then_some(v);
        for e in &self.epochs {
            let step = e.epoch as f64;
            out.entry("train_loss".into())
                .or_default()
                .push((step, finite(e.train_loss)));
            out.entry("val_loss".into())
                .or_default()
                .push((step, finite(e.val_loss)));
            for (k, v) in &e.metrics {
                out.entry(k.clone()).or_default().push((step, finite(*v)));
            }
        }
        out
    }
}

/// What `mreg train` recorded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainRecipe {
    /// The resolved configuration (defaults filled in, `--set` applied), as trained.
    pub config: serde_json::Value,
    pub seed: u64,
    /// `ndarray-cpu` (burn's ndarray backend, without SIMD).
    pub backend: String,
    pub burn_version: String,
    /// The commit file holding the weights (safetensors, no metadata).
    pub weights: String,
    /// Input columns, in the order the model reads them.
    pub features: Vec<String>,
    pub target: String,
    /// Class labels, in output order (classification).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub classes: Vec<String>,
    /// Per-feature standardization learned on the training split: (mean, std).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub normalization: Vec<(f64, f64)>,
    /// Names of the commit's stored datasets: the training data, and the separate
    /// validation data if any.
    pub train_dataset: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_dataset: Option<String>,
    pub epochs: Vec<EpochRecord>,
    pub best_epoch: usize,
    pub train_seconds: f64,
    pub system: SystemInfo,
}

/// What `mreg run` recorded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRecipe {
    /// The command and its arguments, as given after `--`.
    pub command: Vec<String>,
    /// Working directory, relative to the git work tree root (or the store's work tree
    /// outside git).
    pub cwd: String,
    /// Output paths (committed as the commit's files), relative to the same root.
    /// All paths of a run recipe are relative to that root, `/`-separated.
    pub outputs: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_file: Option<String>,
    /// The params file (its content is stored as the dataset `mreg-params-file`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params_file: Option<String>,
    /// Input data: (dataset name, path), each stored in the commit's datasets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub datasets: Vec<(String, String)>,
    pub seconds: f64,
    pub system: SystemInfo,
    /// The command's output (stdout and stderr, interleaved as they came), stored as a blob.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<RunLog>,
    /// What the command itself used (the kernel's accounting of its process tree).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<RunResources>,
    /// Values of the metrics file that are not finite numbers (strings, lists, booleans;
    /// `NaN`, `Infinity` and `-Infinity` as those strings), kept as recorded information.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub recorded: BTreeMap<String, serde_json::Value>,
    /// Per-step metric curves (`--metrics-history`, DVCLive plots): summaries here, the
    /// points in a blob.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub curves: Option<RunCurves>,
    /// The Python interpreter and installed packages, for a command run by `python`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub python: Option<PythonEnv>,
}

/// A Python environment as a rerun needs it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PythonEnv {
    pub executable: String,
    pub version: String,
    /// Installed distributions and their versions (what `pip freeze` lists).
    pub packages: BTreeMap<String, String>,
}

impl PythonEnv {
    /// What differs from `now`: the version and each package added, removed or changed,
    /// as (what, then, now).
    pub fn drift(&self, now: &PythonEnv) -> Vec<(String, String, String)> {
        let mut out = Vec::new();
        if self.version != now.version {
            out.push(("python".into(), self.version.clone(), now.version.clone()));
        }
        let none = || "(not installed)".to_string();
        for (name, v) in &self.packages {
            match now.packages.get(name) {
                Some(w) if w == v => {}
                Some(w) => out.push((format!("python package {name}"), v.clone(), w.clone())),
                None => out.push((format!("python package {name}"), v.clone(), none())),
            }
        }
        for (name, w) in &now.packages {
            if !self.packages.contains_key(name) {
                out.push((format!("python package {name}"), none(), w.clone()));
            }
        }
        out
    }
}

/// A run's output log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunLog {
    /// The blob object holding it.
    pub blob: crate::id::ObjectId,
    /// Bytes the command wrote in all (the blob holds all of them unless `truncated`).
    pub bytes: u64,
    /// True when the output was longer than the stored limit: the blob then holds its
    /// beginning and its end, with a marker line between.
    #[serde(default)]
    pub truncated: bool,
}

/// What a run's command used, from `wait4` on it: its own and its waited-for descendants'.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunResources {
    pub wall_seconds: f64,
    /// User plus system CPU time.
    pub cpu_seconds: f64,
    /// The largest resident set of any process in the tree.
    pub peak_rss_bytes: u64,
    /// The most threads the job's main process had at once (sampled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_threads: Option<usize>,
    /// GPU memory and utilization sampled through NVML while the job ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu: Option<GpuUsage>,
}

/// GPU use while a job ran, per device (whole-device figures: NVML does not attribute
/// memory to a process on every driver).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GpuUsage {
    pub samples: usize,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<GpuDeviceUsage>,
    /// Why nothing was sampled (no NVIDIA driver, NVML error): never a failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unavailable: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GpuDeviceUsage {
    pub name: String,
    pub memory_total: u64,
    pub memory_peak: u64,
    pub memory_mean: u64,
    /// Percent of time a kernel ran, peak and mean over the samples.
    pub utilization_peak: u32,
    pub utilization_mean: f64,
}

/// A run's curves: the blob with every point (`{"name": [[step, value or null], ...]}`)
/// and a summary of each.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunCurves {
    pub blob: crate::id::ObjectId,
    pub summary: BTreeMap<String, CurveSummary>,
}

/// First, best and last value of a curve. "Best" is the minimum for names that read as
/// losses or errors (`loss`, `err`, `mse`, `mae`, `perplexity`), else the maximum.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CurveSummary {
    pub points: usize,
    pub first: Option<f64>,
    pub last: Option<f64>,
    pub best: Option<f64>,
    pub best_step: Option<f64>,
    /// `min` or `max`.
    pub goal: String,
}

/// Whether a metric's name says lower is better (a loss, an error, perplexity...): the
/// default direction of curves and of `best` when none is given.
pub fn lower_is_better(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    ["loss", "err", "mse", "mae", "perplexity", "ppl"]
        .iter()
        .any(|k| lower.contains(k))
}

impl CurveSummary {
    /// Summarise the points of curve `name` (None values are gaps).
    pub fn of(name: &str, points: &[(f64, Option<f64>)]) -> CurveSummary {
        let minimize = lower_is_better(name);
        let values = || points.iter().filter_map(|(s, v)| v.map(|v| (*s, v)));
        let best = values().fold(None::<(f64, f64)>, |acc, (s, v)| match acc {
            Some((_, b)) if (minimize && v >= b) || (!minimize && v <= b) => acc,
            _ => Some((s, v)),
        });
        CurveSummary {
            points: points.len(),
            first: values().next().map(|p| p.1),
            last: values().next_back().map(|p| p.1),
            best: best.map(|b| b.1),
            best_step: best.map(|b| b.0),
            goal: if minimize { "min" } else { "max" }.into(),
        }
    }
}

impl Recipe {
    /// The blobs a run keeps beside its commit (its log, its curves): objects the version's
    /// data includes, so gc keeps them and push sends them.
    pub fn blobs(&self) -> Vec<crate::id::ObjectId> {
        match self {
            Recipe::Run(r) => r
                .log
                .as_ref()
                .map(|l| l.blob)
                .into_iter()
                .chain(r.curves.as_ref().map(|c| c.blob))
                .collect(),
            Recipe::Train(_) => Vec::new(),
        }
    }

    /// The log blob of a run, if it kept one.
    pub fn log_blob(&self) -> Option<crate::id::ObjectId> {
        match self {
            Recipe::Run(r) => r.log.as_ref().map(|l| l.blob),
            Recipe::Train(_) => None,
        }
    }
}

/// The machine a recipe ran on.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SystemInfo {
    pub mreg_version: String,
    pub os: String,
    pub arch: String,
    pub cpu_model: String,
    pub cpus: usize,
    /// Threads the CPU backend used.
    pub threads: usize,
    /// Peak resident memory of the process, bytes (0 when unknown).
    pub peak_memory: u64,
    pub gpu: GpuInfo,
}

/// GPUs seen through NVML, or why none were.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GpuInfo {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<GpuDevice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver_version: Option<String>,
    /// Why no GPU is listed (no NVIDIA driver, NVML error): never a failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unavailable: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GpuDevice {
    pub name: String,
    pub memory_total: u64,
    pub memory_used: u64,
    /// Percent of time a kernel ran over the last sample period.
    pub utilization: u32,
}

impl SystemInfo {
    /// Differences that may explain a different result: (what, then, now).
    pub fn drift(&self, now: &SystemInfo) -> Vec<(String, String, String)> {
        let mut d = Vec::new();
        let mut cmp = |what: &str, a: String, b: String| {
            if a != b {
                d.push((what.to_string(), a, b));
            }
        };
        cmp(
            "mreg version",
            self.mreg_version.clone(),
            now.mreg_version.clone(),
        );
        cmp("os", self.os.clone(), now.os.clone());
        cmp("arch", self.arch.clone(), now.arch.clone());
        cmp("cpu", self.cpu_model.clone(), now.cpu_model.clone());
        cmp("cpus", self.cpus.to_string(), now.cpus.to_string());
        cmp("threads", self.threads.to_string(), now.threads.to_string());
        let gpus = |g: &GpuInfo| {
            if g.devices.is_empty() {
                "none".to_string()
            } else {
                g.devices
                    .iter()
                    .map(|d| d.name.clone())
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        };
        cmp("gpu", gpus(&self.gpu), gpus(&now.gpu));
        d
    }
}
