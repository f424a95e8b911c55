"""What Jupyter shows for a flow and an execution (``_repr_mimebundle_``): laminar's own SVG, so it
renders offline everywhere.

Classic Notebook, JupyterLab, VS Code and nbconvert's HTML all show ``text/html`` first; it holds the
inline SVG (and, for an execution, the table of its layers beside it). ``image/svg+xml`` is there for
front ends that prefer pictures, and the Mermaid text (``text/markdown``, ``text/vnd.mermaid``) for
those that draw Mermaid.
"""

from __future__ import annotations

import html
import time
from collections.abc import Sequence

from laminar.display import report, svg
from laminar.display.mermaid import execution_mermaid, mermaid
from laminar.display.model import ExecutionView, graph_view
from laminar.display.style import COLOURS
from laminar.display.summary import LayerSummary, status
from laminar.graph import Graph


def _duration(seconds: float | None) -> str:
    return "" if seconds is None else f"{seconds:.2f}s"


def _when(stamp: float | None) -> str:
    return "" if stamp is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp))


def execution_html(title: str, rows: Sequence[LayerSummary]) -> str:
    """An HTML table of an execution's layers, each row coloured by its phase."""
    head = "".join(f"<th>{h}</th>" for h in ("layer", "state", "splits", "artifacts", "started", "duration"))
    body = []
    for row in rows:
        fill, text = COLOURS.get(row.phase, COLOURS["pending"])
        state = row.phase if row.error is None else f"{row.phase}: {row.error}"
        cells = (
            row.name,
            state,
            "" if row.splits is None else str(row.splits),
            ", ".join(row.artifacts),
            _when(row.started),
            _duration(row.seconds),
        )
        tds = "".join(f"<td>{html.escape(cell)}</td>" for cell in cells)
        body.append(f'<tr class="laminar-{html.escape(row.phase)}" style="background:{fill};color:{text}">{tds}</tr>')
    heading = html.escape(f"{title}: {status(rows)}")
    return f"<div><strong>{heading}</strong><table><tr>{head}</tr>{''.join(body)}</table></div>"


def _fenced(text: str) -> str:
    return f"```mermaid\n{text}\n```"


def flow_bundle(graph: Graph, plain: str) -> dict[str, str]:
    """Jupyter display data of a flow: its graph as SVG, and as Mermaid text."""
    text = mermaid(graph)
    picture = svg.render(graph_view(graph))
    return {
        "text/html": f'<div class="laminar-display">{picture}</div>',
        "image/svg+xml": svg.namespaced(picture),
        "text/markdown": _fenced(text),
        "text/vnd.mermaid": text,
        "text/plain": plain,
    }


def execution_bundle(
    graph: Graph, rows: Sequence[LayerSummary], title: str, plain: str, view: ExecutionView
) -> dict[str, str]:
    """Jupyter display data of an execution: its graph coloured by state beside the table of its layers,
    and its Mermaid text."""
    picture = svg.render(view.graph, view)
    return {
        "text/html": report.notebook(picture, execution_html(title, rows)),
        "image/svg+xml": svg.namespaced(picture),
        "text/markdown": _fenced(execution_mermaid(graph, rows)),
        "text/plain": plain,
    }
