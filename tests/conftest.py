"""Shared fixtures: tiny random-weight GPT-2 checkpoints written with transformers."""

from __future__ import annotations

from pathlib import Path

import pytest


def make_checkpoint(path: Path, *, wte_scale: float = 1.0, seed: int = 0, **config) -> Path:
    """Write a random-weight GPT2LMHeadModel (tiny by default; `config` overrides GPT2Config fields) to
    `path` and return it. wte_scale multiplies the (tied) embeddings so logits are spread out and greedy
    decoding has no near-ties between runs of different arithmetic."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    fields = dict(vocab_size=96, n_positions=128, n_embd=32, n_layer=2, n_head=4)
    fields.update(config)
    fields.setdefault("bos_token_id", fields["vocab_size"] - 1)
    fields.setdefault("eos_token_id", fields["vocab_size"] - 1)
    torch.manual_seed(seed)
    model = GPT2LMHeadModel(GPT2Config(**fields)).eval()
    with torch.no_grad():
        model.transformer.wte.weight.mul_(wte_scale)
    model.save_pretrained(path)
    return Path(path)


def load_reference(path: Path):
    """The transformers model of a checkpoint, with eager attention (the reference implementation)."""
    from transformers import GPT2LMHeadModel

    return GPT2LMHeadModel.from_pretrained(path, attn_implementation="eager").eval()


@pytest.fixture(scope="session")
def gpt2_tokenizer_dir() -> Path:
    """The real GPT-2 tokenizer files (encoder.json + vocab.bpe), shared beside the repository."""
    path = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "gpt2-tokenizer"
    if not path.is_dir():
        pytest.fail(f"GPT-2 tokenizer files not found at {path}: CI and the tests expect ../shared beside the repository")
    return path


@pytest.fixture(scope="session", autouse=True)
def converted_cache_dir(tmp_path_factory) -> Path:
    """bf16 / int8 models loaded by the tests (and their subprocesses) keep converted weights in a temporary
    directory, never in the user's ~/.cache."""
    import os

    path = tmp_path_factory.mktemp("gptcore-cache")
    old = os.environ.get("GPTCORE_CACHE")
    os.environ["GPTCORE_CACHE"] = str(path)
    yield path
    if old is None:
        del os.environ["GPTCORE_CACHE"]
    else:
        os.environ["GPTCORE_CACHE"] = old
