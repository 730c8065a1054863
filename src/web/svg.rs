//! Charts drawn on the server as SVG: line charts with axes, ticks, a legend and hover values
//! (SVG `<title>`, shown by every browser without script), sparklines, and the lineage graph.
//! Every label is escaped; the output is a fragment to embed in a page or a report.

use std::fmt::Write;

use super::html::esc;

/// Colors of series, in order (readable on white, distinguishable for common color
/// blindness).
const PALETTE: [&str; 8] = [
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2",
];

/// One line of a chart: points (x, y), and optionally a hover label per point.
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    /// Shown on hover with the point's value (e.g. the version's short id).
    pub labels: Vec<String>,
}

/// A vertical marker at `x` (an alias move on a version timeline).
pub struct Marker {
    pub x: f64,
    pub label: String,
}

pub struct ChartOpts<'a> {
    pub width: u32,
    pub height: u32,
    pub x_label: &'a str,
    pub y_label: &'a str,
    /// A link per point (same order as labels), e.g. to the version page.
    pub link: Option<&'a dyn Fn(usize, usize) -> Option<String>>,
    /// The x values are counts (version numbers, steps): ticks only at whole numbers.
    pub integer_x: bool,
}

/// "Nice" tick positions covering [lo, hi]: about `n` ticks at 1, 2 or 5 × 10^k steps.
pub fn ticks(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    if !lo.is_finite() || !hi.is_finite() || hi <= lo {
        return vec![lo];
    }
    let raw = (hi - lo) / n.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    // The 1-2-5 step nearest the raw one (in ratio), so the count stays near `n`.
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .min_by(|a, b| {
            let d = |s: f64| (s / raw).ln().abs();
            d(*a).total_cmp(&d(*b))
        })
        .unwrap_or(mag);
    let first = (lo / step).ceil() as i64;
    let mut out = Vec::new();
    let mut k = first;
    while (k as f64) * step <= hi + step * 1e-9 && out.len() < 50 {
        out.push(k as f64 * step);
        k += 1;
    }
    out
}

