"""The C++ sampler (cpp/sampling/) against transformers' logits processors and by the statistics of its draws."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats
from transformers.generation import logits_process as lp

from gptcore import _core

V = 64
PROMPT = [3, 7, 7, 12, 3, 40, 41, 3, 7]  # repeats, so penalties and n-grams have something to act on


def make_sampler(prompt=PROMPT, seed: int = 0, stream: int = 0, vocab_size: int = V, **options) -> _core.Sampler:
    """A Sampler with one sequence (index 0) whose prompt is `prompt`."""
    params = _core.SamplingParams()
    for name, value in options.items():
        setattr(params, name, value)
    s = _core.Sampler(params, vocab_size)
    s.add_sequence(np.array(prompt, dtype=np.int32), seed, stream)
    return s


def random_logits(seed: int, n: int = V, scale: float = 3.0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(n) * scale).astype(np.float32)


def reference(processors, logits: np.ndarray, history=PROMPT) -> np.ndarray:
    scores = torch.tensor(logits)[None].clone()
    ids = torch.tensor([history])
    for p in processors:
        scores = p(ids, scores)
    return scores[0].numpy()


def assert_same_scores(ours: np.ndarray, theirs: np.ndarray) -> None:
    np.testing.assert_array_equal(np.isneginf(ours), np.isneginf(theirs), err_msg="filtered tokens differ")
    finite = np.isfinite(theirs)
    np.testing.assert_allclose(ours[finite], theirs[finite], rtol=1e-5, atol=1e-5)


PROCESSOR_CASES = [
    # (our options, transformers' processors)
    (dict(repetition_penalty=1.7), [lp.RepetitionPenaltyLogitsProcessor(1.7)]),
    (dict(repetition_penalty=0.6), [lp.RepetitionPenaltyLogitsProcessor(0.6)]),
    (dict(no_repeat_ngram_size=2), [lp.NoRepeatNGramLogitsProcessor(2)]),
    (dict(no_repeat_ngram_size=1), [lp.NoRepeatNGramLogitsProcessor(1)]),
    (dict(bad_words_ids=[[5], [3, 7, 9], [40, 41, 3, 7, 11]]),
     [lp.NoBadWordsLogitsProcessor([[5], [3, 7, 9], [40, 41, 3, 7, 11]])]),
    (dict(min_new_tokens=2, eos_token_ids=[63, 2]), [lp.MinNewTokensLengthLogitsProcessor(len(PROMPT), 2, [63, 2])]),
    (dict(do_sample=True, temperature=0.7), [lp.TemperatureLogitsWarper(0.7)]),
    (dict(do_sample=True, top_k=5), [lp.TopKLogitsWarper(5)]),
    (dict(do_sample=True, top_p=0.8), [lp.TopPLogitsWarper(0.8)]),
    (dict(do_sample=True, min_p=0.05), [lp.MinPLogitsWarper(0.05)]),
    (dict(do_sample=True, typical_p=0.7), [lp.TypicalLogitsWarper(0.7)]),
    (dict(do_sample=True, repetition_penalty=1.3, no_repeat_ngram_size=3, temperature=1.5, top_k=20, top_p=0.9,
          min_p=0.02, typical_p=0.95),
     [lp.RepetitionPenaltyLogitsProcessor(1.3), lp.NoRepeatNGramLogitsProcessor(3), lp.TemperatureLogitsWarper(1.5),
      lp.TopKLogitsWarper(20), lp.TopPLogitsWarper(0.9), lp.MinPLogitsWarper(0.02), lp.TypicalLogitsWarper(0.95)]),
]


@pytest.mark.parametrize("options,processors", PROCESSOR_CASES, ids=lambda c: str(c)[:60])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_processors_match_transformers(options, processors, seed):
    logits = random_logits(seed)
    ours = make_sampler(**options).process(0, logits)
    assert_same_scores(ours, reference(processors, logits))


def test_warpers_are_skipped_when_greedy():
    logits = random_logits(3)
    ours = make_sampler(do_sample=False, temperature=0.5, top_k=2, top_p=0.1).process(0, logits)
    np.testing.assert_array_equal(ours, logits)


def test_logit_bias_and_presence_frequency_penalties():
    logits = random_logits(4)
    s = make_sampler(presence_penalty=0.5, frequency_penalty=0.25, logit_bias=[(10, 2.0), (11, -100.0)])
    generated = [20, 21, 20, 20]
    for token in generated:  # one-hot rows: the penalties cannot change which token wins
        row = np.full((1, V), -1e4, dtype=np.float32)
        row[0, token] = 0.0
        assert s.sample([0], row)[0][0] == token
    expected = logits.copy()
    expected[10] += 2.0
    expected[11] -= 100.0
    expected[20] -= 0.5 + 3 * 0.25  # penalties count generated tokens only, not the prompt
    expected[21] -= 0.5 + 1 * 0.25
    np.testing.assert_allclose(s.process(0, logits), expected, rtol=1e-6)


def test_greedy_picks_first_argmax_and_reports_logprobs():
    logits = np.array([[0.0, 2.0, 2.0, -1.0]], dtype=np.float32)
    s = make_sampler(prompt=[0], vocab_size=4, repetition_penalty=1.0)
    tokens, logprobs, raw = s.sample([0], logits)
    assert tokens.tolist() == [1]
    expected = torch.log_softmax(torch.tensor(logits[0], dtype=torch.float64), 0)[1].item()
    assert logprobs[0] == pytest.approx(expected, abs=1e-6) and raw[0] == pytest.approx(expected, abs=1e-6)
    assert s.tokens(0) == [0, 1]


def test_logprob_is_under_processed_distribution_raw_under_model():
    logits = random_logits(5)
    s = make_sampler(do_sample=True, temperature=0.5, top_k=3, seed=9)
    token, logprob, raw = (a[0] for a in s.sample([0], logits[None]))
    processed = make_sampler(do_sample=True, temperature=0.5, top_k=3).process(0, logits)
    assert np.isfinite(processed[token])
    assert logprob == pytest.approx(torch.log_softmax(torch.tensor(processed, dtype=torch.float64), 0)[token].item(),
                                    abs=1e-5)
    assert raw == pytest.approx(torch.log_softmax(torch.tensor(logits, dtype=torch.float64), 0)[token].item(), abs=1e-5)


def draw_many(n: int, logits: np.ndarray, seed: int = 1234, **options) -> np.ndarray:
    """n draws for one sequence from the same logits (no history-dependent option), as token counts."""
    s = make_sampler(prompt=[0], seed=seed, vocab_size=len(logits), do_sample=True, **options)
    tokens, _, _ = s.sample([0] * n, np.tile(logits, (n, 1)))
    return np.bincount(tokens, minlength=len(logits))


STAT_CASES = [
    (dict(), []),
    (dict(temperature=0.6), [lp.TemperatureLogitsWarper(0.6)]),
    (dict(temperature=1.8), [lp.TemperatureLogitsWarper(1.8)]),
    (dict(top_k=4), [lp.TopKLogitsWarper(4)]),
    (dict(top_p=0.7), [lp.TopPLogitsWarper(0.7)]),
    (dict(min_p=0.1), [lp.MinPLogitsWarper(0.1)]),
    (dict(typical_p=0.6), [lp.TypicalLogitsWarper(0.6)]),
    (dict(temperature=1.3, top_k=6, top_p=0.9), [lp.TemperatureLogitsWarper(1.3), lp.TopKLogitsWarper(6),
                                                  lp.TopPLogitsWarper(0.9)]),
]


@pytest.mark.parametrize("options,processors", STAT_CASES, ids=lambda c: str(c)[:40])
def test_sampled_frequencies_follow_the_processed_distribution(options, processors):
    logits = random_logits(7, n=12, scale=1.0)
    n = 40_000
    counts = draw_many(n, logits, **options)
    expected = torch.softmax(torch.tensor(reference(processors, logits, history=[0]), dtype=torch.float64), 0).numpy()
    assert counts[expected == 0].sum() == 0, f"filtered tokens were drawn: {counts} vs {expected}"
    keep = expected > 0
    result = stats.chisquare(counts[keep], expected[keep] * n)
    assert result.pvalue > 1e-4, f"counts {counts} do not follow {expected * n} (p = {result.pvalue:.2e})"


def test_chi_square_detects_a_wrong_distribution():
    # The statistical test has power: draws at temperature 1.0 are rejected as draws at temperature 0.8.
    logits = random_logits(7, n=12, scale=1.0)
    counts = draw_many(40_000, logits)
    wrong = torch.softmax(torch.tensor(logits, dtype=torch.float64) / 0.8, 0).numpy()
    assert stats.chisquare(counts, wrong * 40_000).pvalue < 1e-6


def test_seed_reproduces_and_streams_differ():
    logits = random_logits(8, n=16, scale=0.5)
    rows = np.tile(logits, (200, 1))

    def tokens(seed, stream):
        return make_sampler(prompt=[0], seed=seed, stream=stream, vocab_size=16, do_sample=True).sample(
            [0] * 200, rows)[0].tolist()

    assert tokens(5, 0) == tokens(5, 0)
    assert tokens(5, 0) != tokens(6, 0)
    assert tokens(5, 0) != tokens(5, 1)


def test_a_sequence_draws_the_same_whatever_else_is_sampled():
    logits = random_logits(9, n=16, scale=0.5)
    alone = make_sampler(prompt=[0], seed=42, vocab_size=16, do_sample=True)
    params = alone.params
    batch = _core.Sampler(params, 16)
    for seed in (7, 42, 3):
        batch.add_sequence(np.array([0], dtype=np.int32), seed, 0)
    for _ in range(50):
        mine = alone.sample([0], logits[None])[0][0]
        order = [2, 1, 0] if _ % 2 else [1, 0, 2]
        picked = batch.sample(order, np.tile(logits, (3, 1)))[0]
        assert picked[order.index(1)] == mine


def test_philox_known_answers():
    # Random123's known-answer vectors for Philox4x32-10.
    assert _core.philox4x32_10([0, 0, 0, 0], [0, 0]) == [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]
    assert _core.philox4x32_10([0xFFFFFFFF] * 4, [0xFFFFFFFF] * 2) == [0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD]
    assert _core.philox4x32_10([0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344], [0xA4093822, 0x299F31D0]) == \
        [0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1]


def test_philox_uniform_is_uniform():
    u = np.array([_core.philox_uniform(1, 0, k) for k in range(20_000)])
    assert u.min() >= 0.0 and u.max() < 1.0
    assert stats.kstest(u, "uniform").pvalue > 1e-4


@pytest.mark.parametrize("field,value", [
    ("temperature", 0.0), ("temperature", -1.0), ("top_k", -1), ("top_p", 0.0), ("top_p", 1.5), ("min_p", -0.1),
    ("typical_p", 0.0), ("repetition_penalty", 0.0), ("no_repeat_ngram_size", -2), ("min_new_tokens", -1),
    ("eos_token_ids", [V]), ("bad_words_ids", [[1, V]]), ("bad_words_ids", [[]]), ("logit_bias", [(-1, 1.0)]),
])
def test_params_out_of_range_name_the_field(field, value):
    params = _core.SamplingParams()
    setattr(params, field, value)
    name = {"eos_token_ids": "eos_token_id"}.get(field, field)
    with pytest.raises(ValueError, match=name):
        _core.Sampler(params, V)


def test_everything_filtered_raises():
    s = make_sampler(prompt=[0], vocab_size=2, bad_words_ids=[[0], [1]])
    with pytest.raises(RuntimeError, match="filtered out"):
        s.sample([0], np.zeros((1, 2), dtype=np.float32))
