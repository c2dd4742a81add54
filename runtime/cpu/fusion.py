"""Fused inference steps: a convolution or dense layer whose step goes on with a residual add
and/or an activation runs them in one extra pass over its output, in place, instead of one
op (and one new array) each. Batchnorm is already folded into the weights at inference
(cnnc/passes/fold.py); what is left of the chain is handled here, or not at all (None)."""
from __future__ import annotations

from .activation import CODES, epilogue_in_place

HEADS = {"conv2d", "dense"}


def fuse(step, kernels: dict):
    """A runner `run(env, params, ctx) -> output` for the step, or None to run it op by op."""
    head, *rest = step.chain()
    if head.op not in HEADS or not rest:
        return None
    residual = None
    if rest[0].op == "add" and len(rest[0].inputs) == 2:
        residual, rest = rest[0].inputs[1], rest[1:]
    activation, slope = "none", 0.01
    if rest and rest[0].op in CODES:
        activation, slope, rest = rest[0].op, rest[0].attrs.get("slope", 0.01), rest[1:]
    if rest:
        return None
    forward = kernels[head.op][0]

    def run(env, params, ctx):
        xs = [env[t] for t in head.inputs]
        ps = [None if p is None else params[p] for p in head.params]
        y, _ = forward(xs, ps, head.attrs, ctx)
        return epilogue_in_place(y, env[residual] if residual else None, activation, slope)
    return run
