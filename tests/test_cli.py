"""The command line (through subprocesses, as a user runs it) and the resumable batch job, on the bundled model."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import gptcore
from gptcore.batch import BatchError, run_batch
from gptcore.cli import _parser

BUNDLED = Path(gptcore.__file__).parent / "models" / "kjv-small"
ENV = dict(os.environ, HF_HUB_OFFLINE="1", GPTCORE_NUM_THREADS="1")
RESULT_KEYS = {"id", "completion", "prompt_tokens", "completion_tokens", "finish_reason"}


def gptcore_cli(*args: str, timeout: float = 120, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gptcore", *args], capture_output=True, text=True, env=ENV,
                          timeout=timeout, **kwargs)


def default_sigint() -> None:
    """In the child: SIGINT's default disposition. A test run started in the background (`pytest &`) inherits
    SIGINT ignored, and Python then installs no KeyboardInterrupt handler, as a shell's background job expects."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


STARTED: list = []


def start_cli(*args: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "gptcore", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=ENV, preexec_fn=default_sigint)
    STARTED.append(proc)
    return proc


@pytest.fixture(autouse=True)
def no_job_left_behind():
    """A test that fails midway kills the jobs it started instead of leaving them running."""
    yield
    while STARTED:
        proc = STARTED.pop()
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


@pytest.fixture(scope="module")
def model() -> gptcore.GPT:
    if not BUNDLED.is_dir():
        pytest.fail(f"the bundled model is missing at {BUNDLED}")
    return gptcore.GPT.from_pretrained(BUNDLED, n_threads=1)


def write_jsonl(path: Path, lines) -> Path:
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    return path


def read_results(path: Path) -> list:
    """The output's lines, each required to be one complete JSON result."""
    data = path.read_text()
    assert data.endswith("\n"), "the output ends with a cut-off line"
    results = [json.loads(line) for line in data.splitlines()]
    for result in results:
        assert set(result) == RESULT_KEYS, result
    return results


def prompts(n: int) -> list:
    return [{"id": f"v{i}", "prompt": f"Chapter {i}, verse {i % 7 + 1}: And"} for i in range(n)]


# --- help and usage -------------------------------------------------------------------------------------------

GENERATION_OPTIONS = ["--model", "--threads", "--max-new-tokens", "--min-new-tokens", "--do-sample", "--temperature",
                      "--top-k", "--top-p", "--min-p", "--repetition-penalty", "--seed", "--stop", "--debug"]
COMMAND_OPTIONS = {
    "generate": GENERATION_OPTIONS + ["PROMPT", "--stream", "--no-stream"],
    "batch": GENERATION_OPTIONS + ["INPUT", "--output", "--batch-size", "--progress", "--no-progress"],
}


@pytest.mark.parametrize("command", sorted(COMMAND_OPTIONS))
def test_help_of_each_command_describes_every_option(command):
    done = gptcore_cli(command, "--help")
    assert done.returncode == 0 and done.stderr == ""
    for option in COMMAND_OPTIONS[command]:
        assert option in done.stdout, f"gptcore {command} --help does not mention {option}"
    commands = next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction))
    for action in commands.choices[command]._actions:
        assert action.help and action.help != "==SUPPRESS==", f"{action.option_strings or action.dest} has no help"


def test_top_level_help_lists_the_commands():
    done = gptcore_cli("--help")
    assert done.returncode == 0
    assert "generate" in done.stdout and "batch" in done.stdout and "Exit statuses" in done.stdout


@pytest.mark.parametrize("args,message", [
    ([], "COMMAND"),
    (["generate"], "PROMPT"),
    (["batch", "in.jsonl"], "--output"),
    (["generate", "hi", "--max-new-tokens", "many"], "--max-new-tokens"),
    (["generate", "hi", "--temperature", "-1"], "--temperature"),
    (["frobnicate"], "frobnicate"),
])
def test_usage_errors_exit_2_with_a_message(args, message):
    done = gptcore_cli(*args)
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr


# --- generate -------------------------------------------------------------------------------------------------

def test_generate_on_the_bundled_model_offline(model):
    want = model.generate("In the beginning", max_new_tokens=8)
    assert want
    for stream in ("--no-stream", "--stream"):
        done = gptcore_cli("generate", "In the beginning", "--max-new-tokens", "8", stream)
        assert done.returncode == 0, done.stderr
        assert done.stdout == want + "\n"
    done = gptcore_cli("generate", "-", "--max-new-tokens", "8", input="In the beginning")
    assert done.returncode == 0 and done.stdout == want + "\n"


def test_generate_sampling_options_reach_the_model(model):
    want = model.generate("And God said", max_new_tokens=6, do_sample=True, temperature=0.7, top_k=40, seed=3)
    done = gptcore_cli("generate", "And God said", "--max-new-tokens", "6", "--temperature", "0.7", "--top-k", "40",
                       "--seed", "3", "--model", str(BUNDLED))
    assert done.returncode == 0 and done.stdout == want + "\n"
    assert want != model.generate("And God said", max_new_tokens=6)  # sampling did happen


