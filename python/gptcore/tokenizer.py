"""GPT-2's byte-level BPE tokenizer.

Load one with :meth:`Tokenizer.from_pretrained` from any of the forms GPT-2 tokenizers ship in; ``encode``
gives the ids of tiktoken's ``gpt2`` encoding and of Hugging Face's ``GPT2TokenizerFast``. The pre-tokenizer
and the BPE merge loop run in the C++ core (``cpp/tokenizer/``); this module parses the files, handles special
tokens and is the API. docs/tokenizer.md has the details.
"""

from __future__ import annotations

import codecs
import json
import os
import re
from typing import AbstractSet, Any, Callable, Dict, Iterable, List, Literal, Optional, Sequence, Tuple, Union, cast

from . import _core

ENDOFTEXT = "<|endoftext|>"

# File sets that hold a GPT-2 tokenizer, in the order they are tried.
VOCAB_MERGES_FILES = (("vocab.json", "merges.txt"), ("encoder.json", "vocab.bpe"))
TOKENIZER_JSON = "tokenizer.json"

AllowedSpecial = Union[Literal["all"], AbstractSet[str]]


class TokenizerError(ValueError):
    """A tokenizer file gptcore cannot read: names the file and the line (or JSON entry) at fault."""


def bytes_to_unicode() -> Dict[int, str]:
    """GPT-2's byte -> character map: vocabulary files spell token bytes with these printable characters."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    extra = [b for b in range(256) if b not in printable]
    chars = printable + [256 + k for k in range(len(extra))]
    return {b: chr(c) for b, c in zip(printable + extra, chars)}


BYTE_OF_CHAR = {c: b for b, c in bytes_to_unicode().items()}
# str.translate table: each alphabet character -> the character of its byte (then encoded as latin-1), and
# every other character below 256 -> U+FFFF, which latin-1 cannot encode, like any character above 255.
_TO_LATIN1 = {**{b: 0xFFFF for b in range(256)}, **{ord(c): b for c, b in BYTE_OF_CHAR.items()}}


def _token_bytes(token: str, where: str) -> bytes:
    try:
        return token.translate(_TO_LATIN1).encode("latin-1")
    except UnicodeEncodeError as e:
        bad = token[e.start]
        raise TokenizerError(f"{where}: token {token!r} has the character {bad!r}, which is not in "
                             "GPT-2's byte-level alphabet") from None


def _line_of(text: str, needle: str) -> int:
    """1-based line of the first `needle` in text (0 if absent): locates a bad JSON entry for the message."""
    at = text.find(needle)
    return text.count("\n", 0, at) + 1 if at >= 0 else 0


def _read_json(path: str) -> Tuple[object, str]:
    """The parsed JSON of a file and its text (to locate entries in error messages)."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        return json.loads(text), text
    except json.JSONDecodeError as e:
        raise TokenizerError(f"{path}:{e.lineno}: invalid JSON: {e.msg} (column {e.colno})") from None


def _parse_vocab(vocab: object, where: str, text: str) -> Dict[str, int]:
    if not isinstance(vocab, dict):
        raise TokenizerError(f"{where}: expected a JSON object of token -> id, got {type(vocab).__name__}")
    for token, i in vocab.items():
        if isinstance(i, bool) or not isinstance(i, int) or i < 0:
            line = _line_of(text, json.dumps(token))
            raise TokenizerError(f"{where}:{line}: token {token!r} has id {i!r}; ids are non-negative integers")
    return vocab


def _split_merge(merge: object, where: str) -> Tuple[str, str]:
    if isinstance(merge, str):
        parts = merge.split(" ")
    elif isinstance(merge, list) and all(isinstance(p, str) for p in merge):
        parts = merge
    else:
        raise TokenizerError(f"{where}: a merge is a string \"left right\" or a pair [left, right], got {merge!r}")
    if len(parts) != 2 or not parts[0] or not parts[1]:
        raise TokenizerError(f"{where}: a merge has exactly two non-empty tokens, got {merge!r}")
    return parts[0], parts[1]


