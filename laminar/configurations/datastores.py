"""Datastores: ``Local`` (default), ``Memory``, ``S3`` (also ``AWS.S3``), ``Fsspec`` for any URL."""

from laminar.datastore import S3, Datastore, Fsspec, Local, Memory


class AWS:
    """Namespace for Amazon datastores: ``datastores.AWS.S3``."""

    S3 = S3


__all__ = ["AWS", "S3", "Datastore", "Fsspec", "Local", "Memory"]
