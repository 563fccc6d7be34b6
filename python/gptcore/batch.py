"""The batch job: prompts from a JSON Lines file in, one JSON line per finished prompt out, resumable.

Input, one JSON object a line (blank lines are ignored)::

    {"id": "q1", "prompt": "In the beginning", "max_new_tokens": 32, "stop": ["\\n"]}

``id`` (a string or an integer, unique in the file) and ``prompt`` (a non-empty string) are required; any other
key is a generate option by :class:`gptcore.GenerationOptions`' name (except num_return_sequences and
return_details) and overrides the job's options for that line. Output, one line per finished prompt::

    {"id": "q1", "completion": "...", "prompt_tokens": 4, "completion_tokens": 32, "finish_reason": "length"}

Crash safety: each result is one ``write`` of one complete line ending in a newline, to a file opened for
appending, so a process killed at any moment leaves whole lines and at most one cut-off last line. A run
starts by reading the output: it removes a cut-off last line and skips every id already there. Rerunning the
same command after a kill, a Ctrl-C or a failure therefore finishes the job with exactly one line per id.

A bad input line (not JSON, a missing or duplicate id, an unknown key, an option out of range, a prompt
longer than the model's context) is reported with its line number and skipped; the rest still runs.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterator, List, Optional, Set, Tuple, Union

from .generation import GenerationOptions, generate_as_completed, parse_options
from .progress import Progress

# Keys of an input line that are not generate options.
_LINE_KEYS = ("id", "prompt")
# Options a batch cannot honour: one prompt gives one result line.
_NOT_IN_BATCH = ("num_return_sequences", "return_details")
_LINE_OPTIONS = tuple(f.name for f in dataclasses.fields(GenerationOptions) if f.name not in _NOT_IN_BATCH)
# Seconds between fsyncs of the output: a killed process loses nothing that was written (the data is in the
# OS's page cache), so fsync only bounds what a power loss or an OS crash can take; once per result would
# cost a disk flush per prompt.
_FSYNC_INTERVAL_S = 1.0


class BatchError(Exception):
    """The job cannot run at all: an unreadable input, an output that is not a results file."""


@dataclass(frozen=True)
class LineError:
    line: int      # 1-based line number in the input file
    message: str


@dataclass
class BatchSummary:
    """What run_batch did. ``ok`` is True when every input line has its result in the output."""

    lines: int                 # non-blank input lines
    done_before: int           # results an earlier run had already written
    written: int               # results this run wrote
    errors: List[LineError]    # lines that failed, in line order

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass
class _Job:
    line: int
    id: Union[str, int]
    prompt: str
    prompt_tokens: int
    options: Dict[str, Any]   # the job's options with the line's over them


def run_batch(model: Any, input_path: Union[str, os.PathLike], output_path: Union[str, os.PathLike], *,
              batch_size: int = 16, progress: Optional[bool] = None,
              report: Optional[Callable[[str], None]] = None, **options: Any) -> BatchSummary:
    """Generate a completion for every line of the JSON Lines file `input_path` and append one result line per
    prompt to `output_path` as soon as it is finished; ids already in `output_path` are skipped (see the
    module's docstring for the formats and the crash safety).

    options: generate's options for every line (a line's own keys win). batch_size: how many prompts decode
    together; lines with different options (other than seed) run in separate batches. progress: show a
    progress bar on stderr (None: when stderr is a terminal or in a notebook). report: called with each
    message about a bad line or a cut-off output line (default: printed to stderr).

    Raises BatchError when the input cannot be read or the output holds a line that is not a result, and
    TypeError / ValueError for bad `options`; a Ctrl-C raises KeyboardInterrupt with every finished result
    saved. Returns a :class:`BatchSummary`.
    """
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    for name in _NOT_IN_BATCH:
        if name in options:
            raise ValueError(f"{name} is not available in a batch job (one result line per prompt)")
    _check_options(model, options)
    input_path, output_path = os.fspath(input_path), os.fspath(output_path)
    if os.path.exists(output_path) and os.path.exists(input_path) and os.path.samefile(input_path, output_path):
        raise BatchError(f"{output_path}: the output file is the input file")

    if getattr(model, "tokenizer", None) is None:
        raise BatchError("the model has no tokenizer: a batch job needs text prompts")

    messages: List[str] = []
    done = _finished_ids(output_path, messages.append)
    jobs, errors, n_lines = _read_jobs(model, input_path, options)
    todo = [job for job in jobs if _key(job.id) not in done]
    summary = BatchSummary(n_lines, len(jobs) - len(todo), 0, errors)

    with Progress(len(todo), enabled=progress) as bar, _ResultWriter(output_path) as out:
        say = report or bar.write
        for message in messages + [f"{input_path}, line {e.line}: {e.message}" for e in errors]:
            say(message)
        for chunk in _batches(todo, batch_size):
            try:
                for job, result in _generate(model, chunk):
                    out.write(result)
                    summary.written += 1
                    bar.advance(result["completion_tokens"])
            except (TypeError, ValueError, RuntimeError, MemoryError) as e:  # the rest of the job still runs
                for job in chunk:
                    if _key(job.id) not in out.ids:
                        summary.errors.append(LineError(job.line, f"id {job.id!r}: generation failed: {e}"))
                        say(f"{input_path}, line {job.line}: id {job.id!r}: generation failed: {e}")
    summary.errors.sort(key=lambda e: e.line)
    return summary


def _generate(model: Any, chunk: List[_Job]) -> Iterator[Tuple[_Job, Dict[str, Any]]]:
    """Runs prompts that share their options (seeds aside) together; yields each result line as it finishes."""
    options = {k: v for k, v in chunk[0].options.items() if k != "seed"}
    seeds = [job.options.get("seed") for job in chunk]
    if any(seed is not None for seed in seeds):  # one seed per prompt: a prompt's draws do not depend on the batch
        options["seed"] = [int.from_bytes(os.urandom(8), "little") if s is None else s for s in seeds]
    for i, gen in generate_as_completed(model, [job.prompt for job in chunk], **options):
        job = chunk[i]
        yield job, {"id": job.id, "completion": gen.text, "prompt_tokens": job.prompt_tokens,
                    "completion_tokens": len(gen.token_ids), "finish_reason": gen.finish_reason}


def _batches(jobs: List[_Job], batch_size: int) -> Iterator[List[_Job]]:
    """Groups jobs whose options match (seeds aside), in input order, into batches of at most batch_size."""
    groups: Dict[str, List[_Job]] = {}
    for job in jobs:
        key = json.dumps({k: v for k, v in job.options.items() if k != "seed"}, sort_keys=True, default=str)
        groups.setdefault(key, []).append(job)
    for group in groups.values():
        for start in range(0, len(group), batch_size):
            yield group[start:start + batch_size]


def _read_jobs(model: Any, path: str, options: Dict[str, Any]) -> Tuple[List[_Job], List[LineError], int]:
    """(valid jobs, errors of the other lines, number of non-blank lines)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise BatchError(f"cannot read the input: {e}") from None
    jobs, errors = [], []
    first_line: Dict[str, int] = {}  # id key -> the line it first appeared on
    n_lines = 0
    for number, raw in enumerate(data.split(b"\n"), 1):
        if not raw.strip():
            continue
        n_lines += 1
        try:
            jobs.append(_parse_line(model, raw, number, options, first_line))
        except _LineProblem as e:
            errors.append(LineError(number, str(e)))
    return jobs, errors, n_lines


