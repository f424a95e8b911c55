"""rchui/laminar docs/source/flows/results.md, every example as written, on each backend.

Changed only what the page leaves undefined: ``main.py``'s flow is built with the test's datastore and
executor (``backend.flow(ResultFlow)``), and the ids it reads are those of the runs made here (the page
shows "21lYX2jVgfbdYqyuEPr8kWkf3vp"). ``from main import flow`` reads the results of a ``main.py``
written to a temp dir exactly as the page writes it: that module's bare guard would run its flow on
import, so it is imported inside ``laminar.runtime.importing()``, the README's way to read results
without re-running anything (tests/flows/test_import_safe.py).
"""

import subprocess
import sys
import textwrap

from laminar import Execution, Flow, Layer

MAIN = """
# main.py

from laminar import Flow, Layer

class ResultFlow(Flow): ...

@ResultFlow.register
class A(Layer):
    def __call__(self) -> None:
        self.foo = "bar"

if flow := ResultFlow():
    flow()
"""


class ResultFlow(Flow): ...


@ResultFlow.register
class A(Layer):
    def __call__(self) -> None:
        self.foo = "bar"


def test_accessing_flows_layers_artifacts_and_discovery(backend):
    if flow := backend.flow(ResultFlow):
        run = flow()

    execution = flow.execution(run.id)
    assert isinstance(execution, Execution) and run.id in repr(execution)
    assert isinstance(flow.execution(run.id).layer(A), A)
    assert flow.execution(run.id).layer(A).foo == "bar"

    # Access the configured datastore
    datastore = flow.configuration.datastore

    # List executions
    (listed,) = datastore.list_executions(flow=flow)
    assert isinstance(listed, Execution) and listed.id == run.id

    # List layers
    execution = flow.execution(run.id)
    layers = datastore.list_layers(execution=execution)
    assert [layer.name for layer in layers] == ["A", "Parameters"] and isinstance(layers[0], A)
    assert all(layer.state.finished for layer in layers)

    # List artifacts
    layer = flow.execution(run.id).layer(A)
    assert datastore.list_artifacts(layer=layer) == ["foo"]


def test_from_main_import_flow(tmp_path):
    (tmp_path / "main.py").write_text(textwrap.dedent(MAIN))
    environment = {"LAMINAR_DATASTORE": str(tmp_path / "store"), "LAMINAR_PROGRESS": "0"}
    read = """
        import laminar.runtime
        from laminar.configurations import executors
        from laminar.results import Execution

        with laminar.runtime.importing():
            from main import A, flow

        flow.configuration.executor = executors.Thread()  # the run to read, made here in-process
        first = flow()
        with laminar.runtime.importing():
            import main  # imported again elsewhere: still runs nothing
        print(flow.execution(first.id).layer(A).foo)
        print(len(flow.configuration.datastore.list_executions(flow=flow)))
    """
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(read)],
        cwd=tmp_path,
        env={**__import__("os").environ, **environment},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["bar", "1"]  # one execution: importing main.py ran nothing
