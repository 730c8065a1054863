//! `mreg scan`: what files' pickles would run when loaded, without committing them.

use std::path::PathBuf;

use mreg::trust::pickle;

use super::{Ctx, Output};

/// Check files for pickles that would run code when loaded (never loading them).
///
/// Every pickle mreg can see is read opcode by opcode: PyTorch checkpoints (`.pt`,
/// `.pth`, `.ckpt` zips, nested archives, the legacy format), bare pickles, joblib files,
/// NumPy object arrays. Each callable a pickle would import is compared with an allowlist
/// of what PyTorch, NumPy and scikit-learn checkpoints need; anything else is reported:
/// `dangerous` (commands, code evaluation, imports, files, sockets), `unknown` (nobody
/// vouched for it), `computed` (a name built at load time) or `unreadable` (what cannot be
/// checked is not passed). `mreg commit` runs the same scan and records what it finds;
/// such a version cannot become production without `promote --allow-unsafe`.
///
/// Exit status 1 when something is found.
///
/// Examples:
///   mreg scan downloaded/pytorch_model.bin
///   mreg scan checkpoints/ --json
#[derive(clap::Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// Files or directories (every file under them is scanned, whatever its name).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    #[arg(long)]
    json: bool,
}

fn walk(dir: &std::path::Path, out: &mut Vec<PathBuf>) -> mreg::Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| mreg::Error::io("listing", dir, e))?;
    let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            walk(&p, out)?;
        } else if p.is_file() {
            out.push(p);
        }
    }
    Ok(())
}

pub fn run(ctx: &Ctx, a: Args) -> mreg::Result<Output> {
    let mut files = Vec::new();
    for p in &a.paths {
        let full = ctx.cwd.join(p);
        if full.is_dir() {
            walk(&full, &mut files)?;
        } else {
            files.push(full);
        }
    }
    let mut findings = Vec::new();
    for f in &files {
        let shown = f.strip_prefix(&ctx.cwd).unwrap_or(f).display().to_string();
        findings.extend(pickle::scan_file(f, &shown)?);
    }
    let code = u8::from(!findings.is_empty());
    if a.json {
        let mut out = Output::ok(super::json(&serde_json::json!({
            "files": files.len(), "findings": findings,
        })));
        out.code = code;
        return Ok(out);
    }
    let mut s = String::new();
    for f in &findings {
        s.push_str(&format!("{}\n", f.describe()));
    }
    ctx.note(format_args!(
        "scanned {} file(s): {}",
        files.len(),
        if findings.is_empty() {
            "no pickle would import anything outside the allowlist".to_string()
        } else {
            format!("{} finding(s)", findings.len())
        }
    ));
    let mut out = Output::ok(s);
    out.code = code;
    Ok(out)
}
