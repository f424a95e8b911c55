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
from typing import IO, Any, ClassVar

import cloudpickle

from laminar.errors import ArtifactError


class Protocol:
    """Base class of serialization protocols: override ``dumps`` and ``loads``.

    ``name`` identifies the protocol in archives (default: its qualified class name).
    """

    name: ClassVar[str] = ""
    executes_code: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.__dict__.get("name"):
            cls.name = f"{cls.__module__}.{cls.__qualname__}"

    def dumps(self, value: Any) -> bytes:
        raise NotImplementedError(f"{type(self).__name__}.dumps")

    def loads(self, data: bytes) -> Any:
        raise NotImplementedError(f"{type(self).__name__}.loads")

    def dump(self, value: Any, file: IO[bytes]) -> None:
        """Write ``value`` to a binary file; override to stream large values."""
        file.write(self.dumps(value))

    def load(self, file: IO[bytes]) -> Any:
        """Read a value from a binary file; override to stream large values."""
        return self.loads(file.read())


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


class Json(Protocol):
    """JSON for plain data (dicts, lists, strings, numbers)."""

    name = "json"

    def dumps(self, value: Any) -> bytes:
        return json.dumps(value, sort_keys=True).encode()

    def loads(self, data: bytes) -> Any:
        return json.loads(data)


class Arrow(Protocol):
    """pyarrow Tables as Arrow IPC streams: no pickle, zero-copy reads."""

    name = "arrow"

    def dump(self, value: Any, file: IO[bytes]) -> None:
        import pyarrow as pa

        with pa.ipc.new_stream(file, value.schema) as writer:
            writer.write_table(value)

    def load(self, file: IO[bytes]) -> Any:
        import pyarrow as pa

        return pa.ipc.open_stream(file).read_all()

    def dumps(self, value: Any) -> bytes:
        buffer = io.BytesIO()
        self.dump(value, buffer)
        return buffer.getvalue()

    def loads(self, data: bytes) -> Any:
        import pyarrow as pa

        return pa.ipc.open_stream(pa.py_buffer(data)).read_all()


class Pandas(Arrow):
    """pandas DataFrames through Arrow IPC."""

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

    def dumps(self, value: Any) -> bytes:
        buffer = io.BytesIO()
        self.dump(value, buffer)
        return buffer.getvalue()

    def loads(self, data: bytes) -> Any:
        return self.load(io.BytesIO(data))


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
    """The protocols one datastore uses: exact-type registrations, then built-in defaults."""

    def __init__(self, *, allow_pickle: bool = True) -> None:
        self.allow_pickle = allow_pickle
        self._by_type: dict[type, Protocol] = {}
        self._by_name: dict[str, Protocol] = {p.name: p for p in _BUILTIN}

    def register(self, protocol: Protocol, *types: type) -> None:
        self._by_name[protocol.name] = protocol
        for kind in types:
            self._by_type[kind] = protocol

    def choose(self, value: Any) -> Protocol:
        protocol = self._by_type.get(type(value))
        if protocol is None:
            protocol = self._by_name[_default_for(value) or Pickle.name]
        self._check(protocol)
        return protocol

    def get(self, name: str) -> Protocol:
        protocol = self._by_name.get(name)
        if protocol is None:
            raise ArtifactError(
                f"no serialization protocol named {name!r} is registered on this datastore; "
                "import the module that registers it (@datastore.protocol(...)) before reading"
            )
        self._check(protocol)
        return protocol

    def _check(self, protocol: Protocol) -> None:
        if protocol.executes_code and not self.allow_pickle:
            raise ArtifactError(
                f"protocol {protocol.name!r} runs code when loading and this datastore was created "
                "with allow_pickle=False; register a safe protocol for this type "
                "(@datastore.protocol(SomeType)) or store Arrow tables, numpy arrays or JSON"
            )
