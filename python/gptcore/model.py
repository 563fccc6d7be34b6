"""The user-facing model: loading a Hugging Face GPT-2 directory and running it through the C++ core."""

from __future__ import annotations

import html
import os
from dataclasses import dataclass
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

from . import _core, converted
from .config import load_config
from .hub import resolve_model
from .tokenizer import Tokenizer, load_tokenizer
from .weights import gpt2_tensors, read_checkpoint

Ids = Union[Sequence[int], np.ndarray]


def default_threads() -> int:
    """Threads gptcore uses unless told otherwise: $GPTCORE_NUM_THREADS, else the physical cores."""
    env = os.environ.get("GPTCORE_NUM_THREADS")
    if env:
        return check_threads(int(env) if env.strip().isdigit() else env, "GPTCORE_NUM_THREADS")
    return _core.physical_cores()


def check_threads(n_threads: Any, what: str = "n_threads") -> int:
    if isinstance(n_threads, bool) or not isinstance(n_threads, (int, np.integer)) or n_threads < 1:
        raise ValueError(f"{what} must be a positive integer, got {n_threads!r}")
    return int(n_threads)


# Weight precisions from_pretrained accepts, with their aliases, -> the core's names. docs/precision.md has
# what each costs in accuracy.
DTYPES = {"fp32": "fp32", "float32": "fp32", "bf16": "bf16", "bfloat16": "bf16", "int8": "int8"}


def check_dtype(dtype: Any) -> str:
    """The core's name of a dtype argument, or ValueError naming the allowed values."""
    if not isinstance(dtype, str) or dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(repr(d) for d in DTYPES)}, got {dtype!r}")
    return DTYPES[dtype]


# How a KV cache stores keys and values, with aliases -> the core's names.
KV_DTYPES = {"float32": "float32", "fp32": "float32", "float16": "float16", "fp16": "float16"}


def check_kv_dtype(kv_dtype: Any, weights_dtype: str) -> str:
    """The core's name of a kv_dtype argument; None picks float32 for fp32 weights, float16 otherwise."""
    if kv_dtype is None:
        return "float32" if weights_dtype == "fp32" else "float16"
    if not isinstance(kv_dtype, str) or kv_dtype not in KV_DTYPES:
        raise ValueError(f"kv_dtype must be None or one of {', '.join(repr(d) for d in KV_DTYPES)}, "
                         f"got {kv_dtype!r}")
    return KV_DTYPES[kv_dtype]


def as_token_ids(ids: Ids, vocab_size: int, what: str = "ids") -> np.ndarray:
    """A 1-D int32 array of token ids, or a clear error naming the offending position and value."""
    arr = np.asarray(ids)
    if arr.ndim != 1:
        raise ValueError(f"{what} must be a 1-D sequence of token ids, got an array of shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{what} is empty; at least one token id is needed")
    if not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"{what} must hold integer token ids, got dtype {arr.dtype}")
    bad = np.flatnonzero((arr < 0) | (arr >= vocab_size))
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"{what}[{i}] = {int(arr[i])} is out of range [0, vocab_size={vocab_size})")
    return arr.astype(np.int32)


@dataclass(frozen=True)
class Inspection:
    """What :meth:`GPT.inspect` returns; fields not asked for are None."""

    logits: np.ndarray                    # [T, vocab_size]
    hidden_states: Optional[np.ndarray]   # [n_layer + 1, T, n_embd]
    attentions: Optional[np.ndarray]      # [n_layer, n_head, T, T]


