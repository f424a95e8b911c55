"""Datastores: where artifacts and records live. See :mod:`laminar.datastore.layout`."""

from laminar.datastore.store import S3, Datastore, Fsspec, Local, Memory, SplitMeta

__all__ = ["S3", "Datastore", "Fsspec", "Local", "Memory", "SplitMeta"]
