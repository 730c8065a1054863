#!/usr/bin/env bash
# The built-in example, end to end. First the main job: a model is trained with burn on the
# built-in data (seconds, CPU), evaluated, reproduced byte-identical, and its git commit is
# recorded by the hooks. Then versions of a small safetensors model are committed with
# params, metrics and a dataset; promoted and rolled back; an old version is checked out
# byte-identical; gc and fsck run. Usage: bash tests/demo.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
MREG=${MREG:-}
if [ -z "$MREG" ]; then
  # Wherever cargo puts it (CARGO_TARGET_DIR...): never assume ./target.
  MREG=$("$ROOT/tests/cargo-bin" release)
fi
MREG=$(cd "$(dirname "$MREG")" && pwd)/$(basename "$MREG")
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
cd "$W"
say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }
export MREG_AUTHOR="Demo <demo@example.com>"

git init -q -b main . 2>/dev/null || git init -q .
git config user.name Demo && git config user.email demo@example.com
say "$MREG" init
say "$MREG" hook install
say "$MREG" policy example --metric val_accuracy --max
say "$MREG" train --example
say "$MREG" promote example -m "first trained model"
say "$MREG" train --example --set optimizer.lr=0.005 --set seed=3 -m "lower lr"
head -61 mreg-example/flowers.csv > holdout.csv
say "$MREG" eval example --data holdout.csv
say "$MREG" reproduce example@production
say "$MREG" compare example~1 example
git add mreg.lock .gitignore mreg-example holdout.csv
say git commit -qm "train the example model"
say "$MREG" blame HEAD
say "$MREG" show example@production
mkdir -p models data
python3 - <<'PY'
import json, random, struct
def save(path, seed, changed):
    rnd = random.Random(0)
    tensors = []
    for t in range(8):
        r = random.Random(seed if t in changed else t)
        tensors.append((f"layer{t}.weight", [r.gauss(0, 0.02) for _ in range(65536)]))
    header, off = {}, 0
    for name, v in tensors:
        header[name] = {"dtype": "F32", "shape": [len(v)], "data_offsets": [off, off + 4 * len(v)]}
        off += 4 * len(v)
    h = json.dumps(header, separators=(",", ":")).encode(); h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h))); f.write(h)
        for _, v in tensors: f.write(struct.pack(f"<{len(v)}f", *v))
save("models/v0.safetensors", 0, set())
save("models/v1.safetensors", 101, {2})
save("models/v2.safetensors", 202, {2, 5})
with open("data/train.csv", "w") as f:
    f.write("x,y\n" + "".join(f"{i},{2*i+1}\n" for i in range(100)))
PY
say "$MREG" policy demo --metric acc --max
cp models/v0.safetensors model.safetensors
say "$MREG" commit model.safetensors --model demo -m "baseline" --param lr=0.01 --metric acc=0.90 --dataset train=data/train.csv
cp models/v1.safetensors model.safetensors
say "$MREG" commit model.safetensors --model demo -m "tuned layer 2" --param lr=0.005 --metric acc=0.93 --dataset train=data/train.csv
say "$MREG" promote demo -m "first production model"
cp models/v2.safetensors model.safetensors
say "$MREG" commit model.safetensors --model demo -m "tuned layers 2 and 5" --param lr=0.002 --metric acc=0.95
say "$MREG" log --oneline
say "$MREG" promote demo -m "acc +2 points on holdout"
say "$MREG" rollback demo -m "latency regression in production"
say "$MREG" history demo --alias production
say "$MREG" status
say "$MREG" checkout demo@production --force
cmp model.safetensors models/v1.safetensors && echo "model.safetensors is byte-identical to v1"
say "$MREG" tag v1.0 demo@production -m "first release"
say "$MREG" du demo
say "$MREG" gc --dry-run
say "$MREG" fsck
