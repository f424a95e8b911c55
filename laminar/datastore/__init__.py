"""Datastores: where artifacts and records live. See :mod:`laminar.datastore.layout`."""

from laminar.datastore.store import Datastore, Fsspec, Local, Memory, S3, SplitMeta

__all__ = ["S3", "Datastore", "Fsspec", "Local", "Memory", "SplitMeta"]
