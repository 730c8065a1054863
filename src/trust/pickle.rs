//! Pickles that cannot run code: a scanner that reads a pickle's opcodes — never loads it —
//! and lists every callable it would import (`GLOBAL`, `STACK_GLOBAL`, `INST`, and the
//! extension registry), then compares them with an *allowlist* of what PyTorch, NumPy,
//! scikit-learn and joblib checkpoints need. Anything else is a finding: `os.system` (which
//! pickles as `posix.system`), `builtins.eval`, `subprocess.*`, `runpy.*`, but also any
//! callable nobody vouched for, and a callable whose name is computed at load time (a
//! `STACK_GLOBAL` whose operands are not literal strings) — the bypasses published against
//! denylist scanners build names from pieces.
//!
//! What is scanned: bare pickles (`.pkl`, `.pickle`, joblib files: the first pickle, which is
//! what `pickle.load` runs), PyTorch zip checkpoints (every `.pkl` member, and archives
//! nested in archives, three deep), legacy PyTorch files (the five pickles `torch.load`
//! reads in a row), NumPy `.npy` with object arrays and `.npz` archives, zlib and gzip
//! streams (what `joblib.dump(compress=...)` writes), inflated first. Protocols 0 to 5:
//! protocol 0 spells names as text lines, which the same parser reads. A pickle that cannot
//! be parsed is itself a finding: what cannot be checked is not passed.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::allowlist::judge;

/// Something a pickle would do when loaded that no allowlist vouches for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// The committed file.
    pub file: String,
    /// The pickle inside it (`archive/data.pkl`; empty: the file itself).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub member: String,
    /// `module.name` of the callable, or what could not be read.
    pub callable: String,
    /// `dangerous` (runs commands, evaluates code, opens files or sockets), `unknown` (not
    /// on the allowlist), `computed` (a name built at load time) or `unreadable`.
    pub kind: String,
}

impl Finding {
    /// For people: `model.pt (archive/data.pkl): posix.system (dangerous)`.
    pub fn describe(&self) -> String {
        let member = if self.member.is_empty() {
            String::new()
        } else {
            format!(" ({})", self.member)
        };
        format!("{}{member}: {} ({})", self.file, self.callable, self.kind)
    }
}

/// What the stack holds, as far as names go.
#[derive(Clone, Debug)]
enum Val {
    Str(String),
    Int(i64),
    Tuple(Vec<Val>),
    Dict(Vec<(Val, Val)>),
    /// A callable imported by name.
    Global(String),
    /// A NumPy dtype, by item size in bytes.
    Dtype(u64),
    /// An object of this class (NEWOBJ, `copyreg._reconstructor`).
    Obj(String),
    Mark,
    Other,
}

impl Val {
    fn int(&self) -> Option<i64> {
        match self {
            Val::Int(i) => Some(*i),
            _ => None,
        }
    }

    fn get(&self, key: &str) -> Option<&Val> {
        match self {
            Val::Dict(pairs) => pairs
                .iter()
                .find(|(k, _)| matches!(k, Val::Str(s) if s == key))
                .map(|(_, v)| v),
            _ => None,
        }
    }
}

/// The item size of a NumPy dtype string (`f8`, `<i4`, `U10`, `S5`, `b1`...).
fn dtype_size(s: &str) -> Option<u64> {
    let s = s.trim_start_matches(['<', '>', '=', '|']);
    let (kind, n) = s.split_at(s.find(|c: char| c.is_ascii_digit())?);
    let n: u64 = n.parse().ok()?;
    Some(match kind {
        "U" => n * 4,
        "f" | "i" | "u" | "b" | "c" | "S" | "V" | "M" | "m" | "a" => n,
        _ => return None,
    })
}

/// The bytes joblib writes after a `NumpyArrayWrapper`'s BUILD (its array, outside the
/// pickle): (alignment padding present, array bytes), from the wrapper's state.
fn joblib_array(state: &Val) -> Option<(bool, u64)> {
    let shape = match state.get("shape")? {
        Val::Tuple(dims) => dims
            .iter()
            .map(Val::int)
            .try_fold(1u64, |acc, d| acc.checked_mul(u64::try_from(d?).ok()?))?,
        _ => return None,
    };
    let Val::Dtype(item) = state.get("dtype")? else {
        return None;
    };
    let aligned = matches!(state.get("numpy_array_alignment_bytes"), Some(Val::Int(_)));
    Some((aligned, shape.checked_mul(*item)?))
}