/// A number for an axis or a hover: short, without float noise.
pub fn num(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    if !(1e-4..1e6).contains(&a) {
        return format!("{v:.3e}");
    }
    let s = format!("{:.6}", v);
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

/// At most `max` points of a long series, keeping each bucket's extremes (the shape of the
/// line survives; a chart of 10,000 versions stays small).
fn thin(points: &[(f64, f64)], max: usize) -> Vec<usize> {
    if points.len() <= max {
        return (0..points.len()).collect();
    }
    let per = points.len().div_ceil(max / 2);
    let mut keep = Vec::new();
    for start in (0..points.len()).step_by(per) {
        let end = (start + per).min(points.len());
        let slice = &points[start..end];
        let (mut lo, mut hi) = (0, 0);
        for (i, p) in slice.iter().enumerate() {
            if p.1 < slice[lo].1 {
                lo = i;
            }
            if p.1 > slice[hi].1 {
                hi = i;
            }
        }
        let (a, b) = (start + lo.min(hi), start + lo.max(hi));
        keep.push(a);
        if b != a {
            keep.push(b);
        }
    }
    keep
}

/// A line chart with axes, grid, ticks, legend, hover values and optional markers.
pub fn line_chart(series: &[Series], markers: &[Marker], o: &ChartOpts) -> String {
    let (w, h) = (o.width as f64, o.height as f64);
    let (left, right, top, bottom) = (64.0, 16.0, 16.0 + legend_height(series), 40.0);
    let finite = |p: &&(f64, f64)| p.0.is_finite() && p.1.is_finite();
    let all: Vec<&(f64, f64)> = series
        .iter()
        .flat_map(|s| s.points.iter())
        .filter(finite)
        .collect();
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="{}">"#,
        esc(&format!("{} by {}", o.y_label, o.x_label))
    );
    if all.is_empty() {
        let _ = write!(
            s,
            r#"<text x="{}" y="{}" text-anchor="middle" class="muted">no values</text></svg>"#,
            w / 2.0,
            h / 2.0
        );
        return s;
    }
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for p in &all {
        x0 = x0.min(p.0);
        x1 = x1.max(p.0);
        y0 = y0.min(p.1);
        y1 = y1.max(p.1);
    }
    if x1 <= x0 {
        x0 -= 0.5;
        x1 += 0.5;
    }
    if y1 <= y0 {
        let pad = if y0 == 0.0 { 1.0 } else { y0.abs() * 0.05 };
        y0 -= pad;
        y1 += pad;
    } else {
        let pad = (y1 - y0) * 0.05;
        y0 -= pad;
        y1 += pad;
    }
    let px = |x: f64| left + (x - x0) / (x1 - x0) * (w - left - right);
    let py = |y: f64| top + (1.0 - (y - y0) / (y1 - y0)) * (h - top - bottom);
    // Grid, ticks and axes.
    for t in ticks(y0, y1, 5) {
        let y = py(t);
        let _ = write!(
            s,
            r#"<line class="grid" x1="{left}" x2="{}" y1="{y:.1}" y2="{y:.1}"/><text class="tick" x="{}" y="{:.1}" text-anchor="end">{}</text>"#,
            w - right,
            left - 6.0,
            y + 4.0,
            esc(&num(t))
        );
    }
    let x_ticks: Vec<f64> = if o.integer_x {
        ticks(x0, x1, 6)
            .into_iter()
            .filter(|t| t.fract() == 0.0)
            .collect()
    } else {
        ticks(x0, x1, 6)
    };
    for t in x_ticks {
        let x = px(t);
        let _ = write!(
            s,
            r#"<line class="grid" x1="{x:.1}" x2="{x:.1}" y1="{top}" y2="{}"/><text class="tick" x="{x:.1}" y="{}" text-anchor="middle">{}</text>"#,
            h - bottom,
            h - bottom + 16.0,
            esc(&num(t))
        );
    }
    let _ = write!(
        s,
        r#"<line class="axis" x1="{left}" x2="{left}" y1="{top}" y2="{}"/><line class="axis" x1="{left}" x2="{}" y1="{}" y2="{}"/>"#,
        h - bottom,
        w - right,
        h - bottom,
        h - bottom
    );
    let _ = write!(
        s,
        r#"<text class="label" x="{}" y="{}" text-anchor="middle">{}</text><text class="label" transform="translate(14 {}) rotate(-90)" text-anchor="middle">{}</text>"#,
        (left + w - right) / 2.0,
        h - 6.0,
        esc(o.x_label),
        (top + h - bottom) / 2.0,
        esc(o.y_label)
    );
    for m in markers {
        if !m.x.is_finite() || m.x < x0 || m.x > x1 {
            continue;
        }
        let x = px(m.x);
        let _ = write!(
            s,
            r#"<g class="marker"><line x1="{x:.1}" x2="{x:.1}" y1="{top}" y2="{}"/><title>{}</title></g>"#,
            h - bottom,
            esc(&m.label)
        );
    }
    // Lines, then hoverable points.
    for (i, se) in series.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let idx: Vec<usize> = thin(&se.points, 1200)
            .into_iter()
            .filter(|&j| finite(&&se.points[j]))
            .collect();
        let path: Vec<String> = idx
            .iter()
            .map(|&j| format!("{:.1},{:.1}", px(se.points[j].0), py(se.points[j].1)))
            .collect();
        let _ = write!(
            s,
            r#"<polyline class="line" data-series="{}" fill="none" stroke="{color}" stroke-width="1.5" points="{}"/>"#,
            esc(&se.name),
            path.join(" ")
        );
        let dots: Vec<usize> = if idx.len() > 400 {
            thin(&se.points, 400)
                .into_iter()
                .filter(|&j| finite(&&se.points[j]))
                .collect()
        } else {
            idx
        };
        for j in dots {
            let (x, y) = se.points[j];
            let label = se.labels.get(j).map(String::as_str).unwrap_or("");
            let title = format!(
                "{}: {} at {} {}{}",
                se.name,
                num(y),
                o.x_label,
                num(x),
                if label.is_empty() {
                    String::new()
                } else {
                    format!(" ({label})")
                }
            );
            let dot = format!(
                r#"<circle class="pt" cx="{:.1}" cy="{:.1}" r="3" fill="{color}"><title>{}</title></circle>"#,
                px(x),
                py(y),
                esc(&title)
            );
            match o.link.and_then(|f| f(i, j)) {
                Some(href) => {
                    let _ = write!(s, r#"<a href="{}">{dot}</a>"#, esc(&href));
                }
                None => s.push_str(&dot),
            }
        }
    }
    // Legend.
    let mut lx = left;
    for (i, se) in series.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let _ = write!(
            s,
            r#"<g class="legend"><rect x="{lx}" y="4" width="10" height="10" fill="{color}"/><text x="{}" y="13">{}</text></g>"#,
            lx + 14.0,
            esc(&se.name)
        );
        lx += 24.0 + 7.0 * se.name.chars().count() as f64;
    }
    s.push_str("</svg>");
    s
}

