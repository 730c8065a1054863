//! `mreg ui --write`: deciding in the browser. The same moves as the CLI (promote,
//! rollback, set or remove an alias, add or remove a label, attach an evaluation), through
//! the same library calls, recorded in the history with the author of whoever runs
//! `mreg ui` and the message typed in the page.
//!
//! Every action is a `POST /api/models/MODEL/ACTION` that must carry the server's random
//! token — `Authorization: Bearer TOKEN`, or a `token` field of the page's own form — and
//! must not come from another origin (an `Origin` other than the server's own, or a
//! browser's `Sec-Fetch-Site` saying another site sent it, is refused). Moves of
//! production and of aliases take `expect`, the target the page showed, so that a page
//! left open cannot overwrite a newer move: the answer is then 409. JSON bodies get JSON
//! answers; the page's forms get a redirect to the model's history.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::history::MoveInfo;
use crate::names::{AliasName, ModelName};
use crate::refs::{self, Expect};
use crate::{Repo, Timestamp};

/// The actions, by the last segment of their path.
pub const ACTIONS: [&str; 5] = ["promote", "rollback", "alias", "label", "eval"];

/// What `--write` grants: the token every action must carry, and who acts.
#[derive(Clone)]
pub struct WriteAccess {
    token: String,
    /// The author recorded for every move made from the browser.
    pub author: String,
    /// The time recorded, when fixed (tests: `MREG_NOW`); else the clock at each action.
    pub now: Option<Timestamp>,
}

impl std::fmt::Debug for WriteAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token: it would end up in logs.
        f.debug_struct("WriteAccess")
            .field("author", &self.author)
            .finish_non_exhaustive()
    }
}

impl WriteAccess {
    /// Access with a new random token (256 bits, hex).
    pub fn new(author: String, now: Option<Timestamp>) -> Result<WriteAccess> {
        let mut raw = [0u8; 32];
        getrandom::fill(&mut raw).map_err(|e| {
            Error::io(
                "reading",
                "random bytes",
                std::io::Error::other(e.to_string()),
            )
        })?;
        Ok(WriteAccess {
            token: raw.iter().map(|b| format!("{b:02x}")).collect(),
            author,
            now,
        })
    }

    /// The token, for the URL `mreg ui` prints.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Whether `candidate` is the token (compared in constant time).
    pub fn accepts(&self, candidate: &str) -> bool {
        let (a, b) = (self.token.as_bytes(), candidate.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
    }

    fn info(&self, message: String) -> MoveInfo {
        MoveInfo {
            time: self.now.clone().unwrap_or_else(Timestamp::now),
            author: self.author.clone(),
            message,
        }
    }
}

/// Metrics of an evaluation: a JSON object, or the form's `acc=0.91, f1=0.88`.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum MetricsField {
    Map(BTreeMap<String, f64>),
    Text(String),
}

/// The fields an action takes (each action reads the ones it needs).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionBody {
    /// The version acted on (promote: default the candidate).
    #[serde(default)]
    pub rev: Option<String>,
    /// Why: recorded in the history.
    #[serde(default)]
    pub message: String,
    /// Where the moved alias must point now (`none`: unset); production for promote and
    /// rollback.
    #[serde(default)]
    pub expect: Option<String>,
    #[serde(default)]
    pub alias: Option<String>,
    #[serde(default)]
    pub label: Option<String>,
    /// `alias`, `label`: remove instead of set.
    #[serde(default)]
    pub remove: bool,
    #[serde(default)]
    pub dataset: Option<String>,
    #[serde(default)]
    pub metrics: Option<MetricsField>,
    /// The form's copy of the token (JSON clients send the `Authorization` header).
    #[serde(default)]
    pub token: Option<String>,
}

impl ActionBody {
    /// The body of a form post (`application/x-www-form-urlencoded`).
    pub fn from_form(pairs: &[(String, String)]) -> Result<ActionBody> {
        let mut b = ActionBody::default();
        for (k, v) in pairs {
            let text = || Some(v.clone()).filter(|v| !v.trim().is_empty());
            match k.as_str() {
                "rev" => b.rev = text(),
                "message" => b.message = v.clone(),
                "expect" => b.expect = Some(v.clone()),
                "alias" => b.alias = text(),
                "label" => b.label = text(),
                "remove" => b.remove = matches!(v.as_str(), "1" | "true" | "on" | "yes"),
                "dataset" => b.dataset = text(),
                "metrics" => b.metrics = text().map(MetricsField::Text),
                "token" => b.token = Some(v.clone()),
                other => {
                    return Err(Error::InvalidArgument(format!(
                        "unknown form field {other:?}"
                    )))
                }
            }
        }
        Ok(b)
    }
}

fn required(field: Option<String>, name: &str, action: &str) -> Result<String> {
    field.ok_or_else(|| Error::InvalidArgument(format!("{action} needs `{name}`")))
}

