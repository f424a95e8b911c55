"""Layer configuration: ``Container``, ``Retry``, ``Catch``, ``ForEach``, ``Parameter``."""

from laminar.options import Catch, Container, ForEach, ForEachParameter, LayerConfiguration, Parameter, Retry

__all__ = ["Catch", "Container", "ForEach", "ForEachParameter", "LayerConfiguration", "Parameter", "Retry"]
