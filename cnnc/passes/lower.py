"""Layers → a flat list of runtime ops over named tensors."""
from __future__ import annotations

from ..compiler import Analysis
from .program import Step


def lower_layers(a: Analysis) -> list[Step]:
    """Each layer becomes its ops (Layer.lower); a layer's last op writes the tensor named after
    the layer, so the rest of the graph reads it by that name."""
    steps = []
    for name in a.graph.order:
        decl = a.graph.decl(name)
        ops = decl.layer.lower(*(a.shapes[t] for t in decl.inputs))
        inputs = a.graph.data_inputs(name)
        for i, op in enumerate(ops):
            output = name if i == len(ops) - 1 else f"{name}~{i}"
            params = [f"{name}.{p}" if p else None for p in op.params]
            steps.append(Step(op.op, dict(op.attrs), list(inputs), output, params, name))
            inputs = [output]
    return steps


def tensor_shapes(a: Analysis, steps: list[Step]) -> dict:
    """Every tensor's shape. Only a layer's last op may change the shape (conv/dense before
    their activation, a projection's conv before its batchnorm), so each op's output has its
    layer's output shape."""
    shapes = {inp.name: inp.shape for inp in a.graph.inputs}
    shapes.update({step.output: a.shapes[step.layer] for step in steps})
    return shapes