/// The values above the topmost MARK, in order (the MARK is removed).
fn take_to_mark(stack: &mut Vec<Val>) -> Vec<Val> {
    let at = stack
        .iter()
        .rposition(|v| matches!(v, Val::Mark))
        .unwrap_or(0);
    let items = stack.split_off(at);
    items
        .into_iter()
        .filter(|v| !matches!(v, Val::Mark))
        .collect()
}

/// Why a pickle could not be read to its end.
#[derive(Debug)]
struct Unreadable(String);

/// The callables one pickle imports (`module.name`; `?computed?` for a computed name) and
/// where it ends.
fn callables(data: &[u8]) -> Result<(Vec<String>, usize), Unreadable> {
    let mut out = Vec::new();
    let mut stack: Vec<Val> = Vec::new();
    let mut memo: HashMap<u64, Val> = HashMap::new();
    let mut i = 0usize;
    let err = |what: &str, at: usize| Unreadable(format!("{what} at byte {at}"));
    let take = |i: &mut usize, n: usize| -> Result<&[u8], Unreadable> {
        let end = i.checked_add(n).filter(|&e| e <= data.len());
        let Some(end) = end else {
            return Err(Unreadable(format!("truncated at byte {}", *i)));
        };
        let s = &data[*i..end];
        *i = end;
        Ok(s)
    };
    let line = |i: &mut usize| -> Result<String, Unreadable> {
        let rest = &data[*i..];
        let n = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| Unreadable(format!("unterminated line at byte {}", *i)))?;
        let s = String::from_utf8_lossy(&rest[..n]).into_owned();
        *i += n + 1;
        Ok(s)
    };
    let le = |b: &[u8]| -> u64 {
        let mut v = 0u64;
        for (k, x) in b.iter().enumerate() {
            v |= (*x as u64) << (8 * k);
        }
        v
    };
    let pop_mark = |stack: &mut Vec<Val>| -> Result<(), Unreadable> {
        loop {
            match stack.pop() {
                Some(Val::Mark) => return Ok(()),
                Some(_) => {}
                None => return Err(Unreadable("MARK missing".into())),
            }
        }
    };
    let pop = |stack: &mut Vec<Val>, n: usize| {
        for _ in 0..n {
            stack.pop();
        }
    };
    loop {
        let at = i;
        let op = *data.get(i).ok_or_else(|| err("no STOP", at))?;
        i += 1;
        match op {
            b'.' => return Ok((out, i)),
            b'(' => stack.push(Val::Mark),
            b'0' => pop(&mut stack, 1),
            b'1' => pop_mark(&mut stack)?,
            b'2' => {
                let top = stack.last().cloned().unwrap_or(Val::Other);
                stack.push(top);
            }
            // Numbers, None, booleans: values.
            b'F' => {
                line(&mut i)?;
                stack.push(Val::Other);
            }
            b'I' | b'L' => {
                let l = line(&mut i)?;
                let v = l.trim().trim_end_matches('L').parse().ok();
                stack.push(v.map_or(Val::Other, Val::Int));
            }
            b'J' => {
                let b = take(&mut i, 4)?;
                stack.push(Val::Int(i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64));
            }
            b'K' => {
                let b = take(&mut i, 1)?;
                stack.push(Val::Int(b[0] as i64));
            }
            b'M' => {
                let b = take(&mut i, 2)?;
                stack.push(Val::Int(u16::from_le_bytes([b[0], b[1]]) as i64));
            }
            b'G' => {
                take(&mut i, 8)?;
                stack.push(Val::Other);
            }
            b'N' | 0x88 | 0x89 => stack.push(Val::Other),
            0x8a => {
                let n = take(&mut i, 1)?[0] as usize;
                let b = take(&mut i, n)?;
                // Small non-negative longs (shapes, sizes) are kept.
                let v = (n <= 7 && b.last().is_none_or(|x| x & 0x80 == 0)).then(|| le(b) as i64);
                stack.push(v.map_or(Val::Other, Val::Int));
            }
            0x8b => {
                let n = le(take(&mut i, 4)?) as usize;
                take(&mut i, n)?;
                stack.push(Val::Other);
            }
            // Strings: kept, a STACK_GLOBAL may name a callable with them.
            b'S' => {
                let s = line(&mut i)?;
                let s = s.trim().trim_matches(|c| c == '\'' || c == '"').to_string();
                stack.push(Val::Str(s));
            }
            b'V' => {
                let s = line(&mut i)?;
                stack.push(Val::Str(s));
            }
            b'T' | b'X' => {
                let n = le(take(&mut i, 4)?) as usize;
                let s = take(&mut i, n)?;
                stack.push(Val::Str(String::from_utf8_lossy(s).into_owned()));
            }
            b'U' | 0x8c => {
                let n = take(&mut i, 1)?[0] as usize;
                let s = take(&mut i, n)?;
                stack.push(Val::Str(String::from_utf8_lossy(s).into_owned()));
            }
            0x8d => {
                let n = le(take(&mut i, 8)?) as usize;
                let s = take(&mut i, n)?;
                stack.push(Val::Str(String::from_utf8_lossy(s).into_owned()));
            }
            // Bytes: values (skipped without copying).
            b'B' => {
                let n = le(take(&mut i, 4)?) as usize;
                take(&mut i, n)?;
                stack.push(Val::Other);
            }
            b'C' => {
                let n = take(&mut i, 1)?[0] as usize;
                take(&mut i, n)?;
                stack.push(Val::Other);
            }
            0x8e | 0x96 => {
                let n = le(take(&mut i, 8)?) as usize;
                take(&mut i, n)?;
                stack.push(Val::Other);
            }
            b'P' => {
                line(&mut i)?;
                stack.push(Val::Other);
            }
            b'Q' => {
                pop(&mut stack, 1);
                stack.push(Val::Other);
            }
            // Building containers and objects.
            b'R' => {
                let args = stack.pop();
                let callable = stack.pop();
                stack.push(match (callable, args) {
                    (Some(Val::Global(g)), Some(Val::Tuple(a))) if g.ends_with(".dtype") => {
                        match a.first() {
                            Some(Val::Str(d)) => Val::Dtype(dtype_size(d).unwrap_or(0)),
                            _ => Val::Other,
                        }
                    }
                    (Some(Val::Global(g)), Some(Val::Tuple(a)))
                        if g.ends_with("._reconstructor") =>
                    {
                        match a.first() {
                            Some(Val::Global(cls)) => Val::Obj(cls.clone()),
                            _ => Val::Other,
                        }
                    }
                    _ => Val::Other,
                });
            }
            b'a' => pop(&mut stack, 1),
            b'b' => {
                let state = stack.pop().unwrap_or(Val::Other);
                match stack.last_mut() {
                    // A structured dtype's size is in its state (elsize, 6th item).
                    Some(Val::Dtype(size)) => {
                        if let Val::Tuple(t) = &state {
                            if let Some(n) = t.get(5).and_then(Val::int).filter(|&n| n > 0) {
                                *size = n as u64;
                            }
                        }
                    }
                    // joblib writes the array's bytes right after its wrapper's BUILD,
                    // outside the pickle: skipped by their size.
                    Some(Val::Obj(cls)) if cls == "joblib.numpy_pickle.NumpyArrayWrapper" => {
                        let (aligned, n) = joblib_array(&state)
                            .ok_or_else(|| err("a joblib array whose size cannot be read", at))?;
                        if aligned {
                            let pad = take(&mut i, 1)?[0] as usize;
                            take(&mut i, pad)?;
                        }
                        take(
                            &mut i,
                            usize::try_from(n).map_err(|_| err("array too large", at))?,
                        )?;
                    }
                    _ => {}
                }
            }
            b'e' | 0x90 => pop_mark(&mut stack)?,
            b'u' => {
                let items = take_to_mark(&mut stack);
                if let Some(Val::Dict(pairs)) = stack.last_mut() {
                    let mut it = items.into_iter();
                    while let (Some(k), Some(v)) = (it.next(), it.next()) {
                        pairs.push((k, v));
                    }
                }
            }
            b's' => {
                let v = stack.pop().unwrap_or(Val::Other);
                let k = stack.pop().unwrap_or(Val::Other);
                if let Some(Val::Dict(pairs)) = stack.last_mut() {
                    pairs.push((k, v));
                }
            }
            b't' => {
                let items = take_to_mark(&mut stack);
                stack.push(Val::Tuple(items));
            }
            b'd' | b'l' | 0x91 => {
                pop_mark(&mut stack)?;
                stack.push(Val::Other);
            }
            b'}' => stack.push(Val::Dict(Vec::new())),
            b')' => stack.push(Val::Tuple(Vec::new())),
            b']' | 0x8f => stack.push(Val::Other),
            0x85..=0x87 => {
                let n = (op - 0x84) as usize;
                let at_ = stack.len().saturating_sub(n);
                let items = stack.split_off(at_);
                stack.push(Val::Tuple(items));
            }
            0x81 => {
                pop(&mut stack, 1);
                let cls = stack.pop();
                stack.push(match cls {
                    Some(Val::Global(g)) => Val::Obj(g),
                    _ => Val::Other,
                });
            }
            0x92 => {
                pop(&mut stack, 3);
                stack.push(Val::Other);
            }
            b'o' => {
                pop_mark(&mut stack)?;
                stack.push(Val::Other);
            }
            // Imports: what this scanner is for.
            b'c' => {
                let module = line(&mut i)?;
                let name = line(&mut i)?;
                out.push(format!("{module}.{name}"));
                stack.push(Val::Global(format!("{module}.{name}")));
            }
            b'i' => {
                let module = line(&mut i)?;
                let name = line(&mut i)?;
                out.push(format!("{module}.{name}"));
                pop_mark(&mut stack)?;
                stack.push(Val::Other);
            }
            0x93 => {
                let name = stack.pop();
                let module = stack.pop();
                match (module, name) {
                    (Some(Val::Str(m)), Some(Val::Str(n))) => {
                        out.push(format!("{m}.{n}"));
                        stack.push(Val::Global(format!("{m}.{n}")));
                    }
                    _ => {
                        out.push("?computed?".into());
                        stack.push(Val::Other);
                    }
                }
            }
            0x82 => {
                let code = take(&mut i, 1)?[0];
                out.push(format!("copyreg extension {code}"));
                stack.push(Val::Other);
            }
            0x83 => {
                let code = le(take(&mut i, 2)?);
                out.push(format!("copyreg extension {code}"));
                stack.push(Val::Other);
            }
            0x84 => {
                let code = le(take(&mut i, 4)?);
                out.push(format!("copyreg extension {code}"));
                stack.push(Val::Other);
            }
            // Memo.
            b'p' => {
                let n: u64 = line(&mut i)?
                    .trim()
                    .parse()
                    .map_err(|_| err("bad PUT", at))?;
                memo.insert(n, stack.last().cloned().unwrap_or(Val::Other));
            }
            b'q' => {
                let n = take(&mut i, 1)?[0] as u64;
                memo.insert(n, stack.last().cloned().unwrap_or(Val::Other));
            }
            b'r' => {
                let n = le(take(&mut i, 4)?);
                memo.insert(n, stack.last().cloned().unwrap_or(Val::Other));
            }
            0x94 => {
                let n = memo.len() as u64;
                memo.insert(n, stack.last().cloned().unwrap_or(Val::Other));
            }
            b'g' => {
                let n: u64 = line(&mut i)?
                    .trim()
                    .parse()
                    .map_err(|_| err("bad GET", at))?;
                stack.push(memo.get(&n).cloned().unwrap_or(Val::Other));
            }
            b'h' => {
                let n = take(&mut i, 1)?[0] as u64;
                stack.push(memo.get(&n).cloned().unwrap_or(Val::Other));
            }
            b'j' => {
                let n = le(take(&mut i, 4)?);
                stack.push(memo.get(&n).cloned().unwrap_or(Val::Other));
            }
            // Framing and buffers.
            0x80 => {
                take(&mut i, 1)?;
            }
            0x95 => {
                take(&mut i, 8)?;
            }
            0x97 => stack.push(Val::Other),
            0x98 => {}
            other => return Err(err(&format!("unknown opcode 0x{other:02x}"), at)),
        }
    }
}

