#!/usr/bin/env bash
# Remote gc at scale (issue 26): a remote holding ~100,000 objects, mostly live (10
# versions of 5,000 small files each: a chunk and a manifest per file; 2 versions pruned
# there). Times the plan (dry run, median of 3) and the sweep, with the requests each made,
# side by side with what reading the remote's state costs anyway: `mreg fetch` with nothing
# new (it lists the histories and reads the pack indexes). Needs the release binary.
# Usage: benches/remote_gc.sh [WORKDIR] [FILES_PER_VERSION]   (defaults: /tmp/mreg-rgc 5000)
# REMOTE=seaweed runs it against a SeaweedFS bucket on loopback (from .venv-s3, made by
# .ci/setup-s3-servers) instead of a shared directory.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
W=${1:-/tmp/mreg-rgc}
FILES=${2:-5000}
MREG=${MREG:-$("$ROOT/tests/cargo-bin" release)}
export MREG_AUTHOR="bench <bench@example.invalid>"
rm -rf "$W" && mkdir -p "$W/store" "$W/remote" && cd "$W/store"
"$MREG" init -q
if [ "${REMOTE:-dir}" = seaweed ]; then
    VENV=${MREG_S3_VENV:-$ROOT/.venv-s3}
    export AWS_ACCESS_KEY_ID=AKIAMREGBENCHKEY AWS_SECRET_ACCESS_KEY=mreg-bench-secret AWS_REGION=us-east-1
    PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    "$VENV/bin/weed" mini -dir="$W/weed" -ip=127.0.0.1 -ip.bind=127.0.0.1 -admin.ui=false \
        -s3.port="$PORT" -s3.port.iceberg=0 -s3.port.lance=0 > "$W/weed.log" 2>&1 &
    WEED=$!
    trap 'kill $WEED 2>/dev/null || true' EXIT
    mkdir -p "$W/weed"
    for _ in $(seq 1 120); do
        "$VENV/bin/python" -c "import boto3; boto3.client('s3', endpoint_url='http://127.0.0.1:$PORT').create_bucket(Bucket='models')" 2>/dev/null && break
        sleep 0.5
    done
    "$MREG" remote add origin s3://models/bench --endpoint "http://127.0.0.1:$PORT" > /dev/null 2>&1
else
    "$MREG" remote add origin "$W/remote" > /dev/null 2>&1
fi
now() { date +%s.%N; }
ids=()
t0=$(now)
for v in $(seq 1 10); do
    python3 - "$FILES" "$v" <<'PY'
import os, sys
n, v = int(sys.argv[1]), int(sys.argv[2])
os.makedirs("d", exist_ok=True)
for i in range(n):
    with open(f"d/f{i:05d}.bin", "wb") as f:
        f.write(os.urandom(2048))
PY
    ids+=("$("$MREG" commit -q d --model m -m "v$v")")
done
t1=$(now)
"$MREG" push > /dev/null 2>&1
t2=$(now)
objects=$(find .modelreg/objects -type f | wc -l)
echo "setup: 10 versions, $objects local objects; commit $(echo "$t1 - $t0" | bc -l | cut -c1-6) s, push $(echo "$t2 - $t1" | bc -l | cut -c1-6) s"
"$MREG" prune "${ids[1]}" --remote origin --yes -m bench > /dev/null
"$MREG" prune "${ids[3]}" --remote origin --yes -m bench > /dev/null
echo "remote (${REMOTE:-dir}): $objects objects, $("$MREG" du --remote origin --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["total_bytes"] // 2**20)') MiB"
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
plan=(); floor=()
for r in 1 2 3; do
    t0=$(now); "$MREG" gc --remote origin --grace 0s --json > "$W/plan.json"; t1=$(now)
    plan+=("$(echo "$t1 - $t0" | bc -l)")
    t0=$(now); "$MREG" fetch origin > /dev/null 2>&1; t1=$(now)
    floor+=("$(echo "$t1 - $t0" | bc -l)")
done
t0=$(now); "$MREG" gc --remote origin --grace 0s --yes --json > "$W/sweep.json"; t1=$(now)
sweep=$(echo "$t1 - $t0" | bc -l)
python3 - "$W" "$(median "${plan[@]}")" "$(median "${floor[@]}")" "$sweep" <<'PY'
import json, sys
w, plan, floor, sweep = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
p = json.load(open(f"{w}/plan.json"))
s = json.load(open(f"{w}/sweep.json"))
print(f"plan (dry run):  {plan:7.2f} s  {p['requests']:6d} requests  live {p['live_objects']} objects, would free {p['freed_bytes']/2**20:.1f} MiB ({len(p['deleted'])} objects, {len(p['repacked'])} packs rewritten)")
print(f"sweep:           {sweep:7.2f} s  {s['requests']:6d} requests  freed {s['freed_bytes']/2**20:.1f} MiB")
print(f"fetch (no-op):   {floor:7.2f} s  plan / fetch = {plan/floor:.1f}x")
PY
