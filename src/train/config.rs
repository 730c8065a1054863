//! The training configuration: YAML with defaults, `--set key.path=value` overrides, and
//! validation that names the offending key.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A training run, as written in `train.yaml`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Model name in the registry (`--model` overrides it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub task: Task,
    pub data: DataConfig,
    #[serde(default)]
    pub model: ModelConfig,
    #[serde(default)]
    pub optimizer: OptimizerConfig,
    #[serde(default = "default_epochs")]
    pub epochs: usize,
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    #[serde(default)]
    pub seed: u64,
    /// Where the weights are written in the work tree (default `models/NAME.safetensors`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    Classification,
    Regression,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// A CSV file with a header row (relative paths are relative to the config file).
    pub path: String,
    /// The column to predict.
    pub target: String,
    /// Input columns (default: every column but the target).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub features: Vec<String>,
    /// Fraction of rows held out for validation (after a seeded shuffle), unless
    /// `validation_path` is given.
    #[serde(default = "default_split")]
    pub validation_split: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_path: Option<String>,
    /// Standardize features with the training split's mean and std.
    #[serde(default = "yes")]
    pub normalize: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// `mlp` (a multi-layer perceptron; `hidden: []` makes it linear/logistic regression).
    #[serde(default = "default_arch")]
    pub architecture: String,
    /// Widths of the hidden layers.
    #[serde(default = "default_hidden")]
    pub hidden: Vec<usize>,
    #[serde(default)]
    pub activation: Activation,
    /// Dropout probability after each hidden activation (0 = none).
    #[serde(default)]
    pub dropout: f64,
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            architecture: default_arch(),
            hidden: default_hidden(),
            activation: Activation::default(),
            dropout: 0.0,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    #[default]
    Relu,
    Tanh,
    Gelu,
    Sigmoid,
    LeakyRelu,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptimizerConfig {
    #[serde(default)]
    pub name: OptimizerName,
    #[serde(default = "default_lr")]
    pub lr: f64,
    #[serde(default)]
    pub weight_decay: f64,
    /// SGD momentum.
    #[serde(default)]
    pub momentum: f64,
}

