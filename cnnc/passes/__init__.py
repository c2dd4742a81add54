"""Lowering: the analysed graph → a Program a backend runs. The passes, in order."""
from __future__ import annotations

from ..analysis.params import param_names
from ..compiler import Analysis
from .fuse import fuse
from .lower import lower_layers, tensor_shapes
from .memory import plan_memory
from .program import MemoryPlan, Program, Step
from .schedule import schedule


def lower(a: Analysis, *, training: bool, fused: bool = True) -> Program:
    steps = lower_layers(a)
    tensors = tensor_shapes(a, steps)
    outputs = list(a.graph.outputs)
    steps = schedule(steps)
    if fused:
        steps = fuse(steps, outputs, training=training)
    inputs = {inp.name: inp.shape for inp in a.graph.inputs}
    if training:
        for step in (s for top in steps for s in top.chain()):
            step.attrs["input_grads"] = tuple(t not in inputs for t in step.inputs)
    plan = plan_memory(steps, tensors, list(inputs), outputs, training=training)
    return Program(a.name, inputs, outputs, steps, tensors, param_names(a.params), training, plan)


__all__ = ["MemoryPlan", "Program", "Step", "lower"]
