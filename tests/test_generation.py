"""generate / stream / score against transformers on tiny random-weight checkpoints."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import gptcore
from conftest import load_reference, make_checkpoint

# initializer_range 0.3 gives a model whose greedy continuations vary (at 0.02 they repeat one token) and whose
# top two logits stay >= ~1e-2 apart, far above the ~1e-5 differences between our kernels and torch's.
CONFIG = dict(vocab_size=256, n_positions=160, n_embd=32, n_layer=2, n_head=4, initializer_range=0.3)
PROMPTS = [[1, 2, 3, 4], [200, 17, 45, 45, 9, 100, 3, 77, 12, 5, 250], [42]]
N_NEW = 64


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return make_checkpoint(tmp_path_factory.mktemp("gen"), **CONFIG)


@pytest.fixture(scope="module")
def model(checkpoint) -> gptcore.GPT:
    return gptcore.GPT.from_pretrained(checkpoint, n_threads=1)


@pytest.fixture(scope="module")
def reference(checkpoint):
    return load_reference(checkpoint)


def hf_generate(reference, prompt, **options):
    """transformers' new token ids (eos included when it ends the sequence)."""
    options.setdefault("max_new_tokens", N_NEW)
    with torch.no_grad():
        out = reference.generate(torch.tensor([prompt]), do_sample=False, pad_token_id=0, **options)
    return out[0, len(prompt):].tolist()


GREEDY_CASES = [
    dict(),
    dict(repetition_penalty=1.5),
    dict(no_repeat_ngram_size=2),
    dict(repetition_penalty=1.2, no_repeat_ngram_size=3),
    dict(bad_words_ids=[[7], [45, 9]], min_new_tokens=10),
]


@pytest.mark.parametrize("options", GREEDY_CASES, ids=str)
def test_greedy_matches_transformers_alone_and_in_a_ragged_batch(model, reference, options):
    expected = [hf_generate(reference, p, **options) for p in PROMPTS]
    assert len(set(map(tuple, expected))) == len(expected) and len(set(expected[0])) > 4, \
        "the test model should give varied continuations"
    for prompt, want in zip(PROMPTS, expected):
        assert model.generate(prompt, max_new_tokens=N_NEW, **options) == want
    # A ragged batch, and one whose prefill is cut in chunks of 5 tokens (prompts span calls).
    assert model.generate(PROMPTS, max_new_tokens=N_NEW, **options) == expected
    assert model.generate(PROMPTS[::-1], max_new_tokens=N_NEW, prefill_chunk_tokens=5, **options) == expected[::-1]


def test_eos_ends_a_sequence_as_in_transformers(model, reference):
    free = hf_generate(reference, PROMPTS[1])
    eos = free[9]  # a token the greedy continuation reaches at step 10
    for options in (dict(eos_token_id=eos), dict(eos_token_id=[eos, 0], min_new_tokens=12)):
        want = hf_generate(reference, PROMPTS[1], **options)
        assert len(want) < N_NEW
        assert model.generate(PROMPTS[1], max_new_tokens=N_NEW, **options) == want
    assert model.generate(PROMPTS[1], max_new_tokens=N_NEW, eos_token_id=eos, return_details=True).finish_reason \
        == "eos"


def test_finished_sequences_leave_the_batch(model):
    eos = model.generate(PROMPTS[0], max_new_tokens=3)[-1]
    out = model.generate(PROMPTS, max_new_tokens=20, eos_token_id=eos, return_details=True)
    assert out[0].finish_reason == "eos" and len(out[0].token_ids) == 3
    for prompt, got in zip(PROMPTS, out):
        assert got.token_ids == model.generate(prompt, max_new_tokens=20, eos_token_id=eos)


class _CountingCore:
    """The native model with its forward calls counted."""

    def __init__(self, core):
        self.core, self.forward_calls = core, 0

    def forward(self, *args):
        self.forward_calls += 1
        return self.core.forward(*args)

    def __getattr__(self, name):
        return getattr(self.core, name)


