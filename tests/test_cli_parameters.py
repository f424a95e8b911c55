"""``laminar run TARGET --help`` lists a flow's declared parameters, and ``-p`` values are read by their
declared type (issue 21): ``-p plot=no`` is False, not the truthy string 'no'. Undeclared flows read
``-p`` values as JSON, else as text, as before."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

FLOWS = """
from pathlib import Path

from pydantic import Field

from laminar import Flow, Layer, Parameters
from laminar.configurations import datastores, executors

HERE = Path(__file__).parent
STORE = datastores.Local(root=str(HERE / "store"))


class Settings(Parameters):
    epochs: int = 10
    plot: bool = Field(True, description="draw a chart")
    paths: list[str]


class Train(Flow): ...


@Train.register
class Fit(Layer):
    def __call__(self, p: Settings) -> None:
        (HERE / "seen.json").write_text(__import__("json").dumps([p.epochs, p.plot, p.paths]))


class Loose(Flow): ...


@Loose.register
class Anything(Layer):
    def __call__(self, p: Parameters) -> None:
        (HERE / "loose.json").write_text(__import__("json").dumps([p.n, p.xs, p.word, p.flag]))


train = Train(datastore=STORE, executor=executors.Thread())
loose = Loose(datastore=STORE, executor=executors.Thread())
"""


def laminar(cwd: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "laminar.cli", *arguments], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def _write(tmp_path: Path) -> Path:
    (tmp_path / "flows.py").write_text(textwrap.dedent(FLOWS))
    return tmp_path


def test_run_help_lists_the_declared_parameters(tmp_path: Path) -> None:
    here = _write(tmp_path)
    done = laminar(here, "run", "flows.py:train", "--help")
    assert done.returncode == 0, done.stderr
    assert "usage: laminar run" in done.stdout
    assert "Train's parameters (-p NAME=VALUE, read as the declared type):" in done.stdout
    assert "  -p epochs: int = 10\n" in done.stdout
    assert "  -p plot: bool = True  draw a chart\n" in done.stdout
    assert "  -p paths: list[str] (required)\n" in done.stdout
    undeclared = laminar(here, "run", "flows.py:loose", "-h")
    assert "Loose declares no parameters: any -p NAME=VALUE is one" in undeclared.stdout
    plain = laminar(here, "run", "--help")  # no target: argparse's own help
    assert plain.returncode == 0 and "usage: laminar run" in plain.stdout


def test_p_values_are_parsed_by_their_declared_type(tmp_path: Path) -> None:
    here = _write(tmp_path)
    done = laminar(here, "run", "flows.py:train", "-p", "epochs=3", "-p", "plot=no", "-p", 'paths=["a", "b"]')
    assert done.returncode == 0, done.stderr
    assert json.loads((here / "seen.json").read_text()) == [3, False, ["a", "b"]]


def test_mistyped_missing_and_unknown_p_values_fail_before_anything_runs(tmp_path: Path) -> None:
    here = _write(tmp_path)
    for arguments, said in [
        (["-p", "epochs=ten", "-p", 'paths=["a"]'], "parameter 'epochs' must be int"),
        (["-p", "epochs=3"], "parameter 'paths' (list[str]) is required"),
        (["-p", 'paths=["a"]', "-p", "epoch=3"], "it has no parameter 'epoch'; did you mean 'epochs'?"),
    ]:
        done = laminar(here, "run", "flows.py:train", *arguments)
        assert done.returncode == 1 and said in done.stderr, done.stderr
    assert not (here / "seen.json").exists()
    assert not (here / "store" / "flows" / "Train").exists()  # no execution was created


def test_undeclared_flows_read_json_else_text(tmp_path: Path) -> None:
    here = _write(tmp_path)
    done = laminar(here, "run", "flows.py:loose", "-p", "n=3", "-p", "xs=[1,2]", "-p", "word=no", "-p", "flag=true")
    assert done.returncode == 0, done.stderr
    assert json.loads((here / "loose.json").read_text()) == [3, [1, 2], "no", True]
