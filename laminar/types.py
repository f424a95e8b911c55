"""Small typing helpers for users' layers."""

from __future__ import annotations

from typing import TypeVar

T = TypeVar("T")


def unwrap(value: T | None, message: str = "expected a value, got None") -> T:
    """Return ``value``, raising ``ValueError`` if it is None.

    >>> unwrap(3)
    3
    >>> unwrap(None, "no index: this layer is not a foreach layer")
    Traceback (most recent call last):
    ...
    ValueError: no index: this layer is not a foreach layer
    """
    if value is None:
        raise ValueError(message)
    return value
