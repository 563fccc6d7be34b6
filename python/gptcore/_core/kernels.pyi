"""
each kernel and its plain reference, for tests; quantize also writes converted weights (converted.py)
"""
from __future__ import annotations
import numpy
import numpy.typing
import typing
__all__: list[str] = ['INT8_GROUP_SIZE', 'QuantizedMatrix', 'attention_forward', 'attention_probs', 'embedding_forward', 'embedding_forward_quantized', 'floats_from_halves', 'gelu_forward', 'halves_from_floats', 'layernorm_forward', 'matmul_forward', 'matmul_quantized_forward', 'quantize', 'quantize_activations', 'quantizes_activations', 'softmax_forward']
class QuantizedMatrix:
    """
    A bf16 or int8 weight matrix (N, K) (cpp/kernels/quantize.h)
    """
    def dequantize(self) -> numpy.typing.NDArray[numpy.float32]:
        """
        the float32 weights (N, K)
        """
    @property
    def bf16(self) -> numpy.typing.NDArray[numpy.uint16]:
        """
        a copy of the bf16 bits (N, K) as uint16; empty (0,) for int8
        """
    @property
    def dtype(self) -> str:
        ...
    @property
    def int8(self) -> numpy.typing.NDArray[numpy.int8]:
        """
        a copy of the int8 values (N, K); empty (0,) for bf16
        """
    @property
    def nbytes(self) -> int:
        ...
    @property
    def scales(self) -> numpy.typing.NDArray[numpy.float32]:
        """
        a copy of the int8 scales (N, ceil(K / group_size)); empty (0,) for bf16
        """
    @property
    def shape(self) -> tuple[int, int]:
        ...
def attention_forward(q: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], k_cache: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], v_cache: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], pos0: typing.SupportsInt | typing.SupportsIndex, scale: typing.SupportsFloat | typing.SupportsIndex, window: typing.SupportsInt | typing.SupportsIndex = 0, naive: bool = False, kv_dtype: str = 'float32') -> numpy.typing.NDArray[numpy.float32]:
    """
    causal attention of q (n_q, hd) at positions pos0.. over k_cache, v_cache (pos0 + n_q, hd); kv_dtype 'float16' stores the cache as float16 first, as a float16 KVCache does
    """
def attention_probs(q: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], k_cache: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], v_cache: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], pos0: typing.SupportsInt | typing.SupportsIndex, scale: typing.SupportsFloat | typing.SupportsIndex, window: typing.SupportsInt | typing.SupportsIndex = 0, kv_dtype: str = 'float32') -> tuple[numpy.typing.NDArray[numpy.float32], numpy.typing.NDArray[numpy.float32]]:
    """
    attention_forward that also returns the probabilities (n_q, n_kv)
    """
def embedding_forward(tokens: typing.Annotated[numpy.typing.ArrayLike, numpy.int32], positions: typing.Annotated[numpy.typing.ArrayLike, numpy.int32], wte: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], wpe: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], naive: bool = False) -> numpy.typing.NDArray[numpy.float32]:
    """
    out (T, C) = wte[tokens] + wpe[positions]; ids are not checked here
    """
def embedding_forward_quantized(tokens: typing.Annotated[numpy.typing.ArrayLike, numpy.int32], positions: typing.Annotated[numpy.typing.ArrayLike, numpy.int32], wte: QuantizedMatrix, wpe: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], naive: bool = False) -> numpy.typing.NDArray[numpy.float32]:
    """
    out (T, C) = wte[tokens] + wpe[positions] with wte a QuantizedMatrix (V, C)
    """
def floats_from_halves(h: typing.Annotated[numpy.typing.ArrayLike, numpy.uint16], portable: bool = False) -> numpy.typing.NDArray[numpy.float32]:
    """
    float32 values of float16 bits (uint16), flattened
    """
def gelu_forward(inp: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], naive: bool = False) -> numpy.typing.NDArray[numpy.float32]:
    """
    gelu_new (tanh form) of a flat array
    """
def halves_from_floats(x: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], portable: bool = False) -> numpy.typing.NDArray[numpy.uint16]:
    """
    float16 bits (uint16) of the values of x, flattened
    """
def layernorm_forward(inp: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], weight: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], bias: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], eps: typing.SupportsFloat | typing.SupportsIndex, naive: bool = False) -> numpy.typing.NDArray[numpy.float32]:
    """
    out (N, C) = layernorm(inp (N, C)) * weight (C) + bias (C)
    """
def matmul_forward(inp: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], weight: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], bias: typing.Annotated[numpy.typing.ArrayLike, numpy.float32] | None = None, layout: str = 'in_out', out: typing.Annotated[numpy.typing.ArrayLike, numpy.float32] | None = None, n_threads: typing.SupportsInt | typing.SupportsIndex = 1, naive: bool = False) -> numpy.typing.NDArray[numpy.float32]:
    """
    inp (M, K) @ weight + bias; weight is (K, N) for layout 'in_out', (N, K) for 'out_in'. With `out` given, the product is added to a copy of it (the residual add).
    """
def matmul_quantized_forward(inp: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], weight: QuantizedMatrix, bias: typing.Annotated[numpy.typing.ArrayLike, numpy.float32] | None = None, out: typing.Annotated[numpy.typing.ArrayLike, numpy.float32] | None = None, n_threads: typing.SupportsInt | typing.SupportsIndex = 1, naive: bool = False, portable: bool = False, int8_activations: bool = False) -> numpy.typing.NDArray[numpy.float32]:
    """
    inp (M, K) @ weight^T + bias for a QuantizedMatrix weight (N, K); with `out`, added to a copy of it. portable: the plain-loop decoding path instead of the AVX2 one. int8_activations (naive only): the reference of the input rows quantized as int8 decoding quantizes them (see quantizes_activations)
    """
def quantize(weight: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], layout: str, dtype: str, n_threads: typing.SupportsInt | typing.SupportsIndex = 1) -> QuantizedMatrix:
    """
    the bf16 or int8 copy (N, K) of weight (K, N) for layout 'in_out' or (N, K) for 'out_in'
    """
def quantize_activations(x: typing.Annotated[numpy.typing.ArrayLike, numpy.float32]) -> tuple[numpy.typing.NDArray[numpy.int8], numpy.typing.NDArray[numpy.float32]]:
    """
    (q (M, K) int8, scales (M, groups)) of the rows x (M, K), as int8 decoding quantizes them
    """
def quantizes_activations(weight: QuantizedMatrix, M: typing.SupportsInt | typing.SupportsIndex) -> bool:
    """
    whether matmul_quantized_forward multiplies M rows by weight as int8 x int8
    """
def softmax_forward(x: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], naive: bool = False) -> numpy.typing.NDArray[numpy.float32]:
    """
    row-wise softmax of x (N, C)
    """
INT8_GROUP_SIZE: int = 64
