"""The engine: what runs next (:mod:`~laminar.engine.state`), carried out by :mod:`~laminar.engine.loop`,
seen through :mod:`~laminar.engine.snapshot`. One engine for every executor."""
