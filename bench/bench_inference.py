"""Side-by-side inference benchmark: gptcore and its peers on the same machine, the same random-weight GPT-2
weights and the same token ids, interleaved in one run, with the machine's own limits measured in the same run.

    python bench/bench_inference.py --quick          # development: 124M shape only, short lengths, 2 runs
    python bench/bench_inference.py --write          # the full run (25-35 min on 2 quiet cores); updates
                                                     # the inference section of docs/benchmarks.md

Peers (each optional; a missing one is reported as "not installed" and the run goes on):
transformers (torch CPU, fp32), CTranslate2 (float32, int8), llama-cpp-python (F32, Q8_0 GGUF).
Install them with `pip install ".[bench]"`. gptcore bf16/int8 rows appear when GPT.from_pretrained has `dtype`.

Each (library, precision) is a worker process (bench/inference_engines.py) that loads its model once and
answers commands over a pipe; this process sends every workload to every worker in turn, round after round,
so that all of them see the same machine state. Artifacts (checkpoints, CTranslate2 and GGUF conversions,
the llama.cpp converter script) are cached under build/bench/.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

import gptcore
from gptcore import _core

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
DOCS = os.path.join(REPO, "docs", "benchmarks.md")
WORKER = os.path.join(REPO, "bench", "inference_engines.py")
TOKENIZER_DIR = os.path.join(REPO, "..", "shared", "data", "gpt2-tokenizer")
BEGIN, END = "<!-- inference:begin -->", "<!-- inference:end -->"
BENCH_EXTRA = 'pip install ".[bench]"'

SHAPES: Dict[str, Dict[str, Any]] = {
    "124M": dict(n_embd=768, n_layer=12, n_head=12),
    "medium": dict(n_embd=1024, n_layer=24, n_head=16),
    "tiny": dict(n_embd=64, n_layer=2, n_head=2),  # --smoke: checks the harness end to end, measures nothing
}
# (worker name, row label, precision class, pip package that provides it)
ENGINES = [
    ("gptcore-fp32", "gptcore fp32", "fp32", None),
    ("gptcore-bf16", "gptcore bf16", "reduced", None),
    ("gptcore-int8", "gptcore int8", "reduced", None),
    ("transformers-fp32", "transformers fp32", "fp32", "transformers"),
    ("ctranslate2-float32", "CTranslate2 float32", "fp32", "ctranslate2"),
    ("ctranslate2-int8", "CTranslate2 int8", "reduced", "ctranslate2"),
    ("llama.cpp-F32", "llama.cpp F32", "fp32", "llama_cpp"),
    ("llama.cpp-Q8_0", "llama.cpp Q8_0", "reduced", "llama_cpp"),
]
LABEL = {name: label for name, label, _, _ in ENGINES}
CLASS = {name: cls for name, _, cls, _ in ENGINES}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------- artifacts

class Unavailable(Exception):
    """An engine cannot run here; the message says what to do about it."""


def checkpoint(shape: str, cache: str) -> str:
    """A random-weight GPT-2 of the given shape saved by transformers, with the GPT-2 tokenizer files (the
    GGUF converter reads the vocabulary from them) and n_ctx in config.json (the converter expects it)."""
    path = os.path.join(cache, f"gpt2-{shape}-random")
    if os.path.exists(os.path.join(path, "vocab.json")):
        return path
    import torch
    import transformers
    log(f"writing the random-weight {shape} checkpoint to {path}")
    torch.manual_seed(0)
    cfg = transformers.GPT2Config(vocab_size=50257, n_positions=1024, **SHAPES[shape])
    transformers.GPT2LMHeadModel(cfg).save_pretrained(path)
    with open(os.path.join(path, "config.json")) as f:
        config = json.load(f)
    config["n_ctx"] = config["n_positions"]
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    for src, dst in (("encoder.json", "vocab.json"), ("vocab.bpe", "merges.txt")):
        if not os.path.exists(os.path.join(TOKENIZER_DIR, src)):
            raise FileNotFoundError(f"{TOKENIZER_DIR}/{src}: the GPT-2 tokenizer files are expected in "
                                    "../shared/data/gpt2-tokenizer beside the repository")
        shutil.copy(os.path.join(TOKENIZER_DIR, src), os.path.join(path, dst))
    return path


def ctranslate2_model(ckpt: str, quantization: str) -> str:
    out = f"{ckpt}-ct2-{quantization}"
    if not os.path.exists(os.path.join(out, "model.bin")):
        try:
            from ctranslate2.converters import TransformersConverter
        except ImportError:
            raise Unavailable(f"not installed: pip install ctranslate2 (or {BENCH_EXTRA})")
        log(f"converting to CTranslate2 {quantization}")
        TransformersConverter(ckpt).convert(out, quantization=quantization, force=True)
    return out


def gguf_converter(cache: str) -> str:
    """convert_hf_to_gguf.py of the installed llama-cpp-python's llama.cpp, from its sdist (fetched with pip
    into build/bench/ when absent). Its own gguf-py beside it is used, as the script does by default."""
    import llama_cpp
    version = llama_cpp.__version__
    pattern = os.path.join(cache, f"llama_cpp_python-{version}", "vendor", "llama.cpp", "convert_hf_to_gguf.py")
    if os.path.exists(pattern):
        return pattern
    sdist = os.path.join(cache, "sdist", f"llama_cpp_python-{version}.tar.gz")
    how = (f"pip download --no-deps --no-build-isolation llama-cpp-python=={version} -d {os.path.dirname(sdist)} "
           f"&& tar xzf {sdist} -C {cache}")
    if not os.path.exists(sdist):
        log(f"fetching the llama-cpp-python {version} sdist for its GGUF converter")
        r = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-build-isolation",
                            f"llama-cpp-python=={version}", "-d", os.path.dirname(sdist)], capture_output=True, text=True)
        if r.returncode != 0 or not os.path.exists(sdist):
            raise Unavailable(f"GGUF converter missing (pip download failed); run: {how}")
    with tarfile.open(sdist) as tar:
        root = f"llama_cpp_python-{version}/vendor/llama.cpp/"
        members = [m for m in tar.getmembers() if m.name.startswith(root) and
                   (m.name == root + "convert_hf_to_gguf.py" or m.name.startswith(root + "gguf-py/")
                    or m.name.startswith(root + "conversion/"))]
        tar.extractall(cache, members=members)
    if not os.path.exists(pattern):
        raise Unavailable(f"GGUF converter not found in {sdist}; expected {pattern}")
    return pattern


def gguf_model(ckpt: str, outtype: str, cache: str) -> str:
    out = f"{ckpt}-{outtype}.gguf"
    if not os.path.exists(out):
        try:
            script = gguf_converter(cache)
        except ImportError:
            raise Unavailable(f"not installed: pip install llama-cpp-python (or {BENCH_EXTRA})")
        log(f"converting to GGUF {outtype}")
        r = subprocess.run([sys.executable, script, ckpt, "--outtype", outtype.lower(), "--outfile", out + ".part"],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise Unavailable(f"GGUF conversion failed: {r.stderr.strip().splitlines()[-1:]}")
        os.replace(out + ".part", out)
    return out


def model_path(engine: str, ckpt: str, cache: str) -> str:
    if engine.startswith(("gptcore", "transformers")):
        return ckpt
    if engine.startswith("ctranslate2"):
        return ctranslate2_model(ckpt, engine.split("-")[1])
    return gguf_model(ckpt, engine.split("-")[1], cache)


def gptcore_has_dtype() -> bool:
    return "dtype" in inspect.signature(gptcore.GPT.from_pretrained).parameters


# ---------------------------------------------------------------------------------------------- workers

@dataclass
class Worker:
    name: str
    proc: Optional[subprocess.Popen] = None
    error: Optional[str] = None            # set when the engine cannot run at all
    times: Dict[str, List[float]] = field(default_factory=dict)
    notes: Dict[str, str] = field(default_factory=dict)   # figure -> why it has no value
    info: Dict[str, Any] = field(default_factory=dict)

    def call(self, cmd: Dict[str, Any]) -> Dict[str, Any]:
        assert self.proc and self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            self.error = f"worker exited (code {self.proc.wait()}); see its stderr above"
            return {"error": self.error}
        return json.loads(line)

    def close(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.stdin.write(json.dumps({"op": "quit"}) + "\n")  # type: ignore[union-attr]
            self.proc.stdin.flush()  # type: ignore[union-attr]
            self.proc.wait(timeout=60)


def start_worker(name: str, path: str, threads: int) -> Worker:
    w = Worker(name)
    # Every library's OpenMP / BLAS pool gets the same thread count; the libraries' own knobs are set too
    # (torch.set_num_threads, CTranslate2 intra_threads, llama n_threads / n_threads_batch, gptcore n_threads).
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads),
               MKL_NUM_THREADS=str(threads), GPTCORE_NUM_THREADS=str(threads))
    env["PYTHONPATH"] = os.pathsep.join(p for p in [os.path.dirname(os.path.dirname(gptcore.__file__)),
                                                    env.get("PYTHONPATH", "")] if p)
    w.proc = subprocess.Popen([sys.executable, WORKER, name, path, str(threads)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, env=env)
    reply = json.loads(w.proc.stdout.readline() or '{"error": "worker died while loading"}')  # type: ignore[union-attr]
    if "error" in reply:
        w.error = reply["error"]
        w.close()
    else:
        w.times["load_first"] = [reply["seconds"]]
    return w


def run_op(w: Worker, key: str, cmd: Dict[str, Any], value_key: str = "seconds") -> Optional[float]:
    """One command; its value is appended under `key`, or the reason it has none is kept in notes."""
    if w.error or key in w.notes:
        return None
    time.sleep(0.1)  # lets the last worker's spinning OpenMP threads go idle before this one is timed
    reply = w.call(cmd)
    if "error" in reply:
        w.notes[key] = reply["error"]
        log(f"{w.name} {key}: {reply['error']}")
        return None
    w.times.setdefault(key, []).append(reply[value_key])
    log(f"{w.name} {key}: {reply[value_key]:.3f} s")  # progress, and what each workload costs on this machine
    return reply[value_key]


# ---------------------------------------------------------------------------------------------- workloads

@dataclass
class Plan:
    prompt: int          # P: prompt length of pp and of the decode-at-depth figure
    new: int             # N: new tokens of tg
    batch: int           # prompts in the batched figure
    batch_max_len: int   # their lengths are uniform in [16, batch_max_len]
    repeats: int
    batched_repeats: int
    medium_repeats: int
    load_repeats: int
    depths: List[int]
    batch_sizes: List[int]
    scaling_repeats: int


FULL = Plan(prompt=512, new=128, batch=32, batch_max_len=512, repeats=5, batched_repeats=2, medium_repeats=3,
            load_repeats=3, depths=[0, 128, 256, 512, 768, 1008], batch_sizes=[1, 2, 4, 8, 16, 32, 64],
            scaling_repeats=3)
QUICK = Plan(prompt=128, new=32, batch=8, batch_max_len=128, repeats=2, batched_repeats=2, medium_repeats=0,
             load_repeats=2, depths=[0, 128, 256], batch_sizes=[1, 4, 16], scaling_repeats=2)


def figures(plan: Plan) -> Dict[str, str]:
    P, N = plan.prompt, plan.new
    return {"pp": f"pp{P} (tokens/s)", "tg": f"tg{N}, batch 1 (tokens/s)", "tgd": f"tg{N} @ depth {P} (tokens/s)",
            "batched": f"batched: {plan.batch} prompts of 16-{plan.batch_max_len} tokens, {N} new each "
                       f"(new tokens/s)",
            "ttft": f"time to first token, {P}-token prompt (ms)", "load": "load (s)", "rss": "peak RSS (MiB)"}


def run_rounds(workers: List[Worker], plan: Plan, repeats: int, batched_repeats: int, full_set: bool) -> None:
    rng = np.random.default_rng(0)
    V = 50256  # ids below the end-of-text token
    prompt = rng.integers(0, V, plan.prompt).tolist()
    one = [int(rng.integers(0, V))]
    lengths = rng.integers(16, plan.batch_max_len + 1, plan.batch)
    batch = [rng.integers(0, V, int(n)).tolist() for n in lengths]
    N = plan.new
    live = [w for w in workers if not w.error]
    log("warm-up")
    for w in live:
        run_op(w, "warmup", {"op": "prefill", "ids": prompt[:64]})
        run_op(w, "warmup", {"op": "generate", "prompts": [one], "max_new": 8})
    for r in range(repeats):
        log(f"round {r + 1}/{repeats}")
        for w in live:
            run_op(w, "pp", {"op": "prefill", "ids": prompt})
        # Decode rates count N decode steps after the first token: T(N + 1 new) - T(1 new) removes the prompt.
        for w in live:
            run_op(w, "tg_first", {"op": "generate", "prompts": [one], "max_new": 1})
            run_op(w, "tg_all", {"op": "generate", "prompts": [one], "max_new": N + 1})
        if not full_set:
            continue
        for w in live:
            run_op(w, "ttft", {"op": "generate", "prompts": [prompt], "max_new": 1})
            run_op(w, "tgd_all", {"op": "generate", "prompts": [prompt], "max_new": N + 1})
        if r < batched_repeats:
            for w in live:
                run_op(w, "batched", {"op": "generate", "prompts": batch, "max_new": N})
    for _ in range(plan.load_repeats):
        for w in live:
            run_op(w, "load", {"op": "load"})
    for w in live:
        if not w.error:
            w.info = w.call({"op": "info"})


def rates(w: Worker, plan: Plan) -> Dict[str, List[float]]:
    """Per-run values of each figure (tokens/s, ms, s, MiB) from the worker's raw timings."""
    t, N = w.times, plan.new
    out: Dict[str, List[float]] = {}
    if "pp" in t:
        out["pp"] = [plan.prompt / s for s in t["pp"]]
    if "tg_all" in t and "tg_first" in t:
        out["tg"] = [N / (a - b) for a, b in zip(t["tg_all"], t["tg_first"])]
    if "tgd_all" in t and "ttft" in t:
        out["tgd"] = [N / (a - b) for a, b in zip(t["tgd_all"], t["ttft"])]
        out["ttft"] = [s * 1e3 for s in t["ttft"]]
    if "batched" in t:
        out["batched"] = [plan.batch * N / s for s in t["batched"]]
    if "load" in t:
        out["load"] = t["load"]
    if "peak_rss_mib" in w.info:
        out["rss"] = [w.info["peak_rss_mib"]]
    return out


