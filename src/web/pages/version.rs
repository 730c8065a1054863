//! The Version page: everything recorded about one version, its curves and lineage graph,
//! and its code patch.

use super::*;

/// Charts of a version's curves (one per curve).
pub fn curve_charts(curves: &[(String, crate::datafile::Curves)], width: u32) -> String {
    let names: BTreeSet<&String> = curves.iter().flat_map(|(_, c)| c.keys()).collect();
    let mut s = String::from("<div class=\"grid2\">");
    for name in names {
        let series: Vec<Series> = curves
            .iter()
            .filter_map(|(who, c)| {
                c.get(name).map(|pts| Series {
                    name: if curves.len() > 1 {
                        who.clone()
                    } else {
                        name.clone()
                    },
                    points: pts.iter().filter_map(|(x, y)| y.map(|y| (*x, y))).collect(),
                    labels: vec![],
                })
            })
            .collect();
        s.push_str(&format!("<div><h3>{}</h3>", esc(name)));
        s.push_str(&svg::line_chart(
            &series,
            &[],
            &ChartOpts {
                width,
                height: 240,
                x_label: "step",
                y_label: name,
                link: None,
                integer_x: true,
            },
        ));
        s.push_str("</div>");
    }
    s.push_str("</div>");
    s
}

/// The lineage graph of a version: ancestors (three generations), versions it was derived
/// from, its datasets and its code.
pub fn lineage_graph(repo: &Repo, id: &CommitId, c: &crate::Commit) -> Result<String> {
    let mut nodes = vec![Node {
        label: format!("{} (this version)", c.model),
        detail: short(id),
        kind: "version",
        href: None,
        layer: 3,
    }];
    let mut edges: Vec<(usize, usize, String)> = Vec::new();
    let mut seen: HashMap<CommitId, usize> = HashMap::new();
    seen.insert(*id, 0);
    let mut frontier = vec![(*id, c.parents.clone(), 0usize)];
    for depth in 1..=3usize {
        let mut next = Vec::new();
        for (_child, parents, child_node) in frontier {
            for p in parents {
                let node = match seen.get(&p) {
                    Some(n) => *n,
                    None => {
                        let pc = repo.read_commit(&p).ok();
                        nodes.push(Node {
                            label: pc
                                .as_ref()
                                .map(|pc| {
                                    format!(
                                        "{}: {}",
                                        pc.model,
                                        pc.message.lines().next().unwrap_or("")
                                    )
                                })
                                .unwrap_or_else(|| "unreadable commit".into()),
                            detail: format!("parent · {}", short(&p)),
                            kind: "ancestor",
                            href: Some(format!("/version/{}", p.to_hex())),
                            layer: 3 - depth,
                        });
                        let n = nodes.len() - 1;
                        seen.insert(p, n);
                        if let Some(pc) = pc {
                            next.push((p, pc.parents, n));
                        }
                        n
                    }
                };
                edges.push((node, child_node, "parent".into()));
            }
        }
        frontier = next;
    }
    for d in &c.derived_from {
        let dc = repo.read_commit(d).ok();
        nodes.push(Node {
            label: dc
                .map(|dc| format!("{} (base)", dc.model))
                .unwrap_or_else(|| "base".into()),
            detail: format!("--from · {}", short(d)),
            kind: "ancestor",
            href: Some(format!("/version/{}", d.to_hex())),
            layer: 2,
        });
        edges.push((nodes.len() - 1, 0, "derived from".into()));
    }
    for d in &c.datasets {
        nodes.push(Node {
            label: format!("dataset {}", d.name),
            detail: format!("{} · {}", d.path, d.blake3.short()),
            kind: "dataset",
            href: None,
            layer: 2,
        });
        edges.push((nodes.len() - 1, 0, "trained on".into()));
    }
    if let Some(g) = c.git.as_ref().filter(|g| g.present) {
        nodes.push(Node {
            label: format!(
                "code {}{}",
                g.branch.as_deref().unwrap_or("(detached)"),
                if g.dirty { " + changes" } else { "" }
            ),
            detail: g
                .head
                .as_deref()
                .map(|h| h.chars().take(12).collect())
                .unwrap_or_else(|| "no commits".into()),
            kind: "code",
            href: None,
            layer: 2,
        });
        edges.push((nodes.len() - 1, 0, "built from".into()));
    }
    // Columns left of the deepest used layer are empty: shift everything left.
    let min_layer = nodes.iter().map(|n| n.layer).min().unwrap_or(0);
    for n in &mut nodes {
        n.layer -= min_layer;
    }
    let edges: Vec<(usize, usize, &str)> =
        edges.iter().map(|(a, b, l)| (*a, *b, l.as_str())).collect();
    Ok(svg::graph(&nodes, &edges))
}

