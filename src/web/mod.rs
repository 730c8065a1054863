//! The dashboard (`mreg ui`) and reports (`mreg report`): read-only HTML views of a store.
//!
//! [`handle`] turns one GET request into a [`Response`]: the pages of `pages.rs`, JSON
//! endpoints (`/api/...`, the same views as the CLI's `--json`), and the stylesheet, all
//! generated in memory (no file is ever served from disk, and pages load nothing from any
//! other host: no script at all, charts are server-side SVG with hover values in `<title>`).
//! [`serve`] is a small HTTP/1.1 server around it (one thread per connection, bounded).
//! Errors become 4xx/5xx pages with the error's message and hint; every string from the
//! store is escaped, and the Content-Security-Policy forbids scripts outright.

pub mod actions;
pub(crate) mod html;
pub(crate) mod pages;
pub mod report;
pub(crate) mod svg;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::hints::Category;
use crate::Repo;
pub use actions::WriteAccess;

/// A request's query string, decoded.
#[derive(Clone, Debug, Default)]
pub struct Query {
    pub pairs: Vec<(String, String)>,
}

impl Query {
    pub fn parse(qs: &str) -> Option<Query> {
        let mut pairs = Vec::new();
        for part in qs.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            pairs.push((html::dec(k, true)?, html::dec(v, true)?));
        }
        Some(Query { pairs })
    }

    pub fn get(&self, key: &str) -> Option<String> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    }

    pub fn all(&self, key: &str) -> Vec<String> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect()
    }
}

/// An HTTP response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    /// How long the page took to build (sent as `Server-Timing`).
    pub render: Duration,
    /// More headers (`Location`, `Set-Cookie`).
    pub headers: Vec<(&'static str, String)>,
}

/// One HTTP request as the server read it.
#[derive(Clone, Debug, Default)]
pub struct Request {
    pub method: String,
    pub target: String,
    /// Headers, names lowercased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    /// The first header of that (lowercase) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A cookie's value.
    fn cookie(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k == "cookie")
            .flat_map(|(_, v)| v.split(';'))
            .filter_map(|c| c.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    }
}

const HTML: &str = "text/html; charset=utf-8";
const JSON: &str = "application/json";
const TEXT: &str = "text/plain; charset=utf-8";

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        303 => "See Other",
        400 => "Bad Request",
        404 => "Not Found",
        403 => "Forbidden",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        421 => "Misdirected Request",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

fn error_page(status: u16, what: &str, hint: &str) -> Response {
    let body = html::page(
        &format!("{status} {}", reason(status)),
        &format!(
            r#"<h1>{status} {}</h1><p class="error">{}</p><p class="muted">hint: {}</p><p><a href="/">all models</a></p>"#,
            reason(status),
            html::esc(what),
            html::esc(hint)
        ),
    );
    Response {
        status,
        content_type: HTML,
        body: body.into_bytes(),
        render: Duration::ZERO,
        headers: Vec::new(),
    }
}

/// The status a library error maps to.
fn status_of(e: &Error) -> u16 {
    match e.category() {
        Category::NotFound | Category::NotARepo => 404,
        Category::InvalidArgument => 400,
        Category::Conflict | Category::Refused | Category::Pruned => 409,
        _ => 500,
    }
}

/// Answer one read-only request. `target` is the request target (`/model/clf?where=...`).
pub fn handle(repo: &Repo, method: &str, target: &str) -> Response {
    handle_request(
        repo,
        &Request {
            method: method.to_string(),
            target: target.to_string(),
            ..Default::default()
        },
        None,
    )
}

/// The cookie that keeps the token for this server's pages (one per port: servers on
/// other ports of the same address do not overwrite it).
fn cookie_name(req: &Request) -> String {
    let port = req
        .header("host")
        .and_then(|h| h.rsplit_once(':'))
        .map_or("80", |(_, p)| p);
    format!(
        "mreg_ui_{}",
        port.trim_matches(|c: char| !c.is_ascii_digit())
    )
}

