#!/usr/bin/env bash
# mreg versioning benchmark, side by side with DVC, Git LFS and the machine's own limits.
#
# Usage: benches/versioning.sh [WORKDIR] [SIZE_MIB] [REPS]      (defaults: /tmp/mreg-bench 1024 3)
# Needs: a release build (cargo build --release), python with numpy (PY), dvc (DVC), git-lfs,
#        b3sum. Setup once:
#   python3 -m venv /tmp/perfenv && /tmp/perfenv/bin/pip install numpy dvc
#   apt-get install -y git-lfs && cargo install b3sum
# Per repetition, with fresh stores: versions v0..v5 of a synthetic safetensors model
# (../shared/bench/make_model.py: v1..v5 each change 10% of the tensors) are committed by
# mreg, mreg on its raw path (float_planes false, no deltas: the build before issue 14),
# DVC (dvc add + git commit, then sync: DVC does not fsync) and Git LFS (git add + commit,
# then sync), alternating which tool goes first. Then: store sizes, checkout of v0 into the
# work tree (mreg checkout vs git checkout + dvc checkout; neither syncs), status after
# `touch` (mreg status vs dvc status vs b3sum), reference ops (cp + sync, b3sum, the durable
# write of one version's new bytes), and 2,000 files of 20 KB checked out between two
# versions (mreg checkout vs git checkout).
# Output: WORKDIR/bench.csv (label,run,wall_s,cpu_s,bytes), WORKDIR/sizes.csv, WORKDIR/bench.md
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
SHARED=${SHARED:-$ROOT/../shared/bench}
W=${1:-/tmp/mreg-bench}
SIZE=${2:-1024}
REPS=${3:-3}
PY=${PY:-/tmp/perfenv/bin/python}
DVC=${DVC:-/tmp/perfenv/bin/dvc}
MREG=${MREG:-$("$ROOT/tests/cargo-bin" release)}
export DVC_NO_ANALYTICS=1 GIT_TERMINAL_PROMPT=0 MREG_AUTHOR="bench <bench@example.invalid>"
export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.invalid
export GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@example.invalid
[ -x "$MREG" ] || (cd "$ROOT" && cargo build --release)
mkdir -p "$W/versions"
W=$(cd "$W" && pwd)
CSV=$W/bench.csv; SZ=$W/sizes.csv
echo "label,run,wall_s,cpu_s,bytes" > "$CSV"
echo "label,rep,bytes" > "$SZ"
log() { echo "[$(date +%T) load $(cut -d' ' -f1-3 /proc/loadavg)] $*" >&2; }
measure() {   # LABEL RUN BYTES 'command' (in the current directory)
  local label=$1 run=$2 bytes=$3 cmd=$4 t0 t1 cpu
  t0=$(date +%s%N)
  /usr/bin/time -f "%U %S" -o "$W/.cpu" bash -c "$cmd" > /dev/null
  t1=$(date +%s%N)
  cpu=$(awk '{printf "%.3f", $1+$2}' "$W/.cpu")
  echo "$label,$run,$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.4f", (b-a)/1e9}'),$cpu,$bytes" >> "$CSV"
}

log "generating 6 versions of a $SIZE MiB model"
for k in 0 1 2 3 4 5; do
  f=$W/versions/v$k.safetensors
  [ -s "$f" ] && [ "$(cat "$f.size" 2>/dev/null)" = "$SIZE" ] && continue
  "$PY" "$SHARED/make_model.py" model "$f" --size-mib "$SIZE" --version "$k" --seed 0
  echo "$SIZE" > "$f.size"
done
B=$(stat -c %s "$W/versions/v0.safetensors")
echo "model file,0,$B" >> "$SZ"

