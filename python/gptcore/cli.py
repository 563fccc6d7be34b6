"""The ``gptcore`` command line: ``gptcore generate`` and ``gptcore batch`` (``python -m gptcore`` is the same).

Exit statuses: 0 success; 1 a failure (the model does not load, a batch line failed, a file cannot be read or
written); 2 a usage error (a bad option or value); 130 interrupted by Ctrl-C. Errors are one line on stderr;
``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, Dict, List, Optional

from . import __version__

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class _Failure(Exception):
    """A failure already worded for the user; main prints it and exits with `status`."""

    def __init__(self, message: str, status: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.status = status


def main(argv: Optional[List[str]] = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args))
    except _Failure as e:
        if args.debug:
            raise
        print(f"gptcore {args.command}: error: {e}", file=sys.stderr)
        return e.status
    except KeyboardInterrupt:
        if args.debug:
            raise
        print(f"gptcore {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # stdout closed early, as by `| head`: not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gptcore", description="Run GPT-2-family language models on the CPU.",
        epilog="Run `gptcore COMMAND --help` for a command's options. Exit statuses: 0 success, 1 failure, "
               "2 usage error, 130 interrupted.")
    parser.add_argument("--version", action="version", version=f"gptcore {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    common = argparse.ArgumentParser(add_help=False)
    model = common.add_argument_group("model")
    model.add_argument("--model", "-m", metavar="M",
                       help="a model directory (config.json, weights, tokenizer files), a bundled model's name, or a "
                            "Hugging Face hub id such as gpt2 (default: the bundled kjv-small; HF_HUB_OFFLINE=1 "
                            "uses only the hub cache)")
    model.add_argument("--threads", type=_positive_int, metavar="N",
                       help="CPU threads (default: $GPTCORE_NUM_THREADS, else the physical cores)")
    model.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    sampling = common.add_argument_group("generation")
    sampling.add_argument("--max-new-tokens", type=_non_negative_int, metavar="N",
                          help="most tokens to generate per prompt (default: 64)")
    sampling.add_argument("--min-new-tokens", type=_non_negative_int, metavar="N",
                          help="no end-of-sequence token before N new tokens (default: 0)")
    sampling.add_argument("--do-sample", action="store_true",
                          help="sample the next token instead of taking the most likely (greedy, the default); "
                               "--temperature, --top-k, --top-p and --min-p turn sampling on too")
    sampling.add_argument("--temperature", type=_non_negative_float, metavar="T",
                          help="divide the logits by T before sampling (default: 1.0; 0 means greedy)")
    sampling.add_argument("--top-k", type=_non_negative_int, metavar="K",
                          help="sample from the K most likely tokens only (default: 0, off)")
    sampling.add_argument("--top-p", type=float, metavar="P",
                          help="sample from the smallest set of tokens whose probability reaches P (default: 1.0, off)")
    sampling.add_argument("--min-p", type=float, metavar="P",
                          help="drop tokens less likely than P times the most likely one (default: 0.0, off)")
    sampling.add_argument("--repetition-penalty", type=float, metavar="R",
                          help="penalise tokens already in the prompt or the output (default: 1.0, off; 1.2 is mild)")
    sampling.add_argument("--seed", type=_seed, metavar="S",
                          help="random seed of sampling, for reproducible output (default: a fresh one each run)")
    sampling.add_argument("--stop", action="append", metavar="STR",
                          help="end the text before STR (repeat for several; in bash, $'\\n' is a newline)")

    gen = commands.add_parser(
        "generate", parents=[common], help="continue one prompt",
        description="Continue PROMPT and print the completion to stdout (streamed token by token when stdout is "
                    "a terminal).",
        epilog="example: gptcore generate 'In the beginning' --max-new-tokens 40 --temperature 0.8 --seed 1")
    gen.add_argument("prompt", metavar="PROMPT", help="the text to continue; - reads it from stdin")
    gen.add_argument("--stream", action=argparse.BooleanOptionalAction, default=None,
                     help="print the text as it is generated (default: when stdout is a terminal)")
    gen.set_defaults(run=_generate)

    batch = commands.add_parser(
        "batch", parents=[common], help="run a JSON Lines file of prompts, resumable",
        description="Generate a completion for each line of INPUT ({\"id\": ..., \"prompt\": ..., optional "
                    "generate options}) and append one line per finished prompt to OUTPUT ({\"id\", "
                    "\"completion\", \"prompt_tokens\", \"completion_tokens\", \"finish_reason\"}). Rerunning the "
                    "same command after an interruption skips the ids already in OUTPUT. A bad line is reported "
                    "with its line number and skipped; the exit status is 1 if any line failed.",
        epilog="example: gptcore batch prompts.jsonl -o results.jsonl --max-new-tokens 32 --batch-size 8")
    batch.add_argument("input", metavar="INPUT", help="the prompts, one JSON object per line")
    batch.add_argument("-o", "--output", metavar="OUTPUT", required=True,
                       help="the results file, appended to; ids already in it are skipped")
    batch.add_argument("--batch-size", type=_positive_int, default=16, metavar="N",
                       help="prompts decoded together (default: 16)")
    batch.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                       help="show a progress bar on stderr: prompts done, tokens/s, ETA "
                            "(default: when stderr is a terminal)")
    batch.set_defaults(run=_batch)
    return parser


def _generation_options(args: argparse.Namespace) -> Dict[str, Any]:
    """The generate options given on the command line (the others keep GenerationOptions' defaults)."""
    names = ("max_new_tokens", "min_new_tokens", "temperature", "top_k", "top_p", "min_p", "repetition_penalty",
             "seed", "stop")
    options = {name: getattr(args, name) for name in names if getattr(args, name) is not None}
    if args.do_sample or any(name in options for name in ("temperature", "top_k", "top_p", "min_p")):
        options["do_sample"] = True
    if options.get("temperature") == 0:  # the usual spelling of greedy decoding
        del options["temperature"]
        options["do_sample"] = False
    return options


def _load_model(args: argparse.Namespace) -> Any:
    from .model import GPT

    try:
        if args.model is None:
            return GPT.from_pretrained(n_threads=args.threads)
        return GPT.from_pretrained(args.model, n_threads=args.threads)
    except Exception as e:  # any failure to load is one message: which model, and why
        if args.debug:
            raise
        what = f"the model {args.model}" if args.model is not None else "the bundled model"
        raise _Failure(f"cannot load {what}: {e}") from None


def _check_options(model: Any, options: Dict[str, Any]) -> None:
    from .generation import parse_options

    try:
        parse_options(model, options)
    except (TypeError, ValueError) as e:
        raise _Failure(str(e), EXIT_USAGE) from None


def _generate(args: argparse.Namespace) -> int:
    prompt = sys.stdin.read() if args.prompt == "-" else args.prompt
    if not prompt:
        raise _Failure("the prompt is empty", EXIT_USAGE)
    options = _generation_options(args)
    model = _load_model(args)
    _check_options(model, options)
    stream = sys.stdout.isatty() if args.stream is None else args.stream
    try:
        if stream:
            for piece in model.stream(prompt, **options):
                sys.stdout.write(piece)
                sys.stdout.flush()
            sys.stdout.write("\n")
        else:
            sys.stdout.write(model.generate(prompt, **options) + "\n")
        sys.stdout.flush()
    except (TypeError, ValueError) as e:  # the prompt: longer than the context, or no tokenizer
        raise _Failure(str(e)) from None
    return EXIT_OK


def _batch(args: argparse.Namespace) -> int:
    from .batch import BatchError, run_batch

    options = _generation_options(args)
    model = _load_model(args)
    _check_options(model, options)
    try:
        summary = run_batch(model, args.input, args.output, batch_size=args.batch_size, progress=args.progress,
                            **options)
    except BatchError as e:
        raise _Failure(str(e)) from None
    except KeyboardInterrupt:
        print(f"gptcore batch: interrupted; the finished results are in {args.output}: rerun the same command "
              "to finish the rest", file=sys.stderr)
        return EXIT_INTERRUPTED
    failed = f", {len(summary.errors)} failed (lines {', '.join(str(e.line) for e in summary.errors)})" \
        if summary.errors else ""
    print(f"gptcore batch: {summary.lines} lines: {summary.written} written now, {summary.done_before} done "
          f"before{failed}", file=sys.stderr)
    return EXIT_OK if summary.ok else EXIT_FAILED


def _positive_int(text: str) -> int:
    value = _non_negative_int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {text!r}")
    return value


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text!r}")
    return value


def _seed(text: str) -> int:
    value = _non_negative_int(text)
    if value >= 2**64:
        raise argparse.ArgumentTypeError(f"must be below 2**64, got {text!r}")
    return value