/// The Version page.
pub fn version(repo: &Repo, rev: &str, q: &Query, access: Access) -> Result<String> {
    let id = repo.resolve(rev)?;
    // Every fact from the one view of a version (the CLI's `show` renders the same).
    let v = crate::ops::view::show(repo, &id)?;
    let c = &v.commit;
    let mut s = format!(
        r#"<h1>{} {} <span class="mono">{}</span></h1><p>"#,
        esc(c.model.as_str()),
        esc(&crate::versions::label(v.version)),
        esc(&short(&id))
    );
    for r in &v.refs {
        let name = r.split_once(':').map_or(r.as_str(), |(_, n)| n);
        s.push_str(&chip(name, name));
    }
    if v.archived {
        s.push_str(&chip("archived", "archived"));
    }
    if v.files_pruned {
        s.push_str(&chip("data pruned", "pruned"));
    }
    if !c.unsafe_pickles.is_empty() {
        s.push_str(&chip("unsafe pickle", "rollback"));
    }
    if let Some(r) = &v.data_on_remote {
        s.push_str(&chip(&format!("data on remote {r}"), "pruned"));
    }
    let _ = write!(
        s,
        r#"</p><p><b>{}</b></p><p class="muted">{} · {} · <a href="/model/{}">model {}</a> · <a href="/api/version/{}">JSON</a> · <a href="/compare?rev={}{}">compare with parent</a></p>"#,
        esc(&c.message),
        esc(&c.author),
        esc(c.created_at.as_ref()),
        enc(c.model.as_str()),
        esc(c.model.as_str()),
        enc(&id.to_hex()),
        enc(&id.to_hex()),
        c.parents
            .first()
            .map(|p| format!("&amp;rev={}", enc(&p.to_hex())))
            .unwrap_or_default()
    );
    if !c.unsafe_pickles.is_empty() {
        let rows: Vec<(Vec<String>, bool)> = c
            .unsafe_pickles
            .iter()
            .map(|f| {
                (
                    vec![
                        esc(&f.file),
                        esc(&f.member),
                        format!("<code>{}</code>", esc(&f.callable)),
                        esc(&f.kind),
                    ],
                    true,
                )
            })
            .collect();
        s.push_str("<h2 class=\"error\">Unsafe pickles</h2><p>Loading this version would run these callables, which no allowlist vouches for. It cannot become production without <code>mreg promote --allow-unsafe</code> (recorded in the history).</p>");
        s.push_str(&table(
            &["file", "pickle", "callable", "kind"],
            &rows,
            "pickles",
        ));
    }
    s.push_str(&super::decide::version_forms(repo, &c.model, &id, access)?);
    s.push_str(&images_section(repo, &id, c));
    if let Some(crate::recipe::Recipe::Run(r)) = &c.recipe {
        s.push_str(&run_section(repo, &id, r, q)?);
    }
    s.push_str("<div class=\"grid2\"><div>");
    let mut params = Vec::new();
    flatten("", &c.params, &mut params);
    s.push_str("<h2>Params</h2>");
    if params.is_empty() {
        s.push_str("<p class=\"muted\">none</p>");
    } else {
        s.push_str(&kv_table(&params, ["param", "value"]));
    }
    s.push_str("<h2>Metrics</h2>");
    let metrics: Vec<(String, String)> = c
        .metrics
        .iter()
        .map(|(k, v)| (k.clone(), num(*v)))
        .collect();
    if metrics.is_empty() {
        s.push_str("<p class=\"muted\">none</p>");
    } else {
        s.push_str(&kv_table(&metrics, ["metric", "value"]));
    }
    s.push_str("</div><div><h2>Evaluations</h2>");
    let evals = &v.evaluations;
    if evals.is_empty() {
        s.push_str("<p class=\"muted\">none (<code>mreg eval</code> attaches them)</p>");
    } else {
        let rows: Vec<(Vec<String>, bool)> = evals
            .iter()
            .map(|e| {
                (
                    vec![
                        esc(&e.dataset),
                        esc(&e
                            .metrics
                            .iter()
                            .map(|(k, v)| format!("{k}={}", num(*v)))
                            .collect::<Vec<_>>()
                            .join(" ")),
                        esc(e.time.as_ref()),
                        esc(&e.author),
                    ],
                    false,
                )
            })
            .collect();
        s.push_str(&table(
            &["dataset", "metrics", "when", "who"],
            &rows,
            "evals",
        ));
    }
    // Reproduction verdicts.
    let notes = crate::notes::notes(repo, &id)?;
    let repros: Vec<(Vec<String>, bool)> = notes
        .iter()
        .filter(|(_, n)| n["kind"].as_str() == Some(crate::reproduce::NOTE_KIND))
        .map(|(_, n)| {
            let verdict = n["verdict"].as_str().unwrap_or("?");
            (
                vec![
                    format!(
                        r#"<span class="verdict-{}">{}</span>"#,
                        esc(verdict),
                        esc(verdict)
                    ),
                    esc(n["recipe"].as_str().unwrap_or("")),
                    esc(n["time"].as_str().unwrap_or("")),
                    format!("{}", n["drift"].as_array().map_or(0, |d| d.len())),
                ],
                false,
            )
        })
        .collect();
    s.push_str("<h2>Reproductions</h2>");
    if repros.is_empty() {
        s.push_str("<p class=\"muted\">never reproduced (<code>mreg reproduce REV</code>)</p>");
    } else {
        s.push_str(&table(
            &["verdict", "recipe", "when", "environment differences"],
            &repros,
            "repro",
        ));
    }
    s.push_str("<h2>Signatures</h2>");
    if v.signatures.is_empty() {
        s.push_str("<p class=\"muted\">not signed (<code>mreg sign REV --key KEY.pem</code>)</p>");
    } else {
        let rows: Vec<(Vec<String>, bool)> = v
            .signatures
            .iter()
            .map(|g| {
                (
                    vec![
                        format!(
                            "<code>{}</code>",
                            esc(&g.key_hint[..12.min(g.key_hint.len())])
                        ),
                        match g.trusted {
                            Some(true) => chip("trusted key", "production"),
                            Some(false) => chip("untrusted key", "rollback"),
                            None => String::new(),
                        },
                        esc(&g.signer),
                        esc(g.time.as_ref()),
                        esc(&g.message),
                    ],
                    g.trusted == Some(false),
                )
            })
            .collect();
        s.push_str(&table(
            &["key", "", "signed by", "when", "why"],
            &rows,
            "signatures",
        ));
        s.push_str("<p class=\"muted\"><code>mreg verify REV --key PUB.pem</code> checks a signature against the bytes; <code>mreg signature REV -o FILE</code> writes it for <code>model_signing verify</code>.</p>");
    }
    s.push_str("</div></div>");
    // Files and datasets.
    let lost: BTreeSet<String> = v.files_missing_data.iter().cloned().collect();
    let frows: Vec<(Vec<String>, bool)> = c
        .files
        .iter()
        .map(|f| {
            (
                vec![
                    esc(&f.path),
                    format!("<span class=\"num\">{}</span>", esc(&size(f.size))),
                    format!("<span class=\"mono\">{}</span>", esc(&f.blake3.short())),
                    if lost.contains(&f.path) {
                        chip("data pruned", "pruned")
                    } else {
                        String::new()
                    },
                ],
                false,
            )
        })
        .collect();
    let _ = write!(
        s,
        "<h2>Files ({}, {})</h2>",
        c.files.len(),
        esc(&size(c.total_size()))
    );
    s.push_str(&table(&["path", "size", "blake3", ""], &frows, "files"));
    if !c.datasets.is_empty() {
        let drows: Vec<(Vec<String>, bool)> = c
            .datasets
            .iter()
            .map(|d| {
                (
                    vec![
                        esc(&d.name),
                        esc(&d.path),
                        esc(&size(d.size)),
                        format!("<span class=\"mono\">{}</span>", esc(&d.blake3.short())),
                        if d.stored.is_empty() { "" } else { "stored" }.to_string(),
                    ],
                    false,
                )
            })
            .collect();
        s.push_str("<h2>Datasets</h2>");
        s.push_str(&table(
            &["name", "path", "size", "blake3", ""],
            &drows,
            "datasets",
        ));
    }
    // Code lineage.
    s.push_str("<h2>Code</h2>");
    match &c.git {
        Some(g) if g.present => {
            let _ = write!(
                s,
                "<p>git <span class=\"mono\">{}</span> on {}{}{}</p>",
                esc(g.head.as_deref().unwrap_or("(no commits yet)")),
                esc(g.branch.as_deref().unwrap_or("(detached HEAD)")),
                g.describe
                    .as_deref()
                    .map(|d| format!(" ({})", esc(d)))
                    .unwrap_or_default(),
                g.remote_url
                    .as_deref()
                    .map(|u| format!(" · remote {}", esc(u)))
                    .unwrap_or_default()
            );
            if g.dirty {
                let _ = write!(
                    s,
                    "<p>Uncommitted changes: {}{}</p>",
                    esc(&g.modified.join(", ")),
                    if g.patch.is_some() {
                        format!(
                            r#" · <a href="/version/{}/patch">view the patch</a>"#,
                            enc(&id.to_hex())
                        )
                    } else {
                        String::new()
                    }
                );
            }
        }
        Some(g) => {
            let _ = write!(
                s,
                "<p class=\"muted\">not in a git work tree{}</p>",
                g.note
                    .as_deref()
                    .map(|n| format!(" ({})", esc(n)))
                    .unwrap_or_default()
            );
        }
        None => s.push_str("<p class=\"muted\">not recorded</p>"),
    }
    s.push_str("<h2>Lineage</h2>");
    s.push_str(&lineage_graph(repo, &id, c)?);
    if let Some(curves) = crate::ops::view::curve_points(repo, c)? {
        s.push_str("<h2>Training curves</h2>");
        s.push_str(&curve_charts(&[(short(&id), curves)], 460));
    }
    let e = &c.environment;
    let _ = write!(
        s,
        "<h2>Environment</h2><p class=\"muted\">mreg {} on {} {} ({} CPUs), host {}</p>",
        esc(&e.mreg_version),
        esc(&e.os),
        esc(&e.arch),
        e.cpus,
        esc(&e.hostname)
    );
    Ok(page(&format!("{} {}", c.model, short(&id)), &s))
}

