"""``laminar cache ls`` / ``clear``, ``laminar show`` and the HTML report of a cached run, as subprocesses."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

FLOWS = """
from pathlib import Path

from laminar import Flow, Layer, Parameters
from laminar.configurations import datastores, executors, layers

HERE = Path(__file__).parent


class Squares(Flow): ...


@Squares.register(cache=layers.Cache())
class Numbers(Layer):
    def __call__(self, p: Parameters) -> None:
        with open(HERE / "ran", "a") as log:
            log.write("Numbers\\n")
        self.shard(n=range(p.count))


@Squares.register(cache=layers.Cache(), foreach=layers.ForEach([layers.Parameter(layer=Numbers, attribute="n")]))
class Square(Layer):
    def __call__(self, numbers: Numbers) -> None:
        with open(HERE / "ran", "a") as log:
            log.write("Square\\n")
        self.square = numbers.n**2


flow = Squares(datastore=datastores.Local(root=str(HERE / "store")), executor=executors.Thread())
"""


def laminar(cwd: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "laminar.cli", *arguments], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def ran(project: Path) -> list[str]:
    found = sorted((project / "ran").read_text().split()) if (project / "ran").exists() else []
    (project / "ran").unlink(missing_ok=True)
    return found


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "squares.py").write_text(textwrap.dedent(FLOWS))
    return tmp_path


def test_ls_show_report_and_clear(project: Path) -> None:
    store = str(project / "store")
    first = laminar(project, "run", "squares.py:flow", "-p", "count=3", "--execution", "first")
    assert first.returncode == 0, first.stderr
    assert ran(project) == ["Numbers", "Square", "Square", "Square"]
    second = laminar(project, "run", "squares.py:flow", "-p", "count=3", "--execution", "second")
    assert second.returncode == 0, second.stderr
    assert ran(project) == []

    listed = laminar(project, "cache", "ls", "--datastore", store)
    assert listed.returncode == 0, listed.stderr
    rows = [line.split() for line in listed.stdout.splitlines()]
    assert rows[0] == ["FLOW", "LAYER", "KEYS", "ENTRIES", "NEWEST", "FROM", "EXECUTION"]
    assert [(r[0], r[1], r[2], r[3], r[-1]) for r in rows[1:]] == [
        ("Squares", "Numbers", "1", "1", "first"),
        ("Squares", "Square", "3", "3", "first"),
    ]

    shown = laminar(project, "show", "squares.py:flow", "second", "--splits")
    assert shown.returncode == 0, shown.stderr
    assert "  Numbers: its result from the cache (execution first)" in shown.stdout
    assert "  Square: 3 of 3 splits from the cache (execution first)" in shown.stdout
    assert "cached from first" in shown.stdout

    report = laminar(project, "report", "squares.py:flow", "second", "-o", str(project / "run.html"))
    assert report.returncode == 0, report.stderr
    page = (project / "run.html").read_text()
    assert "3 of 3 splits from the cache (execution first)" in page
    assert "cached from first" in page

    cleared = laminar(project, "cache", "clear", "--flow", "Squares", "--layer", "Square", "--datastore", store)
    assert cleared.returncode == 0, cleared.stderr
    assert cleared.stdout.strip().startswith("removed 3 cache keys of Squares.Square from ")
    third = laminar(project, "run", "squares.py:flow", "-p", "count=3")
    assert third.returncode == 0, third.stderr
    assert ran(project) == ["Square", "Square", "Square"]
    refreshed = laminar(project, "run", "squares.py:flow", "-p", "count=3", "--refresh", "Numbers")
    assert refreshed.returncode == 0, refreshed.stderr
    assert ran(project) == ["Numbers"]
    uncached = laminar(project, "run", "squares.py:flow", "-p", "count=3", "--no-cache")
    assert uncached.returncode == 0, uncached.stderr
    assert ran(project) == ["Numbers", "Square", "Square", "Square"]

    everything = laminar(project, "cache", "clear", "--datastore", store)
    assert everything.returncode == 0, everything.stderr
    assert everything.stdout.startswith("removed 4 cache keys of every flow")  # Numbers' one, Square's three
    empty = laminar(project, "cache", "ls", "--datastore", store)
    assert empty.stdout.startswith("no cache entries in ")


def test_clear_a_layer_needs_its_flow(project: Path) -> None:
    refused = laminar(project, "cache", "clear", "--layer", "Square", "--datastore", str(project / "store"))
    assert refused.returncode == 1
    assert "--layer needs --flow" in refused.stderr