class _LineProblem(Exception):
    pass


def _parse_line(model: Any, raw: bytes, number: int, options: Dict[str, Any],
                first_line: Dict[str, int]) -> _Job:
    try:
        record = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise _LineProblem(f"not UTF-8 text ({e.reason} at byte {e.start})") from None
    except json.JSONDecodeError as e:
        raise _LineProblem(f"not valid JSON: {e.msg} at column {e.colno}") from None
    if not isinstance(record, dict):
        raise _LineProblem(f'expected a JSON object {{"id": ..., "prompt": ...}}, got {type(record).__name__}')
    for key in _LINE_KEYS:
        if key not in record:
            raise _LineProblem(f'missing key "{key}"')
    job_id = record["id"]
    if isinstance(job_id, bool) or not isinstance(job_id, (str, int)):
        raise _LineProblem(f'"id" must be a string or an integer, got {json.dumps(job_id)}')
    key = _key(job_id)
    if key in first_line:
        raise _LineProblem(f"duplicate id {key} (first on line {first_line[key]})")
    first_line[key] = number
    prompt = record["prompt"]
    if not isinstance(prompt, str) or not prompt:
        raise _LineProblem(f'"prompt" must be a non-empty string, got {json.dumps(prompt)[:80]}')
    unknown = [k for k in record if k not in _LINE_KEYS and k not in _LINE_OPTIONS]
    if unknown:
        raise _LineProblem(f'unknown key "{unknown[0]}"; a line holds "id", "prompt" and generate options: '
                           f"{', '.join(_LINE_OPTIONS)}")
    line_options = {k: v for k, v in record.items() if k not in _LINE_KEYS}
    if isinstance(line_options.get("logit_bias"), dict):  # JSON object keys are strings: {"50256": -100}
        line_options["logit_bias"] = {_int_key(k): v for k, v in line_options["logit_bias"].items()}
    merged = {**options, **line_options}
    try:
        _check_options(model, merged)
    except (TypeError, ValueError) as e:
        raise _LineProblem(str(e)) from None
    n_tokens = len(model.tokenizer.encode(prompt))
    if n_tokens > model.n_positions:
        raise _LineProblem(f"the prompt has {n_tokens} tokens, longer than the model's context "
                           f"n_positions={model.n_positions}")
    return _Job(number, job_id, prompt, n_tokens, merged)