/// The dirty patch of a version's code, as text.
pub fn patch(repo: &Repo, rev: &str) -> Result<String> {
    let id = repo.resolve(rev)?;
    let c = repo.read_commit(&id)?;
    let p = c.git.and_then(|g| g.patch).ok_or_else(|| {
        Error::PathNotInCommit(format!("{}: no patch of uncommitted code", short(&id)))
    })?;
    let bytes = repo.objects().get_kind(&p, crate::object::Kind::Blob)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Images a version may show (by extension), and the type each is served as.
const IMAGE_TYPES: [(&str, &str); 6] = [
    ("png", "image/png"),
    ("jpg", "image/jpeg"),
    ("jpeg", "image/jpeg"),
    ("gif", "image/gif"),
    ("webp", "image/webp"),
    ("svg", "image/svg+xml"),
];

/// Largest image served (the whole file is read into memory).
const MAX_IMAGE: u64 = 32 << 20;

/// The content type of an image file of a version, by its extension; None for anything
/// else (never served: the dashboard shows images, it is not a file server).
pub fn image_type(path: &str) -> Option<&'static str> {
    let ext = path.rsplit_once('.')?.1.to_ascii_lowercase();
    IMAGE_TYPES.iter().find(|(e, _)| *e == ext).map(|(_, t)| *t)
}

