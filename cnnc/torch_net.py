"""The same Program in PyTorch: the rival `cnnc bench --compare torch` and benchmarks/vs_torch.py
time cnnc against.

`OPS` maps each runtime op (runtime/ops.py) to PyTorch functions that compute what the NumPy
reference (runtime/reference) computes, in the boundary layout: NCHW activations, PyTorch's
weight layouts, the attrs the passes write (padding as ((top, bottom), (left, right)), axes
counted after the batch axis). `TorchProgram` runs a lowered Program with those ops on the
same initial weights: whole steps with one autograd graph (throughput, fair to PyTorch), or op
by op with timers around each op, as the Executor's profile times each kernel (per layer).

Every op of runtime/ops.py has an entry. Two attribute cases have no PyTorch equivalent and
raise MissingTorchOp naming them: avgpool2d with asymmetric padding (or more than half the
window), and rnn with an activation other than tanh or relu.

Importing this module imports torch: callers that must work without PyTorch import it lazily.
"""
from __future__ import annotations

import time
from collections import defaultdict
from contextlib import contextmanager
from functools import reduce
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from cnnc.runtime.reference.core import array_axis
from cnnc.runtime.reference.pool import pool_out, pool_pads

# An op: (inputs, parameters in OpDef.params order (None where absent), attrs, training) → output.
TorchOp = Callable[[list, list, dict, bool], torch.Tensor]


class MissingTorchOp(Exception):
    """A Program uses an op this table has no PyTorch equivalent for."""


# ---------------------------------------------------------------- convolutions
def _symmetric(padding) -> bool:
    return all(before == after for before, after in padding)


def _conv2d(xs, ps, attrs, train):
    x, = xs
    weight, bias = ps
    padding = attrs["padding"]
    if not _symmetric(padding):          # PyTorch pads both sides alike: pad explicitly instead
        (top, bottom), (left, right) = padding
        x, padding = F.pad(x, (left, right, top, bottom)), ((0, 0), (0, 0))
    return F.conv2d(x, weight, bias, attrs["stride"], tuple(p[0] for p in padding), attrs["dilation"],
                    attrs["groups"])


def _conv1d(xs, ps, attrs, train):
    x, = xs
    weight, bias = ps
    before, after = attrs["padding"]
    if before != after:
        x, before = F.pad(x, (before, after)), 0
    return F.conv1d(x, weight, bias, attrs["stride"], before, attrs["dilation"], attrs["groups"])


