"""Generation and scoring on top of the C++ core: ``generate``, ``stream`` and ``score``.

How a generate call runs:

1. Prompts become token ids (strings through ``model.tokenizer``) and options a ``_core.SamplingParams``.
2. Each sequence (prompt x return index) gets one slot of a KV cache and one entry of a ``_core.Sampler``.
3. Prefill: the prompts are packed, without padding, as segments of ragged forward calls of at most
   ``prefill_chunk_tokens`` tokens (a long prompt spans several calls), so memory stays bounded.
4. Decode: one forward call per step with a ``(slot, 1)`` segment per live sequence; the Sampler picks every
   live sequence's next token (processors in transformers' order, see cpp/sampling/sampler.h). A sequence
   that ends (end-of-sequence token, stop string, ``max_new_tokens``, the model's context) leaves the
   segment list and costs nothing more.

The loop runs in Python between native calls that release the GIL, so Ctrl-C (KeyboardInterrupt) lands
between tokens; the per-call KV cache is dropped and the model stays usable.

Sampling is reproducible: a sequence's k-th draw is Philox4x32-10 of (its seed, its return index, k), so a
prompt's output for a given seed does not depend on the rest of the batch or its order.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import os
from dataclasses import dataclass
from typing import Any, Iterator, List, Mapping, Optional, Sequence, Tuple, Union, cast

import numpy as np

from . import _core
from .model import as_token_ids


@dataclass(frozen=True)
class GenerationOptions:
    """The options of generate and stream, with transformers' names and meanings where transformers has them.

    Unlike transformers' GenerationConfig, top_k defaults to 0 (off): sampling uses the whole distribution
    unless asked otherwise.
    """

    max_new_tokens: int = 64
    min_new_tokens: int = 0
    do_sample: bool = False          # False: greedy (argmax after the penalties)
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    min_p: float = 0.0
    typical_p: float = 1.0
    repetition_penalty: float = 1.0  # over prompt + generated tokens, as transformers
    presence_penalty: float = 0.0    # over generated tokens, as the OpenAI API
    frequency_penalty: float = 0.0
    no_repeat_ngram_size: int = 0
    num_return_sequences: int = 1    # > 1 needs do_sample=True
    eos_token_id: Union[None, int, Sequence[int]] = None  # None: the model config's; [] for none
    bad_words_ids: Optional[Sequence[Sequence[int]]] = None
    logit_bias: Optional[Mapping[int, float]] = None  # {token id: added to its logit}
    stop: Union[None, str, Sequence[str]] = None       # the text ends before the first one found
    seed: Union[None, int, Sequence[int]] = None       # one for all prompts, or one per prompt; None: random
    return_details: bool = False     # Generation objects instead of text / ids
    # Most prompt tokens per prefill forward call, which bounds the activations: about 8 MB at 256 tokens at the
    # 124M shape, 10 MB less peak RSS than 512, with the same time to first token for a 512-token prompt.
    prefill_chunk_tokens: int = 256


_INT_OPTIONS = ("max_new_tokens", "min_new_tokens", "top_k", "no_repeat_ngram_size", "num_return_sequences",
                "prefill_chunk_tokens")
_FLOAT_OPTIONS = ("temperature", "top_p", "min_p", "typical_p", "repetition_penalty", "presence_penalty",
                  "frequency_penalty")
_BOOL_OPTIONS = ("do_sample", "return_details")
_SAMPLER_OPTIONS = ("do_sample", "min_new_tokens", "top_k", "no_repeat_ngram_size") + _FLOAT_OPTIONS
_OPTION_NAMES = frozenset(f.name for f in dataclasses.fields(GenerationOptions))


@dataclass
class Generation:
    """One generated sequence, as ``return_details=True`` gives it.

    token_ids include an end-of-sequence token that ended the sequence, and every token up to the one that
    completed a stop string; ``text`` (None for token-id prompts without stop strings) excludes both.
    logprobs: of each chosen token under the distribution it was picked from (after penalties, and after
    temperature and the top-k / top-p / min-p / typical-p filters when sampling); raw_logprobs: under the
    model's own distribution, as ``score`` gives them.
    """

    token_ids: List[int]
    logprobs: List[float]
    raw_logprobs: List[float]
    finish_reason: str  # "eos", "stop" or "length"
    text: Optional[str] = None


@dataclass
class Score:
    """Log-probabilities of each token after the first given the ones before it, under the model."""

    token_ids: List[int]
    logprobs: np.ndarray  # float64 (len(token_ids) - 1,)
    perplexity: float     # exp(-mean(logprobs))


def parse_options(model: Any, options: Mapping[str, Any]) -> Tuple[GenerationOptions, _core.SamplingParams]:
    """Checks every option's name, type and range; raises TypeError / ValueError naming the option."""
    unknown = sorted(set(options) - _OPTION_NAMES)
    if unknown:
        raise TypeError(f"unknown generation option {unknown[0]!r}; known options: {', '.join(sorted(_OPTION_NAMES))}")
    for name in _INT_OPTIONS:
        if name in options and not _is_int(options[name]):
            raise TypeError(f"{name} must be an integer, got {options[name]!r}")
    for name in _FLOAT_OPTIONS:
        value = options.get(name)
        if name in options and (isinstance(value, bool) or not isinstance(value, numbers.Real)):
            raise TypeError(f"{name} must be a number, got {value!r}")
    for name in _BOOL_OPTIONS:
        if name in options and not isinstance(options[name], (bool, np.bool_)):
            raise TypeError(f"{name} must be True or False, got {options[name]!r}")
    opts = GenerationOptions(**options)
    for name, low in (("max_new_tokens", 0), ("num_return_sequences", 1), ("prefill_chunk_tokens", 1)):
        if getattr(opts, name) < low:
            raise ValueError(f"{name} must be >= {low}, got {getattr(opts, name)}")
    if opts.num_return_sequences > 1 and not opts.do_sample:
        raise ValueError("num_return_sequences > 1 needs do_sample=True (greedy decoding gives one answer)")
    stop_strings(opts.stop)

    params = _core.SamplingParams()
    for name in _SAMPLER_OPTIONS:
        setattr(params, name, getattr(opts, name))
    params.eos_token_ids = eos_token_ids(model, opts.eos_token_id)
    params.bad_words_ids = [_id_list(word, "bad_words_ids") for word in (opts.bad_words_ids or [])]
    params.logit_bias = _logit_bias(opts.logit_bias)
    params.validate(model.vocab_size)
    return opts, params


