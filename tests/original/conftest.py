"""Fixtures for the original laminar's documentation pages run as tests (one module per page).

``printed(expected)`` waits (bounded) until every expected line was printed, by this process or, on Ray,
by its workers (Ray forwards their output with a ``(Flow.Layer pid=...)`` prefix, which is dropped), and
returns the lines printed so far. Splits on the Thread executor print from threads of one process, where
``print`` writes its arguments one by one and lines of parallel splits interleave; ``print`` is made to
write each whole line at once for these tests (the pages' code is unchanged). :mod:`original.docpages`
has the other helpers (``ray4`` runs a script on a Ray of 4 logical CPUs, for the pages' examples that
ask for 4 CPUs: this machine's test Ray has 2).
"""

from __future__ import annotations

import builtins
import collections
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from original.docpages import PREFIX

Printed = Callable[..., list[str]]


@pytest.fixture
def printed(capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Printed:
    seen: list[str] = []
    lock = threading.Lock()
    original = builtins.print

    def whole_lines(*values: object, sep: str | None = " ", end: str | None = "\n", **more: Any) -> None:
        line = (" " if sep is None else sep).join(map(str, values)) + ("\n" if end is None else end)
        with lock:
            original(line, end="", **more)

    monkeypatch.setattr(builtins, "print", whole_lines)

    def wait(expected: Sequence[str], timeout: float = 20) -> list[str]:
        deadline = time.monotonic() + timeout
        while True:
            out = capfd.readouterr().out
            seen.extend(PREFIX.sub("", line) for line in out.splitlines())
            missing = collections.Counter(expected) - collections.Counter(seen)
            if not missing or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert not missing, f"never printed: {dict(missing)}; printed: {seen}"
        return list(seen)

    return wait