/// Answer one request; `write` is `mreg ui --write`'s access (None: read-only).
pub fn handle_request(repo: &Repo, req: &Request, write: Option<&WriteAccess>) -> Response {
    match req.method.as_str() {
        "GET" | "HEAD" => {}
        "POST" => return post(repo, req, write),
        m => {
            return error_page(
                405,
                &format!("{m} is not served"),
                "the dashboard answers GET, and POST for actions under mreg ui --write",
            )
        }
    }
    let (_, qs) = req.target.split_once('?').unwrap_or((&req.target, ""));
    // Under --write, the pages carry the action forms once the token is known: from the
    // URL `mreg ui` printed (kept in a strict same-site cookie), or from that cookie.
    let mut set_cookie = None;
    let access = match write {
        None => pages::Access::ReadOnly,
        Some(w) => {
            let from_url = Query::parse(qs).and_then(|q| q.get("token"));
            if from_url.as_deref().is_some_and(|t| w.accepts(t)) {
                set_cookie = Some(format!(
                    "{}={}; Path=/; HttpOnly; SameSite=Strict",
                    cookie_name(req),
                    w.token()
                ));
                pages::Access::Token(w.token())
            } else if req.cookie(&cookie_name(req)).is_some_and(|t| w.accepts(t)) {
                pages::Access::Token(w.token())
            } else {
                pages::Access::NeedsToken
            }
        }
    };
    let mut r = get(repo, &req.target, access);
    r.headers.extend(set_cookie.map(|c| ("Set-Cookie", c)));
    r
}

/// A POST: one of `mreg ui --write`'s actions (see `actions`).
fn post(repo: &Repo, req: &Request, write: Option<&WriteAccess>) -> Response {
    let start = Instant::now();
    let Some(access) = write else {
        return error_page(
            405,
            "POST is not served: this dashboard is read-only",
            "start it with `mreg ui --write` to promote, roll back, move aliases, label and evaluate from the browser",
        );
    };
    let form = req
        .header("content-type")
        .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
    let json = req
        .header("content-type")
        .is_some_and(|t| t.starts_with("application/json"));
    let fail = |status: u16, code: &str, what: &str, hint: &str| {
        if form {
            error_page(status, what, hint)
        } else {
            json_error(status, what, hint, Some(code))
        }
    };
    let path = req.target.split('?').next().unwrap_or("");
    let segs: Vec<Option<String>> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| html::dec(s, false))
        .collect();
    let (model, action) = match segs.as_slice() {
        [Some(a), Some(m), Some(model), Some(action)]
            if a == "api" && m == "models" && actions::ACTIONS.contains(&action.as_str()) =>
        {
            (model.clone(), action.clone())
        }
        _ => {
            return fail(
                404,
                "NoSuchAction",
                &format!("no action at {path}"),
                "actions: POST /api/models/MODEL/{promote,rollback,alias,label,eval}",
            )
        }
    };
    // Another origin (a page elsewhere posting a form here) is refused before anything
    // else is read: a browser always says where a POST comes from.
    let own = format!("http://{}", req.header("host").unwrap_or(""));
    if let Some(origin) = req.header("origin") {
        if origin != own {
            return fail(
                403,
                "CrossOrigin",
                &format!("cross-origin request refused (Origin {origin}, this dashboard is {own})"),
                "act from the dashboard's own pages, or without a browser with the Authorization header",
            );
        }
    }
    if matches!(
        req.header("sec-fetch-site"),
        Some("cross-site" | "same-site")
    ) {
        return fail(
            403,
            "CrossOrigin",
            "cross-site request refused",
            "act from the dashboard's own pages",
        );
    }
    if !form && !json {
        return fail(
            415,
            "UnsupportedBody",
            "an action's body is JSON (Content-Type: application/json) or the page's form",
            "send Content-Type: application/json",
        );
    }
    let body = if form {
        std::str::from_utf8(&req.body)
            .ok()
            .and_then(Query::parse)
            .ok_or_else(|| {
                Error::InvalidArgument("the form is not valid UTF-8 percent-encoding".into())
            })
            .and_then(|q| actions::ActionBody::from_form(&q.pairs))
    } else {
        serde_json::from_slice::<actions::ActionBody>(&req.body)
            .map_err(|e| Error::InvalidArgument(format!("the JSON body: {e}")))
    };
    let body = match body {
        Ok(b) => b,
        Err(e) => return fail(400, "BadBody", &e.to_string(), &e.hint()),
    };
    let bearer = req
        .header("authorization")
        .and_then(|a| a.strip_prefix("Bearer "))
        .map(str::trim);
    match bearer.or(body.token.as_deref()) {
        None => return fail(
            403,
            "NoToken",
            "no token: every action needs the token mreg ui --write printed",
            "send Authorization: Bearer TOKEN, or open the URL with ?token=TOKEN and use its forms",
        ),
        Some(t) if !access.accepts(t) => {
            return fail(
                403,
                "WrongToken",
                "wrong token",
                "use the token of this run of mreg ui --write (a new one is made at each start)",
            )
        }
        Some(_) => {}
    }
    match actions::perform(repo, &model, &action, body, access) {
        Ok(_) if form => Response {
            status: 303,
            content_type: TEXT,
            body: b"done\n".to_vec(),
            render: start.elapsed(),
            headers: vec![("Location", format!("/history/{}", html::enc(&model)))],
        },
        Ok(v) => Response {
            status: 200,
            content_type: JSON,
            body: serde_json::to_vec_pretty(&v).unwrap_or_default(),
            render: start.elapsed(),
            headers: Vec::new(),
        },
        Err(e) if form => {
            let mut r = error_page(status_of(&e), &e.to_string(), &e.hint());
            r.render = start.elapsed();
            r
        }
        Err(e) => json_error(status_of(&e), &e.to_string(), &e.hint(), Some(e.code())),
    }
}

