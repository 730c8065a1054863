"""Pickle scanners side by side (issue 28): mreg's allowlist scanner against picklescan,
modelscan and fickling, on a corpus this script generates — benign checkpoints of the
kinds teams save (PyTorch-style zip and legacy files, NumPy, scikit-learn, joblib) and
malicious pickles (payloads that would run `true`; nothing here is ever unpickled).

Reports, per file, each tool's verdict (flagged / passed / error), then detections,
false positives and scan speed (MB/s over the whole corpus, median of 3 runs).

Run: benches/pickle_scan.sh (makes the venv: picklescan modelscan fickling numpy
scikit-learn joblib). Writes the table to stdout as Markdown.
"""

from __future__ import annotations

import collections
import io
import json
import os
import pickle
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import types
import zipfile
from pathlib import Path

MREG = os.environ["MREG_BIN"]


# ---- helpers that write pickles naming the callables real checkpoints name -------------


def fake_module(name: str, **attrs) -> types.ModuleType:
    """A stand-in module (torch is not installed here), so that pickle records the same
    `module.name` references torch.save writes."""
    parts = name.split(".")
    for i in range(1, len(parts) + 1):
        n = ".".join(parts[:i])
        if n not in sys.modules:
            sys.modules[n] = types.ModuleType(n)
        if i > 1:
            setattr(sys.modules[".".join(parts[: i - 1])], parts[i - 1], sys.modules[n])
    m = sys.modules[name]
    for k, v in attrs.items():
        v.__module__ = name
        v.__qualname__ = k
        v.__name__ = k
        setattr(m, k, v)
    return m


def _rebuild_tensor_v2(*a):  # never called: only its name is pickled
    raise AssertionError


class FloatStorage:
    pass


class _TorchTensor:  # libraries that probe `torch.Tensor` (scipy) find a class
    pass


try:  # imported before the stand-in torch exists (scipy probes torch at import)
    import joblib  # noqa: F401
    import sklearn.ensemble  # noqa: F401
    import sklearn.linear_model  # noqa: F401
except ImportError:
    pass
fake_module("torch._utils", _rebuild_tensor_v2=_rebuild_tensor_v2)
fake_module("torch", FloatStorage=FloatStorage, Tensor=_TorchTensor)


class Tensor:
    """Pickles as torch does: torch._utils._rebuild_tensor_v2 over a persistent storage."""

    def __init__(self, key: str, n: int):
        self.key, self.n = key, n

    def __reduce__(self):
        return (_rebuild_tensor_v2, (StorageRef(self.key, self.n), 0, (self.n,), (1,), False,
                                     collections.OrderedDict()))


class StorageRef:
    def __init__(self, key: str, n: int):
        self.key, self.n = key, n


class TorchPickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, StorageRef):
            return ("storage", FloatStorage, obj.key, "cpu", obj.n)
        return None


def torch_zip(path: Path, state: dict, payload: bytes | None = None, compress: bool = False) -> None:
    buf = io.BytesIO()
    TorchPickler(buf, protocol=2).dump(state)
    pkl = payload if payload is not None else buf.getvalue()
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(path, "w", method) as z:
        z.writestr("archive/data.pkl", pkl)
        for k, t in state.items():
            if isinstance(t, Tensor):
                z.writestr(f"archive/data/{t.key}", os.urandom(4 * t.n))
        z.writestr("archive/version", "3\n")


def torch_legacy(path: Path, state: dict, payload: bytes | None = None) -> None:
    """The legacy torch.save format: five pickles in a row, then raw storages."""
    out = io.BytesIO()
    for obj in (0x1950A86A20F9469CFC6C, 1001, {"protocol_version": 1001, "little_endian": True}):
        pickle.dump(obj, out, protocol=2)
    if payload is not None:
        out.write(payload)
    else:
        TorchPickler(out, protocol=2).dump(state)
    pickle.dump([t.key for t in state.values() if isinstance(t, Tensor)], out, protocol=2)
    for t in state.values():
        if isinstance(t, Tensor):
            out.write(struct.pack("<q", t.n) + os.urandom(4 * t.n))
    path.write_bytes(out.getvalue())


class Reduce:
    """An object whose unpickling calls `fn(*args)` (the classic payload)."""

    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return (self.fn, self.args)


def raw_stack_global_computed() -> bytes:
    """Protocol 4: STACK_GLOBAL whose module name is computed at load time by
    `_codecs.encode("bf", "rot13")` (= "os"), a callable numpy pickles use."""
    return (b"\x80\x04"
            b"\x8c\x07_codecs\x8c\x06encode\x93"      # _codecs.encode
            b"\x8c\x02bf\x8c\x05rot13\x86R"            # ("bf", "rot13") -> "os"
            b"\x8c\x06system\x93"                      # STACK_GLOBAL(os, system)
            b"\x8c\x04true\x85R.")


def raw_inst_p0() -> bytes:
    """Protocol 0 INST: `(S'true'\\nios\\nsystem\\n.`"""
    return b"(S'true'\nios\nsystem\n."


