"""See a run: a small survey flow, then its report as one self-contained HTML file.

A fan-out over four sites where one site's first visit fails and its retry succeeds, and a join that
runs only when something was measured (an entry hook). The report shows the graph, the timeline (the
retried split is marked, and so is the split the join waited for), the parameters, each layer and
split, and the artifacts' previews.

    python examples/report.py [--thread]      # writes report.html in the working directory
    laminar report examples/report.py:Survey EXECUTION -o run.html
    laminar ui examples/report.py:Survey      # browse every execution, live while one runs
"""

import sys
import time
from pathlib import Path

from laminar import Flow, Layer, Parameters
from laminar.configurations import executors, hooks
from laminar.configurations.layers import ForEach, Parameter, Retry
from laminar.display.report import document
from laminar.results.views import flow_view


class Survey(Flow): ...


@Survey.register
class Sites(Layer):
    def __call__(self, p: Parameters) -> None:
        self.shard(site=p.sites)


@Survey.register(foreach=ForEach(parameters=[Parameter(layer=Sites, attribute="site")]), retry=Retry(delay=0.05))
class Visit(Layer):
    def __call__(self, sites: Sites) -> None:
        if sites.site == "c" and self.state.attempt == 1:
            raise ConnectionError(f"site {sites.site!r} did not answer")  # the retry succeeds
        time.sleep(0.05 * len(sites.site))
        self.readings = [len(sites.site) * i for i in range(3)]
        self.attempt = self.state.attempt


@Survey.register
class Summary(Layer):
    def __call__(self, visit: Visit) -> None:
        self.total = sum(sum(readings) for readings in visit.readings)

    @hooks.entry
    def measured(self, visit: Visit) -> bool:
        return len(visit.readings) > 0


if flow := Survey(executor=executors.Thread() if "--thread" in sys.argv else None):
    execution = flow(sites=["a", "bb", "c", "dddd"], progress=False)
    visits = execution.layer(Visit)
    retried = [site for site, attempt in zip(execution.layer(Sites).site, visits.attempt, strict=True) if attempt > 1]
    print(f"{flow.name} {execution.id} finished; retried: {retried}; total = {execution.layer(Summary).total}")
    view = flow_view(flow, execution.id)
    output = Path("report.html")
    output.write_text(document(view, source=flow.configuration.datastore.url), encoding="utf-8")
    print(f"wrote {output} ({output.stat().st_size:,} bytes, no external links): open it in a browser")
    print(f"the same from the command line: laminar report examples/report.py:Survey {execution.id} -o run.html")
