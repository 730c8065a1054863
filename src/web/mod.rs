//! The dashboard (`mreg ui`) and reports (`mreg report`): read-only HTML views of a store.
//!
//! [`handle`] turns one GET request into a [`Response`]: the pages of `pages.rs`, JSON
//! endpoints (`/api/...`, the same views as the CLI's `--json`), and the stylesheet, all
//! generated in memory (no file is ever served from disk, and pages load nothing from any
//! other host: no script at all, charts are server-side SVG with hover values in `<title>`).
//! [`serve`] is a small HTTP/1.1 server around it (one thread per connection, bounded).
//! Errors become 4xx/5xx pages with the error's message and hint; every string from the
//! store is escaped, and the Content-Security-Policy forbids scripts outright.

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
}

const HTML: &str = "text/html; charset=utf-8";
const JSON: &str = "application/json";
const TEXT: &str = "text/plain; charset=utf-8";

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        403 => "Forbidden",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
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
    }
}

/// The status a library error maps to.
fn status_of(e: &Error) -> u16 {
    match e.category() {
        Category::NotFound | Category::NotARepo => 404,
        Category::InvalidArgument => 400,
        _ => 500,
    }
}

/// Answer one request. `target` is the request target (`/model/clf?where=...`).
pub fn handle(repo: &Repo, method: &str, target: &str) -> Response {
    let start = Instant::now();
    if method != "GET" && method != "HEAD" {
        return error_page(
            405,
            &format!("{method} is not served"),
            "the dashboard is read-only",
        );
    }
    let (path, qs) = target.split_once('?').unwrap_or((target, ""));
    let Some(query) = Query::parse(qs) else {
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
        ["model", m] => html(pages::model(repo, m, &query)),
        ["version", rev] => html(pages::version(repo, rev, &query)),
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
pub fn serve(repo: &Repo, listener: &TcpListener, stop: &AtomicBool) -> Result<()> {
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
                let _ = serve_one(repo, stream, port);
                active.fetch_sub(1, Ordering::AcqRel);
            });
        }
    });
    Ok(())
}

fn serve_one(repo: &Repo, stream: TcpStream, port: u16) -> std::io::Result<()> {
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
    let host = head
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("host"))
        .map(|(_, v)| v.trim().to_ascii_lowercase());
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
    let r = handle(repo, method, target);
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

fn write_response(mut stream: &TcpStream, r: &Response, head_only: bool) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nReferrer-Policy: no-referrer\r\nContent-Security-Policy: default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'\r\nServer-Timing: render;dur={:.3}\r\nConnection: close\r\n\r\n",
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
