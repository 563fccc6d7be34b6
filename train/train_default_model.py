"""Train gptcore's bundled default model: a small GPT-2-architecture model on the King James Bible.

Reproducible end to end on a CPU:

    python train/train_default_model.py --out python/gptcore/models/kjv-small

1. The corpus comes from Debian's packages ``bible-kjv-text`` (the text, public domain: the 1611 translation's
   copyright has expired) and ``bible-kjv`` (the reader that decompresses it), fetched with ``apt-get download``
   and unpacked without installing. ``--corpus FILE`` trains on any other plain-text file instead.
2. It is tokenized with gptcore's own GPT-2 tokenizer (``--tokenizer DIR``, the original GPT-2 vocab/merges).
3. Every 20th chapter is held out for validation; training sees the rest in random windows of ``--seq`` tokens.
4. PyTorch trains a transformers ``GPT2LMHeadModel`` (AdamW, linear warm-up, cosine decay, fixed seeds), so the
   result is an ordinary Hugging Face checkpoint. It is saved as float16 safetensors with its tokenizer files and
   ``training.json`` (corpus, shape, steps, validation loss and perplexity, wall time).

The LM head dominates the FLOPs of a small model with GPT-2's 50,257-token vocabulary, yet the corpus uses only
about 13,000 distinct tokens. Training therefore constrains every token the corpus never uses to share one output
embedding (a learned "unused" row): their logits are then equal, so the softmax over the full vocabulary equals a
softmax over the used tokens plus one column ``unused_logit + log(n_unused)``. That is exact, not an
approximation: the saved model has the full vocabulary with those rows set to the shared one, and the validation
perplexity reported here is that of the saved model (checked by recomputing it through transformers at the end).
It makes a training step about twice as fast on a CPU.

Needs the test extra (torch, transformers) plus Debian's apt tools; the runtime package needs none of it.
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from typing import List, Tuple

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DEFAULT_TOKENIZER = os.path.join(ROOT, "..", "shared", "data", "gpt2-tokenizer")
HOLDOUT_EVERY = 20  # every 20th chapter is validation text


def fetch_kjv(cache_dir: str) -> str:
    """Plain text of the KJV Bible, one chapter a paragraph: '<Book> <n>' heading, then its verses on one line each."""
    text_path = os.path.join(cache_dir, "kjv.txt")
    if os.path.exists(text_path):
        return text_path
    os.makedirs(cache_dir, exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        subprocess.run(["apt-get", "download", "bible-kjv-text", "bible-kjv"], cwd=work, check=True,
                       stdout=subprocess.DEVNULL)
        root = os.path.join(work, "root")
        for deb in sorted(os.listdir(work)):
            if deb.endswith(".deb"):
                subprocess.run(["dpkg", "-x", os.path.join(work, deb), root], check=True)
        # -l with a huge width keeps each verse on one line; the reader wants its data directory via -p.
        raw = subprocess.run([os.path.join(root, "usr", "bin", "bible"), "-l100000", "-p",
                              os.path.join(root, "usr", "lib"), "gen1:1-rev22:21"],
                             check=True, stdout=subprocess.PIPE).stdout.decode("utf-8")
    with open(text_path + ".tmp", "w", encoding="utf-8") as f:
        f.write(raw)
    os.replace(text_path + ".tmp", text_path)
    return text_path


def chapters_of(raw: str) -> List[str]:
    """Split the reader's output into chapters of running text: the heading line, then the verses without numbers."""
    chapters: List[str] = []
    heading, verses = None, []
    for line in raw.splitlines():
        if not line.strip():
            continue
        verse = re.match(r"^\s+\d+\s+(.*)$", line)  # verses are indented; headings ("1 Kings 3") are not
        if verse:
            verses.append(verse.group(1))
            continue
        if heading is not None:
            chapters.append(heading + "\n" + " ".join(verses))
        heading, verses = line.strip(), []
    if heading is not None:
        chapters.append(heading + "\n" + " ".join(verses))
    return chapters


def tokenize(chapters: List[str], tokenizer_dir: str) -> Tuple[np.ndarray, np.ndarray]:
    """(train ids, validation ids): each chapter then a blank line; every HOLDOUT_EVERY-th chapter is validation."""
    import gptcore

    tok = gptcore.Tokenizer.from_pretrained(tokenizer_dir)
    train, valid = [], []
    for k, chapter in enumerate(chapters):
        ids = tok.encode(chapter + "\n\n")
        (valid if k % HOLDOUT_EVERY == HOLDOUT_EVERY - 1 else train).extend(ids)
    return np.asarray(train, dtype=np.int64), np.asarray(valid, dtype=np.int64)


