"""gptcore.Tokenizer against tiktoken's `gpt2` encoding, Hugging Face's GPT2TokenizerFast and the `regex` module,
on a >10 MB corpus built at test time (tests/tokenizer_corpus.py). All references run offline from the GPT-2
files in <repo>/../shared/data/gpt2-tokenizer."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys

import pytest
import regex

import gptcore
from gptcore import Tokenizer, TokenizerError, _core

sys.path.insert(0, os.path.dirname(__file__))
from tokenizer_corpus import build_corpus, corpus_bytes  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GPT2_DIR = os.path.join(REPO, "..", "shared", "data", "gpt2-tokenizer")
GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
TIKTOKEN_URLS = {  # tiktoken's cache names each file by the sha1 of the URL it comes from
    "vocab.bpe": "https://openaipublic.blob.core.windows.net/gpt-2/encodings/main/vocab.bpe",
    "encoder.json": "https://openaipublic.blob.core.windows.net/gpt-2/encodings/main/encoder.json",
}
CLASS_PATTERNS = {1: r"\p{L}", 2: r"\p{N}", 3: r"\s"}  # _core.unicode_char_classes() codes
ALL_CODE_POINTS = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF)


@pytest.fixture(scope="session")
def gpt2_dir() -> str:
    if not os.path.isfile(os.path.join(GPT2_DIR, "encoder.json")):
        pytest.fail(f"GPT-2 tokenizer files not found in {GPT2_DIR} (expected beside the repository)")
    return GPT2_DIR


@pytest.fixture(scope="session")
def tok(gpt2_dir) -> Tokenizer:
    return Tokenizer.from_pretrained(gpt2_dir)


@pytest.fixture(scope="session")
def tiktoken_gpt2(gpt2_dir, tmp_path_factory):
    cache = tmp_path_factory.mktemp("tiktoken_cache")
    for name, url in TIKTOKEN_URLS.items():
        shutil.copy(os.path.join(gpt2_dir, name), cache / hashlib.sha1(url.encode()).hexdigest())
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TIKTOKEN_CACHE_DIR", str(cache))
        import tiktoken
        yield tiktoken.get_encoding("gpt2")


@pytest.fixture(scope="session")
def hf_dir(gpt2_dir, tmp_path_factory) -> str:
    """vocab.json + merges.txt: the names Hugging Face's GPT-2 repositories use."""
    d = tmp_path_factory.mktemp("hf_gpt2")
    shutil.copy(os.path.join(gpt2_dir, "encoder.json"), d / "vocab.json")
    shutil.copy(os.path.join(gpt2_dir, "vocab.bpe"), d / "merges.txt")
    return str(d)


@pytest.fixture(scope="session")
def hf_gpt2(hf_dir):
    from transformers import GPT2TokenizerFast
    return GPT2TokenizerFast.from_pretrained(hf_dir)


@pytest.fixture(scope="session")
def corpus():
    c = build_corpus()
    assert corpus_bytes(c) >= 10e6
    return c


@pytest.fixture(scope="session")
def docs(corpus):
    return [d for kind in corpus.values() for d in kind]


@pytest.fixture(scope="session")
def our_ids(tok, docs):
    return tok.encode_batch(docs)


def first_difference(name, docs, ours, theirs):
    for k, (a, b) in enumerate(zip(ours, theirs)):
        if a != b:
            i = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
            return (f"{name}: document {k} differs at token {i}: ours {a[max(0, i - 3):i + 3]}, "
                    f"theirs {b[max(0, i - 3):i + 3]}, lengths {len(a)} and {len(b)}")
    return None


# ------------------------------------------------------------------------------------------ Unicode tables
def regex_class_members(pattern: str) -> set:
    return set(regex.findall(pattern, ALL_CODE_POINTS))


def table_members(code: int) -> set:
    classes = _core.unicode_char_classes()
    return {chr(c) for c in range(0x110000) if classes[c] == code and not 0xD800 <= c <= 0xDFFF}


