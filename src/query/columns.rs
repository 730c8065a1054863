//! The query index by columns: what `list` reads to select versions without parsing rows.
//!
//! Beside each model's rows (`cache/index/<model>.json`), `cache/index/<model>.cols` holds
//! the same versions column by column: one column per key the `--where` language reads
//! (`created_at`, `archived`, `version`, `author`, `message`, `id`, `labels`, `aliases`,
//! `datasets`, the evaluated datasets, the version's notes, and every `params.*`, `metrics.*` and `eval.D.M` key
//! the model's versions have), plus each row as its own JSON. A query reads the columns it
//! mentions with positioned reads, selects, sorts and limits on them, and parses only the
//! rows it returns: at a million versions, `list --where … --limit 20` reads a few MB
//! instead of parsing every row. Like the rows, the file carries the signature of the
//! history it was built from and is never the source of truth: a missing, stale or
//! malformed file (every length and offset in it is checked) is rebuilt from the rows, and
//! a store where it cannot be written is only slower.
//!
//! Layout: `MREGCOL1`, the header's length (u64 LE), the header (JSON: format version,
//! signature, row count, and per column its kind, offset and length in the data that
//! follows, and its blake3). Kinds: `num` (a presence byte per row, then an f64 LE per row), `bool` (a byte
//! per row), `str` and `json` (n + 1 offsets, u64 LE, into the UTF-8 text that follows;
//! `json` entries are JSON values, `null` where the version has no value). Each row's
//! entry starts with 8 bytes of its JSON's blake3, checked when it is read.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::File;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::names::ModelName;
use crate::query::index::Signature;
use crate::query::{canonical_json, Fields, Key, Row, Value};