/// An error as JSON: `{"error", "hint", "code"}`.
fn json_error(status: u16, what: &str, hint: &str, code: Option<&str>) -> Response {
    let v = serde_json::json!({"error": what, "hint": hint, "code": code, "status": status});
    Response {
        status,
        content_type: JSON,
        body: serde_json::to_vec_pretty(&v).unwrap_or_default(),
        render: Duration::ZERO,
        headers: Vec::new(),
    }
}

/// A GET: a page, a JSON view, the stylesheet.
fn get(repo: &Repo, target: &str, access: pages::Access) -> Response {
    let start = Instant::now();
    let (path, qs) = target.split_once('?').unwrap_or((target, ""));
    let Some(mut query) = Query::parse(qs) else {
        return error_page(
            400,
            "the query string is not valid UTF-8 percent-encoding",
            "fix the URL",
        );
    };
    let mut segs = Vec::new();
    for raw in path.split('/').filter(|s| !s.is_empty()) {
        match html::dec(raw, false) {
            Some(s) if s == ".." || s == "." || s.contains('/') || s.contains('\\') => {
                return error_page(
                    400,
                    &format!("path segment {s:?} is not allowed"),
                    "the dashboard serves only the pages it generates",
                )
            }
            Some(s) => segs.push(s),
            None => {
                return error_page(400, "the path is not valid percent-encoding", "fix the URL")
            }
        }
    }
    // The token never reaches the pages (their links would carry it).
    query.pairs.retain(|(k, _)| k != "token");
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let json = |v: Result<serde_json::Value>| {
        v.map(|v| {
            (
                JSON,
                serde_json::to_vec_pretty(&v).expect("views serialize"),
            )
        })
    };
    let html = |s: Result<String>| s.map(|s| (HTML, s.into_bytes()));
    let result: Result<(&'static str, Vec<u8>)> = match segs.as_slice() {
        [] => html(pages::models(repo, &query)),
        ["static", "style.css"] => Ok(("text/css; charset=utf-8", html::STYLE.as_bytes().to_vec())),
        ["favicon.ico"] => Ok(("image/svg+xml", html::ICON.as_bytes().to_vec())),
        ["model", m] => html(pages::model(repo, m, &query, access)),
        ["model", m, "live"] => html(pages::live(repo, m)),
        ["version", rev] => html(pages::version(repo, rev, &query, access)),
        ["version", rev, "log"] => pages::run_log(repo, rev).map(|l| (TEXT, l)),
        ["run", run, "log"] => crate::ops::runs::find(repo, run)
            .and_then(|(view, record)| crate::ops::runs::log(repo, &view, record.as_ref()))
            .map(|l| (TEXT, l)),
        ["version", rev, "patch"] => pages::patch(repo, rev).map(|p| (TEXT, p.into_bytes())),
        ["version", rev, "file", path @ ..] if !path.is_empty() => {
            pages::image(repo, rev, &path.join("/"))
        }
        ["compare"] => html(pages::compare(repo, &query)),
        ["history", m] => html(pages::history(repo, m, &query)),
        ["api", "models"] => json(
            crate::refs::model_summaries(repo)
                .map(|s| serde_json::to_value(s).expect("serializes")),
        ),
        ["api", "model", m] => json(
            crate::names::ModelName::new(m)
                .map_err(Error::from)
                .and_then(|model| {
                    repo.require_model(&model)?;
                    let rows = crate::ops::query::list(
                        repo,
                        &crate::ops::query::ListQuery {
                            model: Some(model),
                            include_archived: true,
                            ..Default::default()
                        },
                    )?;
                    Ok(serde_json::to_value(rows).expect("serializes"))
                }),
        ),
        ["api", "live", m] => json(
            crate::names::ModelName::new(m)
                .map_err(Error::from)
                .and_then(|model| {
                    repo.require_model(&model)?;
                    crate::ops::live::list(repo, Some(&model), std::time::SystemTime::now())
                        .map(|l| serde_json::to_value(l).expect("views serialize"))
                }),
        ),
        ["api", "version", rev] => json(
            repo.resolve(rev)
                .and_then(|id| crate::ops::view::show(repo, &id))
                .map(|v| serde_json::to_value(v).expect("views serialize")),
        ),
        ["api", "history", m] => json(
            crate::names::ModelName::new(m)
                .map_err(Error::from)
                .and_then(|model| {
                    crate::ops::view::history(repo, &model, None)
                        .map(|h| serde_json::to_value(h).expect("views serialize"))
                }),
        ),
        _ => {
            return error_page(
                404,
                &format!("no page at {path}"),
                "pages: /, /model/NAME, /version/REV, /compare?rev=A&rev=B, /history/NAME",
            )
        }
    };
    match result {
        Ok((content_type, body)) => Response {
            status: 200,
            content_type,
            body,
            render: start.elapsed(),
            headers: Vec::new(),
        },
        Err(e) => {
            let mut r = error_page(status_of(&e), &e.to_string(), &e.hint());
            r.render = start.elapsed();
            r
        }
    }
}

