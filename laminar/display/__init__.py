"""Pictures of flows and executions: the graph and an execution's timeline as SVG, a self-contained HTML
report, Mermaid text, Jupyter displays, live progress, and ``laminar ui``'s read-only web pages.

Everything here draws from a :class:`~laminar.graph.Graph` and plain data (the views of
:mod:`~laminar.display.model`, layer summaries, progress snapshots); nothing here reads a datastore or
reaches into a running engine: :mod:`laminar.results.views` builds the views from records. See
``docs/ui.md``.
"""
