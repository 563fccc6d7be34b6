"""What the notebooks stand on: the logit lens (against transformers), the model's repr, live streaming in and
out of a notebook, and the plotting functions (matplotlib's Agg backend, no display)."""

from __future__ import annotations

import io
import math
import sys

import matplotlib
import numpy as np
import pytest
import torch

import gptcore
from gptcore import notebook, plotting
from gptcore.lens import lens_logits
from checkpoints import assert_logits_close
from conftest import load_reference, make_checkpoint

matplotlib.use("Agg")

CONFIG = dict(vocab_size=50257, eos_token_id=50256, n_positions=64, n_embd=32, n_layer=3, n_head=4,
              initializer_range=0.3)
TEXT = "In the beginning God created the heaven and the earth.\nAnd God said, Let there be light: and there was light."


def load_pair(tmp_path_factory, tokenizer_dir, tied):
    """(transformers model, gptcore model with GPT-2's tokenizer) with the same random weights."""
    path = make_checkpoint(tmp_path_factory.mktemp("tied" if tied else "untied"), seed=3, tie_word_embeddings=tied,
                           **CONFIG)
    model = gptcore.GPT.from_pretrained(path, n_threads=1)
    model.tokenizer = gptcore.Tokenizer.from_pretrained(tokenizer_dir)
    return load_reference(path), model


@pytest.fixture(scope="module")
def tied_pair(tmp_path_factory, gpt2_tokenizer_dir):
    return load_pair(tmp_path_factory, gpt2_tokenizer_dir, tied=True)


@pytest.fixture(scope="module", params=["tied", "untied"])
def pair(request, tied_pair, tmp_path_factory, gpt2_tokenizer_dir):
    """Both kinds of LM head: the lens must read logits off the checkpoint's own."""
    return tied_pair if request.param == "tied" else load_pair(tmp_path_factory, gpt2_tokenizer_dir, tied=False)


@pytest.fixture(scope="module")
def model(tied_pair):
    return tied_pair[1]


# ----------------------------------------------------------------------------------------------- logit lens

def test_lens_logits_equal_transformers_head_on_each_hidden_state(pair):
    hf, model = pair
    ids = model.tokenizer.encode(TEXT)
    with torch.no_grad():
        ref = hf(torch.as_tensor(ids)[None], output_hidden_states=True)
        states = ref.hidden_states  # the last one already went through ln_f
        expected = [hf.lm_head(hf.transformer.ln_f(h)) for h in states[:-1]] + [hf.lm_head(states[-1])]
    hidden = model.inspect(ids, attentions=False).hidden_states
    assert len(expected) == len(hidden) == model.config.n_layer + 1
    for layer, exp in enumerate(expected):
        assert_logits_close(lens_logits(model, hidden[layer], layer), exp[0].numpy(), f"lens of hidden state {layer}")
    # The last state's lens is the model's own output.
    assert_logits_close(lens_logits(model, hidden[-1], model.config.n_layer), model.logits(ids), "lens vs model.logits")
    assert_logits_close(model.logits(ids), ref.logits[0].numpy(), "model.logits vs transformers")


def test_logit_lens_top_tokens_and_final_probabilities(model):
    lens = gptcore.logit_lens(model, TEXT, top_k=3)
    ids = model.tokenizer.encode(TEXT)
    T, L = len(ids), model.config.n_layer
    np.testing.assert_array_equal(lens.token_ids, ids)
    assert lens.top_ids.shape == lens.top_probs.shape == (L + 1, T, 3)
    assert lens.final_token_probs.shape == (L + 1, T)
    logits = model.logits(ids).astype(np.float64)
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    np.testing.assert_array_equal(lens.top_ids[-1, :, 0], probs.argmax(1))
    np.testing.assert_allclose(lens.top_probs[-1], np.take_along_axis(probs, lens.top_ids[-1], 1), rtol=1e-4)
    assert np.all(np.diff(lens.top_probs, axis=2) <= 0), "top tokens must come most likely first"
    np.testing.assert_array_equal(lens.final_token_probs[-1], lens.top_probs[-1, :, 0])
    # An earlier layer: its probability of the final prediction, from its own lens logits.
    hidden = model.inspect(ids, attentions=False).hidden_states
    z = lens_logits(model, hidden[1], 1).astype(np.float64)
    p1 = np.exp(z - z.max(1, keepdims=True))
    p1 /= p1.sum(1, keepdims=True)
    np.testing.assert_allclose(lens.final_token_probs[1], p1[np.arange(T), lens.top_ids[-1, :, 0]], rtol=1e-4)
    np.testing.assert_array_equal(lens.top_ids[1, :, 0], p1.argmax(1))


