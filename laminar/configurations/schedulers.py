"""Schedulers, by the original laminar's name: ``Scheduler`` is laminar's engine, the only one, which a flow
uses by default (``Flow(scheduler=schedulers.Scheduler())`` says so explicitly). The original's delegated
schedulers (AWS Step Functions, "under construction" there) are not provided."""

from laminar.flow import Scheduler

__all__ = ["Scheduler"]
