"""Where everything lives in a datastore: pure functions from names to relative paths.

::

    artifacts/sha256/<d[:2]>/<digest>                     content-addressed bytes
    tmp/<random>                                          local disks only: large files being written
    <directory>/.tmp-<random>                             local disks only: a small file or a document
                                                          being written, beside its final name
    flows/<flow>/<execution>/execution.json               parameters and start time
    flows/<flow>/<execution>/layers-<random>.json         records of finished layers committed together
                                                          (each as its layer.json would be)
    flows/<flow>/<execution>/<layer>/layer.json           the layer's record, written last (on Ray, a
                                                          finished layer's carries the documents of
                                                          its splits not committed before)
    flows/<flow>/<execution>/<layer>/<split>.json         a finished split: its archive (attribute ->
                                                          protocols and digests, and the bytes of
                                                          small artifacts) and its record (attempt,
                                                          timings, resources)
    flows/<flow>/<execution>/<layer>/splits-<random>.json documents of finished splits committed
                                                          together (on Ray, a foreach layer's splits)
    flows/<flow>/<execution>/<layer>/<split>.failure-<n>.json  attempt n of a split, failed
    flows/<flow>/<execution>/<layer>/<split>.log-<n>.json   what attempt n wrote (while it runs, and
                                                          after it when too long for its record)

``<split>`` is 0 for a layer that is not a foreach layer. A split is one file, not a directory of
files: on a local disk every file created costs more than a small task's whole run (a create, a
flush, a rename), and a split's archive and record are only ever written together. Every name that
becomes a path segment is checked by :func:`segment` (each distinct name once
per process: the checks are pure).
"""

from __future__ import annotations

import functools
import itertools
import os
import secrets
import string

from laminar.errors import ArtifactError, ConfigurationError

ARTIFACTS = "artifacts/sha256"
TMP = "tmp"
FLOWS = "flows"
EXECUTION = "execution.json"
LAYER = "layer.json"
SPLIT = ".json"  # <split>.json
FAILURE = ".failure-"  # <split>.failure-<attempt>.json
LOG = ".log-"  # <split>.log-<attempt>.json
BATCH = "splits-"  # splits-<random>.json
LAYERS = "layers-"  # layers-<random>.json, beside execution.json (a layer's name is its class's: no "-")
WITHDRAWN = "withdrawn-"  # withdrawn-<run>.json, beside execution.json


def segment(kind: str, value: str) -> str:
    """Return ``value`` if it is safe as one path segment, else raise.

    >>> segment("execution", "2026-run_1")
    '2026-run_1'
    >>> segment("execution id", "../etc")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    laminar.errors.ConfigurationError: execution id '../etc' cannot be used as a datastore path: ...
    """
    if not (isinstance(value, str) and _safe(value)):
        raise ConfigurationError(
            f"{kind} {value!r} cannot be used as a datastore path: use letters, digits, '.', '_' "
            "and '-' (at most 200), not starting with '.'"
        )
    return value


@functools.lru_cache(maxsize=4096)
def _safe(value: str) -> bool:
    return (
        0 < len(value) <= 200
        and not value.startswith(".")
        and all(c.isascii() and (c.isalnum() or c in "._-") for c in value)
    )


_HEX = frozenset(string.hexdigits)


def artifact(digest: str) -> str:
    """Where the bytes whose SHA-256 is ``digest`` live; refuses anything but 64 hex digits.

    >>> artifact("ab" * 32)[:22]
    'artifacts/sha256/ab/ab'
    """
    if not (isinstance(digest, str) and len(digest) == 64 and _HEX.issuperset(digest)):
        raise ArtifactError(f"{digest!r} is not a SHA-256 digest (64 hexadecimal digits); the archive is damaged")
    digest = digest.lower()
    return f"{ARTIFACTS}/{digest[:2]}/{digest}"


def temporary() -> str:
    """A fresh name for a file being written; renamed into place when complete (local disks).

    Unique across processes and hosts sharing a disk: a random prefix drawn once per process
    (again in a forked child), then a counter.
    """
    return f"{TMP}/{_unique()}"


def temporary_beside(relative: str) -> str:
    """A fresh name for a file being written in the directory of ``relative``, where it is renamed to
    when complete (local disks). It starts with ``.``, which no name laminar reads may.

    >>> temporary_beside("flows/F/e/L/3.json").startswith("flows/F/e/L/.tmp-")
    True
    """
    directory, _, _ = relative.rpartition("/")
    return f"{directory}/.{TMP}-{_unique()}"


def _unique() -> str:
    """A name no other process or host sharing the datastore draws: a random per-process prefix, a counter."""
    return f"{_prefix}-{next(_counter)}"


_counter = itertools.count()
_prefix = ""


def _new_prefix() -> None:
    global _prefix
    _prefix = f"{secrets.token_hex(8)}-{os.getpid()}"


