#!/usr/bin/env bash
# Developer build: compiles the extension into build/inplace and copies it next to the Python sources,
# so `PYTHONPATH=python pytest` runs the working tree without installing. Incremental (ninja).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
cmake -S . -B build/inplace -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DPython_EXECUTABLE="$(command -v "$PY")" -Dpybind11_DIR="$("$PY" -m pybind11 --cmakedir)" >/dev/null
cmake --build build/inplace
# A new file renamed over the old one: a process that has the old one loaded (a test run) keeps its copy,
# where copying in place would rewrite the pages it is executing.
for so in build/inplace/_core*.so; do
  cp -f "$so" "python/gptcore/.$(basename "$so").tmp"
  mv -f "python/gptcore/.$(basename "$so").tmp" "python/gptcore/$(basename "$so")"
done