def build(d: Path) -> list[tuple[str, bool]]:
    """The corpus: (file name, malicious?)."""
    import numpy as np

    files: list[tuple[str, bool]] = []

    def add(name: str, malicious: bool) -> Path:
        files.append((name, malicious))
        return d / name

    state = collections.OrderedDict((f"layer{i}.weight", Tensor(str(i), 4096)) for i in range(8))
    torch_zip(add("benign_torch_state_dict.pt", False), state)
    torch_legacy(add("benign_torch_legacy.pth", False), state)
    for proto in (2, 4, 5):
        add(f"benign_numpy_p{proto}.pkl", False).write_bytes(
            pickle.dumps({"w": np.random.rand(256, 64).astype(np.float32), "step": 3}, protocol=proto))
    add("benign_ordereddict.pkl", False).write_bytes(
        pickle.dumps(collections.OrderedDict(a=[1, 2, 3], b={"x": 1.5}, c=b"\x00\x01"), protocol=2))
    add("benign_builtins.pkl", False).write_bytes(
        pickle.dumps({"s": {1, 2}, "f": frozenset([3]), "c": complex(1, 2), "b": bytearray(b"x")}, protocol=4))
    np.save(add("benign_object_array.npy", False), np.array([1, "two", 3.0], dtype=object), allow_pickle=True)
    try:
        import joblib
        from sklearn.ensemble import RandomForestClassifier
        from sklearn.linear_model import LogisticRegression

        X = np.random.rand(200, 8)
        y = (X[:, 0] > 0.5).astype(int)
        lr = LogisticRegression().fit(X, y)
        rf = RandomForestClassifier(n_estimators=5, random_state=0).fit(X, y)
        add("benign_sklearn_logreg.pkl", False).write_bytes(pickle.dumps(lr, protocol=5))
        joblib.dump(rf, add("benign_sklearn_forest.joblib", False))
        joblib.dump({"model": lr, "classes": np.array([0, 1])}, add("benign_joblib_dict.joblib", False))
    except ImportError:
        print("scikit-learn/joblib not installed: their benign files are skipped", file=sys.stderr)

    for proto in (0, 2, 4):
        add(f"mal_os_system_p{proto}.pkl", True).write_bytes(pickle.dumps(Reduce(os.system, "true"), protocol=proto))
    add("mal_builtins_exec.pkl", True).write_bytes(pickle.dumps(Reduce(exec, "pass"), protocol=4))
    add("mal_builtins_eval.pkl", True).write_bytes(pickle.dumps(Reduce(eval, "1"), protocol=2))
    add("mal_subprocess.pkl", True).write_bytes(pickle.dumps(Reduce(subprocess.Popen, ["true"]), protocol=4))
    import runpy
    add("mal_runpy.pkl", True).write_bytes(pickle.dumps(Reduce(runpy.run_path, "/dev/null"), protocol=4))
    import webbrowser
    add("mal_webbrowser.pkl", True).write_bytes(pickle.dumps(Reduce(webbrowser.open, "http://127.0.0.1"), protocol=2))
    import importlib
    add("mal_importlib.pkl", True).write_bytes(pickle.dumps(Reduce(importlib.import_module, "os"), protocol=4))
    add("mal_getattr_import.pkl", True).write_bytes(
        pickle.dumps(Reduce(getattr, Reduce(__import__, "os"), "system"), protocol=2))
    add("mal_pickle_loads.pkl", True).write_bytes(
        pickle.dumps(Reduce(pickle.loads, pickle.dumps(Reduce(os.system, "true"))), protocol=2))
    add("mal_computed_name.pkl", True).write_bytes(raw_stack_global_computed())
    add("mal_inst_p0.pkl", True).write_bytes(raw_inst_p0())
    payload = pickle.dumps(Reduce(os.system, "true"), protocol=2)
    torch_zip(add("mal_torch_zip.pt", True), state, payload=payload)
    torch_zip(add("mal_torch_zip_deflated.pt", True), state, payload=payload, compress=True)
    torch_legacy(add("mal_torch_legacy.pth", True), state, payload=payload)
    inner = d / "_inner.pt"
    torch_zip(inner, state, payload=payload)
    with zipfile.ZipFile(add("mal_nested_archive.ckpt", True), "w") as z:
        z.write(inner, "bundle/model.pt")
    inner.unlink()
    with zipfile.ZipFile(add("mal_zip_member_named_bin.pt", True), "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps(state.get("x", {}), protocol=2))
        z.writestr("archive/extra.bin", payload)
    np.save(add("mal_object_array.npy", True), np.array([Reduce(os.system, "true")], dtype=object), allow_pickle=True)
    try:
        import joblib

        joblib.dump({"model": Reduce(os.system, "true"), "w": np.zeros(1000)}, add("mal_joblib.joblib", True))
        joblib.dump({"model": Reduce(os.system, "true")}, add("mal_joblib_compressed.joblib", True), compress=3)
        joblib.dump({"w": np.zeros(1000)}, add("benign_joblib_compressed.joblib", False), compress=3)
    except ImportError:
        pass
    return files


def throughput(d: Path) -> dict[str, float]:
    """MB/s on one large checkpoint-like pickle (a 256 MB float32 array, protocol 4): each
    scanner on its own, median of 3."""
    import numpy as np

    big = d / "big_numpy.pkl"
    big.write_bytes(pickle.dumps({"w": np.ones((64, 1 << 20), dtype=np.float32)}, protocol=4))
    size = big.stat().st_size / 1e6
    out = {}
    one = {
        "mreg": lambda: subprocess.run([MREG, "scan", str(big)], capture_output=True),
        "picklescan": lambda: __import__("picklescan.scanner", fromlist=["x"]).scan_file_path(str(big)),
        "modelscan": lambda: __import__("modelscan.modelscan", fromlist=["x"]).ModelScan().scan(str(big)),
        "fickling": lambda: __import__("fickling").is_likely_safe(str(big)),
    }
    for name, fn in one.items():
        times = []
        for _ in range(3):
            t = time.perf_counter()
            try:
                fn()
            except Exception:
                pass
            times.append(time.perf_counter() - t)
        out[name] = size / statistics.median(times)
    big.unlink()
    return out


# ---- the scanners -------------------------------------------------------------------------


def run_mreg(d: Path) -> dict[str, str]:
    p = subprocess.run([MREG, "scan", str(d), "--json"], capture_output=True, text=True)
    if p.returncode not in (0, 1):
        raise SystemExit(p.stderr)
    flagged = {Path(f["file"]).name for f in json.loads(p.stdout)["findings"]}
    return {f.name: ("flagged" if f.name in flagged else "passed") for f in d.iterdir()}


def run_picklescan(d: Path) -> dict[str, str]:
    from picklescan.scanner import scan_file_path

    out = {}
    for f in d.iterdir():
        try:
            r = scan_file_path(str(f))
            out[f.name] = "flagged" if r.issues_count > 0 else ("error" if r.scan_err else "passed")
        except Exception:
            out[f.name] = "error"
    return out


def run_modelscan(d: Path) -> dict[str, str]:
    from modelscan.modelscan import ModelScan

    out = {}
    for f in d.iterdir():
        try:
            r = ModelScan().scan(str(f))
            if r.get("issues"):
                out[f.name] = "flagged"
            elif r.get("errors"):
                out[f.name] = "error"
            else:
                out[f.name] = "passed"
        except Exception:
            out[f.name] = "error"
    return out


def run_fickling(d: Path) -> dict[str, str]:
    import fickling

    out = {}
    for f in d.iterdir():
        try:
            out[f.name] = "passed" if fickling.is_likely_safe(str(f)) else "flagged"
        except Exception:
            out[f.name] = "error"
    return out


TOOLS = {"mreg": run_mreg, "picklescan": run_picklescan, "modelscan": run_modelscan, "fickling": run_fickling}


def main() -> None:
    import contextlib
    import logging

    logging.disable(logging.CRITICAL)
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        files = build(d)
        size = sum((d / n).stat().st_size for n, _ in files)
        verdicts: dict[str, dict[str, str]] = {}
        speed: dict[str, float] = {}
        for name, fn in TOOLS.items():
            times = []
            for _ in range(3):
                t = time.perf_counter()
                with open(os.devnull, "w") as null, contextlib.redirect_stdout(null), contextlib.redirect_stderr(null):
                    verdicts[name] = fn(d)
                times.append(time.perf_counter() - t)
            speed[name] = size / 1e6 / statistics.median(times)
        tools = list(TOOLS)
        print(f"Corpus: {sum(1 for _, m in files if not m)} benign, {sum(1 for _, m in files if m)} malicious files, {size / 1e6:.1f} MB.\n")
        print("| file | malicious | " + " | ".join(tools) + " |")
        print("|---|---|" + "---|" * len(tools))
        for n, mal in files:
            cells = []
            for t in tools:
                v = verdicts[t].get(n, "error")
                right = (v == "flagged") == mal
                cells.append(v if right else f"**{v}**")
            print(f"| {n} | {'yes' if mal else 'no'} | " + " | ".join(cells) + " |")
        print()
        with open(os.devnull, "w") as null, contextlib.redirect_stdout(null), contextlib.redirect_stderr(null):
            big = throughput(d)
        print("| tool | malicious flagged | benign flagged (false positives) | errors | corpus MB/s | 256 MB pickle MB/s |")
        print("|---|---|---|---|---|---|")
        n_mal = sum(1 for _, m in files if m)
        n_ben = len(files) - n_mal
        for t in tools:
            det = sum(1 for n, m in files if m and verdicts[t].get(n) == "flagged")
            fp = sum(1 for n, m in files if not m and verdicts[t].get(n) == "flagged")
            err = sum(1 for n, _ in files if verdicts[t].get(n) == "error")
            print(f"| {t} | {det}/{n_mal} | {fp}/{n_ben} | {err} | {speed[t]:.1f} | {big[t]:.0f} |")


if __name__ == "__main__":
    main()