@pytest.mark.parametrize("dtype", ["bf16", "int8"])
def test_lens_of_a_reduced_precision_model_reads_its_own_head(tied_pair, dtype):
    """The lens goes through the core's LM head in the model's precision: its last layer equals the model's logits."""
    _, fp32 = tied_pair
    model = gptcore.GPT.from_pretrained(fp32.source, n_threads=1, dtype=dtype)
    ids = fp32.tokenizer.encode(TEXT)
    hidden = model.inspect(ids, attentions=False).hidden_states
    np.testing.assert_allclose(lens_logits(model, hidden[-1], model.config.n_layer), model.logits(ids),
                               rtol=0, atol=1e-5)
    assert f"dtype={dtype}" in repr(model) and model.weights_nbytes() < fp32.weights_nbytes()


def test_logit_lens_bad_input(model, tmp_path):
    with pytest.raises(ValueError, match="top_k"):
        gptcore.logit_lens(model, [1, 2, 3], top_k=0)
    with pytest.raises(ValueError, match="layer must be in"):
        lens_logits(model, np.zeros((2, model.config.n_embd)), model.config.n_layer + 1)
    with pytest.raises(ValueError, match="n_embd"):
        lens_logits(model, np.zeros((2, 7)), 0)
    bare = gptcore.GPT.from_pretrained(make_checkpoint(tmp_path, n_layer=1), n_threads=1)
    with pytest.raises(ValueError, match="tokenizer"):
        gptcore.logit_lens(bare, "text without a tokenizer")


# ----------------------------------------------------------------------------------------------------- repr

def test_repr_names_architecture_size_dtype_memory_threads_source(pair):
    hf, model = pair
    params = sum(p.numel() for p in hf.parameters())  # transformers counts a tied head once, too
    assert model.num_parameters() == params
    assert model.dtype == "fp32"
    text = repr(model)
    for part in ("n_layer=3", "n_head=4", "n_embd=32", "vocab_size=50257", "n_positions=64",
                 f"params={params / 1e6:.1f}M", "dtype=fp32", f"weights={params * 4 / 2**20:.1f} MiB",
                 "n_threads=1", f"source={model.source!r}"):
        assert part in text, f"{part!r} missing from {text}"
    html = model._repr_html_()
    for part in ("3 layers", "4 heads", "n_embd 32", "64 tokens", "50,257 tokens", f"{params:,}", "fp32",
                 f"{params * 4 / 2**20:.1f} MiB", model.source):
        assert part in html, f"{part!r} missing from the HTML repr"


# ------------------------------------------------------------------------------------------------ streaming

def test_show_stream_prints_outside_a_notebook(model, capsys):
    assert not notebook.in_notebook()
    options = dict(max_new_tokens=12, eos_token_id=[])
    text = notebook.show_stream(model, "And God said", **options)
    assert text == model.generate("And God said", **options)
    assert capsys.readouterr().out == "And God said" + text + "\n"
    notebook.show_stream(model, "And God said", show_prompt=False, **options)
    assert capsys.readouterr().out == text + "\n"


def test_show_stream_updates_one_display_in_a_notebook(model, monkeypatch):
    """In a kernel: one display, updated in place, ending with the whole text (HTML-escaped)."""
    import IPython.display

    shown = []

    class Handle:
        def update(self, bundle, raw):
            assert raw
            shown.append(bundle)

    def display(bundle, raw, display_id):
        assert raw and display_id is True
        shown.append(bundle)
        return Handle()

    monkeypatch.setattr(notebook, "in_notebook", lambda: True)
    monkeypatch.setattr(IPython.display, "display", display)
    options = dict(max_new_tokens=10, eos_token_id=[], do_sample=True, seed=5)
    text = notebook.show_stream(model, "a < b", **options)
    assert text == model.generate("a < b", **options)
    assert shown[0]["text/plain"] == "a < b"
    assert shown[-1]["text/plain"] == "a < b" + text
    assert "a &lt; b" in shown[-1]["text/html"]