@pytest.mark.parametrize("code", sorted(CLASS_PATTERNS))
def test_unicode_table_matches_tiktoken(code, tiktoken_gpt2):
    """tiktoken's regex engine, asked for one class over every code point, keeps exactly our class."""
    import tiktoken
    probe = tiktoken.Encoding(name=f"class{code}", pat_str=CLASS_PATTERNS[code],
                              mergeable_ranks={bytes([b]): b for b in range(256)}, special_tokens={})
    theirs = set(probe.decode_bytes(probe.encode_ordinary(ALL_CODE_POINTS)).decode("utf-8"))
    ours = table_members(code)
    assert ours == theirs, f"{CLASS_PATTERNS[code]}: only ours {sorted(ours - theirs)[:5]}, " \
                           f"only tiktoken {sorted(theirs - ours)[:5]}"


@pytest.mark.parametrize("code", sorted(CLASS_PATTERNS))
def test_unicode_table_matches_regex_module(code):
    """`regex` may follow a newer Unicode than tiktoken; every difference must be a code point that is
    unassigned in our table's Unicode version (gen_unicode_class.py), i.e. newly assigned since."""
    import unicodedata2
    theirs, ours = regex_class_members(CLASS_PATTERNS[code]), table_members(code)
    newer = {c for c in ours ^ theirs if unicodedata2.category(c) != "Cn"}
    assert not newer, f"{CLASS_PATTERNS[code]} differs from regex on assigned code points " \
                      f"{[hex(ord(c)) for c in sorted(newer)[:10]]}"


def test_unicode_table_matches_hf_tokenizers():
    from tokenizers import Regex, pre_tokenizers
    classes = _core.unicode_char_classes()
    for code, pattern in CLASS_PATTERNS.items():
        # "removed" drops every match: what remains is the complement of the class.
        rest = pre_tokenizers.Split(Regex(pattern), behavior="removed").pre_tokenize_str(ALL_CODE_POINTS)
        theirs = set(ALL_CODE_POINTS) - set("".join(piece for piece, _ in rest))
        assert theirs == table_members(code), pattern
    assert set(classes) <= {0, 1, 2, 3}


# ------------------------------------------------------------------------------------------ exactness
def test_pretokenizer_matches_regex(corpus, docs):
    """The hand-written pre-tokenizer splits like the GPT-2 pattern in `regex` (characters on which regex's
    newer Unicode differs from our tables are replaced by U+FFFD in both inputs first)."""
    import unicodedata2
    newer = {c for code, p in CLASS_PATTERNS.items() for c in regex_class_members(p) ^ table_members(code)}
    assert all(unicodedata2.category(c) == "Cn" for c in newer)
    fix = str.maketrans({c: "\ufffd" for c in newer})
    pattern = regex.compile(GPT2_PATTERN)
    for k, doc in enumerate(docs):
        doc = doc.translate(fix)
        ours, theirs = _core.pretokenize(doc), pattern.findall(doc)
        if ours != theirs:
            i = next(i for i, (a, b) in enumerate(zip(ours + [None], theirs + [None])) if a != b)
            pytest.fail(f"document {k}: piece {i}: ours {ours[i:i + 2]!r}, regex {theirs[i:i + 2]!r}")


def test_encode_matches_tiktoken(tiktoken_gpt2, docs, our_ids):
    theirs = tiktoken_gpt2.encode_ordinary_batch(docs)
    assert first_difference("tiktoken", docs, our_ids, theirs) is None
    assert our_ids == theirs


def test_encode_matches_hf_gpt2_tokenizer_fast(hf_gpt2, docs, our_ids):
    theirs = [e.ids for e in hf_gpt2.backend_tokenizer.encode_batch(docs, add_special_tokens=False)]
    assert first_difference("GPT2TokenizerFast", docs, our_ids, theirs) is None
    assert our_ids == theirs
    sample = list(range(0, len(docs), 50))  # the public entry point, on some documents
    assert hf_gpt2([docs[k] for k in sample], add_special_tokens=False)["input_ids"] == [our_ids[k] for k in sample]


