"""Weights converted ahead of time for bf16 / int8 models.

Converting a float32 checkpoint to bf16 or int8 takes a while (half a second at the 124M shape) and, while it
runs, holds the checkpoint's pages and the converted copy at once. So the first load of a model in a reduced
precision writes the converted weights to a file in a cache directory, and every later load memory-maps that
file: no conversion, no copy, and only the converted weights ever become resident.

The file is an ordinary safetensors file (any safetensors reader opens it):
  - each converted matrix ``name`` is stored (N, K), whatever the checkpoint's layout: ``name`` holds the bf16
    bits (dtype BF16) or the int8 values (I8), and for int8 ``name + SCALES`` the float32 scales (N, groups);
  - layer norms, biases and wpe are float32 as in the checkpoint;
  - ``__metadata__`` names the format, the dtype, the int8 group size and the source files.
Float32 tensors come first, then the bf16 or int8 values, so every tensor is aligned to its element size.

Its name is a hash of the dtype, the format and each source file's path, size and modification time, so a
changed checkpoint gets a new file. The directory is $GPTCORE_CACHE/converted, else
$XDG_CACHE_HOME/gptcore/converted, else ~/.cache/gptcore/converted; its files can be deleted at any time.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

from . import _core
from .weights import (PYTORCH_FILE, SAFETENSORS_FILE, SAFETENSORS_INDEX, WeightsError, read_safetensors_raw,
                      release_pages)

FORMAT = "gptcore-converted/1"
SCALES = ".scales"
_ALIGN = 64  # the data section starts on a cache line
_STORED = {"F32": np.float32, "BF16": np.uint16, "I8": np.int8}


def layout_of(name: str) -> Optional[str]:
    """The checkpoint layout of a tensor a bf16 / int8 model converts ("in_out" or "out_in"), None for those that
    stay float32: the core's rule (converted_matrix_layout in cpp/model/gpt.h)."""
    return _core.converted_layout(name)


def default_directory() -> str:
    root = os.environ.get("GPTCORE_CACHE")
    if not root:
        root = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
                            "gptcore")
    return os.path.join(root, "converted")


def source_files(model_dir: str) -> List[str]:
    """The weight files read_checkpoint reads for model_dir, in its order of preference."""
    single = os.path.join(model_dir, SAFETENSORS_FILE)
    if os.path.isfile(single):
        return [single]
    index = os.path.join(model_dir, SAFETENSORS_INDEX)
    if os.path.isfile(index):
        try:
            with open(index, encoding="utf-8") as f:
                shards = sorted(set(json.load(f)["weight_map"].values()))
        except (OSError, ValueError, KeyError, AttributeError, TypeError):
            return [index]  # read_checkpoint reports what is wrong with it
        return [index] + [os.path.join(model_dir, s) for s in shards]
    return [os.path.join(model_dir, PYTORCH_FILE)]


def cache_path(model_dir: str, dtype: str, directory: str) -> Optional[str]:
    """The converted file of model_dir's weights in dtype, named by what they were converted from; None when
    a weight file is missing (reading the checkpoint then says what is wrong)."""
    key: List[object] = [FORMAT, dtype, _core.kernels.INT8_GROUP_SIZE]
    for path in source_files(model_dir):
        try:
            st = os.stat(path)
        except OSError:
            return None
        key.append([os.path.realpath(path), st.st_size, st.st_mtime_ns])
    digest = hashlib.sha256(json.dumps(key).encode()).hexdigest()[:24]
    name = os.path.basename(os.path.normpath(model_dir)) or "model"
    return os.path.join(directory, f"{name}-{digest}.{dtype}.safetensors")


