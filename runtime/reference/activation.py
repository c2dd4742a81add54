"""Activations: elementwise, and softmax along an axis.

Each activation is a pair of plain functions, `f(x)` and `f_grad(x, dy) -> dx` (the gradient
given the incoming one, so softmax fits too), collected in `ACTIVATIONS` for the layers that
fuse an `activation:` (dense, highway): `apply(name, x)` and `apply_grad(name, x, dy)`.
Gradients at the kinks follow PyTorch (relu'(0) = 0, leaky_relu'(0) = slope, …).
"""
from __future__ import annotations

import numpy as np

from .core import array_axis
from ..ops import activation_op


def identity(x):
    return x


def identity_grad(x, dy):
    return dy


def relu(x):
    return np.maximum(x, 0)


def relu_grad(x, dy):
    return dy * (x > 0)


def relu6(x):
    return np.clip(x, 0, 6)


def relu6_grad(x, dy):
    return dy * ((x > 0) & (x < 6))


def leaky_relu(x, slope=0.01):
    return np.where(x > 0, x, slope * x)


def leaky_relu_grad(x, dy, slope=0.01):
    return np.where(x > 0, dy, slope * dy)


def sigmoid(x):
    # the tanh form never overflows, unlike 1 / (1 + exp(−x)) for large negative x
    return (1 + np.tanh(x / 2)) / 2


def sigmoid_grad(x, dy):
    s = sigmoid(x)
    return dy * s * (1 - s)


def hard_sigmoid(x):
    return relu6(x + 3) / 6


def hard_sigmoid_grad(x, dy):
    return dy * ((x > -3) & (x < 3)) / 6


def tanh(x):
    return np.tanh(x)


def tanh_grad(x, dy):
    return dy * (1 - np.tanh(x) ** 2)


def softmax(x, axis=0):
    """exp(x) / Σ exp(x) along `axis`, which counts the non-batch axes (0 = channels)."""
    a = array_axis(axis, x.ndim)
    e = np.exp(x - x.max(axis=a, keepdims=True))   # shifted so exp cannot overflow
    return e / e.sum(axis=a, keepdims=True)


def softmax_grad(x, dy, axis=0):
    a = array_axis(axis, x.ndim)
    y = softmax(x, axis)
    return y * (dy - (dy * y).sum(axis=a, keepdims=True))


ACTIVATIONS = {
    "none": (identity, identity_grad),
    "relu": (relu, relu_grad),
    "relu6": (relu6, relu6_grad),
    "leaky_relu": (leaky_relu, leaky_relu_grad),
    "sigmoid": (sigmoid, sigmoid_grad),
    "hard_sigmoid": (hard_sigmoid, hard_sigmoid_grad),
    "tanh": (tanh, tanh_grad),
    "softmax": (softmax, softmax_grad),
}


def apply(name: str, x, **attrs):
    """The activation `name` of x; attrs are its own (`slope`, `axis`), defaults otherwise."""
    forward, _ = ACTIVATIONS[name]
    return forward(x, **attrs)


def apply_grad(name: str, x, dy, **attrs):
    """dx of the activation `name` at x, given dy."""
    _, grad = ACTIVATIONS[name]
    return grad(x, dy, **attrs)


# The derivatives read from the output: the ops save y (the executor relies on it when it runs
# an activation fused into its producer in training: runtime/ops.py, OpDef.grad_from_output).
FROM_OUTPUT = {"sigmoid": lambda s, dy: dy * s * (1 - s), "tanh": lambda t, dy: dy * (1 - t * t)}


def _grad_from_output(name: str, y, dy):
    return FROM_OUTPUT[name](y, dy)


def _op(name: str):
    """The op pair of an activation; the op's attrs are the activation's keyword arguments."""
    if name in FROM_OUTPUT:
        return activation_op(name, apply, _grad_from_output, saves_output=True)
    return activation_op(name, apply, apply_grad)


relu_fwd, relu_bwd = _op("relu")
relu6_fwd, relu6_bwd = _op("relu6")
leaky_relu_fwd, leaky_relu_bwd = _op("leaky_relu")
sigmoid_fwd, sigmoid_bwd = _op("sigmoid")
hard_sigmoid_fwd, hard_sigmoid_bwd = _op("hard_sigmoid")
tanh_fwd, tanh_bwd = _op("tanh")
softmax_fwd, softmax_bwd = _op("softmax")
