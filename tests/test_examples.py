"""Every example runs as a script, exits 0 and prints what it demonstrates.

hello.py (the README's first command) runs on Ray, as a user runs it: it starts
its own local Ray on 127.0.0.1. The others start a Ray each too when run
without ``--thread``; to keep the suite fast they run here with ``--thread``,
the same flows in one process (each was also checked by hand on Ray).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run(name: str, tmp_path: Path, *arguments: str) -> str:
    environment = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "LAMINAR_PROGRESS": "0"}
    environment.pop("LAMINAR_S3_ROOT", None)
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *arguments],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, f"{name} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.mark.slow
def test_hello_on_ray(tmp_path: Path) -> None:
    out = run("hello.py", tmp_path)
    assert "ran HelloFlow on Ray(" in out
    assert "World.value = 'hello world'" in out
    assert (tmp_path / ".laminar" / "flows" / "HelloFlow").is_dir()  # the default datastore, in the cwd


EXPECTED = {
    "hello.py": ["World.value = 'hello world'"],
    "branching.py": [
        "A --> B",
        "foo=0.25: layers {'A': 'finished', 'B': 'finished', 'C': 'finished', 'D': 'finished'}; D.foo = 'B saw 0.25'",
        "foo=0.75: layers {'A': 'finished', 'B': 'skipped', 'C': 'finished', 'D': 'finished'}; D.foo = 'C saw 0.75'",
    ],
    "foreach.py": [
        "Square splits: [100, 400, 900]",
        "Half (1:1 after Square): [50.0, 200.0, 450.0]",
        "Cost grid (6 splits): {'10x0.1': '1ms', '10x0.5': '5ms', '20x0.1': '2ms', '20x0.5': '10ms', "
        "'30x0.1': '3ms', '30x0.5': '15ms'}",
    ],
    "resources.py": [
        "split with    1000 rows ran with memory=100 MB",
        "split with  200000 rows ran with memory=200 MB",
    ],
    "logs.py": [
        "the run failed: ValueError('impossible reading at south: -1')",
        "split 0: finished after ['finished']",
        "split 1: finished after ['failed', 'finished']",
        "split 2: failed after ['failed', 'failed']",
        "its stdout: 'measuring south (attempt 2)\\n'; its stderr: 'the south sensor reads -1\\n'",
        "its traceback ends: ValueError: impossible reading at south: -1",
        "east's first attempt wrote: 'measuring east (attempt 1)\\n'",
    ],
    "retry.py": ["retrying with 600 MB", "retrying with 1200 MB", "Load finished on attempt 3 with memory=1200 MB"],
    "resume.py": [
        "first run failed: split 2 cannot run while 'broken' exists",
        "after the failure: {'Items': 'finished', 'Work': 'failed', 'Total': 'pending'}",
        "after resume: Total.total = 60",
        "runs per split: {0: 1, 1: 1, 2: 2, 3: 1}",
    ],
    "composition.py": [
        "chained Report (",
        "): 5 values, total 14",
        "Both.registry['Numbers'].layer is Numbers: True",
        "Both ran: Numbers.values=[3, 1, 4, 1, 5], Summary.text='2 values, total 9'",
    ],
    "datastore.py": [
        "datastore: file://",
        "artifacts of Make: ['copy', 'data']",
        "read back: sum(data) = 49995000",
        "4 artifacts written across 2 executions, 1 stored (content addressed)",
    ],
    "report.py": [
        "finished; retried: ['c']; total = 24",
        "wrote report.html (",
        "laminar report examples/report.py:Survey ",
    ],
    "containers.py": [
        "Shout ran ['in a container']: ['hello CONTAINER', 'hello FIRST']",
        "Gather ran on the host: ['hello CONTAINER', 'hello FIRST']",
    ],
    "arrow.py": [
        "per batch: [8, 9, 11]; total people: 28",
        "largest: [{'city': 'e', 'people': 9}, {'city': 'c', 'people': 8}]",
        "stored as arrow; read back as pyarrow.lib.Table",
    ],
}


def _test_image() -> str:
    """The container tests' image (tests/containers/image.py): this machine's Python and laminar."""
    spec = importlib.util.spec_from_file_location("test_image", Path(__file__).parent / "containers" / "image.py")
    assert spec is not None and spec.loader is not None
    module = sys.modules["test_image"] = importlib.util.module_from_spec(spec)  # its dataclasses look it up
    spec.loader.exec_module(module)
    os.environ.setdefault("CONTAINERS_CONF", str(Path(__file__).parent / "containers" / "containers.conf"))
    return str(module.ensure_image())


def test_every_example_is_tested() -> None:
    assert sorted(EXPECTED) == sorted(path.name for path in EXAMPLES.glob("*.py"))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_on_thread(name: str, tmp_path: Path) -> None:
    out = run(name, tmp_path, "--thread", *(("--image", _test_image()) if name == "containers.py" else ()))
    for expected in EXPECTED[name]:
        assert expected in out


@pytest.mark.slow
def test_the_readme_commands_after_a_failed_split(tmp_path: Path) -> None:
    """The README's "When a split fails" commands, as written, on Ray, in a scratch copy of the examples."""
    import re
    import shutil

    text = (EXAMPLES.parent / "README.md").read_text()
    section = text.split("\n## When a split fails\n", 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(r"```bash\n(.*?)```", section, flags=re.S)
    lines = [re.sub(r"\s+#\s.*$", "", line).strip() for line in block.splitlines() if line.strip()]
    shutil.copytree(EXAMPLES, tmp_path / "examples", ignore=shutil.ignore_patterns("__pycache__"))
    environment = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "LAMINAR_PROGRESS": "0",
                   "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}  # fmt: skip
    environment.pop("LAMINAR_DATASTORE", None)
    shown = []
    for line in lines:
        done = subprocess.run(["bash", "-c", line], cwd=tmp_path, env=environment, capture_output=True, text=True,
                              timeout=240)  # fmt: skip
        assert done.returncode == 0, f"{line}\n{done.stdout}\n{done.stderr}"
        shown.append(done.stdout)
    run, last, first, show = shown
    assert "split 2: failed after ['failed', 'failed']" in run
    assert "stdout ==\nmeasuring south (attempt 2)\n" in last and "stderr ==\nthe south sensor reads -1\n" in last
    assert first == "== Survey.Measure[1] attempt 1 (failed) stderr ==\n(it wrote nothing here)\n"
    assert "Measure[2] failed (attempt 2): ValueError('impossible reading at south: -1')" in show
    assert 'raise ValueError(f"impossible reading at {sites.site}: -1")' in show
