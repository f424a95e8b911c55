"""rchui/laminar docs/source/getting_started/deployment.md: its flow, as written, on each backend.

The page's other listings are a Dockerfile, a requirements file and shell commands (docker build, push,
run; virtualenv); its containers are laminar's ``Container(image=...)`` here (tests/containers/ builds an
image and runs layers in it). Changed only what the page leaves undefined: ``backend.flow(HelloFlow)``
for ``HelloFlow()`` (the test's datastore and executor)."""

from laminar import Flow, Layer


def test_the_scheduler_runs_the_flow_and_the_executors_its_layers(backend, printed):
    # main.py

    class HelloFlow(Flow): ...

    @HelloFlow.register
    class A(Layer):
        def __call__(self) -> None:
            print(self.name)

    @HelloFlow.register
    class B(Layer):
        def __call__(self, a: A) -> None:
            print(self.name)

    if flow := backend.flow(HelloFlow):
        execution = flow()
    printed(["A", "B"])
    assert execution.layer(B).state.finished
