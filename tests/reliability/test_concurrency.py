"""Flows and executions sharing one datastore at the same time never corrupt each other."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from backends import Backend
from concurrentflows import Left, Right, Scaled, Values

from laminar import Flow
from laminar.configurations import datastores, executors


def _check(flow: Flow, execution_id: str, count: int, factor: int) -> None:
    execution = flow.execution(execution_id)
    assert list(execution.layer(Scaled).value) == [n * factor for n in range(count)]
    assert execution.layer(Values).shared == b"x" * 100_000


def test_two_flows_and_two_executions_at_once_on_one_datastore(backend: Backend) -> None:
    runs = [(Left, "a", 2), (Right, "a", 3), (Left, "b", 5), (Right, "b", 7)]
    flows = [backend.flow(cls) for cls, _, _ in runs]
    with ThreadPoolExecutor(len(runs)) as pool:
        futures = [
            pool.submit(flow, execution=identifier, count=12, factor=factor)
            for flow, (_, identifier, factor) in zip(flows, runs, strict=True)
        ]
        for future in futures:
            future.result()
    for flow, (_, identifier, factor) in zip(flows, runs, strict=True):
        _check(flow, identifier, 12, factor)


SCRIPT = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {tests!r})
    from concurrentflows import Left
    from laminar.configurations import datastores, executors
    Left(datastore=datastores.Local({root!r}), executor=executors.Thread())(
        execution=sys.argv[1], count=40, factor=int(sys.argv[2])
    )
    """
)


def test_two_processes_running_executions_of_one_flow_on_one_local_datastore(tmp_path: Path) -> None:
    root = tmp_path / "store"
    script = SCRIPT.format(tests=str(Path(__file__).parent), root=str(root))
    processes = [
        subprocess.Popen([sys.executable, "-c", script, f"p{factor}", str(factor)], stderr=subprocess.PIPE)
        for factor in (2, 3, 4)
    ]
    for process in processes:
        _, error = process.communicate(timeout=120)
        assert process.returncode == 0, error.decode()[-2000:]
    flow = Left(datastore=datastores.Local(str(root)), executor=executors.Thread())
    for factor in (2, 3, 4):
        _check(flow, f"p{factor}", 40, factor)
    assert sorted(flow.configuration.datastore.execution_ids(flow)) == ["p2", "p3", "p4"]
    assert not list(root.rglob("*.tmp-*"))  # no temporary file left behind
