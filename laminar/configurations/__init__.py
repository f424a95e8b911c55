"""The public configuration namespaces: ``layers``, ``hooks``, ``datastores``, ``executors``, ``serde``,
``schedulers``."""

from laminar.configurations import datastores, executors, hooks, layers, schedulers, serde

__all__ = ["datastores", "executors", "hooks", "layers", "schedulers", "serde"]
