//! HTML building blocks for the dashboard and reports: escaping, URL encoding, the page
//! frame with its stylesheet (inside the binary: pages load nothing from anywhere else), and
//! tables. Every string that comes from the store goes through [`esc`].

use std::fmt::Write;

/// Escape text for HTML element content and quoted attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encode a path segment or query value (everything but unreserved characters).
pub fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, URL_SAFE).to_string()
}

/// Bytes a URL component keeps as they are: unreserved characters (RFC 3986).
const URL_SAFE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Decode percent-encoding (and `+` as space in queries); None for invalid UTF-8 or a
/// malformed escape (the crate would pass one through as text: a request with one is
/// refused instead).
pub fn dec(s: &str, plus_is_space: bool) -> Option<String> {
    let b = s.as_bytes();
    let hex = |i: usize| b.get(i).is_some_and(u8::is_ascii_hexdigit);
    if (0..b.len()).any(|i| b[i] == b'%' && !(hex(i + 1) && hex(i + 2))) {
        return None;
    }
    let s = if plus_is_space {
        std::borrow::Cow::Owned(s.replace('+', " "))
    } else {
        std::borrow::Cow::Borrowed(s)
    };
    percent_encoding::percent_decode_str(&s)
        .decode_utf8()
        .ok()
        .map(|c| c.into_owned())
}

