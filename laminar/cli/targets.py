"""What a command line names: a flow (``TARGET``), its datastore and executor, its parameters."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from laminar import parameters as parameters_
from laminar import settings
from laminar.datastore import Datastore
from laminar.errors import LaminarError
from laminar.executors import registry
from laminar.flow import Flow
from laminar.runtime import importing


class CommandError(LaminarError):
    """A command that cannot be carried out as given."""


def _import(module: str) -> ModuleType:
    path = Path(module)
    if module.endswith(".py") or os.sep in module or "/" in module:
        if not path.is_file():
            raise CommandError(f"no such file: {module}")
        name = path.stem
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise CommandError(f"cannot import {module} as a Python module")
        loaded = importlib.util.module_from_spec(spec)
        sys.path.insert(0, str(path.resolve().parent))  # its sibling modules import as when run as a script
        sys.modules[name] = loaded
        with importing():  # the script's `if flow := F(): flow()` guard stays False
            spec.loader.exec_module(loaded)
        return loaded
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    with importing():  # the script's `if flow := F(): flow()` guard stays False
        return importlib.import_module(module)


def load(target: str) -> Flow:
    """The flow that ``TARGET`` names (see the module docstring)."""
    module_name, _, attribute = target.rpartition(":") if ":" in target else (target, "", "")
    module = _import(module_name)
    if attribute:
        found = getattr(module, attribute, None)
        if found is None:
            raise CommandError(f"{module_name} has no attribute {attribute!r}")
    else:
        flows = [
            value
            for value in vars(module).values()
            if isinstance(value, type) and issubclass(value, Flow) and value.__module__ == module.__name__
        ]
        if len(flows) != 1:
            names = ", ".join(sorted(f.__name__ for f in flows)) or "none"
            raise CommandError(f"{module_name} defines {len(flows)} flows ({names}); name one: {module_name}:NAME")
        found = flows[0]
    if isinstance(found, Flow):
        return found
    if isinstance(found, type) and issubclass(found, Flow):
        return found()
    raise CommandError(f"{target} is {found!r}, not a Flow subclass or instance")


def _datastore(value: str, like: Datastore | None = None) -> Datastore:
    """The datastore at ``value`` with the settings of ``like`` (the flow's own): its serialization (its
    protocols; ``allow_pickle=False`` is never loosened) and, for a URL of the same scheme, its storage
    options (endpoint, credentials)."""
    if like is None:
        return settings.from_url(value)
    scheme = value.partition("://")[0] if "://" in value else "file"
    same = (like.root.partition("://")[0] if "://" in like.root else "file") == scheme
    store = settings.from_url(value, **(like.files.options if same else {}))
    store.follow(like)
    return store


def _configure(flow: Flow, arguments: argparse.Namespace) -> Flow:
    if getattr(arguments, "datastore", None):
        flow.configuration.datastore = _datastore(arguments.datastore, flow.configuration.datastore)
    executor = getattr(arguments, "executor", None)
    if executor is not None:
        flow.configuration.executor = registry.create(executor)
    return flow


def parameter(text: str) -> tuple[str, Any]:
    """``key=value``; the value is read as JSON when it is JSON (``n=3``, ``xs=[1,2]``), else as text.

    >>> parameter("n=3"), parameter("name=world"), parameter('xs=[1, "a"]')
    (('n', 3), ('name', 'world'), ('xs', [1, 'a']))
    """
    key, sep, value = text.partition("=")
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE with KEY a Python identifier, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def _pair(text: str) -> tuple[str, str]:
    """``KEY=VALUE`` as given; the value is read once the flow is known (:func:`_values`)."""
    key, sep, value = text.partition("=")
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE with KEY a Python identifier, got {text!r}")
    return key, value


def _values(flow: Flow, pairs: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """``-p`` values read by the flow's declared types (:func:`laminar.parameters.parse`), else as
    :func:`parameter` reads them: JSON when they are JSON, else text."""
    declared = flow.graph().parameters
    return {key: parameters_.parse(flow.name, declared, key, value) for key, value in pairs}
