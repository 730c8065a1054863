#!/usr/bin/env bash
# Byte planes in a real store, 1 GiB synthetic f32 model (../shared/bench/make_model.py, or
# MAKE_MODEL=path): the same file committed to a store with byte planes (the default) and to
# one with `compression.float_planes: false` (the previous raw path), then checked out with
# `--to` (synced), interleaved, against the floors `cp` and `cp && sync`. Medians of REPS.
#   benches/planes_store.sh [WORKDIR]     (release build; about 6 GB of disk)
set -euo pipefail
cd "$(dirname "$0")/.."
W=${1:-/tmp/mreg-planes}
REPS=${REPS:-5}
MREG=${MREG:-$(tests/cargo-bin release)}
MAKE_MODEL=${MAKE_MODEL:-../shared/bench/make_model.py}
PY=${PYTHON:-python3}
rm -rf "$W" && mkdir -p "$W"
"$PY" "$MAKE_MODEL" model "$W/model.safetensors" --size-mib 1024 --tensors 100 --seed 0
t() { local s e; s=$(date +%s.%N); "$@" > /dev/null; e=$(date +%s.%N); echo "$e - $s" | bc; }
med() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for s in planes raw; do
    mkdir -p "$W/$s" && (cd "$W/$s" && "$MREG" init -q)
    [ "$s" = raw ] && sed -i 's/float_planes: true/float_planes: false/' "$W/$s/.modelreg/config.yaml"
    cp "$W/model.safetensors" "$W/$s/"
    sync
    echo "commit $s: $(t "$MREG" -C "$W/$s" commit -q model.safetensors --model m) s, stored $(du -sb "$W/$s/.modelreg/objects" | cut -f1) B"
done
: > "$W/times"
for r in $(seq "$REPS"); do
    for s in planes raw cp cpsync; do
        rm -rf "$W/out"; sync; echo 3 > /proc/sys/vm/drop_caches 2> /dev/null || true
        case $s in
            planes|raw) x=$(t "$MREG" -C "$W/$s" checkout -q m --to "$W/out") ;;
            cp) mkdir -p "$W/out"; x=$(t cp "$W/model.safetensors" "$W/out/") ;;
            cpsync) mkdir -p "$W/out"; x=$(t sh -c "cp '$W/model.safetensors' '$W/out/' && sync") ;;
        esac
        echo "$s $x" >> "$W/times"
    done
done
for s in planes raw cp cpsync; do
    echo "checkout/copy $s: median $(grep "^$s " "$W/times" | cut -d' ' -f2 | med) s (n=$REPS)"
done
cmp "$W/out/model.safetensors" "$W/model.safetensors" 2> /dev/null || true
rm -rf "$W"
