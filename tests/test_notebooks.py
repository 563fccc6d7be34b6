"""The notebooks in notebooks/ run top to bottom, as a reader runs them: in a Jupyter kernel, on the bundled
model, with no network. A failing cell fails the test with its source and traceback."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

import gptcore

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
EXPECTED = ["01-quickstart.ipynb", "02-batch-generation.ipynb", "03-inside-the-model.ipynb"]


def test_every_notebook_is_tested():
    """A notebook added or renamed must show up here, not silently go untested."""
    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == EXPECTED


@pytest.fixture
def kernel_name(tmp_path, monkeypatch) -> str:
    """A kernel running this interpreter and importing the gptcore under test (installed, or a source tree on
    PYTHONPATH: the kernel runs in notebooks/, where a relative path would miss it), whatever "python3"
    kernel spec the machine has."""
    package_parent = str(Path(gptcore.__file__).resolve().parents[1])
    spec = tmp_path / "kernels" / "gptcore-tests"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "env": {"PYTHONPATH": os.pathsep.join(filter(None, [package_parent, os.environ.get("PYTHONPATH")]))},
        "display_name": "gptcore tests", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path))
    return "gptcore-tests"


@pytest.mark.parametrize("name", EXPECTED)
def test_notebook_runs(name, kernel_name):
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = NotebookClient(notebook, timeout=600, kernel_name=kernel_name,
                            resources={"metadata": {"path": str(NOTEBOOKS)}})  # cells run in notebooks/
    error = None
    try:
        client.execute()
    except CellExecutionError as e:
        error = re.sub(r"\x1b\[[0-9;]*m", "", str(e))  # the traceback without terminal colours
    if error:
        pytest.fail(f"{name}: {error}", pytrace=False)
