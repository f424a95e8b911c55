"""Serialization protocols and the registry that picks one per value.

A protocol turns a value into bytes (``dumps``/``loads``) and may stream to
files (``dump``/``load``). A datastore picks the protocol registered for a
value's exact type, else a built-in default: Arrow IPC for pyarrow Tables and
pandas DataFrames, ``.npy`` for numeric numpy arrays, cloudpickle for the
rest. The chosen protocol's name is stored beside the artifact's digest, so
reading needs no guessing.

cloudpickle runs code when it loads: never load artifacts from a datastore you
do not trust. ``Serde(allow_pickle=False)`` refuses pickle both ways.

>>> Serde().choose([1, 2]).name
'cloudpickle'
"""

from __future__ import annotations

import io
import json
import os
import pickle
from collections.abc import Mapping
from typing import IO, Any, ClassVar

import cloudpickle

from laminar.errors import ArtifactError


class Protocol:
    """Base class of serialization protocols: override ``dumps``/``loads``, or ``dump``/``load``.

    ``name`` identifies the protocol in archives (default: its qualified class
    name); keep it stable, or artifacts written earlier cannot be read. A
    protocol that streams (``dump`` to and ``load`` from a binary file) never
    needs the whole serialized value in memory; the other pair is derived.

    >>> class Lines(Protocol):
    ...     name = "lines"
    ...     def dumps(self, value): return "\\n".join(value).encode()
    ...     def loads(self, data): return data.decode().split("\\n")
    >>> Lines().loads(Lines().dumps(["a", "b"]))
    ['a', 'b']
    """

    name: ClassVar[str] = ""
    #: True when loading can run arbitrary code (pickle); refused by ``allow_pickle=False``.
    executes_code: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.__dict__.get("name"):
            cls.name = f"{cls.__module__}.{cls.__qualname__}"
        for one, other, uri in (("dumps", "dump", "write"), ("loads", "load", "read")):
            if all(getattr(cls, name) is getattr(Protocol, name) for name in (one, other, uri)):
                raise TypeError(f"serde protocol {cls.__qualname__} must define {one}(), {other}() or {uri}()")
        if (cls.write is Protocol.write) != (cls.read is Protocol.read):
            raise TypeError(f"serde protocol {cls.__qualname__} must define write() and read() together")

    @property
    def writes_uris(self) -> bool:
        """True when the protocol writes and reads whole URIs itself (``write``/``read``)."""
        return type(self).write is not Protocol.write and type(self).read is not Protocol.read

    def dumps(self, value: Any) -> bytes:
        """The serialized bytes of ``value`` (default: ``dump`` into a buffer)."""
        buffer = io.BytesIO()
        self.dump(value, buffer)
        return buffer.getvalue()

    def loads(self, data: bytes) -> Any:
        """The value serialized in ``data`` (default: ``load`` from a buffer)."""
        return self.load(io.BytesIO(data))

    def dump(self, value: Any, file: IO[bytes]) -> None:
        """Write ``value`` to a write-only binary file; override to stream large values."""
        file.write(self.dumps(value))

    def quick(self, value: Any) -> bytes | None:
        """``dumps(value)`` when this protocol can tell at a glance that it is small and cheap to
        serialize in memory (a split's int or string, say), else None: then ``dump`` streams it."""
        return None

    def load(self, file: IO[bytes]) -> Any:
        """Read a value from a binary file (seekable, positioned at 0); override to stream."""
        return self.loads(file.read())

    def write(self, value: Any, uri: str, storage_options: Mapping[str, Any]) -> None:
        """Write ``value`` to ``uri`` (an fsspec URL) yourself, e.g. with a library's own Parquet writer.

        Define it together with ``read``; the datastore writes to a temporary URI, then hashes what
        was written and moves it to its content address.
        """
        raise NotImplementedError(f"{type(self).__qualname__}.write")

    def read(self, uri: str, storage_options: Mapping[str, Any]) -> Any:
        """Read the value at ``uri`` (checked against its digest first); pairs with ``write``."""
        raise NotImplementedError(f"{type(self).__qualname__}.read")


