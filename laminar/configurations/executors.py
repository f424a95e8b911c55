"""Executors: ``Thread`` (in-process); Ray lives in ``laminar_ray.Ray``. ``Docker`` (every layer in its image)
and ``AWS.Batch`` (refused when used) are the original laminar's names (:mod:`laminar.executors.compat`)."""

from laminar.executors import Executor, Thread
from laminar.executors.compat import AWS, Docker

__all__ = ["AWS", "Docker", "Executor", "Thread"]
