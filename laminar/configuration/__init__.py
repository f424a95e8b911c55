"""The seed documents' spelling of :mod:`laminar.configurations`; the same objects."""

from laminar.configurations import datastores, executors, hooks, layers, serde

__all__ = ["datastores", "executors", "hooks", "layers", "serde"]
