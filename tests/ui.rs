//! `mreg ui` over real HTTP (the real binary on 127.0.0.1), and `mreg report`: every page
//! and JSON endpoint, status codes, escaping, unknown revisions, path traversal, methods.
//! The browser test (tests/browser/) checks the same pages in a real Chromium.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};

use crate::common::*;

const HOSTILE: &str = "<script>alert(1)</script> & \"x\" 'y'";

/// The dashboard, killed when dropped.
pub(crate) struct Ui {
    child: Child,
    pub(crate) addr: String,
    /// The whole first line `mreg ui` printed (its URL, with the token under --write).
    pub(crate) line: String,
}

impl Drop for Ui {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start `mreg ui ARGS...` and read the first line it prints on stderr (killed on drop).
pub(crate) fn spawn(r: &TestRepo, args: &[&str]) -> (Child, String) {
    let mut child = r
        .command(&[&["ui"], args].concat())
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stderr.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    (child, line)
}

fn start(r: &TestRepo) -> Ui {
    start_with(r, &[])
}

/// Start `mreg ui --port 0 ARGS...`.
pub(crate) fn start_with(r: &TestRepo, args: &[&str]) -> Ui {
    let (child, line) = spawn(r, &[&["--port", "0"], args].concat());
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|s| s.split('/').next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string();
    assert!(addr.starts_with("127.0.0.1:"), "{addr}");
    Ui { child, addr, line }
}

/// One raw HTTP request: (status, headers, body).
fn request(ui: &Ui, method: &str, target: &str) -> (u16, String, String) {
    send(ui, method, target, &[], b"")
}

/// One raw HTTP request with more headers and a body: (status, head, body).
pub(crate) fn send(
    ui: &Ui,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String, String) {
    let mut s = TcpStream::connect(&ui.addr).unwrap();
    let extra: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    write!(
        s,
        "{method} {target} HTTP/1.1\r\nHost: {}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n",
        ui.addr,
        body.len()
    )
    .unwrap();
    s.write_all(body).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8(raw).expect("responses are UTF-8");
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, head.to_string(), body.to_string())
}

pub(crate) fn get(ui: &Ui, target: &str) -> (u16, String) {
    let (s, _, b) = request(ui, "GET", target);
    (s, b)
}

/// A store with two models, alias moves, an evaluation, a tag and a hostile message.
fn store() -> (TestRepo, Vec<String>) {
    let r = TestRepo::new();
    let mut ids = versions(&r, 4);
    r.write("w.bin", &noise(200_000, 77));
    ids.push(r.commit(&[
        "w.bin",
        "--model",
        "m",
        "-m",
        HOSTILE,
        "--param",
        "note=<b>bold</b>",
    ]));
    r.mreg(&["promote", "m", &ids[1], "-m", "first"]).ok();
    r.mreg(&["promote", "m", &ids[3], "-m", "<i>better</i>"])
        .ok();
    r.mreg(&[
        "eval",
        "add",
        &ids[3],
        "--dataset",
        "holdout",
        "--metric",
        "f1=0.8",
    ])
    .ok();
    r.mreg(&["tag", "m-v1", &ids[3]]).ok();
    r.write("other.bin", b"other model");
    r.commit(&["other.bin", "--model", "other", "--metric", "loss=0.5"]);
    (r, ids)
}

