//! Small structured files users hand to mreg: params and metrics as YAML or JSON.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use crate::error::{Error, Result};

/// Read a YAML or JSON file into a JSON value (JSON by extension, else YAML).
pub fn read_structured(what: &'static str, path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io("reading", path, e))?;
    let is_json = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    let parsed: std::result::Result<Value, String> = if is_json {
        serde_json::from_str(&text).map_err(|e| e.to_string())
    } else {
        serde_yaml::from_str(&text).map_err(|e| e.to_string())
    };
    parsed.map_err(|why| Error::Parse {
        what,
        path: path.to_path_buf(),
        why,
    })
}

/// What a run's metrics file held: finite numbers become metrics; every other value is
/// kept as recorded information, with a warning.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunMetrics {
    pub metrics: BTreeMap<String, f64>,
    /// Strings, booleans, lists, nulls, and non-finite numbers (as `"NaN"`, `"Infinity"`,
    /// `"-Infinity"`), by dotted key.
    pub recorded: BTreeMap<String, Value>,
    pub warnings: Vec<String>,
}

/// Python's `json.dump` writes `NaN`, `Infinity` and `-Infinity`, which JSON does not allow:
/// turn them (outside strings) into these marker strings before parsing.
const NON_FINITE: [(&str, &str); 3] = [
    ("-Infinity", "\u{1}mreg:-Infinity"),
    ("Infinity", "\u{1}mreg:Infinity"),
    ("NaN", "\u{1}mreg:NaN"),
];

fn quote_non_finite(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_str = false;
    let mut escaped = false;
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if in_str {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_str = false;
            }
            rest = &rest[c.len_utf8()..];
            continue;
        }
        if c == '"' {
            in_str = true;
            out.push(c);
            rest = &rest[1..];
            continue;
        }
        if let Some((tok, marker)) = NON_FINITE.iter().find(|(t, _)| rest.starts_with(t)) {
            out.push_str(&serde_json::to_string(marker).expect("a string serializes"));
            rest = &rest[tok.len()..];
            continue;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// Read the metrics file a run wrote, leniently: after the run, a value that is not a
/// number must not lose the run. JSON (with Python's `NaN`/`Infinity`) or YAML (`.nan`,
/// `.inf`); nested maps become dotted keys.
pub fn read_run_metrics(path: &Path) -> Result<RunMetrics> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io("reading", path, e))?;
    let is_json = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    let parsed: std::result::Result<Value, String> = if is_json {
        serde_json::from_str(&quote_non_finite(&text)).map_err(|e| e.to_string())
    } else {
        serde_yaml::from_str::<serde_yaml::Value>(&text)
            .map_err(|e| e.to_string())
            .map(|y| yaml_to_json(&y))
    };
    let v = parsed.map_err(|why| Error::Parse {
        what: "metrics file",
        path: path.to_path_buf(),
        why,
    })?;
    let mut out = RunMetrics::default();
    if !v.is_object() {
        out.warnings.push(format!(
            "{}: the top level is not a mapping of names to values; kept as recorded value \"metrics_file\"",
            path.display()
        ));
        out.recorded.insert("metrics_file".into(), v);
        return Ok(out);
    }
    let _ = crate::query::visit_leaves("", &v, &mut |key, leaf| -> Result<()> {
        let marker = leaf
            .as_str()
            .and_then(|s| NON_FINITE.iter().find(|(_, m)| *m == s).map(|(t, _)| *t));
        match (leaf, marker) {
            (Value::Number(n), _) if n.as_f64().is_some_and(f64::is_finite) => {
                out.metrics.insert(key, n.as_f64().expect("checked"));
            }
            (_, Some(tok)) => {
                out.warnings.push(format!(
                    "metric {key:?} is {tok}: kept as a recorded value, not a metric"
                ));
                out.recorded.insert(key, Value::String(tok.to_string()));
            }
            (other, None) => {
                out.warnings.push(format!(
                    "metric {key:?} is not a number ({}): kept as a recorded value",
                    short_json(other)
                ));
                out.recorded.insert(key, other.clone());
            }
        }
        Ok(())
    });
    Ok(out)
}