/// The magic number legacy `torch.save` writes as its first pickle.
const TORCH_LEGACY_MAGIC: [u8; 10] = [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];

/// Findings of one pickle stream: the first pickle, and for a legacy PyTorch file the
/// five it holds in a row.
fn scan_pickles(file: &str, member: &str, data: &[u8], out: &mut Vec<Finding>) {
    let legacy = data.len() > 14 && data[..14].windows(10).any(|w| w == TORCH_LEGACY_MAGIC);
    let count = if legacy { 5 } else { 1 };
    let mut at = 0usize;
    for _ in 0..count {
        match callables(&data[at..]) {
            Ok((names, end)) => {
                for c in names {
                    let kind = if c == "?computed?" {
                        Some("computed")
                    } else if c.starts_with("copyreg extension") {
                        Some("unknown")
                    } else {
                        judge(&c)
                    };
                    if let Some(kind) = kind {
                        let f = Finding {
                            file: file.to_string(),
                            member: member.to_string(),
                            callable: c,
                            kind: kind.into(),
                        };
                        if !out.contains(&f) {
                            out.push(f);
                        }
                    }
                }
                at += end;
            }
            Err(Unreadable(why)) => {
                out.push(Finding {
                    file: file.to_string(),
                    member: member.to_string(),
                    callable: format!("unreadable pickle: {why}"),
                    kind: "unreadable".into(),
                });
                return;
            }
        }
    }
}