def eos_token_ids(model: Any, eos_token_id: Union[None, int, Sequence[int]]) -> List[int]:
    """The end-of-sequence ids: the option's, else the model config's (int or list), else none."""
    value: Any = model.hf_config.get("eos_token_id") if eos_token_id is None else eos_token_id
    if value is None:
        return []
    return [int(value)] if _is_int(value) else _id_list(value, "eos_token_id")


def generate(model: Any, prompt: Any, **options: Any) -> Any:
    """Continue prompt(s); see GPT.generate for the shapes of prompts and results."""
    opts, params = parse_options(model, options)
    prompts, kind = _prompt_batch(model, prompt)
    results: List[Any] = [None] * (len(prompts) * opts.num_return_sequences)
    for seq, details in _finished_sequences(model, prompts, kind, opts, params):
        results[seq] = details if opts.return_details else \
            details.text if kind in ("text", "texts") else details.token_ids
    R = opts.num_return_sequences
    per_prompt = [results[i * R:(i + 1) * R] if R > 1 else results[i] for i in range(len(prompts))]
    return per_prompt[0] if kind in ("text", "ids") else per_prompt


def generate_as_completed(model: Any, prompts: Any, **options: Any) -> Iterator[Tuple[int, Generation]]:
    """Run a batch of prompts as generate does (a list of str or a list of token-id lists) and yield
    ``(index, Generation)`` for each prompt as soon as it finishes, in the order they finish; ``index`` is
    the prompt's position in ``prompts``. Takes generate's options except num_return_sequences and
    return_details. Options and prompts are checked before the first result is asked for; closing the
    iterator stops the work. For jobs that save each result as it arrives (see :mod:`gptcore.batch`)."""
    opts, params = parse_options(model, options)
    if opts.num_return_sequences != 1 or opts.return_details:
        raise ValueError("generate_as_completed gives one Generation per prompt: num_return_sequences and "
                         "return_details are not available")
    batch, kind = _prompt_batch(model, prompts)
    if kind not in ("texts", "ids_batch"):
        raise TypeError("generate_as_completed takes a list of prompts (str or token-id lists)")
    if opts.stop is not None:
        _tokenizer(model, "stop strings")
    return _finished_sequences(model, batch, kind, opts, params)