/// One image a version committed (a confusion matrix, a curve a script drew): its bytes,
/// verified, and its type. Only a file of that version, only an image, only when its data
/// is in this store; the server's Content-Security-Policy (no scripts at all) and `nosniff`
/// keep an SVG's scripts inert.
pub fn image(repo: &Repo, rev: &str, path: &str) -> Result<(&'static str, Vec<u8>)> {
    let id = repo.resolve(rev)?;
    let c = repo.read_commit(&id)?;
    let f = c
        .files
        .iter()
        .find(|f| f.path == path)
        .ok_or_else(|| Error::PathNotInCommit(path.to_string()))?;
    let ty = image_type(path).ok_or_else(|| Error::UnsupportedFile {
        path: path.into(),
        why: "only images (PNG, JPEG, GIF, WebP, SVG) are shown by the dashboard".into(),
    })?;
    if f.size > MAX_IMAGE {
        return Err(Error::UnsupportedFile {
            path: path.into(),
            why: format!("larger than {} MiB: check it out instead", MAX_IMAGE >> 20),
        });
    }
    if !repo.objects().exists(&f.manifest)
        || crate::reach::files_missing_data(repo, &c).contains(&f.path)
    {
        return Err(Error::Pruned { commit: id });
    }
    let bytes = crate::filestore::read_small(repo.objects(), &f.manifest)?;
    Ok((ty, bytes))
}

