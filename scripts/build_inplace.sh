#!/usr/bin/env bash
# Developer build: compiles the extension into build/inplace and copies it next to the Python sources,
# so `PYTHONPATH=python pytest` runs the working tree without installing. Incremental (ninja).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
cmake -S . -B build/inplace -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DPython_EXECUTABLE="$(command -v "$PY")" -Dpybind11_DIR="$("$PY" -m pybind11 --cmakedir)" >/dev/null
cmake --build build/inplace
cp -f build/inplace/_core*.so python/gptcore/
