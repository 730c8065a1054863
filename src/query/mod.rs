//! The `--where` expression language and sort keys of `mreg list`.
//!
//! ```text
//! expr    := or
//! or      := and ( ("or" | "||") and )*
//! and     := not ( ("and" | "&&") not )*
//! not     := ("not" | "!") not | primary
//! primary := "(" expr ")" | key op value
//! op      := == | = | != | < | <= | > | >=
//! key     := params.<a.b.c> | metrics.<name> | eval.<dataset>.<metric>
//!          | model | id | author | created_at | message
//! value   := number | 'text' | "text" | bare-word
//! ```
//!
//! Evaluation is three-valued, as in SQL: a comparison on a key the version does not have is
//! *unknown*, `not unknown` is unknown, and only a *true* result matches — so a version
//! without the key never matches, and is never an error. Parse errors carry the byte
//! position of the offending token.

pub(crate) mod columns;
pub(crate) mod index;

use std::cmp::Ordering;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::names::ModelName;

/// What a query sees of one version (also the index's row).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub id: crate::id::CommitId,
    pub model: ModelName,
    /// The version number (`fraud#12`); None while the version is not published.
    #[serde(default)]
    pub version: Option<u64>,
    pub created_at: crate::Timestamp,
    pub author: String,
    pub message: String,
    pub labels: Vec<String>,
    pub aliases: Vec<String>,
    pub archived: bool,
    /// Params flattened to dotted keys.
    pub params: BTreeMap<String, serde_json::Value>,
    pub metrics: BTreeMap<String, f64>,
    /// Latest evaluation per dataset: dataset -> metric -> value.
    pub evals: BTreeMap<String, BTreeMap<String, f64>>,
    /// Names of the datasets the version was trained with.
    pub datasets: Vec<String>,
}

/// A value a key yields.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Num(f64),
    Text(String),
    Bool(bool),
    /// A list (or nested object), as compact canonical JSON (`[32,16]`): equal or not,
    /// never ordered.
    List(String),
}

impl Value {
    pub(crate) fn from_json(v: &serde_json::Value) -> Option<Value> {
        match v {
            serde_json::Value::Number(n) => n.as_f64().map(Value::Num),
            serde_json::Value::String(s) => Some(Value::Text(s.clone())),
            serde_json::Value::Bool(b) => Some(Value::Bool(*b)),
            serde_json::Value::Array(_) | serde_json::Value::Object(_) => {
                Some(Value::List(canonical_json(v)))
            }
            serde_json::Value::Null => None,
        }
    }

    /// Order two values of the same type; None for mixed types.
    fn compare(&self, other: &Value) -> Option<Ordering> {
        match (self, other) {
            (Value::Num(a), Value::Num(b)) => a.partial_cmp(b),
            (Value::Text(a), Value::Text(b)) => Some(a.cmp(b)),
            (Value::Bool(a), Value::Bool(b)) => Some(a.cmp(b)),
            // Lists are only equal or not: Less stands for "different" and the comparison
            // operators other than == and != treat lists as unknown (see `Expr::eval`).
            (Value::List(a), Value::List(b)) => Some(if a == b {
                Ordering::Equal
            } else {
                Ordering::Less
            }),
            _ => None,
        }
    }

    pub fn display(&self) -> String {
        match self {
            Value::Num(n) => {
                if n.fract() == 0.0 && n.abs() < 1e15 {
                    format!("{}", *n as i64)
                } else {
                    format!("{n}")
                }
            }
            Value::Text(s) => s.clone(),
            Value::Bool(b) => b.to_string(),
            Value::List(j) => j.clone(),
        }
    }
}

/// What an expression reads of a version: the value of a key, and whether it has a label.
/// A whole [`Row`] answers, and so does a row of the index's columns
/// (`query::columns`), so `list` can select without parsing rows.
pub trait Fields {
    fn value(&self, key: &Key) -> Option<Value>;
    fn has_label(&self, label: &str) -> bool;
}

impl<T: Fields + ?Sized> Fields for &T {
    fn value(&self, key: &Key) -> Option<Value> {
        (**self).value(key)
    }
    fn has_label(&self, label: &str) -> bool {
        (**self).has_label(label)
    }
}

impl Fields for Row {
    fn value(&self, key: &Key) -> Option<Value> {
        key.get(self)
    }
    fn has_label(&self, label: &str) -> bool {
        self.labels.iter().any(|l| l == label)
    }
}

