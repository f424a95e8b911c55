"""The notebooks run top to bottom on a real Jupyter kernel (this interpreter), on a local Ray."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


@pytest.fixture
def kernel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A kernelspec for this interpreter in a temporary JUPYTER_PATH (nothing installed for the user)."""
    spec = tmp_path / "jupyter" / "kernels" / "laminar-test"
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "laminar", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.delenv("LAMINAR_PROGRESS", raising=False)
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    return "laminar-test"


def outputs(cell: Any) -> list[dict[str, Any]]:
    return [dict(output) for output in cell.get("outputs", [])]


def test_outputs_are_stripped_in_git() -> None:
    for path in NOTEBOOKS.glob("*.ipynb"):
        notebook = nbformat.read(path, as_version=4)
        assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code"), path
        assert all(cell.get("execution_count") is None for cell in notebook.cells if cell.cell_type == "code"), path


@pytest.mark.slow
def test_quickstart_runs_on_ray_with_progress_graph_and_results(kernel: str, tmp_path: Path) -> None:
    notebook = nbformat.read(NOTEBOOKS / "quickstart.ipynb", as_version=4)
    client = NotebookClient(notebook, kernel_name=kernel, timeout=240, resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    by_source = {cell.source.splitlines()[-1]: cell for cell in code}

    (graph,) = outputs(by_source["flow"])
    assert graph["data"]["text/markdown"].startswith("```mermaid\nstateDiagram-v2\n    state Quickstart {")
    assert "Square_join --> Total" in graph["data"]["text/vnd.mermaid"]

    progress = [o for o in outputs(by_source["execution = flow(count=20)"]) if o["output_type"] == "display_data"]
    assert len(progress) == 1  # one output, updated in place
    assert "<progress" in progress[0]["data"]["text/html"]
    assert ": 3/3 layers, 22/22 splits done, 0 running, 0 failed" in progress[0]["data"]["text/plain"]

    (table,) = outputs(by_source["execution"])
    assert table["data"]["text/html"].count('class="laminar-finished"') == 3

    printed = "".join(
        o.get("text", "") for o in outputs(by_source['print(f"total = {total}; first squares: {squares[:5]}")'])
    )
    assert "total = 2470; first squares: [0, 1, 4, 9, 16]" in printed
    assert (tmp_path / ".laminar" / "flows" / "Quickstart").is_dir()
