#!/usr/bin/env bash
# Regenerates the type stubs of the native module (python/gptcore/_core/*.pyi) from the built extension,
# so editors and mypy see the C++ API with its docstrings. Run after changing cpp/bindings.cpp.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
PYTHONPATH=python pybind11-stubgen gptcore._core -o "$out" --numpy-array-use-type-var
rm -rf python/gptcore/_core
cp -r "$out/gptcore/_core" python/gptcore/_core
rm -rf "$out"
