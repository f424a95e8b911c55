"""Composition: chain flows with ``next()`` and combine flows by inheritance.

python examples/composition.py [--thread]
"""

import sys

from laminar import Flow, Layer, Parameters
from laminar.configurations import executors


class Extract(Flow): ...


class Report(Flow): ...


@Extract.register
class Numbers(Layer):
    def __call__(self) -> None:
        self.values = [3, 1, 4, 1, 5]


@Report.register
class Summary(Layer):
    def __call__(self, p: Parameters) -> None:
        self.text = f"{len(p.values)} values, total {sum(p.values)}"


class Both(Extract, Report): ...  # every layer of both flows, run as one flow


executor = executors.Thread() if "--thread" in sys.argv else None
if extract := Extract(executor=executor):
    report = Report(executor=executor)
    # Report runs with parameters built from Extract's results, under the same execution id.
    chained = extract().next(flow=report, linker=lambda e: Parameters(values=e.layer(Numbers).values))
    print(f"chained {chained.flow.name} ({chained.id}): {chained.layer(Summary).text}")

    both = Both(executor=executor)
    print(
        f"Both has layers {sorted(Both.registry)}; Both.registry['Numbers'].layer is Numbers: "
        f"{Both.registry['Numbers'].layer is Numbers}"
    )
    execution = both(values=[2, 7])
    print(f"Both ran: Numbers.values={execution.layer(Numbers).values}, Summary.text={execution.layer(Summary).text!r}")
