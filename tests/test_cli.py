"""The ``laminar`` command, run as a subprocess against flow modules written to a temporary directory."""

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


@Squares.register
class Numbers(Layer):
    def __call__(self, p: Parameters) -> None:
        with open(HERE / "numbers-ran", "a") as log:
            log.write("x")
        self.shard(n=range(p.count))


@Squares.register(foreach=layers.ForEach(parameters=[layers.Parameter(layer=Numbers, attribute="n")]))
class Square(Layer):
    def __call__(self, numbers: Numbers) -> None:
        if (HERE / "fail-flag").exists():
            raise RuntimeError("fail-flag is present")
        self.square = numbers.n**2


@Squares.register
class Total(Layer):
    def __call__(self, square: Square) -> None:
        self.total = sum(square.square)


if flow := Squares(datastore=datastores.Local(root=str(HERE / "store")), executor=executors.Thread()):
    (HERE / "guard-ran").write_text("the guard must be False while the CLI imports this module")
"""


def laminar(cwd: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "laminar.cli", *arguments],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "squares.py").write_text(textwrap.dedent(FLOWS))
    return tmp_path


def test_run_show_and_list_an_execution(project: Path) -> None:
    ran = laminar(project, "run", "squares.py:flow", "--param", "count=4", "--execution", "first")
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "Squares first finished"
    assert not (project / "guard-ran").exists()
    assert (project / "store" / "flows" / "Squares" / "first").is_dir()

    shown = laminar(project, "show", "squares.py:flow", "first")
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0] == "Squares first: finished"
    assert lines[1].startswith("created ") and "ran on Thread(" in lines[1]
    assert lines[2] == "parameters: count=4"  # names and values
    table = {line.split()[0]: line.split() for line in lines[4:]}
    assert table["Numbers"][1:3] == ["finished", "-"]
    assert table["Square"][1:3] == ["finished", "4"]
    assert table["Square"][-1] == "square"
    assert table["Total"][-1] == "total"

    listed = laminar(project, "executions", "squares.py:flow")
    assert listed.returncode == 0, listed.stderr
    assert [line.split()[:2] for line in listed.stdout.splitlines()] == [["EXECUTION", "STATE"], ["first", "finished"]]


def test_a_flow_class_by_module_name_with_datastore_and_executor_options(project: Path) -> None:
    store = project / "elsewhere"
    ran = laminar(project, "run", "squares:Squares", "-p", "count=2", "--datastore", str(store), "--executor", "thread")
    assert ran.returncode == 0, ran.stderr
    name, identifier, state = ran.stdout.split()
    assert (name, state) == ("Squares", "finished")
    assert (store / "flows" / "Squares" / identifier).is_dir()
    assert not (project / "store").exists()
    shown = laminar(project, "show", "squares", identifier, "--datastore", str(store))  # the only flow in squares
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith(f"Squares {identifier}: finished")


def test_failure_is_one_line_and_resume_finishes_without_redoing_work(project: Path) -> None:
    (project / "fail-flag").touch()
    failed = laminar(project, "run", "squares.py:flow", "--param", "count=3", "--execution", "broken")
    assert failed.returncode == 1
    assert failed.stderr.strip().splitlines() == [
        "laminar: error: Squares execution broken failed: RuntimeError: fail-flag is present "
        "(resume it with: laminar resume squares.py:flow broken)"
    ]
    shown = laminar(project, "show", "squares.py:flow", "broken")
    assert shown.stdout.splitlines()[0] == "Squares broken: failed"
    assert "RuntimeError('fail-flag is present')" in shown.stdout

    (project / "fail-flag").unlink()
    resumed = laminar(project, "resume", "squares.py:flow", "broken")
    assert resumed.returncode == 0, resumed.stderr
    assert (project / "numbers-ran").read_text() == "x"  # Numbers finished the first time: not run again
    assert laminar(project, "show", "squares.py:flow", "broken").stdout.startswith("Squares broken: finished")


def test_graph_prints_the_mermaid_diagram(project: Path) -> None:
    drawn = laminar(project, "graph", "squares.py:Squares")
    assert drawn.returncode == 0, drawn.stderr
    assert drawn.stdout.splitlines() == [
        "stateDiagram-v2",
        "    state Squares {",
        "        direction LR",
        "        state Square_fork <<fork>>",
        "        state Square_join <<join>>",
        "        Numbers --> Square_fork",
        "        Square_fork --> Square",
        "        Square --> Square_join",
        "        Square_join --> Total",
        "    }",
    ]


@pytest.mark.parametrize(
    ("arguments", "reason"),
    [
        (["graph", "missing.py:Flow"], "laminar: error: no such file: missing.py"),
        (["graph", "squares.py:Nope"], "laminar: error: squares.py has no attribute 'Nope'"),
        (
            ["show", "squares.py:flow", "unknown"],
            "laminar: error: ExecutionNotFound: Squares has no execution 'unknown'",
        ),
        (["run", "squares.py:flow"], "laminar: error: Squares execution"),  # no `count` parameter
    ],
)
def test_errors_exit_non_zero_with_one_line(project: Path, arguments: list[str], reason: str) -> None:
    result = laminar(project, *arguments)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(reason), result.stderr


def test_bad_arguments_exit_2(project: Path) -> None:
    result = laminar(project, "run", "squares.py:flow", "--param", "not-a-pair")
    assert result.returncode == 2
    assert "expected KEY=VALUE" in result.stderr


def test_help_everywhere(project: Path) -> None:
    for command in ([], ["run"], ["executions"], ["show"], ["resume"], ["graph"]):
        result = laminar(project, *command, "--help")
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith(f"usage: laminar {' '.join(command)}".rstrip())
