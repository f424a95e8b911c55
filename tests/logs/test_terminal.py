"""The live progress display on a real terminal (a pseudo-terminal, read through the ``pyte`` emulator):
what layers print and log shows above it, whole, and still reaches each split's own log."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
import textwrap
from pathlib import Path

import pyte
import pytest

FLOWS = Path(__file__).with_name("logflows.py")

pytestmark = pytest.mark.slow


def on_a_terminal(code: str, cwd: Path, columns: int = 150, lines: int = 400) -> list[str]:
    """Run ``code`` with a pseudo-terminal as its stdin, stdout and stderr; the screen it leaves."""
    leader, follower = pty.openpty()
    env = {**os.environ, "PYTHONPATH": str(FLOWS.parent), "COLUMNS": str(columns), "LINES": str(lines)}
    env.pop("LAMINAR_PROGRESS", None)
    process = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], stdin=follower, stdout=follower,
                               stderr=follower, cwd=cwd, env=env)  # fmt: skip
    os.close(follower)
    screen = pyte.Screen(columns, lines)
    stream = pyte.ByteStream(screen)
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the other end closed: the process is gone
            break
        if not chunk:
            break
        stream.feed(chunk.replace(b"\n", b"\r\n"))  # the terminal's own ONLCR, which pyte leaves to it
    os.close(leader)
    assert process.wait(timeout=120) == 0
    return [line.rstrip() for line in screen.display if line.strip()]


def test_what_a_thread_run_prints_and_logs_shows_whole_above_the_progress_and_in_each_log(tmp_path: Path) -> None:
    shown = on_a_terminal(f"""
        import logging
        logging.basicConfig(format="%(levelname)s %(message)s")  # a handler that holds sys.stderr as it was
        from laminar.configurations import datastores, executors
        from logflows import Chatty
        execution = Chatty(datastore=datastores.Local({str(tmp_path / 'store')!r}), executor=executors.Thread())()
        print("LOG", repr(execution.logs("Say", 2).stdout), repr(execution.logs("Say", 2).stderr))
    """, tmp_path)  # fmt: skip
    said = {f"said {n}.{k}" for n in range(4) for k in range(3)}
    warned = {f"WARNING warned {n}.{k}" for n in range(4) for k in range(3)}
    assert said | warned <= set(shown), shown  # each a line of its own, none cut by a redraw
    headlines = [line for line in shown if "layers finished" in line]
    assert len(headlines) == 1, shown  # the display redrawn in place: the last state, once, at the end
    assert headlines[0].endswith("2/2 layers finished, 5/5 splits done, 0 running, 0 queued, 0 failed")
    table = shown.index(headlines[0])
    assert all(shown.index(line) < table for line in said | warned)  # above the display
    assert shown[-1] == (
        "LOG 'said 2.0\\nsaid 2.1\\nsaid 2.2\\n' 'WARNING warned 2.0\\nWARNING warned 2.1\\nWARNING warned 2.2\\n'"
    )