def scaling(worker: Worker, plan: Plan) -> Tuple[Dict[int, List[float]], Dict[int, List[float]]]:
    """gptcore's ms per decode step against context depth (batch 1) and against batch size (depth 32)."""
    by_depth: Dict[int, List[float]] = {d: [] for d in plan.depths}
    by_batch: Dict[int, List[float]] = {b: [] for b in plan.batch_sizes}
    for r in range(plan.scaling_repeats):
        log(f"scaling round {r + 1}/{plan.scaling_repeats}")
        for d in plan.depths:
            by_depth[d].append(worker.call({"op": "step_time", "depth": d, "batch": 1, "steps": 16})["ms"])
        for b in plan.batch_sizes:
            by_batch[b].append(worker.call({"op": "step_time", "depth": 32, "batch": b, "steps": 16})["ms"])
    return by_depth, by_batch


# ---------------------------------------------------------------------------------------------- machine

def machine_limits(threads: int) -> Tuple[float, float]:
    """Memory read bandwidth (GB/s) over 1 GiB, and OpenBLAS sgemm GFLOP/s at a prompt-like shape."""
    bandwidth = _core.measure_read_bandwidth(1 << 30, threads, 5)
    m = 2048
    a, w = np.ones((m, 1024), np.float32), np.ones((1024, 4096), np.float32)
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        _core.kernels.matmul_forward(a, w, n_threads=threads)
        best = min(best, time.perf_counter() - t0)
    return bandwidth, 2 * m * 1024 * 4096 / best / 1e9


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def memory_gib() -> float:
    with open("/proc/meminfo") as f:
        return int(f.readline().split()[1]) / 2**20


