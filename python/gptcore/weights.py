"""Reading checkpoint tensors: safetensors memory-mapped with no copy, PyTorch files only without pickle code.

Every error names the file and the tensor at fault.
"""

from __future__ import annotations

import json
import mmap
import os
import warnings
from typing import Any, Dict, List, Tuple

import numpy as np

from . import _core

SAFETENSORS_FILE = "model.safetensors"
SAFETENSORS_INDEX = "model.safetensors.index.json"
PYTORCH_FILE = "pytorch_model.bin"

# Buffers Hugging Face stores with GPT-2 that are not weights (the causal mask).
_IGNORED_SUFFIXES = (".attn.bias", ".attn.masked_bias")
_PREFIX = "transformer."

_DTYPES = {"F32": np.float32, "F16": np.float16, "BF16": None, "F64": np.float64}


class WeightsError(ValueError):
    """A checkpoint that cannot be loaded: names the file and the tensor."""


def read_safetensors(path: str) -> Dict[str, np.ndarray]:
    """{name: float32 array} from a .safetensors file. F32 tensors are views into a read-only memory map
    (no copy); F16, BF16 and F64 are converted to float32 copies."""
    tensors, _ = read_safetensors_raw(path, _DTYPES)
    return {name: _to_float32(raw, dtype, shape) for name, (dtype, shape, raw) in tensors.items()}