#[test]
fn every_page_and_endpoint_answers_for_a_real_store() {
    let (r, ids) = store();
    let ui = start(&r);
    for (target, needle) in [
        ("/", "<table class=\"models\""),
        ("/model/m", "<svg class=\"chart\""),
        (
            "/model/m?metric=metrics.acc&col=id&col=params.note&page=1",
            "params.note",
        ),
        (
            "/model/m?where=metrics.acc+%3E%3D+0.52",
            "2 of 5 version(s)",
        ),
        ("/version/m@production", "<svg class=\"graph\""),
        (&format!("/version/{}", ids[0]), "Files (1,"),
        ("/version/m-v1", "holdout"),
        ("/compare", "Name two or more versions"),
        ("/compare?rev=m&rev=m~1&rev=m~2", "<table class=\"compare\""),
        ("/compare?rev=m~1&rev=m~2&diff=1", "filediff"),
        ("/history/m", "<table class=\"history\""),
        ("/history/m?alias=production", "first"),
        ("/history/m?alias=production&at=2026-01-01", "At that time"),
        ("/static/style.css", "font"),
    ] {
        let (status, body) = get(&ui, target);
        assert_eq!(status, 200, "{target}: {body}");
        assert!(body.contains(needle), "{target}: no {needle:?} in\n{body}");
    }
    let (_, head, _) = request(&ui, "GET", "/");
    assert!(
        head.contains("Content-Security-Policy: default-src 'none'"),
        "{head}"
    );
    assert!(head.contains("Server-Timing: render;dur="), "{head}");
    // JSON endpoints: the same views as the CLI's --json.
    let (s, body) = get(&ui, "/api/version/m@production");
    assert_eq!(s, 200);
    let api: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(api, r.mreg(&["show", "m@production", "--json"]).ok().json());
    for t in ["/api/models", "/api/model/m", "/api/history/m"] {
        let (s, body) = get(&ui, t);
        assert_eq!(s, 200, "{t}");
        serde_json::from_str::<serde_json::Value>(&body).unwrap();
    }
    // HEAD: headers only.
    let (s, head, body) = request(&ui, "HEAD", "/model/m");
    assert_eq!(s, 200);
    assert!(body.is_empty() && head.contains("Content-Length:"));
}

