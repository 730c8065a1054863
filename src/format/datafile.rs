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
