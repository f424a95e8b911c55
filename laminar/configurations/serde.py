"""Serialization protocols: subclass ``Protocol``; register with ``@datastore.protocol(type, ...)``."""

from laminar.serde import Arrow, Json, Numpy, Pandas, Pickle, Protocol, Serde

__all__ = ["Arrow", "Json", "Numpy", "Pandas", "Pickle", "Protocol", "Serde"]
