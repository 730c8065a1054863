//! Tabular data for training: a small CSV reader, feature/target extraction with errors that
//! name the row and column, a seeded split, standardization, and the built-in example data.

use std::path::Path;

use crate::error::{Error, Result};

use super::config::Task;

/// A CSV file: header and rows of cells.
#[derive(Clone, Debug)]
pub struct Table {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

fn data_err(path: &Path, why: String) -> Error {
    Error::Parse {
        what: "dataset",
        path: path.to_path_buf(),
        why,
    }
}

/// Split one CSV line into cells (RFC 4180 quoting: `"a,b"`, `""` for a quote).
fn split_line(line: &str) -> std::result::Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cell = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                cell.push('"');
                chars.next();
            }
            (true, '"') => quoted = false,
            (true, c) => cell.push(c),
            (false, '"') if cell.is_empty() => quoted = true,
            (false, ',') => out.push(std::mem::take(&mut cell)),
            (false, c) => cell.push(c),
        }
    }
    if quoted {
        return Err("unterminated quoted cell".into());
    }
    out.push(cell);
    Ok(out.into_iter().map(|c| c.trim().to_string()).collect())
}

/// Read a CSV file with a header row. Blank lines are skipped.
pub fn read_csv(path: &Path) -> Result<Table> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io("reading dataset", path, e))?;
    parse_csv(path, &text)
}

pub fn parse_csv(path: &Path, text: &str) -> Result<Table> {
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let Some((_, head)) = lines.next() else {
        return Err(data_err(
            path,
            "the file is empty (a header row is needed)".into(),
        ));
    };
    let header = split_line(head).map_err(|e| data_err(path, format!("line 1: {e}")))?;
    let mut rows = Vec::new();
    for (i, l) in lines {
        let cells = split_line(l).map_err(|e| data_err(path, format!("line {}: {e}", i + 1)))?;
        if cells.len() != header.len() {
            return Err(data_err(
                path,
                format!(
                    "line {}: {} cells, but the header has {} columns",
                    i + 1,
                    cells.len(),
                    header.len()
                ),
            ));
        }
        rows.push(cells);
    }
    if rows.is_empty() {
        return Err(data_err(path, "the dataset has no rows".into()));
    }
    Ok(Table { header, rows })
}

/// Features and targets as the model sees them.
#[derive(Clone, Debug, Default)]
pub struct Prepared {
    /// Row-major, `n × d`.
    pub x: Vec<f32>,
    /// Class indices (classification).
    pub y_class: Vec<i64>,
    /// Target values (regression).
    pub y_value: Vec<f32>,
    pub n: usize,
    pub d: usize,
}

impl Table {
    fn column(&self, path: &Path, name: &str) -> Result<usize> {
        self.header.iter().position(|h| h == name).ok_or_else(|| {
            data_err(
                path,
                format!("no column {name:?} (columns: {})", self.header.join(", ")),
            )
        })
    }

    /// The feature columns: `wanted`, or every column but the target.
    pub fn feature_names(
        &self,
        path: &Path,
        wanted: &[String],
        target: &str,
    ) -> Result<Vec<String>> {
        self.column(path, target)?;
        if wanted.is_empty() {
            return Ok(self
                .header
                .iter()
                .filter(|h| *h != target)
                .cloned()
                .collect());
        }
        for w in wanted {
            self.column(path, w)?;
        }
        Ok(wanted.to_vec())
    }

    /// The distinct target labels, in a stable order (numeric when all are numbers).
    pub fn labels(&self, path: &Path, target: &str) -> Result<Vec<String>> {
        let t = self.column(path, target)?;
        let mut l: Vec<String> = self.rows.iter().map(|r| r[t].clone()).collect();
        l.sort();
        l.dedup();
        if l.iter().all(|v| v.parse::<f64>().is_ok()) {
            l.sort_by(|a, b| {
                a.parse::<f64>()
                    .unwrap_or(0.0)
                    .total_cmp(&b.parse::<f64>().unwrap_or(0.0))
            });
        }
        Ok(l)
    }

    /// Extract features and targets for `rows` (indices into this table).
    pub fn prepare(
        &self,
        path: &Path,
        features: &[String],
        target: &str,
        task: Task,
        classes: &[String],
        rows: &[usize],
    ) -> Result<Prepared> {
        let cols: Vec<usize> = features
            .iter()
            .map(|f| self.column(path, f))
            .collect::<Result<_>>()?;
        let t = self.column(path, target)?;
        let mut p = Prepared {
            n: rows.len(),
            d: cols.len(),
            ..Default::default()
        };
        p.x.reserve(rows.len() * cols.len());
        for &r in rows {
            let row = &self.rows[r];
            for (&c, name) in cols.iter().zip(features) {
                let v: f32 = row[c].parse().map_err(|_| {
                    data_err(
                        path,
                        format!(
                            "row {} column {name:?}: {:?} is not a number",
                            r + 2,
                            row[c]
                        ),
                    )
                })?;
                if !v.is_finite() {
                    return Err(data_err(
                        path,
                        format!("row {} column {name:?}: {v} is not a finite number", r + 2),
                    ));
                }
                p.x.push(v);
            }
            match task {
                Task::Classification => {
                    let k = classes.iter().position(|c| *c == row[t]).ok_or_else(|| {
                        data_err(
                            path,
                            format!(
                                "row {}: label {:?} of {target:?} is not one of the model's classes ({})",
                                r + 2,
                                row[t],
                                classes.join(", ")
                            ),
                        )
                    })?;
                    p.y_class.push(k as i64);
                }
                Task::Regression => {
                    let v: f32 = row[t].parse().map_err(|_| {
                        data_err(
                            path,
                            format!(
                                "row {} target {target:?}: {:?} is not a number",
                                r + 2,
                                row[t]
                            ),
                        )
                    })?;
                    p.y_value.push(v);
                }
            }
        }
        Ok(p)
    }
}

