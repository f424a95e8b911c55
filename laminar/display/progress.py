"""Live progress of a running execution: layers and splits done, running and failed.

The engine calls its observer after every change, which for a foreach
layer of 100,000 splits means 100,000 calls. :class:`Progress` is that
observer: each call only remembers the snapshot and checks a clock; it draws
at most once per ``interval`` and once more at the end, so the cost of a draw
never scales with the number of completions.

Where it draws:

- a terminal: a ``rich`` live table, redrawn in place;
- Jupyter: an HTML table in one output, updated in place;
- anywhere else (stdout is a pipe or a file, e.g. under ``ray job submit``):
  nothing.

``flow(progress=False)`` turns it off for one run, ``progress=True`` forces it
on; the environment variable ``LAMINAR_PROGRESS=0`` (or ``1``) sets the default.

>>> rows = [Row("Hello", "finished", 1, 1, 0, 0), Row("Split", "running", 10, 4, 2, 1)]
>>> print(headline("Greet", "run-1", rows))
Greet run-1: 1/2 layers, 5/11 splits done, 2 running, 1 failed
"""

from __future__ import annotations

import contextlib
import html
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import IO, Any, Protocol

from laminar.display.style import COLOURS
from laminar.engine.snapshot import Observer, Snapshot

ENV = "LAMINAR_PROGRESS"
_OFF = {"0", "false", "no", "off"}
_PHASES = {"waiting": "pending", "deciding": "pending", "open": "running"}


@dataclass(frozen=True)
class Row:
    """One layer's progress: its phase and its split (unit) counts."""

    name: str
    phase: str  # pending, running, finished, skipped or failed
    total: int
    finished: int
    active: int
    failed: int


def rows(snapshot: Snapshot) -> list[Row]:
    """Every layer of a running execution, in graph order."""
    found = []
    for name, layer in snapshot.layers.items():
        phase = str(layer.phase.value)
        found.append(Row(name, _PHASES.get(phase, phase), layer.total, layer.finished, layer.active, layer.failed))
    return found


def headline(flow: str, execution: str, rows: Sequence[Row]) -> str:
    """One line summing up ``rows``."""
    settled = sum(row.phase in ("finished", "skipped", "failed") for row in rows)
    done = sum(row.finished for row in rows)
    total = sum(row.total for row in rows)
    running = sum(row.active for row in rows)
    failed = sum(row.failed for row in rows)
    return (
        f"{flow} {execution}: {settled}/{len(rows)} layers, {done}/{total} splits done, "
        f"{running} running, {failed} failed"
    )


class Display(Protocol):
    """Where progress is drawn."""

    def draw(self, title: str, rows: Sequence[Row]) -> None: ...

    def close(self) -> None: ...


