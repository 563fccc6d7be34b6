"""One library behind one uniform interface, run as a worker process of bench_inference.py.

    python bench/inference_engines.py ENGINE MODEL_PATH THREADS

Each (library, precision) runs in its own process so that its peak RSS is its own and thread pools do not
meet. The worker loads the model, then answers one JSON command per line on stdin with one JSON line on stdout.
Every timing is taken here, around the library call alone: token ids go in, token ids come out, no tokenizer.

Commands: {"op": "load"} (reload, returns seconds), {"op": "prefill", "ids": [...]} (one prompt to the logits
of its last token), {"op": "generate", "prompts": [[...], ...], "max_new": n} (greedy, end-of-sequence off,
exactly n new tokens per prompt), {"op": "step_time", "depth": d, "batch": b, "steps": k} (gptcore only: ms
per decode step), {"op": "info"}, {"op": "quit"}. A reply has "error" when the command failed.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import time
import traceback
from typing import Any, Callable, Dict, List, Optional

import numpy as np

Prompts = List[List[int]]


class NotSupported(Exception):
    """The library's Python API has no way to run this workload; the report shows "n/a" and why."""


def peak_rss_mib() -> float:
    """VmHWM: the process's resident-set high-water mark, file-backed (memory-mapped weights) pages included."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("/proc/self/status has no VmHWM line")


class Gptcore:
    def __init__(self, path: str, threads: int, dtype: str) -> None:
        import gptcore
        self.path, self.threads, self.dtype = path, threads, dtype
        self.gptcore = gptcore
        self.model: Any = None

    def load(self) -> None:
        # dtype is passed only for reduced precision, so this runs on a gptcore without the dtype option too.
        kwargs = {} if self.dtype == "fp32" else {"dtype": self.dtype}
        self.model = self.gptcore.GPT.from_pretrained(self.path, n_threads=self.threads, **kwargs)

    def info(self) -> Dict[str, Any]:
        import gptcore
        c = self.model.config
        return {"version": gptcore.__version__, "blas": gptcore._core.blas_config(),
                "weights_nbytes": self.model.weights_nbytes(), "num_parameters": self.model.num_parameters(),
                "n_layer": c.n_layer, "n_embd": c.n_embd, "vocab_size": c.vocab_size, "n_positions": c.n_positions,
                # bytes of one cached key or value element (older gptcore: always float32)
                "kv_element_bytes": 2 if getattr(self.model, "kv_dtype", "float32") == "float16" else 4}

    def prefill(self, ids: List[int]) -> None:
        self.model.forward(self.model.new_cache(1, len(ids)), ids, [(0, len(ids))])

    def generate(self, prompts: Prompts, max_new: int) -> List[int]:
        out = self.model.generate(prompts, max_new_tokens=max_new, eos_token_id=[])
        return [len(t) for t in out]

    def step_time(self, depth: int, batch: int, steps: int) -> float:
        """Milliseconds per decode step of `batch` sequences that already hold `depth` tokens each (the forward
        pass alone, no sampling), so the curve shows the model, not the generate loop."""
        depth = max(depth, 1)
        cache = self.model.new_cache(batch, depth + steps)
        rng = np.random.default_rng(depth * 100 + batch)
        prompt = rng.integers(0, self.model.vocab_size, depth * batch).astype(np.int32)
        self.model.forward(cache, prompt, [(s, depth) for s in range(batch)])
        segments = [(s, 1) for s in range(batch)]
        t0 = time.perf_counter()
        for i in range(steps):
            self.model.forward(cache, np.full(batch, i, np.int32), segments)
        return (time.perf_counter() - t0) / steps * 1e3


class Transformers:
    def __init__(self, path: str, threads: int, dtype: str) -> None:
        import torch
        torch.set_num_threads(threads)
        self.torch, self.path = torch, path
        self.model: Any = None

    def load(self) -> None:
        import transformers
        model = transformers.GPT2LMHeadModel.from_pretrained(self.path, dtype=self.torch.float32).eval()
        model.generation_config.eos_token_id = None  # exactly max_new_tokens, as in every library here
        model.generation_config.pad_token_id = 0
        self.model = model

    def info(self) -> Dict[str, Any]:
        import transformers
        return {"version": f"transformers {transformers.__version__}, torch {self.torch.__version__}"}

    def prefill(self, ids: List[int]) -> None:
        with self.torch.no_grad():  # logits of the last position only, as generation needs
            h = self.model.transformer(self.torch.as_tensor(ids)[None]).last_hidden_state
            self.model.lm_head(h[:, -1])

    def generate(self, prompts: Prompts, max_new: int) -> List[int]:
        # A ragged batch is left-padded with an attention mask: transformers' way of batching prompts.
        t = self.torch
        width = max(len(p) for p in prompts)
        ids = t.zeros((len(prompts), width), dtype=t.long)
        mask = t.zeros((len(prompts), width), dtype=t.long)
        for i, p in enumerate(prompts):
            ids[i, width - len(p):] = t.as_tensor(p)
            mask[i, width - len(p):] = 1
        with t.no_grad():
            out = self.model.generate(ids, attention_mask=mask, max_new_tokens=max_new, do_sample=False)
        return [out.shape[1] - width] * len(prompts)


class CTranslate2:
    def __init__(self, path: str, threads: int, dtype: str) -> None:
        import ctranslate2
        self.ct2, self.path, self.threads = ctranslate2, path, threads
        self.compute_type = {"float32": "float32", "int8": "int8"}[dtype]
        with open(os.path.join(path, "vocabulary.json")) as f:
            self.vocab: List[str] = json.load(f)  # CTranslate2 takes token strings; a list lookup, not tokenizing
        self.model: Any = None

    def load(self) -> None:
        self.model = self.ct2.Generator(self.path, device="cpu", compute_type=self.compute_type,
                                        intra_threads=self.threads, inter_threads=1)

    def info(self) -> Dict[str, Any]:
        return {"version": f"ctranslate2 {self.ct2.__version__}"}

    def prefill(self, ids: List[int]) -> None:
        # The generator API gives no prompt-only call; one new token costs one decode step beside 512 prompt tokens.
        self.generate([ids], 1)

    def generate(self, prompts: Prompts, max_new: int) -> List[int]:
        tokens = [[self.vocab[i] for i in p] for p in prompts]
        res = self.model.generate_batch(tokens, max_length=max_new, min_length=max_new, sampling_topk=1,
                                        end_token=[], include_prompt_in_result=False)
        return [len(r.sequences_ids[0]) for r in res]


class LlamaCpp:
    def __init__(self, path: str, threads: int, dtype: str) -> None:
        import llama_cpp
        self.llama_cpp, self.path, self.threads = llama_cpp, path, threads
        self.model: Any = None

    def load(self) -> None:
        self.model = None
        gc.collect()
        self.model = self.llama_cpp.Llama(self.path, n_ctx=1024, n_batch=512, n_ubatch=512, n_threads=self.threads,
                                          n_threads_batch=self.threads, logits_all=False, verbose=False)

    def info(self) -> Dict[str, Any]:
        return {"version": f"llama-cpp-python {self.llama_cpp.__version__}"}

    def prefill(self, ids: List[int]) -> None:
        self.model.reset()  # no reuse of a cached prefix from the last call
        self.model.eval(ids)

    def generate(self, prompts: Prompts, max_new: int) -> List[int]:
        if len(prompts) > 1:
            raise NotSupported("llama-cpp-python's Llama API decodes one sequence at a time")
        self.model.reset()
        n = 0
        # Llama.generate yields sampled tokens forever (the end-of-sequence check is its callers'); greedy: top_k=1.
        # generate() rewrites the list it is given, hence the copy.
        for _ in self.model.generate(list(prompts[0]), top_k=1, temp=0.0, reset=True):
            n += 1
            if n == max_new:
                break
        return [n]


ENGINES: Dict[str, Callable[[str, int], Any]] = {
    "gptcore-fp32": lambda p, t: Gptcore(p, t, "fp32"),
    "gptcore-bf16": lambda p, t: Gptcore(p, t, "bf16"),
    "gptcore-int8": lambda p, t: Gptcore(p, t, "int8"),
    "transformers-fp32": lambda p, t: Transformers(p, t, "fp32"),
    "ctranslate2-float32": lambda p, t: CTranslate2(p, t, "float32"),
    "ctranslate2-int8": lambda p, t: CTranslate2(p, t, "int8"),
    "llama.cpp-F32": lambda p, t: LlamaCpp(p, t, "F32"),
    "llama.cpp-Q8_0": lambda p, t: LlamaCpp(p, t, "Q8_0"),
}


def timed(fn: Callable[[], Any]) -> tuple:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def handle(engine: Any, cmd: Dict[str, Any]) -> Dict[str, Any]:
    op = cmd["op"]
    if op == "load":
        engine.model = None
        gc.collect()  # the old model is gone before the new one loads: peak RSS is one model's
        return {"seconds": timed(engine.load)[0]}
    if op == "info":
        return {**engine.info(), "peak_rss_mib": peak_rss_mib()}
    if op == "prefill":
        return {"seconds": timed(lambda: engine.prefill(cmd["ids"]))[0]}
    if op == "generate":
        seconds, counts = timed(lambda: engine.generate(cmd["prompts"], cmd["max_new"]))
        if any(c != cmd["max_new"] for c in counts):
            return {"error": f"asked for {cmd['max_new']} new tokens per prompt, got {sorted(set(counts))}"}
        return {"seconds": seconds}
    if op == "step_time":
        if not hasattr(engine, "step_time"):
            raise NotSupported("step_time is measured for gptcore only")
        return {"ms": engine.step_time(cmd["depth"], cmd["batch"], cmd["steps"])}
    raise ValueError(f"unknown op {op!r}")


def main() -> None:
    name, path, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
    out = sys.stdout
    sys.stdout = sys.stderr  # libraries' prints must not corrupt the reply channel
    engine: Optional[Any] = None
    try:
        engine = ENGINES[name](path, threads)
        reply: Dict[str, Any] = {"seconds": timed(engine.load)[0]}
    except Exception as e:  # e.g. the library is not installed, or its loader rejects an option
        reply = {"error": f"{type(e).__name__}: {e}"}
    print(json.dumps(reply), file=out, flush=True)
    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd["op"] == "quit" or engine is None:
            break
        try:
            reply = handle(engine, cmd)
        except NotSupported as e:
            reply = {"error": f"n/a: {e}", "unsupported": True}
        except Exception as e:
            traceback.print_exc()
            reply = {"error": f"{type(e).__name__}: {e}"}
        print(json.dumps(reply), file=out, flush=True)


if __name__ == "__main__":
    main()