fn short_json(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 40 {
        format!("{}…", s.chars().take(40).collect::<String>())
    } else {
        s
    }
}

/// YAML to JSON, keeping non-finite floats as the marker strings.
fn yaml_to_json(y: &serde_yaml::Value) -> Value {
    use serde_yaml::Value as Y;
    match y {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(*b),
        Y::Number(n) => match n.as_f64() {
            Some(f) if f.is_nan() => Value::String(NON_FINITE[2].1.into()),
            Some(f) if f == f64::INFINITY => Value::String(NON_FINITE[1].1.into()),
            Some(f) if f == f64::NEG_INFINITY => Value::String(NON_FINITE[0].1.into()),
            _ => serde_json::to_value(n).unwrap_or(Value::Null),
        },
        Y::String(s) => Value::String(s.clone()),
        Y::Sequence(seq) => Value::Array(seq.iter().map(yaml_to_json).collect()),
        Y::Mapping(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let key = match k {
                        Y::String(s) => s.clone(),
                        other => serde_yaml::to_string(other)
                            .unwrap_or_default()
                            .trim()
                            .to_string(),
                    };
                    (key, yaml_to_json(v))
                })
                .collect(),
        ),
        Y::Tagged(t) => yaml_to_json(&t.value),
    }
}

/// A metrics file: a mapping whose leaves are numbers; nested maps become dotted keys.
pub fn read_metrics(path: &Path) -> Result<BTreeMap<String, f64>> {
    let v = read_structured("metrics file", path)?;
    if !v.is_object() {
        return Err(Error::Parse {
            what: "metrics file",
            path: path.to_path_buf(),
            why: "the top level must be a mapping of names to numbers".into(),
        });
    }
    let mut out = BTreeMap::new();
    flatten_metrics(path, "", &v, &mut out)?;
    Ok(out)
}

/// Flatten nested metric maps into dotted keys; every leaf must be a number.
fn flatten_metrics(
    path: &Path,
    prefix: &str,
    v: &Value,
    out: &mut BTreeMap<String, f64>,
) -> Result<()> {
    crate::query::visit_leaves(prefix, v, &mut |key, leaf| match leaf {
        Value::Number(n) => {
            out.insert(key, n.as_f64().unwrap_or(f64::NAN));
            Ok(())
        }
        other => Err(Error::Parse {
            what: "metrics file",
            path: path.to_path_buf(),
            why: format!("metric {key:?} is {other}, not a number"),
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_metrics_keep_what_is_not_a_number_and_accept_python_nan() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("m.json");
        std::fs::write(
            &p,
            r#"{"acc": 0.9, "loss": NaN, "best": Infinity, "worst": -Infinity, "model_name": "mlp NaN",
               "curve": [1, 2], "ok": true, "nested": {"f1": 0.5}}"#,
        )
        .unwrap();
        let m = read_run_metrics(&p).unwrap();
        assert_eq!(m.metrics.get("acc"), Some(&0.9));
        assert_eq!(m.metrics.get("nested.f1"), Some(&0.5));
        assert_eq!(m.recorded["loss"], "NaN");
        assert_eq!(m.recorded["best"], "Infinity");
        assert_eq!(m.recorded["worst"], "-Infinity");
        assert_eq!(
            m.recorded["model_name"], "mlp NaN",
            "strings are left alone"
        );
        assert_eq!(m.recorded["ok"], true);
        assert_eq!(m.recorded["curve"], serde_json::json!([1, 2]));
        assert_eq!(m.warnings.len(), 6, "{:?}", m.warnings);
        let y = d.path().join("m.yaml");
        std::fs::write(&y, "acc: 0.5\nloss: .nan\nname: x\n").unwrap();
        let m = read_run_metrics(&y).unwrap();
        assert_eq!(m.metrics.len(), 1);
        assert_eq!(m.recorded["loss"], "NaN");
    }
}