class Terminal:
    """A ``rich`` live table, redrawn in place only when :class:`Progress` asks."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        from rich.console import Console
        from rich.live import Live

        self.console = Console(file=stream or sys.stdout)
        self._live = Live(console=self.console, auto_refresh=False, transient=False)
        self._started = False

    @staticmethod
    def table(title: str, rows: Sequence[Row]) -> Any:
        from rich.console import Group
        from rich.progress_bar import ProgressBar
        from rich.table import Table
        from rich.text import Text

        table = Table(box=None, padding=(0, 1))
        for column in ("layer", "state", "", "done", "running", "failed"):
            table.add_column(column, justify="right" if column in ("done", "running", "failed") else "left")
        styles = {"finished": "green", "skipped": "bright_black", "failed": "red", "running": "blue"}
        for row in rows:
            bar = ProgressBar(total=row.total, completed=row.finished, width=24) if row.total else ""
            table.add_row(
                row.name,
                f"[{styles.get(row.phase, 'default')}]{row.phase}[/]",
                bar,
                f"{row.finished}/{row.total}" if row.total else "",
                str(row.active) if row.active else "",
                f"[red]{row.failed}[/]" if row.failed else "",
            )
        return Group(Text(title, style="bold", no_wrap=True, overflow="ellipsis"), table)

    def draw(self, title: str, rows: Sequence[Row]) -> None:
        if not self._started:
            self._live.start()
            self._started = True
        self._live.update(self.table(title, rows), refresh=True)

    def close(self) -> None:
        if self._started:
            self._live.stop()
            if not self.console.is_terminal:  # rich leaves the cursor at the end of the last row there
                self.console.line()


def table_html(title: str, rows: Sequence[Row]) -> str:
    """Progress as an HTML table with one bar per layer (for Jupyter)."""
    lines = [f"<div><strong>{html.escape(title)}</strong><table>"]
    lines.append("<tr><th>layer</th><th>state</th><th></th><th>done</th><th>running</th><th>failed</th></tr>")
    for row in rows:
        fill, text = COLOURS.get(row.phase, COLOURS["pending"])
        bar = f'<progress value="{row.finished}" max="{row.total}"></progress>' if row.total else ""
        cells = [
            html.escape(row.name),
            html.escape(row.phase),
            bar,
            f"{row.finished}/{row.total}" if row.total else "",
            str(row.active or ""),
            str(row.failed or ""),
        ]
        tds = "".join(f"<td>{cell}</td>" for cell in cells)
        lines.append(f'<tr style="background:{fill};color:{text}">{tds}</tr>')
    lines.append("</table></div>")
    return "".join(lines)


class Jupyter:
    """One output of the running cell, updated in place (no widgets needed)."""

    def __init__(self) -> None:
        self._handle: Any = None

    def draw(self, title: str, rows: Sequence[Row]) -> None:
        from IPython.display import display

        bundle = {"text/html": table_html(title, rows), "text/plain": title}
        if self._handle is None:
            self._handle = display(bundle, raw=True, display_id=True)  # type: ignore[no-untyped-call]
        else:
            self._handle.update(bundle, raw=True)

    def close(self) -> None:
        self._handle = None


class Progress:
    """An execution's observer that draws on ``display`` at most once per ``interval`` seconds.

    ``observer``, if given, is still called on every change. ``close()`` draws
    the final state.
    """

    def __init__(
        self,
        display: Display,
        *,
        flow: str,
        execution: str,
        interval: float = 0.2,
        observer: Observer | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.display = display
        self.flow = flow
        self.execution = execution
        self.interval = interval
        self.observer = observer
        self.clock = clock
        self._next = float("-inf")
        self._snapshot: Snapshot | None = None
        self._drawn = True

    def __call__(self, snapshot: Snapshot) -> None:
        if self.observer is not None:
            self.observer(snapshot)
        self._snapshot = snapshot
        self._drawn = False
        now = self.clock()
        if now >= self._next:
            self._next = now + self.interval
            self._draw()

    def _draw(self) -> None:
        if self._snapshot is None:
            return
        found = rows(self._snapshot)
        self.display.draw(headline(self.flow, self.execution, found), found)
        self._drawn = True

    def close(self) -> None:
        if not self._drawn:
            self._draw()
        self.display.close()


def in_jupyter() -> bool:
    """True inside a Jupyter kernel (checked without importing IPython into plain scripts)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return shell is not None and hasattr(shell, "kernel")


def wanted(requested: bool | None, stream: IO[str] | None = None) -> bool:
    """Whether to show progress: ``requested``, else ``LAMINAR_PROGRESS``, else Jupyter or a terminal."""
    if requested is not None:
        return requested
    setting = os.environ.get(ENV)
    if setting is not None and setting.strip():
        return setting.strip().lower() not in _OFF
    stream = stream or sys.stdout
    return in_jupyter() or (hasattr(stream, "isatty") and stream.isatty())


@contextlib.contextmanager
def observing(
    flow: str, execution: str, *, progress: bool | None = None, observer: Observer | None = None
) -> Iterator[Observer | None]:
    """The observer for one run: ``observer`` wrapped with a progress display when one is wanted."""
    if not wanted(progress):
        yield observer
        return
    display: Display = Jupyter() if in_jupyter() else Terminal()
    shown = Progress(display, flow=flow, execution=execution, observer=observer)
    try:
        yield shown
    finally:
        shown.close()