def test_generate_as_completed_yields_each_prompt_when_it_finishes(checkpoint):
    from gptcore.generation import generate_as_completed

    model = gptcore.GPT.from_pretrained(checkpoint, n_threads=1)
    eos = model.generate(PROMPTS[1], max_new_tokens=3)[-1]
    want = model.generate(PROMPTS, max_new_tokens=20, eos_token_id=eos, return_details=True)
    assert [len(g.token_ids) for g in want][1] == 3 and max(len(g.token_ids) for g in want) == 20
    model._core = _CountingCore(model._core)
    results = generate_as_completed(model, PROMPTS, max_new_tokens=20, eos_token_id=eos)
    first, details = next(results)
    assert first == 1 and model._core.forward_calls == 3  # prefill + 2 steps: yielded before the others go on
    got = dict([(first, details)] + list(results))
    assert sorted(got) == [0, 1, 2] and model._core.forward_calls == 20
    assert [got[i] for i in range(3)] == want
    with pytest.raises(ValueError, match="num_return_sequences"):
        generate_as_completed(model, PROMPTS, num_return_sequences=2, do_sample=True)


def test_details_logprobs_agree_with_score(model):
    got = model.generate(PROMPTS[1], max_new_tokens=12, repetition_penalty=1.4, return_details=True)
    scored = model.score(PROMPTS[1] + got.token_ids)
    np.testing.assert_allclose(got.raw_logprobs, scored.logprobs[-12:], atol=1e-4)
    assert got.logprobs != got.raw_logprobs  # the penalty changed the distribution the tokens came from


def test_sampling_is_reproducible_and_independent_of_the_batch(model):
    options = dict(max_new_tokens=24, do_sample=True, temperature=1.2, top_k=50, top_p=0.95)
    alone = [model.generate(p, seed=s, **options) for p, s in zip(PROMPTS, (11, 12, 13))]
    assert model.generate(PROMPTS[0], seed=11, **options) == alone[0]
    assert model.generate(PROMPTS, seed=[11, 12, 13], **options) == alone
    assert model.generate(PROMPTS[::-1], seed=[13, 12, 11], **options) == alone[::-1]
    assert model.generate(PROMPTS[0], seed=99, **options) != alone[0]


def test_num_return_sequences(model):
    options = dict(max_new_tokens=16, do_sample=True, seed=5)
    out = model.generate(PROMPTS[:2], num_return_sequences=3, **options)
    assert [len(group) for group in out] == [3, 3]
    assert len({tuple(s) for s in out[0]}) == 3, "return sequences should use different random streams"
    assert model.generate(PROMPTS[1], num_return_sequences=3, **options) == out[1]
    assert model.generate(PROMPTS[0], **options) == out[0][0]  # return index 0 is the plain stream


def test_generation_stops_at_the_end_of_the_context(tmp_path):
    model = gptcore.GPT.from_pretrained(make_checkpoint(tmp_path, **dict(CONFIG, n_positions=16)), n_threads=1)
    got = model.generate(list(range(10)), max_new_tokens=100, return_details=True, eos_token_id=[])
    assert len(got.token_ids) == 6 and got.finish_reason == "length"
    assert model.generate(list(range(16)), max_new_tokens=5, return_details=True).token_ids == []
    with pytest.raises(ValueError, match="longer than the model's context"):
        model.generate(list(range(17)), max_new_tokens=1)


def test_max_new_tokens_zero(model):
    got = model.generate(PROMPTS, max_new_tokens=0, return_details=True)
    assert [(g.token_ids, g.finish_reason) for g in got] == [([], "length")] * 3


@pytest.mark.parametrize("options,error,name", [
    (dict(temperature=-0.5, do_sample=True), ValueError, "temperature"),
    (dict(temperature=0.0), ValueError, "temperature"),
    (dict(top_p=0.0), ValueError, "top_p"),
    (dict(top_p=1.01), ValueError, "top_p"),
    (dict(top_k=-1), ValueError, "top_k"),
    (dict(top_k=2.5), TypeError, "top_k"),
    (dict(min_p=2.0), ValueError, "min_p"),
    (dict(typical_p=-1.0), ValueError, "typical_p"),
    (dict(max_new_tokens=-1), ValueError, "max_new_tokens"),
    (dict(min_new_tokens=-3), ValueError, "min_new_tokens"),
    (dict(repetition_penalty=0.0), ValueError, "repetition_penalty"),
    (dict(no_repeat_ngram_size=-1), ValueError, "no_repeat_ngram_size"),
    (dict(num_return_sequences=0), ValueError, "num_return_sequences"),
    (dict(num_return_sequences=2), ValueError, "num_return_sequences"),
    (dict(eos_token_id=10_000), ValueError, "eos_token_id"),
    (dict(bad_words_ids=[[1, 999]]), ValueError, "bad_words_ids"),
    (dict(logit_bias={300: 1.0}), ValueError, "logit_bias"),
    (dict(seed=-1), ValueError, "seed"),
    (dict(seed=[1, 2]), ValueError, "seed"),
    (dict(stop=""), ValueError, "stop"),
    (dict(do_sample="yes"), TypeError, "do_sample"),
    (dict(max_tokens=5), TypeError, "max_tokens"),
])
def test_invalid_options_name_the_option(model, options, error, name):
    with pytest.raises(error, match=name):
        model.generate(PROMPTS[0], **options)


