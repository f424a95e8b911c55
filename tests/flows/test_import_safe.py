"""Issue 21: reading results never re-runs a flow. The README's pattern (``if __name__ == "__main__" and
(flow := F()):``) makes a flow's script import-safe; a module with the original's bare guard is read
inside ``laminar.runtime.importing()``. Each process is a real subprocess, as a user's would be."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

MODULE = """
from pathlib import Path

from laminar import Flow, Layer
from laminar.configurations import datastores, executors

HERE = Path(__file__).parent


class Counted(Flow): ...


@Counted.register
class A(Layer):
    def __call__(self) -> None:
        with open(HERE / "runs", "a") as runs:
            runs.write("x")
        self.foo = "bar"


def flow() -> Counted:
    return Counted(datastore=datastores.Local(root=str(HERE / "store")), executor=executors.Thread())


{guard}
    print(flow().__call__(execution="first").id)
"""

SAFE = 'if __name__ == "__main__" and flow():'
BARE = "if flow():"  # the original's idiom: true in any process that schedules, also when imported


def python(cwd: Path, code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _write(tmp_path: Path, guard: str) -> Path:
    (tmp_path / "main.py").write_text(textwrap.dedent(MODULE).replace("{guard}", guard))
    done = subprocess.run([sys.executable, "main.py"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "first", done.stderr
    return tmp_path


def test_the_readme_pattern_reads_results_without_running_the_flow(tmp_path: Path) -> None:
    here = _write(tmp_path, SAFE)
    read = "from main import A, flow; print(flow().execution('first').layer(A).foo)"
    assert python(here, read).strip() == "bar"
    assert (here / "runs").read_text() == "x"  # ran once: by `python main.py`, not by the import


def test_a_bare_guard_is_read_inside_importing(tmp_path: Path) -> None:
    here = _write(tmp_path, BARE)
    read = (
        "import laminar.runtime\n"
        "with laminar.runtime.importing():\n"
        "    from main import A, flow\n"
        "print(flow().execution('first').layer(A).foo)"
    )
    assert python(here, read).strip() == "bar"
    assert (here / "runs").read_text() == "x"
    # without it, the original's idiom runs the flow on import: why the README shows the pattern above
    done = subprocess.run([sys.executable, "-c", "import main"], cwd=here, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "already has an execution 'first'" in done.stderr