fn legend_height(series: &[Series]) -> f64 {
    if series.is_empty() {
        0.0
    } else {
        14.0
    }
}

/// A small trend line (no axes), with the last value on hover.
pub fn sparkline(values: &[f64], width: u32, height: u32) -> String {
    let vals: Vec<(f64, f64)> = values
        .iter()
        .enumerate()
        .filter(|(_, v)| v.is_finite())
        .map(|(i, v)| (i as f64, *v))
        .collect();
    if vals.len() < 2 {
        return String::new();
    }
    let (lo, hi) = vals
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.1), b.max(p.1)));
    let span = if hi > lo { hi - lo } else { 1.0 };
    let n = (values.len() - 1).max(1) as f64;
    let (w, h) = (width as f64, height as f64);
    let pts: Vec<String> = thin(&vals, 200)
        .into_iter()
        .map(|j| {
            let (x, y) = vals[j];
            format!(
                "{:.1},{:.1}",
                x / n * (w - 2.0) + 1.0,
                h - 2.0 - (y - lo) / span * (h - 4.0)
            )
        })
        .collect();
    format!(
        r##"<svg class="spark" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}"><title>{} versions: first {}, last {}, min {}, max {}</title><polyline fill="none" stroke="#1f77b4" stroke-width="1.2" points="{}"/></svg>"##,
        vals.len(),
        num(vals[0].1),
        num(vals[vals.len() - 1].1),
        num(lo),
        num(hi),
        pts.join(" ")
    )
}

/// A node of the lineage graph.
pub struct Node {
    pub label: String,
    /// Second line (a short id, a hash).
    pub detail: String,
    pub kind: &'static str,
    pub href: Option<String>,
    /// Column (0 = leftmost).
    pub layer: usize,
}