def _read_merges_txt(path: str) -> Tuple[List[Tuple[str, str]], Callable[[int], str]]:
    """([(left, right)], where) from a merges.txt / vocab.bpe: an optional '#version' line, then one merge a
    line; where(k) is "path:line" of merge k, for errors."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    merges, lines = [], []
    for lineno, line in enumerate(text.split("\n"), 1):
        if not line or (lineno == 1 and line.startswith("#version")):
            continue
        left, _, right = line.partition(" ")
        if not left or not right or " " in right:
            _split_merge(line, f"{path}:{lineno}")  # raises, saying what is wrong
        merges.append((left, right))
        lines.append(lineno)
    return merges, lambda k: f"{path}:{lines[k]}"


class StreamDecoder:
    """Turns token ids into text as they arrive, never splitting a UTF-8 character.

    ``decode(ids)`` returns the text that the ids seen so far complete; the bytes of a character that is still
    incomplete are held back. ``flush()`` returns what is held at the end of the stream (invalid bytes become
    U+FFFD, as in :meth:`Tokenizer.decode`) and readies the decoder for a new stream. The pieces joined equal
    ``tokenizer.decode(all_ids)``::

        dec = tokenizer.decoder()
        for token in ids:
            print(dec.decode([token]), end="")
        print(dec.flush())
    """

    def __init__(self, tokenizer: "Tokenizer") -> None:
        self._tokenizer = tokenizer
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def decode(self, ids: Iterable[int]) -> str:
        return self._utf8.decode(self._tokenizer.decode_bytes(ids))

    def flush(self) -> str:
        text = self._utf8.decode(b"", final=True)
        self._utf8.reset()
        return text


class Tokenizer:
    """GPT-2's byte-level BPE tokenizer (GPT-2, DistilGPT2, GPT-Neo, Cerebras-GPT and other GPT-2 vocabularies).

    Special tokens such as ``<|endoftext|>`` are **not** recognised in the text by default: ``encode`` treats
    them as plain text (``"<|endoftext|>"`` becomes several ordinary tokens), so user text can never inject
    a control token. Pass ``allowed_special={"<|endoftext|>"}`` or ``allowed_special="all"`` (as in tiktoken)
    to encode them as their special ids. ``decode`` always writes special tokens out as their text.
    """

    def __init__(self, vocab: Dict[str, int], merges: Sequence[Tuple[str, str]], *,
                 merge_where: Callable[[int], str] = lambda k: f"merges[{k}]",
                 special_tokens: Optional[Dict[str, int]] = None, source: str = "") -> None:
        """vocab: byte-level token string -> id, ids 0..V-1 (added tokens included, spelled as plain text);
        merges: [(left, right)] in rank order, merge_where(k) naming the file and line of merge k for errors;
        special_tokens: text -> id of the tokens that ``allowed_special`` may enable."""
        self.source = source
        self.special_tokens: Dict[str, int] = dict(special_tokens or {})
        token_bytes: List[Optional[bytes]] = [None] * len(vocab)
        for token, i in vocab.items():
            if i >= len(vocab) or token_bytes[i] is not None:
                raise TokenizerError(f"{source}: token id {i} of {token!r} is repeated or outside [0, {len(vocab)}); "
                                     "the vocabulary's ids must be 0..V-1, each once")
            special = token in self.special_tokens and self.special_tokens[token] == i
            token_bytes[i] = token.encode("utf-8") if special else _token_bytes(token, source)
        try:
            pairs = [(vocab[left], vocab[right]) for left, right in merges]
            merged = [vocab[left + right] for left, right in merges]
        except KeyError:
            for k, (left, right) in enumerate(merges):
                for part in (left, right, left + right):
                    if part not in vocab:
                        raise TokenizerError(f"{merge_where(k)}: merge '{left} {right}': token {part!r} is not in "
                                             "the vocabulary") from None
            raise
        # The loop set len(vocab) distinct ids, each in [0, len(vocab)), so every entry is set: none is None.
        filled = cast(List[bytes], token_bytes)
        single_bytes = {t for t in filled if len(t) == 1}
        missing = [b for b in range(256) if bytes([b]) not in single_bytes]
        if missing:
            raise TokenizerError(f"{source}: the vocabulary has no token for byte {missing[0]}; "
                                 "a byte-level BPE vocabulary needs all 256")
        # The stub says Sequence[str] for the C++ std::vector<std::string>; pybind11 takes bytes for it as is.
        self._core = _core.Tokenizer(cast(Sequence[str], filled), pairs, merged)

    # ----------------------------------------------------------------------------------------- loading
    @classmethod
    def from_pretrained(cls, path: Union[str, os.PathLike]) -> "Tokenizer":
        """Load from a directory holding ``vocab.json`` + ``merges.txt``, ``encoder.json`` + ``vocab.bpe``, or
        ``tokenizer.json`` (merges as ``"a b"`` strings or ``["a", "b"]`` pairs), or from one tokenizer.json."""
        path = os.fspath(path)
        if os.path.isfile(path):
            return cls._from_tokenizer_json(path)
        if not os.path.isdir(path):
            raise FileNotFoundError(f"{path}: no such tokenizer file or directory")
        for vocab_name, merges_name in VOCAB_MERGES_FILES:
            vocab_path, merges_path = os.path.join(path, vocab_name), os.path.join(path, merges_name)
            if os.path.isfile(vocab_path) and os.path.isfile(merges_path):
                return cls._from_vocab_merges(vocab_path, merges_path)
        if os.path.isfile(os.path.join(path, TOKENIZER_JSON)):
            return cls._from_tokenizer_json(os.path.join(path, TOKENIZER_JSON))
        names = ", ".join(f"{v} + {m}" for v, m in VOCAB_MERGES_FILES)
        raise FileNotFoundError(f"{path}: no tokenizer files ({names}, or {TOKENIZER_JSON})")

    @classmethod
    def _from_vocab_merges(cls, vocab_path: str, merges_path: str) -> "Tokenizer":
        data, text = _read_json(vocab_path)
        vocab = _parse_vocab(data, vocab_path, text)
        special = {ENDOFTEXT: vocab[ENDOFTEXT]} if ENDOFTEXT in vocab else {}
        merges, where = _read_merges_txt(merges_path)
        return cls(vocab, merges, merge_where=where, special_tokens=special, source=vocab_path)

    @classmethod
    def _from_tokenizer_json(cls, path: str) -> "Tokenizer":
        data, text = _read_json(path)
        root: Dict[str, Any] = data if isinstance(data, dict) else {}
        model = root.get("model")
        if not isinstance(model, dict) or model.get("type", "BPE") != "BPE":
            raise TokenizerError(f"{path}: expected a BPE tokenizer ('model': {{'type': 'BPE', ...}})")
        vocab = dict(_parse_vocab(model.get("vocab"), f"{path}: model.vocab", text))
        raw_merges = model.get("merges")
        if not isinstance(raw_merges, list):
            raise TokenizerError(f"{path}: model.merges must be a list")
        merges = [_split_merge(merge, f"{path}: model.merges[{k}]") for k, merge in enumerate(raw_merges)]
        special = {}
        for k, added in enumerate(root.get("added_tokens") or []):
            if not isinstance(added, dict) or not isinstance(added.get("content"), str) \
                    or not isinstance(added.get("id"), int):
                raise TokenizerError(f"{path}: added_tokens[{k}] needs 'content' (str) and 'id' (int)")
            vocab[added["content"]] = added["id"]
            special[added["content"]] = added["id"]
        return cls(vocab, merges, merge_where=lambda k: f"{path}: model.merges[{k}]", special_tokens=special,
                   source=path)

    # ----------------------------------------------------------------------------------------- encoding
    @property
    def vocab_size(self) -> int:
        return self._core.vocab_size

    @property
    def eot_token(self) -> Optional[int]:
        """The id of ``<|endoftext|>``, or None if this vocabulary has none."""
        return self.special_tokens.get(ENDOFTEXT)

    def encode(self, text: str, *, allowed_special: AllowedSpecial = frozenset()) -> List[int]:
        """Token ids of text. Special tokens are plain text unless named in ``allowed_special`` (or "all")."""
        if not isinstance(text, str):
            raise TypeError(f"text must be str, got {type(text).__name__}")
        return self.encode_batch([text], allowed_special=allowed_special, n_threads=1)[0]

    def encode_batch(self, texts: Sequence[str], *, allowed_special: AllowedSpecial = frozenset(),
                     n_threads: Optional[int] = None) -> List[List[int]]:
        """``encode`` of each text, on ``n_threads`` threads (default: the physical cores) without the GIL."""
        if isinstance(texts, str):
            raise TypeError("encode_batch takes a list of str; for one text use encode")
        for k, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"texts[{k}] must be str, got {type(text).__name__}")
        if n_threads is None:
            n_threads = _core.physical_cores()
        if isinstance(n_threads, bool) or not isinstance(n_threads, int) or n_threads < 1:
            raise ValueError(f"n_threads must be a positive integer, got {n_threads!r}")
        special = self._special_pattern(allowed_special)
        if special is None:
            return self._encode_ordinary(list(texts), n_threads)
        # Split each text around its special tokens, encode the pieces between them together, reassemble.
        splits = [special.split(text) for text in texts]  # [plain, special, plain, ..., plain]
        pieces = self._encode_ordinary([p for parts in splits for p in parts[::2]], n_threads)
        out, k = [], 0
        for parts in splits:
            ids = []
            for j, part in enumerate(parts):
                if j % 2:
                    ids.append(self.special_tokens[part])
                else:
                    ids += pieces[k]
                    k += 1
            out.append(ids)
        return out

    def _encode_ordinary(self, texts: List[str], n_threads: int) -> List[List[int]]:
        try:
            return [self._core.encode(texts[0])] if len(texts) == 1 else self._core.encode_batch(texts, n_threads)
        except UnicodeEncodeError:
            # Lone surrogates have no UTF-8; like tiktoken, replace them with U+FFFD.
            texts = [t.encode("utf-16", "surrogatepass").decode("utf-16", "replace") for t in texts]
            return self._encode_ordinary(texts, n_threads)

    def _special_pattern(self, allowed_special: AllowedSpecial) -> Optional["re.Pattern[str]"]:
        if allowed_special == "all":
            allowed = set(self.special_tokens)
        elif isinstance(allowed_special, (set, frozenset)):
            unknown = sorted(allowed_special - set(self.special_tokens))
            if unknown:
                raise ValueError(f"allowed_special: {unknown[0]!r} is not a special token of this tokenizer "
                                 f"(it has {sorted(self.special_tokens)})")
            allowed = set(allowed_special)
        else:
            raise TypeError(f"allowed_special must be a set of special tokens or 'all', got {allowed_special!r}")
        if not allowed:
            return None
        # Longest first, so a special token that extends another wins; the group keeps it in split()'s output.
        return re.compile("(" + "|".join(re.escape(s) for s in sorted(allowed, key=len, reverse=True)) + ")")

    # ----------------------------------------------------------------------------------------- decoding
    def decode_bytes(self, ids: Iterable[int]) -> bytes:
        """The bytes of ids (a token may end inside a UTF-8 character). ValueError names an id out of range."""
        return self._core.decode(list(ids))

    def decode(self, ids: Iterable[int]) -> str:
        """The text of ids; bytes that are not valid UTF-8 become U+FFFD."""
        return self.decode_bytes(ids).decode("utf-8", errors="replace")

    def decode_batch(self, batch: Iterable[Iterable[int]]) -> List[str]:
        return [self.decode(ids) for ids in batch]

    def decoder(self) -> StreamDecoder:
        """A fresh incremental decoder for streaming output (see :class:`StreamDecoder`)."""
        return StreamDecoder(self)

    def __repr__(self) -> str:
        return f"Tokenizer(vocab_size={self.vocab_size}, special_tokens={sorted(self.special_tokens)}, " \
               f"source={self.source!r})"


def load_tokenizer(model_dir: str) -> Optional[Tokenizer]:
    """The tokenizer a model directory ships, or None if it has no tokenizer files."""
    names = [n for pair in VOCAB_MERGES_FILES for n in pair] + [TOKENIZER_JSON]
    if not any(os.path.isfile(os.path.join(model_dir, n)) for n in names):
        return None
    return Tokenizer.from_pretrained(model_dir)
