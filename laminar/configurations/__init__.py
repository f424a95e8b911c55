"""The public configuration namespaces: ``layers``, ``hooks``, ``datastores``, ``executors``, ``serde``."""

from laminar.configurations import datastores, executors, hooks, layers, serde

__all__ = ["datastores", "executors", "hooks", "layers", "serde"]
