"""Parameters of every layer, by PyTorch-style full name: `<layer>.<param>`."""
from __future__ import annotations

from ..graph import Graph
from ..layers.base import Param
from ..shape import Shape


def count_params(graph: Graph, shapes: dict[str, Shape]) -> dict[str, list[Param]]:
    return {name: list(graph.decl(name).layer.params(*(shapes[t] for t in graph.decl(name).inputs)))
            for name in graph.order if name in shapes}


def param_names(params: dict[str, list[Param]]) -> dict[str, Param]:
    """{'layer1.0.conv1.weight': Param, …}: the names weights and checkpoints use."""
    return {f"{layer}.{p.name}": p for layer, ps in params.items() for p in ps}
