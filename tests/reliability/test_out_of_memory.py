"""An out-of-memory kill is a failed attempt; a retry hook raises the next attempt's request."""

from __future__ import annotations

from pathlib import Path

import pytest
from subprocesses import run_json

SCRIPT = Path(__file__).parent / "oomflow.py"


@pytest.mark.slow
def test_oom_killed_layer_is_retried_with_the_memory_its_retry_hook_doubled(tmp_path: Path) -> None:
    facts, stderr = run_json(SCRIPT, str(tmp_path / "store"))
    assert facts["attempt"] == 2
    assert facts["memory"] == 400
    assert facts["assigned"] == 400 * 2**20  # Ray scheduled the second attempt with the larger request
    assert "out of memory" in stderr.lower() or "memory monitor" in stderr.lower()