def _finished_sequences(model: Any, prompts: List[np.ndarray], kind: str, opts: GenerationOptions,
                        params: _core.SamplingParams) -> Iterator[Tuple[int, Generation]]:
    """The decode loop: yields (seq, Generation) of each sequence as it ends (seq = prompt * R + return)."""
    needs_text = kind in ("text", "texts") or opts.stop is not None
    tokenizer = _tokenizer(model, "stop strings" if opts.stop is not None else "text prompts") if needs_text else None
    batch = _DecodeBatch(model, prompts, opts, params, _seeds(opts.seed, len(prompts)))
    texts = [_TextTracker(tokenizer, stop_strings(opts.stop), params.eos_token_ids) for _ in range(batch.n)] \
        if tokenizer else None
    running = set(range(batch.n))  # not yet yielded
    try:
        while running:
            if batch.live:
                for seq, token in batch.step():
                    if texts and texts[seq].add(token):
                        batch.finish(seq, "stop")
            for seq in sorted(running - set(batch.live)):
                running.discard(seq)
                if texts and texts[seq].flush():
                    batch.reason[seq] = "stop"
                # A sequence leaves the live list only with a reason.
                reason = cast(str, batch.reason[seq])
                yield seq, Generation(batch.tokens[seq], batch.logprobs[seq], batch.raw_logprobs[seq], reason,
                                      texts[seq].text if texts else None)
    finally:  # also on close() / KeyboardInterrupt: the work stops with the generator
        batch.close()


def stream(model: Any, prompt: Any, **options: Any) -> Iterator[str]:
    """Text pieces of one prompt's continuation as tokens arrive; see GPT.stream. Options are checked here,
    before the first piece is asked for."""
    opts, params = parse_options(model, options)
    if opts.num_return_sequences != 1 or opts.return_details:
        raise ValueError("stream generates one sequence as text: num_return_sequences and return_details "
                         "are not available")
    prompts, kind = _prompt_batch(model, prompt)
    if kind not in ("text", "ids"):
        raise ValueError("stream takes one prompt (a string or a list of token ids), not a batch")
    tokenizer = _tokenizer(model, "stream")
    return _stream(model, prompts, opts, params, _TextTracker(tokenizer, stop_strings(opts.stop), params.eos_token_ids))


def _stream(model: Any, prompts: List[np.ndarray], opts: GenerationOptions, params: _core.SamplingParams,
            text: "_TextTracker") -> Iterator[str]:
    batch = _DecodeBatch(model, prompts, opts, params, _seeds(opts.seed, 1))
    try:
        while batch.live:
            for seq, token in batch.step():
                if text.add(token):
                    batch.finish(seq, "stop")
            piece = text.take()
            if piece:
                yield piece
    finally:  # also on close() / break / KeyboardInterrupt: the work stops with the generator
        batch.close()
    text.flush()
    piece = text.take()
    if piece:
        yield piece


