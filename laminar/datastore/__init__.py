"""Datastores: where artifacts and records live. See :mod:`laminar.datastore.layout`."""

from laminar.datastore.kinds import S3, Fsspec, Local, Memory
from laminar.datastore.store import Datastore

__all__ = ["S3", "Datastore", "Fsspec", "Local", "Memory"]