class UsedVocabLM:
    """A GPT2LMHeadModel trained with the output restricted to the corpus's tokens (see the module docstring).

    used: (n_used,) sorted token ids the corpus contains; every other id shares the learned row ``unused``.
    """

    def __init__(self, model, used: np.ndarray) -> None:
        import torch

        self.model = model
        vocab = model.config.vocab_size
        self.used = torch.from_numpy(used)
        self.log_n_unused = math.log(vocab - len(used))
        self.unused = torch.nn.Parameter(torch.zeros(model.config.n_embd))
        self.index = np.full(vocab, len(used), dtype=np.int64)  # token id -> output column (unused ones: last)
        self.index[used] = np.arange(len(used))

    def parameters(self):
        return list(self.model.parameters()) + [self.unused]

    def state_dict(self) -> dict:
        return {"model": self.model.state_dict(), "unused": self.unused.detach()}

    def load_state_dict(self, state: dict) -> None:
        import torch

        self.model.load_state_dict(state["model"])
        with torch.no_grad():
            self.unused.copy_(state["unused"])

    def loss(self, x, y, reduction: str = "mean"):
        """Cross-entropy (nats) of the full-vocabulary model at every position; x, y: (B, T) token ids."""
        import torch

        hidden = self.model.transformer(x).last_hidden_state                       # (B, T, C)
        wte = self.model.transformer.wte.weight                                    # (V, C)
        head = torch.cat([wte[self.used], self.unused[None, :]])                   # (n_used + 1, C)
        logits = hidden @ head.T                                                   # (B, T, n_used + 1)
        shift = torch.zeros(head.shape[0])
        shift[-1] = self.log_n_unused
        log_z = torch.logsumexp(logits + shift, dim=-1)                            # (B, T)
        target = torch.from_numpy(self.index[y.numpy()])
        nll = log_z - logits.gather(-1, target[..., None])[..., 0]
        return nll.mean() if reduction == "mean" else nll.sum()

    def full_model(self):
        """The ordinary GPT2LMHeadModel: every unused token's (tied) embedding set to the shared row."""
        import torch

        with torch.no_grad():
            unused = torch.ones(self.model.config.vocab_size, dtype=torch.bool)
            unused[self.used] = False
            self.model.transformer.wte.weight[unused] = self.unused
        return self.model


def evaluate(loss_fn, ids: np.ndarray, seq: int, batch: int) -> float:
    """Mean next-token cross-entropy (nats) over non-overlapping windows covering `ids`.
    loss_fn(x, y) -> summed loss of a batch of windows."""
    import torch

    n_windows = (len(ids) - 1) // seq
    total, count = 0.0, 0
    with torch.no_grad():
        for start in range(0, n_windows, batch):
            rows = range(start, min(start + batch, n_windows))
            x = torch.from_numpy(np.stack([ids[r * seq:(r + 1) * seq] for r in rows]))
            y = torch.from_numpy(np.stack([ids[r * seq + 1:(r + 1) * seq + 1] for r in rows]))
            total += float(loss_fn(x, y))
            count += y.numel()
    return total / count


