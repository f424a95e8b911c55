"""Live progress of a running execution: layers and splits done, running and failed.

The engine calls its observer after every step (the completions of one
wait, then what they let start), which for a foreach layer of 100,000 splits
can mean 100,000 calls. :class:`Progress` is that
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

What it counts: a split is *running* once its task runs (on Ray: its inputs exist
and a node has room for it, as far as the nodes' resources tell; see
:meth:`laminar.engine.snapshot.Snapshot.running`), *queued* until then; a layer
that failed counts as failed, never as done; the total of splits grows as
layers open (a ``+`` says some have not yet: a fan-out's size is known when its
layer opens).

While a terminal shows it, text written to ``sys.stdout`` and ``sys.stderr``
(``print``, Ray's worker lines, ``logging`` handlers that write to either)
appears above it instead of tearing it.

>>> rows = [Row("Hello", "finished", 1, 1), Row("Split", "running", 10, 4, running=2, queued=3, failed=1, retries=2)]
>>> print(headline("Greet", "run-1", rows, elapsed=75.5))
Greet run-1 (1m16s): 1/2 layers finished, 5/11 splits done, 2 running, 3 queued, 1 failed, 2 retried

Splits taken from the cache (:mod:`laminar.cache`) are done, and counted as cached too:

>>> print(headline("Greet", "run-2", [Row("Hello", "finished", 1, 1, cached=1)]))
Greet run-2: 1/1 layers finished, 1/1 splits done, 0 running, 0 queued, 0 failed, 1 cached
"""

from __future__ import annotations

import contextlib
import html
import logging
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
    running: int = 0
    queued: int = 0  # started and not running (waiting for inputs, a node, or a retry's delay)
    failed: int = 0
    retries: int = 0
    cached: int = 0  # finished splits taken from the cache (counted in ``finished`` too)


def rows(snapshot: Snapshot) -> list[Row]:
    """Every layer of a running execution, in graph order."""
    running = snapshot.running()
    found = []
    for name, layer in snapshot.layers.items():
        phase = str(layer.phase.value)
        runs = min(running.get(name, 0), layer.active)
        found.append(
            Row(
                name,
                _PHASES.get(phase, phase),
                layer.total,
                layer.finished,
                running=runs,
                queued=layer.active - runs,
                failed=layer.failed,
                retries=layer.retries,
                cached=layer.cached,
            )
        )
    return found


