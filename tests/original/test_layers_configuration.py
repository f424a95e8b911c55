"""rchui/laminar docs/source/layers/configuration.md: its example as written, on Thread and on Ray.

Changed only what the page leaves undefined: ``workdir="/app"`` is a directory of the original's default
image; here the layer runs on the host without an image, in a directory of its own (a temp dir), which
laminar honours by running the split in a process of its own there. ``cpu=4`` needs a machine with 4
CPUs: Thread runs it anyway (warning when this machine has fewer, as Ray would refuse it here), and the
Ray run is on a Ray of its own with 4 logical CPUs (the test session's Ray has 2). The flow's datastore
is a temp dir.

The page's warning, that a hook's change of ``Layer.configuration`` is not reflected in ``__call__``, is
not so here: a submission hook's change is what ``__call__`` reads (README, "Differences").
"""

import os
import warnings

from laminar import Flow, Layer
from laminar.configurations import datastores, executors
from laminar.errors import InfeasibleWarning
from original.docpages import ray4


def test_access_on_thread(tmp_path, capfd, monkeypatch):
    app = tmp_path / "app"  # the page's workdir="/app"
    app.mkdir()
    monkeypatch.chdir(tmp_path)

    # main.py

    from laminar.configurations.layers import Container

    class ConfiguredFlow(Flow): ...

    @ConfiguredFlow.register(container=Container(cpu=4, memory=2000, workdir=str(app)))
    class Task(Layer):
        def __call__(self) -> None:
            print(self.configuration.container.cpu, self.configuration.container.memory)
            self.cwd = os.getcwd()

    store = datastores.Local(root=str(tmp_path / "store"))
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        if flow := ConfiguredFlow(datastore=store, executor=executors.Thread()):
            execution = flow()
    assert "4 2000" in capfd.readouterr().out.splitlines()
    assert execution.layer(Task).cwd == str(app)
    beyond = [w for w in seen if issubclass(w.category, InfeasibleWarning)]
    assert bool(beyond) is ((os.cpu_count() or 1) < 4)


def test_access_on_ray(tmp_path):
    (tmp_path / "app").mkdir()
    out = ray4(
        tmp_path,
        f"""
        import os
        from laminar import Flow, Layer
        from laminar.configurations.layers import Container

        class ConfiguredFlow(Flow):
            ...

        @ConfiguredFlow.register(container=Container(cpu=4, memory=2000, workdir={str(tmp_path / "app")!r}))
        class Task(Layer):
            def __call__(self) -> None:
                print(self.configuration.container.cpu, self.configuration.container.memory)
                self.cwd = os.getcwd()

        if flow := ConfiguredFlow(datastore=DATASTORE, executor=EXECUTOR):
            execution = flow()
            print("cwd", execution.layer(Task).cwd)
        """,
    )
    lines = out.splitlines()
    assert "4 2000" in lines and f"cwd {tmp_path / 'app'}" in lines