def test_encode_single_matches_batch(tok, corpus, our_ids, docs):
    """encode (one thread, shared cache) and encode_batch (threads, own caches) agree, per document kind."""
    for k in range(0, len(docs), max(1, len(docs) // 40)):
        assert tok.encode(docs[k]) == our_ids[k], f"document {k}"
    assert tok.encode_batch(docs[:50], n_threads=2) == our_ids[:50]
    assert tok.encode("") == [] and tok.encode_batch([]) == []


def test_roundtrip(tok, docs, our_ids):
    assert tok.decode_batch(our_ids) == docs


def test_bpe_fast_matches_naive(tok, docs):
    """The heap merge loop against the O(n^2) reference on every distinct piece of a corpus sample."""
    pieces = {p.encode("utf-8") for doc in docs[::7] for p in _core.pretokenize(doc)}
    pieces |= {b"9" * 500, "\ufffd".encode() * 300, b"=" * 777, " 🤗‍👩🏽".encode() * 40}
    for piece in pieces:
        assert tok._core.bpe(piece, False) == tok._core.bpe(piece, True), piece[:60]


def test_lone_surrogates_replaced_like_tiktoken(tok, tiktoken_gpt2):
    text = "a\ud800b \udfff c"
    assert tok.encode(text) == tiktoken_gpt2.encode_ordinary(text)
    assert tok.encode_batch([text, "ok"]) == tiktoken_gpt2.encode_ordinary_batch([text, "ok"])


# ------------------------------------------------------------------------------------------ special tokens
def test_endoftext_is_plain_text_by_default(tok, tiktoken_gpt2, hf_gpt2):
    text = "Hello<|endoftext|> world <|endoftext|>"
    assert tok.encode(text) == tiktoken_gpt2.encode_ordinary(text)
    assert 50256 not in tok.encode(text)
    for allowed in ({"<|endoftext|>"}, "all"):
        assert tok.encode(text, allowed_special=allowed) == tiktoken_gpt2.encode(text, allowed_special=allowed)
        assert tok.encode_batch([text, "x"], allowed_special=allowed) == \
            tiktoken_gpt2.encode_batch([text, "x"], allowed_special=allowed)
    assert tok.encode(text, allowed_special="all") == hf_gpt2.encode(text)
    assert tok.eot_token == 50256 == tiktoken_gpt2.eot_token
    assert tok.decode(tok.encode(text, allowed_special="all")) == text
    with pytest.raises(ValueError, match="<|unknown|>"):
        tok.encode(text, allowed_special={"<|unknown|>"})


# ------------------------------------------------------------------------------------------ streaming
def test_stream_decoder_matches_decode(tok, docs, our_ids):
    """One id at a time, the pieces join to decode(ids), and no piece ends inside a character: every piece
    is a prefix-extension of the text (a broken character would show as U+FFFD not in the full text)."""
    for k in list(range(0, len(docs), max(1, len(docs) // 25))) + [len(docs) - 1]:
        ids, expected = our_ids[k][:20000], tok.decode(our_ids[k][:20000])
        dec, text = tok.decoder(), ""
        for i in ids:
            text += dec.decode([i])
            assert expected.startswith(text), f"document {k}: streamed text diverges at {len(text)}"
        assert text + dec.flush() == expected


def test_stream_decoder_holds_back_split_characters(tok, tiktoken_gpt2):
    ids = tiktoken_gpt2.encode_ordinary("🤗")  # one emoji, several byte-level tokens
    assert len(ids) > 1
    dec = tok.decoder()
    assert [dec.decode([i]) for i in ids] == [""] * (len(ids) - 1) + ["🤗"]
    assert dec.flush() == ""
    incomplete = tiktoken_gpt2.encode_single_token(b"\xf0")  # a lead byte and then the end of the stream
    assert dec.decode([incomplete]) == "" and dec.flush() == "\ufffd"
    assert dec.decode(tiktoken_gpt2.encode_ordinary("ok")) == "ok"  # usable again after flush


# ------------------------------------------------------------------------------------------ file forms
def test_all_file_forms_agree(gpt2_dir, hf_dir, hf_gpt2, tmp_path, docs, our_ids):
    hf_gpt2.save_pretrained(tmp_path / "pairs")
    tj = json.loads((tmp_path / "pairs" / "tokenizer.json").read_text())
    assert isinstance(tj["model"]["merges"][0], list)
    tj["model"]["merges"] = [" ".join(m) for m in tj["model"]["merges"]]
    (tmp_path / "strings").mkdir()
    (tmp_path / "strings" / "tokenizer.json").write_text(json.dumps(tj))
    sample = docs[::30]
    expected = [our_ids[k] for k in range(0, len(docs), 30)]
    for path in [gpt2_dir, hf_dir, tmp_path / "pairs", tmp_path / "strings", tmp_path / "strings" / "tokenizer.json"]:
        other = Tokenizer.from_pretrained(path)
        assert other.encode_batch(sample) == expected, path
        assert other.encode("a<|endoftext|>", allowed_special="all")[-1] == 50256, path


def test_model_carries_its_tokenizer(hf_dir, tmp_path):
    torch = pytest.importorskip("torch")
    from transformers import GPT2Config, GPT2LMHeadModel
    torch.manual_seed(0)
    cfg = GPT2Config(vocab_size=50257, n_positions=32, n_embd=16, n_layer=1, n_head=2)
    GPT2LMHeadModel(cfg).save_pretrained(tmp_path / "bare")
    assert gptcore.GPT.from_pretrained(tmp_path / "bare").tokenizer is None
    shutil.copytree(tmp_path / "bare", tmp_path / "with_tokenizer")
    for name in ("vocab.json", "merges.txt"):
        shutil.copy(os.path.join(hf_dir, name), tmp_path / "with_tokenizer" / name)
    model = gptcore.GPT.from_pretrained(tmp_path / "with_tokenizer")
    assert isinstance(model.tokenizer, Tokenizer)
    assert model.tokenizer.encode("Hello world") == Tokenizer.from_pretrained(hf_dir).encode("Hello world")


# ------------------------------------------------------------------------------------------ bad input
def test_bad_input(tok):
    with pytest.raises(TypeError, match="text must be str"):
        tok.encode(b"bytes")
    with pytest.raises(TypeError, match=r"texts\[1\]"):
        tok.encode_batch(["ok", 3])
    with pytest.raises(ValueError, match="50257"):
        tok.decode([1, 2, 50257])
    with pytest.raises(ValueError, match="-1"):
        tok.decode([-1])
    with pytest.raises(ValueError, match="n_threads"):
        tok.encode_batch(["a"], n_threads=0)


@pytest.mark.parametrize("merges_text, line, what", [
    ("#version: 0.2\nĠ t\nĠ a b\n", 3, "exactly two"),
    ("#version: 0.2\nĠ t\nĠ zzzz\n", 3, "'zzzz' is not in the vocabulary"),
])
def test_malformed_merges_name_file_and_line(gpt2_dir, tmp_path, merges_text, line, what):
    shutil.copy(os.path.join(gpt2_dir, "encoder.json"), tmp_path / "vocab.json")
    (tmp_path / "merges.txt").write_text(merges_text, encoding="utf-8")
    with pytest.raises(TokenizerError, match=f"merges.txt:{line}: .*{what}"):
        Tokenizer.from_pretrained(tmp_path)


def test_malformed_vocab_names_file_and_line(gpt2_dir, tmp_path):
    shutil.copy(os.path.join(gpt2_dir, "vocab.bpe"), tmp_path / "merges.txt")
    (tmp_path / "vocab.json").write_text('{\n  "a": 0,\n  "b": 1\n  "c": 2\n}\n')
    with pytest.raises(TokenizerError, match=r"vocab.json:4: invalid JSON"):
        Tokenizer.from_pretrained(tmp_path)
    (tmp_path / "vocab.json").write_text('{\n  "a": 0,\n  "b": "one"\n}\n')
    with pytest.raises(TokenizerError, match=r"vocab.json:3: token 'b' has id 'one'"):
        Tokenizer.from_pretrained(tmp_path)


def test_missing_tokenizer_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="no tokenizer files"):
        Tokenizer.from_pretrained(tmp_path)


def test_malformed_tokenizer_json_names_entry(hf_gpt2, tmp_path):
    hf_gpt2.save_pretrained(tmp_path)
    tj = json.loads((tmp_path / "tokenizer.json").read_text())
    tj["model"]["merges"][1] = ["Ġ"]
    (tmp_path / "tokenizer.json").write_text(json.dumps(tj))
    with pytest.raises(TokenizerError, match=r"tokenizer.json: model.merges\[1\]: .*exactly two"):
        Tokenizer.from_pretrained(tmp_path)