/// The version page's images: each shown, and a link to open it.
fn images_section(repo: &Repo, id: &CommitId, c: &crate::Commit) -> String {
    let missing = crate::reach::files_missing_data(repo, c);
    let imgs: Vec<&crate::commit::FileEntry> = c
        .files
        .iter()
        .filter(|f| image_type(&f.path).is_some() && f.size <= MAX_IMAGE)
        .filter(|f| !missing.contains(&f.path))
        .take(24)
        .collect();
    if imgs.is_empty() {
        return String::new();
    }
    let mut s = String::from("<h2>Images</h2><div class=\"images\">");
    for f in imgs {
        let url = format!(
            "/version/{}/file/{}",
            enc(&id.to_hex()),
            f.path.split('/').map(enc).collect::<Vec<_>>().join("/")
        );
        let _ = write!(
            s,
            r#"<figure><a href="{url}"><img src="{url}" alt="{}" loading="lazy"></a><figcaption class="mono">{}</figcaption></figure>"#,
            esc(&f.path),
            esc(&f.path)
        );
    }
    s.push_str("</div>");
    s
}

/// Lines of a run's log shown on the version page (its end), and most matches of a search.
const LOG_TAIL: usize = 40;
const LOG_MATCHES: usize = 200;

/// The whole output log of a version a run made (`/version/REV/log`, plain text). Logs are
/// bounded when recorded (the beginning and the end of a long one are kept), so this never
/// serves more than that bound.
pub fn run_log(repo: &Repo, rev: &str) -> Result<Vec<u8>> {
    let id = repo.resolve(rev)?;
    let c = repo.read_commit(&id)?;
    let blob = c
        .recipe
        .as_ref()
        .and_then(|r| r.log_blob())
        .ok_or_else(|| crate::error::RunError::NoLog {
            what: format!("version {}", id.short()),
        })?;
    repo.objects().get_kind(&blob, crate::object::Kind::Blob)
}