# ---------------------------------------------------------------------------------------------- report

LOWER_IS_BETTER = {"ttft", "load", "rss"}


def cell(values: Optional[List[float]], note: Optional[str]) -> str:
    if not values:
        return short_note(note) if note else "—"
    m = statistics.mean(values)
    digits = 0 if m >= 100 else 1 if m >= 10 else 2 if m >= 1 else 3
    if len(values) == 1:
        return f"{m:.{digits}f}"
    return f"{m:.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def short_note(note: str) -> str:
    if note.startswith("n/a"):
        return "n/a"
    if "not installed" in note or "ModuleNotFoundError" in note:
        return "not installed"
    return "failed"


def roofline(key: str, info: Dict[str, Any], plan: Plan, bandwidth: float, sgemm: float) -> Optional[float]:
    """The most tokens/s the machine allows: sgemm peak over the FLOPs of a prompt token, or memory bandwidth
    over the bytes a decode step reads (every weight once, plus the KV cache at that depth, in its dtype)."""
    if not info or key not in ("pp", "tg", "tgd"):
        return None
    L, C, V, T = info["n_layer"], info["n_embd"], info["vocab_size"], plan.prompt
    if key == "pp":
        # 2 FLOPs per multiply-add of every matrix but the embeddings; causal attention averages (T + 1) / 2 keys.
        matmul = 2 * (info["num_parameters"] - V * C - info["n_positions"] * C)
        attention = L * 4 * C * (T + 1) / 2
        return sgemm * 1e9 / (matmul + attention)
    depth = T if key == "tgd" else 0
    kv_bytes = 2 * L * depth * C * info.get("kv_element_bytes", 4)
    return bandwidth * 1e9 / (info["weights_nbytes"] + kv_bytes)


