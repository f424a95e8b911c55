"""laminar: workflows in plain Python, run on Ray with resources decided at run time.

Flows are classes, layers are classes registered on them, dependencies are
type hints on ``__call__`` and anything assigned to ``self`` is an artifact.
"""

try:
    from laminar.artifacts import Accessor
    from laminar.errors import LaminarError
    from laminar.flow import Flow
    from laminar.layer import Layer, Parameters, State
    from laminar.results import Execution
except ImportError as error:  # a dependency missing from this Python: name it and say how to fix it
    from laminar.dependencies import missing

    raise missing(error) from None

__all__ = ["Accessor", "Execution", "Flow", "LaminarError", "Layer", "Parameters", "State"]
__version__ = "0.1.0"