const MAGIC: &[u8; 8] = b"MREGCOL1";
const FORMAT: u32 = 1;
/// A header larger than this is not one this code wrote.
const MAX_HEADER: u64 = 64 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Kind {
    Num,
    Bool,
    Str,
    Json,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Span {
    kind: Kind,
    offset: u64,
    len: u64,
    /// The column's bytes' blake3, 16 bytes in hex: a damaged cache is rebuilt, never
    /// believed.
    sum: String,
}

fn sum(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex()[..32].to_string()
}

/// A row's entry: the first 8 bytes of its JSON's blake3, then the JSON.
fn row_entry(r: &Row) -> Vec<u8> {
    let json = serde_json::to_vec(r).unwrap_or_default();
    let mut e = blake3::hash(&json).as_bytes()[..8].to_vec();
    e.extend_from_slice(&json);
    e
}

#[derive(Serialize, Deserialize)]
struct Header {
    format: u32,
    signature: Signature,
    rows: u64,
    columns: BTreeMap<String, Span>,
    /// The model's settings (description, labels), as the rows' index has them.
    #[serde(default)]
    settings: crate::refs::settings::ModelSettings,
}

/// Which columns to load, given the names of those a file has.
pub(crate) type Pick<'a> = dyn Fn(&[&str]) -> BTreeSet<String> + 'a;

/// The column holding each row's JSON.
const ROW: &str = "row";

/// The column name of a key (its text, as `--where` writes it).
pub(crate) fn column_of(key: &Key) -> String {
    key.text()
}

/// Encode the columns of a model's rows (newest first, as the index keeps them).
pub(crate) fn encode(
    signature: &Signature,
    rows: &[Row],
    notes: &BTreeMap<crate::id::CommitId, Vec<crate::id::NoteId>>,
    settings: &crate::refs::settings::ModelSettings,
) -> Vec<u8> {
    let mut cols: BTreeMap<String, (Kind, Vec<u8>)> = BTreeMap::new();
    let strs = |f: &dyn Fn(&Row) -> String| (Kind::Str, text_column(rows.iter().map(f)));
    let jsons = |f: &dyn Fn(&Row) -> serde_json::Value| {
        (
            Kind::Json,
            text_column(rows.iter().map(|r| f(r).to_string())),
        )
    };
    cols.insert(
        ROW.into(),
        (Kind::Str, bytes_column(rows.iter().map(row_entry))),
    );
    cols.insert("created_at".into(), strs(&|r| r.created_at.to_string()));
    cols.insert("author".into(), strs(&|r| r.author.clone()));
    cols.insert("message".into(), strs(&|r| r.message.clone()));
    cols.insert("id".into(), strs(&|r| r.id.to_hex()));
    cols.insert(
        "archived".into(),
        (Kind::Bool, rows.iter().map(|r| r.archived as u8).collect()),
    );
    cols.insert(
        "version".into(),
        num_column(rows.iter().map(|r| r.version.map(|v| v as f64))),
    );
    cols.insert("labels".into(), jsons(&|r| serde_json::json!(r.labels)));
    cols.insert("aliases".into(), jsons(&|r| serde_json::json!(r.aliases)));
    cols.insert("datasets".into(), jsons(&|r| serde_json::json!(r.datasets)));
    cols.insert(
        "notes".into(),
        jsons(&|r| {
            serde_json::json!(notes
                .get(&r.id)
                .map(|n| n.iter().map(|x| x.to_hex()).collect::<Vec<_>>())
                .unwrap_or_default())
        }),
    );
    cols.insert(
        "evalsets".into(),
        jsons(&|r| serde_json::json!(r.evals.keys().collect::<Vec<_>>())),
    );
    let params: BTreeSet<&String> = rows.iter().flat_map(|r| r.params.keys()).collect();
    for p in params {
        let vals: Vec<Option<&serde_json::Value>> = rows.iter().map(|r| r.params.get(p)).collect();
        let numeric = vals.iter().flatten().all(|v| v.is_number());
        let col = if numeric {
            num_column(vals.iter().map(|v| v.and_then(|v| v.as_f64())))
        } else {
            (
                Kind::Json,
                text_column(
                    vals.iter()
                        .map(|v| v.cloned().unwrap_or(serde_json::Value::Null).to_string()),
                ),
            )
        };
        cols.insert(column_of(&Key::Param(p.clone())), col);
    }
    let metrics: BTreeSet<&String> = rows.iter().flat_map(|r| r.metrics.keys()).collect();
    for m in metrics {
        cols.insert(
            column_of(&Key::Metric(m.clone())),
            num_column(rows.iter().map(|r| r.metrics.get(m).copied())),
        );
    }
    let evals: BTreeSet<(&String, &String)> = rows
        .iter()
        .flat_map(|r| {
            r.evals
                .iter()
                .flat_map(|(d, ms)| ms.keys().map(move |m| (d, m)))
        })
        .collect();
    for (d, m) in evals {
        let key = Key::Eval {
            dataset: d.clone(),
            metric: m.clone(),
        };
        cols.insert(
            column_of(&key),
            num_column(
                rows.iter()
                    .map(|r| r.evals.get(d).and_then(|x| x.get(m)).copied()),
            ),
        );
    }
    let mut data = Vec::new();
    let mut spans = BTreeMap::new();
    for (name, (kind, bytes)) in cols {
        spans.insert(
            name,
            Span {
                kind,
                offset: data.len() as u64,
                len: bytes.len() as u64,
                sum: sum(&bytes),
            },
        );
        data.extend_from_slice(&bytes);
    }
    let header = Header {
        format: FORMAT,
        signature: signature.clone(),
        rows: rows.len() as u64,
        columns: spans,
        settings: settings.clone(),
    };
    let h = serde_json::to_vec(&header).unwrap_or_default();
    let mut out = Vec::with_capacity(16 + h.len() + data.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(h.len() as u64).to_le_bytes());
    out.extend_from_slice(&h);
    out.extend_from_slice(&data);
    out
}

fn text_column(items: impl Iterator<Item = String>) -> Vec<u8> {
    bytes_column(items.map(String::into_bytes))
}

fn bytes_column(items: impl Iterator<Item = Vec<u8>>) -> Vec<u8> {
    let items: Vec<Vec<u8>> = items.collect();
    let mut out = Vec::with_capacity(8 * (items.len() + 1));
    let mut off = 0u64;
    out.extend_from_slice(&off.to_le_bytes());
    for s in &items {
        off += s.len() as u64;
        out.extend_from_slice(&off.to_le_bytes());
    }
    for s in &items {
        out.extend_from_slice(s);
    }
    out
}

fn num_column(vals: impl Iterator<Item = Option<f64>>) -> (Kind, Vec<u8>) {
    let vals: Vec<Option<f64>> = vals.collect();
    let mut out: Vec<u8> = vals.iter().map(|v| v.is_some() as u8).collect();
    for v in &vals {
        out.extend_from_slice(&v.unwrap_or(0.0).to_le_bytes());
    }
    (Kind::Num, out)
}

/// Where the encoded columns are: the file, or bytes just encoded (a store where the file
/// could not be written).
enum Source {
    File(File),
    Bytes(Vec<u8>),
}

impl Source {
    fn read_at(&self, offset: u64, len: u64) -> Option<Vec<u8>> {
        match self {
            Source::File(f) => {
                use std::os::unix::fs::FileExt;
                let mut buf = vec![0u8; usize::try_from(len).ok()?];
                f.read_exact_at(&mut buf, offset).ok()?;
                Some(buf)
            }
            Source::Bytes(b) => {
                let start = usize::try_from(offset).ok()?;
                let end = start.checked_add(usize::try_from(len).ok()?)?;
                b.get(start..end).map(<[u8]>::to_vec)
            }
        }
    }

    fn len(&self) -> Option<u64> {
        match self {
            Source::File(f) => f.metadata().ok().map(|m| m.len()),
            Source::Bytes(b) => Some(b.len() as u64),
        }
    }
}

/// One loaded column.
enum Col {
    Num { present: Vec<u8>, vals: Vec<f64> },
    Bool(Vec<u8>),
    Str(Texts),
    Json(Vec<serde_json::Value>),
}

/// n strings: offsets into one text.
struct Texts {
    offsets: Vec<u64>,
    text: String,
}

impl Texts {
    fn get(&self, i: usize) -> Option<&str> {
        let a = usize::try_from(*self.offsets.get(i)?).ok()?;
        let b = usize::try_from(*self.offsets.get(i + 1)?).ok()?;
        self.text.get(a..b)
    }
}

/// The columns of one model a query reads.
pub(crate) struct Columns {
    model: ModelName,
    rows: usize,
    settings: crate::refs::settings::ModelSettings,
    source: Source,
    data_start: u64,
    spans: BTreeMap<String, Span>,
    loaded: HashMap<String, Col>,
}

impl Columns {
    /// Open the columns file of `model` if it was built from history `signature`, loading
    /// the columns `pick` names, given the names of those the file has (a column the model
    /// does not have reads as absent). None when the file is missing, stale or malformed.
    pub(crate) fn open(
        path: &Path,
        model: &ModelName,
        signature: &Signature,
        pick: &Pick<'_>,
    ) -> Option<Columns> {
        let f = File::open(path).ok()?;
        Columns::load(Source::File(f), model, signature, pick)
    }

    /// The same, from bytes [`encode`] just made.
    pub(crate) fn from_bytes(
        bytes: Vec<u8>,
        model: &ModelName,
        signature: &Signature,
        pick: &Pick<'_>,
    ) -> Option<Columns> {
        Columns::load(Source::Bytes(bytes), model, signature, pick)
    }

    fn load(
        source: Source,
        model: &ModelName,
        signature: &Signature,
        pick: &Pick<'_>,
    ) -> Option<Columns> {
        let total = source.len()?;
        let head = source.read_at(0, 16)?;
        if &head[..8] != MAGIC {
            return None;
        }
        let hlen = u64::from_le_bytes(head[8..16].try_into().ok()?);
        if hlen > MAX_HEADER || 16 + hlen > total {
            return None;
        }
        let header: Header = serde_json::from_slice(&source.read_at(16, hlen)?).ok()?;
        if header.format != FORMAT || &header.signature != signature {
            return None;
        }
        let data_start = 16 + hlen;
        let data_len = total - data_start;
        if header
            .columns
            .values()
            .any(|s| s.offset.checked_add(s.len).is_none_or(|e| e > data_len))
        {
            return None;
        }
        let rows = usize::try_from(header.rows).ok()?;
        let mut c = Columns {
            model: model.clone(),
            rows,
            settings: header.settings,
            source,
            data_start,
            spans: header.columns,
            loaded: HashMap::new(),
        };
        if c.spans.get(ROW).is_none_or(|s| s.kind != Kind::Str) {
            return None;
        }
        let names: Vec<&str> = c.spans.keys().map(String::as_str).collect();
        for name in pick(&names) {
            if let Some(span) = c.spans.get(&name) {
                let col = c.load_column(span)?;
                c.loaded.insert(name, col);
            }
        }
        Some(c)
    }

    fn load_column(&self, span: &Span) -> Option<Col> {
        let n = self.rows;
        let bytes = self
            .source
            .read_at(self.data_start + span.offset, span.len)?;
        if sum(&bytes) != span.sum {
            return None;
        }
        match span.kind {
            Kind::Num => {
                if bytes.len() != n.checked_mul(9)? {
                    return None;
                }
                let (present, vals) = bytes.split_at(n);
                Some(Col::Num {
                    present: present.to_vec(),
                    vals: vals
                        .chunks_exact(8)
                        .map(|b| f64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
                        .collect(),
                })
            }
            Kind::Bool => (bytes.len() == n).then_some(Col::Bool(bytes)),
            Kind::Str | Kind::Json => {
                let t = texts(bytes, n)?;
                if span.kind == Kind::Str {
                    return Some(Col::Str(t));
                }
                let vals = (0..n)
                    .map(|i| serde_json::from_str(t.get(i)?).ok())
                    .collect::<Option<Vec<serde_json::Value>>>()?;
                Some(Col::Json(vals))
            }
        }
    }

    /// How many versions.
    pub(crate) fn len(&self) -> usize {
        self.rows
    }

    /// Whether version `i` is archived (the `archived` column must be loaded).
    pub(crate) fn archived(&self, i: usize) -> bool {
        matches!(self.loaded.get("archived"), Some(Col::Bool(b)) if b.get(i) == Some(&1))
    }

    /// The model's settings (description, labels).
    pub(crate) fn settings(&self) -> &crate::refs::settings::ModelSettings {
        &self.settings
    }

    /// The names of the columns the file has.
    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        self.spans.keys().map(String::as_str)
    }

    /// How many versions have a value in the loaded number column `name`.
    pub(crate) fn count(&self, name: &str) -> usize {
        match self.loaded.get(name) {
            Some(Col::Num { present, .. }) => present.iter().filter(|&&p| p == 1).count(),
            _ => 0,
        }
    }

    /// Version `i` (newest first) as the query language sees it.
    pub(crate) fn at(&self, i: usize) -> At<'_> {
        At { cols: self, i }
    }

    /// Whole row `i`, parsed from its JSON.
    pub(crate) fn row(&self, i: usize) -> Option<Row> {
        let span = self.spans.get(ROW)?;
        let base = self.data_start + span.offset;
        let offs = self.source.read_at(base + 8 * i as u64, 16)?;
        let a = u64::from_le_bytes(offs[..8].try_into().ok()?);
        let b = u64::from_le_bytes(offs[8..].try_into().ok()?);
        let text_start = 8 * (self.rows as u64 + 1);
        if a > b || text_start.checked_add(b)? > span.len {
            return None;
        }
        let entry = self.source.read_at(base + text_start + a, b - a)?;
        let (check, json) = entry.split_at_checked(8)?;
        if blake3::hash(json).as_bytes()[..8] != *check {
            return None;
        }
        serde_json::from_slice(json).ok()
    }

    /// The text of column `name` for version `i` (`created_at`, `author`...).
    pub(crate) fn text(&self, name: &str, i: usize) -> Option<&str> {
        match self.loaded.get(name)? {
            Col::Str(t) => t.get(i),
            _ => None,
        }
    }

    /// The list in column `name` for version `i` (`labels`, `aliases`...): empty if none.
    pub(crate) fn list(&self, name: &str, i: usize) -> &[serde_json::Value] {
        match self.loaded.get(name) {
            Some(Col::Json(v)) => v
                .get(i)
                .and_then(|x| x.as_array())
                .map_or(&[], |a| a.as_slice()),
            _ => &[],
        }
    }

    fn value(&self, name: &str, i: usize) -> Option<Value> {
        match self.loaded.get(name)? {
            Col::Num { present, vals } => {
                (*present.get(i)? == 1).then(|| Value::Num(*vals.get(i).unwrap_or(&f64::NAN)))
            }
            Col::Bool(b) => Some(Value::Bool(*b.get(i)? == 1)),
            Col::Str(t) => t.get(i).map(|s| Value::Text(s.to_string())),
            Col::Json(v) => Value::from_json(v.get(i)?),
        }
    }
}

