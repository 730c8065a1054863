"""The run context, in real training scripts run by a real interpreter inside a real git
repository, and interoperability with the CLI (same store, same ids)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import mreg
from conftest import cli, write_model

TRAIN = textwrap.dedent(
    """
    import sys
    import numpy as np
    from safetensors.numpy import save_file
    import mreg

    fail = len(sys.argv) > 1 and sys.argv[1] == "--fail"
    repo = mreg.Repo()
    with repo.run(model="clf", params={"lr": 0.05, "epochs": 4}, message="nightly") as run:
        rng = np.random.default_rng(0)
        w = rng.standard_normal((32, 8)).astype(np.float32)
        for epoch in range(4):
            run.log_metric("loss", 1.0 / (epoch + 1), step=epoch)
            run.log_metrics({"acc": 0.5 + epoch / 10}, step=epoch)
            if fail and epoch == 2:
                raise RuntimeError("diverged")
        run.log_value("note", "fine")
        save_file({"w": w}, "model.safetensors")
        run.commit("model.safetensors")
    print("COMMITTED", run.result.id if run.result else "nothing")
    """
)


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture
def project(work: Path) -> Path:
    """A git repository with a committed training script and a store."""
    git(work, "init", "-q", "-b", "main")
    (work / "train.py").write_text(TRAIN)
    (work / ".gitignore").write_text(".modelreg/\nmodel.safetensors\n")
    git(work, "add", ".")
    git(work, "commit", "-q", "-m", "training script")
    mreg.init(work)
    return work


def python(cwd: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, env=e)


def test_a_run_records_what_mreg_run_records(project: Path) -> None:
    # An uncommitted change to the code: the patch must be recorded.
    (project / "train.py").write_text(TRAIN + "# tuned\n")
    p = python(project, "train.py")
    assert p.returncode == 0, p.stderr
    cid = p.stdout.split()[-1]
    c = mreg.Repo(project).show("clf")
    assert c.id == cid
    assert c.params == {"lr": 0.05, "epochs": 4}
    assert c.metrics == {"loss": 0.25, "acc": 0.8}, "the last value of each metric"
    assert c.curves["loss"] == [[0.0, 1.0], [1.0, 0.5], [2.0, 1.0 / 3], [3.0, 0.25]]
    assert c.git is not None and c.git.present and c.git.dirty and c.git.patch
    assert c.git.modified == ["train.py"] and c.git.branch == "main"
    run = c.raw["recipe"]["run"] if "run" in c.raw["recipe"] else c.raw["recipe"]
    assert os.path.realpath(run["command"][0]) == os.path.realpath(sys.executable)
    assert run["command"][1:] == ["train.py"]
    assert run["outputs"] == ["model.safetensors"]
    assert run["resources"]["wall_seconds"] > 0 and run["resources"]["peak_rss_bytes"] > 1 << 20
    assert run["python"]["version"] == ".".join(map(str, sys.version_info[:3]))
    assert "numpy" in run["python"]["packages"] and "safetensors" in run["python"]["packages"]
    assert run["recorded"] == {"note": "fine"}
    assert set(run["curves"]["summary"]) == {"loss", "acc"}
    # The CLI sees the same version, its curves and its patch.
    shown = json.loads(cli(project, "show", "clf", "--json").stdout)
    assert shown["id"] == cid and shown["curves"] == c.curves
    patch = cli(project, "cat-object", c.git.patch).stdout
    assert "# tuned" in patch


def test_a_run_that_raises_commits_nothing_and_is_kept_as_a_failed_run(project: Path) -> None:
    p = python(project, "train.py", "--fail")
    assert p.returncode != 0 and "diverged" in p.stderr
    repo = mreg.Repo(project)
    assert repo.log() == []
    assert cli(project, "log", "--json").stdout.strip() == "[]"
    # Issue 24: the run is kept, with why, what ran and its params; not a version.
    (r,) = repo.runs("clf")
    assert r.status == "failed" and r.version is None
    assert r.reason == "RuntimeError: diverged"
    assert r.command[-2:] == ["train.py", "--fail"]
    info = repo.run_info(r.id[:10])
    assert info.record["params"] == {"lr": 0.05, "epochs": 4}
    assert info.record["recipe"]["resources"]["peak_rss_bytes"] > 0
    listed = json.loads(cli(project, "runs", "clf", "--failed", "--json").stdout)
    assert [x["id"] for x in listed] == [r.id]


def test_an_interrupted_block_is_kept_as_interrupted_and_successful_runs_are_listed(
    repo: mreg.Repo, work: Path
) -> None:
    with pytest.raises(KeyboardInterrupt):
        with repo.run(model="m", params={"lr": 1}, labels=["sweep"]) as run:
            raise KeyboardInterrupt()
    assert run.failed_run is not None
    f = write_model(work / "m.safetensors", seed=3)
    with repo.run(model="m") as ok:
        print("epoch 1: loss 0.25")
        print("warming up", file=sys.stderr)
        ok.log_metric("acc", 0.5)
        ok.commit(f)
    runs = repo.runs()
    assert [r.status for r in runs] == ["succeeded", "interrupted"]
    assert runs[0].version == ok.result.id and runs[0].version_number == 1
    assert runs[1].id == run.failed_run and runs[1].reason == "KeyboardInterrupt"
    assert ok.result.version == 1
    assert repo.list(model="m")[0].version == 1
    assert repo.show("m#1").id == ok.result.id
    # What the block printed is its log, as `mreg run` keeps a job's; the process was
    # sampled (threads; GPUs through NVML, or why not).
    log = repo.run_log(ok.result.id)
    assert "epoch 1: loss 0.25" in log and "warming up" in log
    res = ok.result.raw["recipe"]["resources"]
    assert res["peak_threads"] >= 1 and ("devices" in res["gpu"] or res["gpu"]["unavailable"])
    assert sys.stdout is not None and type(sys.stdout).__name__ != "_Tee"


def test_a_bad_label_or_alias_is_refused_before_the_block_runs(repo: mreg.Repo) -> None:
    ran = []
    for kwargs in ({"labels": ["bad:label"]}, {"alias": "../x"}, {"model": "no/such"}):
        args = {"model": "m", **kwargs}
        with pytest.raises(mreg.InvalidArgumentError):
            with repo.run(**args):
                ran.append(kwargs)
    assert ran == [], "the training block ran before the refusal"
    assert repo.log() == []


def test_a_run_without_outputs_is_refused(repo: mreg.Repo) -> None:
    with pytest.raises(mreg.InvalidArgumentError):
        with repo.run(model="m") as run:
            run.log_metric("loss", 1.0)
    assert repo.log() == []
    with pytest.raises(mreg.InvalidArgumentError):
        with repo.run(model="m") as run:
            run.commit("does-not-exist.bin")


def test_diverged_values_are_recorded_not_metrics(repo: mreg.Repo, work: Path) -> None:
    write_model(work / "m.safetensors", seed=5)
    with repo.run(model="m", params={"lr": 0.1}) as run:
        run.log_param("lr", 0.05)
        run.log_param("warmup", 10)
        run.log_metric("loss", 0.5, step=0)
        run.log_metric("loss", float("nan"), step=1)
        run.log_metric("acc", 0.7)
        run.commit("m.safetensors")
    c = run.result
    assert c is not None and c.metrics == {"acc": 0.7}
    assert c.params == {"lr": 0.05, "warmup": 10}, "log_param overrides and adds"
    assert c.curves["loss"] == [[0.0, 0.5], [1.0, None]]


def test_threads_log_metrics_into_one_run(repo: mreg.Repo, work: Path) -> None:
    import threading

    write_model(work / "m.safetensors", seed=6)
    with repo.run(model="m") as run:
        def worker(n: int) -> None:
            for i in range(200):
                run.log_metric(f"w{n}", float(i), step=i)

        ts = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        run.commit("m.safetensors")
    assert run.result is not None
    for n in range(4):
        assert len(run.result.curves[f"w{n}"]) == 200


def test_replay_writes_outputs_and_commits_nothing_and_reproduce_proves_it(project: Path) -> None:
    p = python(project, "train.py", env={"MREG_REPLAY": "1"})
    assert p.returncode == 0, p.stderr
    assert "COMMITTED nothing" in p.stdout and (project / "model.safetensors").is_file()
    assert mreg.Repo(project).log() == []
    # Record for real, then let the CLI replay the recorded script from the recorded code.
    p = python(project, "train.py")
    assert p.returncode == 0, p.stderr
    r = cli(project, "reproduce", "clf", "--json", check=False)
    assert r.returncode == 0, r.stderr
    verdict = json.loads(r.stdout)
    assert verdict["verdict"] == "identical", verdict
    assert len(mreg.Repo(project).log()) == 1, "the replay committed nothing"


def test_cli_and_python_share_one_store_and_ids(repo: mreg.Repo, work: Path) -> None:
    f = write_model(work / "m.safetensors", seed=90)
    out = json.loads(cli(work, "commit", "m.safetensors", "--model", "m", "-m", "from cli",
                         "--metric", "acc=0.5", "--json").stdout)
    assert repo.show("m").id == out["id"] and repo.show("m").message == "from cli"
    write_model(f, seed=91)
    c = repo.commit(f, model="m", message="from python", metrics={"acc": 0.6})
    logged = json.loads(cli(work, "log", "m", "--json").stdout)
    assert [x["id"] for x in logged] == [c.id, out["id"]]
    assert logged[0]["parents"] == [out["id"]]
    cli(work, "promote", "m", out["id"], "-m", "cli")
    repo.promote("m", c.id, message="py")
    cli(work, "rollback", "m", "-m", "cli")
    assert repo.resolve("m@production") == out["id"]
    # The same bytes give the same id whichever client commits them.
    assert json.loads(cli(work, "show", "m", "--json").stdout) == repo.show("m").raw
    assert cli(work, "fsck").returncode == 0


def test_the_guide_example_trains_registers_promotes_and_serves(work: Path) -> None:
    """docs/PYTHON.md's end-to-end example, as written (python/examples/)."""
    examples = Path(__file__).resolve().parents[1] / "examples"
    for f in ("train.py", "promote.py", "serve.py"):
        (work / f).write_text((examples / f).read_text())
    git(work, "init", "-q", "-b", "main")
    git(work, "add", ".")
    git(work, "commit", "-q", "-m", "example")
    mreg.init(work)
    ids = []
    for lr in ("0.05", "0.5"):
        p = python(work, "train.py", "--lr", lr, "--epochs", "30")
        assert p.returncode == 0, p.stderr
        ids.append(p.stdout.strip())
    p = python(work, "promote.py")
    assert p.returncode == 0, p.stderr
    repo = mreg.Repo(work)
    best = repo.best("clf", "val_acc")
    assert repo.resolve("clf@production") == best.id
    assert best.id in ids and len(repo.show(best.id).curves["loss"]) == 30
    p = python(work, "serve.py")
    assert p.returncode == 0, p.stderr
    assert f"clf@production = {best.id[:12]}" in p.stdout