class Pickle(Protocol):
    """cloudpickle: any Python value. Loading runs code: trust the datastore."""

    name = "cloudpickle"
    executes_code = True

    def dumps(self, value: Any) -> bytes:
        return bytes(cloudpickle.dumps(value))

    def loads(self, data: bytes) -> Any:
        return cloudpickle.loads(data)

    def dump(self, value: Any, file: IO[bytes]) -> None:
        cloudpickle.dump(value, file)

    def load(self, file: IO[bytes]) -> Any:
        return cloudpickle.load(file)

    def quick(self, value: Any) -> bytes | None:
        """Plain data (builtin scalars, and lists, tuples and dicts of them, up to a few hundred items):
        the standard pickle, which cloudpickle's own output for them equals and which costs ~1 us
        against ~10 us for a cloudpickle pickler. Anything else (classes, functions, numpy) streams."""
        if not _plain(value, [_PLAIN_ITEMS]):
            return None
        return pickle.dumps(value, protocol=cloudpickle.DEFAULT_PROTOCOL)


_SCALARS = frozenset({int, float, bool, complex, str, bytes, type(None)})
_PLAIN_ITEMS = 256  # items a value checked by _plain may hold
_PLAIN_SIZE = 4096  # longest string or bytes taken as plain


def _plain(value: Any, budget: list[int]) -> bool:
    """Whether ``value`` is builtin plain data of at most ``budget[0]`` items (counted down): exact
    types only, so a subclass or an instance of a class defined in a notebook is not."""
    budget[0] -= 1
    if budget[0] < 0:
        return False
    kind = type(value)
    if kind in _SCALARS:
        return kind not in (str, bytes) or len(value) <= _PLAIN_SIZE
    if kind is list or kind is tuple:
        return all(_plain(item, budget) for item in value)
    if kind is dict:
        return all(_plain(key, budget) and _plain(item, budget) for key, item in value.items())
    return False


class Json(Protocol):
    """JSON for plain data (dicts, lists, strings, numbers)."""

    name = "json"

    def dumps(self, value: Any) -> bytes:
        return json.dumps(value, sort_keys=True).encode()

    def loads(self, data: bytes) -> Any:
        return json.loads(data)


class Arrow(Protocol):
    """pyarrow Tables as Arrow IPC streams: no pickle; local files are memory-mapped (zero-copy)."""

    name = "arrow"

    def dump(self, value: Any, file: IO[bytes]) -> None:
        import pyarrow as pa

        with pa.ipc.new_stream(file, value.schema) as writer:
            writer.write_table(value)

    def load(self, file: IO[bytes]) -> Any:
        import pyarrow as pa

        path = getattr(file, "name", None)
        if isinstance(path, str) and os.path.isfile(path):
            # Artifacts are immutable (content addressed, replaced only by identical bytes), so
            # a memory map stays valid after the file object is closed.
            with pa.memory_map(path) as source:
                return pa.ipc.open_stream(source).read_all()
        return pa.ipc.open_stream(file).read_all()

    def loads(self, data: bytes) -> Any:
        import pyarrow as pa

        return pa.ipc.open_stream(pa.py_buffer(data)).read_all()


class Pandas(Arrow):
    """pandas DataFrames through Arrow IPC (index and dtypes kept in Arrow's pandas metadata)."""

    name = "arrow-pandas"

    def dump(self, value: Any, file: IO[bytes]) -> None:
        import pyarrow as pa

        super().dump(pa.Table.from_pandas(value), file)

    def load(self, file: IO[bytes]) -> Any:
        return super().load(file).to_pandas()

    def loads(self, data: bytes) -> Any:
        return super().loads(data).to_pandas()


class Numpy(Protocol):
    """numpy arrays as ``.npy`` without pickle (object arrays fall back to cloudpickle)."""

    name = "numpy"

    def dump(self, value: Any, file: IO[bytes]) -> None:
        import numpy as np

        np.save(file, value, allow_pickle=False)

    def load(self, file: IO[bytes]) -> Any:
        import numpy as np

        return np.load(file, allow_pickle=False)


