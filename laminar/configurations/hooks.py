"""Hook decorators: ``entry``, ``execution``, ``submission``, ``retry``."""

from laminar.hooks import entry, execution, retry, submission

__all__ = ["entry", "execution", "retry", "submission"]
