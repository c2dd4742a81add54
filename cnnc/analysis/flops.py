"""Multiply-accumulates per sample of every layer (one MAC = one multiply and one add)."""
from __future__ import annotations

from ..graph import Graph
from ..shape import Shape


def count_macs(graph: Graph, shapes: dict[str, Shape]) -> dict[str, int]:
    out = {}
    for name in graph.order:
        if name in shapes:
            decl = graph.decl(name)
            out[name] = decl.layer.macs([shapes[t] for t in decl.inputs], shapes[name])
    return out
