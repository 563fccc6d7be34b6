"""
gptcore's C++ core: kernels, the KV cache and the GPT forward pass
"""
from __future__ import annotations
import collections.abc
import numpy
import numpy.typing
import typing
from . import kernels
__all__: list[str] = ['GPT', 'GPTConfig', 'KVCache', 'Sampler', 'SamplingParams', 'Tokenizer', 'blas_config', 'blas_name', 'blas_num_threads', 'converted_layout', 'gpt_tensor_shapes', 'kernels', 'measure_read_bandwidth', 'philox4x32_10', 'philox_uniform', 'physical_cores', 'pretokenize', 'simd_level', 'unicode_char_classes']
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
    def __init__(self, config: GPTConfig, n_slots: typing.SupportsInt | typing.SupportsIndex, capacity: typing.SupportsInt | typing.SupportsIndex, dtype: str = 'float32') -> None:
        """
        dtype: how keys and values are stored, 'float32' or 'float16' (half the bytes; attention widens them to float32)
        """
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
    def dtype(self) -> str:
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
    @staticmethod
    def converted(config: GPTConfig, vectors: dict, matrices: dict, n_threads: typing.SupportsInt | typing.SupportsIndex) -> GPT:
        """
        A bf16 / int8 model over weights converted ahead of time, with no copy: vectors {name: float32 array} (layer norms, biases, wpe), matrices {name: (values, scales)}, values (N, K) uint16 bf16 bits with scales None, or int8 with float32 scales (N, ceil(K / INT8_GROUP_SIZE))
        """
    @staticmethod
    def quantized(config: GPTConfig, tensors: dict, n_threads: typing.SupportsInt | typing.SupportsIndex, dtype: str) -> GPT:
        """
        A model with the linear layers' matrices and wte/lm_head converted to dtype 'bf16' or 'int8' and the other tensors copied: it keeps no reference to the arrays. Releases the GIL while converting.
        """
    def __init__(self, config: GPTConfig, tensors: dict, n_threads: typing.SupportsInt | typing.SupportsIndex) -> None:
        """
        A float32 model over the arrays themselves (no copy). tensors: {name: float32 array} by Hugging Face GPT-2 names without the 'transformer.' prefix
        """
    def forward(self, cache: KVCache, tokens: typing.Annotated[numpy.typing.ArrayLike, numpy.int32], segments: collections.abc.Sequence[tuple[typing.SupportsInt | typing.SupportsIndex, typing.SupportsInt | typing.SupportsIndex]], all_logits: bool) -> numpy.typing.NDArray[numpy.float32]:
        """
        Run tokens (int32, the segments' tokens concatenated) through the model, appending to the cache. segments: [(slot, n_tokens)]. Returns float32 logits (n_tokens, V) if all_logits, else (n_segments, V) for each segment's last token. Releases the GIL.
        """
    def lm_head(self, hidden: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], final_norm: bool) -> numpy.typing.NDArray[numpy.float32]:
        """
        float32 logits (rows, V) of hidden states (rows, n_embd): the final layer norm first when final_norm, then the LM head, in the model's precision. Releases the GIL.
        """
    def trace(self, cache: KVCache, tokens: typing.Annotated[numpy.typing.ArrayLike, numpy.int32], slot: typing.SupportsInt | typing.SupportsIndex, hidden_states: bool, attentions: bool) -> tuple[numpy.typing.NDArray[numpy.float32], typing.Any, typing.Any]:
        """
        forward() of one sequence's tokens into `slot` that also returns (logits (T, V), hidden_states (n_layer + 1, T, C) or None, attentions (n_layer, n_head, T, n_kv) or None). hidden_states are each layer's input and, last, the final layer norm's output (transformers' convention).
        """
    @property
    def config(self) -> GPTConfig:
        ...
    @property
    def dtype(self) -> str:
        """
        'fp32', 'bf16' or 'int8': the precision of the weight matrices
        """
    @property
    def n_threads(self) -> int:
        ...
    @property
    def weights_nbytes(self) -> int:
        """
        bytes of the weights the forward pass reads (borrowed or owned)
        """
