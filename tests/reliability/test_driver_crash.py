"""A driver killed with SIGKILL mid fan-out loses nothing: a new process resumes where it stopped."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from laminar.configurations import datastores
from laminar.datastore import layout

sys.path.insert(0, str(Path(__file__).parent))
from crashflow import Crash, Square, Total

HERE = Path(__file__).parent


def _finished(root: Path) -> set[int]:
    return datastores.Local(str(root)).finished_splits("Crash", "crashed", "Square")


def _documents(root: Path) -> list[dict[str, Any]]:
    """Every committed document of a Square split: files of their own and entries of batches."""
    documents = []
    for path in root.glob("flows/*/*/Square/*.json"):
        if layout.split_index(path.name) is not None:
            documents.append(json.loads(path.read_text()))
        elif layout.is_batch(path.name):
            documents.extend(json.loads(path.read_text())["splits"].values())
    return documents


def _assert_consistent(root: Path) -> None:
    """Every finished split's document is complete, and its artifacts exist and match their digests."""
    documents = _documents(root)
    assert documents
    for document in documents:
        assert document["record"]["state"] == "finished"
        for entry in document["artifacts"].values():
            inline = entry.get("inline", {})
            stored = {}
            for digest in [entry["pack"]] if "pack" in entry else entry["digests"]:
                if digest in inline:
                    stored[digest] = base64.b64decode(inline[digest])
                else:
                    stored[digest] = (root / "artifacts" / "sha256" / digest[:2] / digest).read_bytes()
                assert hashlib.sha256(stored[digest]).hexdigest() == digest
            for digest, span in zip(entry["digests"], entry.get("spans", []), strict=False):
                if span is not None:  # an item in the pack
                    offset, length = span
                    assert hashlib.sha256(stored[entry["pack"]][offset : offset + length]).hexdigest() == digest


@pytest.mark.slow
def test_resume_after_driver_sigkill_reruns_nothing_that_finished(ray_cluster: object, tmp_path: Path) -> None:
    import ray

    root, log = tmp_path / "store", tmp_path / "log"
    address = ray.get_runtime_context().gcs_address
    driver = subprocess.Popen([sys.executable, str(HERE / "crashflow.py"), str(root), address, str(log)])
    try:
        deadline = time.monotonic() + 120
        while len(_finished(root)) < 4:
            assert driver.poll() is None, "the flow ended before it could be interrupted"
            assert time.monotonic() < deadline, "no split finished in time"
            time.sleep(0.05)
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait(timeout=30)
    finally:
        if driver.poll() is None:
            driver.kill()
    done_before = _finished(root)
    assert 4 <= len(done_before) < 12
    _assert_consistent(root)

    from laminar_ray import Ray

    flow = Crash(datastore=datastores.Local(str(root)), executor=Ray())
    execution = flow.execution("crashed").resume()

    assert execution.layer(Total).total == sum(n * n for n in range(12))
    assert list(execution.layer(Square).value) == [n * n for n in range(12)]
    runs = Counter(int(line) for line in log.read_text().split())
    assert all(runs[n] == 1 for n in done_before), runs  # finished before the crash: never run again
    assert set(runs) == set(range(12))
    _assert_consistent(root)