class GPT:
    """A GPT-2-family language model on the CPU.

    Load one with :meth:`from_pretrained`; ``logits(ids)`` runs a full forward pass. In float32 the weights stay
    in the checkpoint's memory map (not copied); in bf16 or int8 the model holds only its converted copy.
    """

    def __init__(self, config: _core.GPTConfig, tensors: Dict[str, np.ndarray], *,
                 n_threads: Optional[int] = None, hf_config: Optional[Dict[str, Any]] = None,
                 source: str = "", dtype: str = "fp32", kv_dtype: Optional[str] = None) -> None:
        n_threads = default_threads() if n_threads is None else check_threads(n_threads)
        dtype = check_dtype(dtype)
        kv = check_kv_dtype(kv_dtype, dtype)
        if dtype == "fp32":
            core = _core.GPT(config, tensors, n_threads)  # borrows the arrays
        else:
            core = _core.GPT.quantized(config, tensors, n_threads, dtype)  # keeps no reference
        self._setup(core, n_threads, int(sum(a.size for a in tensors.values())), hf_config, source, kv)

    def _setup(self, core: _core.GPT, n_threads: int, num_parameters: int, hf_config: Optional[Dict[str, Any]],
               source: str, kv_dtype: str) -> None:
        self._core = core
        self._kv_dtype = kv_dtype
        self._n_threads = n_threads
        self._num_parameters = num_parameters
        self.config: _core.GPTConfig = self._core.config
        self.hf_config: Dict[str, Any] = dict(hf_config or {})
        self.source = source
        self.tokenizer: Optional[Tokenizer] = None  # set by from_pretrained when the directory has one

    @classmethod
    def from_pretrained(cls, path: Union[None, str, os.PathLike] = None, *, n_threads: Optional[int] = None,
                        dtype: str = "fp32", revision: Optional[str] = None,
                        cache_dir: Optional[str] = None,
                        converted_cache: Union[bool, str, os.PathLike] = True,
                        kv_dtype: Optional[str] = None) -> "GPT":
        """Load a GPT-2-family model.

        path: None for the bundled default model; a Hugging Face model directory (config.json plus
        model.safetensors, a sharded index, or pytorch_model.bin read with torch.load(weights_only=True)); a
        bundled model's name; or a hub id such as ``"gpt2"``, fetched through huggingface_hub into its cache
        (``revision`` and ``cache_dir`` are passed on; offline, only the cache is used). The directory's
        tokenizer files, if any, become ``model.tokenizer``.

        dtype: the precision of the weight matrices (the linear layers and the tied embeddings / LM head):
        "fp32" (alias "float32", the default), "bf16" ("bfloat16") or "int8" (symmetric, one scale per 64
        weights). Activations, biases, layer norms and position embeddings stay float32. See docs/precision.md.

        converted_cache: where a bf16 / int8 model keeps its converted weights, so that later loads memory-map
        them instead of converting again (python/gptcore/converted.py): True (the default) for
        $GPTCORE_CACHE/converted, else ~/.cache/gptcore/converted; a directory; or False to convert in memory on
        every load.

        kv_dtype: how KV caches store keys and values: "float32" ("fp32") or "float16" ("fp16"), which halves
        the cache and what decoding reads per token of context. None (the default) picks float32 for fp32
        weights (transformers' numbers) and float16 for bf16 / int8. ``new_cache(dtype=...)`` overrides it per
        cache.
        """
        dtype = check_dtype(dtype)
        kv = check_kv_dtype(kv_dtype, dtype)
        n_threads = default_threads() if n_threads is None else check_threads(n_threads)
        if not isinstance(converted_cache, (bool, str, os.PathLike)):
            raise TypeError(f"converted_cache must be True, False or a directory, got {converted_cache!r}")
        model_dir = resolve_model(path, revision=revision, cache_dir=cache_dir)
        config, hf = load_config(model_dir)

        def read_tensors() -> Dict[str, np.ndarray]:
            return gpt2_tensors(read_checkpoint(model_dir), config, model_dir)

        if dtype == "fp32" or converted_cache is False:
            model = cls(config, read_tensors(), n_threads=n_threads, hf_config=hf, source=model_dir, dtype=dtype,
                        kv_dtype=kv)
        else:
            directory = converted.default_directory() if converted_cache is True else os.fspath(converted_cache)
            core, n_params = converted.load_or_convert(model_dir, config, dtype, n_threads, str(directory),
                                                       read_tensors)
            model = cls.__new__(cls)
            model._setup(core, n_threads, n_params, hf, model_dir, kv)
        model.tokenizer = load_tokenizer(model_dir)
        return model

    @property
    def n_threads(self) -> int:
        return self._n_threads

    @property
    def dtype(self) -> str:
        """The precision of the weight matrices: "fp32", "bf16" or "int8"."""
        return str(self._core.dtype)

    @property
    def kv_dtype(self) -> str:
        """How this model's KV caches store keys and values by default: "float32" or "float16"."""
        return self._kv_dtype

    @property
    def vocab_size(self) -> int:
        return self.config.vocab_size

    @property
    def n_positions(self) -> int:
        return self.config.n_positions

    def num_parameters(self) -> int:
        """Parameters, counting a tied LM head once."""
        return self._num_parameters

    def weights_nbytes(self) -> int:
        """Bytes of the weights a forward pass reads, in the model's dtype."""
        return int(self._core.weights_nbytes)

    def new_cache(self, n_slots: int = 1, capacity: Optional[int] = None, *,
                  dtype: Optional[str] = None) -> _core.KVCache:
        """A KV cache for n_slots sequences of up to `capacity` tokens (default: the model's context), storing
        keys and values in `dtype` ("float32" or "float16"; default: the model's ``kv_dtype``)."""
        kv = self.kv_dtype if dtype is None else check_kv_dtype(dtype, self.dtype)
        return _core.KVCache(self.config, n_slots, self.n_positions if capacity is None else capacity, kv)

    def forward(self, cache: _core.KVCache, tokens: Ids, segments: Iterable[Tuple[int, int]], *,
                all_logits: bool = False) -> np.ndarray:
        """Append tokens to the cache and return logits: ``(len(tokens), V)`` with all_logits, else one row
        per segment (its last token). segments: ``[(slot, n_tokens)]`` in the order of ``tokens``."""
        ids = as_token_ids(tokens, self.vocab_size, "tokens")
        return self._core.forward(cache, ids, list(segments), all_logits)

    def _sequence_ids(self, ids: Ids) -> np.ndarray:
        """One sequence's ids, checked against the vocabulary and the context length."""
        arr = as_token_ids(ids, self.vocab_size)
        if len(arr) > self.n_positions:
            raise ValueError(f"ids has {len(arr)} tokens, longer than the model's context "
                             f"n_positions={self.n_positions}")
        return arr

    def logits(self, ids: Ids) -> np.ndarray:
        """float32 logits ``[len(ids), vocab_size]`` of a 1-D sequence of token ids."""
        ids = self._sequence_ids(ids)
        return self._core.forward(self.new_cache(1, len(ids)), ids, [(0, len(ids))], True)

    def inspect(self, ids: Ids, *, hidden_states: bool = True, attentions: bool = True) -> "Inspection":
        """Run one sequence and return what happens inside: logits ``[T, V]``, hidden states
        ``[n_layer + 1, T, n_embd]`` (each layer's input, then the final layer norm's output, as transformers'
        ``output_hidden_states``) and attention probabilities ``[n_layer, n_head, T, T]`` (as
        ``output_attentions``). What is not asked for is not computed or stored."""
        ids = self._sequence_ids(ids)
        logits, hs, att = self._core.trace(self.new_cache(1, len(ids)), ids, 0, hidden_states, attentions)
        return Inspection(logits, hs, att)

    def generate(self, prompt: Any, **options: Any) -> Any:
        """Continue a prompt, or a batch of prompts run together (ragged, without padding).

        prompt: a ``str`` gives the completion ``str``; a list of ``str`` a list of ``str``; a list of token
        ids the new token ids; a list of such lists a list of lists. With ``num_return_sequences=n > 1`` each
        prompt's result becomes a list of n. With ``return_details=True`` each result is a
        :class:`gptcore.generation.Generation` (token ids, log-probabilities, finish reason, text).

        Options (transformers' names and meanings; defaults in :class:`gptcore.generation.GenerationOptions`):
        max_new_tokens, min_new_tokens, do_sample (False: greedy), temperature, top_k, top_p, min_p,
        typical_p, repetition_penalty, no_repeat_ngram_size, num_return_sequences, eos_token_id,
        bad_words_ids; and stop (strings that end the text, excluded from it), seed (an int, or one per
        prompt), logit_bias ({id: bias}), presence_penalty, frequency_penalty, return_details,
        prefill_chunk_tokens. An unknown option raises TypeError, one out of range ValueError.
        """
        from . import generation
        return generation.generate(self, prompt, **options)

    def stream(self, prompt: Any, **options: Any) -> Iterator[str]:
        """Yield the continuation of one prompt (a str or token ids) as text pieces while tokens arrive.
        Takes generate's options. Pieces never split a UTF-8 character or show text that may still turn
        into a stop string; breaking out of the loop or closing the iterator stops the work."""
        from . import generation
        return generation.stream(self, prompt, **options)

    def score(self, inputs: Any, *, chunk_tokens: int = 256) -> Any:
        """Log-probability of each token given the ones before it, and the perplexity, of a text, token
        ids, or a list of either (a :class:`gptcore.generation.Score` each). The first token is not scored."""
        from . import generation
        return generation.score(self, inputs, chunk_tokens=chunk_tokens)

    def __repr__(self) -> str:
        c = self.config
        return (f"GPT(n_layer={c.n_layer}, n_head={c.n_head}, n_embd={c.n_embd}, n_inner={c.n_inner}, "
                f"vocab_size={c.vocab_size}, n_positions={c.n_positions}, params={self.num_parameters() / 1e6:.1f}M, "
                f"dtype={self.dtype}, kv_dtype={self.kv_dtype}, weights={self.weights_nbytes() / 2**20:.1f} MiB, n_threads={self.n_threads}, "
                f"source={self.source!r})")

    def _repr_html_(self) -> str:
        """The model as a small table when a notebook shows it."""
        c = self.config
        rows = [("architecture", f"GPT-2: {c.n_layer} layers, {c.n_head} heads, n_embd {c.n_embd}, "
                                 f"n_inner {c.n_inner}"),
                ("context", f"{c.n_positions} tokens"),
                ("vocabulary", f"{c.vocab_size:,} tokens"),
                ("parameters", f"{self.num_parameters():,}"),
                ("dtype", self.dtype),
                ("KV cache", self.kv_dtype),
                ("weights", f"{self.weights_nbytes() / 2**20:.1f} MiB"),
                ("threads", str(self.n_threads)),
                ("source", self.source or "(built in memory)")]
        body = "".join(f"<tr><th style='text-align:left'>{html.escape(k)}</th>"
                       f"<td style='text-align:left'>{html.escape(v)}</td></tr>" for k, v in rows)
        return f"<table><caption style='text-align:left'><b>gptcore.GPT</b></caption>{body}</table>"
