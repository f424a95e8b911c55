"""Helpers for the documentation pages' tests: waiting for printed lines, order, a Ray of 4 CPUs."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

PREFIX = re.compile(r"^(\x1b\[\d+m)?\([^)]*pid=\d+[^)]*\)(\x1b\[0m)?\s?")


def in_order(lines: Sequence[str], expected: Sequence[str]) -> bool:
    """Whether ``expected`` occurs in ``lines`` in that order (other lines between them allowed)."""
    found = iter(lines)
    return all(any(line == wanted for line in found) for wanted in expected)


def ray4(tmp_path: Path, script: str) -> str:
    """Run ``script`` (a flow built with ``EXECUTOR`` and ``DATASTORE``) on a new local Ray of 4 logical CPUs;
    its output, after Ray stopped."""
    prelude = f"""
    import ray
    from laminar.configurations import datastores
    from laminar_ray import Ray

    ray.init(address="local", num_cpus=4, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=True)
    EXECUTOR = Ray()
    DATASTORE = datastores.Local(root={str(tmp_path / "store")!r})
    """
    body = textwrap.dedent(prelude) + textwrap.dedent(script) + "\nimport time; time.sleep(1.5); ray.shutdown()\n"
    (tmp_path / "main.py").write_text(body)
    done = subprocess.run([sys.executable, "main.py"], cwd=tmp_path, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    return "\n".join(PREFIX.sub("", line) for line in done.stdout.splitlines())
