"""Executors place the engine's tasks: ``Thread`` here, ``laminar_ray.Ray`` for Ray."""

from laminar.executors.base import Executor, Run, Session
from laminar.executors.thread import Thread

__all__ = ["Executor", "Run", "Session", "Thread"]