def elapsed_text(seconds: float) -> str:
    """``seconds`` as a short duration: 4.2s, 1m16s, 2h03m.

    >>> elapsed_text(4.24), elapsed_text(75.5), elapsed_text(7380)
    ('4.2s', '1m16s', '2h03m')
    """
    if seconds < 60:
        return f"{seconds:.1f}s"
    if seconds < 3600:
        minutes, rest = divmod(round(seconds), 60)
        return f"{minutes}m{rest:02d}s"
    hours, rest = divmod(round(seconds) // 60, 60)
    return f"{hours}h{rest:02d}m"


def headline(flow: str, execution: str, rows: Sequence[Row], elapsed: float | None = None) -> str:
    """One line summing up ``rows`` (and how long the run has taken, if given)."""
    finished = sum(row.phase in ("finished", "skipped") for row in rows)
    failed_layers = sum(row.phase == "failed" for row in rows)
    done = sum(row.finished for row in rows)
    total = sum(row.total for row in rows)
    more = "+" if any(row.phase == "pending" for row in rows) else ""
    running = sum(row.running for row in rows)
    queued = sum(row.queued for row in rows)
    failed = sum(row.failed for row in rows)
    retries = sum(row.retries for row in rows)
    cached = sum(row.cached for row in rows)
    when = f" ({elapsed_text(elapsed)})" if elapsed is not None else ""
    layers = f"{finished}/{len(rows)} layers finished" + (f", {failed_layers} failed" if failed_layers else "")
    line = f"{flow} {execution}{when}: {layers}, {done}/{total}{more} splits done, {running} running, "
    line += f"{queued} queued, {failed} failed"
    return line + (f", {retries} retried" if retries else "") + (f", {cached} cached" if cached else "")


class Display(Protocol):
    """Where progress is drawn."""

    def draw(self, title: str, rows: Sequence[Row]) -> None: ...

    def close(self) -> None: ...


class Terminal:
    """A ``rich`` live table, redrawn in place only when :class:`Progress` asks.

    While it is live, ``sys.stdout`` and ``sys.stderr`` write above it (rich's redirection), and so do
    ``logging`` handlers that held either stream when it started (they are pointed at the redirected
    stream until it stops)."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        from rich.console import Console
        from rich.live import Live

        self.console = Console(file=stream or sys.stdout)
        self._live = Live(console=self.console, auto_refresh=False, transient=False)
        self._started = False
        self._handlers: list[tuple[logging.StreamHandler[Any], Any]] = []

    @staticmethod
    def table(title: str, rows: Sequence[Row]) -> Any:
        from rich.console import Group
        from rich.progress_bar import ProgressBar
        from rich.table import Table
        from rich.text import Text

        table = Table(box=None, padding=(0, 1))
        for column in COLUMNS:
            table.add_column(column, justify="left" if column in ("layer", "state", "") else "right")
        styles = {"finished": "green", "skipped": "bright_black", "failed": "red", "running": "blue"}
        for row in rows:
            bar = ProgressBar(total=row.total, completed=row.finished, width=24) if row.total else ""
            table.add_row(
                row.name,
                f"[{styles.get(row.phase, 'default')}]{row.phase}[/]",
                bar,
                *_counts(row, failed=f"[red]{row.failed}[/]" if row.failed else ""),
            )
        return Group(Text(title, style="bold", overflow="fold"), table)

    def start(self) -> None:
        """Go live: from now on output written to the terminal goes above the table."""
        if self._started:
            return
        before = (sys.stdout, sys.stderr)
        self._live.start()
        self._started = True
        for handler in _stream_handlers():
            if handler.stream is before[0] or handler.stream is before[1]:
                self._handlers.append((handler, handler.stream))
                handler.setStream(_Current("stderr" if handler.stream is before[1] else "stdout"))

    def draw(self, title: str, rows: Sequence[Row]) -> None:
        self.start()
        self._live.update(self.table(title, rows), refresh=True)

    def close(self) -> None:
        for handler, stream in self._handlers:
            handler.setStream(stream)
        self._handlers.clear()
        if self._started:
            self._live.stop()
            if not self.console.is_terminal:  # rich leaves the cursor at the end of the last row there
                self.console.line()


COLUMNS = ("layer", "state", "", "done", "running", "queued", "failed", "retried")


def _counts(row: Row, *, failed: str) -> list[str]:
    """A row's cells after its bar: done, running, queued, failed (as given), retried; empty for zero."""
    done = f"{row.finished}/{row.total}" if row.total else ""
    return [done, str(row.running or ""), str(row.queued or ""), failed, str(row.retries or "")]


def _stream_handlers() -> list[logging.StreamHandler[Any]]:
    """Every ``logging.StreamHandler`` of the root logger and the loggers made so far (not file handlers)."""
    loggers = [logging.getLogger(), *(logger for logger in logging.Logger.manager.loggerDict.values()
                                      if isinstance(logger, logging.Logger))]  # fmt: skip
    return [
        handler
        for logger in loggers
        for handler in logger.handlers
        if type(handler) is logging.StreamHandler  # a subclass (a FileHandler) writes elsewhere
    ]


class _Current:
    """``sys.stdout`` or ``sys.stderr`` as it is at each write (a Thread session routes it by thread, so that
    a split's log records are its own output)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def write(self, text: str) -> int:
        return int(getattr(sys, self.name).write(text))

    def flush(self) -> None:
        getattr(sys, self.name).flush()


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A logging handler that writes to whatever ``sys.stderr`` is when a record comes (under a live
    progress display: above it), not the stream it was made with."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def table_html(title: str, rows: Sequence[Row]) -> str:
    """Progress as an HTML table with one bar per layer (for Jupyter)."""
    lines = [f"<div><strong>{html.escape(title)}</strong><table>"]
    lines.append("<tr>" + "".join(f"<th>{column}</th>" for column in COLUMNS) + "</tr>")
    for row in rows:
        fill, text = COLOURS.get(row.phase, COLOURS["pending"])
        bar = f'<progress value="{row.finished}" max="{row.total}"></progress>' if row.total else ""
        cells = [html.escape(row.name), html.escape(row.phase), bar, *_counts(row, failed=str(row.failed or ""))]
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

    ``observer``, if given, is still called on every step. ``start()`` shows it before the first
    change (a terminal then takes over the output streams, before a Thread session routes them);
    ``close()`` draws the final state.
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
        self._began = clock()
        self._next = float("-inf")
        self._snapshot: Snapshot | None = None
        self._drawn = True

    def start(self) -> None:
        self.display.draw(f"{self.flow} {self.execution}: starting", [])

    def __call__(self, snapshot: Snapshot) -> None:
        if self.observer is not None:
            self.observer(snapshot)
        self._snapshot = snapshot
        self._drawn = False
        now = self.clock()
        if now >= self._next:
            self._next = now + self.interval
            self._draw(now)

    def _draw(self, now: float) -> None:
        if self._snapshot is None:
            return
        found = rows(self._snapshot)
        self.display.draw(headline(self.flow, self.execution, found, elapsed=now - self._began), found)
        self._drawn = True

    def close(self) -> None:
        if not self._drawn:
            self._draw(self.clock())
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
        shown.start()
        yield shown
    finally:
        shown.close()
