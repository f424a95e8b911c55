"""Executors: ``Thread`` (in-process); Ray lives in ``laminar_ray.Ray``."""

from laminar.executors import Executor, Thread

__all__ = ["Executor", "Thread"]