def _check_options(model: Any, options: Dict[str, Any]) -> None:
    """TypeError / ValueError naming the option, as generate would raise them."""
    parse_options(model, options)
    seed = options.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**64):
        raise ValueError(f"seed must be an integer in [0, 2**64), got {seed!r}")


def _int_key(key: str) -> Any:
    try:
        return int(key)
    except ValueError:
        return key  # left for the option check to reject with its own message


def _key(job_id: Union[str, int]) -> str:
    """Ids compare by their JSON text: 7 and "7" are different ids."""
    return json.dumps(job_id)


def _finished_ids(path: str, say: Callable[[str], None]) -> Set[str]:
    """The ids (as _key) of the results already in the output; removes a last line cut off by a kill.
    Raises BatchError, changing nothing, when the file holds anything else."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return set()
    except OSError as e:
        raise BatchError(f"cannot read the output: {e}") from None
    end = data.rfind(b"\n") + 1
    lines = data[:end].split(b"\n")[:-1]
    ids = set()
    for number, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        record = _result(raw)
        if record is None:
            raise BatchError(f"{path}, line {number}: not a result line of a batch job; give another output "
                             "file or remove the line")
        ids.add(_key(record["id"]))
    tail = data[end:]
    if tail:
        # A result line is written whole, so a tail without its newline is one cut off by a kill.
        if not (tail.startswith(_RESULT_START) or _RESULT_START.startswith(tail)):
            raise BatchError(f"{path}, line {len(lines) + 1}: not a result line of a batch job; give another "
                             "output file or remove the line")
        try:
            with open(path, "r+b") as f:
                f.truncate(end)
                os.fsync(f.fileno())
        except OSError as e:
            raise BatchError(f"cannot remove the cut-off last line of the output: {e}") from None
        say(f"{path}: removed a cut-off last line ({len(tail)} bytes) left by an interrupted run")
    return ids


# How every result line starts: json.dumps of a dict whose first key is "id".
_RESULT_START = b'{"id": '


def _result(raw: bytes) -> Optional[Dict[str, Any]]:
    """The result a complete output line holds, or None if it is not one."""
    try:
        record = json.loads(raw)
    except ValueError:
        return None
    ok = isinstance(record, dict) and "completion" in record and isinstance(record.get("id"), (str, int))
    return record if ok else None


class _ResultWriter:
    """Appends result lines: one os.write of a complete line each, so a kill never leaves half a line
    followed by more lines (a cut-off line can only be the last one, and the next run removes it)."""

    def __init__(self, path: str) -> None:
        try:
            self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as e:
            raise BatchError(f"cannot open the output: {e}") from None
        self.ids: Set[str] = set()
        self.last_sync = time.monotonic()

    def write(self, result: Dict[str, Any]) -> None:
        # ASCII JSON: no character inside a line that a reader could take for a line break.
        data = (json.dumps(result) + "\n").encode("ascii")
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view):]
        self.ids.add(_key(result["id"]))
        if time.monotonic() - self.last_sync >= _FSYNC_INTERVAL_S:
            os.fsync(self.fd)
            self.last_sync = time.monotonic()

    def __enter__(self) -> "_ResultWriter":
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            os.fsync(self.fd)
        finally:
            os.close(self.fd)
