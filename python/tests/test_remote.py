"""The Python remote calls (clone, push, fetch, pull, remotes, load(refresh=True)) against a
real S3 server on loopback: moto's server mode from the test servers' venv (.venv-s3, made by
.ci/setup-s3-servers, or MREG_S3_VENV). Without it the test fails, never skips."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest

import mreg
from conftest import REPO_ROOT, write_model


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def moto(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    venv = Path(os.environ.get("MREG_S3_VENV") or REPO_ROOT / ".venv-s3")
    server = venv / "bin" / "moto_server"
    if not server.exists():
        pytest.fail(f"{server} is missing: run .ci/setup-s3-servers (or set MREG_S3_VENV)")
    port = _free_port()
    p = subprocess.Popen(
        [str(server), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(
                    urllib.request.Request(f"{endpoint}/models", method="PUT"), timeout=2
                ).read()
                break
            except OSError:
                if time.monotonic() > deadline or p.poll() is not None:
                    raise
                time.sleep(0.2)
        for k, v in {
            "AWS_ACCESS_KEY_ID": "AKIAMREGTESTKEY",
            "AWS_SECRET_ACCESS_KEY": "mreg-test-secret-key",
            "AWS_REGION": "us-east-1",
        }.items():
            monkeypatch.setenv(k, v)
        yield endpoint
    finally:
        p.terminate()
        p.wait(timeout=10)


def test_clone_push_pull_and_refresh_against_a_real_s3_server(
    repo: mreg.Repo, work: Path, moto: str
) -> None:
    f = write_model(work / "m.safetensors", seed=1)
    v1 = repo.commit(f, model="m")
    repo.promote("m", v1.id, message="first")
    url = "s3://models/team"
    subprocess.run(
        [os.environ.get("MREG_BIN", "mreg"), "remote", "add", "origin", url, "--endpoint", moto],
        cwd=work,
        check=True,
        capture_output=True,
    )
    assert repo.remotes()["origin"]["url"] == url
    rep = repo.push()
    assert rep["models"][0]["lines_pushed"] == 2 and rep["objects_uploaded"] > 0
    # A serving box: a clone, and the production version loaded.
    serve = mreg.clone(url, work.parent / "serve", endpoint=moto)
    assert serve.load("m@production").read_bytes() == f.read_bytes()
    # A new production is published; one call picks it up.
    write_model(f, seed=2)
    v2 = repo.commit(f, model="m")
    repo.promote("m", v2.id, expect=v1.id, message="better")
    repo.push()
    assert serve.fetch()["new_lines"] == {"m": 2}
    assert serve.load("m@production", refresh=True).read_bytes() == f.read_bytes()
    # A stale promote from another clone is refused at push, with a typed error.
    other = mreg.clone(url, work.parent / "other", endpoint=moto)
    repo.rollback("m", message="regression")
    repo.push()
    other.promote("m", v1.id, message="stale view")  # other saw production = v2
    other.set_alias("m", "staging", v1.id, message="fine")
    with pytest.raises(mreg.ConflictError) as e:
        other.push()
    assert "moved on the remote" in str(e.value)
    pulled = other.pull()
    assert [d["message"] for d in pulled["dropped"]] == ["stale view"]
    assert other.resolve("m@production") == repo.resolve("m@production") == v1.id


def test_prune_on_a_remote_then_remote_gc_and_du_on_a_shared_directory(
    repo: mreg.Repo, work: Path
) -> None:
    """Issue 26 through Python: ``prune(remote=)`` publishes the prune and frees the
    version's data on the remote; ``du_remote`` and ``gc_remote`` see the same remote; a
    fresh clone refuses the pruned version with ``PrunedError`` and loads the other."""
    shared = work.parent / "shared"
    shared.mkdir()
    subprocess.run(
        [os.environ.get("MREG_BIN", "mreg"), "remote", "add", "origin", str(shared)],
        cwd=work,
        check=True,
        capture_output=True,
    )
    f = write_model(work / "m.safetensors", seed=1)
    v1 = repo.commit(f, model="m")
    write_model(f, seed=2)
    v2 = repo.commit(f, model="m")
    repo.push()
    plan = repo.prune(v1.id, remote="origin", dry_run=True, grace=0)
    assert plan["gc"]["dry_run"] and plan["gc"]["freed_bytes"] > 0
    assert repo.du_remote("origin")["gc"]["freed_bytes"] == 0  # nothing pruned yet
    done = repo.prune(v1.id, remote="origin", grace=0, message="leaked")
    assert done["gc"]["freed_bytes"] > 0 and not done["gc"]["dry_run"]
    du = repo.du_remote("origin")
    assert [v["id"] for v in du["versions"] if v["pruned"]] == [v1.id]
    assert repo.gc_remote("origin", grace=0)["freed_bytes"] == 0
    other = mreg.clone(str(shared), work.parent / "other")
    with pytest.raises(mreg.PrunedError):
        other.load(v1.id)
    assert other.load(v2.id).read_bytes() == f.read_bytes()


def test_load_a_few_tensors_of_a_remote_version_fetches_only_those(repo: mreg.Repo, work: Path) -> None:
    """Issue 29: ``load(rev, tensors=[...])`` in a clone without data reads the wanted
    tensors' chunks and the header's from the remote: at most 1.1x their bytes plus the
    header, and the arrays are the ones committed."""
    import numpy as np
    from safetensors.numpy import save_file

    shared = work.parent / "shared"
    shared.mkdir()
    subprocess.run([os.environ.get("MREG_BIN", "mreg"), "remote", "add", "origin", str(shared)],
                   cwd=work, check=True, capture_output=True)
    rng = np.random.default_rng(7)
    weights = {f"block{i}.w": rng.standard_normal((256, 1024)).astype(np.float32) for i in range(12)}
    save_file(weights, str(work / "model.safetensors"))
    repo.commit(work / "model.safetensors", model="big")
    repo.push()
    clone = mreg.clone(str(shared), work.parent / "serving")
    got = clone.load("big", tensors=["block3.w", "block9.w"])
    assert set(got) == {"block3.w", "block9.w"}
    np.testing.assert_array_equal(got["block3.w"], weights["block3.w"])
    np.testing.assert_array_equal(got["block9.w"], weights["block9.w"])
    wanted = weights["block3.w"].nbytes + weights["block9.w"].nbytes
    header = 8 + 2048  # generous: twelve entries of JSON
    fetched = clone.last_tensor_read["bytes_fetched"]
    assert 0 < fetched <= 1.1 * wanted + header, (fetched, wanted)
    with pytest.raises(mreg.Error, match="no tensor"):
        clone.load("big", tensors=["nope"])