_new_prefix()
if hasattr(os, "register_at_fork"):  # POSIX: a forked child must not reuse its parent's names
    os.register_at_fork(after_in_child=_new_prefix)


def flow(name: str) -> str:
    return f"{FLOWS}/{segment('flow name', name)}"


def execution(flow_name: str, execution_id: str) -> str:
    return f"{flow(flow_name)}/{segment('execution id', execution_id)}"


def layer(flow_name: str, execution_id: str, layer_name: str) -> str:
    return f"{execution(flow_name, execution_id)}/{segment('layer name', layer_name)}"


def split(flow_name: str, execution_id: str, layer_name: str, index: int) -> str:
    """A finished split's document: its archive and its record.

    >>> split("Flow", "e-1", "Train", 12)
    'flows/Flow/e-1/Train/12.json'
    """
    return f"{_split(flow_name, execution_id, layer_name, index)}{SPLIT}"


def failure(flow_name: str, execution_id: str, layer_name: str, index: int, attempt: int) -> str:
    """A split's failed attempt.

    >>> failure("Flow", "e-1", "Train", 3, 2)
    'flows/Flow/e-1/Train/3.failure-2.json'
    """
    return f"{_split(flow_name, execution_id, layer_name, index)}{FAILURE}{_attempt(attempt)}{SPLIT}"


def log(flow_name: str, execution_id: str, layer_name: str, index: int, attempt: int) -> str:
    """What a split's attempt wrote (to stdout and stderr)."""
    return f"{_split(flow_name, execution_id, layer_name, index)}{LOG}{_attempt(attempt)}{SPLIT}"


def attempt_file(name: str) -> tuple[str, int, int] | None:
    """``("failure" or "log", split, attempt)`` for a layer listing's entry of a failed attempt or a log.

    >>> attempt_file("3.failure-2.json"), attempt_file("3.log-1.json"), attempt_file("3.json")
    (('failure', 3, 2), ('log', 3, 1), None)
    """
    for kind, marker in (("failure", FAILURE), ("log", LOG)):
        split, found, rest = name.partition(marker)
        attempt = rest[: -len(SPLIT)] if rest.endswith(SPLIT) else ""
        if found and split.isascii() and split.isdigit() and attempt.isascii() and attempt.isdigit():
            return kind, int(split), int(attempt)
    return None


def _attempt(attempt: int) -> int:
    if isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 1:
        raise ConfigurationError(f"attempt {attempt!r} must be an integer >= 1")
    return attempt


def batch(flow_name: str, execution_id: str, layer_name: str) -> str:
    """A fresh name for a batch of split documents committed together.

    >>> batch("Flow", "e-1", "Train").startswith("flows/Flow/e-1/Train/splits-")
    True
    """
    return f"{layer(flow_name, execution_id, layer_name)}/{BATCH}{_unique()}{SPLIT}"


def is_batch(name: str) -> bool:
    """Whether ``name`` (a listing's entry) is a batch of split documents."""
    return name.startswith(BATCH) and name.endswith(SPLIT)


def layer_batch(flow_name: str, execution_id: str) -> str:
    """A fresh name for a batch of finished layers' records committed together.

    >>> layer_batch("Flow", "e-1").startswith("flows/Flow/e-1/layers-")
    True
    """
    return f"{execution(flow_name, execution_id)}/{LAYERS}{_unique()}{SPLIT}"


def is_layer_batch(name: str) -> bool:
    """Whether ``name`` (an entry of an execution's listing) is a batch of layer records."""
    return name.startswith(LAYERS) and name.endswith(SPLIT)


def withdrawn(flow_name: str, execution_id: str, run: str) -> str:
    """The mark one run of an execution leaves when it withdraws the tasks it submitted ahead (it is
    failing): each such task looks for it before it runs anything.

    >>> withdrawn("Flow", "e-1", "9f2c")
    'flows/Flow/e-1/withdrawn-9f2c.json'
    """
    return f"{execution(flow_name, execution_id)}/{WITHDRAWN}{segment('run', run)}{SPLIT}"


def is_withdrawn(name: str) -> bool:
    """Whether ``name`` (an entry of an execution's listing) is a run's withdrawal mark."""
    return name.startswith(WITHDRAWN) and name.endswith(SPLIT)


def split_index(name: str) -> int | None:
    """The index of the finished split whose document is named ``name`` (a listing's entry), else None.

    >>> split_index("12.json"), split_index("12.failure-1.json"), split_index("layer.json")
    (12, None, None)
    """
    stem = name[: -len(SPLIT)] if name.endswith(SPLIT) else ""
    return int(stem) if stem.isascii() and stem.isdigit() else None


def _split(flow_name: str, execution_id: str, layer_name: str, index: int) -> str:
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        raise ConfigurationError(f"split index {index!r} of layer {layer_name!r} must be an integer >= 0")
    return f"{layer(flow_name, execution_id, layer_name)}/{index}"