fn metrics(field: Option<MetricsField>) -> Result<BTreeMap<String, f64>> {
    match field {
        None => Err(Error::InvalidArgument("eval needs `metrics`".into())),
        Some(MetricsField::Map(m)) => Ok(m),
        Some(MetricsField::Text(t)) => t
            .split([',', '\n'])
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').ok_or_else(|| {
                    Error::InvalidArgument(format!("metric {p:?} is not KEY=VALUE"))
                })?;
                let v: f64 = v.trim().parse().map_err(|_| {
                    Error::InvalidArgument(format!("metric {k}: {v:?} is not a number"))
                })?;
                Ok((k.trim().to_string(), v))
            })
            .collect(),
    }
}

/// Perform `action` on `model`: the move it made, as the CLI's `--json` renders it.
pub fn perform(
    repo: &Repo,
    model: &str,
    action: &str,
    body: ActionBody,
    access: &WriteAccess,
) -> Result<serde_json::Value> {
    let model = ModelName::new(model)?;
    repo.require_model(&model)?;
    let info = access.info(body.message.clone());
    match action {
        "promote" => {
            let rev = body.rev.as_deref().map(|r| repo.resolve(r)).transpose()?;
            let expect = Expect::resolve(repo, body.expect.as_deref())?;
            to_json(&refs::promote(repo, &model, rev, expect, info)?)
        }
        "rollback" => {
            let expect = Expect::resolve(repo, body.expect.as_deref())?;
            to_json(&refs::rollback(repo, &model, expect, info)?)
        }
        "alias" => {
            let alias = AliasName::new(&required(body.alias, "alias", "alias")?)?;
            if body.remove {
                let expect = match Expect::resolve(repo, body.expect.as_deref())? {
                    Some(Expect::At(id)) => Some(id),
                    _ => None,
                };
                let entry = refs::alias_rm(repo, &model, &alias, expect, info)?;
                to_json(&serde_json::json!({
                    "model": model, "alias": alias, "removed": true, "time": entry.time,
                }))
            } else {
                let target = repo.resolve(&required(body.rev, "rev", "alias")?)?;
                let expect = Expect::resolve(repo, body.expect.as_deref())?;
                to_json(&refs::alias_set(
                    repo, &model, &alias, target, expect, info,
                )?)
            }
        }
        "label" => {
            let id = repo.resolve(&required(body.rev, "rev", "label")?)?;
            refs::check_model(repo, &model, &id)?;
            let label = required(body.label, "label", "label")?;
            let changed = crate::notes::set_label(repo, &id, &label, !body.remove, info)?;
            to_json(&serde_json::json!({
                "model": model, "id": id, "label": label, "removed": body.remove,
                "changed": changed,
            }))
        }
        "eval" => {
            let id = repo.resolve(&required(body.rev, "rev", "eval")?)?;
            refs::check_model(repo, &model, &id)?;
            let e = crate::ops::eval::add_evaluation(
                repo,
                crate::ops::eval::EvaluationRequest {
                    commit: id,
                    dataset: required(body.dataset, "dataset", "eval")?,
                    metrics: metrics(body.metrics)?,
                    data: None,
                    info,
                },
            )?;
            to_json(&e)
        }
        other => Err(Error::InvalidArgument(format!(
            "no action {other:?} (actions: {})",
            ACTIONS.join(", ")
        ))),
    }
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<serde_json::Value> {
    serde_json::to_value(v).map_err(|e| Error::Encode {
        what: "an action's answer",
        source: Box::new(e),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_random_long_and_compared_whole() -> Result<()> {
        let a = WriteAccess::new("ana".into(), None)?;
        let b = WriteAccess::new("ana".into(), None)?;
        assert_eq!(a.token().len(), 64);
        assert_ne!(a.token(), b.token());
        assert!(a.accepts(a.token()));
        assert!(!a.accepts(b.token()));
        assert!(!a.accepts(&a.token()[..63]));
        assert!(!a.accepts(""));
        assert!(!format!("{a:?}").contains(a.token()));
        Ok(())
    }

    #[test]
    fn form_metrics_and_fields_parse_and_unknown_fields_are_refused() -> Result<()> {
        let pairs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
            v.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let b = ActionBody::from_form(&pairs(&[
            ("rev", "abc"),
            ("metrics", "acc=0.91, f1 = 0.5"),
            ("remove", "on"),
        ]))?;
        assert_eq!(b.rev.as_deref(), Some("abc"));
        assert!(b.remove);
        let m = metrics(b.metrics)?;
        assert_eq!(m["acc"], 0.91);
        assert_eq!(m["f1"], 0.5);
        assert!(metrics(Some(MetricsField::Text("acc".into()))).is_err());
        assert!(metrics(Some(MetricsField::Text("acc=high".into()))).is_err());
        assert!(ActionBody::from_form(&pairs(&[("evil", "1")])).is_err());
        Ok(())
    }
}
