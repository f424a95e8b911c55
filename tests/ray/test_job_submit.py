"""`ray job submit` against a real `ray start --head` on loopback; results read back from the datastore.

The head is the session's (``ray_head`` in conftest.py, from ``tests/rayhead.py``): stopped by the PIDs of
the processes it started (found by its own temp dir), never with `ray stop`, which would kill every Ray
on the host.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from rayhead import BIN, Head, environment

from laminar.configurations import datastores

FLOW = textwrap.dedent(
    """
    import sys
    from laminar import Flow, Layer
    from laminar.configurations import datastores, layers

    class Submitted(Flow): ...

    @Submitted.register
    class Numbers(Layer):
        def __call__(self) -> None:
            self.shard(n=[1, 2, 3, 4])

    @Submitted.register(foreach=layers.ForEach(parameters=[layers.Parameter(layer=Numbers, attribute="n")]))
    class Square(Layer):
        def __call__(self, numbers: Numbers) -> None:
            self.value = numbers.n ** 2

    @Submitted.register
    class Sum(Layer):
        def __call__(self, square: Square) -> None:
            self.total = sum(square.value)
            print("total is", self.total)

    if flow := Submitted(datastore=datastores.Local(sys.argv[1])):  # no executor: joins the job's Ray
        flow(execution="from-a-job")
    """
)


@pytest.mark.slow
def test_ray_job_submit_runs_a_flow_whose_results_are_readable(ray_head: Head, tmp_path: Path) -> None:
    head = ray_head.dashboard
    workdir = tmp_path / "job"
    workdir.mkdir()
    (workdir / "flow.py").write_text(FLOW)
    store = tmp_path / "store"
    submitted = subprocess.run(
        [str(BIN / "ray"), "job", "submit", "--address", head, "--working-dir", str(workdir), "--",
         sys.executable, "flow.py", str(store)],
        capture_output=True, text=True, env=environment(), timeout=300,
    )  # fmt: skip
    output = submitted.stdout + submitted.stderr
    assert submitted.returncode == 0, output[-4000:]
    # The layer's stdout reached the submitter, prefixed with the task's name.
    assert "(Submitted.Sum pid=" in output and "total is 30" in output
    job = re.search(r"Job '(raysubmit_\w+)' succeeded", output)
    assert job is not None, output[-4000:]
    status = subprocess.run(
        [str(BIN / "ray"), "job", "status", "--address", head, job.group(1)],
        capture_output=True, text=True, env=environment(), timeout=60,
    )  # fmt: skip
    assert status.returncode == 0 and "succeeded" in (status.stdout + status.stderr).lower()

    namespace: dict[str, object] = {}
    exec(compile(FLOW.split("if flow :=")[0], "flow", "exec"), namespace)  # the same classes, no run
    flow = namespace["Submitted"](datastore=datastores.Local(str(store)))  # type: ignore[operator]
    execution = flow.execution("from-a-job")
    assert execution.layer("Sum").total == 30
    assert list(execution.layer("Square").value) == [1, 4, 9, 16]
