#!/usr/bin/env python3
"""The Python package against the CLI, side by side in one run (docs/BENCHMARKS.md, "Python").

1. `repo.show("clf@production")` in-process vs `subprocess.run(["mreg", "show",
   "clf@production", "--json"])` on a store with N versions (default 10,000) of one model.
2. `repo.load(rev, to=DIR)` vs `mreg checkout REV --to DIR` of a 1 GiB version (both write
   and sync the same bytes; runs alternate), and a second `repo.load(rev)` from the cache.

Run with the release wheel and binary:
    cargo build --release
    VENV=.venv-bench MREG_WHEEL_PROFILE=release MREG_BIN=target/release/mreg \
        python/run-tests -q              # builds and installs the release wheel
    .venv-bench/bin/python benches/python_api.py [--versions N] [--size-mib M] [--workdir D]
Needs about 3 x the model size of free disk in the work directory.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import mreg


def med(xs):
    return statistics.median(xs)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--versions", type=int, default=10_000)
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--mreg", default=os.environ.get("MREG_BIN", "target/release/mreg"))
    a = ap.parse_args()
    binary = str(Path(a.mreg).resolve())
    base = Path(tempfile.mkdtemp(prefix="mreg-pybench-", dir=a.workdir))
    env = dict(os.environ, MREG_AUTHOR="bench <bench@example.com>")
    os.environ["MREG_AUTHOR"] = env["MREG_AUTHOR"]
    try:
        # -- 1. show on a store with many versions ------------------------------------
        d = base / "many"
        d.mkdir()
        os.chdir(d)
        repo = mreg.init(d)
        f = d / "w.bin"
        t = time.perf_counter()
        for i in range(a.versions):
            f.write_bytes(i.to_bytes(8, "little") * 128)
            c = repo.commit(f, model="clf", params={"lr": 0.01, "i": i}, metrics={"acc": (i % 997) / 997})
            if i == a.versions // 2:
                repo.promote("clf", c.id, message="bench")
        build = time.perf_counter() - t
        # Commit rate, in-process vs CLI, on the same store (20 each, alternating).
        py_commit, cli_commit = [], []
        for i in range(20):
            f.write_bytes(b"x" * 1024 + i.to_bytes(4, "little"))
            t = time.perf_counter()
            repo.commit(f, model="other")
            py_commit.append(time.perf_counter() - t)
            f.write_bytes(b"y" * 1024 + i.to_bytes(4, "little"))
            t = time.perf_counter()
            subprocess.run([binary, "commit", "-q", "w.bin", "--model", "other"], check=True, env=env,
                           capture_output=True)
            cli_commit.append(time.perf_counter() - t)
        repo.show("clf@production")  # warm both paths once
        subprocess.run([binary, "show", "clf@production", "--json"], check=True, capture_output=True)
        py_show, cli_show = [], []
        for _ in range(max(a.reps, 21)):
            t = time.perf_counter()
            c = repo.show("clf@production")
            py_show.append(time.perf_counter() - t)
            t = time.perf_counter()
            out = subprocess.run([binary, "show", "clf@production", "--json"], check=True,
                                 capture_output=True)
            cli_show.append(time.perf_counter() - t)
        assert c.id in out.stdout.decode()
        print(f"store: {a.versions} versions of one model built in-process in {build:.1f} s "
              f"({a.versions / build:.0f} commits/s, durable)")
        print(f"commit of 1 KiB, median of 20: python {med(py_commit) * 1e3:.2f} ms, "
              f"CLI {med(cli_commit) * 1e3:.2f} ms, ratio CLI/python {med(cli_commit) / med(py_commit):.1f}x")
        print(f"show clf@production, median of {len(py_show)}: python {med(py_show) * 1e3:.3f} ms, "
              f"CLI subprocess {med(cli_show) * 1e3:.2f} ms, ratio {med(cli_show) / med(py_show):.1f}x")
        shutil.rmtree(d)

        # -- 2. load of a 1 GiB version ----------------------------------------------------
        d = base / "big"
        d.mkdir()
        os.chdir(d)
        repo = mreg.init(d)
        f = d / "model.safetensors"
        rng = np.random.default_rng(0)
        n = a.size_mib * 1024 * 1024 // 4
        # A safetensors file of one f32 tensor of N(0, 0.02) weights, written in slices.
        import json as _json
        import struct

        header = _json.dumps({"w": {"dtype": "F32", "shape": [n], "data_offsets": [0, n * 4]}}).encode()
        header += b" " * (-len(header) % 8)
        with open(f, "wb") as out:
            out.write(struct.pack("<Q", len(header)))
            out.write(header)
            step = 16 * 1024 * 1024
            for s in range(0, n, step):
                out.write((rng.standard_normal(min(step, n - s)) * 0.02).astype(np.float32).tobytes())
        size = f.stat().st_size
        c = repo.commit(f, model="big")
        f.unlink()
        py_load, cli_co = [], []
        for r in range(a.reps):
            for which in (("py", "cli") if r % 2 == 0 else ("cli", "py")):
                dest = base / f"out-{which}-{r}"
                subprocess.run(["sync"], check=True)
                t = time.perf_counter()
                if which == "py":
                    p = repo.load(c.id, to=dest)
                    py_load.append(time.perf_counter() - t)
                    assert p.stat().st_size == size
                else:
                    subprocess.run([binary, "checkout", "-q", c.id, "--to", str(dest)], check=True, env=env)
                    cli_co.append(time.perf_counter() - t)
                shutil.rmtree(dest)
        first = time.perf_counter()
        p = repo.load(c.id)
        first = time.perf_counter() - first
        again = []
        for _ in range(21):
            t = time.perf_counter()
            assert repo.load(c.id) == p
            again.append(time.perf_counter() - t)
        print(f"load of {size / 2**30:.2f} GiB to a directory, median of {a.reps}: python "
              f"{med(py_load):.2f} s, mreg checkout --to {med(cli_co):.2f} s, ratio python/CLI "
              f"{med(py_load) / med(cli_co):.2f}")
        print(f"load into the cache: first {first:.2f} s, again (cached) median "
              f"{med(again) * 1e3:.3f} ms")
    finally:
        os.chdir("/")
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
