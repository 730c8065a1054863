//! `mreg ui --write` (actions from the browser, behind a token, refused cross-origin and on
//! a stale `expect`) and live runs on the dashboard, over real HTTP against the real
//! binary. The browser test (tests/browser/) clicks the same forms in Chromium.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::*;
use crate::ui::{get, send, start_with, Ui};

fn token(ui: &Ui) -> String {
    ui.line
        .split("?token=")
        .nth(1)
        .and_then(|t| t.split_whitespace().next())
        .unwrap_or_else(|| panic!("no token in {:?}", ui.line))
        .to_string()
}

/// POST a JSON action with a token (None: without) and more headers.
fn act(
    ui: &Ui,
    action: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut h: Vec<(&str, &str)> = vec![("Content-Type", "application/json")];
    if let Some(a) = &auth {
        h.push(("Authorization", a));
    }
    h.extend_from_slice(headers);
    let (status, _, body) = send(
        ui,
        "POST",
        &format!("/api/models/m/{action}"),
        &h,
        body.to_string().as_bytes(),
    );
    let v = serde_json::from_str(&body).unwrap_or_else(|_| panic!("not JSON: {body}"));
    (status, v)
}

#[test]
fn ui_write_actions_need_the_token_refuse_other_origins_and_stale_expects() {
    let r = TestRepo::new();
    let ids = versions(&r, 4);
    r.mreg(&["alias", "set", "m", "production", &ids[0]]).ok();
    let ui = start_with(&r, &["--write"]);
    let t = token(&ui);
    assert_eq!(t.len(), 64, "{}", ui.line);
    let promote = serde_json::json!({"rev": ids[1], "message": "beats prod", "expect": ids[0]});
    let before = r.snapshot();
    // Refused before anything moves: no token, a wrong one, another origin, a cross-site
    // browser request, a body that is not JSON or the form.
    let own = format!("http://{}", ui.addr);
    for (why, tok, headers, status) in [
        ("no token", None, vec![], 403),
        ("wrong token", Some("0".repeat(64)), vec![], 403),
        ("short token", Some(t[..10].to_string()), vec![], 403),
        (
            "another origin",
            Some(t.clone()),
            vec![("Origin", "http://evil.example")],
            403,
        ),
        (
            "opaque origin",
            Some(t.clone()),
            vec![("Origin", "null")],
            403,
        ),
        (
            "another port",
            Some(t.clone()),
            vec![("Origin", "http://127.0.0.1:1")],
            403,
        ),
        (
            "cross-site fetch",
            Some(t.clone()),
            vec![("Sec-Fetch-Site", "cross-site")],
            403,
        ),
    ] {
        let (s, v) = act(&ui, "promote", tok.as_deref(), &headers, promote.clone());
        assert_eq!(s, status, "{why}: {v}");
        let code = match why {
            "no token" => "NoToken",
            "wrong token" | "short token" => "WrongToken",
            _ => "CrossOrigin",
        };
        assert_eq!(v["code"], code, "{why}: {v}");
        assert!(
            v["error"].as_str().is_some() && v["hint"].as_str().is_some(),
            "{v}"
        );
    }
    let (s, _, body) = send(
        &ui,
        "POST",
        "/api/models/m/promote",
        &[
            ("Authorization", &format!("Bearer {t}")),
            ("Content-Type", "text/plain"),
        ],
        b"x",
    );
    assert_eq!(s, 415, "{body}");
    assert_eq!(r.snapshot(), before, "a refused action changed the store");

    // The real thing, from the page's own origin: production moves, recorded with the
    // author of whoever runs `mreg ui` and the typed message.
    let (s, v) = act(
        &ui,
        "promote",
        Some(&t),
        &[("Origin", &own)],
        promote.clone(),
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["production"], ids[1]);
    assert_eq!(v["rollback"], ids[0]);
    assert_eq!(production(&r), ids[1]);
    let h = r.mreg(&["history", "m", "--json"]).ok().json();
    let last = h
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "promote")
        .unwrap();
    assert_eq!(last["author"], "Test <test@example.com>");
    assert_eq!(last["message"], "beats prod");

    // A page drawn before that move still says production is ids[0]: refused, 409.
    let stale = serde_json::json!({"rev": ids[2], "message": "stale page", "expect": ids[0]});
    let (s, v) = act(&ui, "promote", Some(&t), &[], stale);
    assert_eq!(s, 409, "{v}");
    assert_eq!(v["code"], "AliasMoved");
    assert_eq!(production(&r), ids[1]);
    let (s, v) = act(
        &ui,
        "rollback",
        Some(&t),
        &[],
        serde_json::json!({"message": "stale", "expect": ids[0]}),
    );
    assert_eq!(s, 409, "{v}");
    let (s, v) = act(
        &ui,
        "rollback",
        Some(&t),
        &[],
        serde_json::json!({"message": "regression", "expect": ids[1]}),
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!(production(&r), ids[0]);

    // Aliases: set, a stale removal refused, the right one done.
    let (s, v) = act(
        &ui,
        "alias",
        Some(&t),
        &[],
        serde_json::json!({"alias": "staging", "rev": ids[3], "message": "to staging"}),
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["id"], ids[3]);
    let (s, v) = act(
        &ui,
        "alias",
        Some(&t),
        &[],
        serde_json::json!({"alias": "staging", "remove": true, "expect": ids[2], "message": "x"}),
    );
    assert_eq!(s, 409, "{v}");
    let (s, v) = act(
        &ui,
        "alias",
        Some(&t),
        &[],
        serde_json::json!({"alias": "staging", "remove": true, "expect": ids[3], "message": "done"}),
    );
    assert_eq!(s, 200, "{v}");
    r.mreg(&["show", "m@staging"]).fails();

    // A label and an evaluation, seen by show.
    let (s, v) = act(
        &ui,
        "label",
        Some(&t),
        &[],
        serde_json::json!({"rev": ids[2], "label": "reviewed", "message": "looked at it"}),
    );
    assert_eq!(s, 200, "{v}");
    let (s, v) = act(
        &ui,
        "eval",
        Some(&t),
        &[],
        serde_json::json!({"rev": ids[2], "dataset": "holdout", "metrics": {"acc": 0.93}, "message": "by hand"}),
    );
    assert_eq!(s, 200, "{v}");
    let shown = r.mreg(&["show", &ids[2], "--json"]).ok().json();
    assert!(shown.to_string().contains("reviewed"), "{shown}");
    assert!(shown.to_string().contains("holdout"), "{shown}");

    // Bad requests: a clear 4xx, nothing moved.
    let before = r.snapshot();
    for (action, body, status) in [
        (
            "promote",
            serde_json::json!({"rev": "m~99", "message": ""}),
            404,
        ),
        ("promote", serde_json::json!({"bogus": 1}), 400),
        (
            "eval",
            serde_json::json!({"rev": ids[2], "dataset": "d", "metrics": {}}),
            400,
        ),
        (
            "label",
            serde_json::json!({"rev": ids[2], "label": "bad label!"}),
            400,
        ),
        ("alias", serde_json::json!({"rev": ids[2]}), 400),
        ("archive", serde_json::json!({}), 404),
    ] {
        let (s, v) = act(&ui, action, Some(&t), &[], body);
        assert_eq!(s, status, "{action}: {v}");
    }
    let (s, _, _) = send(
        &ui,
        "POST",
        "/api/models/nosuch/promote",
        &[
            ("Authorization", &format!("Bearer {t}")),
            ("Content-Type", "application/json"),
        ],
        b"{}",
    );
    assert_eq!(s, 404);
    assert_eq!(r.snapshot(), before);
}