/// Whether these bytes begin like a pickle: a protocol 2+ header, or a protocol 0/1
/// opening (`(`, `c`, `]`, `}`, `)`...) followed by something a pickle has.
fn looks_like_pickle(data: &[u8]) -> bool {
    match data {
        [0x80, p, ..] => *p <= 5,
        [b'(' | b'c' | b'}' | b']' | b')' | b'N' | b'I' | b'S' | b'V', ..] => {
            data.len() < 1 << 20 && data.ends_with(b".")
        }
        _ => false,
    }
}

/// Whether a committed path is worth scanning by its name.
pub fn is_candidate(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    [
        ".pt", ".pth", ".ckpt", ".pkl", ".pickle", ".joblib", ".bin", ".npy", ".npz", ".dat",
        ".model", ".sav",
    ]
    .iter()
    .any(|e| lower.ends_with(e))
}

/// Scan a file on disk (mapped, not read into memory; `name` is how findings name it).
pub fn scan_file(path: &std::path::Path, name: &str) -> crate::Result<Vec<Finding>> {
    let f = std::fs::File::open(path).map_err(|e| crate::Error::io("opening", path, e))?;
    let len = f
        .metadata()
        .map_err(|e| crate::Error::io("reading", path, e))?
        .len();
    if len == 0 {
        return Ok(Vec::new());
    }
    // SAFETY: read-only map of a file mreg just stored; a concurrent writer could change
    // what is seen, which at worst changes the findings, never memory safety of the
    // parser (it bounds-checks every read).
    let map =
        unsafe { memmap2::Mmap::map(&f) }.map_err(|e| crate::Error::io("reading", path, e))?;
    Ok(scan(name, &map))
}

