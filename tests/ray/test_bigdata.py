"""Large artifacts travel worker to worker: the driver never holds their values."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parent / "scripts" / "bigdata.py"


@pytest.mark.slow
def test_a_400mb_array_between_two_layers_barely_grows_the_driver(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), str(tmp_path / "store")], capture_output=True, text=True, timeout=240
    )
    assert result.returncode == 0, result.stderr[-3000:]
    facts = json.loads(result.stdout.strip().splitlines()[-1])
    assert facts["total"] == facts["size"] // 8
    assert facts["growth"] < 0.1 * facts["size"], facts