/// The most connections served at once; more get 503.
const MAX_CONNECTIONS: usize = 32;
/// The longest request head read: no more than this is ever buffered for a connection.
const MAX_HEAD: usize = 16 * 1024;
/// The largest request body read (an action's JSON or form).
const MAX_BODY: usize = 64 * 1024;
/// The whole request head must arrive within this (a slow sender is cut off).
const HEAD_DEADLINE: Duration = Duration::from_secs(10);

/// Whether the dashboard answers a request with this `Host` header (lowercased): an IP
/// literal or `localhost`, at the port it listens on. A page on another site that rebinds
/// its DNS name to 127.0.0.1 sends that name as Host and is refused, so it cannot read the
/// dashboard (DNS rebinding); an IP literal is safe, since the browser's origin is then the
/// address itself.
fn host_allowed(host: &str, port: u16) -> bool {
    let (name, p) = match host.rsplit_once(':') {
        Some((n, p)) if !n.is_empty() && !p.contains(']') => (n, p.parse::<u16>().ok()),
        _ => (host, Some(80)),
    };
    if p != Some(port) {
        return false;
    }
    let bare = name
        .strip_prefix('[')
        .and_then(|n| n.strip_suffix(']'))
        .unwrap_or(name);
    name == "localhost" || bare.parse::<std::net::IpAddr>().is_ok()
}

