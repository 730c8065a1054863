#!/usr/bin/env bash
# What decoding costs a checkout: one version checked out from a store that codes it
# (byte planes, entropy-coded exponents: the default) and from mreg's raw path (the same
# build with float_planes false), warm (the store's objects in the page cache) and cold
# (evicted first), beside the machine's floors: a copy of the file (warm) and reading
# each store's objects into the page cache (cold).
#
# Usage: benches/checkout_paths.sh [WORKDIR] [SIZE_MIB] [REPS]   (defaults: /tmp/mreg-paths 1024 8)
# Needs: a release build, python with numpy (PY; make_model.py and the eviction use it).
# Each repetition runs every measurement once, in an order that alternates; each checkout
# writes the file into the work tree after it was removed (not synced, as git and DVC).
# Output: WORKDIR/paths.csv (label,run,wall_s,cpu_s) and a table of medians on stdout.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
SHARED=${SHARED:-$ROOT/../shared/bench}
W=${1:-/tmp/mreg-paths}
SIZE=${2:-1024}
REPS=${3:-8}
PY=${PY:-/tmp/perfenv/bin/python}
MREG=${MREG:-$("$ROOT/tests/cargo-bin" release)}
export MREG_AUTHOR="bench <bench@example.invalid>"
[ -x "$MREG" ] || (cd "$ROOT" && cargo build --release)
mkdir -p "$W"
W=$(cd "$W" && pwd)
CSV=$W/paths.csv
echo "label,run,wall_s,cpu_s" > "$CSV"
log() { echo "[$(date +%T) load $(cut -d' ' -f1-3 /proc/loadavg)] $*" >&2; }
measure() {   # LABEL RUN 'command' (in the current directory)
  local t0 t1
  t0=$(date +%s%N)
  /usr/bin/time -f "%U %S" -o "$W/.cpu" bash -c "$3" > /dev/null
  t1=$(date +%s%N)
  echo "$1,$2,$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.4f", (b-a)/1e9}'),$(awk '{printf "%.3f", $1+$2}' "$W/.cpu")" >> "$CSV"
}
# Drop a directory's files from the page cache (they are clean: the stores are synced).
evict() {
  sync
  "$PY" - "$1" <<'EOF'
import os, sys
for root, _, files in os.walk(sys.argv[1]):
    for f in files:
        fd = os.open(os.path.join(root, f), os.O_RDONLY)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.close(fd)
EOF
}

M=$W/model.safetensors
if [ "$(cat "$M.size" 2>/dev/null)" != "$SIZE" ]; then
  log "generating a $SIZE MiB model"
  "$PY" "$SHARED/make_model.py" model "$M" --size-mib "$SIZE" --version 0 --seed 0
  echo "$SIZE" > "$M.size"
fi
for s in planes raw; do
  rm -rf "$W/$s"; mkdir -p "$W/$s"
  (cd "$W/$s" && "$MREG" init -q > /dev/null)
done
sed -i 's/float_planes: true/float_planes: false/' "$W/raw/.modelreg/config.yaml"
for s in planes raw; do
  cp "$M" "$W/$s/model.safetensors"
  (cd "$W/$s" && "$MREG" commit -q model.safetensors --model m -m v0 > /dev/null)
done
sync
log "stores: planes $(du -sb "$W/planes/.modelreg/objects" | cut -f1) bytes, raw $(du -sb "$W/raw/.modelreg/objects" | cut -f1) bytes"

# The read floor: every object of a store read into the page cache in order, with no copy
# to user space (os.sendfile to /dev/null, as checkout's reader ahead does; `cat` was slower
# than mreg's own cold checkout of the raw path).
cat > "$W/read.py" <<'EOF'
import os, sys
null = os.open("/dev/null", os.O_WRONLY)
for root, _, files in sorted(os.walk(sys.argv[1])):
    for f in sorted(files):
        fd = os.open(os.path.join(root, f), os.O_RDONLY)
        size, off = os.fstat(fd).st_size, 0
        while off < size:
            n = os.sendfile(null, fd, off, size - off)
            if n == 0:
                break
            off += n
        os.close(fd)
EOF

checkout() {   # STORE KIND RUN
  cd "$W/$1"; rm -f model.safetensors; sync
  [ "$2" = cold ] && evict "$W/$1/.modelreg"
  measure "$1 $2" "$3" "$MREG checkout -q m"
}
for r in $(seq "$REPS"); do
  log "repetition $r of $REPS"
  order="planes raw"; [ $((r % 2)) = 0 ] && order="raw planes"
  for s in $order; do checkout "$s" warm "$r"; done
  cd "$W"; cat "$M" > /dev/null; rm -f "$W/copy"; sync
  measure "floor: cp (warm)" "$r" "cp $M $W/copy"
  rm -f "$W/copy"; sync
  for s in $order; do checkout "$s" cold "$r"; done
  for s in $order; do
    evict "$W/$s/.modelreg"
    measure "floor: read $s objects (cold)" "$r" "$PY $W/read.py $W/$s/.modelreg/objects"
  done
  for s in planes raw; do cmp "$M" "$W/$s/model.safetensors"; done
done

"$PY" - "$CSV" <<'EOF'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
med = lambda label, k: statistics.median(float(r[k]) for r in rows if r["label"] == label)
labels = list(dict.fromkeys(r["label"] for r in rows))
print("| measurement | wall (median) | CPU (median) |")
print("|---|---|---|")
for l in labels:
    print(f"| {l} | {med(l, 'wall_s'):.3f} s | {med(l, 'cpu_s'):.2f} s |")
print()
print("| ratio | value |")
print("|---|---|")
for a, b in [("planes warm", "raw warm"), ("planes cold", "raw cold"),
             ("raw warm", "floor: cp (warm)"),
             ("planes cold", "floor: read planes objects (cold)"),
             ("raw cold", "floor: read raw objects (cold)")]:
    print(f"| {a} / {b} | {med(a, 'wall_s') / med(b, 'wall_s'):.2f} |")
EOF