/// Scan one committed file's bytes (named `file`): zip archives by member, pickles,
/// NumPy object arrays. Files of other kinds give nothing.
pub fn scan(file: &str, data: &[u8]) -> Vec<Finding> {
    let mut out = Vec::new();
    let lower = file.to_ascii_lowercase();
    let pickle_name = [".pkl", ".pickle", ".joblib", ".pt", ".pth", ".ckpt"]
        .iter()
        .any(|e| lower.ends_with(e));
    if pickle_name {
        if let Some(codec) = compressed(data) {
            // joblib.dump(compress=...) writes zlib (the default) or gzip: inflated into a
            // temporary file (mapped, so a large model costs disk, not memory) and scanned.
            // Other codecs are not read here, and what cannot be checked is not passed.
            let why = match inflate(codec, data) {
                Some(Ok(map)) => {
                    scan_into(file, "", &map, 1, &mut out);
                    return out;
                }
                Some(Err(why)) => {
                    format!("{codec}-compressed pickle that cannot be inflated: {why}")
                }
                None => {
                    format!("{codec}-compressed pickle (not checked: decompress it, then scan)")
                }
            };
            out.push(Finding {
                file: file.to_string(),
                member: String::new(),
                callable: why,
                kind: "unreadable".into(),
            });
            return out;
        }
    }
    scan_into(file, "", data, 0, &mut out);
    out
}

/// Inflate a zlib or gzip stream into an anonymous temporary file, mapped (None: another
/// codec).
fn inflate(codec: &str, data: &[u8]) -> Option<Result<memmap2::Mmap, String>> {
    let mut reader: Box<dyn std::io::Read + '_> = match codec {
        "zlib" => Box::new(flate2::read::ZlibDecoder::new(data)),
        "gzip" => Box::new(flate2::read::MultiGzDecoder::new(data)),
        _ => return None,
    };
    let mut run = || -> Result<memmap2::Mmap, String> {
        let mut tmp = tempfile::tempfile().map_err(|e| e.to_string())?;
        let n = std::io::copy(&mut reader, &mut tmp).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("empty".into());
        }
        // SAFETY: a private temporary file nobody else has a handle to.
        unsafe { memmap2::Mmap::map(&tmp) }.map_err(|e| e.to_string())
    };
    Some(run())
}

