"""The live progress display: when it shows, what it shows, and how often it draws."""

from __future__ import annotations

import io
from collections.abc import Sequence

import pytest

from laminar import Flow, Layer
from laminar.configurations import datastores, executors, layers
from laminar.display.progress import ENV, Progress, Row, Terminal, table_html, wanted
from laminar.engine.snapshot import Snapshot


class Many(Flow): ...


@Many.register
class Numbers(Layer):
    def __call__(self) -> None:
        self.shard(n=range(300))


@Many.register(foreach=layers.ForEach(parameters=[layers.Parameter(layer=Numbers, attribute="n")]))
class Double(Layer):
    def __call__(self, numbers: Numbers) -> None:
        self.m = numbers.n * 2


class Recorder:
    """A display that keeps what it was asked to draw."""

    def __init__(self) -> None:
        self.frames: list[tuple[str, list[Row]]] = []
        self.closed = False

    def draw(self, title: str, rows: Sequence[Row]) -> None:
        self.frames.append((title, list(rows)))

    def close(self) -> None:
        self.closed = True


def run(progress: Progress) -> None:
    flow = Many(datastore=datastores.Memory(), executor=executors.Thread(workers=4))
    try:
        flow(execution="many", observer=progress, progress=False)
    finally:
        progress.close()


def test_draws_once_per_interval_however_many_completions() -> None:
    calls: list[Snapshot] = []
    display = Recorder()
    progress = Progress(display, flow="Many", execution="many", observer=calls.append, clock=lambda: 0.0)
    run(progress)
    assert len(calls) > len(display.frames)  # the observer it wraps still sees every step
    assert calls[-1].layers["Double"].finished == 300 and not calls[-1].in_flight  # the last: the end
    assert len(display.frames) == 2  # the first call, then the final state on close
    assert display.closed
    title, rows = display.frames[-1]
    assert title.startswith("Many many (") and title.endswith(
        "): 2/2 layers finished, 301/301 splits done, 0 running, 0 queued, 0 failed"
    )
    assert rows == [Row("Numbers", "finished", 1, 1), Row("Double", "finished", 300, 300)]


def test_draws_again_when_the_interval_passed() -> None:
    ticks = iter(range(100_000))
    display = Recorder()
    calls: list[Snapshot] = []
    progress = Progress(
        display, flow="Many", execution="many", interval=1.0, observer=calls.append, clock=lambda: float(next(ticks))
    )
    run(progress)
    assert len(display.frames) == len(calls) > 10  # every call is a new second here: each draws
    running = [rows[1] for _, rows in display.frames if rows[1].phase == "running"]
    assert running and all(0 < row.running + row.queued + row.finished <= 300 for row in running)
    assert all(row.running <= 4 for row in running)  # four threads run at most four splits at once


def test_terminal_table_names_layers_states_and_counts() -> None:
    out = io.StringIO()
    terminal = Terminal(out)
    terminal.console.width = 120
    terminal.draw(
        "Many run: 1/2 layers",
        [Row("Numbers", "finished", 1, 1), Row("Double", "running", 8, 3, running=2, queued=2, failed=1)],
    )
    terminal.close()
    text = out.getvalue()
    assert "Many run: 1/2 layers" in text
    assert "Numbers" in text and "finished" in text
    assert "Double" in text and "running" in text and "3/8" in text


def test_html_table_has_a_bar_per_layer_with_splits() -> None:
    text = table_html("t", [Row("Double", "running", 8, 3, running=2, failed=1), Row("Later", "pending", 0, 0)])
    assert '<progress value="3" max="8"></progress>' in text
    assert text.count("<progress") == 1


class FakeStream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def test_shown_in_a_terminal_quiet_in_a_pipe_and_switchable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)
    assert wanted(None, FakeStream(tty=True))
    assert not wanted(None, FakeStream(tty=False))
    assert not wanted(False, FakeStream(tty=True))
    assert wanted(True, FakeStream(tty=False))
    monkeypatch.setenv(ENV, "0")
    assert not wanted(None, FakeStream(tty=True))
    assert wanted(True, FakeStream(tty=True))  # an explicit argument wins over the environment
    monkeypatch.setenv(ENV, "1")
    assert wanted(None, FakeStream(tty=False))


def test_flow_call_draws_progress_only_when_asked(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # the headline on one line
    flow = Many(datastore=datastores.Memory(), executor=executors.Thread())
    flow(progress=False)
    assert capsys.readouterr().out == ""
    flow(progress=None)  # pytest's captured stdout is not a terminal
    assert capsys.readouterr().out == ""
    execution = flow(progress=True)
    out = capsys.readouterr().out
    assert "): 2/2 layers finished, 301/301 splits done" in out and f"Many {execution.id} (" in out
    assert "Double" in out
