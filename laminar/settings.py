"""Where a flow keeps its data when its code names no datastore: one answer for every process of a run.

In order, the first that is set wins:

1. ``LAMINAR_DATASTORE``: a local path or any fsspec URL (``s3://bucket/prefix``);
2. ``datastore = "..."`` in a ``laminar.toml`` in the current directory or one above it (a relative
   path is read from the file's directory);
3. ``.laminar`` in the current directory.

The flow, the ``laminar`` command and ``laminar submit`` all read it the same way, so a run's driver,
its Ray workers and the machine that looks at the results agree. A ``laminar.toml`` travels with
``ray job submit --working-dir .``; ``laminar submit`` passes ``LAMINAR_DATASTORE`` to the job itself.

Inside a Ray job the current directory is Ray's unpacked copy of the working dir, deleted with the
session: a default that lands there is refused, naming the fix.

>>> import os
>>> from_url("s3://bucket/runs"), from_url("gcs://bucket/runs"), from_url("/data/runs")
(S3(root='s3://bucket/runs'), Fsspec(root='gcs://bucket/runs'), Local(root='/data/runs'))
>>> ephemeral("/tmp/ray/session_1/runtime_resources/working_dir_files/_ray_pkg_ab12/.laminar")
True
"""

from __future__ import annotations

import importlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from laminar.datastore import S3, Datastore, Fsspec, Local
from laminar.errors import ConfigurationError

ENV = "LAMINAR_DATASTORE"
CONFIG = "laminar.toml"
DEFAULT = ".laminar"
# Ray unpacks a job's working_dir (and py_modules, pip environments) under <session>/runtime_resources/.
_RAY_RESOURCES = "runtime_resources"


@dataclass(frozen=True)
class Choice:
    """The datastore URL chosen and what chose it (``LAMINAR_DATASTORE``, a laminar.toml, the default)."""

    url: str
    source: str


def from_url(url: str, **storage_options: Any) -> Datastore:
    """The datastore a URL names: ``s3://`` is S3, any other ``scheme://`` fsspec, anything else a local path."""
    scheme = url.partition("://")[0] if "://" in url else ""
    if scheme in ("s3", "s3a"):
        return S3(url, **storage_options)
    if scheme and scheme != "file":
        return Fsspec(url, **storage_options)
    return Local(url.partition("://")[2] if scheme else url)


def _toml(path: Path) -> dict[str, Any]:
    # tomllib is in the standard library from 3.11; tomli is the same parser for 3.10
    parser: Any = importlib.import_module("tomllib" if sys.version_info >= (3, 11) else "tomli")
    try:
        with open(path, "rb") as file:
            data: dict[str, Any] = parser.load(file)
    except (OSError, ValueError) as error:  # TOMLDecodeError is a ValueError
        raise ConfigurationError(f"cannot read {path}: {error}") from None
    return data


def config_file(start: Path | None = None) -> Path | None:
    """The nearest ``laminar.toml``: in ``start`` (default: the current directory) or a directory above it."""
    here = (start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        candidate = directory / CONFIG
        if candidate.is_file():
            return candidate
    return None


def choice(cwd: Path | None = None) -> Choice:
    """Which datastore URL this process uses for flows that name none (see the module docstring)."""
    value = os.environ.get(ENV, "").strip()
    if value:
        return Choice(value if "://" in value else os.path.abspath(os.path.expanduser(value)), ENV)
    found = config_file(cwd)
    if found is not None:
        configured = _toml(found).get("datastore")
        if configured is not None:
            if not isinstance(configured, str) or not configured.strip():
                raise ConfigurationError(f"{found}: datastore must be a path or URL string, got {configured!r}")
            if "://" not in configured:
                configured = str((found.parent / os.path.expanduser(configured)).resolve())
            return Choice(configured, str(found))
    return Choice(os.path.abspath(os.path.join(cwd or os.getcwd(), DEFAULT)), "the default")


def ephemeral(path: str) -> bool:
    """Whether ``path`` lies in files Ray unpacked for a job (its working_dir, py_modules...), which
    Ray deletes with the session."""
    return "://" not in path and _RAY_RESOURCES in Path(path).parts


def default_datastore(flow: str = "a flow", *, check: bool = True) -> Datastore:
    """The datastore of a flow built without one; with ``check``, one inside Ray's temporary files is refused."""
    chosen = choice()
    store = from_url(chosen.url)
    if check:
        refuse_ephemeral(flow, store, chosen.source)
    return store


def refuse_ephemeral(flow: str, store: Datastore, source: str = "") -> None:
    """Raise ConfigurationError when ``store`` lies in files Ray deletes with its session (see :func:`ephemeral`)."""
    if not ephemeral(store.root):
        return
    chosen = f" ({source})" if source else ""
    raise ConfigurationError(
        f"{flow}: the datastore would be {store.root}{chosen}, inside the files Ray unpacked for this job, "
        f"which Ray deletes with its session; name one that outlives the job: set {ENV} (ray job submit "
        f'--runtime-env-json \'{{"env_vars": {{"{ENV}": "/shared/path or s3://bucket/prefix"}}}}\'), write '
        f'datastore = "..." (an absolute path or URL) in a {CONFIG} in the submitted directory, or submit with '
        "`laminar submit`, which passes the submitting side's datastore to the job"
    )
