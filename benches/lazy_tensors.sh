#!/usr/bin/env bash
# Lazy tensor reads (issue 29): `repo.load(REV, tensors=[...])` in a clone without data
# should fetch at most 1.1x the wanted tensors' bytes plus the header, and take time in
# proportion. A bf16-sized f32 safetensors model of SIZE_MIB (64 tensors, random normal
# weights) is committed and pushed to a directory remote; a fresh metadata-only clone then
# reads 1, 2 and 8 of its tensors (a fresh clone each time, so nothing is cached), and,
# side by side, the whole version (`load`). Medians of 3.
# Usage: benches/lazy_tensors.sh [WORKDIR] [SIZE_MIB]   (defaults: /tmp/mreg-lazy 512)
# Needs the Python package installed in .venv-py (python/run-tests builds it).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
W=${1:-/tmp/mreg-lazy}
SIZE=${2:-512}
PY=${PY:-$ROOT/.venv-py/bin/python}
export MREG_BIN=${MREG_BIN:-$("$ROOT/tests/cargo-bin")}
export MREG_AUTHOR="bench <bench@example.invalid>"
rm -rf "$W" && mkdir -p "$W"
"$PY" - "$W" "$SIZE" <<'PY'
import os, statistics, subprocess, sys, time
from pathlib import Path
import numpy as np
from safetensors.numpy import save_file
import mreg

w, size = Path(sys.argv[1]), int(sys.argv[2])
work, remote = w / "work", w / "remote"
work.mkdir(); remote.mkdir()
n = 64
cols = 1024
rows = size * 1024 * 1024 // 4 // cols // n
rng = np.random.default_rng(1)
weights = {f"layer{i:02}.w": rng.standard_normal((rows, cols), dtype=np.float32) for i in range(n)}
save_file(weights, str(work / "model.safetensors"))
total = (work / "model.safetensors").stat().st_size
repo = mreg.init(work)
subprocess.run([os.environ["MREG_BIN"], "remote", "add", "origin", str(remote)], cwd=work,
               check=True, capture_output=True)
repo.commit(work / "model.safetensors", model="big")
repo.push()
print(f"model: {total / 2**20:.0f} MiB, {n} tensors of {weights['layer00.w'].nbytes / 2**20:.1f} MiB")
print("| read | wanted bytes | fetched (median of 3) | fetched / wanted | time | time / whole load |")
print("|---|---|---|---|---|---|")
def clone(k):
    return mreg.clone(str(remote), w / f"clone{k}")
k = 0
whole = []
for _ in range(3):
    k += 1
    c = clone(k)
    t = time.perf_counter(); c.load("big"); whole.append(time.perf_counter() - t)
whole_t = statistics.median(whole)
for count in (1, 2, 8):
    names = [f"layer{i:02}.w" for i in range(0, n, n // count)][:count]
    wanted = sum(weights[x].nbytes for x in names)
    fetched, times = [], []
    for _ in range(3):
        k += 1
        c = clone(k)
        t = time.perf_counter()
        got = c.load("big", tensors=names)
        times.append(time.perf_counter() - t)
        assert all(np.array_equal(got[x], weights[x]) for x in names)
        fetched.append(c.last_tensor_read["bytes_fetched"])
    f, t = statistics.median(fetched), statistics.median(times)
    print(f"| {count} tensor{'s' if count > 1 else ''} | {wanted / 2**20:.1f} MiB | {f / 2**20:.2f} MiB | **{f / wanted:.3f}** | {t:.3f} s | {t / whole_t:.3f} |")
print(f"| the whole version (`load`) | {total / 2**20:.0f} MiB | — | — | {whole_t:.3f} s | 1 |")
PY