def test_generate_bad_model_is_one_clear_line_and_exit_1(tmp_path):
    missing = tmp_path / "no-such-model"
    done = gptcore_cli("generate", "hi", "--model", str(missing))
    assert done.returncode == 1
    assert str(missing) in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_generate_option_out_of_range_exits_2():
    done = gptcore_cli("generate", "hi", "--top-p", "3", "--model", str(BUNDLED))
    assert done.returncode == 2 and "top_p" in done.stderr and "Traceback" not in done.stderr


# --- batch ----------------------------------------------------------------------------------------------------

def test_batch_of_100_prompts_with_one_malformed_line(tmp_path, model):
    lines = prompts(100)
    lines[41] = '{"id": "v41", "prompt": "unterminated'  # line 42
    lines[7]["max_new_tokens"] = 2
    lines[8]["stop"] = [" "]
    src, out = write_jsonl(tmp_path / "in.jsonl", lines), tmp_path / "out.jsonl"
    args = ("batch", str(src), "-o", str(out), "--max-new-tokens", "4", "--batch-size", "16", "--model", str(BUNDLED))
    done = gptcore_cli(*args, "--progress")
    assert done.returncode == 1, done.stderr
    assert "line 42" in done.stderr and "not valid JSON" in done.stderr
    assert "99/99" in done.stderr and "tok/s" in done.stderr  # the progress bar
    results = read_results(out)
    by_id = {r["id"]: r for r in results}
    valid = [line for i, line in enumerate(lines) if i != 41]
    assert len(results) == 99 and set(by_id) == {line["id"] for line in valid}
    for line in (valid[0], valid[50], lines[7], lines[8]):
        options = {k: v for k, v in line.items() if k not in ("id", "prompt")}
        got = model.generate(line["prompt"], return_details=True, **{"max_new_tokens": 4, **options})
        assert by_id[line["id"]]["completion"] == got.text
        assert by_id[line["id"]]["completion_tokens"] == len(got.token_ids)
        assert by_id[line["id"]]["finish_reason"] == got.finish_reason
        assert by_id[line["id"]]["prompt_tokens"] == len(model.tokenizer.encode(line["prompt"]))
    assert by_id["v7"]["completion_tokens"] == 2

    before = out.read_text()
    again = gptcore_cli(*args)  # a rerun skips every finished id; the bad line still fails
    assert again.returncode == 1 and "line 42" in again.stderr
    assert out.read_text() == before


def test_batch_killed_mid_run_resumes_with_one_line_per_id(tmp_path):
    # Enough work (seconds) that the kill lands mid-run even when the test process itself is starved of CPU.
    lines = prompts(120)
    src, out = write_jsonl(tmp_path / "in.jsonl", lines), tmp_path / "out.jsonl"
    args = ("batch", str(src), "-o", str(out), "--max-new-tokens", "32", "--batch-size", "2", "--model", str(BUNDLED))
    job = start_cli(*args)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and job.poll() is None and \
            (not out.exists() or out.read_bytes().count(b"\n") < 3):
        time.sleep(0.02)
    job.send_signal(signal.SIGKILL)
    job.communicate(timeout=30)
    assert job.returncode == -signal.SIGKILL, "the job ended before it could be killed; give it more work"
    n_before = out.read_bytes().count(b"\n")
    assert 3 <= n_before < len(lines)

    done = gptcore_cli(*args)
    assert done.returncode == 0, done.stderr
    results = read_results(out)
    assert sorted(r["id"] for r in results) == sorted(line["id"] for line in lines)
    assert f"{len(lines) - n_before} written now, {n_before} done before" in done.stderr


def test_ctrl_c_stops_a_batch_keeps_its_results_and_exits_130(tmp_path):
    src, out = write_jsonl(tmp_path / "in.jsonl", prompts(400)), tmp_path / "out.jsonl"
    job = start_cli("batch", str(src), "-o", str(out), "--max-new-tokens", "32", "--batch-size", "2",
                    "--model", str(BUNDLED))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and job.poll() is None and (not out.exists() or out.stat().st_size == 0):
        time.sleep(0.02)
    started = time.monotonic()
    job.send_signal(signal.SIGINT)
    _, stderr = job.communicate(timeout=30)
    assert job.returncode == 130 and "rerun the same command" in stderr and "Traceback" not in stderr
    assert time.monotonic() - started < 10
    assert 1 <= len(read_results(out)) < 400