def _stored_shapes(name: str, shape: Tuple[int, ...], dtype: str) -> List[Tuple[str, str, List[int]]]:
    """(name, safetensors dtype, shape) of what a checkpoint tensor becomes in the converted file."""
    layout = layout_of(name)
    if layout is None:
        return [(name, "F32", list(shape))]
    k, n = shape if layout == "in_out" else shape[::-1]
    if dtype == "bf16":
        return [(name, "BF16", [n, k])]
    groups = -(-k // _core.kernels.INT8_GROUP_SIZE)
    return [(name + SCALES, "F32", [n, groups]), (name, "I8", [n, k])]


def write(path: str, tensors: Dict[str, np.ndarray], dtype: str, n_threads: int, sources: List[str]) -> None:
    """Converts tensors (the core's names, float32) to dtype and writes them to path, atomically (a temporary
    file in the same directory, renamed). One matrix is converted at a time, and each source tensor's pages of a
    memory-mapped checkpoint are handed back once converted, so the peak stays near one tensor's size."""
    entries = [e for name in sorted(tensors) for e in _stored_shapes(name, tensors[name].shape, dtype)]
    entries.sort(key=lambda e: e[1] != "F32")  # float32 first: every tensor aligned to its element size
    header: Dict[str, object] = {"__metadata__": {
        "format": FORMAT, "dtype": dtype, "int8_group_size": str(_core.kernels.INT8_GROUP_SIZE),
        "sources": json.dumps([os.path.realpath(s) for s in sources])}}
    offset = 0
    offsets = {}
    for name, st_dtype, shape in entries:
        nbytes = int(np.prod(shape, dtype=np.int64)) * np.dtype(_STORED[st_dtype]).itemsize
        header[name] = {"dtype": st_dtype, "shape": shape, "data_offsets": [offset, offset + nbytes]}
        offsets[name] = offset
        offset += nbytes
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-(8 + len(raw)) % _ALIGN)  # safetensors allows trailing spaces in the header
    base = 8 + len(raw)

    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".converting-", suffix=".tmp")
    try:
        try:
            _pwrite_all(fd, len(raw).to_bytes(8, "little") + raw, 0)
            for name in sorted(tensors):
                arr, layout = tensors[name], layout_of(name)
                if layout is None:
                    _pwrite_all(fd, np.ascontiguousarray(arr, dtype=np.float32), base + offsets[name])
                    continue
                try:
                    q = _core.kernels.quantize(arr, layout, dtype, n_threads)
                except ValueError as e:
                    raise WeightsError(f"{', '.join(sources)}: tensor '{name}': {e}") from None
                if dtype == "bf16":
                    _pwrite_all(fd, q.bf16, base + offsets[name])
                else:
                    _pwrite_all(fd, q.scales, base + offsets[name + SCALES])
                    _pwrite_all(fd, q.int8, base + offsets[name])
                del q
                release_pages(arr)
            os.ftruncate(fd, base + offset)
            os.fchmod(fd, 0o644)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _pwrite_all(fd: int, data, offset: int) -> None:
    view = memoryview(data).cast("B")
    while view:
        written = os.pwrite(fd, view, offset)
        view, offset = view[written:], offset + written


def load(path: str, config: _core.GPTConfig, dtype: str, n_threads: int) -> Tuple[_core.GPT, int]:
    """(the core model over path's memory-mapped weights, number of parameters). Raises WeightsError or
    ValueError naming the file when it is not a converted file of this dtype and config."""
    stored, meta = read_safetensors_raw(path, _STORED)
    if meta.get("format") != FORMAT or meta.get("dtype") != dtype or \
            meta.get("int8_group_size") != str(_core.kernels.INT8_GROUP_SIZE):
        raise WeightsError(f"{path}: not a {FORMAT} file of {dtype} weights (metadata {meta})")
    vectors: Dict[str, np.ndarray] = {}
    matrices: Dict[str, Tuple[np.ndarray, Optional[np.ndarray]]] = {}
    n_params = 0
    for name, (st_dtype, shape, raw) in stored.items():
        if name.endswith(SCALES):
            continue
        arr = raw.view(_STORED[st_dtype]).reshape(shape)
        n_params += arr.size
        if layout_of(name) is not None:
            scales = None
            if dtype == "int8":
                if name + SCALES not in stored:
                    raise WeightsError(f"{path}: matrix '{name}' has no '{name + SCALES}'")
                s_dtype, s_shape, s_raw = stored[name + SCALES]
                scales = s_raw.view(np.float32).reshape(s_shape)
            matrices[name] = (arr, scales)
        else:
            vectors[name] = arr
    try:
        core = _core.GPT.converted(config, vectors, matrices, n_threads)
    except (ValueError, TypeError) as e:
        raise WeightsError(f"{path}: {e}") from None
    return core, n_params


def load_or_convert(model_dir: str, config: _core.GPTConfig, dtype: str, n_threads: int, directory: str,
                    read_tensors: Callable[[], Dict[str, np.ndarray]]) -> Tuple[_core.GPT, int]:
    """A bf16 / int8 core model of model_dir: from its converted file in `directory`, which is written first
    when missing or unreadable. When it cannot be written (a read-only directory, a full disk) the weights are
    converted in memory, with a warning saying why; read_tensors() gives the checkpoint's tensors by the core's
    names."""
    path = cache_path(model_dir, dtype, directory)
    if path is not None and os.path.isfile(path):
        try:
            return load(path, config, dtype, n_threads)
        except (WeightsError, ValueError, OSError) as e:
            warnings.warn(f"gptcore: converting {model_dir} to {dtype} again: the converted file cannot be used "
                          f"({e})", stacklevel=3)
    tensors = read_tensors()
    if path is not None:
        try:
            write(path, tensors, dtype, n_threads, source_files(model_dir))
            return load(path, config, dtype, n_threads)
        except OSError as e:
            warnings.warn(f"gptcore: cannot keep the {dtype} weights of {model_dir} in {directory} ({e}); "
                          f"converting them in memory, which every load repeats", stacklevel=3)
    n_params = int(sum(a.size for a in tensors.values()))
    return _core.GPT.quantized(config, tensors, n_threads, dtype), n_params
