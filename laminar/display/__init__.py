"""Pictures of flows and executions: Mermaid text, Jupyter displays, live progress.

Everything here draws from a :class:`~laminar.graph.Graph` and plain data
(layer summaries, progress snapshots); nothing here reads a datastore or
reaches into a running engine.
"""