for r in $(seq "$REPS"); do
  log "rep $r: reference ops"
  V0=$W/versions/v0.safetensors; cat "$V0" > /dev/null
  rm -f "$W/ref.copy"; sync
  measure "ref: cp + sync" "$r" "$B" "cp $V0 $W/ref.copy && sync"
  rm -f "$W/ref.copy"; sync
  measure "ref: b3sum" "$r" "$B" "b3sum $V0"
  # The new bytes of a 10%-changed version, written and synced (its durable-write floor).
  NEW=$((B / 10))
  measure "ref: write + sync 10% of the model" "$r" "$NEW" "head -c $NEW $V0 > $W/ref.copy && sync"
  rm -f "$W/ref.copy"; sync

  rm -rf "$W/rep"; mkdir -p "$W/rep/mreg" "$W/rep/mregz" "$W/rep/dvc" "$W/rep/lfs"
  (cd "$W/rep/mreg" && "$MREG" init -q > /dev/null)
  # mregz: the raw path (no byte planes, no deltas), to measure what the codecs cost.
  (cd "$W/rep/mregz" && "$MREG" init -q > /dev/null && sed -i 's/float_planes: true/float_planes: false/; s/delta_max_depth: [0-9]*/delta_max_depth: 0/' .modelreg/config.yaml)
  (cd "$W/rep/dvc" && git init -q -b main && $DVC init -q && $DVC config core.analytics false && git add -A && git commit -qm init)
  (cd "$W/rep/lfs" && git init -q -b main && git lfs install --local > /dev/null && git lfs track "*.safetensors" > /dev/null && git add .gitattributes && git commit -qm init)
  for k in 0 1 2 3 4 5; do
    tag="v1-v5 (10% tensors changed)"; [ $k = 0 ] && tag="v0 (first version)"
    for t in mreg mregz dvc lfs; do cp "$W/versions/v$k.safetensors" "$W/rep/$t/model.safetensors"; done
    sync
    log "rep $r: commit v$k"
    order="mreg dvc lfs mregz"; [ $(((k + r) % 2)) = 1 ] && order="mregz lfs dvc mreg"
    for t in $order; do
      cd "$W/rep/$t"
      case $t in
        mreg) measure "mreg: commit $tag" "$r" "$B" "$MREG commit -q model.safetensors --model m -m v$k --metric step=$k" ;;
        mregz) measure "mreg (raw path): commit $tag" "$r" "$B" "$MREG commit -q model.safetensors --model m -m v$k" ;;
        dvc)  measure "dvc: dvc add + git commit + sync $tag" "$r" "$B" \
                "$DVC add -q model.safetensors && git add model.safetensors.dvc .gitignore && git commit -qm v$k && sync"
              git rev-parse HEAD > "$W/rep/dvc.v$k" ;;
        lfs)  measure "lfs: git add + commit + sync $tag" "$r" "$B" "git add model.safetensors && git commit -qm v$k && sync" ;;
      esac
    done
  done
  cd "$W"
  echo "mreg: .modelreg after 6 versions,$r,$(du -sb rep/mreg/.modelreg | cut -f1)" >> "$SZ"
  echo "mreg (raw path): .modelreg after 6 versions,$r,$(du -sb rep/mregz/.modelreg | cut -f1)" >> "$SZ"
  echo "dvc: .dvc/cache after 6 versions,$r,$(du -sb rep/dvc/.dvc/cache | cut -f1)" >> "$SZ"
  echo "lfs: .git/lfs after 6 versions,$r,$(du -sb rep/lfs/.git/lfs | cut -f1)" >> "$SZ"

  log "rep $r: checkout v0 and back"
  for cyc in 1 2; do
    run=$(( (r - 1) * 2 + cyc ))
    # Each tool starts from the same state: earlier writes flushed (sync), order alternating.
    order="mreg mregz dvc"; [ "$cyc" = 2 ] && order="dvc mregz mreg"
    for t in $order; do
      sync; cd "$W/rep/$t"
      case $t in
        mreg) measure "mreg: checkout v0" "$run" "$B" "$MREG checkout -q m~5" ;;
        mregz) measure "mreg (raw path): checkout v0" "$run" "$B" "$MREG checkout -q m~5"; "$MREG" checkout -q m ;;
        dvc) measure "dvc: git checkout + dvc checkout v0" "$run" "$B" \
               "git checkout -q $(cat "$W/rep/dvc.v0") && $DVC checkout -q" ;;
      esac
    done
    cd "$W/rep/mreg"; "$MREG" checkout -q m
    cd "$W/rep/dvc"; git checkout -q main && $DVC checkout -q
  done
  log "rep $r: status after touch"
  touch "$W/rep/mreg/model.safetensors" "$W/rep/dvc/model.safetensors"
  cat "$W/rep/mreg/model.safetensors" > /dev/null
  cd "$W/rep/mreg"; measure "mreg: status after touch" "$r" "$B" "$MREG status"
  cd "$W/rep/dvc"; measure "dvc: status after touch" "$r" "$B" "$DVC status -q || true"
  measure "ref: b3sum (same file)" "$r" "$B" "b3sum $W/rep/mreg/model.safetensors"
  cd "$W/rep/mreg"; measure "mreg: status (clean; stat cache)" "$r" 0 "$MREG status"
  cmp -s "$W/rep/mreg/model.safetensors" "$W/versions/v5.safetensors" || { echo "mreg work tree != v5" >&2; exit 1; }
  (cd "$W/rep/mreg" && "$MREG" fsck > /dev/null) || { echo "mreg fsck failed" >&2; exit 1; }

  log "rep $r: 2,000 small files"
  rm -rf "$W/small"; mkdir -p "$W/small/mreg/d" "$W/small/git/d"
  (cd "$W/small/mreg" && "$MREG" init -q > /dev/null)
  (cd "$W/small/git" && git init -q -b main)
  for k in 0 1; do
    "$PY" - "$W/small/mreg/d" "$k" <<'EOF3'
