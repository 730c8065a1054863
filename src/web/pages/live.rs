//! Runs in progress (`ops::live`): the frame the model page embeds, which reloads itself
//! every few seconds while a run trains — the dashboard has no script, so the frame's own
//! `<meta http-equiv="refresh">` redraws the curves without reloading the page around
//! them — and stops once every run shown has ended, linking the version it became.

use super::*;
use crate::ops::live::{LiveState, LiveView};

/// Seconds between redraws while a run trains.
pub const REFRESH_SECONDS: u32 = 3;

/// The live runs of `model` now.
pub fn live_runs(repo: &Repo, model: &ModelName) -> Result<Vec<LiveView>> {
    crate::ops::live::list(repo, Some(model), std::time::SystemTime::now())
}

fn duration(seconds: f64) -> String {
    let s = seconds.max(0.0) as u64;
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} min {} s", s / 60, s % 60),
        _ => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}

/// One run: what runs, its state, its last values and its curves so far.
fn run_card(repo: &Repo, v: &LiveView) -> String {
    let r = &v.record;
    let state = match (v.state, &r.ended) {
        (LiveState::Running, _) => chip("training", "candidate"),
        (LiveState::Lost, _) => chip("lost", "rollback"),
        (LiveState::Ended, Some(end)) => chip(end.status.as_str(), end.status.as_str()),
        (LiveState::Ended, None) => chip("ended", "archived"),
    };
    let mut s = format!(
        r#"<div class="live-run" id="live-{}"><p>{state} <code>{}</code> <span class="muted">by {} on {} (pid {}), started {}, {}</span></p>"#,
        esc(&r.id),
        esc(&r.command.join(" ")),
        esc(&r.author),
        esc(&r.host),
        r.pid,
        esc(r.started_at.as_ref()),
        match v.state {
            LiveState::Running => format!("running for {}", duration(v.seconds)),
            _ => format!("ran {}", duration(v.seconds)),
        }
    );
    match (&r.ended, v.state) {
        (Some(end), _) => {
            if let Some(id) = end.version {
                let number = crate::versions::of_model(repo, &r.model)
                    .ok()
                    .and_then(|vs| vs.into_iter().find(|(v, _)| *v == id))
                    .map_or_else(|| short(&id), |(_, n)| crate::versions::label(n));
                let _ = write!(
                    s,
                    r#"<p class="became">Became version <a target="_top" class="mono" href="/version/{}">{}</a> ({})</p>"#,
                    enc(&id.to_hex()),
                    esc(&number),
                    esc(&short(&id))
                );
            } else {
                let _ = write!(s, r#"<p class="error">No version: {}"#, esc(&end.reason));
                if let Some(run) = end.run {
                    let _ = write!(
                        s,
                        r#" · <a target="_top" href="/run/{}/log">log</a>"#,
                        enc(&run.to_hex())
                    );
                }
                s.push_str("</p>");
            }
        }
        (None, LiveState::Lost) => s.push_str(
            r#"<p class="error">Its process is gone and it never said how it ended (killed?). No version was made.</p>"#,
        ),
        _ => {}
    }
    let last: Vec<(String, String)> = v
        .curves
        .iter()
        .filter_map(|(name, pts)| {
            let (step, value) = pts.last()?;
            Some((
                name.clone(),
                format!(
                    "{} at step {}",
                    value.map_or_else(|| "NaN".into(), num),
                    num(*step)
                ),
            ))
        })
        .collect();
    if !last.is_empty() {
        s.push_str(&kv_table(&last, ["metric", "last value"]));
        // An ended run's curves are on its version's page.
        if v.state != LiveState::Ended {
            let curves = vec![(r.id.clone(), v.curves.clone())];
            s.push_str(&version::curve_charts(&curves, 460));
        }
    } else if v.state == LiveState::Running {
        s.push_str(r#"<p class="muted">No curve point logged yet.</p>"#);
    }
    for w in &v.warnings {
        let _ = write!(s, r#"<p class="muted">{}</p>"#, esc(w));
    }
    s.push_str("</div>");
    s
}

/// The frame: every live run of `model`, reloading itself while one is running.
pub fn live(repo: &Repo, name: &str) -> Result<String> {
    // A model's first run has no version yet: its live runs make it known here.
    let model = ModelName::new(name)?;
    let runs = live_runs(repo, &model)?;
    if runs.is_empty() {
        repo.require_model(&model)?;
    }
    let running = runs.iter().any(|v| v.state == LiveState::Running);
    let mut body = String::new();
    if runs.is_empty() {
        body.push_str(r#"<p class="muted">No run in progress.</p>"#);
    }
    for v in &runs {
        body.push_str(&run_card(repo, v));
    }
    let refresh = if running {
        format!(r#"<meta http-equiv="refresh" content="{REFRESH_SECONDS}">"#)
    } else {
        String::new()
    };
    Ok(format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8">{refresh}<title>Runs in progress · {} · mreg</title><link rel="stylesheet" href="/static/style.css"></head>
<body class="frame">{body}</body></html>
"#,
        esc(model.as_str())
    ))
}

/// The model page's section: the frame, when a run is in progress or just ended.
pub fn section(repo: &Repo, model: &ModelName) -> Result<String> {
    let runs = live_runs(repo, model)?;
    if runs.is_empty() {
        return Ok(String::new());
    }
    let charts = runs
        .iter()
        .filter(|v| v.state != LiveState::Ended)
        .map(|v| v.curves.len().div_ceil(2).max(1))
        .sum::<usize>();
    let tables = runs.iter().map(|v| v.curves.len()).sum::<usize>();
    let height = 110 * runs.len() + 300 * charts + 32 * tables;
    let title = if runs.iter().any(|v| v.state == LiveState::Running) {
        "Training now"
    } else {
        "Just finished"
    };
    Ok(format!(
        r#"<h2>{title}</h2><p class="muted">Redrawn every {REFRESH_SECONDS} s while a run trains (<code>mreg run</code> or Python <code>repo.run()</code>); <a href="/api/live/{}">JSON</a></p><iframe class="live" src="/model/{}/live" title="runs in progress" height="{height}"></iframe>"#,
        enc(model.as_str()),
        enc(model.as_str())
    ))
}

/// The overview's section: every run in progress, whichever model (a model's first run has
/// no model page yet; its link opens the frame itself).
pub fn overview(repo: &Repo) -> Result<String> {
    let runs = crate::ops::live::list(repo, None, std::time::SystemTime::now())?;
    if runs.is_empty() {
        return Ok(String::new());
    }
    let rows: Vec<(Vec<String>, bool)> = runs
        .iter()
        .map(|v| {
            let m = &v.record.model;
            let href = if repo.require_model(m).is_ok() {
                format!("/model/{}", enc(m.as_str()))
            } else {
                format!("/model/{}/live", enc(m.as_str()))
            };
            (
                vec![
                    format!(r#"<a href="{href}">{}</a>"#, esc(m.as_str())),
                    match v.state {
                        LiveState::Running => chip("training", "candidate"),
                        LiveState::Lost => chip("lost", "rollback"),
                        LiveState::Ended => chip("ended", "archived"),
                    },
                    format!("<code>{}</code>", esc(&v.record.command.join(" "))),
                    esc(&v.record.author),
                    duration(v.seconds),
                ],
                false,
            )
        })
        .collect();
    Ok(format!(
        "<h2>Training now</h2>{}",
        table(&["model", "state", "command", "who", "time"], &rows, "live")
    ))
}
