#!/usr/bin/env bash
# Pickle scanners side by side (issue 28): mreg scan against picklescan, modelscan and
# fickling on a generated corpus (benches/pickle_scan.py). Makes its own venv.
# Usage: benches/pickle_scan.sh        (VENV=DIR to reuse one; MREG=PATH for the binary)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV=${VENV:-$ROOT/.venv-bench-pickle}
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet picklescan modelscan fickling numpy scikit-learn joblib
fi
MREG_BIN=${MREG:-$("$ROOT/tests/cargo-bin" release)} "$VENV/bin/python" "$ROOT/benches/pickle_scan.py"
