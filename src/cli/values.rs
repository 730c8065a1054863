//! Parsing `K=V` options and params/metrics files.

use std::collections::BTreeMap;
use std::path::Path;

use mreg::Error;
use serde_json::{Map, Value};

/// Split `K=V`, naming the option in the error.
pub fn split_kv<'a>(opt: &'static str, s: &'a str) -> mreg::Result<(&'a str, &'a str)> {
    let example = match opt {
        "--dataset" => "expected NAME=PATH (e.g. --dataset train=data/train.csv)",
        "--metric" => "expected KEY=VALUE (e.g. --metric acc=0.91)",
        _ => "expected KEY=VALUE (e.g. --param lr=0.01)",
    };
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim(), v)),
        _ => Err(Error::BadValue {
            option: opt,
            value: s.to_string(),
            expected: example.into(),
        }),
    }
}

/// A `--param` value: YAML scalar typing (`0.01` is a number, `true` a bool, `adam` a string).
fn param_value(v: &str) -> Value {
    if v.is_empty() {
        return Value::String(String::new());
    }
    serde_yaml::from_str::<Value>(v).unwrap_or_else(|_| Value::String(v.to_string()))
}

/// Set `a.b.c = v` in a nested map, creating maps on the way.
fn set_dotted(map: &mut Map<String, Value>, key: &str, v: Value) -> mreg::Result<()> {
    let mut parts = key.split('.').peekable();
    let mut cur = map;
    while let Some(p) = parts.next() {
        if p.is_empty() {
            return Err(Error::BadValue {
                option: "--param",
                value: key.to_string(),
                expected: "a dotted key without empty parts (e.g. optimizer.lr)".into(),
            });
        }
        if parts.peek().is_none() {
            cur.insert(p.to_string(), v);
            return Ok(());
        }
        let next = cur
            .entry(p.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if !next.is_object() {
            *next = Value::Object(Map::new());
        }
        cur = next.as_object_mut().expect("just made an object");
    }
    Ok(())
}

/// Params from an optional file, then `--param` overrides.
pub fn params(file: Option<&Path>, kvs: &[String]) -> mreg::Result<Value> {
    let mut map = Map::new();
    if let Some(f) = file {
        match mreg::datafile::read_structured("params file", f)? {
            Value::Object(m) => map = m,
            Value::Null => {}
            _ => {
                return Err(Error::Parse {
                    what: "params file",
                    path: f.to_path_buf(),
                    why: "the top level must be a mapping of names to values".into(),
                })
            }
        }
    }
    for kv in kvs {
        let (k, v) = split_kv("--param", kv)?;
        set_dotted(&mut map, k, param_value(v))?;
    }
    Ok(Value::Object(map))
}

fn metric_number(key: &str, v: &str) -> mreg::Result<f64> {
    match v.trim().parse::<f64>() {
        Ok(x) if x.is_finite() => Ok(x),
        _ => Err(Error::BadValue {
            option: "--metric",
            value: format!("{key}={v}"),
            expected: "its value is not a finite number".into(),
        }),
    }
}

/// Metrics from an optional file, then `--metric` overrides.
pub fn metrics(file: Option<&Path>, kvs: &[String]) -> mreg::Result<BTreeMap<String, f64>> {
    let mut out = BTreeMap::new();
    if let Some(f) = file {
        out = mreg::datafile::read_metrics(f)?;
    }
    for kv in kvs {
        let (k, v) = split_kv("--metric", kv)?;
        out.insert(k.to_string(), metric_number(k, v)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_are_typed_and_nested() {
        let p = params(
            None,
            &["lr=0.01".into(), "opt.name=adam".into(), "flag=true".into()],
        )
        .unwrap();
        assert_eq!(
            p,
            serde_json::json!({"lr": 0.01, "opt": {"name": "adam"}, "flag": true})
        );
        assert!(params(None, &["x".into()]).is_err());
        assert!(params(None, &["=1".into()]).is_err());
    }

    #[test]
    fn metrics_must_be_numbers() {
        assert_eq!(metrics(None, &["acc=0.5".into()]).unwrap()["acc"], 0.5);
        assert!(metrics(None, &["acc=high".into()]).is_err());
        assert!(metrics(None, &["acc=nan".into()]).is_err());
    }
}