/// A small deterministic PRNG (SplitMix64) for shuffles and the example data: the same seed
/// gives the same sequence on every platform.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = (self.next_u64() % (i as u64 + 1)) as usize;
            v.swap(i, j);
        }
    }
    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = self.next_f64().max(f64::MIN_POSITIVE);
        let u2 = self.next_f64();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}

/// Split row indices into (train, validation) with a seeded shuffle.
pub fn split(n: usize, validation: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut idx: Vec<usize> = (0..n).collect();
    Rng::new(seed).shuffle(&mut idx);
    let n_val = ((n as f64) * validation).round() as usize;
    let n_val = n_val.clamp(1.min(n.saturating_sub(1)), n.saturating_sub(1));
    let val = idx.split_off(n - n_val);
    (idx, val)
}

/// Per-feature (mean, std) of `p` (std 1 for a constant feature).
pub fn standardization(p: &Prepared) -> Vec<(f64, f64)> {
    (0..p.d)
        .map(|j| {
            let col = (0..p.n).map(|i| p.x[i * p.d + j] as f64);
            let mean = col.clone().sum::<f64>() / p.n.max(1) as f64;
            let var = col.map(|v| (v - mean).powi(2)).sum::<f64>() / p.n.max(1) as f64;
            let std = var.sqrt();
            (mean, if std > 1e-12 { std } else { 1.0 })
        })
        .collect()
}

pub fn apply_standardization(p: &mut Prepared, stats: &[(f64, f64)]) {
    for i in 0..p.n {
        for (j, (m, s)) in stats.iter().enumerate() {
            let v = &mut p.x[i * p.d + j];
            *v = ((*v as f64 - m) / s) as f32;
        }
    }
}

/// The built-in example: three classes of points around three centres in four dimensions,
/// with overlap, 300 rows. Generated from a fixed seed, so it is the same file everywhere.
pub fn example_csv() -> String {
    let centres = [
        ("setosa", [5.0, 3.4, 1.5, 0.2]),
        ("versicolor", [5.9, 2.8, 4.3, 1.3]),
        ("virginica", [6.6, 3.0, 5.5, 2.0]),
    ];
    let spread = [0.45, 0.35, 0.45, 0.25];
    let mut rng = Rng::new(2026);
    let mut s = String::from("sepal_length,sepal_width,petal_length,petal_width,species\n");
    for i in 0..300 {
        let (name, c) = centres[i % 3];
        let v: Vec<String> = c
            .iter()
            .zip(spread)
            .map(|(m, sd)| format!("{:.2}", (m + sd * rng.normal()).max(0.05)))
            .collect();
        s.push_str(&format!("{},{name}\n", v.join(",")));
    }
    s
}

/// The built-in example's configuration (its data path is filled in by the caller).
pub const EXAMPLE_CONFIG: &str = "\
# mreg's built-in example: a small MLP classifier on generated tabular data.
name: example
task: classification
data:
  path: flowers.csv
  target: species
  validation_split: 0.2
model:
  hidden: [16]
  activation: relu
optimizer:
  name: adam
  lr: 0.02
epochs: 15
batch_size: 16
seed: 42
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_and_errors() {
        let p = Path::new("d.csv");
        let t = parse_csv(p, "a,b,label\n1,2,\"x, y\"\n\n3,4,\"say \"\"hi\"\"\"\n").unwrap();
        assert_eq!(t.rows.len(), 2);
        assert_eq!(t.rows[0][2], "x, y");
        assert_eq!(t.rows[1][2], "say \"hi\"");
        assert!(parse_csv(p, "").is_err());
        assert!(parse_csv(p, "a,b\n")
            .unwrap_err()
            .to_string()
            .contains("no rows"));
        assert!(parse_csv(p, "a,b\n1\n")
            .unwrap_err()
            .to_string()
            .contains("line 2"));
    }

    #[test]
    fn prepare_names_bad_cells() {
        let p = Path::new("d.csv");
        let t = parse_csv(p, "a,b,y\n1,2,x\n1,oops,y\n").unwrap();
        let f = t.feature_names(p, &[], "y").unwrap();
        let classes = t.labels(p, "y").unwrap();
        let e = t
            .prepare(p, &f, "y", Task::Classification, &classes, &[0, 1])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("row 3") && e.contains("\"b\"") && e.contains("oops"),
            "{e}"
        );
        assert!(t
            .feature_names(p, &[], "target")
            .unwrap_err()
            .to_string()
            .contains("no column"));
    }

    #[test]
    fn split_and_example_are_deterministic() {
        assert_eq!(split(10, 0.2, 1), split(10, 0.2, 1));
        let (tr, va) = split(10, 0.2, 1);
        assert_eq!((tr.len(), va.len()), (8, 2));
        assert_eq!(example_csv(), example_csv());
        let t = parse_csv(Path::new("e"), &example_csv()).unwrap();
        assert_eq!(t.rows.len(), 300);
    }
}
