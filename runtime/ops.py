"""The op contract every backend implements, and the table of ops.

An op is a pair of functions with the same names in every backend module
(runtime/reference, runtime/cpu, later runtime/cuda), so tests pair them by name:

    <op>_fwd(xs, ps, attrs, ctx) -> (y, saved)
    <op>_bwd(saved, dy, attrs)  -> (dxs, dps)

- `xs`: input arrays, batch axis first, in the backend's own layout (the reference: NCHW);
- `ps`: the op's parameter arrays in the order of `OpDef.params` (a missing optional one is
  None); non-trainable state (batchnorm running statistics) is updated in place when training;
- `attrs`: a dict of plain values (ints, floats, tuples; padding as ((top, bottom), (left, right)));
- `ctx`: a RunContext (training or not, the random generator for dropout);
- in a training program, `attrs["input_grads"]` says per input whether its gradient is
  wanted (not for the network's own inputs); a backward may skip those and return None;
- `dxs`, `dps`: gradients aligned with `xs` and `ps`; None where there is none (integer
  tokens, the adjacency matrix, running statistics, an absent optional parameter).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


ANNOTATIONS = ("input_grads",)          # keys the passes add to attrs; not an op's own attributes


def own_attrs(attrs: dict) -> dict:
    """An op's attributes without the passes' annotations, for kernels that take them as kwargs."""
    return {k: v for k, v in attrs.items() if k not in ANNOTATIONS}


def activation_op(name: str, forward, backward, saves_output: bool = False):
    """The op pair of an elementwise activation from a backend's `forward(name, x, **attrs)` and
    `backward(name, saved, dy, **attrs)`; backward reads the output y when `saves_output`
    (sigmoid, tanh), else the input x."""
    def fwd(xs, ps, attrs, ctx):
        y = forward(name, xs[0], **own_attrs(attrs))
        return y, (y if saves_output else xs[0],)

    def bwd(saved, dy, attrs):
        return [backward(name, saved[0], dy, **own_attrs(attrs))], []

    fwd.__name__, bwd.__name__ = f"{name}_fwd", f"{name}_bwd"
    fwd.__qualname__, bwd.__qualname__ = fwd.__name__, bwd.__name__
    return fwd, bwd


def trained_as_one(step, kernels: dict):
    """(forward, backward) running a training step [head, activation] (Step.trains_as_one) as one
    op from a backend's primitive kernels, for backends without a fused pair of their own:

        forward(xs, ps, ctx) -> (y, saved)      xs: the step's reads; ps: its head's parameters
        backward(saved, dy)  -> (dxs, dps)

    The activation's backward is handed its output in place of its input (the same gradient:
    OpDef.grad_from_output), so the head's output is dropped as soon as the activation has run."""
    head, act = step.chain()
    head_fwd, head_bwd = kernels[head.op]
    act_fwd, act_bwd = kernels[act.op]

    def forward(xs, ps, ctx):
        z, saved = head_fwd(xs, ps, head.attrs, ctx)
        y, _ = act_fwd([z], [], act.attrs, ctx)
        return y, (saved, y)

    def backward(saved, dy):
        head_saved, y = saved
        (dz,), _ = act_bwd((y,), dy, act.attrs)
        return head_bwd(head_saved, dz, head.attrs)
    return forward, backward


@dataclass
class RunContext:
    train: bool = False
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(0))


@dataclass(frozen=True)
class OpDef:
    name: str
    params: tuple[str, ...] = ()          # parameter roles in order, e.g. ("weight", "bias")
    elementwise: bool = False             # y[i] depends on x[i] only: fusable into its producer
    # Its backward gives the same gradient handed its output y in place of its input x (relu:
    # y > 0 iff x > 0; tanh and sigmoid read y anyway), so in training it can run fused into
    # its producer, which then keeps no output of its own.
    grad_from_output: bool = False
    # Its backward reads its inputs (and parameters), never its output: once an activation
    # fused after it has run, nothing holds that output.
    backward_from_inputs: bool = False


def _ops(*defs: OpDef) -> dict[str, OpDef]:
    return {d.name: d for d in defs}


RNN_PARAMS = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0",
              "weight_ih_l0_reverse", "weight_hh_l0_reverse", "bias_ih_l0_reverse", "bias_hh_l0_reverse")

OPS = _ops(
    # conv and pooling
    OpDef("conv2d", ("weight", "bias"), backward_from_inputs=True),
    OpDef("conv1d", ("weight", "bias"), backward_from_inputs=True),
    OpDef("maxpool2d"), OpDef("avgpool2d"), OpDef("global_avgpool"), OpDef("global_maxpool"),
    OpDef("adaptive_avgpool"), OpDef("spp"),
    # normalisation
    OpDef("batchnorm", ("weight", "bias", "running_mean", "running_var"), backward_from_inputs=True),
    OpDef("layernorm", ("weight", "bias")), OpDef("instancenorm", ("weight", "bias")),
    OpDef("groupnorm", ("weight", "bias")), OpDef("lrn"),
    # activations
    *(OpDef(name, elementwise=True, grad_from_output=True) for name in ("relu", "relu6", "sigmoid", "tanh")),
    OpDef("leaky_relu", elementwise=True), OpDef("hard_sigmoid", elementwise=True),
    OpDef("softmax"),
    # core
    OpDef("dense", ("weight", "bias"), backward_from_inputs=True), OpDef("dropout", elementwise=True),
    OpDef("flatten"), OpDef("reshape"), OpDef("embedding", ("weight",)),
    OpDef("split"), OpDef("channel_shuffle"),
    # merges
    OpDef("add", backward_from_inputs=True), OpDef("multiply"), OpDef("concat"),
    # recurrent, graph, spatial
    OpDef("rnn", RNN_PARAMS), OpDef("lstm", RNN_PARAMS), OpDef("gru", RNN_PARAMS),
    OpDef("highway", ("plain.weight", "plain.bias", "gate.weight", "gate.bias")),
    OpDef("gcn_conv", ("weight", "bias")),
    OpDef("spatial_transformer"),
)
