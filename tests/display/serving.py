"""``laminar ui`` as a subprocess of a test: started on a free port of 127.0.0.1, stopped by its PID."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

FLOWS = Path(__file__).resolve().parent / "runflows.py"


@dataclass
class Served:
    """A ``laminar ui`` process and the address it announced."""

    process: subprocess.Popen[str]
    url: str


def serve(cwd: Path, *arguments: str) -> Served:
    """Start ``laminar ui ARGUMENTS --port 0`` on 127.0.0.1 and wait for the address it announces."""
    process = subprocess.Popen(
        [sys.executable, "-m", "laminar.cli", "ui", *arguments, "--port", "0"],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "LAMINAR_PROGRESS": "0"},
    )
    line: list[str] = []
    reader = threading.Thread(target=lambda: line.append(process.stdout.readline() if process.stdout else ""))
    reader.start()
    reader.join(60)
    announced = line[0] if line else ""
    if "http://127.0.0.1:" not in announced:
        process.kill()
        _, errors = process.communicate(timeout=10)
        raise AssertionError(f"laminar ui did not start: {announced!r}\n{errors}")
    return Served(process, announced.split(" at ")[1].split()[0])


def stop(served: Served) -> None:
    """Stop the server by its PID (SIGTERM: uvicorn shuts down cleanly), killing it if it lingers."""
    served.process.terminate()
    try:
        served.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        served.process.kill()
        served.process.wait(timeout=15)
