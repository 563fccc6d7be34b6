"""Peak memory of one generation against what it must hold: the weights plus the KV cache.

    python bench/bench_memory.py [MODEL_DIR]     # default: the 124M checkpoint bench_inference.py caches

Each case runs in a fresh process (peak RSS, VmHWM, only grows): load, then a 512-token prompt with 128 new
tokens. The KV cache is counted at the size generate allocates (640 positions, in the model's default KV dtype:
float32 for fp32, float16 for bf16 / int8). bf16 and
int8 run twice over one empty converted-weights directory: the first load converts the checkpoint and writes
the converted file, every later load memory-maps that file (python/gptcore/converted.py).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DEFAULT_MODEL = os.path.join(ROOT, "build", "bench", "gpt2-124M-random")

WORKER = """
import sys, numpy as np, gptcore
sys.path.insert(0, sys.argv[3])
from inference_engines import peak_rss_mib
before = peak_rss_mib()
model = gptcore.GPT.from_pretrained(sys.argv[1], dtype=sys.argv[2], converted_cache=sys.argv[4])
ids = np.random.default_rng(0).integers(0, model.vocab_size, 512).tolist()
model.generate(ids, max_new_tokens=128, eos_token_id=[])
kv = model.new_cache(1, min(model.n_positions, 512 + 128)).nbytes / 2**20  # what generate allocates
print(before, peak_rss_mib(), model.weights_nbytes() / 2**20, kv, model.kv_dtype)
"""


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("model", nargs="?", default=DEFAULT_MODEL)
    args = p.parse_args()
    if not os.path.isdir(args.model):
        sys.exit(f"{args.model}: not a directory (run bench/bench_inference.py once to create it, or pass one)")
    print("| dtype | load | interpreter + imports (MiB) | peak RSS (MiB) | weights (MiB) | KV cache (MiB) | "
          "peak / (weights + KV) | (peak - interpreter) / (weights + KV) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as cache:
        for dtype, load in (("fp32", "memory map"), ("bf16", "first (converts)"), ("bf16", "later"),
                            ("int8", "first (converts)"), ("int8", "later")):
            out = subprocess.run([sys.executable, "-c", WORKER, args.model, dtype, HERE, cache], check=True,
                                 capture_output=True, text=True).stdout.split()
            base, peak, weights, kv = map(float, out[:4])
            print(f"| {dtype} | {load} | {base:.0f} | {peak:.0f} | {weights:.0f} | {kv:.0f} ({out[4]}) | "
                  f"{peak / (weights + kv):.2f} | {(peak - base) / (weights + kv):.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
