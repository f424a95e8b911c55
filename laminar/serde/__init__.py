"""Serialization protocols and the registry that picks one per value.

A protocol turns a value into bytes (``dumps``/``loads``) and may stream to
files (``dump``/``load``). A datastore picks the protocol registered for a
value's exact type, else a built-in default: Arrow IPC for pyarrow Tables and
pandas DataFrames, ``.npy`` for numeric numpy arrays, cloudpickle for the
rest. The chosen protocol's name is stored beside the artifact's digest, so
reading needs no guessing.

cloudpickle runs code when it loads: never load artifacts from a datastore you
do not trust. ``Serde(allow_pickle=False)`` refuses pickle both ways, and stores
plain JSON values (numbers, strings, lists and string-keyed dicts of them) as JSON.

>>> Serde().choose([1, 2]).name
'cloudpickle'
"""

from __future__ import annotations

import inspect
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
        # cloudpickle rebuilds a class sent by value (a protocol defined in a notebook or a test, in a Ray
        # worker) as an empty skeleton first and fills it in after: only a class with a body is checked
        # here; registration checks every protocol again, whole.
        if set(cls.__dict__) - {"__module__", "__doc__", "name"}:
            cls.check()
        cls._uri_calls = (_calling(cls, "write", 2), _calling(cls, "read", 1))

    @classmethod
    def check(cls) -> None:
        """Refuse a protocol that defines too little to write or read a value."""
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

    def write(self, value: Any, uri: str) -> None:
        """Write ``value`` to ``uri`` (an fsspec URL) yourself, e.g. with a library's own Parquet writer.

        Define it together with ``read``; the datastore writes to a temporary URI, then hashes what
        was written and moves it to its content address. The original laminar's signature,
        ``write(self, value, uri)``, is enough for local paths; declare a third parameter,
        ``storage_options``, to be given the datastore's (credentials, endpoint) for object stores. A
        ``write(value, uri)`` without ``self`` (or a staticmethod), as the original's serde page writes
        it, is called without the instance.
        """
        raise NotImplementedError(f"{type(self).__qualname__}.write")

    def read(self, uri: str) -> Any:
        """Read the value at ``uri`` (checked against its digest first); pairs with ``write``, and like it
        may declare ``storage_options`` and may be written without ``self``."""
        raise NotImplementedError(f"{type(self).__qualname__}.read")

    _uri_calls: ClassVar[tuple[tuple[bool, bool], tuple[bool, bool]]] = ((True, False), (True, False))

    def write_uri(self, value: Any, uri: str, storage_options: Mapping[str, Any]) -> None:
        """Call ``write`` as it was declared (see :meth:`write`)."""
        self._uri_call("write", self._uri_calls[0], (value, uri), storage_options)

    def read_uri(self, uri: str, storage_options: Mapping[str, Any]) -> Any:
        """Call ``read`` as it was declared (see :meth:`read`)."""
        return self._uri_call("read", self._uri_calls[1], (uri,), storage_options)

    def _uri_call(self, name: str, how: tuple[bool, bool], args: tuple[Any, ...], options: Mapping[str, Any]) -> Any:
        takes_self, takes_options = how
        function = getattr(self, name) if takes_self else _unbound(type(self), name)
        return function(*args, *((dict(options),) if takes_options else ()))


def _unbound(cls: type, name: str) -> Any:
    """The function ``cls`` defines as ``name``, without binding it (a staticmethod's function)."""
    found = inspect.getattr_static(cls, name)
    return found.__func__ if isinstance(found, (staticmethod, classmethod)) else found


def _calling(cls: type, name: str, documented: int) -> tuple[bool, bool]:
    """How to call ``cls.<name>``: (with the instance?, with the storage options?), told from its signature:
    ``documented`` positional parameters besides ``self`` (``write(self, value, uri)``, ``read(self, uri)``),
    one more for ``storage_options`` (or ``**kwargs``/``*args``); no ``self`` when it is a staticmethod or
    its first parameter is not named ``self`` and there are no more than the documented ones."""
    found = inspect.getattr_static(cls, name)
    static = isinstance(found, staticmethod)
    function = found.__func__ if isinstance(found, (staticmethod, classmethod)) else found
    try:
        parameters = list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError):  # a builtin or a callable object: as documented
        return True, False
    variadic = any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in parameters)
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    takes_self = not static and not (
        positional and positional[0].name != "self" and len(positional) <= documented and not variadic
    )
    rest = len(positional) - (1 if takes_self else 0)
    return takes_self, variadic or rest > documented or any(p.name == "storage_options" for p in parameters)


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


class PlainJson(Json):
    """JSON for a value that is plain JSON as it stands (see :func:`_json_plain`), keys in their order:
    what a datastore with ``allow_pickle=False`` stores such values with (``flow(n=3)``), since they need
    no pickle and read back equal, of the same types."""

    name = "json-plain"

    def dumps(self, value: Any) -> bytes:
        return json.dumps(value, allow_nan=True).encode()

    def quick(self, value: Any) -> bytes | None:
        return self.dumps(value)


def _json_plain(value: Any, budget: list[int]) -> bool:
    """Whether ``value`` reads back from JSON equal and of the same types: None, bools, ints, floats,
    strings, and lists and string-keyed dicts of them (exact types: a tuple would come back a list, a
    subclass as its base), at most ``budget[0]`` items (counted down)."""
    budget[0] -= 1
    if budget[0] < 0:
        return False
    kind = type(value)
    if value is None or kind in (bool, int, float, str):
        return True
    if kind is list:
        return all(_json_plain(item, budget) for item in value)
    if kind is dict:
        return all(type(key) is str and _json_plain(item, budget) for key, item in value.items())
    return False


JSON_ITEMS = 1_000_000  # items checked at most before a value is taken as not plain JSON


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


_BUILTIN: tuple[Protocol, ...] = (Pickle(), Json(), PlainJson(), Arrow(), Pandas(), Numpy())


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
        type(protocol).check()
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
            name = _default_for(value)
            if name is None and not self.allow_pickle and _json_plain(value, [JSON_ITEMS]):
                name = PlainJson.name  # plain data needs no pickle: flow(n=3) on allow_pickle=False
            protocol = self._by_name[name or Pickle.name]
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
