"""Executors found by name, imported only when asked for: the core never imports a backend itself.

Like fsspec's registry: a name maps to where its class lives and what to
install when it is missing.

>>> known()
['ray', 'thread']
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from laminar.errors import ConfigurationError

#: name -> (module, class, install hint)
_BACKENDS: dict[str, tuple[str, str, str]] = {
    "ray": ("laminar_ray", "Ray", "install Ray: pip install 'ray[default]'"),
    "thread": ("laminar.executors.thread", "Thread", "it is part of laminar"),
}


def known() -> list[str]:
    """The executor names this registry knows."""
    return sorted(_BACKENDS)


def executor_class(name: str) -> type[Any]:
    """The executor class registered as ``name``, imported now."""
    try:
        module, attribute, hint = _BACKENDS[name]
    except KeyError:
        raise ConfigurationError(f"no executor named {name!r}; known: {', '.join(known())}") from None
    try:
        found: type[Any] = getattr(importlib.import_module(module), attribute)
    except ImportError as error:
        raise ConfigurationError(f"executor {name!r} cannot be imported ({error}); {hint}") from None
    return found


def create(name: str, **settings: Any) -> Any:
    """A new executor of the kind registered as ``name``."""
    return executor_class(name)(**settings)


#: What a backend offers besides its executor: name -> (module, install hint).
_EXTENSIONS: dict[str, tuple[str, str]] = {
    "ray-jobs": ("laminar_ray.jobs", "install Ray with its job server: pip install 'ray[default]'"),
}


def extension(name: str) -> ModuleType:
    """The module of a backend's extension (``ray-jobs``: submitting flows as Ray jobs), imported now."""
    module, hint = _EXTENSIONS[name]
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ConfigurationError(f"{name} cannot be imported ({error}); {hint}") from None
