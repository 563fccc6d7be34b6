"""
gptcore's C++ core: kernels, the KV cache and the GPT forward pass
"""
from __future__ import annotations
import collections.abc
import numpy
import numpy.typing
import typing
from . import kernels
__all__: list[str] = ['GPT', 'GPTConfig', 'KVCache', 'blas_config', 'blas_name', 'blas_num_threads', 'gpt_tensor_shapes', 'kernels', 'measure_read_bandwidth', 'physical_cores', 'simd_level']
class GPTConfig:
    """
    Model hyper-parameters, as the C++ core reads them
    """
    scale_attn_by_inverse_layer_idx: bool
    scale_attn_weights: bool
    def __init__(self) -> None:
        ...
    def validate(self) -> None:
        """
        Raises ValueError naming the first field out of range
        """
    @property
    def head_dim(self) -> int:
        ...
    @property
    def layer_norm_epsilon(self) -> float:
        ...
    @layer_norm_epsilon.setter
    def layer_norm_epsilon(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    @property
    def n_embd(self) -> int:
        ...
    @n_embd.setter
    def n_embd(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def n_head(self) -> int:
        ...
    @n_head.setter
    def n_head(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def n_inner(self) -> int:
        ...
    @n_inner.setter
    def n_inner(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def n_layer(self) -> int:
        ...
    @n_layer.setter
    def n_layer(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def n_positions(self) -> int:
        ...
    @n_positions.setter
    def n_positions(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def vocab_size(self) -> int:
        ...
    @vocab_size.setter
    def vocab_size(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
class KVCache:
    """
    Keys and values of every layer for n_slots sequences of up to `capacity` positions
    """
    def __init__(self, config: GPTConfig, n_slots: typing.SupportsInt | typing.SupportsIndex, capacity: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def length(self, slot: typing.SupportsInt | typing.SupportsIndex) -> int:
        """
        positions filled in a slot
        """
    def set_length(self, slot: typing.SupportsInt | typing.SupportsIndex, length: typing.SupportsInt | typing.SupportsIndex) -> None:
        """
        truncate a slot (0 frees it for a new sequence)
        """
    @property
    def capacity(self) -> int:
        ...
    @property
    def n_slots(self) -> int:
        ...
    @property
    def nbytes(self) -> int:
        ...
class GPT:
    """
    The forward pass of a GPT-2 model over borrowed float32 weights
    """
    def __init__(self, config: GPTConfig, tensors: dict, n_threads: typing.SupportsInt | typing.SupportsIndex) -> None:
        """
        tensors: {name: float32 array} by Hugging Face GPT-2 names without the 'transformer.' prefix
        """
    def forward(self, cache: KVCache, tokens: typing.Annotated[numpy.typing.ArrayLike, numpy.int32], segments: collections.abc.Sequence[tuple[typing.SupportsInt | typing.SupportsIndex, typing.SupportsInt | typing.SupportsIndex]], all_logits: bool) -> numpy.typing.NDArray[numpy.float32]:
        """
        Run tokens (int32, the segments' tokens concatenated) through the model, appending to the cache. segments: [(slot, n_tokens)]. Returns float32 logits (n_tokens, V) if all_logits, else (n_segments, V) for each segment's last token. Releases the GIL.
        """
    def trace(self, cache: KVCache, tokens: typing.Annotated[numpy.typing.ArrayLike, numpy.int32], slot: typing.SupportsInt | typing.SupportsIndex, hidden_states: bool, attentions: bool) -> tuple[numpy.typing.NDArray[numpy.float32], typing.Any, typing.Any]:
        """
        forward() of one sequence's tokens into `slot` that also returns (logits (T, V), hidden_states (n_layer + 1, T, C) or None, attentions (n_layer, n_head, T, n_kv) or None). hidden_states are each layer's input and, last, the final layer norm's output (transformers' convention).
        """
    @property
    def config(self) -> GPTConfig:
        ...
    @property
    def n_threads(self) -> int:
        ...
def blas_config() -> str:
    """
    OpenBLAS's own build description
    """
def blas_name() -> str:
    """
    'scipy' (scipy-openblas32 wheel) or 'system'
    """
def blas_num_threads() -> int:
    """
    OpenBLAS's own thread count (1 once a model exists)
    """
def gpt_tensor_shapes(config: GPTConfig) -> list[tuple[str, list[int]]]:
    """
    [(name, shape)] of the tensors a config needs; 'lm_head.weight' is optional (tied to wte)
    """
def measure_read_bandwidth(nbytes: typing.SupportsInt | typing.SupportsIndex = 536870912, n_threads: typing.SupportsInt | typing.SupportsIndex = 1, repeats: typing.SupportsInt | typing.SupportsIndex = 5) -> float:
    """
    memory read bandwidth in GB/s (best of `repeats` passes over nbytes), for rooflines in benchmarks
    """
def physical_cores() -> int:
    """
    physical cores this process may run on
    """
def simd_level() -> str:
    """
    'avx512', 'avx2' or 'generic'
    """