/// Serve `repo` on `listener` until `stop` is set (checked between connections; the
/// listener should be non-blocking or the caller wakes it with a connection).
pub fn serve(
    repo: &Repo,
    listener: &TcpListener,
    stop: &AtomicBool,
    write: Option<&WriteAccess>,
) -> Result<()> {
    let active = AtomicUsize::new(0);
    let addr = listener
        .local_addr()
        .map_err(|e| Error::io("reading the address of", "the dashboard's socket", e))?;
    let port = addr.port();
    std::thread::scope(|scope| {
        for conn in listener.incoming() {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let Ok(stream) = conn else { continue };
            if active.fetch_add(1, Ordering::AcqRel) >= MAX_CONNECTIONS {
                active.fetch_sub(1, Ordering::AcqRel);
                let _ = write_response(
                    &stream,
                    &error_page(503, "too many connections", "retry"),
                    false,
                );
                continue;
            }
            let active = &active;
            scope.spawn(move || {
                let _ = serve_one(repo, stream, port, write);
                active.fetch_sub(1, Ordering::AcqRel);
            });
        }
    });
    Ok(())
}

fn serve_one(
    repo: &Repo,
    stream: TcpStream,
    port: u16,
    write: Option<&WriteAccess>,
) -> std::io::Result<()> {
    stream.set_write_timeout(Some(Duration::from_secs(30)))?;
    let deadline = Instant::now() + HEAD_DEADLINE;
    let mut reader = BufReader::with_capacity(4096, &stream);
    let mut head: Vec<u8> = Vec::new();
    // Request line and headers; bodies are not read (GET only). Every read is bounded by
    // what is left of MAX_HEAD, so a line without a newline costs at most MAX_HEAD bytes,
    // and the whole head by HEAD_DEADLINE.
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return write_response(
                &stream,
                &error_page(408, "the request head did not arrive in time", "retry"),
                false,
            );
        }
        stream.set_read_timeout(Some(left))?;
        let start = head.len();
        let budget = (MAX_HEAD + 1 - head.len()) as u64;
        let n = match (&mut reader).take(budget).read_until(b'\n', &mut head) {
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue; // the deadline check above answers
            }
            Err(e) => return Err(e),
        };
        if head.len() > MAX_HEAD {
            write_response(
                &stream,
                &error_page(431, "request head too large", "shorten the URL"),
                false,
            )?;
            linger_close(&stream);
            return Ok(());
        }
        let line = &head[start..];
        if n == 0 || line == b"\r\n" || line == b"\n" {
            break;
        }
    }
    let head = String::from_utf8_lossy(&head);
    let mut parts = head.lines().next().unwrap_or("").split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if method.is_empty() || !target.starts_with('/') {
        return write_response(
            &stream,
            &error_page(400, "malformed request", "send an HTTP/1.1 GET"),
            false,
        );
    }
    let headers: Vec<(String, String)> = head
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let host = header("host").map(str::to_ascii_lowercase);
    if !host.as_ref().is_some_and(|h| host_allowed(h, port)) {
        return write_response(
            &stream,
            &error_page(
                421,
                &format!(
                    "this dashboard answers only requests addressed to an IP address or localhost at port {port} (Host: {})",
                    host.as_deref().unwrap_or("missing")
                ),
                "open the address `mreg ui` printed; other sites may not read it",
            ),
            false,
        );
    }
    // A body is read only for POST, only with a length, and only up to MAX_BODY.
    let mut body = Vec::new();
    if method == "POST" {
        if header("transfer-encoding").is_some() {
            write_response(
                &stream,
                &error_page(411, "chunked bodies are not read", "send Content-Length"),
                false,
            )?;
            linger_close(&stream);
            return Ok(());
        }
        let len = match header("content-length").map(|l| l.parse::<usize>()) {
            None => 0,
            Some(Ok(n)) if n <= MAX_BODY => n,
            Some(_) => {
                write_response(
                    &stream,
                    &error_page(
                        413,
                        &format!("an action's body is at most {MAX_BODY} bytes"),
                        "send less",
                    ),
                    false,
                )?;
                linger_close(&stream);
                return Ok(());
            }
        };
        body.resize(len, 0);
        let left = deadline.saturating_duration_since(Instant::now()) + HEAD_DEADLINE;
        stream.set_read_timeout(Some(left))?;
        if reader.read_exact(&mut body).is_err() {
            return write_response(
                &stream,
                &error_page(408, "the request body did not arrive whole", "retry"),
                false,
            );
        }
    }
    let req = Request {
        method: method.to_string(),
        target: target.to_string(),
        headers: headers.clone(),
        body,
    };
    let r = handle_request(repo, &req, write);
    write_response(&stream, &r, method == "HEAD")
}

