"""The notebooks run top to bottom on a real Jupyter kernel (this interpreter), on a local Ray; exported
with nbconvert to HTML, they show laminar's SVG drawings (no Mermaid source, no JavaScript needed)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient
from nbconvert import HTMLExporter

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


SVG = re.compile(r'<svg [^>]*class="laminar-graph"')  # nbconvert sorts attributes


def exported(notebook: Any) -> str:
    """The executed notebook as nbconvert's HTML, which shows each output's richest type (text/html)."""
    body, _ = HTMLExporter().from_notebook_node(notebook)
    return str(body)


def test_exported_html_draws_flows_and_executions_as_svg(kernel: str, tmp_path: Path) -> None:
    cells = [
        "from laminar import Flow, Layer\n"
        "from laminar.configurations import datastores, executors, layers\n\n"
        "class Small(Flow): ...\n\n"
        "@Small.register\n"
        "class Items(Layer):\n"
        "    def __call__(self) -> None:\n"
        "        self.shard(n=range(3))\n\n"
        "@Small.register(foreach=layers.ForEach(parameters=[layers.Parameter(layer=Items, attribute='n')]))\n"
        "class Double(Layer):\n"
        "    def __call__(self, items: Items) -> None:\n"
        "        self.y = 2 * items.n",
        "flow = Small(datastore=datastores.Local(root='store'), executor=executors.Thread())\nflow",
        "execution = flow(progress=False)\nexecution",
    ]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in cells])
    client = NotebookClient(notebook, kernel_name=kernel, timeout=120, resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    page = exported(notebook)
    assert len(SVG.findall(page)) == 2  # the flow, then the execution
    assert re.search(r'<g class="layer state-finished foreach" data-layer="Double"', page) and "3/3" in page
    assert page.count('class="laminar-finished"') == 2  # the execution's table, beside its picture
    assert "stateDiagram-v2" not in page  # the SVG is shown, not Mermaid source


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
    assert graph["data"]["text/html"].startswith('<div class="laminar-display"><svg class="laminar-graph"')

    progress = [o for o in outputs(by_source["execution = flow(count=20)"]) if o["output_type"] == "display_data"]
    assert len(progress) == 1  # one output, updated in place
    assert "<progress" in progress[0]["data"]["text/html"]
    assert (
        "): 3/3 layers finished, 22/22 splits done, 0 running, 0 queued, 0 failed" in progress[0]["data"]["text/plain"]
    )

    (table,) = outputs(by_source["execution"])
    assert table["data"]["text/html"].count('class="laminar-finished"') == 3

    printed = "".join(
        o.get("text", "") for o in outputs(by_source['print(f"total = {total}; first squares: {squares[:5]}")'])
    )
    assert "total = 2470; first squares: [0, 1, 4, 9, 16]" in printed
    assert (tmp_path / ".laminar" / "flows" / "Quickstart").is_dir()

    failing = "".join(o.get("text", "") for o in outputs(by_source['    print(f"the run failed: {error!r}")']))
    assert "the run failed: ZeroDivisionError('division by zero')" in failing
    read = "".join(o.get("text", "") for o in outputs(by_source["print(failed.traceback)"]))
    assert "split 1 failed on attempt 1; it printed 'inverting 0\\n'" in read
    # the cell's own line, though the split ran in a Ray worker that never had the cell's source
    assert "in __call__\n    self.y = 1 / inputs.x\nZeroDivisionError: division by zero" in read

    page = exported(notebook)
    assert len(SVG.findall(page)) == 2 and "stateDiagram-v2" not in page
