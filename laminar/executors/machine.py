"""What this machine could ever give one split, as a local Ray started here would see it, so that the
``Thread`` executor warns about (or refuses) the requests that Ray would refuse on this machine: a test
on Thread then catches a ``Container(cpu=64)`` before the flow meets Ray.

The machine's total CPUs, physical memory and visible NVIDIA GPUs, and no custom resources (a local Ray
has none unless it is started with them). Ray's own ``memory`` resource is somewhat less than physical
memory (the object store takes a share), so a request between the two passes here and not there.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cache
from pathlib import Path

from laminar.options import Container

MB = 1024 * 1024


@cache
def capacity() -> Mapping[str, float]:
    """This machine's resources in Ray's names and units (memory in bytes)."""
    pages = os.sysconf("SC_PHYS_PAGES") if hasattr(os, "sysconf") else 0
    memory = float(pages * os.sysconf("SC_PAGE_SIZE")) if pages > 0 else float("inf")
    return {"CPU": float(os.cpu_count() or 1), "memory": memory, "GPU": float(_gpus())}


def _gpus() -> int:
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return len([device for device in visible.split(",") if device.strip() and device.strip() != "-1"])
    found = Path("/proc/driver/nvidia/gpus")
    return len(list(found.iterdir())) if found.is_dir() else 0


def beyond(container: Container) -> dict[str, tuple[float, float]]:
    """What ``container`` asks for beyond this machine: resource -> (asked, available)."""
    have = capacity()
    asked = {"CPU": container.cpu, "GPU": container.gpu, "memory": container.memory * MB, **container.resources}
    return {name: (amount, have.get(name, 0.0)) for name, amount in asked.items() if amount > have.get(name, 0.0)}


def describe(over: Mapping[str, tuple[float, float]]) -> str:
    """``over`` (from :func:`beyond`) as ``cpu=4 (this machine has 2)``."""

    def shown(name: str, amount: float) -> str:
        return f"{amount / MB:.0f} MB" if name == "memory" else f"{amount:g}"

    names = {"CPU": "cpu", "GPU": "gpu", "memory": "memory"}
    return ", ".join(
        f"{names.get(name, repr(name))}={shown(name, asked)} (this machine has {shown(name, has)})"
        for name, (asked, has) in over.items()
    )
