#!/usr/bin/env bash
# Peak anonymous memory (RssAnon: heap and anonymous maps, not page cache or mapped input)
# of commit, checkout, push, clone + checkout of a large model (issue 29: under 512 MiB
# whatever the model's size). A safetensors-shaped file of SIZE_GIB GiB (float32 noise in
# 64 MiB tensors), a shared-directory remote. /proc/PID/status is sampled every 20 ms;
# the peak RssAnon and the peak VmHWM (all resident memory, for reference) are printed.
# Usage: benches/memory.sh [WORKDIR] [SIZE_GIB]     (defaults: /tmp/mreg-mem 4)
# PYTHON: a python with numpy (realistic weights); VENV_PY: a venv with the mreg wheel.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
W=${1:-/tmp/mreg-mem}
GIB=${2:-4}
MREG=${MREG:-$("$ROOT/tests/cargo-bin" release)}
export MREG_AUTHOR="bench <bench@example.invalid>"
rm -rf "$W" && mkdir -p "$W/store" "$W/remote" && cd "$W/store"
"$MREG" init -q
# Trained-weight-like values (normal float32, so byte planes compress them) when numpy is
# there (PYTHON=... a python that has it), else noise.
"${PYTHON:-python3}" - "$GIB" <<'PY'
import json, os, struct, sys
gib = int(sys.argv[1])
n = gib * 16          # 64 MiB tensors
size = 64 << 20
header = {f"layer{i}.weight": {"dtype": "F32", "shape": [size // 4], "data_offsets": [i * size, (i + 1) * size]} for i in range(n)}
h = json.dumps(header).encode()
h += b" " * (-len(h) % 8)
try:
    import numpy as np
    rng = np.random.default_rng(0)
    tensor = lambda i: (rng.standard_normal(size // 4, dtype=np.float32) * 0.02).tobytes()
except ImportError:
    block = os.urandom(size)
    tensor = lambda i: block[(i * 4099) % size:] + block[:(i * 4099) % size]
with open("model.safetensors", "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h)
    for i in range(n):
        f.write(tensor(i))
PY
sample() { # sample PID: print "peak_rssanon_kib peak_vmhwm_kib"
    local pid=$1 peak=0 hwm=0 v
    while kill -0 "$pid" 2> /dev/null; do
        v=$(awk '/^RssAnon:/{print $2}' "/proc/$pid/status" 2> /dev/null || echo 0)
        [ -n "$v" ] && [ "$v" -gt "$peak" ] && peak=$v
        v=$(awk '/^VmHWM:/{print $2}' "/proc/$pid/status" 2> /dev/null || echo 0)
        [ -n "$v" ] && [ "$v" -gt "$hwm" ] && hwm=$v
        sleep 0.02
    done
    echo "$peak $hwm"
}
measure() { # measure NAME CMD...: run CMD in the background, sample it, print a row
    local name=$1
    shift
    local t0 t1
    t0=$(date +%s.%N)
    "$@" > /dev/null 2>&1 &
    local pid=$!
    read -r peak hwm < <(sample "$pid")
    wait "$pid"
    t1=$(date +%s.%N)
    printf "| %s | %d | %d | %.1f |\n" "$name" $((peak / 1024)) $((hwm / 1024)) "$(echo "$t1 - $t0" | bc)"
}
echo "model: $(du -h model.safetensors | cut -f1), mreg $("$MREG" --version)"
echo
echo "| operation | peak RssAnon (MiB) | peak VmHWM (MiB) | seconds |"
echo "|---|---|---|---|"
measure "commit" "$MREG" commit model.safetensors --model big -q
"$MREG" remote add origin "$W/remote" > /dev/null 2>&1
rm model.safetensors
measure "checkout" "$MREG" checkout big
measure "push" "$MREG" push -q
rm -f model.safetensors    # (disk: only what the next steps need is kept)
mkdir -p "$W/clone" && cd "$W/clone"
measure "clone (metadata)" "$MREG" clone "$W/remote" .
measure "checkout (data from the remote)" "$MREG" checkout big --to out
rm -rf out
# Python's load, with the wheel python/run-tests installs (VENV_PY, default .venv-py).
VENV_PY=${VENV_PY:-$ROOT/.venv-py}
if [ -x "$VENV_PY/bin/python" ]; then
    measure "Python load (to a directory)" "$VENV_PY/bin/python" -c "import mreg; mreg.Repo('.').load('big', to='py-out')"
fi