/// What the run that made this version did: the command, how it ended, what it used (CPU,
/// memory, GPU), its Python packages (`?pkg=` filters them), and the end of its log
/// (`?log=` searches it; the whole log is one link away).
fn run_section(
    repo: &Repo,
    id: &CommitId,
    r: &crate::recipe::RunRecipe,
    q: &Query,
) -> Result<String> {
    let mut facts: Vec<(String, String)> = vec![
        ("command".into(), r.command.join(" ")),
        (
            "directory".into(),
            if r.cwd.is_empty() {
                ".".into()
            } else {
                r.cwd.clone()
            },
        ),
        (
            "exit".into(),
            "0 (a run that failed makes no version)".into(),
        ),
        ("duration".into(), format!("{:.2} s", r.seconds)),
    ];
    if let Some(res) = &r.resources {
        facts.push(("CPU time".into(), format!("{:.2} s", res.cpu_seconds)));
        facts.push(("peak memory".into(), size(res.peak_rss_bytes)));
        if let Some(t) = res.peak_threads {
            facts.push(("peak threads".into(), t.to_string()));
        }
        if let Some(g) = &res.gpu {
            for d in &g.devices {
                facts.push((
                    format!("GPU {}", d.name),
                    format!(
                        "memory peak {} (mean {}) of {}; utilization peak {}% (mean {:.0}%); {} samples",
                        size(d.memory_peak),
                        size(d.memory_mean),
                        size(d.memory_total),
                        d.utilization_peak,
                        d.utilization_mean,
                        g.samples
                    ),
                ));
            }
            if let Some(why) = &g.unavailable {
                facts.push(("GPU".into(), format!("not sampled: {why}")));
            }
        }
    }
    let mut s = String::from("<h2>Run</h2>");
    s.push_str(&kv_table(&facts, ["what", "value"]));
    if let Some(py) = &r.python {
        let filter = q.get("pkg").unwrap_or_default();
        let f = filter.trim().to_ascii_lowercase();
        let rows: Vec<(String, String)> = py
            .packages
            .iter()
            .filter(|(n, _)| f.is_empty() || n.to_ascii_lowercase().contains(&f))
            .map(|(n, v)| (n.clone(), v.clone()))
            .collect();
        let _ = write!(
            s,
            r#"<h3>Python {} ({} packages)</h3><form class="inline" method="get"><label>package <input type="text" name="pkg" value="{}" placeholder="torch"></label><button type="submit">Search</button></form>"#,
            esc(&py.version),
            py.packages.len(),
            esc(&filter)
        );
        if rows.is_empty() {
            s.push_str("<p class=\"muted\">no package matches</p>");
        } else {
            // Folded unless searched: a hundred packages would push the log off the page.
            let _ = write!(
                s,
                "<details{}><summary>{} package(s)</summary>{}</details>",
                if f.is_empty() { "" } else { " open" },
                rows.len(),
                kv_table(&rows, ["package", "version"])
            );
        }
    }
    if let Some(l) = &r.log {
        let text = run_log(repo, &id.to_hex())?;
        let text = String::from_utf8_lossy(&text);
        let lines: Vec<&str> = text.lines().collect();
        let search = q.get("log").unwrap_or_default();
        let shown: Vec<(usize, &str)> = if search.is_empty() {
            let from = lines.len().saturating_sub(LOG_TAIL);
            lines.iter().copied().enumerate().skip(from).collect()
        } else {
            lines
                .iter()
                .copied()
                .enumerate()
                .filter(|(_, line)| line.contains(search.as_str()))
                .take(LOG_MATCHES)
                .collect()
        };
        let _ = write!(
            s,
            r#"<h3>Log</h3><p class="muted">{} line(s), {}{} · <a href="/version/{}/log">the whole log</a></p><form class="inline" method="get"><label>search <input type="text" name="log" value="{}"></label><button type="submit">Search</button></form>"#,
            lines.len(),
            size(l.bytes),
            if l.truncated {
                " (long: its beginning and end were kept)"
            } else {
                ""
            },
            enc(&id.to_hex()),
            esc(&search)
        );
        if !search.is_empty() {
            let _ = write!(
                s,
                r#"<p class="muted">{} matching line(s){}</p>"#,
                shown.len(),
                if shown.len() == LOG_MATCHES {
                    " (the first ones)"
                } else {
                    ""
                }
            );
        } else if lines.len() > LOG_TAIL {
            let _ = write!(s, r#"<p class="muted">the last {LOG_TAIL} lines</p>"#);
        }
        s.push_str("<pre class=\"log\">");
        for (n, line) in shown {
            let _ = writeln!(s, "{:>6}  {}", n + 1, esc(line));
        }
        s.push_str("</pre>");
    }
    Ok(s)
}
