"""The layer catalogue: every kind registered in LAYERS by its family module."""
from . import activation, conv, core, graph, merge, norm, pool, recurrent, spatial  # noqa: F401  (register)
from .base import LAYERS, Layer, Param

FAMILIES = ("conv", "pool", "norm", "activation", "merge", "dense", "recurrent", "graph", "spatial", "core")

__all__ = ["FAMILIES", "LAYERS", "Layer", "Param"]