# ---------------------------------------------------------------- pooling
def _torch_pads(attrs) -> bool:
    """Whether PyTorch's own padding argument can say this padding (symmetric, ≤ half the window)."""
    return _symmetric(attrs["padding"]) and all(p[0] <= k // 2 for p, k in zip(attrs["padding"], attrs["kernel"]))


def _maxpool2d(xs, ps, attrs, train):
    x, = xs
    if _torch_pads(attrs):
        return F.max_pool2d(x, attrs["kernel"], attrs["stride"], tuple(p[0] for p in attrs["padding"]),
                            ceil_mode=attrs["ceil_mode"])
    # otherwise pad with −inf as the reference does, ceil_mode's overrun included
    (top, bottom), (left, right) = pool_pads(x.shape, attrs, pool_out(x.shape, attrs))
    return F.max_pool2d(F.pad(x, (left, right, top, bottom), value=-float("inf")), attrs["kernel"], attrs["stride"])


def _avgpool2d(xs, ps, attrs, train):
    x, = xs
    if not _torch_pads(attrs):
        raise MissingTorchOp(f"avgpool2d with padding {attrs['padding']} and kernel {attrs['kernel']} has no "
                             "PyTorch equivalent (its padding must be symmetric and at most half the kernel)")
    return F.avg_pool2d(x, attrs["kernel"], attrs["stride"], tuple(p[0] for p in attrs["padding"]),
                        ceil_mode=attrs["ceil_mode"], count_include_pad=attrs["count_include_pad"])


def _global_avgpool(xs, ps, attrs, train):
    x, = xs
    return x.mean(dim=tuple(range(2, x.ndim)), keepdim=attrs["keepdims"])


def _global_maxpool(xs, ps, attrs, train):
    x, = xs
    y = x.flatten(2).max(dim=2).values          # max along a dim: the gradient goes to one input
    return y.reshape(*x.shape[:2], *[1] * (x.ndim - 2)) if attrs["keepdims"] else y


def _adaptive_avgpool(xs, ps, attrs, train):
    return F.adaptive_avg_pool2d(xs[0], attrs["output"])


ADAPTIVE = {"avg": F.adaptive_avg_pool2d, "max": F.adaptive_max_pool2d}


def _spp(xs, ps, attrs, train):
    x, = xs
    pool = ADAPTIVE[attrs["mode"]]
    return torch.cat([pool(x, (n, n)).flatten(1) for n in attrs["levels"]], dim=1)


# ---------------------------------------------------------------- normalisation
def _batchnorm(xs, ps, attrs, train):
    weight, bias, running_mean, running_var = ps
    return F.batch_norm(xs[0], running_mean, running_var, weight, bias, training=train,
                        momentum=attrs["momentum"], eps=attrs["eps"])


def _layernorm(xs, ps, attrs, train):
    x, = xs
    weight, bias = ps
    shape = x.shape[1:] if attrs["axes"] == "all" else x.shape[-1:]
    return F.layer_norm(x, shape, weight, bias, attrs["eps"])


def _instancenorm(xs, ps, attrs, train):
    weight, bias = ps
    return F.instance_norm(xs[0], weight=weight, bias=bias, eps=attrs["eps"])


def _groupnorm(xs, ps, attrs, train):
    weight, bias = ps
    return F.group_norm(xs[0], attrs["groups"], weight, bias, attrs["eps"])


def _lrn(xs, ps, attrs, train):
    return F.local_response_norm(xs[0], attrs["size"], attrs["alpha"], attrs["beta"], attrs["k"])


# ---------------------------------------------------------------- activations
# name → f(x, **attrs), with the reference's attribute names (`slope`, `axis`) and defaults
ACTIVATIONS: dict[str, Callable] = {
    "none": lambda x: x,
    "relu": F.relu,
    "relu6": F.relu6,
    "leaky_relu": lambda x, slope=0.01: F.leaky_relu(x, slope),
    "sigmoid": torch.sigmoid,
    "hard_sigmoid": F.hardsigmoid,
    "tanh": torch.tanh,
    "softmax": lambda x, axis=0: F.softmax(x, dim=array_axis(axis, x.ndim)),
}


def _activation(name: str) -> TorchOp:
    def op(xs, ps, attrs, train):
        return ACTIVATIONS[name](xs[0], **{k: v for k, v in attrs.items() if k != "input_grads"})
    return op


# ---------------------------------------------------------------- core
def _dense(xs, ps, attrs, train):
    return F.linear(xs[0], *ps)


def _dropout(xs, ps, attrs, train):
    return F.dropout(xs[0], attrs["rate"], training=train)


def _flatten(xs, ps, attrs, train):
    return xs[0].flatten(1)


def _reshape(xs, ps, attrs, train):
    return xs[0].reshape(len(xs[0]), *attrs["shape"])


def _embedding(xs, ps, attrs, train):
    return F.embedding(xs[0].long(), ps[0])


def _split(xs, ps, attrs, train):
    x, = xs
    return torch.chunk(x, attrs["parts"], dim=array_axis(attrs["axis"], x.ndim))[attrs["index"]]


def _channel_shuffle(xs, ps, attrs, train):
    x, = xs
    n, c, *rest = x.shape
    groups = attrs["groups"]
    return x.reshape(n, groups, c // groups, *rest).transpose(1, 2).reshape(x.shape)


# ---------------------------------------------------------------- merges
def _aligned(xs):
    """Each input at the highest rank, 1s inserted after the batch axis (reference merge.align)."""
    rank = max(x.ndim for x in xs)
    return [x.reshape(x.shape[:1] + (1,) * (rank - x.ndim) + x.shape[1:]) for x in xs]


def _add(xs, ps, attrs, train):
    return reduce(torch.add, _aligned(xs))


def _multiply(xs, ps, attrs, train):
    return reduce(torch.mul, _aligned(xs))


def _concat(xs, ps, attrs, train):
    return torch.cat(xs, dim=array_axis(attrs["axis"], xs[0].ndim))


# ---------------------------------------------------------------- recurrent
# torch.lstm / torch.gru / torch.rnn_* are the kernels nn.LSTM, nn.GRU and nn.RNN call (flat
# weights in RNN_PARAMS order, per direction: w_ih, w_hh, b_ih, b_hh).
RNN_KERNELS = {"tanh": torch.rnn_tanh, "relu": torch.rnn_relu}


def _recurrent(kernel_of: Callable[[dict], Callable], states: int) -> TorchOp:
    def op(xs, ps, attrs, train):
        x, = xs
        directions = 2 if attrs.get("bidirectional") else 1
        weights = [p for p in ps[:4 * directions] if p is not None]
        has_biases = ps[2] is not None
        units = ps[1].shape[1]
        h0 = x.new_zeros(directions, len(x), units)
        hx = [h0] * states if states > 1 else h0
        out, h_n, *_ = kernel_of(attrs)(x, hx, weights, has_biases, 1, 0.0, train, directions == 2, True)
        # h_n is (directions, N, H): PyTorch's final states, forward's then backward's
        return out if attrs.get("return_sequences") else h_n.transpose(0, 1).reshape(len(x), -1)
    return op


def _rnn_kernel(attrs):
    activation = attrs.get("activation", "tanh")
    if activation not in RNN_KERNELS:
        raise MissingTorchOp(f"rnn with activation '{activation}' has no PyTorch kernel "
                             f"(nn.RNN has {', '.join(RNN_KERNELS)})")
    return RNN_KERNELS[activation]


def _highway(xs, ps, attrs, train):
    x, = xs
    w_h, b_h, w_t, b_t = ps
    gate = torch.sigmoid(F.linear(x, w_t, b_t))
    return ACTIVATIONS[attrs.get("activation", "relu")](F.linear(x, w_h, b_h)) * gate + x * (1 - gate)


# ---------------------------------------------------------------- graph, spatial
def _normalized_adjacency(adj):
    """Â = D^−½ (A + I) D^−½, self-loops as reference/graph.py (an existing one is kept)."""
    diagonal = adj.diagonal(dim1=-2, dim2=-1)
    a = adj + torch.diag_embed(torch.where(diagonal != 0, 0.0, 1.0).to(adj.dtype))
    degree = a.sum(dim=-1)
    inv_sqrt = torch.where(degree > 0, degree.clamp(min=1e-30).rsqrt(), 0.0)
    return inv_sqrt[..., :, None] * a * inv_sqrt[..., None, :]


def _gcn_conv(xs, ps, attrs, train):
    x, adj = xs
    weight, bias = ps
    y = _normalized_adjacency(adj.to(x.dtype)) @ F.linear(x, weight)
    return y if bias is None else y + bias


def _spatial_transformer(xs, ps, attrs, train):
    x, theta = xs
    oh, ow = attrs.get("output") or x.shape[-2:]
    grid = F.affine_grid(theta.reshape(-1, 2, 3), [len(x), x.shape[1], oh, ow], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


OPS: dict[str, TorchOp] = {
    "conv2d": _conv2d, "conv1d": _conv1d,
    "maxpool2d": _maxpool2d, "avgpool2d": _avgpool2d,
    "global_avgpool": _global_avgpool, "global_maxpool": _global_maxpool,
    "adaptive_avgpool": _adaptive_avgpool, "spp": _spp,
    "batchnorm": _batchnorm, "layernorm": _layernorm, "instancenorm": _instancenorm,
    "groupnorm": _groupnorm, "lrn": _lrn,
    **{name: _activation(name) for name in ("relu", "relu6", "leaky_relu", "sigmoid", "hard_sigmoid",
                                            "tanh", "softmax")},
    "dense": _dense, "dropout": _dropout, "flatten": _flatten, "reshape": _reshape,
    "embedding": _embedding, "split": _split, "channel_shuffle": _channel_shuffle,
    "add": _add, "multiply": _multiply, "concat": _concat,
    "rnn": _recurrent(_rnn_kernel, 1),
    "lstm": _recurrent(lambda attrs: torch.lstm, 2),
    "gru": _recurrent(lambda attrs: torch.gru, 1),
    "highway": _highway, "gcn_conv": _gcn_conv, "spatial_transformer": _spatial_transformer,
}


# ---------------------------------------------------------------- running a Program
def version() -> str:
    """PyTorch's version as users name it: 2.13 for 2.13.0+cpu."""
    return ".".join(torch.__version__.split("+")[0].split(".")[:2])


@contextmanager
def threads(n: int):
    """PyTorch's intra-op threads at `n` (cnnc's Numba thread count), restored after."""
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def to_tensors(arrays: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """Network inputs as tensors (sharing memory: PyTorch never writes them)."""
    return {name: torch.from_numpy(np.ascontiguousarray(a)) for name, a in arrays.items()}


class TorchProgram:
    """A lowered Program run by `OPS` on its own copies of `params` (boundary layout)."""

    def __init__(self, program, params: dict[str, np.ndarray], lr: float = 1e-6) -> None:
        missing = sorted({s.op for s in program.primitive_steps()} - set(OPS))
        if missing:
            raise MissingTorchOp(f"{program.name}: op {', '.join(missing)} has no PyTorch equivalent in "
                                 "cnnc/torch_net.py's OPS table (add it there; the table has "
                                 f"{', '.join(sorted(OPS))})")
        self.program = program
        self.steps = program.primitive_steps()
        # copies: batchnorm updates its running statistics in place, and cnnc's arrays are not ours
        self.params = {name: torch.from_numpy(np.array(params[name], copy=True)) for name in program.params}
        self.trainable = [self.params[n].requires_grad_() for n, p in program.params.items()
                          if program.training and p.trainable]
        self.optimizer = torch.optim.SGD(self.trainable, lr=lr) if self.trainable else None

    def _run(self, step, xs, train: bool) -> torch.Tensor:
        ps = [None if p is None else self.params[p] for p in step.params]
        return OPS[step.op](xs, ps, step.attrs, train)

    def forward(self, inputs: dict[str, torch.Tensor], train: bool) -> dict[str, torch.Tensor]:
        """The outputs, through one autograd graph when the parameters require gradients."""
        env = dict(inputs)
        for step in self.steps:
            env[step.output] = self._run(step, [env[t] for t in step.inputs], train)
        return {name: env[name] for name in self.program.outputs}

    def step(self, inputs: dict[str, torch.Tensor], train: bool) -> None:
        """What `cnnc bench` times per step: forward, or forward + backward (gradient 1 on every
        output, as cnnc's) + an SGD update; inference as PyTorch users run it (inference_mode,
        batchnorm on its running statistics)."""
        if not train:
            with torch.inference_mode():
                self.forward(inputs, train=False)
            return
        outputs = self.forward(inputs, train=True)
        torch.autograd.backward(list(outputs.values()), [torch.ones_like(y) for y in outputs.values()])
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)

    def gradients(self, inputs: dict[str, torch.Tensor], output_grads: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Parameter gradients of one training forward and backward (for tests against cnnc's)."""
        outputs = self.forward(inputs, train=True)
        torch.autograd.backward([outputs[n] for n in output_grads],
                                [torch.from_numpy(g) for g in output_grads.values()])
        grads = {name: p.grad.numpy().copy() for name, p in self.params.items() if p.grad is not None}
        for p in self.trainable:
            p.grad = None
        return grads

    def profile(self, inputs: dict[str, torch.Tensor], train: bool,
                charge: dict[str, str] | None = None) -> tuple[dict, dict]:
        """Seconds per layer, forward and backward, timed op by op as the Executor times its
        kernels: each op's inputs are leaves, so each op's backward runs (and is timed) alone.
        An op's time goes to its layer, or to `charge[op's output]` where given (the layer whose
        fused step ran it in cnnc, so the two columns time the same work)."""
        charge = charge or {}
        forward: dict[str, float] = defaultdict(float)
        backward: dict[str, float] = defaultdict(float)
        if not train:
            with torch.inference_mode():
                self._profile_forward(inputs, train, forward, charge)
            return forward, backward
        records = self._profile_forward(inputs, train, forward, charge)
        grads = {step.output: torch.ones_like(y) for step, _, y in records if step.output in self.program.outputs}
        for step, leaves, y in reversed(records):
            dy = grads.pop(step.output, None)
            if dy is None or not y.requires_grad:
                continue
            started = time.perf_counter()
            torch.autograd.backward(y, dy)
            backward[charge.get(step.output, step.layer)] += time.perf_counter() - started
            for name, leaf in zip(step.inputs, leaves):
                if leaf.grad is not None:
                    grads[name] = grads[name] + leaf.grad if name in grads else leaf.grad
        for p in self.trainable:
            p.grad = None
        return forward, backward

    def _profile_forward(self, inputs, train: bool, forward: dict, charge: dict) -> list:
        env = dict(inputs)
        records = []
        for step in self.steps:
            wanted = step.attrs.get("input_grads", (False,) * len(step.inputs))
            leaves = [env[t].detach().requires_grad_(train and want and env[t].is_floating_point())
                      for t, want in zip(step.inputs, wanted)] if train else [env[t] for t in step.inputs]
            started = time.perf_counter()
            y = self._run(step, leaves, train)
            forward[charge.get(step.output, step.layer)] += time.perf_counter() - started
            env[step.output] = y
            records.append((step, leaves, y))
        return records

