#!/usr/bin/env bash
# Rebuild .modelreg-example/: a small, real store holding a few commits of two tiny models.
# Fixed author, times and file contents. Usage: tests/make-example-store.sh [path/to/mreg]   (default: the dev build, wherever cargo puts it)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
MREG=${1:-$("$ROOT/tests/cargo-bin")}
[ -x "$MREG" ] || (cd "$ROOT" && cargo build -q)
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
export MREG_AUTHOR="Ada Example <ada@example.com>"
cd "$W"
"$MREG" init -q > /dev/null
mkdir -p models data
python3 - <<'PY'
import struct, json, random
def safetensors(path, tensors):
    header, off, blobs = {}, 0, []
    for name, vals in tensors:
        b = struct.pack(f"<{len(vals)}f", *vals)
        header[name] = {"dtype": "F32", "shape": [len(vals)], "data_offsets": [off, off + len(b)]}
        off += len(b); blobs.append(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h))); f.write(h); [f.write(b) for b in blobs]
for v in range(3):
    rnd = random.Random(v)
    safetensors(f"/tmp/mreg-example-mnist-v{v}.safetensors",
                [("fc1.weight", [rnd.gauss(0, 0.02) for _ in range(256)]),
                 ("fc1.bias", [0.0] * 16)])
for v in range(2):
    rnd = random.Random(100 + v)
    safetensors(f"/tmp/mreg-example-iris-v{v}.safetensors",
                [("linear.weight", [rnd.gauss(0, 0.1) for _ in range(12)])])
with open("data/iris.csv", "w") as f:
    f.write("sepal_length,sepal_width,petal_length,petal_width,species\n5.1,3.5,1.4,0.2,0\n7.0,3.2,4.7,1.4,1\n6.3,3.3,6.0,2.5,2\n")
PY
commit() { MREG_NOW=$1 "$MREG" commit -q "${@:2}" > /dev/null; }
at() { MREG_NOW=$1 "$MREG" "${@:2}" > /dev/null; }
"$MREG" policy mnist --metric acc --max > /dev/null
cp /tmp/mreg-example-mnist-v0.safetensors models/mnist.safetensors
commit 2026-01-05T09:00:00Z models/mnist.safetensors --model mnist -m "baseline MLP" \
  --param lr=0.01 --param epochs=5 --param optimizer.name=sgd --metric acc=0.91 --metric loss=0.31 --label baseline
at 2026-01-05T12:00:00Z promote mnist -m "first production model"
cp /tmp/mreg-example-mnist-v1.safetensors models/mnist.safetensors
commit 2026-01-06T10:30:00Z models/mnist.safetensors --model mnist -m "wider hidden layer" \
  --param lr=0.01 --param epochs=10 --param optimizer.name=adam --metric acc=0.94 --metric loss=0.22
at 2026-01-07T09:00:00Z promote mnist -m "acc +3 points on validation"
at 2026-01-07T15:00:00Z eval add mnist@production --dataset holdout-2026 --metric acc=0.92 --metric f1=0.90 -m "weekly holdout"
at 2026-01-07T15:05:00Z eval add mnist@rollback --dataset holdout-2026 --metric acc=0.89 --metric f1=0.87
cp /tmp/mreg-example-mnist-v2.safetensors models/mnist.safetensors
commit 2026-01-08T16:45:00Z models/mnist.safetensors --model mnist -m "lower learning rate" \
  --param lr=0.003 --param epochs=10 --param optimizer.name=adam --metric acc=0.95 --metric loss=0.18
cp /tmp/mreg-example-iris-v0.safetensors models/iris.safetensors
commit 2026-01-07T08:00:00Z models/iris.safetensors --model iris -m "logistic regression" \
  --param lr=0.1 --metric acc=0.93 --dataset iris=data/iris.csv --store-datasets
cp /tmp/mreg-example-iris-v1.safetensors models/iris.safetensors
commit 2026-01-09T12:00:00Z models/iris.safetensors --model iris -m "more epochs" \
  --param lr=0.1 --param epochs=200 --metric acc=0.96 --dataset iris=data/iris.csv --store-datasets
at 2026-01-09T08:00:00Z promote mnist -m "lower lr wins again"
at 2026-01-09T17:30:00Z rollback mnist -m "latency regression in serving"
at 2026-01-10T10:00:00Z tag mnist-v1.0 mnist@production -m "first public release"
at 2026-01-10T10:05:00Z alias set iris production iris -m "only candidate"
at 2026-01-10T11:00:00Z eval add iris --dataset iris-holdout --metric acc=0.94
rm -f /tmp/mreg-example-*.safetensors
# Machine-specific state stays out of the checked-in example.
rm -rf .modelreg/.gitignore .modelreg/worktree.json .modelreg/locks/* .modelreg/tmp/* .modelreg/models/*/lock
# Commit ids also depend on the environment block (hostname, CPU count), so a rebuild on
# another machine gives other ids; the content and history are the same.
rm -rf "$ROOT/.modelreg-example"
cp -r .modelreg "$ROOT/.modelreg-example"
chmod -R u+w "$ROOT/.modelreg-example"
"$MREG" --store "$ROOT/.modelreg-example" fsck