/// The compression a file starts with, if it is one a pickle is commonly wrapped in.
fn compressed(data: &[u8]) -> Option<&'static str> {
    Some(match data {
        [0x1f, 0x8b, ..] => "gzip",
        [b'Z', b'F', ..] | [0x78, 0x01 | 0x5e | 0x9c | 0xda, ..] => "zlib",
        [b'B', b'Z', b'h', ..] => "bz2",
        [0xfd, b'7', b'z', b'X', b'Z', 0, ..] => "xz",
        [0x5d, 0, 0, ..] => "lzma",
        [0x04, 0x22, 0x4d, 0x18, ..] => "lz4",
        [0x28, 0xb5, 0x2f, 0xfd, ..] => "zstd",
        _ => return None,
    })
}

fn scan_into(file: &str, member: &str, data: &[u8], depth: usize, out: &mut Vec<Finding>) {
    if data.starts_with(b"PK\x03\x04") {
        if depth >= 3 {
            out.push(Finding {
                file: file.to_string(),
                member: member.to_string(),
                callable: "archive nested more than three deep".into(),
                kind: "unreadable".into(),
            });
            return;
        }
        match crate::store::zip::entries(data) {
            Some(entries) => {
                for e in entries {
                    let Some(bytes) = e.stored_bytes(data) else {
                        // Compressed members: torch writes none; a compressed pickle cannot
                        // be read without inflating, so it is not passed.
                        if e.name.ends_with(".pkl") || e.name.ends_with(".pickle") {
                            out.push(Finding {
                                file: file.to_string(),
                                member: join(member, &e.name),
                                callable: "compressed pickle member (not checked)".into(),
                                kind: "unreadable".into(),
                            });
                        }
                        continue;
                    };
                    let name = join(member, &e.name);
                    let lower = e.name.to_ascii_lowercase();
                    // Archives in archives, pickles, NumPy arrays; a member that looks
                    // like a pickle whatever its name, except tensor storages (raw data).
                    if bytes.starts_with(b"PK\x03\x04")
                        || lower.ends_with(".pkl")
                        || lower.ends_with(".pickle")
                        || lower.ends_with(".npy")
                        || (looks_like_pickle(bytes) && !lower.contains("/data/"))
                    {
                        scan_into(file, &name, bytes, depth + 1, out);
                    }
                }
            }
            None => out.push(Finding {
                file: file.to_string(),
                member: member.to_string(),
                callable: "unreadable archive (inconsistent zip directory)".into(),
                kind: "unreadable".into(),
            }),
        }
        return;
    }
    if data.starts_with(b"\x93NUMPY") {
        // An .npy whose dtype is an object array stores its items as a pickle after the
        // header; any other dtype is raw numbers.
        let header_len = match data.get(6) {
            Some(1) => data
                .get(8..10)
                .map(|b| 10 + u16::from_le_bytes([b[0], b[1]]) as usize),
            Some(2 | 3) => data
                .get(8..12)
                .map(|b| 12 + u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize),
            _ => None,
        };
        if let Some(h) = header_len.filter(|&h| h <= data.len()) {
            let header = String::from_utf8_lossy(&data[..h]);
            if header.contains("'|O'") || header.contains("\"|O\"") {
                scan_pickles(file, member, &data[h..], out);
            }
        }
        return;
    }
    if looks_like_pickle(data) {
        scan_pickles(file, member, data, out);
    }
}