class SamplingParams:
    """
    Options shared by the sequences of one generate call (cpp/sampling/sampler.h)
    """
    do_sample: bool
    def __init__(self) -> None:
        ...
    def validate(self, vocab_size: typing.SupportsInt | typing.SupportsIndex) -> None:
        """
        Raises ValueError naming the first option out of range
        """
    @property
    def bad_words_ids(self) -> list[list[int]]:
        ...
    @bad_words_ids.setter
    def bad_words_ids(self, arg0: collections.abc.Sequence[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex]]) -> None:
        ...
    @property
    def eos_token_ids(self) -> list[int]:
        ...
    @eos_token_ids.setter
    def eos_token_ids(self, arg0: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex]) -> None:
        ...
    @property
    def frequency_penalty(self) -> float:
        ...
    @frequency_penalty.setter
    def frequency_penalty(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    @property
    def logit_bias(self) -> list[tuple[int, float]]:
        ...
    @logit_bias.setter
    def logit_bias(self, arg0: collections.abc.Sequence[tuple[typing.SupportsInt | typing.SupportsIndex, typing.SupportsFloat | typing.SupportsIndex]]) -> None:
        ...
    @property
    def min_new_tokens(self) -> int:
        ...
    @min_new_tokens.setter
    def min_new_tokens(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def min_p(self) -> float:
        ...
    @min_p.setter
    def min_p(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    @property
    def no_repeat_ngram_size(self) -> int:
        ...
    @no_repeat_ngram_size.setter
    def no_repeat_ngram_size(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def presence_penalty(self) -> float:
        ...
    @presence_penalty.setter
    def presence_penalty(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    @property
    def repetition_penalty(self) -> float:
        ...
    @repetition_penalty.setter
    def repetition_penalty(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    @property
    def temperature(self) -> float:
        ...
    @temperature.setter
    def temperature(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    @property
    def top_k(self) -> int:
        ...
    @top_k.setter
    def top_k(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def top_p(self) -> float:
        ...
    @top_p.setter
    def top_p(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    @property
    def typical_p(self) -> float:
        ...
    @typical_p.setter
    def typical_p(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
class Sampler:
    """
    Picks each sequence's next token: logits processors in transformers' order, then a draw from the sequence's own Philox stream, or the argmax
    """
    def __init__(self, params: SamplingParams, vocab_size: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def add_sequence(self, prompt: typing.Annotated[numpy.typing.ArrayLike, numpy.int32], seed: typing.SupportsInt | typing.SupportsIndex, stream: typing.SupportsInt | typing.SupportsIndex = 0) -> int:
        """
        Add a sequence (its int32 prompt ids, its seed and stream); returns its index
        """
    def process(self, seq: typing.SupportsInt | typing.SupportsIndex, logits: typing.Annotated[numpy.typing.ArrayLike, numpy.float32]) -> numpy.typing.NDArray[numpy.float32]:
        """
        the processed copy of logits (V) a draw for `seq` would use
        """
    def sample(self, seqs: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], logits: typing.Annotated[numpy.typing.ArrayLike, numpy.float32]) -> tuple[numpy.typing.NDArray[numpy.int32], numpy.typing.NDArray[numpy.float32], numpy.typing.NDArray[numpy.float32]]:
        """
        Pick the next token of each of seqs from logits (len(seqs), V) and append it. Returns (tokens, logprobs under the processed distribution, raw_logprobs under the model's). Releases the GIL.
        """
    def tokens(self, seq: typing.SupportsInt | typing.SupportsIndex) -> list[int]:
        """
        the sequence's prompt and generated tokens
        """
    @property
    def params(self) -> SamplingParams:
        ...
class Tokenizer:
    """
    GPT-2 byte-level BPE over a vocabulary; gptcore.Tokenizer is the public API around it
    """
    def __init__(self, token_bytes: collections.abc.Sequence[str], merges: collections.abc.Sequence[tuple[typing.SupportsInt | typing.SupportsIndex, typing.SupportsInt | typing.SupportsIndex]], merged_ids: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex]) -> None:
        """
        token_bytes[id]: bytes of each token; merges[rank] = (left id, right id) making merged_ids[rank]
        """
    def bpe(self, piece: bytes, naive: bool = False) -> list[int]:
        """
        one piece through BPE alone (no cache), for tests
        """
    def decode(self, ids: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex]) -> bytes:
        """
        the bytes of ids; ValueError naming an id outside the vocabulary
        """
    def encode(self, text: str) -> list[int]:
        """
        token ids of text, special tokens not recognised. Releases the GIL.
        """
    def encode_batch(self, texts: collections.abc.Sequence[str], n_threads: typing.SupportsInt | typing.SupportsIndex) -> list[list[int]]:
        """
        encode() of each text over n_threads threads. Releases the GIL.
        """
    @property
    def vocab_size(self) -> int:
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
def converted_layout(name: str) -> str | None:
    """
    how a bf16 / int8 model converts tensor `name` (core name): 'in_out' (the blocks' linear layers, stored (K, N) in the checkpoint) or 'out_in' (wte, lm_head: (N, K)); None for the tensors that stay float32
    """
def gpt_tensor_shapes(config: GPTConfig) -> list[tuple[str, list[int]]]:
    """
    [(name, shape)] of the tensors a config needs; 'lm_head.weight' is optional (tied to wte)
    """
def measure_read_bandwidth(nbytes: typing.SupportsInt | typing.SupportsIndex = 536870912, n_threads: typing.SupportsInt | typing.SupportsIndex = 1, repeats: typing.SupportsInt | typing.SupportsIndex = 5) -> float:
    """
    memory read bandwidth in GB/s (best of `repeats` passes over nbytes), for rooflines in benchmarks
    """
def philox4x32_10(counter: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(4)"], key: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"]) -> typing.Annotated[list[int], "FixedSize(4)"]:
    """
    the Philox4x32-10 bijection
    """
def philox_uniform(seed: typing.SupportsInt | typing.SupportsIndex, stream: typing.SupportsInt | typing.SupportsIndex, step: typing.SupportsInt | typing.SupportsIndex) -> float:
    """
    uniform double in [0, 1): draw `step` of `stream` under `seed`
    """
def physical_cores() -> int:
    """
    physical cores this process may run on
    """
def pretokenize(text: str) -> list:
    """
    GPT-2's pre-tokenizer pieces of text, for tests
    """
def simd_level() -> str:
    """
    'avx512', 'avx2' or 'generic'
    """
def unicode_char_classes() -> bytes:
    """
    the pre-tokenizer's class of every code point: 0 other, 1 \\p{L}, 2 \\p{N}, 3 \\s; for tests
    """
