"""An out-of-memory kill is a failed attempt; a retry hook raises the next attempt's request."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parent / "oomflow.py"


@pytest.mark.slow
def test_oom_killed_layer_is_retried_with_the_memory_its_retry_hook_doubled(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), str(tmp_path / "store")], capture_output=True, text=True, timeout=240
    )
    assert result.returncode == 0, result.stderr[-3000:]
    facts = json.loads(result.stdout.strip().splitlines()[-1])
    assert facts["attempt"] == 2
    assert facts["memory"] == 400
    assert facts["assigned"] == 400 * 2**20  # Ray scheduled the second attempt with the larger request
    assert "out of memory" in result.stderr.lower() or "memory monitor" in result.stderr.lower()