def score(model: Any, inputs: Any, *, chunk_tokens: int = 256) -> Union[Score, List[Score]]:
    """Per-token log-probabilities and perplexity of text(s) or token ids; see GPT.score."""
    if not _is_int(chunk_tokens) or chunk_tokens < 1:
        raise ValueError(f"chunk_tokens must be a positive integer, got {chunk_tokens!r}")
    seqs, kind = _prompt_batch(model, inputs)
    for i, ids in enumerate(seqs):
        if len(ids) < 2:
            raise ValueError(f"input {i} has {len(ids)} token; scoring needs at least 2")
    cache = model.new_cache(len(seqs), max(len(ids) for ids in seqs))
    logprobs = [np.empty(len(ids) - 1) for ids in seqs]
    for tokens, segments, spans in _packed_chunks(seqs, chunk_tokens):
        logits = model._core.forward(cache, tokens, segments, True).astype(np.float64)  # (len(tokens), V)
        log_z = _log_sum_exp(logits)
        row = 0
        for seq, start, n in spans:  # rows predict tokens start+1 .. start+n of seq
            ids = seqs[seq]
            end = min(start + n, len(ids) - 1)  # the last token predicts nothing
            rows = np.arange(row, row + end - start)
            logprobs[seq][start:end] = logits[rows, ids[start + 1:end + 1]] - log_z[rows]
            row += n
    results = [Score(ids.tolist(), lp, float(math.exp(-lp.mean()))) for ids, lp in zip(seqs, logprobs)]
    return results[0] if kind in ("text", "ids") else results


class _DecodeBatch:
    """The sequences of one call: one KV-cache slot and one Sampler sequence each (index = slot = seq).

    step() feeds the tokens picked last step of the sequences still live (prefilling the prompts on the first
    call) and picks the next ones; finish() ends a sequence between steps.
    """

    def __init__(self, model: Any, prompts: List[np.ndarray], opts: GenerationOptions,
                 params: _core.SamplingParams, seeds: List[int]) -> None:
        R = opts.num_return_sequences
        self.model, self.opts = model, opts
        self.prompts = [ids for ids in prompts for _ in range(R)]
        self.n = len(self.prompts)
        self.sampler = _core.Sampler(params, model.vocab_size)
        for i, ids in enumerate(prompts):
            for r in range(R):
                self.sampler.add_sequence(ids, seeds[i], r)
        capacity = min(model.n_positions, max(len(ids) for ids in prompts) + opts.max_new_tokens)
        self.cache = model.new_cache(self.n, capacity)
        self.tokens: List[List[int]] = [[] for _ in range(self.n)]
        self.logprobs: List[List[float]] = [[] for _ in range(self.n)]
        self.raw_logprobs: List[List[float]] = [[] for _ in range(self.n)]
        self.reason: List[Optional[str]] = [None] * self.n
        self.eos = set(params.eos_token_ids)
        self.live = [seq for seq in range(self.n) if not self._at_limit(seq)]
        self.prefilled = False

    def step(self) -> List[Tuple[int, int]]:
        """Returns (seq, token) for each live sequence, in seq order."""
        logits = self._prefill() if not self.prefilled else self.model._core.forward(
            self.cache, np.array([self.tokens[seq][-1] for seq in self.live], dtype=np.int32),
            [(seq, 1) for seq in self.live], False)
        picked, logprobs, raw_logprobs = self.sampler.sample(self.live, logits)
        out = []
        for seq, token, lp, raw in zip(self.live, picked.tolist(), logprobs.tolist(), raw_logprobs.tolist()):
            self.tokens[seq].append(token)
            self.logprobs[seq].append(lp)
            self.raw_logprobs[seq].append(raw)
            if token in self.eos:  # the Sampler bans it until min_new_tokens
                self.reason[seq] = "eos"
            out.append((seq, token))
        self.live = [seq for seq in self.live if self.reason[seq] is None and not self._at_limit(seq)]
        return out

    def finish(self, seq: int, reason: str) -> None:
        self.reason[seq] = reason
        self.live = [s for s in self.live if s != seq]

    def close(self) -> None:
        """Frees every slot: after an interruption the cache holds no half-written sequence."""
        for seq in range(self.n):
            self.cache.set_length(seq, 0)
        self.live = []

    def _at_limit(self, seq: int) -> bool:
        """Marks "length" once max_new_tokens are out or the context is full (no position for another)."""
        if len(self.tokens[seq]) >= self.opts.max_new_tokens or \
                len(self.prompts[seq]) + len(self.tokens[seq]) >= self.model.n_positions:
            self.reason[seq] = "length"
            return True
        return False

    def _prefill(self) -> np.ndarray:
        """Runs the live prompts through the model in chunks; returns their last rows of logits (live, V)."""
        self.prefilled = True
        last = {}
        prompts = [self.prompts[seq] for seq in self.live]
        for tokens, segments, spans in _packed_chunks(prompts, self.opts.prefill_chunk_tokens):
            live_segments = [(self.live[i], n) for i, n in segments]
            logits = self.model._core.forward(self.cache, tokens, live_segments, False)  # (segments, V)
            for row, (i, start, n) in enumerate(spans):
                if start + n == len(prompts[i]):
                    last[i] = logits[row]
        return np.stack([last[i] for i in range(len(self.live))])