#[test]
fn without_write_every_post_is_405_and_write_is_loopback_only() {
    let r = TestRepo::new();
    let ids = versions(&r, 2);
    let ui = start_with(&r, &[]);
    let (s, _, body) = send(
        &ui,
        "POST",
        "/api/models/m/promote",
        &[
            ("Authorization", "Bearer x"),
            ("Content-Type", "application/json"),
        ],
        serde_json::json!({"rev": ids[1]}).to_string().as_bytes(),
    );
    assert_eq!(s, 405, "{body}");
    assert!(body.contains("--write"), "{body}");
    let (_, page) = get(&ui, "/version/m");
    assert!(
        !page.contains("Decide"),
        "a read-only dashboard offers no action"
    );
    let e = r.mreg(&["ui", "--write", "--host", "0.0.0.0"]).fails();
    assert!(e.stderr.contains("loopback"), "{}", e.stderr);
}

#[test]
fn ui_write_pages_carry_the_forms_once_the_token_is_shown() {
    let r = TestRepo::new();
    let ids = versions(&r, 3);
    r.mreg(&["alias", "set", "m", "production", &ids[0]]).ok();
    let ui = start_with(&r, &["--write"]);
    let t = token(&ui);
    // Without the token: no form, and a word on where to find it.
    let (s, page) = get(&ui, "/version/m");
    assert_eq!(s, 200);
    assert!(page.contains("has not shown its token"), "{page}");
    assert!(!page.contains("form class=\"action\""));
    // The printed URL: the page, and a strict same-site cookie for the next ones.
    let (s, head, _) = send(&ui, "GET", &format!("/?token={t}"), &[], b"");
    assert_eq!(s, 200);
    let cookie = head
        .lines()
        .find_map(|l| l.strip_prefix("Set-Cookie: "))
        .unwrap_or_else(|| panic!("no cookie in {head}"));
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let pair = cookie.split(';').next().unwrap().to_string();
    let (_, _, page) = send(&ui, "GET", "/version/m", &[("Cookie", &pair)], b"");
    assert!(page.contains("Promote to production"), "{page}");
    assert!(
        page.contains(&format!("name=\"expect\" value=\"{}\"", ids[0])),
        "{page}"
    );
    assert!(page.contains(&format!("name=\"token\" value=\"{t}\"")));
    // The token never leaks into the page's links.
    let (_, _, model) = send(&ui, "GET", &format!("/model/m?token={t}&page=1"), &[], b"");
    assert!(
        !model.contains(&format!("token={t}")),
        "the token leaked into a link"
    );
    assert!(
        model.contains("Roll back") || model.contains("Remove"),
        "{model}"
    );
    // A wrong token in the URL gives no cookie and no forms.
    let (_, head, page) = send(&ui, "GET", "/version/m?token=nope", &[], b"");
    assert!(!head.contains("Set-Cookie"));
    assert!(!page.contains("form class=\"action\""));
    // The page's own form: posted as a browser would, answered with a redirect to the
    // history, which shows the move.
    let own = format!("http://{}", ui.addr);
    let form = format!(
        "token={t}&rev={}&expect={}&message=from+the+page",
        ids[2], ids[0]
    );
    let (s, head, _) = send(
        &ui,
        "POST",
        "/api/models/m/promote",
        &[
            ("Origin", &own),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        form.as_bytes(),
    );
    assert_eq!(s, 303, "{head}");
    assert!(head.contains("Location: /history/m"), "{head}");
    assert_eq!(production(&r), ids[2]);
    let (_, hist) = get(&ui, "/history/m");
    assert!(hist.contains("from the page"), "{hist}");
    // The same form again is stale now: a 409 page that says so.
    let (s, _, page) = send(
        &ui,
        "POST",
        "/api/models/m/promote",
        &[
            ("Origin", &own),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        form.as_bytes(),
    );
    assert_eq!(s, 409);
    assert!(page.contains("has moved"), "{page}");
}

/// Wait until `f` holds (polling), or fail after `secs`.
fn wait_for(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A job that logs three steps, then waits for the file `go` before writing its output
/// (and fails if `fail` exists): the test decides when it ends.
const JOB: &str = r#"#!/bin/sh
for i in 1 2 3; do echo "{\"step\": $i, \"loss\": 0.$((10-i))}" >> hist.jsonl; done
n=0; while [ ! -e go ] && [ $n -lt 600 ]; do sleep 0.1; n=$((n+1)); done
[ -e fail ] && exit 3
echo done > out.bin
"#;

fn live_json(ui: &Ui) -> serde_json::Value {
    let (s, body) = get(ui, "/api/live/m");
    assert_eq!(s, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

#[test]
fn a_run_in_progress_shows_live_with_its_curves_and_becomes_its_version() {
    let r = TestRepo::new();
    versions(&r, 1);
    r.write("job.sh", JOB.as_bytes());
    let ui = start_with(&r, &[]);
    let run = || {
        let _ = std::fs::remove_file(r.path().join("go"));
        let _ = std::fs::remove_file(r.path().join("hist.jsonl"));
        r.command(&[
            "run",
            "--model",
            "m",
            "--metrics-history",
            "hist.jsonl",
            "--outputs",
            "out.bin",
            "--",
            "sh",
            "job.sh",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
    };
    let mut child = run();
    wait_for(60, "three live points", || {
        let v = live_json(&ui);
        v[0]["state"] == "running"
            && v[0]["curves"]["loss"]
                .as_array()
                .is_some_and(|a| a.len() == 3)
    });
    // The model page embeds the frame; the frame redraws itself and shows the curve.
    let (_, page) = get(&ui, "/model/m");
    assert!(
        page.contains("Training now") && page.contains("/model/m/live"),
        "{page}"
    );
    let (_, frame) = get(&ui, "/model/m/live");
    assert!(frame.contains("http-equiv=\"refresh\""), "{frame}");
    assert!(frame.contains("0.7 at step 3"), "{frame}");
    assert!(frame.contains("<svg"), "{frame}");
    let (_, overview) = get(&ui, "/");
    assert!(overview.contains("Training now"), "{overview}");
    // It ends: the frame links the version it became and stops redrawing.
    r.write("go", b"");
    assert!(child.wait().unwrap().success());
    let head = r.mreg(&["show", "m", "--json"]).ok().json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let v = live_json(&ui);
    assert_eq!(v[0]["state"], "ended");
    assert_eq!(v[0]["ended"]["version"], head.as_str());
    let (_, frame) = get(&ui, "/model/m/live");
    assert!(frame.contains(&format!("/version/{head}")), "{frame}");
    assert!(!frame.contains("http-equiv=\"refresh\""), "{frame}");

    // A failed run: no version, the reason and its log.
    r.write("fail", b"");
    let mut child = run();
    wait_for(60, "the second run", || {
        live_json(&ui)[0]["state"] == "running"
    });
    r.write("go", b"");
    assert!(!child.wait().unwrap().success());
    let v = live_json(&ui);
    assert_eq!(v[0]["ended"]["status"], "failed", "{v}");
    let (_, frame) = get(&ui, "/model/m/live");
    assert!(
        frame.contains("No version: exit code 3") && frame.contains("/log"),
        "{frame}"
    );

    // mreg killed with -9 mid-run: it never says how the run ended, and is shown as lost.
    std::fs::remove_file(r.path().join("fail")).unwrap();
    let mut child = run();
    wait_for(60, "the third run", || {
        live_json(&ui)[0]["state"] == "running"
    });
    child.kill().unwrap();
    child.wait().unwrap();
    wait_for(10, "a lost run", || live_json(&ui)[0]["state"] == "lost");
    r.write("go", b""); // the orphaned job ends too
    let (_, frame) = get(&ui, "/model/m/live");
    assert!(frame.contains("lost"), "{frame}");
}