/// Close after answering a request that was not read to its end: stop writing, then read
/// and discard (into a fixed buffer) what the client is still sending, for a bounded time
/// and amount. Closing with unread data would reset the connection, and the client could
/// lose the answer that says why.
fn linger_close(mut stream: &TcpStream) {
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let until = Instant::now() + Duration::from_secs(2);
    let mut buf = [0u8; 16 * 1024];
    let mut left: usize = 64 << 20;
    while left > 0 {
        let t = until.saturating_duration_since(Instant::now());
        if t.is_zero() || stream.set_read_timeout(Some(t)).is_err() {
            break;
        }
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => left = left.saturating_sub(n),
        }
    }
}

/// Every answer forbids scripts, sniffing and framing by other sites. The referrer policy
/// is `same-origin`, not `no-referrer`: under `no-referrer` a browser sends `Origin: null`
/// with the page's own form posts, which the cross-origin check of `--write` must refuse.
fn write_response(mut stream: &TcpStream, r: &Response, head_only: bool) -> std::io::Result<()> {
    let extra: String = r
        .headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    let head = format!(
        "HTTP/1.1 {} {}\r\n{extra}Content-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nReferrer-Policy: same-origin\r\nContent-Security-Policy: default-src 'none'; style-src 'self'; img-src 'self' data:; frame-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'self'\r\nServer-Timing: render;dur={:.3}\r\nConnection: close\r\n\r\n",
        r.status,
        reason(r.status),
        r.content_type,
        r.body.len(),
        r.render.as_secs_f64() * 1000.0
    );
    stream.write_all(head.as_bytes())?;
    if !head_only {
        stream.write_all(&r.body)?;
    }
    stream.flush()
}

#[cfg(test)]
mod tests {
    use super::host_allowed;

    #[test]
    fn dns_rebinding_hosts_are_refused_ip_literals_and_localhost_answered() {
        for ok in [
            "127.0.0.1:8080",
            "localhost:8080",
            "[::1]:8080",
            "192.168.1.5:8080",
        ] {
            assert!(host_allowed(ok, 8080), "{ok}");
        }
        for bad in [
            "evil.example:8080",
            "127.0.0.1.nip.io:8080",
            "127.0.0.1:8081",
            "localhost",
            "",
            ":8080",
            "[::1]",
        ] {
            assert!(!host_allowed(bad, 8080), "{bad}");
        }
        assert!(host_allowed("localhost", 80));
    }
}
