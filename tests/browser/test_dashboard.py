"""`mreg ui` in a real headless Chromium (Debian's package, driven by Playwright).

A store with several models, versions, alias moves, evaluations, training curves, an
archived and a pruned version and a hostile commit message is built with the real `mreg`
binary; every page is loaded, its charts and tables are checked, console errors and
requests to other hosts fail the test, and a screenshot of each page is saved
(SCREENSHOTS=DIR, default a temporary directory; docs/screenshots/ holds the committed ones).

Run: tests/browser/run (installs nothing; .ci/run installs chromium and playwright).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[2]
MREG = os.environ.get("MREG_BIN") or str(ROOT / "target" / "debug" / "mreg")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
HOSTILE = "<script>alert('pwned')</script> & \"quotes\""


def mreg(cwd: Path, *args: str, env: dict | None = None) -> str:
    e = dict(os.environ, MREG_AUTHOR="Ada <ada@example.com>")
    e.update(env or {})
    p = subprocess.run([MREG, *args], cwd=cwd, capture_output=True, text=True, env=e)
    assert p.returncode == 0, f"mreg {args}: {p.stderr}"
    return p.stdout.strip()


def safetensors(path: Path, i: int) -> None:
    """A small safetensors file (written by hand: no numpy here): `w` changes with `i`,
    `b` never does, so diffs go down to tensors."""
    import struct

    w = struct.pack("<64f", *[(k * 0.01) + i * 0.001 for k in range(64)])
    b = struct.pack("<8f", *[0.5] * 8)
    header = json.dumps({"b": {"dtype": "F32", "shape": [8], "data_offsets": [0, 32]},
                         "w": {"dtype": "F32", "shape": [8, 8], "data_offsets": [32, 288]}}).encode()
    header += b" " * (-len(header) % 8)
    path.write_bytes(struct.pack("<Q", len(header)) + header + b + w)


def build_store(d: Path) -> None:
    mreg(d, "init", "-q")
    for i in range(12):
        t = f"2026-01-{i + 1:02d}T10:00:00Z"
        msg = HOSTILE if i == 5 else f"epoch sweep {i}"
        if i == 0:
            safetensors(d / "model.safetensors", 100)
            mreg(d, "commit", "-q", "model.safetensors", "--model", "clf")
            mreg(d, "policy", "clf", "--metric", "acc", "--max")
        safetensors(d / "model.safetensors", i)
        mreg(d, "commit", "-q", "model.safetensors", "--model", "clf", "-m", msg,
             "--param", f"lr={0.1 / (i + 1):.4f}", "--param", "opt=adam",
             "--metric", f"acc={0.70 + 0.02 * i - (0.05 if i == 7 else 0):.3f}",
             "--metric", f"loss={1.0 - 0.06 * i:.3f}", env={"MREG_NOW": t})
        if i in (3, 6, 9):
            mreg(d, "promote", "clf", "clf", "-m", f"release {i}", env={"MREG_NOW": t})
        if i % 3 == 0:
            mreg(d, "eval", "add", "clf", "--dataset", "holdout", "--metric", f"f1={0.6 + 0.03 * i:.3f}",
                 env={"MREG_NOW": t})
    mreg(d, "rollback", "clf", "-m", "latency regression", env={"MREG_NOW": "2026-01-13T09:00:00Z"})
    mreg(d, "tag", "clf-v1", "clf@production")
    mreg(d, "archive", "clf~10")
    mreg(d, "prune", "clf~11", "--yes")
    # A run with per-step curves (mreg run, --metrics-history).
    script = d / "train.py"
    script.write_text(
        "import json, math, sys\n"
        "k = int(sys.argv[1])\n"
        "with open('hist.jsonl', 'w') as f:\n"
        "    for s in range(40):\n"
        "        f.write(json.dumps({'step': s, 'loss': math.exp(-s / (6 + 4 * k)), 'val_acc': 0.9 - 0.05 * k - 0.5 * math.exp(-s / 8)}) + '\\n')\n"
        "        print(f'epoch {s} loss {math.exp(-s / (6 + 4 * k)):.4f}')\n"
        "open('ranker.bin', 'wb').write(b'r' * (5000 + k))\n"
        "cells = ''.join(f'<rect x=\"{20 + 60 * (i % 3)}\" y=\"{20 + 60 * (i // 3)}\" width=\"58\" height=\"58\" fill=\"#1f5fbf\" fill-opacity=\"{0.15 + 0.25 * (i % 4)}\"/>' for i in range(9))\n"
        "open('confusion.svg', 'w').write(f'<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"220\" height=\"220\">{cells}<script>alert(1)</script></svg>')\n"
        "json.dump({'val_acc': round(0.9 - 0.05 * k, 3)}, open('metrics.json', 'w'))\n"
    )
    for k in range(3):
        mreg(d, "run", "-q", "--model", "ranker", "--outputs", "ranker.bin", "--outputs", "confusion.svg",
             "--metrics-file", "metrics.json",
             "--metrics-history", "hist.jsonl", "--param", f"depth={k + 3}", "-m", f"ranker {k}",
             "--", "python3", "train.py", str(k))


@pytest.fixture(scope="module")
def server():
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        build_store(d)
        p = subprocess.Popen([MREG, "ui", "--port", "0"], cwd=d, stderr=subprocess.PIPE, text=True)
        try:
            line = p.stderr.readline()
            m = re.search(r"http://127\.0\.0\.1:\d+/", line)
            assert m, line
            yield m.group(0).rstrip("/"), d
        finally:
            p.kill()
            p.wait()


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as pw:
        b = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        )
        yield b
        b.close()


SHOTS = Path(os.environ.get("SCREENSHOTS") or tempfile.mkdtemp(prefix="mreg-shots-"))

PAGES = [
    ("models", "/", {"table.models tbody tr": 2, "svg.spark": 1}),
    ("model", "/model/clf", {"svg.chart polyline": 1, "svg.chart circle": 10, "svg.chart .marker": 3,
                             "table.versions tbody tr": 12, "table.timeline tbody tr": 4}),
    ("model-filtered", "/model/clf?where=metrics.acc+%3E%3D+0.8&col=id&col=metrics.acc&col=params.lr",
     {"table.versions tbody tr": 5}),
    ("version", "/version/ranker", {"svg.chart polyline": 2, "svg.graph .node": 2, "table.kv tbody tr": 2}),
    ("version-clf", "/version/clf@production", {"svg.graph .node": 3, "table.evals tbody tr": 1}),
    ("compare", "/compare?rev=ranker&rev=ranker~1&rev=ranker~2", {"table.compare tbody tr": 3,
                                                                   "svg.chart polyline": 6}),
    ("compare-diff", "/compare?rev=clf&rev=clf~1&diff=1", {"table.compare tbody tr.diff": 2,
                                                             "table.filediff tbody tr": 1,
                                                             "table.tensors tbody tr": 1}),
    ("history", "/history/clf?alias=production", {"table.history tbody tr": 4}),
]


@pytest.mark.parametrize("name,path,expect", PAGES, ids=[p[0] for p in PAGES])
def test_page_renders_with_charts_and_tables_and_no_errors(server, browser, name, path, expect):
    base, _ = server
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors, foreign = [], []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("dialog", lambda d: errors.append(f"dialog: {d.message}"))
    page.on("request", lambda r: foreign.append(r.url) if not r.url.startswith(base) else None)
    resp = page.goto(base + path)
    assert resp is not None and resp.status == 200
    for selector, at_least in expect.items():
        n = page.locator(selector).count()
        assert n >= at_least, f"{name}: {selector}: {n} < {at_least}"
    # Hover values: every chart point carries its value.
    for t in page.locator("svg.chart circle title").all()[:3]:
        assert re.search(r"\d", t.text_content() or "")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    assert not errors, errors
    assert not foreign, foreign
    page.close()


def test_hostile_message_renders_as_text(server, browser):
    base, _ = server
    page = browser.new_page()
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(base + "/model/clf?col=id&col=message")
    assert page.get_by_text("<script>alert('pwned')</script>", exact=False).count() >= 1
    assert page.locator("main script").count() == 0
    assert not dialogs
    page.close()


def test_unknown_revision_and_traversal_get_error_pages(server, browser):
    base, _ = server
    page = browser.new_page()
    r = page.goto(base + "/version/nosuch@production")
    assert r.status == 404 and "hint" in page.content()
    r = page.goto(base + "/version/..%2F..%2Fconfig.yaml")
    assert r.status == 400
    page.close()


def test_json_endpoints_match_the_cli(server):
    import urllib.request

    base, d = server
    with urllib.request.urlopen(base + "/api/version/clf@production") as r:
        api = json.load(r)
    cli = json.loads(mreg(d, "show", "clf@production", "--json"))
    assert api == cli


def test_the_version_page_of_a_run_shows_its_log_and_its_image(server, browser):
    base, _ = server
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    dialogs, errors = [], []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(base + "/version/ranker")
    assert page.get_by_text("epoch 39 loss", exact=False).count() >= 1
    img = page.locator("img[src*='confusion.svg']").first
    img.wait_for()
    assert page.evaluate("i => i.complete && i.naturalWidth > 0", img.element_handle())
    page.screenshot(path=str(SHOTS / "version-run.png"), full_page=True)
    # The image opened on its own: shown, its script inert.
    page.goto(img.get_attribute("src") if img.get_attribute("src").startswith("http") else base + img.get_attribute("src"))
    assert not dialogs and not errors, (dialogs, errors)
    page.close()


def start_ui(d: Path, *args: str) -> tuple[subprocess.Popen, str]:
    p = subprocess.Popen([MREG, "ui", "--port", "0", *args], cwd=d, stderr=subprocess.PIPE, text=True,
                         env=dict(os.environ, MREG_AUTHOR="Grace <grace@example.com>"))
    line = p.stderr.readline()
    m = re.search(r"http://127\.0\.0\.1:\d+/\S*", line)
    assert m, line
    return p, m.group(0)


def test_a_run_in_progress_is_live_on_its_model_page_then_links_its_version(server, browser):
    base, d = server
    job = d / "slow.py"
    job.write_text(
        "import json, os, time\n"
        "with open('live.jsonl', 'w') as f:\n"
        "    for s in range(25):\n"
        "        f.write(json.dumps({'step': s, 'loss': 1 / (s + 1)}) + '\\n')\n"
        "while not os.path.exists('go'):\n"
        "    time.sleep(0.1)\n"
        "open('ranker.bin', 'w').write('trained')\n"
    )
    (d / "live.jsonl").unlink(missing_ok=True)
    e = dict(os.environ, MREG_AUTHOR="Ada <ada@example.com>")
    run = subprocess.Popen([MREG, "run", "-q", "--model", "ranker", "--outputs", "ranker.bin",
                            "--metrics-history", "live.jsonl", "-m", "live run", "--", "python3", "slow.py"],
                           cwd=d, env=e, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        import time
        for _ in range(100):
            page.goto(base + "/model/ranker")
            if page.locator("iframe.live").count():
                break
            time.sleep(0.2)
        frame = page.frame_locator("iframe.live")
        frame.locator(".live-run").first.locator("svg.chart polyline").first.wait_for(timeout=20000)
        assert frame.get_by_text("training").count() >= 1
        page.screenshot(path=str(SHOTS / "model-live.png"), full_page=False)
        (d / "go").write_text("")
        assert run.wait(timeout=60) == 0
        # The frame redraws itself (no reload of the page around it) and links the version.
        head = json.loads(mreg(d, "show", "ranker", "--json"))["id"]
        frame.locator(f"p.became a[href='/version/{head}']").wait_for(timeout=20000)
        page.close()
    finally:
        run.kill()
        (d / "go").unlink(missing_ok=True)


def test_promote_with_a_click_using_the_token_url(server, browser):
    _, d = server
    ui, url = start_ui(d, "--write")
    try:
        base = url.split("/?")[0]
        ctx = browser.new_context(viewport={"width": 1280, "height": 900})
        page = ctx.new_page()
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(url)  # the printed URL: the token is kept for this server's pages
        before = json.loads(mreg(d, "show", "clf@production", "--json"))["id"]
        target = json.loads(mreg(d, "show", "clf~2", "--json"))["id"]
        # A second page, drawn now and submitted after the promotion: stale.
        stale = ctx.new_page()
        stale.goto(base + "/version/" + json.loads(mreg(d, "show", "clf~3", "--json"))["id"])
        stale.get_by_text("Promote to production…").click()
        stale.locator("#promote input[name=message]").fill("from a stale page")
        page.goto(base + "/version/" + target)
        page.get_by_text("Promote to production…").click()
        page.locator("#promote input[name=message]").fill("promoted from the dashboard")
        page.screenshot(path=str(SHOTS / "promote-dialog.png"), full_page=False)
        page.locator("#promote button[type=submit]").click()
        page.wait_for_load_state()
        assert "/history/clf" in page.url, (page.url, page.content()[:3000])
        assert page.get_by_text("promoted from the dashboard").count() >= 1
        after = json.loads(mreg(d, "show", "clf@production", "--json"))["id"]
        assert after == target and after != before
        hist = json.loads(mreg(d, "history", "clf", "--json"))
        mine = [h for h in hist if h.get("message") == "promoted from the dashboard"]
        assert mine and mine[0]["author"] == "Grace <grace@example.com>", mine
        with stale.expect_navigation() as nav:
            stale.locator("#promote button[type=submit]").click()
        assert nav.value.status == 409
        assert stale.get_by_text("has moved", exact=False).count() >= 1
        assert json.loads(mreg(d, "show", "clf@production", "--json"))["id"] == target
        assert not errors, errors
        ctx.close()
    finally:
        ui.kill()
        ui.wait()