/// A validated key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Key {
    Param(String),
    Metric(String),
    Eval {
        dataset: String,
        metric: String,
    },
    Model,
    Id,
    Author,
    CreatedAt,
    Message,
    /// The version number (none while pending).
    Version,
    Archived,
    /// `labels == X`: the version has label X (`!=`: it has not).
    Labels,
}

impl Key {
    /// Parse a key; errors name what keys exist.
    pub fn parse(s: &str) -> std::result::Result<Key, String> {
        let (head, rest) = s.split_once('.').unwrap_or((s, ""));
        let k = match (head, rest) {
            ("params", r) if !r.is_empty() => Key::Param(r.to_string()),
            ("metrics", r) if !r.is_empty() => Key::Metric(r.to_string()),
            ("eval", r) => match r.split_once('.') {
                Some((d, m)) if !d.is_empty() && !m.is_empty() => Key::Eval {
                    dataset: d.to_string(),
                    metric: m.to_string(),
                },
                _ => return Err(format!("{s:?}: an evaluation key is eval.DATASET.METRIC")),
            },
            ("model", "") => Key::Model,
            ("id", "") => Key::Id,
            ("author", "") => Key::Author,
            ("created_at", "") => Key::CreatedAt,
            ("message", "") => Key::Message,
            ("version", "") => Key::Version,
            ("archived", "") => Key::Archived,
            ("labels", "") => Key::Labels,
            // A bare name is a metric (`acc > 0.9`), as `best` and the policy read it.
            (name, "")
                if !name.is_empty()
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') =>
            {
                Key::Metric(name.to_string())
            }
            _ => {
                return Err(format!(
                    "unknown key {s:?}: use params.NAME, metrics.NAME (or NAME), eval.DATASET.METRIC, model, id, version, author, created_at, message, labels or archived"
                ))
            }
        };
        Ok(k)
    }

    /// A ranking key, as `best --metric` and `gc --by` take it: the `--where` key language,
    /// where a bare name (one that does not start with `params.`, `metrics.` or `eval.`)
    /// means `metrics.NAME`.
    pub fn parse_ranking(s: &str) -> std::result::Result<Key, String> {
        let head = s.split('.').next().unwrap_or("");
        match head {
            "params" | "metrics" | "eval" => Key::parse(s),
            _ if s.is_empty() => Err("the key is empty".into()),
            _ => Ok(Key::Metric(s.to_string())),
        }
    }

    /// The key as text (`metrics.acc`, `eval.test.f1`, `params.lr`...).
    pub fn text(&self) -> String {
        match self {
            Key::Param(p) => format!("params.{p}"),
            Key::Metric(m) => format!("metrics.{m}"),
            Key::Eval { dataset, metric } => format!("eval.{dataset}.{metric}"),
            Key::Model => "model".into(),
            Key::Id => "id".into(),
            Key::Author => "author".into(),
            Key::CreatedAt => "created_at".into(),
            Key::Message => "message".into(),
            Key::Version => "version".into(),
            Key::Archived => "archived".into(),
            Key::Labels => "labels".into(),
        }
    }

    /// The numeric value of this key for a version, if it has one.
    pub fn number(&self, r: &(impl Fields + ?Sized)) -> Option<f64> {
        match r.value(self)? {
            Value::Num(n) if !n.is_nan() => Some(n),
            _ => None,
        }
    }