def shape_section(shape: str, workers: List[Worker], plan: Plan, keys: List[str], bandwidth: float,
                  sgemm: float, repeats: int, batched_repeats: int) -> List[str]:
    names = figures(plan)
    vals = {w.name: rates(w, plan) for w in workers}
    lines = [f"### GPT-2 {shape} shape, random weights", "",
             "| figure | " + " | ".join(LABEL[w.name] for w in workers) + " |",
             "| --- |" + " --- |" * len(workers)]
    for k in keys:
        row = [cell(vals[w.name].get(k), w.error or note_for(w, k)) for w in workers]
        lines.append(f"| {names[k]} | " + " | ".join(row) + " |")
    lines += ["", f"Runs: {repeats} interleaved rounds" +
              (f" ({batched_repeats} for the batched figure)" if "batched" in keys else "") +
              f", load {plan.load_repeats}x; mean ± standard deviation.", ""]

    # gptcore against the best peer of its precision class and against its own roofline.
    lines += ["| gptcore | figure | value | best peer | gptcore vs best peer | roofline | fraction of roofline |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
    for w in workers:
        if not w.name.startswith("gptcore") or w.error:
            continue
        peers = [p for p in workers if not p.name.startswith("gptcore") and CLASS[p.name] == CLASS[w.name]]
        for k in keys:
            g = vals[w.name].get(k)
            if not g:
                continue
            gm = statistics.mean(g)
            best = None
            for p in peers:
                pv = vals[p.name].get(k)
                if pv:
                    pm = statistics.mean(pv)
                    if best is None or (pm < best[1] if k in LOWER_IS_BETTER else pm > best[1]):
                        best = (p.name, pm)
            ratio = "—" if best is None else f"{(best[1] / gm if k in LOWER_IS_BETTER else gm / best[1]):.2f}x"
            roof = roofline(k, w.info, plan, bandwidth, sgemm)
            lines.append(f"| {LABEL[w.name]} | {names[k]} | {cell(g, None)} | "
                         f"{'—' if best is None else LABEL[best[0]] + ' ' + cell(vals[best[0]][k], None)} | {ratio} | "
                         f"{'—' if roof is None else f'{roof:.0f}'} | {'—' if roof is None else f'{gm / roof:.0%}'} |")
    notes = sorted({f"{LABEL[w.name]}: {m}" for w in workers for m in ([w.error] if w.error else w.notes.values())})
    if notes:
        lines += ["", "Notes:", ""] + [f"- {n}" for n in notes]
    return lines + [""]


def note_for(w: Worker, key: str) -> Optional[str]:
    parts = {"tg": ["tg_first", "tg_all"], "tgd": ["ttft", "tgd_all"], "ttft": ["ttft"]}.get(key, [key])
    for p in parts + ["warmup"]:
        if p in w.notes:
            return w.notes[p]
    return None


def scaling_section(shape: str, by_depth: Dict[int, List[float]], by_batch: Dict[int, List[float]]) -> List[str]:
    lines = [f"### How gptcore fp32 decoding scales ({shape} shape)", "",
             "One decode step (the forward pass alone) after the cache already holds `depth` tokens per sequence.", "",
             "| context depth | ms per token | tokens/s |", "| --- | --- | --- |"]
    for d, v in by_depth.items():
        lines.append(f"| {d} | {cell(v, None)} | {1e3 / statistics.mean(v):.1f} |")
    lines += ["", "| batch size (depth 32) | ms per step | ms per token | tokens/s |", "| --- | --- | --- | --- |"]
    for b, v in by_batch.items():
        m = statistics.mean(v)
        lines.append(f"| {b} | {cell(v, None)} | {m / b:.2f} | {b * 1e3 / m:.0f} |")
    return lines + [""]


def versions(all_workers: List[Worker]) -> str:
    seen: Dict[str, str] = {}
    for w in all_workers:
        if w.info.get("version"):
            lib = "gptcore" if w.name.startswith("gptcore") else w.info["version"]
            seen[lib] = (f"gptcore {w.info['version']} ({w.info['blas']})" if w.name.startswith("gptcore")
                         else w.info["version"])
    return ", ".join(seen.values())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="124M only, pp128 / tg32 / 8 prompts, 2 runs")
    ap.add_argument("--smoke", action="store_true", help="as --quick on a tiny model: checks that every engine runs")
    ap.add_argument("--threads", type=int, default=_core.physical_cores())
    ap.add_argument("--repeats", type=int, help="interleaved rounds (default 5, quick 2)")
    ap.add_argument("--batched-repeats", type=int,
                    help="rounds with the batched figure (default 2: it is the costliest workload)")
    ap.add_argument("--medium-repeats", type=int, help="rounds at the medium shape, 0 to skip (default 3)")
    ap.add_argument("--engines", help="comma-separated subset of: " + ", ".join(n for n, *_ in ENGINES))
    ap.add_argument("--cache-dir", default=os.path.join(REPO, "build", "bench"))
    ap.add_argument("--write", action="store_true", help="update the inference section of docs/benchmarks.md")
    args = ap.parse_args()
    if args.smoke and args.write:
        ap.error("--smoke measures a tiny model; its figures do not belong in docs/benchmarks.md")
    base = QUICK if args.quick or args.smoke else FULL
    plan = Plan(**{**base.__dict__, **{k: v for k, v in (("repeats", args.repeats),
                                                          ("batched_repeats", args.batched_repeats),
                                                          ("medium_repeats", args.medium_repeats)) if v is not None}})
    plan.batched_repeats = min(plan.batched_repeats, plan.repeats)
    started = time.time()
    os.makedirs(args.cache_dir, exist_ok=True)

    known = [n for n, *_ in ENGINES]
    chosen = args.engines.split(",") if args.engines else known
    if set(chosen) - set(known):
        ap.error(f"unknown engines {sorted(set(chosen) - set(known))}; choose from {', '.join(known)}")
    wanted = [n for n in known if n in chosen]
    if not gptcore_has_dtype():
        # Reduced-precision rows appear once GPT.from_pretrained takes dtype; until then they are left out.
        wanted = [n for n in wanted if n == "gptcore-fp32" or not n.startswith("gptcore")]

    log("measuring memory bandwidth and sgemm")
    bandwidth, sgemm = machine_limits(args.threads)
    log(f"read bandwidth {bandwidth:.1f} GB/s, sgemm {sgemm:.0f} GFLOP/s")

    shapes = [("tiny" if args.smoke else "124M", plan.repeats, plan.batched_repeats, True)]
    if plan.medium_repeats > 0:
        shapes.append(("medium", plan.medium_repeats, 0, False))
    sections: List[str] = []
    all_workers: List[Worker] = []
    by_depth = by_batch = None
    for shape, repeats, batched_repeats, full_set in shapes:
        ckpt = checkpoint(shape, args.cache_dir)
        workers = []
        for name in wanted:
            try:
                path = model_path(name, ckpt, args.cache_dir)
            except Unavailable as e:
                log(f"{name}: {e}")
                workers.append(Worker(name, error=str(e)))
                continue
            log(f"{shape}: starting {name}")
            workers.append(start_worker(name, path, args.threads))
            if workers[-1].error:
                log(f"{name}: {workers[-1].error}")
        run_rounds(workers, plan, repeats, batched_repeats, full_set)
        if full_set and any(w.name == "gptcore-fp32" and not w.error for w in workers):
            by_depth, by_batch = scaling(next(w for w in workers if w.name == "gptcore-fp32"), plan)
        keys = ["pp", "tg", "tgd", "batched", "ttft", "load", "rss"] if full_set else ["pp", "tg", "load", "rss"]
        sections += shape_section(shape, workers, plan, keys, bandwidth, sgemm, repeats, batched_repeats)
        for w in workers:
            w.close()
        all_workers += workers

    minutes = (time.time() - started) / 60
    command = "python bench/bench_inference.py" + (" --quick" if args.quick else "") + \
        (" --smoke" if args.smoke else "") + \
        "".join(f" --{k.replace('_', '-')} {v}" for k, v in (("threads", args.threads), ("repeats", args.repeats),
                ("batched_repeats", args.batched_repeats), ("medium_repeats", args.medium_repeats)) if v is not None)
    P, N = plan.prompt, plan.new
    lines = [
        BEGIN,
        "## Inference: gptcore and peers, side by side",
        "",
        f"Command: `{command}` (this run: {minutes:.0f} min)  ",
        f"Machine: {cpu_name()}, {_core.physical_cores()} physical cores, {memory_gib():.0f} GiB, "
        f"SIMD {_core.simd_level()}, Python {platform.python_version()}; measured in this run with {args.threads} "
        f"threads: memory read bandwidth {bandwidth:.1f} GB/s, OpenBLAS sgemm {sgemm:.0f} GFLOP/s  ",
        f"Versions: {versions(all_workers)}",
        "",
        f"Every library runs with {args.threads} threads: gptcore `n_threads`, torch `set_num_threads`, "
        "CTranslate2 `intra_threads` (`inter_threads=1`), llama.cpp `n_threads` and `n_threads_batch`, and "
        "`OMP_NUM_THREADS` / `OPENBLAS_NUM_THREADS` in each worker's environment. Each (library, precision) is "
        "its own process, loaded once; the workloads go to each process in turn, round after round, after a "
        "warm-up. The weights are the same random-weight checkpoint written by transformers; CTranslate2 "
        "models come from its `TransformersConverter` (quantization float32 / int8) and GGUF files from "
        "llama.cpp's `convert_hf_to_gguf.py` (`--outtype f32` / `q8_0`). Token ids go in and out "
        "(no tokenizer); generation is greedy with end-of-sequence off, and every library is checked to return "
        "exactly the number of new tokens asked for.",
        "",
        f"- pp{P}: one {P}-token prompt to the logits of its last token (CTranslate2: its generator with one new "
        "token, as its API has no prompt-only call).",
        f"- tg{N}: {N} decode steps at batch 1 through each library's generate API, timed as "
        f"T({N + 1} new tokens) - T(1 new token), which leaves the prompt out; \"@ depth {P}\" after a {P}-token "
        "prompt.",
        f"- batched: {plan.batch} prompts of uniform random length 16-{plan.batch_max_len} in one generate call, "
        f"{N} new tokens each; new tokens / wall time, prompt processing included. transformers left-pads the "
        "batch; llama-cpp-python's `Llama` API has no multi-sequence generate (n/a).",
        f"- time to first token: the generate API from {P} prompt ids to the first new token.",
        "- load: constructing the model from files in the page cache (gptcore's `from_pretrained` also builds "
        "the tokenizer from the directory's files; CTranslate2 and llama.cpp read their vocabularies); peak RSS: "
        "the worker's VmHWM at the end, memory-mapped weights included.",
        "- \"gptcore vs best peer\" compares with the best peer of the same precision class (fp32 with fp32; "
        "bf16 / int8 with CTranslate2 int8 and llama.cpp Q8_0); above 1x means gptcore is ahead (faster, or "
        "less time / memory). Rooflines: prompts, sgemm GFLOP/s over 2 x non-embedding parameters + causal "
        "attention FLOPs per token; decoding, bandwidth over the bytes of all weights (at the engine's "
        "precision) plus the KV cache read per token (gptcore's: float32 for fp32, float16 for bf16 / int8).",
        "",
    ] + sections
    if by_depth and by_batch:
        lines += scaling_section(shapes[0][0], by_depth, by_batch)
    lines.append(END)
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
    log(f"done in {minutes:.1f} min")


if __name__ == "__main__":
    main()