@pytest.mark.parametrize("tail", ['{"id": "v2", "compl', '{"'])
def test_resume_removes_a_cut_off_last_line(tmp_path, model, tail):
    lines = prompts(4)
    src, out = write_jsonl(tmp_path / "in.jsonl", lines), tmp_path / "out.jsonl"
    done = [{"id": f"v{i}", "completion": "x", "prompt_tokens": 1, "completion_tokens": 1, "finish_reason": "length"}
            for i in range(2)]
    out.write_text("".join(json.dumps(r) + "\n" for r in done) + tail)
    messages = []
    summary = run_batch(model, src, out, max_new_tokens=2, progress=False, report=messages.append)
    assert (summary.lines, summary.done_before, summary.written, summary.errors) == (4, 2, 2, [])
    results = read_results(out)
    assert results[:2] == done and sorted(r["id"] for r in results) == ["v0", "v1", "v2", "v3"]
    assert any("cut-off last line" in m for m in messages)


def test_bad_lines_name_the_line_and_the_key(tmp_path, model):
    too_long = " the" * (model.n_positions + 1)
    lines = [
        {"id": 1, "prompt": "good"},
        "[1, 2]",
        {"prompt": "no id"},
        {"id": 2},
        {"id": 1, "prompt": "again"},
        {"id": 3, "prompt": "x", "temprature": 0.5},
        {"id": 4, "prompt": "x", "top_p": 3.0},
        {"id": 5, "prompt": "x", "max_new_tokens": "ten"},
        {"id": 6, "prompt": ""},
        {"id": 7, "prompt": too_long},
        {"id": [8], "prompt": "x"},
        {"id": 9, "prompt": "x", "num_return_sequences": 2},
        {"id": 10, "prompt": "x", "seed": -1},
        "",
        {"id": 11, "prompt": "fine", "logit_bias": {"50256": -100}, "seed": 4, "do_sample": True},
    ]
    src, out = write_jsonl(tmp_path / "in.jsonl", lines), tmp_path / "out.jsonl"
    messages = []
    summary = run_batch(model, src, out, max_new_tokens=1, progress=False, report=messages.append)
    assert not summary.ok and summary.written == 2 and summary.lines == 14
    expected = {2: "JSON object", 3: '"id"', 4: '"prompt"', 5: "duplicate id 1 (first on line 1)",
                6: "temprature", 7: "top_p", 8: "max_new_tokens", 9: '"prompt"', 10: "n_positions",
                11: '"id"', 12: "num_return_sequences", 13: "seed"}
    assert [e.line for e in summary.errors] == sorted(expected)
    for error in summary.errors:
        assert expected[error.line] in error.message, error
        assert any(f"line {error.line}:" in m and error.message in m for m in messages)
    assert sorted(r["id"] for r in read_results(out)) == [1, 11]


@pytest.mark.parametrize("content,line", [
    ("my notes\n", 1),
    ("my notes", 1),                                      # no newline: not a cut-off result either
    ('{"id": "v0", "completion": "x"}\n\nmore notes', 3),
    ('{"id": "v0", "prompt": "an input line"}\n', 1),
])
def test_an_output_that_is_not_results_is_refused_and_left_alone(tmp_path, model, content, line):
    src = write_jsonl(tmp_path / "in.jsonl", prompts(2))
    out = tmp_path / "notes.txt"
    out.write_text(content)
    with pytest.raises(BatchError, match=f"line {line}: not a result line"):
        run_batch(model, src, out, max_new_tokens=1, progress=False)
    assert out.read_text() == content


def test_cli_refuses_an_output_that_is_not_results(tmp_path):
    src = write_jsonl(tmp_path / "in.jsonl", prompts(2))
    out = tmp_path / "notes.txt"
    out.write_text("my notes\n")
    done = gptcore_cli("batch", str(src), "-o", str(out), "--model", str(BUNDLED))
    assert done.returncode == 1 and "not a result line" in done.stderr and "Traceback" not in done.stderr


def test_batch_missing_input_exits_1(tmp_path):
    done = gptcore_cli("batch", str(tmp_path / "absent.jsonl"), "-o", str(tmp_path / "out.jsonl"),
                       "--model", str(BUNDLED))
    assert done.returncode == 1 and "absent.jsonl" in done.stderr and "Traceback" not in done.stderr


def test_a_batch_that_fails_to_generate_fails_its_lines_and_the_job_goes_on(tmp_path, model, monkeypatch):
    import gptcore.batch

    real = gptcore.batch.generate_as_completed

    def failing(model, prompts, **options):
        if any("boom" in p for p in prompts):
            raise RuntimeError("native failure")
        return real(model, prompts, **options)

    monkeypatch.setattr(gptcore.batch, "generate_as_completed", failing)
    lines = prompts(6)
    lines[3]["prompt"] = "boom"
    src, out = write_jsonl(tmp_path / "in.jsonl", lines), tmp_path / "out.jsonl"
    messages = []
    summary = run_batch(model, src, out, max_new_tokens=1, batch_size=2, progress=False, report=messages.append)
    assert [e.line for e in summary.errors] == [3, 4] and not summary.ok
    assert all("native failure" in e.message for e in summary.errors)
    assert sorted(r["id"] for r in read_results(out)) == ["v0", "v1", "v4", "v5"]
    assert any("line 4: id 'v3': generation failed: native failure" in m for m in messages)
