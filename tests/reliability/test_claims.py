"""One execution id started several times at once runs once: exactly one start claims it, and the
others fail with ExecutionExists before any layer runs (threads and processes; Local, Memory, S3)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from claimflow import Claimed, Mark

from laminar.configurations import datastores, executors
from laminar.errors import ExecutionExists

if TYPE_CHECKING:  # annotations only: conftest modules are not imported by name
    from tests.conftest import S3Server

HERE = Path(__file__).parent
STARTS = 6


def _datastore(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Any:
    if kind == "local":
        return datastores.Local(str(tmp_path / "store"))
    if kind == "memory":
        return datastores.Memory()
    server: S3Server = request.getfixturevalue("s3_server")
    return server.datastore()


@pytest.mark.parametrize("kind", ["local", "memory", "s3"])
def test_one_id_started_from_several_threads_at_once_runs_once(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    store = _datastore(kind, tmp_path, request)
    log = tmp_path / "log"
    flows = [Claimed(datastore=store, executor=executors.Thread()) for _ in range(STARTS)]
    flows[0].graph()
    barrier = threading.Barrier(STARTS)
    outcomes: dict[int, Any] = {}

    def start(who: int) -> None:
        barrier.wait(timeout=30)
        try:
            outcomes[who] = flows[who](execution="race", who=who, log=str(log), progress=False)
        except BaseException as error:
            outcomes[who] = error

    threads = [threading.Thread(target=start, args=(who,)) for who in range(STARTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    won = [who for who, outcome in outcomes.items() if not isinstance(outcome, BaseException)]
    lost = [outcome for outcome in outcomes.values() if isinstance(outcome, BaseException)]
    assert len(won) == 1, outcomes
    assert len(lost) == STARTS - 1 and all(isinstance(error, ExecutionExists) for error in lost), lost
    assert all("already has an execution 'race'" in str(error) and "resume" in str(error) for error in lost)
    assert log.read_text().split() == [str(won[0])]  # its layer ran once: the winner's
    execution = flows[0].execution("race")
    assert execution.layer(Mark).who == won[0] and execution.parameters.who == won[0]


@pytest.mark.parametrize("kind", ["local", "s3"])
def test_one_id_started_from_several_processes_at_once_runs_once(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    log = tmp_path / "log"
    if kind == "local":
        root, extra = str(tmp_path / "store"), []
    else:
        server: S3Server = request.getfixturevalue("s3_server")
        root, extra = f"s3://{server.bucket()}/laminar", [server.endpoint, server.key, server.secret]
    start_at = time.time() + 8  # every process has imported laminar and connected by then
    processes = [
        subprocess.Popen(
            [sys.executable, str(HERE / "claimflow.py"), str(who), str(start_at), root, str(log), *extra],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for who in range(4)
    ]
    results = []
    for process in processes:
        out, err = process.communicate(timeout=90)
        assert process.returncode == 0, err[-2000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    winners = [result for result in results if "won" in result]
    assert len(winners) == 1, results
    assert winners[0]["won"] == winners[0]["who"]  # the winner reads its own result, not another start's
    assert all("already has an execution 'race'" in result["lost"] for result in results if "lost" in result)
    assert log.read_text().split() == [winners[0]["who"]]
