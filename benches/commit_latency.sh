#!/usr/bin/env bash
# Latency of a small durable commit, side by side with the machine's floor for one durable
# small-file write (temp file, fsync, rename, fsync of the directory), which is what the
# pending marker (issue 23) adds to every commit. Medians of N runs, interleaved.
# Usage: benches/commit_latency.sh [WORKDIR] [N]     (defaults: /tmp/mreg-commit-lat 21)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
W=${1:-/tmp/mreg-commit-lat}
N=${2:-21}
MREG=${MREG:-$("$ROOT/tests/cargo-bin" release)}
export MREG_AUTHOR="bench <bench@example.invalid>"
rm -rf "$W" && mkdir -p "$W" && cd "$W"
"$MREG" init -q
now() { date +%s.%N; }
commit_s=()
floor_s=()
for i in $(seq 1 "$N"); do
    head -c 4096 /dev/urandom > m.bin
    t0=$(now); "$MREG" commit -q m.bin --model m > /dev/null; t1=$(now)
    commit_s+=("$(echo "$t1 - $t0" | bc -l)")
    f=$(python3 - "$W" <<'PY'
import os, sys, time
d = sys.argv[1]
t0 = time.perf_counter()
p = os.path.join(d, ".floor.tmp")
with open(p, "wb") as f:
    f.write(b"m\n")
    f.flush()
    os.fsync(f.fileno())
os.rename(p, os.path.join(d, "floor"))
fd = os.open(d, os.O_RDONLY)
os.fsync(fd)
os.close(fd)
print(time.perf_counter() - t0)
PY
)
    floor_s+=("$f")
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
c=$(median "${commit_s[@]}")
f=$(median "${floor_s[@]}")
printf 'small commit (4 KiB, durable): median %.4f s over %d runs\n' "$c" "$N"
printf 'one durable small-file write (floor, timed inside python): median %.4f s\n' "$f"
printf 'ratio commit / floor: %.2f\n' "$(echo "$c / $f" | bc -l)"