def hf_loss_sum(model):
    """Summed next-token cross-entropy through transformers' own full-vocabulary forward pass."""
    import torch

    def loss(x, y):
        logits = model(x).logits
        return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="sum")
    return loss


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default=os.path.join(ROOT, "python", "gptcore", "models", "kjv-small"))
    p.add_argument("--corpus", help="plain-text file to train on instead of the KJV Bible")
    p.add_argument("--cache", default=os.path.join(ROOT, "build", "corpus"), help="where the fetched corpus is kept")
    p.add_argument("--tokenizer", default=DEFAULT_TOKENIZER, help="directory with the GPT-2 vocab and merges")
    p.add_argument("--n-layer", type=int, default=6)
    p.add_argument("--n-embd", type=int, default=256)
    p.add_argument("--n-head", type=int, default=8)
    p.add_argument("--seq", type=int, default=256, help="training window and n_positions")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--steps", type=int, default=4000)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--eval-every", type=int, default=250)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=1611)
    p.add_argument("--bench", type=int, default=0, help="only time this many steps and print tokens/s")
    args = p.parse_args()

    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    corpus = args.corpus or fetch_kjv(args.cache)
    with open(corpus, encoding="utf-8") as f:
        chapters = chapters_of(f.read()) if not args.corpus else f.read().split("\n\n")
    train_ids, valid_ids = tokenize(chapters, args.tokenizer)
    print(f"corpus {corpus}: {len(chapters)} chapters, {len(train_ids)} train tokens, {len(valid_ids)} validation",
          flush=True)

    config = GPT2Config(vocab_size=50257, n_positions=args.seq, n_embd=args.n_embd, n_layer=args.n_layer,
                        n_head=args.n_head, resid_pdrop=args.dropout, embd_pdrop=args.dropout,
                        attn_pdrop=args.dropout, bos_token_id=50256, eos_token_id=50256)
    model = GPT2LMHeadModel(config)
    n_params = sum(p.numel() for p in model.parameters())
    used = np.unique(np.concatenate([train_ids, valid_ids, [config.eos_token_id]]))
    lm = UsedVocabLM(model, used)
    print(f"{n_params / 1e6:.1f}M parameters; the corpus uses {len(used)} of {config.vocab_size} tokens", flush=True)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2] + [lm.unused]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=args.lr, betas=(0.9, 0.95))
    steps = args.bench or args.steps

    def lr_at(step: int) -> float:
        if step < args.warmup:
            return args.lr * (step + 1) / args.warmup
        progress = (step - args.warmup) / max(1, steps - args.warmup)
        return args.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))

    rng = np.random.default_rng(args.seed)
    history = []
    best = None  # (validation loss, step, state): the saved model is the one with the lowest validation loss
    t0 = time.time()
    model.train()
    for step in range(steps):
        starts = rng.integers(0, len(train_ids) - args.seq - 1, size=args.batch)
        x = torch.from_numpy(np.stack([train_ids[s:s + args.seq] for s in starts]))
        y = torch.from_numpy(np.stack([train_ids[s + 1:s + args.seq + 1] for s in starts]))
        for group in opt.param_groups:
            group["lr"] = lr_at(step)
        loss = lm.loss(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(lm.parameters(), 1.0)
        opt.step()
        if step % 50 == 0 or step == steps - 1:
            elapsed = time.time() - t0
            print(f"step {step:5d}  loss {loss.item():.3f}  lr {lr_at(step):.2e}  "
                  f"{(step + 1) * args.batch * args.seq / elapsed:.0f} tok/s  {elapsed / 60:.1f} min", flush=True)
        if not args.bench and ((step + 1) % args.eval_every == 0 or step == steps - 1):
            model.eval()
            val = evaluate(lambda x, y: lm.loss(x, y, "sum"), valid_ids, args.seq, args.batch)
            model.train()
            history.append({"step": step + 1, "train_loss": round(loss.item(), 4), "valid_loss": round(val, 4),
                            "valid_perplexity": round(math.exp(val), 2), "minutes": round((time.time() - t0) / 60, 1)})
            print(f"  validation loss {val:.3f}  perplexity {math.exp(val):.1f}", flush=True)
            if best is None or val < best[0]:
                best = (val, step + 1, copy.deepcopy(lm.state_dict()))
    if args.bench:
        return 0

    best_val, best_step, best_state = best
    lm.load_state_dict(best_state)
    print(f"keeping step {best_step}: validation loss {best_val:.4f}", flush=True)
    full = lm.full_model().eval()
    full_val = evaluate(hf_loss_sum(full), valid_ids, args.seq, args.batch)
    print(f"full-vocabulary model through transformers: validation loss {full_val:.4f} "
          f"(restricted head: {best_val:.4f})", flush=True)
    assert abs(full_val - best_val) < 1e-3, "the restricted head must equal the full model"
    os.makedirs(args.out, exist_ok=True)
    full.half().save_pretrained(args.out, safe_serialization=True)
    os.chmod(os.path.join(args.out, "model.safetensors"), 0o644)
    for name in ("encoder.json", "vocab.bpe"):
        shutil.copyfile(os.path.join(args.tokenizer, name), os.path.join(args.out, name))
    record = {
        "corpus": "King James Version of the Bible, Debian packages bible-kjv-text and bible-kjv (public domain text)"
        if not args.corpus else os.path.basename(args.corpus),
        "train_tokens": int(len(train_ids)), "valid_tokens": int(len(valid_ids)),
        "holdout": f"every {HOLDOUT_EVERY}th chapter",
        "n_params": n_params, "used_tokens": int(len(used)), "args": {k: v for k, v in vars(args).items() if k not in ("out", "cache", "tokenizer")},
        "tokens_seen": steps * args.batch * args.seq, "wall_minutes": round((time.time() - t0) / 60, 1),
        "torch": torch.__version__, "kept_step": best_step,
        "valid_loss": round(full_val, 4), "valid_perplexity": round(math.exp(full_val), 2), "history": history,
    }
    with open(os.path.join(args.out, "training.json"), "w") as f:
        json.dump(record, f, indent=1)
    print(f"saved {args.out}: {n_params / 1e6:.1f}M parameters, validation perplexity "
          f"{math.exp(full_val):.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
