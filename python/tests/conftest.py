"""Fixtures: real stores in temporary directories, real safetensors files, the real `mreg`
binary for interoperability (MREG_BIN, as python/run-tests sets it)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Dict, List

import numpy as np
import pytest
from safetensors.numpy import save_file

import mreg

REPO_ROOT = Path(__file__).resolve().parents[2]


def mreg_bin() -> str:
    # A missing binary fails the tests that need it: it never turns them into skips.
    b = os.environ.get("MREG_BIN") or str(REPO_ROOT / "target" / "debug" / "mreg")
    if not Path(b).is_file():
        pytest.fail(
            f"the mreg binary is not at {b}: run python/run-tests (it builds it), or set MREG_BIN"
        )
    return b


def cli(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run the mreg CLI in `cwd`."""
    p = subprocess.run([mreg_bin(), *args], cwd=cwd, capture_output=True, text=True)
    if check and p.returncode != 0:
        raise AssertionError(f"mreg {' '.join(args)} failed:\n{p.stderr}")
    return p


def weights(seed: int, shapes: Dict[str, List[int]] | None = None) -> Dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    shapes = shapes or {"layer1.weight": [64, 32], "layer1.bias": [64], "head.weight": [10, 64]}
    return {k: rng.standard_normal(s).astype(np.float32) for k, s in shapes.items()}


def write_model(path: Path, seed: int = 0, tensors: Dict[str, np.ndarray] | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors if tensors is not None else weights(seed), str(path))
    return path


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MREG_AUTHOR", "Ada Tester <ada@example.com>")
    monkeypatch.delenv("MREG_STORE", raising=False)
    monkeypatch.delenv("MREG_REPLAY", raising=False)
    monkeypatch.delenv("MREG_NOW", raising=False)
    # git in test repositories: no user config from the machine.
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", "/dev/null")
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Ada")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "ada@example.com")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "Ada")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "ada@example.com")


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh directory, made the current directory."""
    d = tmp_path / "proj"
    d.mkdir()
    monkeypatch.chdir(d)
    return d


@pytest.fixture
def repo(work: Path) -> mreg.Repo:
    return mreg.init(work)