@pytest.mark.parametrize("prompt,error", [([], TypeError), ([1, "a"], TypeError), ([1, 256], ValueError),
                                          ([[1, 2], []], ValueError), (3, TypeError)])
def test_invalid_prompts(model, prompt, error):
    with pytest.raises(error):
        model.generate(prompt, max_new_tokens=1)


def test_text_needs_a_tokenizer(model):
    assert model.tokenizer is None  # the fixture's checkpoint ships no tokenizer files
    with pytest.raises(ValueError, match="tokenizer"):
        model.generate("hello")
    with pytest.raises(ValueError, match="tokenizer"):
        model.generate([1, 2], stop=["x"])


def test_score_matches_transformers(model, reference):
    seqs = [PROMPTS[1] * 3, list(range(100, 160)), [5, 6]]
    got = model.score(seqs, chunk_tokens=7)
    for ids, s in zip(seqs, got):
        with torch.no_grad():
            logp = torch.log_softmax(reference(torch.tensor([ids])).logits[0].double(), -1)
        want = logp[torch.arange(len(ids) - 1), torch.tensor(ids[1:])].numpy()
        np.testing.assert_allclose(s.logprobs, want, atol=1e-4)
        assert s.perplexity == pytest.approx(float(np.exp(-want.mean())), rel=1e-4)
        assert s.token_ids == ids
    assert model.score(seqs[0]).logprobs.tolist() == pytest.approx(got[0].logprobs.tolist(), abs=1e-5)
    with pytest.raises(ValueError, match="at least 2"):
        model.score([[1]])


INTERRUPT_SCRIPT = textwrap.dedent("""
    import sys, time
    import gptcore
    model = gptcore.GPT.from_pretrained(sys.argv[1], n_threads=1)
    prompts = [[1, 2, 3], [4, 5, 6, 7, 8]]
    expected = model.generate(prompts, max_new_tokens=20)
    print("ready", flush=True)
    steps = 0
    try:
        while True:
            model.generate(prompts, max_new_tokens=1000, eos_token_id=[], do_sample=True, seed=1)
            steps += 1
    except KeyboardInterrupt:
        print("interrupted", flush=True)
    assert model.generate(prompts, max_new_tokens=20) == expected, "model unusable after Ctrl-C"
    print("usable", flush=True)
""")


