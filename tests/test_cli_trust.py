"""``laminar ... --datastore URL`` keeps the flow's own datastore settings: its registered protocols, and
``allow_pickle=False``, which a command line never loosens; ``laminar resume --rerun`` (the CLI as a
subprocess)."""

from __future__ import annotations

import pathlib
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from laminar.configurations import datastores
from laminar.datastore import layout

FLOWS = """
import json
from pathlib import Path

from laminar import Flow, Layer
from laminar.configurations import datastores, executors, serde

HERE = Path(__file__).parent


class Point:
    def __init__(self, x: int, y: int) -> None:
        self.x, self.y = x, y


store = datastores.Local(root=str(HERE / "store"), allow_pickle=False)


@store.protocol(Point)
class PointJson(serde.Protocol):
    name = "point"

    def dumps(self, value: Point) -> bytes:
        return json.dumps([value.x, value.y]).encode()

    def loads(self, data: bytes) -> Point:
        return Point(*json.loads(data))


class Trusty(Flow): ...


@Trusty.register
class Make(Layer):
    def __call__(self) -> None:
        self.point = Point(3, 4)


@Trusty.register
class Use(Layer):
    def __call__(self, make: Make) -> None:
        if (HERE / "fail-flag").exists():
            raise RuntimeError("fail-flag is present")
        self.doubled = Point(make.point.x * 2, make.point.y * 2)  # plain values need pickle here


flow = Trusty(datastore=store, executor=executors.Thread())
"""


def laminar(cwd: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "laminar.cli", *arguments], cwd=cwd, capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "trusty.py").write_text(textwrap.dedent(FLOWS))
    return tmp_path


def _failed_run(project: Path) -> None:
    (project / "fail-flag").touch()
    failed = laminar(project, "run", "trusty.py:flow", "--execution", "e", "--no-progress")
    assert failed.returncode == 1 and "fail-flag is present" in failed.stderr, failed.stderr
    (project / "fail-flag").unlink()


def test_resume_with_a_datastore_url_reads_with_the_flows_registered_protocols(project: Path) -> None:
    _failed_run(project)
    resumed = laminar(project, "resume", "trusty.py:flow", "e", "--datastore", str(project / "store"), "--no-progress")
    assert resumed.returncode == 0, resumed.stderr
    shown = laminar(project, "show", "trusty.py:flow", "e", "--datastore", str(project / "store"))
    assert shown.returncode == 0 and "Use" in shown.stdout and "finished" in shown.stdout, shown.stderr


class Payload:
    """A pickle that touches a file when it is loaded: what a hostile datastore would hold."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[Path]]:
        return pathlib.Path.touch, (self.marker,)


def test_a_datastore_url_never_loosens_allow_pickle_false(project: Path) -> None:
    _failed_run(project)
    marker = project / "the-pickle-ran"
    # Make's finished split replaced by one whose artifact is a crafted pickle (written with pickle allowed)
    crafted = datastores.Local(str(project / "store"))
    crafted.write_split("Trusty", "e", "Make", 0, {"point": Payload(marker)}, set())
    assert crafted.read_json(layout.split("Trusty", "e", "Make", 0))["artifacts"]["point"]["protocols"] == [
        "cloudpickle"
    ]
    resumed = laminar(project, "resume", "trusty.py:flow", "e", "--datastore", str(project / "store"), "--no-progress")
    assert resumed.returncode == 1, resumed.stdout
    assert "allow_pickle=False" in resumed.stderr, resumed.stderr
    assert not marker.exists()  # the crafted pickle never ran


def test_resume_rerun_runs_a_finished_layer_and_its_dependents_again(project: Path) -> None:
    _failed_run(project)
    assert laminar(project, "resume", "trusty.py:flow", "e", "--no-progress").returncode == 0
    store = datastores.Local(str(project / "store"), allow_pickle=False)
    before = store.read_layer_record("Trusty", "e", "Make")
    rerun = laminar(project, "resume", "trusty.py:flow", "e", "--rerun", "Make", "--no-progress")
    assert rerun.returncode == 0, rerun.stderr
    after = store.read_layer_record("Trusty", "e", "Make")
    assert before is not None and after is not None and after["started"] > before["started"]
    unknown = laminar(project, "resume", "trusty.py:flow", "e", "--rerun", "Nope", "--no-progress")
    assert unknown.returncode == 1 and "cannot rerun 'Nope'" in unknown.stderr, unknown.stderr