_BUILTIN: tuple[Protocol, ...] = (Pickle(), Json(), Arrow(), Pandas(), Numpy())


def _default_for(value: Any) -> str | None:
    """Name of the built-in protocol for ``value``, judged without importing heavy libraries."""
    kind = type(value)
    module = kind.__module__
    if module.startswith("pyarrow") and kind.__name__ == "Table":
        return Arrow.name
    if module.startswith("pandas") and kind.__name__ == "DataFrame":
        return Pandas.name
    if module == "numpy" and kind.__name__ == "ndarray" and not value.dtype.hasobject:
        return Numpy.name
    return None


class Serde:
    """The protocols one datastore uses: exact-type registrations, then built-in defaults.

    >>> serde = Serde(allow_pickle=False)
    >>> serde.choose(object(), where="Flow.A.x")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    laminar.errors.ArtifactError: Flow.A.x: a value of type object needs protocol 'cloudpickle', ...
    """

    def __init__(self, *, allow_pickle: bool = True) -> None:
        self.allow_pickle = allow_pickle
        self._by_type: dict[type, Protocol] = {}
        self._by_name: dict[str, Protocol] = {p.name: p for p in _BUILTIN}

    def copy(self, *, allow_pickle: bool | None = None) -> Serde:
        """The same registrations (``allow_pickle`` as given, else as here)."""
        copied = Serde(allow_pickle=self.allow_pickle if allow_pickle is None else allow_pickle)
        copied._by_type = dict(self._by_type)
        copied._by_name = dict(self._by_name)
        return copied

    def register(self, protocol: Protocol, *types: type) -> None:
        """Use ``protocol`` for values whose type is exactly one of ``types``; read it back by name."""
        if not isinstance(protocol, Protocol):
            raise TypeError(f"{protocol!r} is not a laminar serde.Protocol (subclass serde.Protocol)")
        known = self._by_name.get(protocol.name)
        if known is not None and type(known) is not type(protocol):
            raise ValueError(
                f"a different protocol ({type(known).__qualname__}) is already registered as {protocol.name!r}; "
                "give this one another name (class attribute `name`)"
            )
        self._by_name[protocol.name] = protocol
        for kind in types:
            if not isinstance(kind, type):
                raise TypeError(f"@datastore.protocol(...) takes types, got {kind!r}")
            self._by_type[kind] = protocol

    def choose(self, value: Any, *, where: str = "value") -> Protocol:
        """The protocol for ``value``: its exact type's registration, else a default."""
        protocol = self._by_type.get(type(value))
        if protocol is None:
            protocol = self._by_name[_default_for(value) or Pickle.name]
        if protocol.executes_code and not self.allow_pickle:
            raise ArtifactError(
                f"{where}: a value of type {type(value).__qualname__} needs protocol {protocol.name!r}, which runs "
                "code when loading, and this datastore has allow_pickle=False; register a safe protocol for "
                "the type (@datastore.protocol(SomeType)) or store Arrow tables, pandas DataFrames or numpy arrays"
            )
        return protocol

    def fallback(self, protocol: Protocol) -> Protocol | None:
        """What to try when a built-in default cannot represent a value (e.g. mixed-type columns)."""
        if protocol in _BUILTIN and protocol is not self._by_name[Pickle.name] and self.allow_pickle:
            return self._by_name[Pickle.name]
        return None

    def get(self, name: str, *, where: str = "value") -> Protocol:
        """The protocol an artifact was written with, refusing pickle when ``allow_pickle=False``."""
        protocol = self._by_name.get(name)
        if protocol is None:
            raise ArtifactError(
                f"{where}: no serialization protocol named {name!r} is registered on this datastore; "
                "register it (@datastore.protocol(...)) before reading"
            )
        if protocol.executes_code and not self.allow_pickle:
            raise ArtifactError(
                f"{where} was stored with protocol {name!r}, which runs code when loading, and this datastore "
                "has allow_pickle=False; read it with allow_pickle=True only if you trust whoever wrote it"
            )
        return protocol
