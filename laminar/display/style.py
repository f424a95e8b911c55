"""Colours shared by every picture: one per layer phase."""

from __future__ import annotations

#: Fill and text colours of each layer phase, shared by the Mermaid classes and the HTML tables.
COLOURS: dict[str, tuple[str, str]] = {
    "finished": ("#d3f0d6", "#1b5e20"),
    "skipped": ("#e6e6e6", "#555555"),
    "failed": ("#f8d0d0", "#b71c1c"),
    "running": ("#d6e6fb", "#0d47a1"),
    "pending": ("#ffffff", "#333333"),
}
