"""Several raylets with different custom resources: each split runs where its request can be met."""

from __future__ import annotations

from pathlib import Path

import pytest
from subprocesses import run_json

SCRIPT = Path(__file__).parent / "scripts" / "multinode.py"


@pytest.mark.slow
def test_splits_run_on_the_node_that_has_the_resource_they_request(tmp_path: Path) -> None:
    # Its own process: the test session already holds a single-node Ray.
    facts, _ = run_json(SCRIPT, str(tmp_path / "store"))
    assert facts["zones"] == ["zone_a", "zone_b", "zone_a", "zone_b"]
    for zone, node, assigned in zip(facts["zones"], facts["ran_on"], facts["assigned"], strict=True):
        assert node == facts["zone_nodes"][zone]
        assert assigned[zone] == 1
        assert assigned["CPU"] == 0.5
    # A Local datastore on a multi-node cluster is called out at start.
    assert any("local disk" in w and "nodes" in w for w in facts["warnings"])


@pytest.mark.slow
def test_a_node_removed_mid_layer_is_a_failed_attempt_retried_on_another_node(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    marker.mkdir()
    facts, _ = run_json(SCRIPT.parent / "nodeloss.py", str(tmp_path / "store"), str(marker), timeout=300)
    assert "error" not in facts, facts
    assert facts["attempt"] == 2
    assert facts["node"] != facts["removed"]
