"""rchui/laminar docs/source/flows/schedulers.md: its one listing, as written, on each backend.

``schedulers.Scheduler()`` is laminar's engine, the active scheduler the page describes and every flow's
default. The page's delegated schedulers (AWS Step Functions) are "under construction" there, with no
listing. Changed only what the page leaves undefined: the flow's datastore and executor (the test's).
"""

from laminar import Flow, Layer


def test_the_active_scheduler(backend):
    from laminar import Flow
    from laminar.configurations import schedulers

    class ScheduledFlow(Flow): ...

    flow = ScheduledFlow(scheduler=schedulers.Scheduler())

    @ScheduledFlow.register
    class A(Layer):  # the page's flow has no layers: two, that the scheduler runs in order
        def __call__(self) -> None:
            self.n = 1

    @ScheduledFlow.register
    class B(Layer):
        def __call__(self, a: A) -> None:
            self.n = a.n + 1

    flow.configuration.datastore, flow.configuration.executor = backend.datastore, backend.executor
    assert flow().layer(B).n == 2


def test_another_scheduler_is_refused():
    import pytest

    from laminar.errors import ConfigurationError

    class Other(Flow): ...

    with pytest.raises(ConfigurationError, match="laminar has one scheduler, its engine"):
        Other(scheduler="StepFunctions")  # type: ignore[arg-type]
