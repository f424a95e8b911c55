"""A flow that records who ran it, started by several processes under one execution id at one moment.

Run as a script: ``claimflow.py WHO START_AT ROOT [S3_ENDPOINT KEY SECRET]``; prints one JSON line.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from laminar import Flow, Layer, Parameters
from laminar.configurations import datastores, executors
from laminar.errors import ExecutionExists


class Claimed(Flow): ...


@Claimed.register
class Mark(Layer):
    def __call__(self, p: Parameters) -> None:
        with open(Path(p.log), "a") as log:
            log.write(f"{p.who}\n")
        self.who = p.who


def datastore(root: str, s3: list[str]) -> Any:
    if not s3:
        return datastores.Local(root)
    endpoint, key, secret = s3
    return datastores.S3(
        root, endpoint_url=endpoint, key=key, secret=secret, client_kwargs={"region_name": "us-east-1"}
    )


if __name__ == "__main__":
    who, start_at, root, log, *s3 = sys.argv[1:]
    flow = Claimed(datastore=datastore(root, s3), executor=executors.Thread())
    flow.graph()
    flow.configuration.datastore.list_executions(flow)  # connected before the race starts
    time.sleep(max(0.0, float(start_at) - time.time()))
    try:
        execution = flow(execution="race", who=who, log=log, progress=False)
    except ExecutionExists as error:
        print(json.dumps({"who": who, "lost": str(error)}))
    else:
        print(json.dumps({"who": who, "won": execution.layer(Mark).who}))
