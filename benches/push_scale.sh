#!/usr/bin/env bash
# A push of one new small version to a remote that already holds many loose objects
# (issue 29): requests and time should follow the version, not the bucket. The remote's
# bulk is N object names placed directly under objects/ (empty files: a push only lists or
# checks them, never reads them), beside the real objects of the versions pushed before.
# Median of 3 pushes, each of one new 512 KiB version, with `push --json`'s request count.
# Usage: benches/push_scale.sh [WORKDIR] [N]     (defaults: /tmp/mreg-push 100000)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
W=${1:-/tmp/mreg-push}
N=${2:-100000}
MREG=${MREG:-$("$ROOT/tests/cargo-bin" release)}
export MREG_AUTHOR="bench <bench@example.invalid>"
rm -rf "$W" && mkdir -p "$W/store" "$W/remote" && cd "$W/store"
"$MREG" init -q
"$MREG" remote add origin "$W/remote" > /dev/null 2>&1
head -c 524288 /dev/urandom > w.bin
"$MREG" commit -q w.bin --model m > /dev/null
"$MREG" push -q
python3 - "$W/remote" "$N" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    h = os.urandom(32).hex()
    d = os.path.join(root, "objects", h[:2])
    os.makedirs(d, exist_ok=True)
    open(os.path.join(d, h[2:]), "wb").close()
PY
echo "remote: $(find "$W/remote/objects" -type f | wc -l) loose object names"
rows=()
for i in 1 2 3; do
    head -c 524288 /dev/urandom > w.bin
    "$MREG" commit -q w.bin --model m > /dev/null
    t0=$(date +%s.%N)
    out=$("$MREG" push --json)
    t1=$(date +%s.%N)
    req=$(echo "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("requests", -1))')
    rows+=("$(echo "$t1 - $t0" | bc) $req")
done
printf '%s\n' "${rows[@]}" | sort -n | sed -n 2p | awk '{printf "push of one new 512 KiB version (median of 3): %.2f s, %d requests\n", $1, $2}'