def test_show_stream_checks_options_before_showing(model, capsys):
    with pytest.raises(TypeError, match="unknown generation option"):
        notebook.show_stream(model, "x", max_tokens=3)
    assert capsys.readouterr().out == ""


# ------------------------------------------------------------------------------------------------- plotting

def render(fig):
    """Draws the figure as a PNG (catches errors that only show when drawing, e.g. bad math text)."""
    fig.savefig(io.BytesIO(), format="png", dpi=40)
    return fig


def test_plot_attention_panels(model):
    c = model.config
    ids = model.tokenizer.encode("And God said, Let there be light")
    fig = render(plotting.plot_attention(model, ids))
    assert len(fig.axes) == c.n_layer * c.n_head + 1  # + the colour bar
    attentions = model.inspect(ids, hidden_states=False).attentions
    np.testing.assert_array_equal(fig.axes[c.n_head + 2].images[0].get_array(), attentions[1, 2])
    fig = render(plotting.plot_attention(model, ids, layer=2))
    assert len(fig.axes) == c.n_head + 1
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == plotting.token_strings(model, ids)
    fig = render(plotting.plot_attention(model, ids, layer=0, heads=[3, 1]))
    assert len(fig.axes) == 3 and fig.axes[0].get_title() == "layer 0 head 3"
    with pytest.raises(ValueError, match="layer"):
        plotting.plot_attention(model, ids, layer=c.n_layer)
    with pytest.raises(ValueError, match="heads"):
        plotting.plot_attention(model, ids, heads=[c.n_head])


def test_plot_next_token_bars(model):
    fig = render(plotting.plot_next_token(model, TEXT, k=5))
    (ax,) = fig.axes
    logits = model.logits(model.tokenizer.encode(TEXT))[-1].astype(np.float64)
    probs = np.exp(logits - logits.max())
    probs /= probs.sum()
    top = np.argsort(-probs)[:5]
    np.testing.assert_allclose([bar.get_width() for bar in ax.patches], probs[top], rtol=1e-5)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == plotting.token_strings(model, top)  # y runs most likely at the top


def test_figures_are_not_left_open_in_pyplot(model):
    """Open figures would be shown twice in a notebook (as the cell's value and at the cell's end) and pile up."""
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    render(plotting.plot_surprisal(model, "And God said"))
    assert plt.get_fignums() == before


def test_plot_surprisal_bars_are_bits(model):
    fig = render(plotting.plot_surprisal(model, TEXT))
    (ax,) = fig.axes
    score = model.score(TEXT)
    np.testing.assert_allclose([bar.get_height() for bar in ax.patches], -score.logprobs / math.log(2),
                               rtol=1e-6)


def test_plot_logit_lens_grid(model):
    fig = render(plotting.plot_logit_lens(model, "And God said"))
    assert len(fig.axes) == 2  # the grid and its colour bar
    lens = gptcore.logit_lens(model, "And God said", top_k=1)
    np.testing.assert_array_equal(fig.axes[0].images[0].get_array(), lens.final_token_probs)
    fig = render(plotting.plot_logit_lens(model, "And God said", color="top"))
    np.testing.assert_array_equal(fig.axes[0].images[0].get_array(), lens.top_probs[:, :, 0])
    with pytest.raises(ValueError, match="color"):
        plotting.plot_logit_lens(model, "x", color="rank")


def test_token_strings_show_whitespace_and_escape_math(model, tmp_path):
    ids = model.tokenizer.encode(" the\n$")
    assert plotting.token_strings(model, ids) == ["\u2423the", "\\n", r"\$"]
    bare = gptcore.GPT.from_pretrained(make_checkpoint(tmp_path, n_layer=1), n_threads=1)
    assert plotting.token_strings(bare, [5, 17]) == ["5", "17"]


def test_plotting_without_matplotlib_names_the_extra(model, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)  # makes the import fail
    with pytest.raises(ImportError, match=r'pip install "gptcore\[plot\]"'):
        plotting.plot_next_token(model, "x")
