"""What ``@Flow.register`` refuses about a layer before it joins a flow: wrong configuration types, an
``__call__`` or hook laminar could not run as written.

These are mistakes that would otherwise pass silently or fail only after upstream work ran: a
``container={"memory": 500}`` dict fails deep inside a run (``'dict' object has no attribute
'model_copy'``); an ``async def __call__`` makes a coroutine nobody awaits, and the layer is recorded
finished without running; a generator ``__call__`` likewise; a ``@staticmethod`` hook passes the graph
checks and fails once called with the layer. Each raises a :class:`ConfigurationError` naming the flow,
the layer, what was given and the fix.
"""

from __future__ import annotations

import inspect
from typing import Any

from laminar import hooks
from laminar.errors import ConfigurationError
from laminar.options import Catch, Container, ForEach, Retry

#: The keyword of ``register`` and the model it takes.
MODELS: dict[str, type] = {"container": Container, "retry": Retry, "catch": Catch, "foreach": ForEach}


def option(flow: str, layer: str, keyword: str, value: Any) -> None:
    """Refuse a ``register`` keyword value that is not its model (None: not given)."""
    model = MODELS[keyword]
    if value is None or isinstance(value, model):
        return
    if isinstance(value, dict):
        fields = ", ".join(f"{key}={item!r}" for key, item in value.items())
        fix = f"{keyword}={model.__name__}({fields})"
    elif model is Catch and isinstance(value, type) and issubclass(value, BaseException):
        fix = f"catch=Catch({value.__name__})"
    elif model is ForEach and isinstance(value, list):
        fix = "foreach=ForEach(parameters=[...])"
    else:
        fix = f"{keyword}={model.__name__}(...)"
    raise ConfigurationError(
        f"{flow}.register({keyword}=...) of layer {layer}: {keyword} must be a "
        f"laminar.configurations.layers.{model.__name__}, got {type(value).__name__} {value!r}; write {fix}"
    )


def layer(flow: str, cls: type) -> None:
    """Refuse a layer whose ``__call__`` laminar cannot run as written, or whose hooks are not methods."""
    where = f"{flow}.register: layer {cls.__name__}"
    call = inspect.getattr_static(cls, "__call__")
    if isinstance(call, (staticmethod, classmethod)):
        raise ConfigurationError(
            f"{where}: __call__ is a {type(call).__name__}; it is called with the layer: "
            "drop the decorator and take self first, `def __call__(self, ...)`"
        )
    if inspect.iscoroutinefunction(call) or inspect.isasyncgenfunction(call):
        raise ConfigurationError(
            f"{where}: __call__ is async; laminar calls it as a plain function in a worker thread or process "
            "and would record the layer finished without awaiting it: write `def __call__`, and run async code "
            "inside it with asyncio.run(...)"
        )
    if inspect.isgeneratorfunction(call):
        raise ConfigurationError(
            f"{where}: __call__ is a generator (it yields); calling it would only make a generator and run "
            "none of its body: assign results to self instead of yielding them (self.shard(x=[...]) for items "
            "that dependents read one by one)"
        )
    hooks.collect(cls)  # refuses a @staticmethod or @classmethod above a hook decorator