def _packed_chunks(seqs: List[np.ndarray], budget: int) -> Iterator[Tuple[np.ndarray, List[Tuple[int, int]],
                                                                         List[Tuple[int, int, int]]]]:
    """Packs sequences, in order and without padding, into forward calls of at most `budget` tokens.

    Yields (tokens, segments [(i, n)], spans [(i, start, n)]): segment k holds seqs[i][start:start + n].
    A sequence longer than the budget continues in the next call; one call never holds a sequence twice.
    """
    i, start = 0, 0
    while i < len(seqs):
        pieces, spans = [], []
        room = budget
        while i < len(seqs) and room > 0:
            n = min(room, len(seqs[i]) - start)
            pieces.append(seqs[i][start:start + n])
            spans.append((i, start, n))
            room -= n
            start += n
            if start == len(seqs[i]):
                i, start = i + 1, 0
        yield np.concatenate(pieces).astype(np.int32), [(s, n) for s, _, n in spans], spans


class _TextTracker:
    """A sequence's generated text, built token by token for stop strings and streaming.

    The tokenizer's incremental decoder holds back the bytes of a UTF-8 character until its last byte
    arrives, so characters are never split. End-of-sequence tokens add no text. The text ends before the
    first stop string; take() gives what is new and safe to show, holding back a tail that could still
    grow into a stop string.
    """

    def __init__(self, tokenizer: Any, stop: List[str], eos_token_ids: Sequence[int]) -> None:
        self.decoder = tokenizer.decoder()
        self.stop, self.eos = stop, set(eos_token_ids)
        self.text = ""
        self.stopped = False
        self.finished = False
        self.shown = 0  # characters take() has given out

    def add(self, token: int) -> bool:
        """Adds a generated token; True when the text has reached a stop string."""
        if not self.stopped and token not in self.eos:
            self._extend(self.decoder.decode([token]))
        return self.stopped

    def flush(self) -> bool:
        """The sequence has ended: adds held-back bytes (broken ones as U+FFFD); True if that hit a stop."""
        if not self.stopped:
            self._extend(self.decoder.flush())
        self.finished = True
        return self.stopped

    def take(self) -> str:
        end = len(self.text) if self.stopped or self.finished else len(self.text) - self._stop_prefix_len()
        piece = self.text[self.shown:end]
        self.shown = max(self.shown, end)
        return piece

    def _extend(self, piece: str) -> None:
        search_from = max(0, len(self.text) - max((len(s) for s in self.stop), default=0) + 1)
        self.text += piece
        found = [i for i in (self.text.find(s, search_from) for s in self.stop) if i >= 0]
        if found:
            self.text = self.text[:min(found)]
            self.stopped = True

    def _stop_prefix_len(self) -> int:
        """Length of the longest tail of the text that is the start of a stop string."""
        for k in range(min(len(self.text), max((len(s) for s in self.stop), default=0)), 0, -1):
            if any(s.startswith(self.text[-k:]) for s in self.stop):
                return k
        return 0