/// The lineage graph: nodes in columns by layer, edges as curves with arrowheads.
pub fn graph(nodes: &[Node], edges: &[(usize, usize, &str)]) -> String {
    let layers = nodes.iter().map(|n| n.layer).max().unwrap_or(0) + 1;
    let mut rows = vec![0usize; layers];
    let mut pos = Vec::with_capacity(nodes.len());
    for n in nodes {
        pos.push((n.layer, rows[n.layer]));
        rows[n.layer] += 1;
    }
    let (nw, nh, gx, gy) = (190.0, 44.0, 70.0, 18.0);
    let tallest = rows.iter().copied().max().unwrap_or(1) as f64;
    let (w, h) = (
        layers as f64 * (nw + gx) - gx + 20.0,
        tallest * (nh + gy) - gy + 20.0,
    );
    let at = |i: usize| {
        let (l, r) = pos[i];
        let count = rows[l] as f64;
        let off = (tallest - count) * (nh + gy) / 2.0;
        (
            10.0 + l as f64 * (nw + gx),
            10.0 + off + r as f64 * (nh + gy),
        )
    };
    let mut s = format!(
        r##"<svg class="graph" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="lineage graph"><defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#777"/></marker></defs>"##
    );
    for (a, b, label) in edges {
        let ((ax, ay), (bx, by)) = (at(*a), at(*b));
        let (x1, y1, x2, y2) = (ax + nw, ay + nh / 2.0, bx, by + nh / 2.0);
        let mid = (x1 + x2) / 2.0;
        let _ = write!(
            s,
            r##"<path class="edge" d="M {x1:.1} {y1:.1} C {mid:.1} {y1:.1}, {mid:.1} {y2:.1}, {x2:.1} {y2:.1}" fill="none" stroke="#999" marker-end="url(#arrow)"><title>{}</title></path>"##,
            esc(label)
        );
    }
    for (i, n) in nodes.iter().enumerate() {
        let (x, y) = at(i);
        let clip = |t: &str, max: usize| {
            if t.chars().count() > max {
                format!("{}…", t.chars().take(max - 1).collect::<String>())
            } else {
                t.to_string()
            }
        };
        let body = format!(
            r#"<g class="node {}"><rect x="{x:.1}" y="{y:.1}" width="{nw}" height="{nh}" rx="6"/><text x="{:.1}" y="{:.1}">{}</text><text class="detail" x="{:.1}" y="{:.1}">{}</text><title>{}: {} {}</title></g>"#,
            n.kind,
            x + 8.0,
            y + 18.0,
            esc(&clip(&n.label, 26)),
            x + 8.0,
            y + 34.0,
            esc(&clip(&n.detail, 30)),
            n.kind,
            esc(&n.label),
            esc(&n.detail)
        );
        match &n.href {
            Some(href) => {
                let _ = write!(s, r#"<a href="{}">{body}</a>"#, esc(href));
            }
            None => s.push_str(&body),
        }
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        assert_eq!(
            ticks(0.0, 1.0, 5),
            vec![0.0, 0.2, 0.4, 0.6000000000000001, 0.8, 1.0]
        );
        let t = ticks(0.8312, 0.9471, 5);
        assert!(t.len() >= 3 && t[0] >= 0.8312 && *t.last().unwrap() <= 0.9471);
        assert_eq!(ticks(3.0, 3.0, 5), vec![3.0]);
    }

    #[test]
    fn charts_escape_labels_and_thin_long_series() {
        let pts: Vec<(f64, f64)> = (0..10_000).map(|i| (i as f64, (i as f64).sin())).collect();
        let svg = line_chart(
            &[Series {
                name: "<script>".into(),
                points: pts,
                labels: vec![],
            }],
            &[Marker {
                x: 5.0,
                label: "a&b".into(),
            }],
            &ChartOpts {
                width: 600,
                height: 240,
                x_label: "version",
                y_label: "acc",
                link: None,
                integer_x: true,
            },
        );
        assert!(!svg.contains("<script>") && svg.contains("&lt;script&gt;"));
        assert!(svg.contains("a&amp;b"));
        assert!(svg.matches("<circle").count() <= 400);
        assert!(svg.len() < 200_000, "{} bytes", svg.len());
    }

    /// Regression (issue 27): a chart over three versions labelled its x axis 1.5 and 2.5.
    #[test]
    fn version_and_step_axes_tick_only_at_whole_numbers() {
        let opts = |integer_x| ChartOpts {
            width: 600,
            height: 240,
            x_label: "version",
            y_label: "acc",
            link: None,
            integer_x,
        };
        let series = [Series {
            name: "acc".into(),
            points: vec![(1.0, 0.8), (2.0, 0.85), (3.0, 0.9)],
            labels: vec![],
        }];
        let x_ticks = |svg: &str| -> Vec<String> {
            svg.split(r#"class="tick""#)
                .skip(1)
                .filter(|t| t.contains(r#"text-anchor="middle">"#))
                .filter_map(|t| t.split(r#"text-anchor="middle">"#).nth(1))
                .filter_map(|t| t.split('<').next())
                .map(str::to_string)
                .collect()
        };
        let plain = line_chart(&series, &[], &opts(false));
        assert!(
            x_ticks(&plain).iter().any(|t| t.contains('.')),
            "{:?}",
            x_ticks(&plain)
        );
        let whole = line_chart(&series, &[], &opts(true));
        assert_eq!(x_ticks(&whole), vec!["1", "2", "3"]);
    }

    #[test]
    fn nan_values_are_skipped_not_drawn() {
        let svg = line_chart(
            &[Series {
                name: "loss".into(),
                points: vec![(0.0, 1.0), (1.0, f64::NAN), (2.0, 0.5)],
                labels: vec![],
            }],
            &[],
            &ChartOpts {
                width: 300,
                height: 200,
                x_label: "step",
                y_label: "loss",
                link: None,
                integer_x: true,
            },
        );
        assert!(!svg.contains("NaN"));
        assert_eq!(svg.matches("<circle").count(), 2);
    }
}
