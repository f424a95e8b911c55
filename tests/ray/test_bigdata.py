"""Large artifacts travel worker to worker: the driver never holds their values."""

from __future__ import annotations

from pathlib import Path

import pytest
from subprocesses import run_json

SCRIPT = Path(__file__).parent / "scripts" / "bigdata.py"


@pytest.mark.slow
def test_a_400mb_array_between_two_layers_barely_grows_the_driver(tmp_path: Path) -> None:
    facts, _ = run_json(SCRIPT, str(tmp_path / "store"))
    assert facts["total"] == facts["size"] // 8
    assert facts["growth"] < 0.1 * facts["size"], facts