def test_a_run_block_is_live_on_the_dashboard_while_it_trains(repo: mreg.Repo, work: Path) -> None:
    """While the block runs, `mreg ui` shows it with its curves so far; when it ends, the
    live record names the version it became (and a failed block, its run record)."""
    import re
    import time
    import urllib.request

    from conftest import mreg_bin

    write_model(work / "m.safetensors", seed=11)
    repo.commit(work / "m.safetensors", model="m")  # the model page exists
    ui = subprocess.Popen([mreg_bin(), "ui", "--port", "0"], cwd=work, stderr=subprocess.PIPE, text=True)
    try:
        base = re.search(r"http://127\.0\.0\.1:\d+", ui.stderr.readline()).group(0)

        def live() -> list:
            with urllib.request.urlopen(base + "/api/live/m") as r:
                return json.load(r)

        with repo.run(model="m", message="live") as run:
            for step in range(3):
                run.log_metric("loss", 1.0 / (step + 1), step=step)
            time.sleep(1.1)  # points are flushed at most once a second
            run.log_metric("loss", 0.2, step=3)
            shown = live()
            assert shown[0]["state"] == "running", shown
            assert shown[0]["command"][0] == sys.executable
            assert [p[1] for p in shown[0]["curves"]["loss"]] == [1.0, 0.5, 1.0 / 3, 0.2]
            with urllib.request.urlopen(base + "/model/m/live") as r:
                frame = r.read().decode()
            assert 'http-equiv="refresh"' in frame and "0.2 at step 3" in frame
            write_model(work / "m.safetensors", seed=12)
            run.commit("m.safetensors")
        ended = live()[0]
        assert ended["state"] == "ended" and ended["ended"]["version"] == run.result.id

        with pytest.raises(RuntimeError):
            with repo.run(model="m") as failing:
                failing.log_metric("loss", float("nan"))
                raise RuntimeError("diverged")
        ended = live()[0]
        assert ended["ended"]["status"] == "failed" and ended["ended"]["run"] == failing.failed_run
        assert "diverged" in ended["ended"]["reason"]
    finally:
        ui.kill()
        ui.wait()
