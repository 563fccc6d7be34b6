"""Encode throughput (MB/s of UTF-8 input) of gptcore, tiktoken and Hugging Face tokenizers, side by side.

    PYTHONPATH=python python3 bench/bench_tokenizer.py [--mb 6] [--reps 5]

Text: tests/tokenizer_corpus.py (real text from this machine; "mixed" adds the generated emoji, whitespace
runs, random code points and random bytes). Each library encodes every document once per repetition: single
thread (one encode call per document) and batch (one call for all documents, all physical cores). One warm-up
pass first; then the mean and standard deviation over the repetitions. "gptcore, cold cache" is a freshly
loaded tokenizer per repetition: its piece cache starts empty. All three run from the GPT-2 files in
../shared/data/gpt2-tokenizer, offline.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests"))
sys.path.insert(0, os.path.join(REPO, "python"))

import gptcore  # noqa: E402
from tokenizer_corpus import build_corpus, corpus_bytes  # noqa: E402

GPT2_DIR = os.path.join(REPO, "..", "shared", "data", "gpt2-tokenizer")
REAL_TEXT = ("licences", "c_headers", "python_source", "logs", "changelogs", "translations")


def reference_tokenizers(tmp: str):
    """tiktoken's gpt2 and Hugging Face's GPT-2 tokenizer, from the shared files through temp copies."""
    for name in ("vocab.bpe", "encoder.json"):
        url = f"https://openaipublic.blob.core.windows.net/gpt-2/encodings/main/{name}"
        shutil.copy(os.path.join(GPT2_DIR, name), os.path.join(tmp, hashlib.sha1(url.encode()).hexdigest()))
    os.environ["TIKTOKEN_CACHE_DIR"] = tmp
    import tiktoken
    from tokenizers import Tokenizer as HFTokenizer
    from tokenizers import decoders, models, pre_tokenizers
    hf = HFTokenizer(models.BPE.from_file(os.path.join(GPT2_DIR, "encoder.json"), os.path.join(GPT2_DIR, "vocab.bpe")))
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    hf.decoder = decoders.ByteLevel()
    return tiktoken.get_encoding("gpt2"), hf


def measure(fn, n_bytes: int, reps: int, setup=None):
    """(mean, stdev) MB/s of fn() over reps timed runs after one warm-up; setup() runs untimed before each."""
    rates = []
    for rep in range(reps + 1):
        if setup:
            setup()
        t0 = time.perf_counter()
        fn()
        dt = time.perf_counter() - t0
        if rep:
            rates.append(n_bytes / dt / 1e6)
    return statistics.mean(rates), statistics.stdev(rates) if len(rates) > 1 else 0.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=float, default=6.0, help="corpus size in MB (default 6)")
    ap.add_argument("--reps", type=int, default=5, help="timed repetitions (default 5)")
    args = ap.parse_args()

    corpus = build_corpus(args.mb)
    texts = {"real text": [d for k in REAL_TEXT for d in corpus[k]],
             "mixed": [d for docs in corpus.values() for d in docs]}
    cores = gptcore._core.physical_cores()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, {cores} physical cores; "
          f"python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as tmp:
        tik, hf = reference_tokenizers(tmp)
        import tiktoken
        import tokenizers
        print(f"gptcore {gptcore.__version__}, tiktoken {tiktoken.__version__}, tokenizers {tokenizers.__version__}")
        cold = {}

        def fresh():
            cold["tok"] = gptcore.Tokenizer.from_pretrained(GPT2_DIR)

        tok = gptcore.Tokenizer.from_pretrained(GPT2_DIR)
        for name, docs in texts.items():
            n = corpus_bytes({"": docs})
            print(f"\n{name}: {len(docs)} documents, {n / 1e6:.2f} MB; MB/s, mean ± stdev of {args.reps}")
            single = {
                "gptcore": (lambda: [tok.encode(d) for d in docs], None),
                "gptcore, cold cache": (lambda: [cold["tok"].encode(d) for d in docs], fresh),
                "tiktoken": (lambda: [tik.encode_ordinary(d) for d in docs], None),
                "HF tokenizers": (lambda: [hf.encode(d, add_special_tokens=False) for d in docs], None),
            }
            batch = {
                "gptcore": (lambda: tok.encode_batch(docs, n_threads=cores), None),
                "gptcore, cold cache": (lambda: cold["tok"].encode_batch(docs, n_threads=cores), fresh),
                "tiktoken": (lambda: tik.encode_ordinary_batch(docs, num_threads=cores), None),
                "HF tokenizers": (lambda: hf.encode_batch(docs, add_special_tokens=False), None),
            }
            for mode, runs in (("single thread", single), (f"batch, {cores} threads", batch)):
                results = {lib: measure(fn, n, args.reps, setup) for lib, (fn, setup) in runs.items()}
                base = results["tiktoken"][0]
                for lib, (mean, sd) in results.items():
                    print(f"  {mode:18s} {lib:20s} {mean:8.2f} ± {sd:5.2f}   {mean / base:5.2f}x tiktoken")


if __name__ == "__main__":
    main()