    pub fn get(&self, r: &Row) -> Option<Value> {
        match self {
            Key::Param(p) => r.params.get(p).and_then(Value::from_json),
            Key::Metric(m) => r.metrics.get(m).map(|v| Value::Num(*v)),
            Key::Eval { dataset, metric } => r
                .evals
                .get(dataset)
                .and_then(|m| m.get(metric))
                .map(|v| Value::Num(*v)),
            Key::Model => Some(Value::Text(r.model.to_string())),
            Key::Id => Some(Value::Text(r.id.to_hex())),
            Key::Author => Some(Value::Text(r.author.clone())),
            Key::CreatedAt => Some(Value::Text(r.created_at.to_string())),
            Key::Message => Some(Value::Text(r.message.clone())),
            Key::Version => r.version.map(|n| Value::Num(n as f64)),
            Key::Archived => Some(Value::Bool(r.archived)),
            Key::Labels => Some(Value::List(canonical_json(&serde_json::json!(r.labels)))),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// A parsed expression.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    Cmp(Key, Op, Value),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
}

impl Expr {
    /// The expression reads `key` somewhere.
    pub fn mentions(&self, key: &Key) -> bool {
        match self {
            Expr::Cmp(k, _, _) => k == key,
            Expr::And(a, b) | Expr::Or(a, b) => a.mentions(key) || b.mentions(key),
            Expr::Not(e) => e.mentions(key),
        }
    }

    /// Every key the expression reads, in order of appearance (repeats kept).
    pub fn keys(&self) -> Vec<&Key> {
        match self {
            Expr::Cmp(k, _, _) => vec![k],
            Expr::And(a, b) | Expr::Or(a, b) => {
                let mut v = a.keys();
                v.extend(b.keys());
                v
            }
            Expr::Not(e) => e.keys(),
        }
    }

    /// Three-valued evaluation: None is "unknown" (a missing key or mismatched types).
    pub fn eval(&self, r: &(impl Fields + ?Sized)) -> Option<bool> {
        match self {
            Expr::Cmp(Key::Labels, op, v) => {
                let want = match v {
                    Value::Text(t) => t.clone(),
                    other => other.display(),
                };
                match op {
                    Op::Eq => Some(r.has_label(&want)),
                    Op::Ne => Some(!r.has_label(&want)),
                    _ => None,
                }
            }
            Expr::Cmp(k, op, v) => {
                let have = r.value(k)?;
                if matches!(have, Value::List(_)) && !matches!(op, Op::Eq | Op::Ne) {
                    return None;
                }
                let ord = match (&have, v) {
                    // A bare word compared with a number: try it as a number first.
                    (Value::Num(_), Value::Text(t)) => {
                        have.compare(&Value::Num(t.parse().ok()?))?
                    }
                    _ => have.compare(v)?,
                };
                Some(match op {
                    Op::Eq => ord == Ordering::Equal,
                    Op::Ne => ord != Ordering::Equal,
                    Op::Lt => ord == Ordering::Less,
                    Op::Le => ord != Ordering::Greater,
                    Op::Gt => ord == Ordering::Greater,
                    Op::Ge => ord != Ordering::Less,
                })
            }
            Expr::Not(e) => e.eval(r).map(|b| !b),
            Expr::And(a, b) => match (a.eval(r), b.eval(r)) {
                (Some(false), _) | (_, Some(false)) => Some(false),
                (Some(true), Some(true)) => Some(true),
                _ => None,
            },
            Expr::Or(a, b) => match (a.eval(r), b.eval(r)) {
                (Some(true), _) | (_, Some(true)) => Some(true),
                (Some(false), Some(false)) => Some(false),
                _ => None,
            },
        }
    }

    pub fn matches(&self, r: &(impl Fields + ?Sized)) -> bool {
        self.eval(r) == Some(true)
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Word(String),
    Num(f64),
    Str(String),
    List(String),
    Op(Op),
    LParen,
    RParen,
    And,
    Or,
    Not,
    End,
}

fn err(expr: &str, pos: usize, why: impl Into<String>) -> Error {
    Error::Expression {
        expr: expr.to_string(),
        pos,
        why: why.into(),
    }
}

fn lex(s: &str) -> Result<Vec<(Tok, usize)>> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let start = i;
        match c {
            b' ' | b'\t' | b'\n' => {
                i += 1;
                continue;
            }
            b'(' => {
                out.push((Tok::LParen, i));
                i += 1;
            }
            b'[' => {
                // A JSON list literal, for equality with list-valued params.
                let mut depth = 0usize;
                let mut end = None;
                for (j, &c) in b.iter().enumerate().skip(i) {
                    match c {
                        b'[' => depth += 1,
                        b']' => {
                            depth -= 1;
                            if depth == 0 {
                                end = Some(j);
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                let end = end.ok_or_else(|| err(s, i, "unterminated list: expected ']'"))?;
                let text = &s[i..=end];
                let v: serde_json::Value = serde_json::from_str(text).map_err(|e| {
                    err(
                        s,
                        i,
                        format!("{text:?} is not a list (JSON, e.g. [32, 16]): {e}"),
                    )
                })?;
                out.push((Tok::List(canonical_json(&v)), i));
                i = end + 1;
            }
            b')' => {
                out.push((Tok::RParen, i));
                i += 1;
            }
            b'=' | b'!' | b'<' | b'>' => {
                let two = b.get(i + 1) == Some(&b'=');
                let op = match (c, two) {
                    (b'=', true) => Some(Op::Eq),
                    (b'=', false) => Some(Op::Eq),
                    (b'!', true) => Some(Op::Ne),
                    (b'<', true) => Some(Op::Le),
                    (b'<', false) => Some(Op::Lt),
                    (b'>', true) => Some(Op::Ge),
                    (b'>', false) => Some(Op::Gt),
                    _ => None,
                };
                match op {
                    Some(op) => {
                        out.push((Tok::Op(op), i));
                        i += if two { 2 } else { 1 };
                    }
                    None => {
                        out.push((Tok::Not, i));
                        i += 1;
                    }
                }
            }
            b'&' | b'|' => {
                if b.get(i + 1) != Some(&c) {
                    return Err(err(s, i, format!("expected '{0}{0}'", c as char)));
                }
                out.push((if c == b'&' { Tok::And } else { Tok::Or }, i));
                i += 2;
            }
            b'\'' | b'"' => {
                let end = s[i + 1..]
                    .find(c as char)
                    .ok_or_else(|| err(s, i, "unterminated string"))?;
                out.push((Tok::Str(s[i + 1..i + 1 + end].to_string()), i));
                i += end + 2;
            }
            _ if c.is_ascii_digit() || c == b'-' || c == b'+' || c == b'.' => {
                while i < b.len()
                    && (b[i].is_ascii_alphanumeric() || matches!(b[i], b'.' | b'-' | b'+' | b'_'))
                {
                    i += 1;
                }
                let text = &s[start..i];
                let n: f64 = text
                    .parse()
                    .map_err(|_| err(s, start, format!("{text:?} is not a number")))?;
                out.push((Tok::Num(n), start));
            }
            _ if c.is_ascii_alphabetic() || c == b'_' => {
                while i < b.len()
                    && (b[i].is_ascii_alphanumeric() || matches!(b[i], b'.' | b'_' | b'-'))
                {
                    i += 1;
                }
                let w = &s[start..i];
                out.push((
                    match w {
                        "and" | "AND" => Tok::And,
                        "or" | "OR" => Tok::Or,
                        "not" | "NOT" => Tok::Not,
                        _ => Tok::Word(w.to_string()),
                    },
                    start,
                ));
            }
            _ => {
                return Err(err(
                    s,
                    i,
                    format!(
                        "unexpected character {:?}",
                        s[i..].chars().next().unwrap_or('?')
                    ),
                ))
            }
        }
    }
    out.push((Tok::End, s.len()));
    Ok(out)
}

struct Parser<'a> {
    src: &'a str,
    toks: Vec<(Tok, usize)>,
    at: usize,
}

impl Parser<'_> {
    fn peek(&self) -> &Tok {
        &self.toks[self.at].0
    }
    fn pos(&self) -> usize {
        self.toks[self.at].1
    }
    fn next(&mut self) -> (Tok, usize) {
        let t = self.toks[self.at].clone();
        if self.at + 1 < self.toks.len() {
            self.at += 1;
        }
        t
    }
    fn or(&mut self) -> Result<Expr> {
        let mut e = self.and()?;
        while *self.peek() == Tok::Or {
            self.next();
            e = Expr::Or(Box::new(e), Box::new(self.and()?));
        }
        Ok(e)
    }
    fn and(&mut self) -> Result<Expr> {
        let mut e = self.not()?;
        while *self.peek() == Tok::And {
            self.next();
            e = Expr::And(Box::new(e), Box::new(self.not()?));
        }
        Ok(e)
    }
    fn not(&mut self) -> Result<Expr> {
        if *self.peek() == Tok::Not {
            self.next();
            return Ok(Expr::Not(Box::new(self.not()?)));
        }
        self.primary()
    }
    fn primary(&mut self) -> Result<Expr> {
        let (t, pos) = self.next();
        match t {
            Tok::LParen => {
                let e = self.or()?;
                let (t, p) = self.next();
                if t != Tok::RParen {
                    return Err(err(self.src, p, "expected ')'"));
                }
                Ok(e)
            }
            Tok::Word(w) => {
                let key = Key::parse(&w).map_err(|why| err(self.src, pos, why))?;
                let (t, p) = self.next();
                let Tok::Op(op) = t else {
                    return Err(err(
                        self.src,
                        p,
                        "expected a comparison (==, !=, <, <=, >, >=)",
                    ));
                };
                let (t, p) = self.next();
                let v = match t {
                    Tok::Num(n) => Value::Num(n),
                    Tok::Str(s) => Value::Text(s),
                    Tok::List(j) => Value::List(j),
                    Tok::Word(w) if w == "true" => Value::Bool(true),
                    Tok::Word(w) if w == "false" => Value::Bool(false),
                    Tok::Word(w) => Value::Text(w),
                    _ => {
                        return Err(err(
                            self.src,
                            p,
                            "expected a value (a number, a word or 'quoted text')",
                        ))
                    }
                };
                Ok(Expr::Cmp(key, op, v))
            }
            Tok::End => Err(err(
                self.src,
                pos,
                "expected a comparison, the expression ends here",
            )),
            _ => Err(err(
                self.src,
                pos,
                "expected a key such as metrics.acc, or '('",
            )),
        }
    }
}

/// Compact JSON with numbers normalized (32 and 32.0 are the same value).
pub fn canonical_json(v: &serde_json::Value) -> String {
    fn norm(v: &serde_json::Value) -> serde_json::Value {
        match v {
            serde_json::Value::Number(n) => match n.as_f64() {
                Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => serde_json::json!(f as i64),
                _ => v.clone(),
            },
            serde_json::Value::Array(a) => serde_json::Value::Array(a.iter().map(norm).collect()),
            serde_json::Value::Object(o) => {
                serde_json::Value::Object(o.iter().map(|(k, v)| (k.clone(), norm(v))).collect())
            }
            other => other.clone(),
        }
    }
    serde_json::to_string(&norm(v)).expect("JSON values serialize")
}

/// Parse a `--where` expression.
pub fn parse(s: &str) -> Result<Expr> {
    let toks = lex(s)?;
    let mut p = Parser {
        src: s,
        toks,
        at: 0,
    };
    let e = p.or()?;
    if *p.peek() != Tok::End {
        return Err(err(
            s,
            p.pos(),
            "unexpected text after the expression (missing 'and'/'or'?)",
        ));
    }
    Ok(e)
}

/// A sort order: a key, descending when written with a leading `-`.
#[derive(Clone, Debug)]
pub struct SortKey {
    pub key: Key,
    pub descending: bool,
}

impl SortKey {
    pub fn parse(s: &str) -> Result<SortKey> {
        let (descending, k) = match s.strip_prefix('-') {
            Some(k) => (true, k),
            None => (false, s),
        };
        let key = Key::parse(k).map_err(|why| crate::error::QueryError::BadKey {
            option: "--sort".into(),
            why,
        })?;
        Ok(SortKey { key, descending })
    }

    /// Order rows; rows without the key always sort last.
    pub fn cmp(&self, a: &Row, b: &Row) -> Ordering {
        self.cmp_values(self.key.get(a).as_ref(), self.key.get(b).as_ref())
    }

    /// Order two versions by their values of the key (None: the version has not the key).
    pub fn cmp_values(&self, a: Option<&Value>, b: Option<&Value>) -> Ordering {
        match (a, b) {
            (Some(x), Some(y)) => {
                let o = x.compare(y).unwrap_or(Ordering::Equal);
                if self.descending {
                    o.reverse()
                } else {
                    o
                }
            }
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        }
    }
}

/// Flatten nested params into dotted keys.
pub fn flatten(prefix: &str, v: &serde_json::Value, out: &mut BTreeMap<String, serde_json::Value>) {
    let _ = visit_leaves(prefix, v, &mut |k, leaf| {
        out.insert(k, leaf.clone());
        Ok::<(), std::convert::Infallible>(())
    });
}

/// Call `f` with the dotted key and value of every leaf of nested maps (lists are leaves).
/// The one walk behind params flattening and metrics files.
pub(crate) fn visit_leaves<E>(
    prefix: &str,
    v: &serde_json::Value,
    f: &mut impl FnMut(String, &serde_json::Value) -> std::result::Result<(), E>,
) -> std::result::Result<(), E> {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                visit_leaves(&key, v, f)?;
            }
            Ok(())
        }
        leaf => f(prefix.to_string(), leaf),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(acc: Option<f64>, lr: f64) -> Row {
        let mut params = BTreeMap::new();
        params.insert("lr".into(), serde_json::json!(lr));
        params.insert("opt.name".into(), serde_json::json!("adam"));
        Row {
            id: crate::id::CommitId(crate::ObjectId::hash(b"x")),
            model: ModelName::new("m").unwrap(),
            version: Some(7),
            created_at: crate::Timestamp::parse("2026-01-01T00:00:00Z").unwrap(),
            author: "a".into(),
            message: String::new(),
            labels: vec!["gpu".into(), "sweep-3".into()],
            aliases: vec![],
            archived: false,
            params,
            metrics: acc
                .map(|a| [("acc".to_string(), a)].into_iter().collect())
                .unwrap_or_default(),
            evals: [(
                "imagenet".to_string(),
                [("top1".to_string(), 0.7)].into_iter().collect(),
            )]
            .into_iter()
            .collect(),
            datasets: vec![],
        }
    }

    /// Issue 24 and 31: bare names are metrics; `version`, `labels` and `archived` are keys.
    #[test]
    fn bare_names_version_labels_and_archived() {
        let r = row(Some(0.95), 0.001);
        for yes in [
            "acc > 0.9",
            "version == 7",
            "version > 6 and labels == gpu",
            "labels == 'sweep-3'",
            "labels != cpu",
            "archived == false",
            "not archived == true",
        ] {
            assert!(parse(yes).unwrap().matches(&r), "{yes}");
        }
        for no in [
            "acc < 0.9",
            "labels == cpu",
            "labels != gpu",
            "version < 7",
            "labels > a",
        ] {
            assert!(!parse(no).unwrap().matches(&r), "{no}");
        }
        let mut pending = r.clone();
        pending.version = None;
        assert!(!parse("version > 0").unwrap().matches(&pending));
        assert!(
            parse("a.b > 1").is_err(),
            "a dotted name must start params., metrics. or eval."
        );
    }

    #[test]
    fn precedence_and_parentheses() {
        let r = row(Some(0.95), 0.001);
        assert!(parse("metrics.acc >= 0.9 and params.lr < 0.01")
            .unwrap()
            .matches(&r));
        assert!(
            parse("metrics.acc < 0.5 or params.lr < 0.01 and params.opt.name == adam")
                .unwrap()
                .matches(&r)
        );
        assert!(
            !parse("(metrics.acc < 0.5 or params.lr < 0.01) and params.opt.name != 'adam'")
                .unwrap()
                .matches(&r)
        );
        assert!(parse("not metrics.acc < 0.5").unwrap().matches(&r));
        assert!(
            parse("eval.imagenet.top1 > 0.8 or eval.imagenet.top1 > 0.6")
                .unwrap()
                .matches(&r)
        );
        assert!(parse("!(metrics.acc < 0.5) && params.lr <= 0.001")
            .unwrap()
            .matches(&r));
    }

    #[test]
    fn missing_keys_never_match() {
        let r = row(None, 0.1);
        for e in [
            "metrics.acc > 0.5",
            "not metrics.acc > 0.5",
            "metrics.acc > 0.5 or metrics.acc <= 0.5",
            "eval.other.f1 > 0",
        ] {
            assert!(!parse(e).unwrap().matches(&r), "{e}");
        }
        assert!(parse("metrics.acc > 0.5 or params.lr > 0.01")
            .unwrap()
            .matches(&r));
    }

    #[test]
    fn errors_point_at_the_offending_position() {
        let cases = [
            ("metrics.acc >= and x", 15),
            ("metrics.acc 0.9", 12),
            ("(metrics.acc > 1", 16),
            ("metrics.acc > 1 params.lr < 2", 16),
            ("foo.bar > 1", 0),
            ("metrics.acc > 'x", 14),
            ("metrics.acc > 1 & x", 16),
            ("", 0),
        ];
        for (e, pos) in cases {
            match parse(e) {
                Err(Error::Expression { pos: p, .. }) => assert_eq!(p, pos, "{e}"),
                other => panic!("{e}: {other:?}"),
            }
        }
    }

    #[test]
    fn sort_puts_missing_last() {
        let a = row(Some(0.9), 0.1);
        let b = row(None, 0.1);
        let c = row(Some(0.95), 0.1);
        let k = SortKey::parse("-metrics.acc").unwrap();
        let mut v = [&a, &b, &c];
        v.sort_by(|x, y| k.cmp(x, y));
        assert_eq!(v[0].metrics["acc"], 0.95);
        assert!(v[2].metrics.is_empty());
        assert!(SortKey::parse("bogus.key").is_err());
        // A bare name is a metric, as in `best` and the policy.
        assert_eq!(
            SortKey::parse("-acc").unwrap().key,
            Key::Metric("acc".into())
        );
    }
}
