"""Memory per sample: every layer output kept (as a training forward pass does) and parameters."""
from __future__ import annotations

from ..graph import Graph
from ..layers.base import Param
from ..shape import Shape

PARAM_BYTES = 4          # float32


def activation_bytes(graph: Graph, shapes: dict[str, Shape]) -> int:
    return sum(shapes[n].bytes for n in graph.order if n in shapes)


def param_bytes(params: dict[str, list[Param]]) -> int:
    return PARAM_BYTES * sum(p.numel for ps in params.values() for p in ps)
