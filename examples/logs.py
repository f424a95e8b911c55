"""After a failure: a split's log, its traceback and its attempts, read back from the datastore.

Split 2 of ``Measure`` prints, warns on stderr and raises; split 1 fails once and passes on its retry.
The run fails; the script then reads, as any later process could, what each split wrote and why split 2
failed. The same from the command line:

    python examples/logs.py [--thread]
    laminar logs examples/logs.py:Survey latest Measure[2]
    laminar show examples/logs.py:Survey latest --splits --traceback
"""

import sys
import time

from laminar import Flow, Layer
from laminar.configurations import executors
from laminar.configurations.layers import ForEach, Parameter, Retry


class Survey(Flow): ...


@Survey.register
class Sites(Layer):
    def __call__(self) -> None:
        self.shard(site=["north", "east", "south"])


@Survey.register(foreach=ForEach(parameters=[Parameter(layer=Sites, attribute="site")]), retry=Retry(attempts=2))
class Measure(Layer):
    def __call__(self, sites: Sites) -> None:
        print(f"measuring {sites.site} (attempt {self.state.attempt})")
        if sites.site == "east" and self.state.attempt == 1:
            raise TimeoutError("the east sensor did not answer")
        if sites.site == "south":
            time.sleep(1)  # a slow sensor: east has been retried by the time it fails
            print("the south sensor reads -1", file=sys.stderr)
            raise ValueError(f"impossible reading at {sites.site}: -1")
        self.value = len(sites.site)


if flow := Survey(executor=executors.Thread() if "--thread" in sys.argv else None):
    try:
        flow(progress=False)
    except ValueError as error:
        print(f"the run failed: {error!r}")

    execution = flow.latest()  # a new process would find it the same way
    for split in execution.splits(Measure):
        print(f"split {split.index}: {split.state} after {[attempt.state for attempt in split.attempts]}")
    south = execution.logs(Measure, 2)  # the last attempt; attempt=1 is the first
    print(f"its stdout: {south.stdout!r}; its stderr: {south.stderr!r}")
    print("its traceback ends:", (south.traceback or "").strip().splitlines()[-1])
    print("east's first attempt wrote:", repr(execution.logs(Measure, 1, attempt=1).stdout))
