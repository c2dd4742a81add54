"""Fused steps.

At inference: a convolution or dense layer whose step goes on with a residual add and/or an
activation. Batchnorm is already folded into the weights (cnnc/passes/fold.py); what is left
of the chain runs here, or not at all (None):

- a conv2d takes the residual add and a ReLU-family activation, tanh or sigmoid into its
  generated kernel's store (runtime/cpu/conv_source.py): no extra pass over the output;
- otherwise (dense, or hard sigmoid…) the rest runs in one in-place pass over the output.

In training: a step [head, activation] that trains as one op (Step.trains_as_one). The heads
in ACTIVATING apply the activation themselves (a conv in its store, batchnorm's ReLU in its
normalising pass); any other head's fresh output takes it in one in-place pass. Backward takes
the activation's derivative from the output, then runs the head's backward."""
from __future__ import annotations

from .activation import CODES, elementwise_grad, epilogue_in_place
from .conv import STORE_ACTIVATIONS, conv2d_fwd, conv_forward
from .merge import add_fwd
from .norm import batchnorm_bwd, batchnorm_fwd

HEADS = {"conv2d", "dense"}


def epilogue(step):
    """(head, residual tensor or None, activation, slope) of a fusable step, else None."""
    head, *rest = step.chain()
    if head.op not in HEADS or not rest:
        return None
    residual = None
    if rest[0].op == "add" and len(rest[0].inputs) == 2:
        residual, rest = rest[0].inputs[1], rest[1:]
    activation, slope = "none", 0.01
    if rest and rest[0].op in CODES:
        activation, slope, rest = rest[0].op, rest[0].attrs.get("slope", 0.01), rest[1:]
    return None if rest else (head, residual, activation, slope)


def in_conv_store(head, activation) -> bool:
    return head.op == "conv2d" and activation in STORE_ACTIVATIONS


def fuse(step, kernels: dict):
    """A runner `run(env, params, ctx) -> output` for the step, or None to run it op by op."""
    fused = epilogue(step)
    if fused is None:
        return None
    head, residual, activation, slope = fused
    if in_conv_store(head, activation):
        return _conv_with_epilogue(head, residual, activation, slope)
    forward = kernels[head.op][0]

    def run(env, params, ctx):
        xs = [env[t] for t in head.inputs]
        ps = [None if p is None else params[p] for p in head.params]
        y, _ = forward(xs, ps, head.attrs, ctx)
        return epilogue_in_place(y, env[residual] if residual else None, activation, slope)
    return run


def _conv_with_epilogue(head, residual, activation, slope):
    a = head.attrs

    def run(env, params, ctx):
        weight, bias = (None if p is None else params[p] for p in head.params)
        return conv_forward(env[head.inputs[0]], weight, bias, a["stride"], a["padding"], a["dilation"],
                            a["groups"], env[residual] if residual else None, activation, slope)
    return run


# ---------------------------------------------------------------- training
ACTIVATING = {"conv2d": conv2d_fwd, "batchnorm": batchnorm_fwd, "add": add_fwd}   # fwd(..., activation=)
# bwd(..., activation=, output=): the derivative in the head's own passes (batchnorm's, for a
# ReLU). A conv's bias-gradient pass taking it measured no faster than a pass of its own.
DERIVING = {"batchnorm": batchnorm_bwd}


def fuse_training(step, kernels: dict):
    """(forward, backward) of a step that trains as one op (runtime/ops.py `trained_as_one`)."""
    head, act = step.chain()
    head_fwd, head_bwd = kernels[head.op]
    activating = ACTIVATING.get(head.op)

    def forward(xs, ps, ctx):
        if activating is not None:
            y, saved = activating(xs, ps, head.attrs, ctx, activation=act.op)
        else:
            y, saved = head_fwd(xs, ps, head.attrs, ctx)
            epilogue_in_place(y, None, act.op)
        return y, (saved, y)

    deriving = DERIVING.get(head.op)

    def backward(saved, dy):
        head_saved, y = saved
        if deriving is not None:
            return deriving(head_saved, dy, head.attrs, activation=act.op, output=y)
        return head_bwd(head_saved, elementwise_grad(act.op, y, dy), head.attrs)
    return forward, backward
