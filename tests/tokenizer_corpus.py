"""A tokenizer test corpus built from text on this machine plus generated text (tests and bench share it).

Real text: licences, C headers, Python sources, logs, Debian changelogs, and gettext translations (Cyrillic,
Greek, Arabic, Hebrew, Indic, CJK and more). Generated text (seeded): emoji with ZWJ sequences and skin tones,
combining marks, long runs of spaces, newlines and digits, contractions in every case, random code points
and random bytes decoded with U+FFFD replacement. Lone surrogates are left out (they have no UTF-8).
"""

from __future__ import annotations

import glob
import gettext
import gzip
import os
import random
import sys
from typing import Dict, Iterator, List, Tuple

DOC_BYTES = 64 * 1024  # generated text is cut into documents of about this size


def _read(path: str) -> str:
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            return f.read().decode("utf-8", errors="replace")
    except OSError:
        return ""


def _files(patterns: List[str]) -> Iterator[str]:
    for pattern in patterns:
        for path in sorted(glob.glob(pattern, recursive=True)):
            if os.path.isfile(path):
                yield path


def _translations(path: str) -> str:
    try:
        with open(path, "rb") as f:
            catalog = gettext.GNUTranslations(f)._catalog  # msgid -> msgstr
    except Exception:
        return ""
    return "\n".join(v for v in catalog.values() if isinstance(v, str))


def _take(texts: Iterator[str], budget: int) -> List[str]:
    docs, size = [], 0
    for text in texts:
        if size >= budget:
            break
        if text:
            text = text[:budget - size]
            docs.append(text)
            size += len(text.encode("utf-8"))
    return docs


def _split(text: str) -> List[str]:
    return [text[i:i + DOC_BYTES // 4] for i in range(0, len(text), DOC_BYTES // 4)]


def _generated(rng: random.Random, kind: str, n_bytes: int) -> str:
    words = ["the", "Hello", "WORLD", "naïve", "Ünïcödé", "x", "I", "it", "They", "don", "we", "you"]
    contractions = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d"]
    out, size = [], 0
    while size < n_bytes:
        if kind == "emoji":
            base = [chr(rng.randint(0x1F300, 0x1FAFF)) for _ in range(rng.randint(1, 4))]
            if rng.random() < 0.3:
                base.insert(1, chr(rng.randint(0x1F3FB, 0x1F3FF)))  # skin tone
            if rng.random() < 0.3:
                base = ["\u200d".join(base)]  # ZWJ sequence
            piece = "".join(base) + rng.choice([" ", "", "\n", "!", " ok "])
        elif kind == "combining":
            piece = rng.choice(words) + "".join(chr(rng.randint(0x300, 0x36F)) for _ in range(rng.randint(1, 5))) \
                + rng.choice([" ", "", "\u20dd", "\u0e31", "a\u0301"])
        elif kind == "runs":
            piece = rng.choice([" ", "\n", "\t", "\r\n", "\u3000", "\u00a0", "0123456789", "7", "x", "ab", "."]) \
                * rng.choice([1, 2, 3, 7, 50, 300, 2000]) + rng.choice(["", " ", "word", "\n", "42"])
        elif kind == "contractions":
            c = rng.choice(contractions)
            c = "".join(ch.upper() if rng.random() < 0.5 else ch for ch in c)
            piece = rng.choice(words) + c + rng.choice([" ", "", "s", "\n", "'", " '", "''"])
        elif kind == "random_unicode":
            plane_max = rng.choice([0x7F, 0x7FF, 0xFFFF, 0x10FFFF])
            cp = rng.randint(0, plane_max)
            piece = chr(cp if not 0xD800 <= cp <= 0xDFFF else 0xFFFD)
        elif kind == "random_bytes":
            piece = bytes(rng.getrandbits(8) for _ in range(64)).decode("utf-8", errors="replace")
        else:
            raise ValueError(kind)
        out.append(piece)
        size += len(piece.encode("utf-8"))
    return "".join(out)


def build_corpus(total_mb: float = 13.0, seed: int = 0) -> Dict[str, List[str]]:
    """{kind: [document]} of about total_mb MB of UTF-8 in all."""
    mb = int(total_mb * 1e6 / 12)  # one share
    rng = random.Random(seed)
    lib = os.path.dirname(os.__file__)
    corpus = {
        "licences": _take(map(_read, _files(["/usr/share/common-licenses/*"])), mb),
        "c_headers": _take(map(_read, _files(["/usr/include/**/*.h"])), 2 * mb),
        "python_source": _take(map(_read, _files([os.path.join(lib, "*.py"), os.path.join(lib, "*/*.py")])), mb),
        "logs": _take(map(_read, _files(["/var/log/*.log", "/var/log/apt/*.log", "/var/log/*/*.log"])), mb // 2),
        "changelogs": _take(map(_read, _files(["/usr/share/doc/*/changelog*.gz"])), mb),
        "translations": _take(map(_translations, _files(["/usr/share/locale/*/LC_MESSAGES/*.mo"])), 2 * mb),
    }
    for kind, share in [("emoji", 0.5), ("combining", 0.5), ("runs", 0.5), ("contractions", 0.5),
                        ("random_unicode", 1.0), ("random_bytes", 1.0)]:
        corpus[kind] = _split(_generated(rng, kind, int(share * mb)))
    return corpus


def corpus_bytes(corpus: Dict[str, List[str]]) -> int:
    return sum(len(d.encode("utf-8")) for docs in corpus.values() for d in docs)


if __name__ == "__main__":
    c = build_corpus(float(sys.argv[1]) if len(sys.argv) > 1 else 13.0)
    for kind, docs in c.items():
        print(f"{kind:16s} {len(docs):6d} docs {sum(len(d.encode()) for d in docs) / 1e6:7.2f} MB")
    print(f"total {corpus_bytes(c) / 1e6:.2f} MB")
