"""
each kernel and its plain reference, for tests
"""
from __future__ import annotations
import numpy
import numpy.typing
import typing
__all__: list[str] = ['attention_forward', 'attention_probs', 'embedding_forward', 'gelu_forward', 'layernorm_forward', 'matmul_forward', 'softmax_forward']
def attention_forward(q: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], k_cache: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], v_cache: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], pos0: typing.SupportsInt | typing.SupportsIndex, scale: typing.SupportsFloat | typing.SupportsIndex, window: typing.SupportsInt | typing.SupportsIndex = 0, naive: bool = False) -> numpy.typing.NDArray[numpy.float32]:
    """
    causal attention of q (n_q, hd) at positions pos0.. over k_cache, v_cache (pos0 + n_q, hd)
    """
def attention_probs(q: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], k_cache: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], v_cache: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], pos0: typing.SupportsInt | typing.SupportsIndex, scale: typing.SupportsFloat | typing.SupportsIndex, window: typing.SupportsInt | typing.SupportsIndex = 0) -> tuple[numpy.typing.NDArray[numpy.float32], numpy.typing.NDArray[numpy.float32]]:
    """
    attention_forward that also returns the probabilities (n_q, n_kv)
    """
def embedding_forward(tokens: typing.Annotated[numpy.typing.ArrayLike, numpy.int32], positions: typing.Annotated[numpy.typing.ArrayLike, numpy.int32], wte: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], wpe: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], naive: bool = False) -> numpy.typing.NDArray[numpy.float32]:
    """
    out (T, C) = wte[tokens] + wpe[positions]; ids are not checked here
    """
def gelu_forward(inp: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], naive: bool = False) -> numpy.typing.NDArray[numpy.float32]:
    """
    gelu_new (tanh form) of a flat array
    """
def layernorm_forward(inp: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], weight: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], bias: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], eps: typing.SupportsFloat | typing.SupportsIndex, naive: bool = False) -> numpy.typing.NDArray[numpy.float32]:
    """
    out (N, C) = layernorm(inp (N, C)) * weight (C) + bias (C)
    """
def matmul_forward(inp: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], weight: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], bias: typing.Annotated[numpy.typing.ArrayLike, numpy.float32] | None = None, layout: str = 'in_out', out: typing.Annotated[numpy.typing.ArrayLike, numpy.float32] | None = None, n_threads: typing.SupportsInt | typing.SupportsIndex = 1, naive: bool = False) -> numpy.typing.NDArray[numpy.float32]:
    """
    inp (M, K) @ weight + bias; weight is (K, N) for layout 'in_out', (N, K) for 'out_in'. With `out` given, the product is added to a copy of it (the residual add).
    """
def softmax_forward(x: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], naive: bool = False) -> numpy.typing.NDArray[numpy.float32]:
    """
    row-wise softmax of x (N, C)
    """