fn join(outer: &str, inner: &str) -> String {
    if outer.is_empty() {
        inner.to_string()
    } else {
        format!("{outer}/{inner}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(data: &[u8]) -> Vec<(String, String)> {
        scan("f.pkl", data)
            .into_iter()
            .map(|f| (f.callable, f.kind))
            .collect()
    }

    #[test]
    fn protocol_0_and_2_globals_are_judged_against_the_allowlist() {
        // pickle.dumps of a __reduce__ returning (os.system, ('true',)), protocol 0.
        let p0 = b"cposix\nsystem\np0\n(Vtrue\np1\ntp2\nRp3\n.";
        assert_eq!(kinds(p0), [("posix.system".into(), "dangerous".into())]);
        // Protocol 2: collections.OrderedDict is fine.
        let ok = b"\x80\x02ccollections\nOrderedDict\nq\x00)Rq\x01.";
        assert!(kinds(ok).is_empty());
        // Something nobody vouched for.
        let unknown = b"\x80\x02cmypkg.tools\nhelper\nq\x00)R.";
        assert_eq!(
            kinds(unknown),
            [("mypkg.tools.helper".into(), "unknown".into())]
        );
    }

    #[test]
    fn stack_global_names_from_the_memo_and_computed_names() {
        // Protocol 4: STACK_GLOBAL with memoized strings.
        let mut p = b"\x80\x04\x95\x00\x00\x00\x00\x00\x00\x00\x00".to_vec();
        p.extend_from_slice(b"\x8c\x08builtins\x94\x8c\x04eval\x94\x93\x94");
        p.extend_from_slice(b"\x8c\x011\x85R.");
        assert_eq!(kinds(&p), [("builtins.eval".into(), "dangerous".into())]);
        // The module name is the result of a call: computed, never passed.
        let mut c = b"\x80\x04".to_vec();
        c.extend_from_slice(b"\x8c\x08builtins\x8c\x03str\x93\x8c\x02os\x85R\x8c\x06system\x93.");
        let k = kinds(&c);
        assert!(
            k.contains(&("?computed?".into(), "computed".into())),
            "{k:?}"
        );
    }

    #[test]
    fn truncated_or_garbled_pickles_are_findings_not_passes() {
        for bad in [
            &b"\x80\x02cposix\nsys"[..],
            b"\x80\x02\xff.",
            b"\x80\x02(ll",
        ] {
            let k = kinds(bad);
            assert_eq!(k.len(), 1, "{bad:?}");
            assert_eq!(k[0].1, "unreadable");
        }
    }

    #[test]
    fn joblib_arrays_outside_the_pickle_are_skipped_by_their_size() {
        // A NumpyArrayWrapper (protocol 2) for a (2, 3) float64 array with alignment,
        // then its 1 + 7 padding bytes and 48 data bytes, then the rest of the pickle.
        let mut p = b"\x80\x02cjoblib.numpy_pickle\nNumpyArrayWrapper\nq\x00)\x81q\x01}q\x02(X\x05\x00\x00\x00shapeq\x03K\x02K\x03\x86q\x04X\x05\x00\x00\x00dtypeq\x05cnumpy\ndtype\nq\x06X\x02\x00\x00\x00f8q\x07\x89\x88\x87q\x08Rq\tX\x1b\x00\x00\x00numpy_array_alignment_bytesq\nK\x10ub".to_vec();
        p.push(7);
        p.extend_from_slice(&[0xff; 7]);
        p.extend_from_slice(&[0x63; 48]); // 'c' bytes: GLOBAL if they were read as opcodes
        p.extend_from_slice(b".");
        assert!(kinds(&p).is_empty(), "{:?}", kinds(&p));
    }

    #[test]
    fn compressed_pickles_are_inflated_or_not_passed_unchecked() {
        use std::io::Write;
        let p0 = b"cposix\nsystem\np0\n(Vtrue\np1\ntp2\nRp3\n.";
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(3));
        z.write_all(p0).unwrap_or_default();
        let zlib = z.finish().unwrap_or_default();
        let k = scan("m.joblib", &zlib);
        assert_eq!(k.len(), 1);
        assert_eq!(k[0].callable, "posix.system");
        let mut ok = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(3));
        ok.write_all(b"\x80\x02ccollections\nOrderedDict\nq\x00)Rq\x01.")
            .unwrap_or_default();
        assert!(scan("m.pkl", &ok.finish().unwrap_or_default()).is_empty());
        // Garbage behind a gzip header, and a codec not read here: findings.
        let k = scan("m.joblib", b"\x1f\x8b\x08\x00rest");
        assert_eq!(k[0].kind, "unreadable");
        let k = scan("m.joblib", b"\xfd7zXZ\x00rest");
        assert_eq!(k[0].kind, "unreadable");
        assert!(scan("notes.txt", b"\x1f\x8b\x08").is_empty());
    }

    #[test]
    fn candidates_by_name() {
        assert!(is_candidate("models/x.PT"));
        assert!(is_candidate("clf.joblib"));
        assert!(!is_candidate("model.safetensors"));
    }
}
