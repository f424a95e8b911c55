"""laminar_ray: the Ray execution backend of laminar. ``from laminar_ray import Ray``."""

from laminar_ray.executor import Ray

__all__ = ["Ray"]