fn texts(bytes: Vec<u8>, n: usize) -> Option<Texts> {
    let head = n.checked_add(1)?.checked_mul(8)?;
    if bytes.len() < head {
        return None;
    }
    let offsets: Vec<u64> = bytes[..head]
        .chunks_exact(8)
        .map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
        .collect();
    let text = String::from_utf8(bytes[head..].to_vec()).ok()?;
    if offsets.windows(2).any(|w| w[0] > w[1]) || offsets.last().copied()? as usize > text.len() {
        return None;
    }
    Some(Texts { offsets, text })
}

/// One version of a [`Columns`], as an expression sees it.
pub(crate) struct At<'c> {
    cols: &'c Columns,
    i: usize,
}

impl Fields for At<'_> {
    fn value(&self, key: &Key) -> Option<Value> {
        match key {
            Key::Model => Some(Value::Text(self.cols.model.to_string())),
            Key::Labels => Some(Value::List(canonical_json(&serde_json::Value::Array(
                self.cols.list("labels", self.i).to_vec(),
            )))),
            k => self.cols.value(&column_of(k), self.i),
        }
    }

    fn has_label(&self, label: &str) -> bool {
        self.cols
            .list("labels", self.i)
            .iter()
            .any(|l| l.as_str() == Some(label))
    }
}
