"""Layer configuration: ``Container``, ``Retry``, ``Catch``, ``Cache``, ``ForEach``, ``Parameter``."""

from laminar.options import Cache, Catch, Container, ForEach, ForEachParameter, LayerConfiguration, Parameter, Retry

__all__ = ["Cache", "Catch", "Container", "ForEach", "ForEachParameter", "LayerConfiguration", "Parameter", "Retry"]
