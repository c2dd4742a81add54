"""Scheduling: the order steps run in.

Steps keep the graph's topological order, except that the steps of a side path — one whose
outputs only lead into a merge (add, multiply, concat) — move up to just after their inputs
exist. A ResNet projection shortcut
then runs before the block's body, so the body's last convolution can take the residual add
into its epilogue (see fuse.py).
"""
from __future__ import annotations

from .program import Step

MERGES = {"add", "multiply", "concat"}


def schedule(steps: list[Step]) -> list[Step]:
    readers: dict[str, list[Step]] = {}
    for step in steps:
        for t in step.inputs:
            readers.setdefault(t, []).append(step)
    side = set()                      # steps on a path that ends in a merge and nowhere else
    for step in reversed(steps):
        rs = readers.get(step.output, [])
        if rs and all(r.op in MERGES or id(r) in side for r in rs):
            side.add(id(step))
    order: list[Step] = []
    for step in steps:
        if id(step) in side:
            order.insert(_earliest(order, step), step)
        else:
            order.append(step)
    return order


def _earliest(order: list[Step], step: Step) -> int:
    """Just after the last step that produces one of `step`'s inputs."""
    made = {s.output: i for i, s in enumerate(order)}
    return max((made[t] + 1 for t in step.inputs if t in made), default=0)
