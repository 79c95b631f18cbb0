"""The quickstart notebook runs top to bottom in a real Jupyter kernel started on this
interpreter (so it imports this checkout's madebate), from an empty working directory, and its
last code cell shows the run report as HTML."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "quickstart.ipynb"
KERNEL = "madebate-test-python"


@pytest.fixture
def kernel_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A kernelspec of our own, first on JUPYTER_PATH, that starts this very interpreter:
    whatever kernels the machine has registered, the notebook runs on this venv."""
    spec_dir = tmp_path / "jupyter" / "kernels" / KERNEL
    spec_dir.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "madebate tests",
        "language": "python",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    # No user profile or startup scripts, and nothing written outside tmp_path.
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    monkeypatch.setenv("MADEBATE_CACHE", str(tmp_path / "calls.sqlite"))
    monkeypatch.setenv("MADEBATE_RUNS", str(tmp_path / "runs"))
    return KERNEL


def test_notebook_is_stored_without_outputs() -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    assert nb.nbformat == 4
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]


def test_quickstart_notebook_runs(kernel_name: str, tmp_path: Path) -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    workdir = tmp_path / "work"
    workdir.mkdir()
    client = NotebookClient(
        nb,
        kernel_name=kernel_name,
        timeout=120,
        allow_errors=False,  # any cell error raises CellExecutionError
        resources={"metadata": {"path": str(workdir)}},
    )
    client.execute()

    code = [c for c in nb.cells if c.cell_type == "code"]
    for cell in code:
        errors = [o for o in cell.outputs if o.output_type == "error"]
        assert not errors, errors
    text = "".join(o.get("text", "") for c in code for o in c.outputs if o.output_type == "stream")
    assert "stop reason:" in text and "turn 1 A1" in text  # the discussion and its transcript
    assert text.count("paradigm=") >= 4  # the four cells of the sweep

    report = code[-1]
    assert "report()" in report.source
    html = [
        o["data"]["text/html"]
        for o in report.outputs
        if o.output_type == "execute_result" and "text/html" in o.get("data", {})
    ]
    assert html and html[0].strip(), f"the report cell showed no HTML: {report.outputs}"
    # The notebook writes only to its temporary folder, never to its working directory.
    assert list(workdir.iterdir()) == []
