"""Executors place the scheduler's tasks: ``Thread`` here, ``laminar_ray.Ray`` for Ray."""

from laminar.executors.base import Completion, Executor, Input, Run, Session, Task, TaskKind
from laminar.executors.thread import Thread

__all__ = ["Completion", "Executor", "Input", "Run", "Session", "Task", "TaskKind", "Thread"]