import os, sys
d, k = sys.argv[1], int(sys.argv[2])
for i in range(2000):
    with open(f"{d}/f{i:04d}.bin", "wb") as f:
        f.write(os.urandom(20_000) if (k == 0 or i % 2 == 0) else open(f"{d}/f{i:04d}.bin", "rb").read())
EOF3
    rm -rf "$W/small/git/d" && cp -r "$W/small/mreg/d" "$W/small/git/d"
    (cd "$W/small/mreg" && "$MREG" commit -q d --model s -m "v$k" > /dev/null)
    (cd "$W/small/git" && git add -A && git commit -qm "v$k")
  done
  for cyc in 1 2; do
    run=$(( (r - 1) * 2 + cyc ))
    for target in old new; do
      mrev=s; grev=main; [ $target = old ] && { mrev=s~1; grev=main~1; }
      sync; cd "$W/small/mreg"; measure "mreg: checkout 2000 files of 20 KB" "$run" 0 "$MREG checkout -q $mrev"
      sync; cd "$W/small/git"; measure "git: checkout 2000 files of 20 KB" "$run" 0 "git checkout -q $grev"
    done
  done
  cd "$W"
done

{
  echo "## mreg versioning benchmark ($(date -u +%FT%TZ), model $SIZE MiB = $B bytes, reps=$REPS, $(nproc) cores)"
  echo "$("$MREG" --version), DVC $($DVC --version), $(git lfs version | cut -d' ' -f1)"
  echo; "$PY" "$SHARED/stats.py" "$CSV"
  echo; echo "| storage | rep | bytes | x model size |"; echo "|---|---|---|---|"
  tail -n +2 "$SZ" | awk -F, -v b="$B" '{printf "| %s | %s | %.0f | %.2f |\n", $1, $2, $3, $3/b}'
  echo; echo "### ratios of medians"
  "$PY" - "$CSV" <<'EOF2'
import csv, statistics, sys
rows = {}
for r in csv.DictReader(open(sys.argv[1])):
    rows.setdefault(r["label"], []).append(float(r["wall_s"]))
m = {k: statistics.median(v) for k, v in rows.items()}
def ratio(name, a, b, goal):
    print(f"| {name} | {m[a]:.3f} s | {m[b]:.3f} s | {m[a]/m[b]:.2f} | {goal} |")
print("| comparison | mreg (or first) | other | ratio | target |")
print("|---|---|---|---|---|")
v0, v1 = "v0 (first version)", "v1-v5 (10% tensors changed)"
ratio("first commit: dvc / mreg", f"dvc: dvc add + git commit + sync {v0}", f"mreg: commit {v0}", ">= 4")
ratio("first commit: mreg / (cp + sync)", f"mreg: commit {v0}", "ref: cp + sync", "<= 1")
ratio("10% changed: dvc / mreg", f"dvc: dvc add + git commit + sync {v1}", f"mreg: commit {v1}", ">= 5")
floor = 2 * m["ref: b3sum"] + m["ref: write + sync 10% of the model"]
print(f"| 10% changed: mreg / (2 b3sum + durable write of 10%) | {m[f'mreg: commit {v1}']:.3f} s | {floor:.3f} s | {m[f'mreg: commit {v1}']/floor:.2f} | <= 1.15 |")
if "mreg: checkout 2000 files of 20 KB" in m:
    ratio("2000 small files: mreg / git checkout", "mreg: checkout 2000 files of 20 KB", "git: checkout 2000 files of 20 KB", "<= 1.5")
ratio("10% changed: lfs / mreg", f"lfs: git add + commit + sync {v1}", f"mreg: commit {v1}", "-")
ratio("checkout v0: mreg / dvc", "mreg: checkout v0", "dvc: git checkout + dvc checkout v0", "<= 0.6")
ratio("checkout v0: mreg / mreg (raw path)", "mreg: checkout v0", "mreg (raw path): checkout v0", "<= 1")
ratio("first commit: mreg (raw path) / mreg", f"mreg (raw path): commit {v0}", f"mreg: commit {v0}", "-")
ratio("10% changed: mreg (raw path) / mreg", f"mreg (raw path): commit {v1}", f"mreg: commit {v1}", "-")
ratio("status after touch: mreg / b3sum", "mreg: status after touch", "ref: b3sum (same file)", "<= 2")
EOF2
} > "$W/bench.md"
log "done: $W/bench.md"
cat "$W/bench.md"