pub const STYLE: &str = r#"
:root { --fg: #1d2330; --muted: #6b7280; --line: #e5e7eb; --bg: #ffffff; --panel: #f8fafc;
  --accent: #1f5fbf; --warn: #b45309; --bad: #b91c1c; --good: #15803d; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: var(--fg); background: var(--bg); }
header { display: flex; gap: 20px; align-items: baseline; padding: 10px 24px;
  border-bottom: 1px solid var(--line); background: var(--panel); }
header .brand { font-weight: 700; font-size: 16px; color: var(--fg); text-decoration: none; }
header nav a { margin-right: 14px; }
main { padding: 16px 24px 40px; max-width: 1400px; }
a { color: var(--accent); text-decoration: none; } a:hover { text-decoration: underline; }
h1 { font-size: 20px; margin: 6px 0 12px; } h2 { font-size: 16px; margin: 22px 0 8px; }
table { border-collapse: collapse; margin: 6px 0 12px; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 10px; text-align: left;
  vertical-align: top; }
th { background: var(--panel); font-weight: 600; position: sticky; top: 0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.diff td { background: #fff7e6; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12.5px; }
.muted { color: var(--muted); fill: var(--muted); }
.chip { display: inline-block; padding: 0 7px; margin: 1px 3px 1px 0; border-radius: 9px;
  background: #e8f0fe; color: #1a3e7a; font-size: 12px; }
.chip.production { background: #dcfce7; color: #14532d; }
.chip.rollback { background: #fee2e2; color: #7f1d1d; }
.chip.archived, .chip.pruned { background: #f3f4f6; color: #4b5563; }
.verdict-identical, .verdict-within_tolerance { color: var(--good); }
.verdict-different { color: var(--bad); }
.grid2 { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 8px 28px; }
form.inline { display: flex; flex-wrap: wrap; gap: 8px; align-items: center; margin: 8px 0; }
form.inline input[type=text] { width: 420px; padding: 4px 6px; font: inherit; }
form.inline input.rev { width: 220px; }
.error { color: var(--bad); }
fieldset { border: 1px solid var(--line); padding: 4px 10px; }
svg.chart { display: block; margin: 6px 0 14px; max-width: 100%; height: auto; }
svg .grid { stroke: #eef0f3; } svg .axis { stroke: #9ca3af; }
svg .tick { font-size: 11px; fill: #4b5563; } svg .label { font-size: 12px; fill: #374151; }
svg .legend text { font-size: 12px; fill: #374151; }
svg .marker line { stroke: #16a34a; stroke-dasharray: 4 3; stroke-width: 1.5; }
svg .pt:hover { r: 5; }
svg.graph .node rect { fill: #f8fafc; stroke: #94a3b8; }
svg.graph .node.version rect { fill: #e8f0fe; stroke: #1f5fbf; stroke-width: 2; }
svg.graph .node.dataset rect { fill: #fef9c3; stroke: #ca8a04; }
svg.graph .node.code rect { fill: #ede9fe; stroke: #7c3aed; }
svg.graph text { font-size: 12px; fill: #1d2330; } svg.graph text.detail { fill: #6b7280; font-size: 11px; }
pre.patch { background: var(--panel); border: 1px solid var(--line); padding: 10px; overflow: auto;
  max-height: 520px; }
.pager a, .pager span { margin-right: 10px; }
details.dialog { display: inline-block; vertical-align: top; margin: 0 10px 8px 0; border: 1px solid var(--line);
  border-radius: 6px; padding: 4px 10px; background: var(--panel); }
details.dialog[open] { display: block; max-width: 760px; box-shadow: 0 2px 10px rgba(0,0,0,.08); }
details.dialog summary { cursor: pointer; font-weight: 600; color: var(--accent); }
form.action { display: flex; flex-wrap: wrap; gap: 8px; align-items: center; margin: 6px 0; }
form.action input[type=text] { padding: 4px 6px; font: inherit; width: 300px; }
form.action input.rev { width: 180px; }
table.aliases form.action input[type=text] { width: 220px; }
.images { display: flex; flex-wrap: wrap; gap: 12px; } .images img { max-width: 480px; max-height: 360px;
  border: 1px solid var(--line); } .images figure { margin: 0; }
iframe.live { width: 100%; border: 1px solid var(--line); border-radius: 4px; }
body.frame { margin: 8px; } .live-run { border-bottom: 1px solid var(--line); padding-bottom: 6px; }
.chip.candidate { background: #fef9c3; color: #713f12; }
.chip.failed, .chip.interrupted, .chip.uncommitted { background: #fee2e2; color: #7f1d1d; }
.chip.succeeded { background: #dcfce7; color: #14532d; }
"#;

/// The tab icon (SVG).
pub const ICON: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#1f5fbf"/><path d="M3 12V4l5 5 5-5v8" fill="none" stroke="#fff" stroke-width="2"/></svg>"##;

/// A whole page: title, navigation, body. `body` is trusted HTML built by this module.
pub fn page(title: &str, body: &str) -> String {
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{} · mreg</title><link rel="icon" href="/favicon.ico" type="image/svg+xml"><link rel="stylesheet" href="/static/style.css"></head>
<body><header><a class="brand" href="/">mreg</a><nav><a href="/">Models</a><a href="/compare">Compare</a></nav></header>
<main>{body}</main></body></html>
"#,
        esc(title)
    )
}

/// A table from a header and rows of trusted HTML cells; `diff` marks rows to highlight.
pub fn table(header: &[&str], rows: &[(Vec<String>, bool)], class: &str) -> String {
    let mut s = format!(r#"<table class="{class}"><thead><tr>"#);
    for h in header {
        let _ = write!(s, "<th>{}</th>", esc(h));
    }
    s.push_str("</tr></thead><tbody>");
    for (cells, diff) in rows {
        s.push_str(if *diff {
            r#"<tr class="diff">"#
        } else {
            "<tr>"
        });
        for c in cells {
            s.push_str("<td>");
            s.push_str(c);
            s.push_str("</td>");
        }
        s.push_str("</tr>");
    }
    s.push_str("</tbody></table>");
    s
}

/// A chip (alias, label, status).
pub fn chip(text: &str, class: &str) -> String {
    format!(r#"<span class="chip {}">{}</span>"#, esc(class), esc(text))
}

/// A link to a version page.
pub fn version_link(id: &str, text: &str) -> String {
    format!(
        r#"<a class="mono" href="/version/{}">{}</a>"#,
        enc(id),
        esc(text)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_and_url_encoding_round_trip() {
        assert_eq!(
            esc(r#"<script>alert("x")</script>&'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;"
        );
        for s in ["clf@production", "a b/..", "été~1", "%zz"] {
            assert_eq!(dec(&enc(s), false).as_deref(), Some(s));
        }
        assert_eq!(dec("a+b%20c", true).as_deref(), Some("a b c"));
        assert_eq!(dec("%4", false), None);
        assert_eq!(dec("%ff", false), None);
    }
}