def test_ctrl_c_stops_generation_and_leaves_the_model_usable(tmp_path):
    ckpt = make_checkpoint(tmp_path, **dict(CONFIG, n_positions=1024))
    env = dict(os.environ, PYTHONPATH=str(Path(gptcore.__file__).parents[1]))
    # preexec_fn: SIGINT's default disposition in the child, even when this test run was started in the
    # background with SIGINT ignored (Python then installs no KeyboardInterrupt handler).
    proc = subprocess.Popen([sys.executable, "-c", INTERRUPT_SCRIPT, str(ckpt)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
        time.sleep(1.0)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:  # a failed test leaves no generation spinning behind
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert out.split() == ["interrupted", "usable"]


# ---------------------------------------------------------------------------------------------- text level
# A tiny model over GPT-2's real vocabulary and tokenizer. Text-level tests force exact token sequences with
# logit_bias (decreasing biases far above the model's logits) and no_repeat_ngram_size=1 (a token used once
# is banned), so each forced token comes out in turn.

@pytest.fixture(scope="module")
def text_model(tmp_path_factory, gpt2_tokenizer_dir) -> gptcore.GPT:
    ckpt = make_checkpoint(tmp_path_factory.mktemp("text"), **dict(CONFIG, vocab_size=50257, eos_token_id=50256))
    model = gptcore.GPT.from_pretrained(ckpt, n_threads=1)
    if getattr(model, "tokenizer", None) is None:  # the checkpoint has no tokenizer files: use GPT-2's
        model.tokenizer = gptcore.Tokenizer.from_pretrained(gpt2_tokenizer_dir)
    return model


def forcing(tokens):
    """Options under which greedy generation emits exactly `tokens` (distinct, absent from the prompt)."""
    assert len(set(tokens)) == len(tokens)
    return dict(logit_bias={t: 1e5 - 1e3 * i for i, t in enumerate(tokens)}, no_repeat_ngram_size=1,
                max_new_tokens=len(tokens))


def byte_token(tokenizer, byte: int) -> int:
    """The id of the token that is exactly this one byte."""
    for token in range(256 + 1000):
        if tokenizer.decode_bytes([token]) == bytes([byte]):
            return token
    raise AssertionError(f"no single-byte token for {byte:#x}")


def split_chars(tokenizer, text: str):
    """Tokens spelling `text` with every non-ASCII character cut into one token per byte."""
    ids = []
    for ch in text:
        ids += tokenizer.encode(ch) if ch.isascii() else [byte_token(tokenizer, b) for b in ch.encode()]
    return ids


PROMPT_TEXT = "Q:"


def test_text_prompts_give_text(text_model):
    tok = text_model.tokenizer
    ids = text_model.generate(tok.encode("Hello there"), max_new_tokens=20)
    text = text_model.generate("Hello there", max_new_tokens=20)
    assert text == tok.decode([t for t in ids if t != 50256])
    assert text_model.generate(["Hello there", "x"], max_new_tokens=20)[0] == text


def test_stream_never_splits_a_character(text_model):
    tok = text_model.tokenizer
    text = "Hi é€🎉ok!"  # no byte twice, as forcing needs distinct tokens
    tokens = split_chars(tok, text)
    assert len(tokens) == len(text.encode()), "every byte should be its own token"
    pieces = list(text_model.stream(PROMPT_TEXT, **forcing(tokens)))
    assert "".join(pieces) == text
    assert all("\ufffd" not in p for p in pieces)
    assert len(pieces) > 3, "pieces should come as tokens arrive"
    assert text_model.generate(PROMPT_TEXT, **forcing(tokens)) == text


@pytest.mark.parametrize("stop", ["lo wo", "€🎉", "o w", "ld", "🎉 d"])
def test_stop_strings_split_across_tokens(text_model, stop):
    tok = text_model.tokenizer
    tokens = tok.encode("Hello") + tok.encode(" world") + split_chars(tok, " €🎉") + tok.encode(" done")
    full = text_model.generate(PROMPT_TEXT, **forcing(tokens))
    assert full == "Hello world €🎉 done"
    got = text_model.generate(PROMPT_TEXT, stop=[stop, "never"], return_details=True, **forcing(tokens))
    assert got.text == full[:full.index(stop)] and got.finish_reason == "stop"
    assert got.token_ids == tokens[:len(got.token_ids)]
    assert stop in tok.decode(got.token_ids) and stop not in tok.decode(got.token_ids[:-1])
    assert "".join(text_model.stream(PROMPT_TEXT, stop=stop, **forcing(tokens))) == got.text


def test_stream_holds_back_a_possible_stop_string(text_model):
    tok = text_model.tokenizer
    tokens = tok.encode(" alpha beta gam")
    seen = []
    for piece in text_model.stream(PROMPT_TEXT, stop=["gamma!"], **forcing(tokens)):
        seen.append(piece)
    assert "".join(seen) == " alpha beta gam"  # the sequence ended (length) before the stop string completed
    assert "gam" in seen[-1] and all("gam" not in p for p in seen[:-1]), seen


def test_breaking_out_of_a_stream_stops_the_work(text_model):
    calls = []
    core = text_model._core

    class CountingCore:
        def __getattr__(self, name):
            return getattr(core, name)

        def forward(self, *args):
            calls.append(1)
            return core.forward(*args)

    text_model._core = CountingCore()
    try:
        stream = text_model.stream(PROMPT_TEXT, max_new_tokens=100, eos_token_id=[])
        for _ in zip(range(3), stream):
            pass
        stream.close()
        n = len(calls)
        assert n <= 10
        with pytest.raises(StopIteration):
            next(stream)
        assert len(calls) == n
    finally:
        text_model._core = core


def test_score_text(text_model):
    tok = text_model.tokenizer
    s = text_model.score("The quick brown fox")
    assert s.token_ids == tok.encode("The quick brown fox")
    assert s.logprobs.tolist() == pytest.approx(text_model.score(s.token_ids).logprobs.tolist())