impl Default for OptimizerConfig {
    fn default() -> Self {
        OptimizerConfig {
            name: OptimizerName::default(),
            lr: default_lr(),
            weight_decay: 0.0,
            momentum: 0.0,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerName {
    #[default]
    Adam,
    Adamw,
    Sgd,
}

fn default_epochs() -> usize {
    20
}
fn default_batch_size() -> usize {
    32
}
fn default_split() -> f64 {
    0.2
}
fn yes() -> bool {
    true
}
fn default_arch() -> String {
    "mlp".into()
}
fn default_hidden() -> Vec<usize> {
    vec![32]
}
fn default_lr() -> f64 {
    0.01
}

fn bad(why: String) -> Error {
    Error::Train(crate::error::TrainError::Config { why })
}

/// Apply one `key.path=value` override to a YAML document (the value is parsed as YAML, so
/// `lr=0.1` is a number, `hidden=[64,64]` a list, `task=regression` a string).
pub fn set_override(doc: &mut serde_yaml::Value, assignment: &str) -> Result<()> {
    let (key, value) = assignment.split_once('=').ok_or_else(|| {
        bad(format!(
            "--set {assignment:?}: expected KEY=VALUE (e.g. optimizer.lr=0.001)"
        ))
    })?;
    let value: serde_yaml::Value = serde_yaml::from_str(value)
        .map_err(|e| bad(format!("--set {key}: cannot parse value {value:?}: {e}")))?;
    let parts: Vec<&str> = key.split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(bad(format!("--set {assignment:?}: empty key segment")));
    }
    let mut cur = doc;
    for (i, p) in parts.iter().enumerate() {
        if cur.is_null() {
            *cur = serde_yaml::Value::Mapping(Default::default());
        }
        let serde_yaml::Value::Mapping(m) = cur else {
            return Err(bad(format!(
                "--set {key}: {} is not a mapping",
                parts[..i].join(".")
            )));
        };
        let k = serde_yaml::Value::String(p.to_string());
        if i + 1 == parts.len() {
            m.insert(k, value);
            return Ok(());
        }
        cur = m.entry(k).or_insert(serde_yaml::Value::Null);
    }
    Ok(())
}

impl TrainConfig {
    /// Parse YAML text, apply overrides, fill defaults and validate.
    pub fn parse(text: &str, origin: &Path, overrides: &[String]) -> Result<TrainConfig> {
        let mut doc: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| Error::Parse {
            what: "training config",
            path: origin.to_path_buf(),
            why: e.to_string(),
        })?;
        for o in overrides {
            set_override(&mut doc, o)?;
        }
        let c: TrainConfig = serde_yaml::from_value(doc).map_err(|e| Error::Parse {
            what: "training config",
            path: origin.to_path_buf(),
            why: e.to_string(),
        })?;
        c.validate()?;
        Ok(c)
    }

    pub fn validate(&self) -> Result<()> {
        if self.epochs == 0 {
            return Err(bad("epochs must be at least 1".into()));
        }
        if self.batch_size == 0 {
            return Err(bad("batch_size must be at least 1".into()));
        }
        if !(self.optimizer.lr.is_finite() && self.optimizer.lr > 0.0) {
            return Err(bad("optimizer.lr must be a positive number".into()));
        }
        if !(0.0..1.0).contains(&self.model.dropout) {
            return Err(bad("model.dropout must be in [0, 1)".into()));
        }
        if self.model.architecture != "mlp" {
            return Err(bad(format!(
                "model.architecture {:?} is not supported (supported: mlp)",
                self.model.architecture
            )));
        }
        if self.model.hidden.contains(&0) {
            return Err(bad("model.hidden widths must be at least 1".into()));
        }
        if self.data.validation_path.is_none()
            && !(self.data.validation_split > 0.0 && self.data.validation_split < 1.0)
        {
            return Err(bad(
                "data.validation_split must be between 0 and 1 (or give data.validation_path)"
                    .into(),
            ));
        }
        if self.data.features.contains(&self.data.target) {
            return Err(bad(format!(
                "data.target {:?} is also listed in data.features",
                self.data.target
            )));
        }
        if let Some(n) = &self.name {
            crate::names::ModelName::new(n)?;
        }
        if let Some(o) = &self.output {
            crate::names::validate_rel_path(o)?;
        }
        Ok(())
    }

    /// As JSON, for the commit's params and recipe.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("the config serializes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "task: classification\ndata: {path: d.csv, target: y}\n";

    #[test]
    fn defaults_and_overrides() {
        let c = TrainConfig::parse(
            BASE,
            Path::new("t.yaml"),
            &[
                "optimizer.lr=0.1".into(),
                "model.hidden=[8, 4]".into(),
                "seed=7".into(),
            ],
        )
        .unwrap();
        assert_eq!(c.optimizer.lr, 0.1);
        assert_eq!(c.model.hidden, vec![8, 4]);
        assert_eq!(c.seed, 7);
        assert_eq!(c.epochs, 20);
        assert_eq!(c.optimizer.name, OptimizerName::Adam);
    }

    #[test]
    fn errors_name_the_key() {
        let e = TrainConfig::parse(BASE, Path::new("t.yaml"), &["optimizer.lrr=1".into()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("lrr"), "{e}");
        let e = TrainConfig::parse("task: classification\n", Path::new("t.yaml"), &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("data"), "{e}");
        let e = TrainConfig::parse(BASE, Path::new("t.yaml"), &["epochs=0".into()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("epochs"), "{e}");
        assert!(TrainConfig::parse(BASE, Path::new("t.yaml"), &["novalue".into()]).is_err());
        assert!(TrainConfig::parse(BASE, Path::new("t.yaml"), &["task.x=1".into()]).is_err());
    }
}