#[test]
fn user_strings_are_escaped_everywhere() {
    let (r, ids) = store();
    let ui = start(&r);
    for target in [
        "/".to_string(),
        "/model/m?col=id&col=message&col=params.note".to_string(),
        format!("/version/{}", ids[4]),
        "/history/m".to_string(),
        format!("/compare?rev={}&rev={}", ids[4], ids[3]),
    ] {
        let (status, body) = get(&ui, &target);
        assert_eq!(status, 200, "{target}");
        assert!(
            !body.contains("<script"),
            "{target}: raw script tag:\n{body}"
        );
        assert!(
            !body.contains("<b>bold") && !body.contains("<i>better"),
            "{target}"
        );
    }
    let (_, body) = get(&ui, &format!("/version/{}", ids[4]));
    assert!(body.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;x&quot; &#39;y&#39;"));
    // A query value is reflected escaped (the filter box).
    let (_, body) = get(&ui, "/model/m?where=%22%3E%3Cscript%3E");
    assert!(!body.contains("\"><script>"));
}

#[test]
fn unknown_revisions_traversal_and_methods_get_clear_4xx() {
    let (r, _) = store();
    let ui = start(&r);
    for (target, status) in [
        ("/version/nosuch", 404),
        ("/version/m@nosuch", 404),
        ("/version/m~99", 404),
        ("/model/nosuch", 404),
        ("/history/nosuch", 404),
        ("/api/version/ffff", 404),
        ("/compare?rev=m&rev=nosuch", 404),
        ("/nothing/here", 404),
        ("/../../etc/passwd", 400),
        ("/version/..", 400),
        ("/version/%2e%2e", 400),
        ("/static/..%2fstyle.css", 400),
        ("/version/..%2F..%2Fconfig.yaml", 400),
        ("/model/bad%ZZ", 400),
        ("/model/m?where=metrics.acc+%3E%3E+1", 400),
        ("/model/bad%20name", 400),
        ("/history/m?at=yesterday-ish", 400),
    ] {
        let (s, body) = get(&ui, target);
        assert_eq!(s, status, "{target}: {body}");
        assert!(body.contains("hint"), "{target}: {body}");
        assert!(!body.contains("root:"), "{target} leaked a file");
    }
    for method in ["POST", "PUT", "DELETE"] {
        let (s, _, _) = request(&ui, method, "/");
        assert_eq!(s, 405, "{method}");
    }
    // Garbage on the socket gets a 400, and the server keeps serving.
    let mut s = TcpStream::connect(&ui.addr).unwrap();
    s.write_all(b"\x00\x01garbage\r\n\r\n").unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    assert!(out.starts_with("HTTP/1.1 400"), "{out}");
    assert_eq!(get(&ui, "/").0, 200);
}

#[test]
fn the_dashboard_changes_nothing_in_the_store() {
    let (r, _) = store();
    // The query index is a cache the dashboard may build; build it first, as list does.
    r.mreg(&["list"]).ok();
    let before = r.snapshot();
    let ui = start(&r);
    for t in [
        "/",
        "/model/m",
        "/version/m",
        "/history/m",
        "/compare?rev=m&rev=m~1",
    ] {
        assert_eq!(get(&ui, t).0, 200, "{t}");
    }
    drop(ui);
    assert_eq!(r.snapshot(), before);
}

#[test]
fn ui_refuses_a_bad_host_and_warns_off_loopback() {
    let (r, _) = store();
    r.mreg(&["ui", "--host", "not-an-ip"]).fails();
    // Another address is allowed only with a warning.
    let (mut child, line) = spawn(&r, &["--host", "0.0.0.0", "--port", "0"]);
    let _ = child.kill();
    let _ = child.wait();
    assert!(line.starts_with("warning: serving on 0.0.0.0"), "{line}");
}

#[test]
fn report_in_markdown_and_self_contained_html() {
    let (r, ids) = store();
    let md = r.mreg(&["report", "m@production", "m"]).ok().stdout;
    for needle in [
        "# mreg report:",
        "## Summary",
        "## Params",
        "## Metrics and evaluations",
        "| **metrics.acc** |",
        "## Evaluations",
        "holdout",
        "## Lineage",
        "## Diff",
    ] {
        assert!(md.contains(needle), "no {needle:?} in\n{md}");
    }
    // The hostile message cannot break the Markdown table or inject HTML.
    assert!(!md.contains("<script>"), "{md}");
    let out = r.path().join("r.html");
    r.mreg(&[
        "report", &ids[0], &ids[3], "--format", "html", "-o", "r.html",
    ])
    .ok();
    let html = std::fs::read_to_string(out).unwrap();
    assert!(html.starts_with("<!doctype html>") && html.contains("<style>"));
    // Issue 27: the HTML report carries what the Markdown one does — which version is
    // production (and rollback, tags), and the evaluations with who added each and when.
    for needle in [
        "<th>refs</th>",
        "alias:production",
        "tag:m-v1",
        "<h2>Evaluations</h2>",
        "holdout",
        "f1=0.8",
        "Test &lt;test@example.com&gt;",
    ] {
        assert!(html.contains(needle), "no {needle:?} in the HTML report");
    }
    assert!(html.contains("<svg class=\"graph\""));
    // Nothing is fetched: no src or href to any host (the only URL is SVG's xmlns).
    for attr in [
        "src=\"http",
        "href=\"http",
        "src=\"//",
        "href=\"//",
        "url(http",
    ] {
        assert!(
            !html.contains(attr),
            "remote resource {attr:?} in the report"
        );
    }
    assert!(
        !html.contains("<link"),
        "self-contained: no linked stylesheet"
    );
    // Unknown revisions fail cleanly, writing nothing.
    r.mreg(&["report", "nosuch", "--format", "html", "-o", "bad.html"])
        .fails();
    assert!(!r.path().join("bad.html").exists());
}

#[test]
fn report_shows_run_curves() {
    let r = TestRepo::new();
    r.write(
        "train.sh",
        b"printf '{\"step\": 0, \"loss\": 1.0}\\n{\"step\": 1, \"loss\": 0.5}\\n{\"step\": 2, \"loss\": 0.25}\\n' > h.jsonl\necho weights > w.bin\n",
    );
    r.mreg(&[
        "run",
        "-q",
        "--model",
        "c",
        "--outputs",
        "w.bin",
        "--metrics-history",
        "h.jsonl",
        "--",
        "sh",
        "train.sh",
    ])
    .ok();
    let md = r.mreg(&["report", "c"]).ok().stdout;
    assert!(
        md.contains("## Curves") && md.contains("| loss | 3 | 1 | 0.25 (min) | 0.25 |"),
        "{md}"
    );
    let html = r.mreg(&["report", "c", "--format", "html"]).ok().stdout;
    assert!(html.contains("<svg class=\"chart\"") && html.contains("<polyline"));
}

/// One raw request with the given head bytes; the status of the answer (0 if none).
fn raw_status(ui: &Ui, head: &[u8]) -> u16 {
    let mut s = TcpStream::connect(&ui.addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    // The server may answer and close before everything is sent: ignore write errors.
    let _ = s.write_all(head);
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    String::from_utf8_lossy(&raw)
        .split_whitespace()
        .nth(1)
        .and_then(|x| x.parse().ok())
        .unwrap_or(0)
}

/// Issue 23, defect 6: a page on another site that rebinds its name to 127.0.0.1 sends
/// its own name as Host; the dashboard refuses it (no page, no uncommitted patch).
#[test]
fn issue23_dns_rebinding_hosts_are_refused() {
    let (r, _) = store();
    let ui = start(&r);
    let port = ui.addr.rsplit(':').next().unwrap().to_string();
    for (host, want) in [
        (format!("evil.example:{port}"), 421),
        (format!("127.0.0.1.nip.io:{port}"), 421),
        (format!("localhost:{port}"), 200),
        (ui.addr.clone(), 200),
    ] {
        let head = format!("GET /api/models HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        assert_eq!(raw_status(&ui, head.as_bytes()), want, "Host: {host}");
    }
    // No Host header at all: refused too.
    assert_eq!(raw_status(&ui, b"GET / HTTP/1.0\r\n\r\n"), 421);
}

/// Issue 23, defect 7: a request line without a newline was buffered without limit. Now a
/// head over 16 KiB gets 431 and the server's memory does not grow with what is sent.
#[test]
fn issue23_an_endless_request_line_is_cut_off_with_bounded_memory() {
    let (r, _) = store();
    let ui = start(&r);
    let rss = || -> u64 {
        let s = std::fs::read_to_string(format!("/proc/{}/status", ui.child.id())).unwrap();
        s.lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|k| k.parse().ok())
            .unwrap()
    };
    let before = rss();
    let junk = vec![b'a'; 4 << 20];
    let statuses: Vec<u16> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..8)
            .map(|_| {
                sc.spawn(|| {
                    let mut head = b"GET /".to_vec();
                    head.extend_from_slice(&junk);
                    raw_status(&ui, &head)
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(statuses.iter().all(|s| *s == 431), "{statuses:?}");
    let after = rss();
    assert!(
        after < before + 16 * 1024,
        "RSS grew from {before} to {after} KiB for 32 MiB sent"
    );
    // Still serving.
    assert_eq!(get(&ui, "/").0, 200);
}

/// Issue 27: the models overview shows a usual measure by default (not whichever metric
/// most versions have: a constant such as `architecture.layers`), and the user chooses the
/// metric shown for every model.
#[test]
fn the_models_overview_shows_a_usual_metric_and_lets_the_user_choose_one() {
    let r = TestRepo::new();
    for (i, acc) in [0.7, 0.9, 0.8].iter().enumerate() {
        r.write("w.bin", &noise(10_000, 500 + i as u64));
        r.commit(&[
            "w.bin",
            "--model",
            "m",
            "--metric",
            "architecture.layers=96",
            "--metric",
            &format!("acc={acc}"),
            "--metric",
            &format!("loss={}", 1.0 - acc),
        ]);
    }
    let ui = start(&r);
    let (s, body) = get(&ui, "/");
    assert_eq!(s, 200);
    assert!(
        body.contains("0.9 <span class=\"muted\">metrics.acc</span>"),
        "{body}"
    );
    // Chosen: the loss, lowest first (a loss-like name).
    let (s, body) = get(&ui, "/?metric=metrics.loss");
    assert_eq!(s, 200);
    assert!(
        body.contains("<span class=\"muted\">metrics.loss</span>"),
        "{body}"
    );
    assert!(
        body.contains(r#"<option value="metrics.loss" selected>"#),
        "{body}"
    );
    let best_loss = body
        .split("<span class=\"muted\">metrics.loss</span>")
        .next()
        .and_then(|b| b.rsplit('>').next())
        .unwrap()
        .trim()
        .to_string();
    assert_eq!(best_loss.parse::<f64>().unwrap(), 0.1f64.max(1.0 - 0.9));
    // A key that cannot be (an evaluation without its metric) is a clear 400.
    let (s, _) = get(&ui, "/?metric=eval.holdout");
    assert_eq!(s, 400);
}

/// Issue 27: images a version committed are shown on its page and served with their real
/// type under the server's policy (no scripts: an SVG's script stays inert, `nosniff`);
/// nothing but that version's image files is served.
#[test]
fn a_versions_images_are_shown_and_served_safely() {
    let r = TestRepo::new();
    // A 1×1 PNG, an SVG that tries to run a script, and weights.
    let png: Vec<u8> = vec![
        0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, 0x49, 0x48, 0x44, 0x52, 0,
        0, 0, 1, 0, 0, 0, 1, 8, 6, 0, 0, 0, 0x1f, 0x15, 0xc4, 0x89, 0, 0, 0, 0x0d, 0x49, 0x44,
        0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8, 0xcf, 0xc0, 0xf0, 0x1f, 0, 5, 0, 1, 0xff, 0x89, 0x99,
        0x3d, 0x1d, 0, 0, 0, 0, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
    ];
    let svg = br#"<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script><rect width="4" height="4"/></svg>"#;
    r.write("run/confusion.png", &png);
    r.write("run/curve.svg", svg);
    r.write("run/w.bin", &noise(5000, 3));
    let id = r.commit(&["run", "--model", "m"]);
    let ui = start(&r);
    let (s, page) = get(&ui, &format!("/version/{id}"));
    assert_eq!(s, 200);
    assert!(page.contains("<h2>Images</h2>"), "{page}");
    assert!(page.contains(&format!(
        r#"<img src="/version/{id}/file/run/confusion.png""#
    )));
    assert!(page.contains(&format!(r#"<img src="/version/{id}/file/run/curve.svg""#)));
    assert!(!page.contains("w.bin\" loading"), "only images are shown");
    // The SVG over HTTP: its type, no sniffing, and a policy under which no script runs.
    let (s, head, body) = request(&ui, "GET", &format!("/version/{id}/file/run/curve.svg"));
    assert_eq!(s, 200);
    assert!(head.contains("Content-Type: image/svg+xml"), "{head}");
    assert!(head.contains("X-Content-Type-Options: nosniff"), "{head}");
    assert!(
        head.contains("Content-Security-Policy: default-src 'none'"),
        "{head}"
    );
    assert_eq!(body.as_bytes(), svg);
    // The PNG, byte for byte, with its type.
    let repo = mreg::Repo::discover(r.path()).unwrap();
    let got = mreg::web::handle(
        &repo,
        "GET",
        &format!("/version/{id}/file/run/confusion.png"),
    );
    assert_eq!((got.status, got.content_type), (200, "image/png"));
    assert_eq!(got.body, png);
    // Not an image, not in the version, or climbing out: refused.
    for (target, status) in [
        (format!("/version/{id}/file/run/w.bin"), 400),
        (format!("/version/{id}/file/run/nothere.png"), 404),
        (
            format!("/version/{id}/file/run/%2E%2E/.modelreg/config.yaml"),
            400,
        ),
        (format!("/version/{id}/file/../../etc/passwd"), 400),
    ] {
        let (s, _) = get(&ui, &target);
        assert_eq!(s, status, "{target}");
    }
}

/// Issue 27: the version page shows the run that made it — command, duration, CPU time,
/// peak memory — and the end of its log, searchable, with the whole log one link away.
#[test]
fn the_version_page_shows_the_run_and_its_log() {
    let r = TestRepo::new();
    let out = r
        .mreg(&[
            "run", "--model", "m", "--outputs", "out.bin", "--", "sh", "-c",
            "for i in $(seq 1 100); do echo \"line $i <b>\"; done; echo needle-42; head -c 1000 /dev/urandom > out.bin",
        ])
        .ok();
    // The job's own output passes through; the version id is the last line.
    let id = out.stdout.trim().lines().last().unwrap().to_string();
    let ui = start(&r);
    let (s, page) = get(&ui, &format!("/version/{id}"));
    assert_eq!(s, 200);
    for needle in [
        "<h2>Run</h2>",
        "CPU time",
        "peak memory",
        "<h3>Log</h3>",
        "the last 40 lines",
    ] {
        assert!(page.contains(needle), "no {needle:?} in\n{page}");
    }
    assert!(
        page.contains("line 100 &lt;b&gt;"),
        "the log's end, escaped"
    );
    assert!(!page.contains("line 10 &lt;b&gt;\n"), "not the whole log");
    let (_, found) = get(&ui, &format!("/version/{id}?log=needle"));
    assert!(
        found.contains("1 matching line(s)") && found.contains("needle-42"),
        "{found}"
    );
    let (s, head, whole) = request(&ui, "GET", &format!("/version/{id}/log"));
    assert_eq!(s, 200);
    assert!(head.contains("Content-Type: text/plain"), "{head}");
    assert!(whole.contains("line 1 <b>") && whole.contains("line 100 <b>"));
}
