//! Human-readable formatting shared by commands.

use mreg::Commit;

/// Bytes as a short human size (binary units).
pub fn size(n: u64) -> String {
    mreg::format::human_size(n)
}

/// A metric value, compactly.
pub fn num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{}", (v * 1e6).round() / 1e6)
    }
}

/// `acc=0.91 loss=0.2`
pub fn metrics_inline(c: &Commit) -> String {
    c.metrics
        .iter()
        .map(|(k, v)| format!("{k}={}", num(*v)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// First line of a message.
pub fn subject(msg: &str) -> &str {
    msg.lines().next().unwrap_or("")
}

/// A one-line summary of a note's content.
pub fn note_summary(n: &serde_json::Value) -> String {
    let Some(m) = n.as_object() else {
        return n.to_string();
    };
    if m.get("kind").and_then(|k| k.as_str()) == Some(mreg::reproduce::NOTE_KIND) {
        let s = |k: &str| m.get(k).and_then(|v| v.as_str()).unwrap_or("?").to_string();
        let drift = m
            .get("drift")
            .and_then(|d| d.as_array())
            .map_or(0, |d| d.len());
        let what_if = m
            .get("overrides")
            .and_then(|o| o.as_array())
            .filter(|o| !o.is_empty())
            .map(|o| format!(" what-if {}", serde_json::Value::Array(o.clone())))
            .unwrap_or_default();
        return format!(
            "{} ({} recipe{what_if}; {drift} environment difference(s)) at {}",
            s("verdict"),
            s("recipe"),
            s("time")
        );
    }
    m.iter()
        .filter(|(k, _)| k.as_str() != "kind" && k.as_str() != "commit")
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => format!("{k}={s}"),
            other => format!("{k}={other}"),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// One line per alias a policy moved ("policy moved candidate -> 3fa9c1d2 (why)").
pub fn policy_moves(moves: &[mreg::policy::PolicyMove]) -> String {
    moves
        .iter()
        .map(|m| {
            format!(
                "policy moved {} {} -> {} ({})\n",
                m.alias,
                m.from.map_or_else(|| "(none)".to_string(), |f| f.short()),
                m.to.short(),
                m.why
            )
        })
        .collect()
}

/// Rows as an aligned table (columns padded by character count; the last is not padded).
pub fn table(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut s = String::new();
    for r in rows {
        let line: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
            .collect();
        s.push_str(line.join("  ").trim_end());
        s.push('\n');
    }
    s
}

/// Warn (on stderr, also with -q and --json) about pickles in a new version that would run
/// code no allowlist vouches for: the version is kept, but cannot become production
/// without --allow-unsafe.
pub fn warn_unsafe_pickles(c: &mreg::Commit) {
    if c.unsafe_pickles.is_empty() {
        return;
    }
    eprintln!(
        "warning: {} pickle import(s) no allowlist vouches for; loading this version would run them:",
        c.unsafe_pickles.len()
    );
    for f in &c.unsafe_pickles {
        eprintln!("  {}", f.describe());
    }
    eprintln!("hint: it cannot become production without `--allow-unsafe`; save weights as safetensors instead");
}
