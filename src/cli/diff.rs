//! `mreg diff`: what changed between two versions, down to the tensor.

use mreg::diff::{FileDiff, ValueChange};

use super::{fmt, Ctx, Output};

/// Show what changed between two versions: params, metrics, files, and for safetensors
/// files each tensor (added, removed, renamed, reshaped, changed by how much, identical).
///
/// Files are read from the store a chunk at a time: multi-GB models never load whole.
///
/// Examples:
///   mreg diff mnist~1 mnist
///   mreg diff mnist@rollback mnist@production --stat
#[derive(clap::Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct Args {
    rev_a: String,
    rev_b: String,
    /// One summary line per file.
    #[arg(long)]
    stat: bool,
    #[arg(long)]
    json: bool,
}

fn val(v: &Option<serde_json::Value>) -> String {
    match v {
        None => "-".into(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Number(n)) => {
            n.as_f64().map(fmt::num).unwrap_or_else(|| n.to_string())
        }
        Some(other) => other.to_string(),
    }
}

fn change_line(c: &ValueChange) -> String {
    let delta = c
        .delta
        .map(|d| format!(" ({}{})", if d >= 0.0 { "+" } else { "" }, fmt::num(d)))
        .unwrap_or_default();
    format!("  {}: {} -> {}{delta}\n", c.key, val(&c.old), val(&c.new))
}

fn sci(x: Option<f64>) -> String {
    x.map(|v| format!("{v:.3e}"))
        .unwrap_or_else(|| "n/a".into())
}

fn file_summary(f: &FileDiff) -> String {
    let mark = match f.status {
        "added" => "A",
        "removed" => "D",
        "changed" => "M",
        _ => " ",
    };
    let sizes = match (f.old_size, f.new_size) {
        (Some(a), Some(b)) if a != b => format!("{} -> {}", fmt::size(a), fmt::size(b)),
        (Some(a), _) | (None, Some(a)) => fmt::size(a),
        _ => String::new(),
    };
    let detail = if let Some(t) = &f.tensors {
        let tensors_same = t.changed.is_empty()
            && t.reshaped.is_empty()
            && t.added.is_empty()
            && t.removed.is_empty()
            && t.renamed.is_empty();
        let meta = if t.metadata_changed.is_empty() {
            String::new()
        } else {
            format!("; __metadata__ changed: {}", t.metadata_changed.join(", "))
        };
        if tensors_same && !t.metadata_changed.is_empty() {
            format!(
                "safetensors: only __metadata__ changed ({}); all {} tensors identical",
                t.metadata_changed.join(", "),
                t.identical.len()
            )
        } else if tensors_same {
            format!(
                "safetensors: all {} tensors identical; the header layout changed",
                t.identical.len()
            )
        } else {
            format!(
                "safetensors: {} changed, {} reshaped, {} added, {} removed, {} renamed, {} identical{meta}",
                t.changed.len(),
                t.reshaped.len(),
                t.added.len(),
                t.removed.len(),
                t.renamed.len(),
                t.identical.len()
            )
        }
    } else if let Some(b) = &f.bytes {
        format!(
            "bytes: {} of {} chunks new ({})",
            b.changed_chunks,
            b.new_chunks,
            fmt::size(b.changed_chunk_bytes)
        )
    } else {
        String::new()
    };
    let sep = if detail.is_empty() { "" } else { "; " };
    format!("{mark} {}  ({sizes}{sep}{detail})\n", f.path)
}

pub fn run(ctx: &Ctx, a: Args) -> mreg::Result<Output> {
    let repo = ctx.repo()?;
    let (ia, ib) = (repo.resolve(&a.rev_a)?, repo.resolve(&a.rev_b)?);
    let vd = mreg::ops::view::diff(&repo, ia, ib)?;
    if a.json {
        return Ok(Output::ok(super::json(&vd)));
    }
    let (d, pruned, remote) = (&vd.diff, &vd.pruned, &vd.data_on_remote);
    let mut s = String::new();
    for id in pruned {
        ctx.note(format_args!(
            "note: the data of {} was pruned: files are compared by hash only",
            id.short()
        ));
    }
    for (id, r) in remote {
        ctx.note(format_args!(
            "note: the data of {} is on remote {r}: files are compared by hash only (`mreg pull MODEL@ALIAS` or `MODEL~N` stores a version's data here)",
            id.short()
        ));
    }
    if a.stat {
        for f in d.files.iter().filter(|f| f.status != "unchanged") {
            s.push_str(&file_summary(f));
        }
        return Ok(Output::ok(s));
    }
    s.push_str(&format!("diff {} {}\n", ia.short(), ib.short()));
    if !d.params.is_empty() {
        s.push_str("params:\n");
        d.params.iter().for_each(|c| s.push_str(&change_line(c)));
    }
    if !d.metrics.is_empty() {
        s.push_str("metrics:\n");
        d.metrics.iter().for_each(|c| s.push_str(&change_line(c)));
    }
    s.push_str("files:\n");
    for f in &d.files {
        if f.status == "unchanged" {
            continue;
        }
        s.push_str("  ");
        s.push_str(&file_summary(f));
        if let Some(t) = &f.tensors {
            for c in &t.changed {
                s.push_str(&format!(
                    "      changed   {} {} {:?}  max|d| {}  rel L2 {}\n",
                    c.name,
                    c.dtype,
                    c.shape,
                    sci(c.max_abs_diff),
                    sci(c.rel_l2)
                ));
            }
            for r in &t.reshaped {
                s.push_str(&format!(
                    "      reshaped  {} {} {:?} -> {} {:?}\n",
                    r.name, r.old.dtype, r.old.shape, r.new.dtype, r.new.shape
                ));
            }
            for x in &t.added {
                s.push_str(&format!(
                    "      added     {} {} {:?}\n",
                    x.name, x.dtype, x.shape
                ));
            }
            for x in &t.removed {
                s.push_str(&format!(
                    "      removed   {} {} {:?}\n",
                    x.name, x.dtype, x.shape
                ));
            }
            for (from, to) in &t.renamed {
                s.push_str(&format!("      renamed   {from} -> {to}\n"));
            }
        }
    }
    Ok(Output::ok(s))
}
