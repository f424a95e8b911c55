"""A writer killed mid-write (SIGKILL: no cleanup runs) leaves nothing a reader takes as complete."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import TYPE_CHECKING

import cloudpickle
import pytest

from laminar.datastore import layout
from laminar.errors import ArtifactError

if TYPE_CHECKING:  # annotations only: conftest modules are not imported by name
    from tests.datastore.conftest import Subject

WRITER = textwrap.dedent(
    """
    import sys, time, cloudpickle
    from laminar.serde import Protocol

    store = cloudpickle.loads(open(sys.argv[1], "rb").read())
    marker = sys.argv[2]

    @store.protocol(bytes)
    class Stalls(Protocol):
        name = "stalls"

        def dump(self, value, file):
            file.write(value[: len(value) // 2])
            # "first" (too large to be kept in the document: a file of its own) was written first; on
            # a local disk it is flushed and renamed into place in the background meanwhile: let that
            # end, so what the kill leaves behind is always the same.
            deadline = time.monotonic() + 60
            while not store.fs.find(store.files.path("artifacts")) and time.monotonic() < deadline:
                time.sleep(0.01)
            open(marker, "w").close()  # half written: the parent kills us now
            time.sleep(120)
            file.write(value[len(value) // 2 :])

        def load(self, file):
            return file.read()

    store.write_split("Flow", "e", "Layer", 0, {"first": "s" * 8192, "blob": b"x" * (1 << 20)}, set())
    """
)


def _wait_for(path: Path, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while not path.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the writer never reached the middle of its write"
        time.sleep(0.02)


@pytest.mark.slow
def test_a_killed_writer_leaves_no_readable_partial_artifact_or_archive(subject: Subject, tmp_path: Path) -> None:
    if subject.store.process_local:
        pytest.skip("a Memory datastore dies with its process")
    state = tmp_path / "store.pickle"
    state.write_bytes(cloudpickle.dumps(subject.store))
    marker = tmp_path / "half-written"
    process = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(state), str(marker)],
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_for(marker, process)
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    assert process.returncode == -signal.SIGKILL

    reader = subject.make()
    stored = subject.files(layout.ARTIFACTS)
    assert len(stored) == 1  # "first", written completely before "blob" began (and moved into place meanwhile)
    assert [f for f in subject.files("flows")] == []
    with pytest.raises(ArtifactError, match="has no archive"):
        reader.split("Flow", "e", "Layer", 0)
    assert reader.finished_splits("Flow", "e", "Layer") == set()
    leftovers = subject.files(layout.TMP)
    if subject.name == "local":  # the one file being written, under tmp/ where no reader looks
        assert len(leftovers) == 1 and 0 < len(subject.read(leftovers[0])) < (1 << 20)
    else:  # object stores: nothing was uploaded before the value was complete
        assert leftovers == []

    # Running the layer again (as resume does) completes the same names cleanly.
    reader.write_split("Flow", "e", "Layer", 0, {"first": "s" * 8192, "blob": b"x" * (1 << 20)}, set())
    assert reader.split("Flow", "e", "Layer", 0).get("blob") == b"x" * (1 << 20)
