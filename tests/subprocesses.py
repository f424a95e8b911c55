"""Run a test script in its own process (its own Ray) and read the JSON facts it prints last."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any


def run_json(script: Path, *args: str, timeout: float = 240) -> tuple[dict[str, Any], str]:
    """Run ``script`` with ``args``; assert it exited 0; return (its last stdout line as JSON, its stderr)."""
    result = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1]), result.stderr
