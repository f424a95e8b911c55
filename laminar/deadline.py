"""Stopping a split that runs longer than its ``Container(timeout=...)``.

Python can stop running code only from inside its own process, and only between bytecodes: the thread
running it gets an exception raised in it. :class:`Expired` is that exception: a ``BaseException``, so
a layer's ``except Exception`` does not swallow it; it becomes a
:class:`~laminar.errors.LayerTimeout` (an ``Exception``, a failed attempt that ``Retry`` retries) once
out of the layer's code.

- In a process's main thread (a Ray worker, a container's entry), :func:`limit` arms ``SIGALRM``: the
  signal interrupts a sleep or a blocking read too. In a process that runs layers only
  (``runtime.in_worker()``), a watchdog thread ends the process :data:`GRACE` seconds later if the
  split has still not stopped (its code caught the exception, or runs in C code that holds the
  thread): the worker is lost, as if killed, and the executor tells the attempt timed out.
- In another thread (``executors.Thread``), :func:`interrupt` raises it asynchronously: code in C (a
  ``time.sleep``) sees it only once it returns, so the executor stops waiting after :data:`GRACE`
  seconds more and abandons the thread (its result is dropped; it stops when it next runs Python code).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Any

from laminar import runtime
from laminar.errors import LayerTimeout

#: Seconds a split over its timeout has to stop before its worker process is ended (Ray, containers) or
#: its thread abandoned (Thread).
GRACE = 2.0
#: The exit status of a worker process ended for a split that did not stop.
EXIT_STATUS = 124


class Expired(BaseException):
    """Raised in the thread running a split that is over its timeout (see the module docstring)."""


def timed_out(flow: str, label: str, seconds: float, *, stopped: str = "stopped") -> LayerTimeout:
    """The error of an attempt that ran longer than ``seconds``, naming the layer, the limit and the fix."""
    return LayerTimeout(
        flow,
        label,
        f"ran longer than its timeout of {seconds:g} s (Container(timeout={seconds:g})) and was {stopped}; "
        "raise the timeout (a retry hook may raise it for the next attempt) or make the split faster",
        seconds,
    )


@contextlib.contextmanager
def limit(seconds: float | None, flow: str, label: str) -> Iterator[None]:
    """Run the block under a timeout of ``seconds`` (None: none); its :class:`Expired` raised as
    :class:`LayerTimeout`. Enforced here only in the main thread (elsewhere the executor interrupts it)."""
    if seconds is None:
        yield
        return
    armed = threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer")
    watchdog = _watchdog(seconds, flow, label) if armed and runtime.in_worker() else None
    previous: Any = signal.getsignal(signal.SIGALRM) if armed else None
    if armed:
        signal.signal(signal.SIGALRM, _expire)
    try:
        if armed:
            signal.setitimer(signal.ITIMER_REAL, seconds)
        yield
    except Expired:
        raise timed_out(flow, label, seconds) from None
    finally:
        if armed:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, signal.SIG_DFL if previous is None else previous)
        if watchdog is not None:
            watchdog.set()


def _expire(signum: int, frame: Any) -> None:
    raise Expired()


def _watchdog(seconds: float, flow: str, label: str) -> threading.Event:
    """An event to set once the split stopped; if it is not set :data:`GRACE` seconds after its timeout,
    this process ends (it runs layers only: its executor counts the attempt as timed out)."""
    stopped = threading.Event()

    def watch() -> None:
        if stopped.wait(seconds + GRACE):
            return
        message = f"laminar: {flow}.{label} did not stop within {GRACE:g} s of its timeout of {seconds:g} s"
        print(f"{message}; ending its worker process", file=sys.stderr, flush=True)
        os._exit(EXIT_STATUS)

    threading.Thread(target=watch, name="laminar-timeout", daemon=True).start()
    return stopped


def interrupt(thread: int, error: type[BaseException]) -> None:
    """Raise ``error`` in the thread whose ident is ``thread``, once it next runs Python code (CPython)."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread), ctypes.py_object(error))


def clear(thread: int) -> None:
    """Withdraw an exception :func:`interrupt` raised in ``thread`` that it has not seen yet."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread), None)
