"""A layer's Container, after its hooks, becomes exactly these Ray task options."""

from __future__ import annotations

import pytest

from laminar.errors import ConfigurationError, ResourceError
from laminar.options import Container
from laminar_ray import options

MB = 1024 * 1024


def test_every_container_field_reaches_the_task_options() -> None:
    container = Container(cpu=0.5, gpu=1.5, memory=300, resources={"accelerator_x": 2}, env={"MODE": "fast"})
    got = options.task_options(container, name="F.L[3]", base_env={"env_vars": {"BASE": "1"}, "pip": ["six"]})
    assert got["name"] == "F.L[3]"
    assert got["num_cpus"] == 0.5 and got["num_gpus"] == 1.5
    assert got["memory"] == 300 * MB
    assert got["resources"] == {"accelerator_x": 2}
    assert got["max_retries"] == 0  # laminar retries, with backoff and retry hooks
    assert got["runtime_env"]["env_vars"] == {"BASE": "1", "MODE": "fast"}
    assert got["runtime_env"]["pip"]["packages"] == ["six"]  # passed through, as Ray normalises it


def test_an_image_adds_nothing_to_the_runtime_env() -> None:
    """The task runs in the job's environment and starts the split's container itself (laminar.containers)."""
    env = options.runtime_env(Container(image="python:3.11-slim", env={"A": "b"}), {"working_dir": "."}, "F.L")
    assert "image_uri" not in env
    assert env["env_vars"]["A"] == "b" and env["working_dir"] == "."


def test_a_layers_pip_becomes_its_own_pip_environment() -> None:
    env = options.runtime_env(Container(pip=["six==1.16.0"]), {"pip": ["six"], "env_vars": {"B": "1"}}, "F.L")
    assert env["pip"]["packages"] == ["six==1.16.0"]  # the layer's requirements replace the executor's
    assert env["env_vars"] == {"B": "1"}
    with pytest.raises(ConfigurationError, match=r"F\.L: Container\(image='python:3.11-slim', pip=\['six'\]\)"):
        options.runtime_env(Container(image="python:3.11-slim", pip=["six"]), {}, "F.L")


def test_requests_are_checked_against_every_node() -> None:
    nodes = [{"CPU": 2, "memory": 4096 * MB}, {"CPU": 8, "GPU": 1, "memory": 8192 * MB}]
    options.check_feasible(options.request(Container(cpu=4, gpu=1, memory=1000)), nodes, "F.L")
    with pytest.raises(ResourceError, match=r"F\.L requests CPU=4, GPU=2"):
        options.check_feasible(options.request(Container(cpu=4, gpu=2)), nodes, "F.L")
    with pytest.raises(ResourceError, match="accelerator_x=1"):
        options.check_feasible(options.request(Container(resources={"accelerator_x": 1})), nodes, "F.L")


def test_a_container_that_asks_for_no_environment_runs_in_the_jobs_own() -> None:
    """No runtime_env at all: the task shares the job's workers instead of starting processes of its own."""
    assert options.runtime_env(Container(cpu=2, memory=100), {}, "F.L") == {}
    assert options.task_options(Container(), name="F.L", base_env={})["runtime_env"] == {}
