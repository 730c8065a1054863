//! Per-model settings that travel with the model: a description and labels on the model
//! itself (the promotion policy, the other setting, is in `policy`).
//!
//! Each change is one `settings` line in the model's history carrying the setting's whole
//! new value (`extra.description`: text or null; `extra.model_labels`: the full list), so
//! push and pull carry it to every store with who, when and why, and reading the current
//! value is a byte scan for the last line that has the key (`ModelLog::last_extra`), not a
//! parse of the history.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::error::Result;
use crate::history::{Action, MoveInfo};
use crate::names::{validate_name, ModelName};
use crate::repo::Repo;

/// Action of a line that changes a model's settings.
pub const SETTINGS: &str = "settings";
/// Extra keys of a settings line.
pub const DESCRIPTION: &str = "description";
pub const MODEL_LABELS: &str = "model_labels";
/// Longest description kept (a paragraph, not a document).
const MAX_DESCRIPTION: usize = 4096;

/// A model's settings as they are now.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ModelSettings {
    pub description: Option<String>,
    pub labels: BTreeSet<String>,
}

/// What to change; None / empty leaves a setting as it is.
#[derive(Clone, Debug, Default)]
pub struct SettingsChange {
    /// Some(None) clears the description.
    pub description: Option<Option<String>>,
    pub add_labels: Vec<String>,
    pub remove_labels: Vec<String>,
}

impl SettingsChange {
    pub fn is_empty(&self) -> bool {
        self.description.is_none() && self.add_labels.is_empty() && self.remove_labels.is_empty()
    }
}

/// A model and its settings, as `mreg describe --json` and Python's `repo.describe` give
/// them: `{model, description, labels}`.
#[derive(Clone, Debug, Serialize)]
pub struct Described {
    pub model: ModelName,
    #[serde(flatten)]
    pub settings: ModelSettings,
}

/// What `mreg describe` and Python's `repo.describe` do: apply `change` (if any), then
/// return the settings; asking about a model that does not exist is an error.
pub fn describe(
    repo: &Repo,
    model: &ModelName,
    change: &SettingsChange,
    info: MoveInfo,
) -> Result<Described> {
    let settings = if change.is_empty() {
        repo.require_model(model)?;
        get(repo, model)?
    } else {
        set(repo, model, change, info)?
    };
    Ok(Described {
        model: model.clone(),
        settings,
    })
}

/// The current settings of `model` (defaults for a model without a history), from the
/// query index (no scan of the history once it is current).
pub fn get(repo: &Repo, model: &ModelName) -> Result<ModelSettings> {
    crate::index::model_settings(repo, model)
}

/// The settings a history (oldest first) leaves: the last value of each key.
pub fn from_history(entries: &[crate::history::LogEntry]) -> ModelSettings {
    let last = |key: &str| entries.iter().rev().find_map(|e| e.extra.get(key).cloned());
    ModelSettings {
        description: last(DESCRIPTION).and_then(|v| v.as_str().map(String::from)),
        labels: last(MODEL_LABELS)
            .and_then(|v| serde_json::from_value::<BTreeSet<String>>(v).ok())
            .unwrap_or_default(),
    }
}

/// Change `model`'s settings: one history line (nothing when nothing changes). A model
/// without versions yet gets a history with this line.
pub fn set(
    repo: &Repo,
    model: &ModelName,
    change: &SettingsChange,
    info: MoveInfo,
) -> Result<ModelSettings> {
    for l in change.add_labels.iter().chain(&change.remove_labels) {
        validate_name("label", l)?;
    }
    if let Some(Some(d)) = &change.description {
        if d.len() > MAX_DESCRIPTION || d.contains('\0') {
            return Err(crate::error::RecordError::DescriptionTooLong {
                max: MAX_DESCRIPTION,
            }
            .into());
        }
    }
    let mut now = ModelSettings::default();
    repo.transact(model, info, Action::Other(SETTINGS.into()), |t| {
        now = get(repo, model)?;
        if let Some(d) = &change.description {
            let d = d
                .as_ref()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty());
            if d != now.description {
                t.set_extra(DESCRIPTION, d.clone().into());
                now.description = d;
            }
        }
        let mut labels = now.labels.clone();
        labels.extend(change.add_labels.iter().cloned());
        for l in &change.remove_labels {
            labels.remove(l);
        }
        if labels != now.labels {
            t.set_extra(
                MODEL_LABELS,
                serde_json::to_value(&labels).expect("labels serialize"),
            );
            now.labels = labels;
        }
        Ok(())
    })?;
    Ok(now)
}
