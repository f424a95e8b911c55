"""Say so when laminar's own dependencies are missing from the Python that runs it.

A missing core dependency (``fsspec``, ``pydantic``, ``ray``...) is not a missing optional backend:
it means this interpreter is not the one laminar was installed into, typically a Ray job whose
``python`` is the cluster's own.

>>> print(explain(ModuleNotFoundError("No module named 'fsspec'", name="fsspec")))  # doctest: +ELLIPSIS
laminar's dependencies are not installed in this Python (...): No module named 'fsspec'; ...
>>> explain(ModuleNotFoundError("No module named 's3fs'", name="s3fs")) is None
True
"""

from __future__ import annotations

import sys

#: Top-level modules of laminar's required dependencies (pyproject.toml's ``dependencies``).
CORE = frozenset({"pydantic", "pydantic_core", "fsspec", "cloudpickle", "orjson", "pyarrow", "rich", "ray", "tomli"})


def explain(error: ImportError) -> str | None:
    """The message for ``error`` when it is a core dependency that cannot be imported, else None."""
    name = (getattr(error, "name", None) or "").partition(".")[0]
    if name not in CORE:
        return None
    return (
        f"laminar's dependencies are not installed in this Python ({sys.executable}): {error}; install "
        "laminar into it (pip install laminar, or the project: pip install -e .), or run with the Python "
        "laminar is installed in. In a Ray job the entrypoint's `python` is the first on the PATH of the "
        "process that ran `ray start`: start the head from laminar's environment (source .venv/bin/activate), "
        "use a cluster image that has laminar, or submit with `laminar submit --pip` (runtime_env pip)"
    )


def missing(error: ImportError) -> ImportError:
    """``error`` reworded by :func:`explain` (same type and ``name``), or ``error`` itself."""
    message = explain(error)
    if message is None:
        return error
    return type(error)(message, name=error.name, path=error.path)
