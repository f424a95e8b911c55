"""Short previews of values: what a report shows of an artifact or a parameter without showing it all.

Arrays and tables (anything with ``shape`` and ``dtype``, Arrow tables, data frames) are described by
their shape and types, never printed; everything else by a ``repr`` cut short, so a preview stays one
line whatever the value.

>>> preview([1, 2, 3])
'[1, 2, 3]'
>>> text = preview("x" * 500)
>>> len(text) < 160, text[:4], "..." in text
(True, "'xxx", True)
>>> preview(list(range(100)))
'[0, 1, 2, 3, 4, 5, ...] (100 items)'
"""

from __future__ import annotations

import reprlib
from collections.abc import Sized
from typing import Any

LENGTH = 160  # characters of a preview at most

_repr = reprlib.Repr()
_repr.maxlevel = 3
_repr.maxlist = _repr.maxtuple = _repr.maxset = _repr.maxfrozenset = _repr.maxdeque = 6
_repr.maxdict = 6
_repr.maxstring = 100
_repr.maxother = 100


def _columns(names: Any, types: Any) -> str:
    pairs = [f"{name}: {kind}" for name, kind in zip(list(names), list(types), strict=False)]
    shown = ", ".join(pairs[:6])
    return shown + (f", ... ({len(pairs)} columns)" if len(pairs) > 6 else "")


def preview(value: Any) -> str:
    """One line describing ``value``: shape and types of arrays and tables, else a short ``repr``."""
    try:
        return _cut(_describe(value))
    except Exception as error:  # a value whose repr raises still gets a line
        return f"<{type(value).__name__}: its repr failed: {type(error).__name__}>"


def _describe(value: Any) -> str:
    kind = type(value).__name__
    if hasattr(value, "num_rows") and hasattr(value, "schema"):  # pyarrow Table or RecordBatch
        schema = value.schema
        return f"{kind} {value.num_rows} rows x {len(schema.names)} columns: {_columns(schema.names, schema.types)}"
    if hasattr(value, "shape") and hasattr(value, "dtypes") and hasattr(value, "columns"):  # a data frame
        rows, columns = value.shape
        return f"{kind} {rows} rows x {columns} columns: {_columns(value.columns, value.dtypes)}"
    if hasattr(value, "shape") and hasattr(value, "dtype"):  # numpy, torch, jax, cupy arrays and scalars
        shape = tuple(int(n) for n in value.shape)
        if shape == ():
            return f"{kind} {value!r}"
        return f"{kind} shape={shape} dtype={value.dtype}"
    text = _repr.repr(value)
    if isinstance(value, (list, tuple, set, frozenset, dict)) and isinstance(value, Sized) and len(value) > 6:
        text += f" ({len(value)} items)"  # reprlib showed 6 of them
    return text


def _cut(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= LENGTH else text[: LENGTH - 3] + "..."


def size(count: float) -> str:
    """A byte count for people.

    >>> size(512), size(2048), size(3 * 2**30)
    ('512 B', '2.0 KiB', '3.0 GiB')
    """
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    raise AssertionError("unreachable")  # pragma: no cover
