//! The Compare page: versions side by side, and the diff of two.

use super::*;

/// The Compare page.
pub fn compare(repo: &Repo, q: &Query) -> Result<String> {
    let revs: Vec<String> = q
        .all("rev")
        .into_iter()
        .filter(|r| !r.trim().is_empty())
        .collect();
    let only_diff = q.get("diff").is_some_and(|d| d == "1");
    let mut s = String::from("<h1>Compare versions</h1><form class=\"inline\" method=\"get\">");
    for i in 0..revs.len().max(2) + 1 {
        let _ = write!(
            s,
            r#"<input type="text" name="rev" value="{}" class="rev" placeholder="REV (clf, clf@production, id...)">"#,
            esc(revs.get(i).map(String::as_str).unwrap_or(""))
        );
    }
    let _ = write!(
        s,
        r#"<label><input type="checkbox" name="diff" value="1"{}> differences only</label><button type="submit">Compare</button></form>"#,
        if only_diff { " checked" } else { "" }
    );
    if revs.len() < 2 {
        s.push_str("<p class=\"muted\">Name two or more versions.</p>");
        return Ok(page("Compare", &s));
    }
    let ids = repo.resolve_all(&revs)?;
    let cmp = crate::ops::query::compare(repo, &ids)?;
    let header: Vec<String> = std::iter::once("key".to_string())
        .chain(ids.iter().map(short))
        .collect();
    let rows: Vec<(Vec<String>, bool)> = cmp
        .rows
        .iter()
        .map(|l| {
            let differs = l.values.windows(2).any(|w| w[0] != w[1]);
            (
                std::iter::once(esc(&l.key))
                    .chain(l.values.iter().map(|v| esc(v)))
                    .collect(),
                differs,
            )
        })
        .filter(|(_, d)| !only_diff || *d)
        .collect();
    let hdr: Vec<&str> = header.iter().map(String::as_str).collect();
    s.push_str("<p>");
    for id in &ids {
        s.push_str(&version_link(&id.to_hex(), &short(id)));
        s.push(' ');
    }
    s.push_str("</p>");
    s.push_str(&table(&hdr, &rows, "compare"));
    s.push_str("<p class=\"muted\">Highlighted rows differ.</p>");
    let mut curves = Vec::new();
    for id in &ids {
        let c = repo.read_commit(id)?;
        if let Some(cv) = crate::ops::view::curve_points(repo, &c)? {
            curves.push((short(id), cv));
        }
    }
    if !curves.is_empty() {
        s.push_str("<h2>Training curves, overlaid</h2>");
        s.push_str(&curve_charts(&curves, 560));
    }
    if ids.len() == 2 {
        let d = crate::ops::view::diff(repo, ids[0], ids[1])?;
        s.push_str(&diff_section(&d));
    }
    Ok(page("Compare", &s))
}

/// The tensor-level diff of two versions, as HTML.
pub fn diff_section(d: &crate::ops::view::VersionDiff) -> String {
    let mut s = format!(
        "<h2>Diff {} → {}</h2>",
        esc(&d.diff.old.short()),
        esc(&d.diff.new.short())
    );
    if !d.pruned.is_empty() || !d.data_on_remote.is_empty() {
        s.push_str("<p class=\"muted\">Some data is not here (pruned or on a remote): files are compared by hash only.</p>");
    }
    let mut rows = Vec::new();
    for f in &d.diff.files {
        let detail = match &f.tensors {
            Some(t) => {
                let mut parts = Vec::new();
                if !t.changed.is_empty() {
                    parts.push(format!("{} tensor(s) changed", t.changed.len()));
                }
                if !t.added.is_empty() {
                    parts.push(format!("{} added", t.added.len()));
                }
                if !t.removed.is_empty() {
                    parts.push(format!("{} removed", t.removed.len()));
                }
                if !t.reshaped.is_empty() {
                    parts.push(format!("{} reshaped", t.reshaped.len()));
                }
                parts.push(format!("{} identical", t.identical.len()));
                parts.join(", ")
            }
            None => f
                .bytes
                .as_ref()
                .map(|b| {
                    format!(
                        "{} of {} chunk(s) new",
                        b.new_chunks,
                        b.old_chunks.max(b.new_chunks)
                    )
                })
                .unwrap_or_default(),
        };
        rows.push((
            vec![
                esc(&f.path),
                esc(f.status),
                esc(&f.old_size.map(size).unwrap_or_else(|| "-".into())),
                esc(&f.new_size.map(size).unwrap_or_else(|| "-".into())),
                esc(&detail),
            ],
            f.status != "unchanged",
        ));
    }
    s.push_str(&table(
        &["file", "status", "old size", "new size", "inside"],
        &rows,
        "filediff",
    ));
    let changed: Vec<(Vec<String>, bool)> = d
        .diff
        .files
        .iter()
        .filter_map(|f| f.tensors.as_ref().map(|t| (f, t)))
        .flat_map(|(f, t)| t.changed.iter().map(move |c| (f, c)))
        .take(200)
        .map(|(f, c)| {
            (
                vec![
                    esc(&f.path),
                    esc(&c.name),
                    esc(&c.dtype),
                    esc(&format!("{:?}", c.shape)),
                    c.max_abs_diff.map(num).unwrap_or_else(|| "-".into()),
                    c.rel_l2.map(num).unwrap_or_else(|| "-".into()),
                    esc(&size(c.changed_bytes)),
                ],
                false,
            )
        })
        .collect();
    if !changed.is_empty() {
        s.push_str("<h3>Changed tensors</h3>");
        s.push_str(&table(
            &[
                "file",
                "tensor",
                "dtype",
                "shape",
                "max |Δ|",
                "relative L2",
                "bytes changed",
            ],
            &changed,
            "tensors",
        ));
    }
    let vals: Vec<(Vec<String>, bool)> = d
        .diff
        .params
        .iter()
        .map(|c| ("params.", c))
        .chain(d.diff.metrics.iter().map(|c| ("metrics.", c)))
        .map(|(p, c)| {
            let show = |v: &Option<serde_json::Value>| match v {
                Some(serde_json::Value::String(s)) => esc(s),
                Some(v) => esc(&v.to_string()),
                None => "-".into(),
            };
            (
                vec![
                    esc(&format!("{p}{}", c.key)),
                    show(&c.old),
                    show(&c.new),
                    c.delta.map(num).unwrap_or_default(),
                ],
                false,
            )
        })
        .collect();
    if !vals.is_empty() {
        s.push_str("<h3>Params and metrics that changed</h3>");
        s.push_str(&table(&["key", "old", "new", "Δ"], &vals, "valdiff"));
    }
    s
}