def read_safetensors_raw(path: str, dtypes: Dict[str, Any]
                         ) -> Tuple[Dict[str, Tuple[str, List[int], np.ndarray]], Dict[str, str]]:
    """({name: (dtype, shape, bytes as a flat uint8 view into a read-only memory map)}, the header's
    __metadata__) of a .safetensors file whose tensors all have one of `dtypes` ({name: NumPy dtype, or None
    for BF16}). Every inconsistency of the header raises WeightsError naming the file and the tensor."""
    size = os.path.getsize(path)
    if size < 8:
        raise WeightsError(f"{path}: truncated safetensors file ({size} bytes, no header)")
    with open(path, "rb") as f:
        data = np.frombuffer(mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ), dtype=np.uint8)
    header_len = int(data[:8].view("<u8")[0])
    if header_len > size - 8:
        raise WeightsError(f"{path}: truncated or not a safetensors file (header claims {header_len} bytes, "
                           f"file has {size - 8} after the length)")
    try:
        header = json.loads(bytes(data[8:8 + header_len]).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise WeightsError(f"{path}: safetensors header is not valid JSON ({e})") from None
    if not isinstance(header, dict):
        raise WeightsError(f"{path}: safetensors header is not a JSON object")
    base = 8 + header_len
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype, shape, (begin, end) = info["dtype"], [int(d) for d in info["shape"]], info["data_offsets"]
        except (KeyError, TypeError, ValueError):
            raise WeightsError(f"{path}: tensor '{name}' has a malformed header entry {info!r}") from None
        if dtype not in dtypes:
            raise WeightsError(f"{path}: tensor '{name}' has dtype {dtype}; expected one of {', '.join(dtypes)}")
        itemsize = 2 if dtype == "BF16" else np.dtype(dtypes[dtype]).itemsize
        count = int(np.prod(shape, dtype=np.int64))
        if end - begin != count * itemsize or begin < 0:
            raise WeightsError(f"{path}: tensor '{name}' spans bytes [{begin}, {end}) but shape {tuple(shape)} "
                               f"of {dtype} needs {count * itemsize}")
        if base + end > size:
            raise WeightsError(f"{path}: truncated file: tensor '{name}' ends at byte {base + end}, "
                               f"the file has {size}")
        tensors[name] = (dtype, shape, data[base + begin:base + end])
    metadata = header.get("__metadata__") or {}
    if not isinstance(metadata, dict):
        raise WeightsError(f"{path}: the header's __metadata__ is not a JSON object")
    return tensors, metadata


def release_pages(arr: np.ndarray) -> None:
    """Hands back to the kernel this process's resident pages of `arr` when it is a view into a file's memory
    map (read_safetensors): they leave this process's RSS and stay in the page cache; reading `arr` again
    faults them back in from the file. Does nothing for other arrays."""
    root, base = arr, arr.base
    while isinstance(base, np.ndarray):
        root, base = base, base.base
    if not (isinstance(base, memoryview) and isinstance(base.obj, mmap.mmap)) or arr.nbytes == 0:
        return
    start = arr.ctypes.data - root.ctypes.data  # root views the whole map from its first byte
    first = -(-start // mmap.PAGESIZE) * mmap.PAGESIZE  # only pages wholly inside arr: neighbours may be in use
    last = (start + arr.nbytes) // mmap.PAGESIZE * mmap.PAGESIZE
    if last > first:
        base.obj.madvise(mmap.MADV_DONTNEED, first, last - first)


def _to_float32(raw: np.ndarray, dtype: str, shape: List[int]) -> np.ndarray:
    """float32 (shape) from a tensor's bytes: a view when they are F32 and 4-byte aligned, else a copy."""
    if dtype == "BF16":
        bits = raw.view("<u2").astype(np.uint32) << 16
        return bits.view(np.float32).reshape(shape)
    arr = raw.view(np.dtype(_DTYPES[dtype]).newbyteorder("<")).reshape(shape)
    if dtype != "F32":
        return arr.astype(np.float32)
    if arr.ctypes.data % 4:  # packed after an odd-sized tensor: the kernels need 4-byte alignment
        return arr.copy()
    return arr


def read_pytorch(path: str) -> Dict[str, np.ndarray]:
    """A pytorch_model.bin through torch.load(weights_only=True), which cannot run code from the file."""
    try:
        import torch
    except ImportError:
        raise WeightsError(
            f"{path}: a PyTorch pickle checkpoint. gptcore reads it only through torch.load(weights_only=True), "
            "and torch is not installed. Either `pip install torch`, or convert it once where torch is "
            "available: python -c \"import torch, safetensors.torch as st; "
            f"st.save_file(torch.load('{path}', weights_only=True), 'model.safetensors')\"") from None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # the unpickler's refusals and corrupt files both land here
        raise WeightsError(f"{path}: cannot be read safely with torch.load(weights_only=True): {e}") from None
    out = {}
    for name, t in state.items():
        if not t.is_floating_point():
            raise WeightsError(f"{path}: tensor '{name}' has dtype {t.dtype}; expected a float type")
        out[name] = t.detach().to(torch.float32).contiguous().numpy()
    return out


def read_checkpoint(model_dir: str) -> Dict[str, np.ndarray]:
    """All tensors of a Hugging Face model directory, by their stored names."""
    single = os.path.join(model_dir, SAFETENSORS_FILE)
    index = os.path.join(model_dir, SAFETENSORS_INDEX)
    if os.path.isfile(single):
        return read_safetensors(single)
    if os.path.isfile(index):
        with open(index, encoding="utf-8") as f:
            try:
                shards = sorted(set(json.load(f)["weight_map"].values()))
            except (json.JSONDecodeError, KeyError, AttributeError):
                raise WeightsError(f"{index}: expected a JSON object with a 'weight_map'") from None
        tensors: Dict[str, np.ndarray] = {}
        for shard in shards:
            tensors.update(read_safetensors(os.path.join(model_dir, shard)))
        return tensors
    if os.path.isfile(os.path.join(model_dir, PYTORCH_FILE)):
        return read_pytorch(os.path.join(model_dir, PYTORCH_FILE))
    raise FileNotFoundError(f"{model_dir}: no weights; expected {SAFETENSORS_FILE}, {SAFETENSORS_INDEX} "
                            f"or {PYTORCH_FILE}")


def gpt2_tensors(stored: Dict[str, np.ndarray], config: _core.GPTConfig, source: str) -> Dict[str, np.ndarray]:
    """Hugging Face GPT-2 names -> the core's names (the same, without the 'transformer.' prefix), checked
    against the shapes the config needs. A missing lm_head.weight means the head is tied to wte."""
    tensors = {}
    for name, arr in stored.items():
        if name.endswith(_IGNORED_SUFFIXES):
            continue
        tensors[name[len(_PREFIX):] if name.startswith(_PREFIX) else name] = arr
    expected = dict(_core.gpt_tensor_shapes(config))
    for name, shape in expected.items():
        if name not in tensors:
            if name == "lm_head.weight":
                continue
            raise WeightsError(f"{source}: missing tensor '{name}' (expected shape {tuple(shape)})")
        if tuple(tensors[name].shape) != tuple(shape):
            raise WeightsError(f"{source}: tensor '{name}' has shape {tuple(tensors[name].shape)}, "
                               f"expected {tuple(shape)} from config.json")
    unexpected = sorted(set(tensors) - set(expected))
    if unexpected:
        warnings.warn(f"{source}: ignoring {len(unexpected)} tensors GPT-2 does not use: "
                      f"{', '.join(unexpected[:5])}{' ...' if len(unexpected) > 5 else ''}", stacklevel=3)
        for name in unexpected:
            del tensors[name]
    return tensors