def _prompt_batch(model: Any, prompt: Any) -> Tuple[List[np.ndarray], str]:
    """(token id arrays, kind): kind is 'text' (str), 'texts' (list of str), 'ids' (list of ints) or
    'ids_batch' (list of lists of ints). Every prompt must fit in the model's context."""
    items: List[Any]  # str for text prompts, token id sequences otherwise
    if isinstance(prompt, str):
        kind, items = "text", [prompt]
    elif isinstance(prompt, (list, tuple, np.ndarray)) and len(prompt) > 0:
        if all(isinstance(p, str) for p in prompt):
            kind, items = "texts", list(prompt)
        elif all(_is_int(p) for p in prompt):
            kind, items = "ids", [prompt]
        elif all(isinstance(p, (list, tuple, np.ndarray)) for p in prompt):
            kind, items = "ids_batch", list(prompt)
        else:
            raise TypeError("prompt must be a str, a list of str, a list of token ids or a list of such lists")
    else:
        raise TypeError(f"prompt must be a str, a list of str, a list of token ids or a list of such lists, "
                        f"got {prompt!r:.80}")
    if kind in ("text", "texts"):
        tokenizer = _tokenizer(model, "text prompts")
        items = [tokenizer.encode(text) for text in items]
    prompts = [as_token_ids(ids, model.vocab_size, f"prompt {i}") for i, ids in enumerate(items)]
    for i, ids in enumerate(prompts):
        if len(ids) > model.n_positions:
            raise ValueError(f"prompt {i} has {len(ids)} tokens, longer than the model's context "
                             f"n_positions={model.n_positions}; shorten it")
    return prompts, kind


def _tokenizer(model: Any, what: str) -> Any:
    tokenizer = getattr(model, "tokenizer", None)
    if tokenizer is None:
        raise ValueError(f"{what} need a tokenizer: load a model directory that holds tokenizer files, or set "
                         "model.tokenizer")
    return tokenizer


def _seeds(seed: Union[None, int, Sequence[int]], n_prompts: int) -> List[int]:
    """One 64-bit seed per prompt: the given one for all, one each from a list, or fresh random ones."""
    if seed is None:
        return [int.from_bytes(os.urandom(8), "little") for _ in range(n_prompts)]
    # Checked one by one below: a caller may pass anything here.
    seeds: List[Any] = [seed] * n_prompts if _is_int(seed) else list(cast(Sequence[int], seed))
    if len(seeds) != n_prompts:
        raise ValueError(f"seed has {len(seeds)} values for {n_prompts} prompts; give one seed or one per prompt")
    for s in seeds:
        if not _is_int(s) or not 0 <= s < 2**64:
            raise ValueError(f"seed must be an integer in [0, 2**64), got {s!r}")
    return [int(s) for s in seeds]


def stop_strings(stop: Union[None, str, Sequence[str]]) -> List[str]:
    """The stop option as a list of non-empty strings, or ValueError."""
    strings = [] if stop is None else [stop] if isinstance(stop, str) else list(stop)
    if not all(isinstance(s, str) and s for s in strings) or (stop is not None and not strings):
        raise ValueError(f"stop must be a non-empty string or a list of them, got {stop!r}")
    return strings


def _id_list(value: Any, what: str) -> List[int]:
    if isinstance(value, (str, bytes)) or not all(_is_int(v) for v in value):
        raise TypeError(f"{what} must be a list of token ids, got {value!r}")
    return [int(v) for v in value]


def _logit_bias(bias: Optional[Mapping[int, float]]) -> List[Tuple[int, float]]:
    if bias is None:
        return []
    if not isinstance(bias, Mapping):
        raise TypeError(f"logit_bias must be a dict {{token id: bias}}, got {bias!r}")
    for token, value in bias.items():
        if not _is_int(token) or isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"logit_bias must map token ids to numbers, got {token!r}: {value!r}")
    return [(int(t), float(v)) for t, v in bias.items()]


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _log_sum_exp(logits: np.ndarray) -> np.ndarray:
    """log(sum(exp(row))) of each row of (N, V)."""
    top = logits.max(axis=1)
    return top + np.log(np.exp(logits - top[:, None]).sum(axis=1))
