"""From a layer's ``Container`` (after its hooks ran) to Ray task options, checked before submission."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from laminar.errors import ConfigurationError, ResourceError
from laminar.options import Container

MB = 1024 * 1024


def request(container: Container) -> dict[str, float]:
    """The logical resources a container asks Ray for, in Ray's units (memory in bytes)."""
    wanted: dict[str, float] = {"CPU": container.cpu, "GPU": container.gpu, "memory": container.memory * MB}
    wanted.update(container.resources)
    return {name: amount for name, amount in wanted.items() if amount}


def runtime_env(container: Container, base: Mapping[str, Any], label: str) -> dict[str, Any]:
    """The task's runtime_env: ``env_vars`` from ``env``, ``pip`` from ``pip``, validated.

    Empty when nothing is asked for: the task then runs in the job's own environment, on the workers
    every other task of the job shares (each distinct runtime_env gets worker processes of its own,
    started on demand and stopped when idle). ``image`` adds nothing: the task runs in the job's
    environment and starts the split's container itself (:mod:`laminar.containers`), so an image
    needs neither Ray inside nor rootless podman; ``pip`` with an image is an error (install the
    packages in the image).
    """
    from ray.runtime_env import RuntimeEnv

    env: dict[str, Any] = {key: value for key, value in base.items() if key != "env_vars"}
    env_vars = {**dict(base.get("env_vars", {})), **container.env}
    if env_vars:
        env["env_vars"] = env_vars
    if container.pip:
        if container.image is not None:
            raise ConfigurationError(
                f"{label}: Container(image={container.image!r}, pip={container.pip!r}): a layer's pip "
                "environment is made outside its image; install those packages in the image, or drop the image"
            )
        env.pop("uv", None)  # the layer's own requirements replace the executor's
        env["pip"] = {"packages": list(container.pip)}
    try:
        return dict(RuntimeEnv(**env))
    except (TypeError, ValueError) as error:
        raise ConfigurationError(f"{label}: invalid runtime_env {sorted(env)}: {error}") from None


def task_options(container: Container, *, name: str, base_env: Mapping[str, Any]) -> dict[str, Any]:
    """Options for ``remote_function.options(...)``: resources computed for this one call."""
    options: dict[str, Any] = {
        "name": name,
        "num_cpus": container.cpu,
        "num_gpus": container.gpu,
        "max_retries": 0,  # laminar retries itself, with backoff and retry hooks
        "retry_exceptions": False,
        "runtime_env": runtime_env(container, base_env, name),
    }
    if container.memory:
        options["memory"] = container.memory * MB
    if container.resources:
        options["resources"] = dict(container.resources)
    return options


def check_feasible(wanted: Mapping[str, float], nodes: Sequence[Mapping[str, float]], label: str) -> None:
    """Raise if no single node has every resource ``wanted`` (a request Ray would wait on forever)."""
    if not nodes or any(all(node.get(k, 0) >= v for k, v in wanted.items()) for node in nodes):
        return
    shown = ", ".join(f"{k}={_fmt(k, v)}" for k, v in wanted.items())
    largest = "; ".join(", ".join(f"{k}={_fmt(k, node.get(k, 0))}" for k in wanted) for node in nodes[:5])
    raise ResourceError(
        f"{label} requests {shown}, but no node of the Ray cluster can ever provide it "
        f"(nodes offer: {largest}); lower the layer's Container request (or what its hooks set) or add a node "
        "that has it"
    )


def fit(requests: Iterable[tuple[int, Mapping[str, float]]], nodes: Sequence[Mapping[str, float]]) -> list[int]:
    """The keys of the ``(key, request)`` pairs, taken in order, that the nodes have room for at once (each
    on the first node with room left): Ray's picture of which tasks run, estimated without asking it.

    >>> fit([(1, {"CPU": 1}), (2, {"CPU": 2}), (3, {"CPU": 1}), (4, {})], [{"CPU": 2}])
    [1, 3, 4]
    """
    room = [dict(node) for node in nodes]
    placed = []
    for key, wanted in requests:
        for node in room:
            if all(node.get(name, 0.0) >= amount - 1e-9 for name, amount in wanted.items()):
                for name, amount in wanted.items():
                    node[name] = node.get(name, 0.0) - amount
                placed.append(key)
                break
    return placed


def _fmt(name: str, amount: float) -> str:
    return f"{amount / MB:.0f}MB" if name == "memory" else f"{amount:g}"
