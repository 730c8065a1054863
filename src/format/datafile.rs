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

/// Per-step values of named metrics: (step, value) in file order; `None` for a value that
/// is not a finite number (`NaN` in a loss curve is information, not an error).
pub type Curves = BTreeMap<String, Vec<(f64, Option<f64>)>>;

/// Read a per-step metrics file: JSON lines (`{"step": 1, "loss": 0.5}` per line) or CSV/TSV
/// with a header naming a `step` (or `epoch`) column. Every other column or key is a curve;
/// values that are not numbers are skipped with a warning.
pub fn read_history(path: &Path) -> Result<(Curves, Vec<String>)> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io("reading", path, e))?;
    parse_history(&text, path)
}

/// [`read_history`] of text already read (`path` names it in errors): a live run's
/// history is read up to its last complete line, while the job is still appending.
pub fn parse_history(text: &str, path: &Path) -> Result<(Curves, Vec<String>)> {
    let bad = |why: String| Error::Parse {
        what: "metrics history",
        path: path.to_path_buf(),
        why,
    };
    let mut curves = Curves::new();
    let mut warnings = Vec::new();
    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    if first.trim_start().starts_with('{') {
        for (i, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let v: Value = serde_json::from_str(&quote_non_finite(line))
                .map_err(|e| bad(format!("line {}: {e}", i + 1)))?;
            let Some(obj) = v.as_object() else {
                return Err(bad(format!("line {}: not an object", i + 1)));
            };
            let step = ["step", "epoch", "iteration"]
                .iter()
                .find_map(|k| obj.get(*k).and_then(Value::as_f64))
                .unwrap_or(i as f64);
            for (k, v) in obj {
                if matches!(k.as_str(), "step" | "epoch" | "iteration" | "timestamp") {
                    continue;
                }
                match curve_value(v) {
                    Some(x) => curves.entry(k.clone()).or_default().push((step, x)),
                    None => warnings.push(format!("line {}: {k} is not a number: skipped", i + 1)),
                }
            }
        }
        return Ok((curves, warnings));
    }
    let sep = if first.contains('\t') { '\t' } else { ',' };
    let header: Vec<String> = first.split(sep).map(|h| h.trim().to_string()).collect();
    let step_col = header
        .iter()
        .position(|h| matches!(h.as_str(), "step" | "epoch" | "iteration"))
        .ok_or_else(|| {
            bad(format!(
                "the header {first:?} has no step (or epoch) column"
            ))
        })?;
    for (i, line) in text
        .lines()
        .enumerate()
        .skip(1)
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let cells: Vec<&str> = line.split(sep).map(str::trim).collect();
        let Some(step) = cells.get(step_col).and_then(|c| c.parse::<f64>().ok()) else {
            warnings.push(format!("line {}: no step: skipped", i + 1));
            continue;
        };
        for (j, name) in header.iter().enumerate() {
            if j == step_col || name == "timestamp" {
                continue;
            }
            match cells.get(j).map(|c| c.parse::<f64>()) {
                Some(Ok(x)) => curves
                    .entry(name.clone())
                    .or_default()
                    .push((step, x.is_finite().then_some(x))),
                _ => warnings.push(format!("line {}: {name} is not a number: skipped", i + 1)),
            }
        }
    }
    Ok((curves, warnings))
}

/// A curve point's value: a finite number, `None` for NaN/Infinity (kept as a gap), or not
/// a point at all (a string, a list...).
fn curve_value(v: &Value) -> Option<Option<f64>> {
    match v {
        Value::Number(n) => n.as_f64().map(Some),
        Value::String(s) if NON_FINITE.iter().any(|(_, m)| m == s) => Some(None),
        _ => None,
    }
}

/// DVCLive's per-step plots beside its `metrics.json`: `plots/metrics/**/NAME.tsv` with a
/// `step` column; nested directories become dotted names. Empty when there are none.
pub fn read_dvclive_plots(metrics_file: &Path) -> Result<(Curves, Vec<String>)> {
    let dir = match metrics_file.parent() {
        Some(d) => d.join("plots").join("metrics"),
        None => return Ok(Default::default()),
    };
    let mut curves = Curves::new();
    let mut warnings = Vec::new();
    let mut stack = vec![dir.clone()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "tsv") {
                let (c, w) = read_history(&p)?;
                warnings.extend(w);
                let rel = p.strip_prefix(&dir).expect("under dir").with_extension("");
                let name = rel.to_string_lossy().replace('/', ".");
                // The file's value column is named after the metric's last component.
                for (_, points) in c {
                    curves.insert(name.clone(), points);
                }
            }
        }
    }
    Ok((curves, warnings))
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
    fn histories_read_json_lines_csv_and_dvclive_plots() {
        let d = tempfile::tempdir().unwrap();
        let j = d.path().join("h.jsonl");
        std::fs::write(&j, "{\"step\": 1, \"loss\": 1.5, \"acc\": 0.5}\n{\"step\": 2, \"loss\": NaN, \"acc\": 0.7, \"note\": \"x\"}\n").unwrap();
        let (c, w) = read_history(&j).unwrap();
        assert_eq!(c["loss"], vec![(1.0, Some(1.5)), (2.0, None)]);
        assert_eq!(c["acc"].len(), 2);
        assert_eq!(w.len(), 1);
        let csv = d.path().join("h.csv");
        std::fs::write(&csv, "epoch,loss\n0,2.0\n1,1.0\n").unwrap();
        assert_eq!(
            read_history(&csv).unwrap().0["loss"],
            vec![(0.0, Some(2.0)), (1.0, Some(1.0))]
        );
        std::fs::write(&csv, "a,b\n1,2\n").unwrap();
        assert!(read_history(&csv).is_err(), "no step column");
        let live = d.path().join("dvclive");
        std::fs::create_dir_all(live.join("plots/metrics/train")).unwrap();
        std::fs::write(live.join("metrics.json"), "{}").unwrap();
        std::fs::write(
            live.join("plots/metrics/train/loss.tsv"),
            "timestamp\tstep\tloss\n1\t0\t0.9\n2\t1\t0.4\n",
        )
        .unwrap();
        let (c, _) = read_dvclive_plots(&live.join("metrics.json")).unwrap();
        assert_eq!(c["train.loss"], vec![(0.0, Some(0.9)), (1.0, Some(0.4))]);
    }

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
