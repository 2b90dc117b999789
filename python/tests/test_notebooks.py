"""The example notebooks run top to bottom against a real server, as a user would run them."""

from __future__ import annotations

import nbformat
import pytest
from nbclient import NotebookClient

from support import REPO_ROOT

NOTEBOOKS = REPO_ROOT / "examples" / "notebooks"


@pytest.mark.parametrize("name", ["penguins.ipynb"])
def test_notebook_runs_top_to_bottom(slipway_all, monkeypatch, name):
    monkeypatch.setenv("SLIPWAY_SERVER", slipway_all.base_url)
    monkeypatch.delenv("SLIPWAY_TOKEN", raising=False)
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    NotebookClient(
        notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}
    ).execute()
    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    assert not [output for output in outputs if output.output_type == "error"]
    # The last cell shows staging's history: the promotion that put the pushed version there.
    history = notebook.cells[-1].outputs[-1]["data"]["text/plain"]
    assert "promotion" in history and "notebook run" in history
