"""Activations: elementwise, and softmax along an axis — Numba kernels.

One kernel pair serves every elementwise activation, chosen by an integer code (a table, not
one kernel per activation): `_forward(x, code, slope, y)` and `_backward(s, dy, code, slope, dx)`
over flat arrays. Backward reads the saved input x, except sigmoid and tanh, whose derivatives
come cheaper from the output y (s·(1 − s), 1 − t²) than from recomputing exp/tanh.
Gradients at the kinks follow the reference (PyTorch's): relu'(0) = 0, leaky_relu'(0) = slope.

tanh and sigmoid are runtime/cpu/approx.py's float32 rational approximation (stated and tested
maximum error 4e-7 / 2.5e-7), ~6x faster than libm's tanh (shared/PERFORMANCE.md).

Softmax works on any axis of any layout: the array is viewed as (outer, K, inner) around the
reduced axis; the channels of a 4-D (NHWC) tensor are the last axis, so inner = 1 there.
`apply`/`apply_grad` serve layers that fuse an activation (dense, highway), as in the reference.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from .approx import sigmoid, tanh
from .core import array_axis
from ..ops import activation_op, own_attrs

RELU, RELU6, LEAKY_RELU, SIGMOID, HARD_SIGMOID, TANH, IDENTITY = range(7)
CODES = {"none": IDENTITY, "relu": RELU, "relu6": RELU6, "leaky_relu": LEAKY_RELU,
         "sigmoid": SIGMOID, "hard_sigmoid": HARD_SIGMOID, "tanh": TANH}
SAVES_OUTPUT = {SIGMOID, TANH}           # backward reads y, not x

_0, _1, _3, _6 = np.float32(0), np.float32(1), np.float32(3), np.float32(6)
# A ReLU taken as max(v, floor) in another kernel's pass has floor 0; no activation, this floor
# (not −inf: fastmath assumes there are no infinities).
LOWEST = np.finfo(np.float32).min
_SIXTH = np.float32(1 / 6)


# ---------------------------------------------------------------- elementwise kernels
@njit(parallel=True, fastmath=True, cache=True)
def _forward(x, code, slope, y):
    n = x.size
    if code == RELU:
        for i in prange(n):
            y[i] = max(x[i], _0)
    elif code == RELU6:
        for i in prange(n):
            y[i] = min(max(x[i], _0), _6)
    elif code == LEAKY_RELU:
        for i in prange(n):
            y[i] = x[i] if x[i] > _0 else slope * x[i]
    elif code == SIGMOID:
        for i in prange(n):
            y[i] = sigmoid(x[i])
    elif code == HARD_SIGMOID:
        for i in prange(n):
            y[i] = min(max(x[i] + _3, _0), _6) * _SIXTH
    elif code == TANH:
        for i in prange(n):
            y[i] = tanh(x[i])
    else:
        for i in prange(n):
            y[i] = x[i]


@njit(parallel=True, fastmath=True, cache=True)
def _add_then(x, r, code, slope):
    """x ← act(x + r) in place, one pass: a residual add and its activation after a convolution."""
    for i in prange(x.size):
        v = x[i] + r[i]
        if code == RELU:
            v = max(v, _0)
        elif code == RELU6:
            v = min(max(v, _0), _6)
        elif code == LEAKY_RELU:
            v = v if v > _0 else slope * v
        elif code == SIGMOID:
            v = sigmoid(v)
        elif code == HARD_SIGMOID:
            v = min(max(v + _3, _0), _6) * _SIXTH
        elif code == TANH:
            v = tanh(v)
        x[i] = v


def epilogue_in_place(y, residual, name: str, slope=0.01):
    """y ← act(y [+ residual]) without a new array: the epilogue of a fused inference step."""
    flat = _flat(y)
    if residual is not None:
        _add_then(flat, _flat(np.ascontiguousarray(residual, dtype=y.dtype)), CODES[name], np.float32(slope))
    elif name != "none":
        _forward(flat, CODES[name], np.float32(slope), flat)
    return y


@njit(parallel=True, fastmath=True, cache=True)
def _backward(s, dy, code, slope, dx):
    """dx from dy and `s`: the saved input x, or the output y for SAVES_OUTPUT codes."""
    n = s.size
    if code == RELU:
        for i in prange(n):
            dx[i] = dy[i] if s[i] > _0 else _0
    elif code == RELU6:
        for i in prange(n):
            dx[i] = dy[i] if (s[i] > _0) & (s[i] < _6) else _0
    elif code == LEAKY_RELU:
        for i in prange(n):
            dx[i] = dy[i] if s[i] > _0 else slope * dy[i]
    elif code == SIGMOID:
        for i in prange(n):
            dx[i] = dy[i] * s[i] * (_1 - s[i])
    elif code == HARD_SIGMOID:
        for i in prange(n):
            dx[i] = dy[i] * _SIXTH if (s[i] > -_3) & (s[i] < _3) else _0
    elif code == TANH:
        for i in prange(n):
            dx[i] = dy[i] * (_1 - s[i] * s[i])
    else:
        for i in prange(n):
            dx[i] = dy[i]


def _flat(a):
    return np.ascontiguousarray(a).reshape(-1)


def elementwise(name: str, x, slope=0.01):
    """The activation `name` of x (any shape and layout)."""
    x = np.ascontiguousarray(x)
    y = np.empty_like(x)
    _forward(x.reshape(-1), CODES[name], x.dtype.type(slope), y.reshape(-1))
    return y


def elementwise_grad(name: str, saved, dy, slope=0.01):
    """dx given dy; `saved` is y for sigmoid and tanh (SAVES_OUTPUT), x otherwise."""
    dx = np.empty(saved.shape, dy.dtype)
    _backward(_flat(saved), _flat(dy), CODES[name], dy.dtype.type(slope), dx.reshape(-1))
    return dx


# ---------------------------------------------------------------- softmax
@njit(parallel=True, fastmath=True, cache=True)
def _softmax_fwd(x, y):
    """Softmax over axis 1 of (outer, K, inner) arrays."""
    outer, k, inner = x.shape
    for o in prange(outer):
        for j in range(inner):
            m = x[o, 0, j]
            for c in range(1, k):
                m = max(m, x[o, c, j])
            total = _0
            for c in range(k):
                e = np.exp(x[o, c, j] - m)
                y[o, c, j] = e
                total += e
            r = _1 / total
            for c in range(k):
                y[o, c, j] *= r


@njit(parallel=True, fastmath=True, cache=True)
def _softmax_bwd(y, dy, dx):
    """dx = y · (dy − Σ dy·y) over axis 1 of (outer, K, inner) arrays."""
    outer, k, inner = y.shape
    for o in prange(outer):
        for j in range(inner):
            dot = _0
            for c in range(k):
                dot += dy[o, c, j] * y[o, c, j]
            for c in range(k):
                dx[o, c, j] = y[o, c, j] * (dy[o, c, j] - dot)


def around(x, axis: int):
    """x viewed as (outer, K, inner) around array axis `axis` (x contiguous)."""
    shape = x.shape
    return x.reshape(int(np.prod(shape[:axis])), shape[axis], int(np.prod(shape[axis + 1:])))


def softmax(x, axis=0):
    """exp(x) / Σ exp(x) along boundary axis `axis` (0 = channels: the last array axis of NHWC)."""
    x = np.ascontiguousarray(x)
    y = np.empty_like(x)
    a = array_axis(axis, x.ndim)
    _softmax_fwd(around(x, a), around(y, a))
    return y


def softmax_grad_from_output(y, dy, axis=0):
    dx = np.empty_like(y)
    a = array_axis(axis, y.ndim)
    _softmax_bwd(around(y, a), around(np.ascontiguousarray(dy), a), around(dx, a))
    return dx


# ---------------------------------------------------------------- fused activations, by name
def apply(name: str, x, **attrs):
    """The activation `name` of x; attrs are its own (`slope`, `axis`), defaults otherwise."""
    return softmax(x, **attrs) if name == "softmax" else elementwise(name, x, **attrs)


def apply_grad(name: str, x, dy, **attrs):
    """dx of the activation `name` at x, given dy (recomputes y where backward reads it)."""
    if name == "softmax":
        return softmax_grad_from_output(softmax(x, **attrs), dy, **attrs)
    saved = elementwise(name, x, **attrs) if CODES[name] in SAVES_OUTPUT else x
    return elementwise_grad(name, saved, dy, **attrs)


# ---------------------------------------------------------------- the ops
def _op(name: str):
    """The op pair of an elementwise activation; the op's attrs are its keyword arguments."""
    return activation_op(name, elementwise, elementwise_grad, CODES[name] in SAVES_OUTPUT)


relu_fwd, relu_bwd = _op("relu")
relu6_fwd, relu6_bwd = _op("relu6")
leaky_relu_fwd, leaky_relu_bwd = _op("leaky_relu")
sigmoid_fwd, sigmoid_bwd = _op("sigmoid")
hard_sigmoid_fwd, hard_sigmoid_bwd = _op("hard_sigmoid")
tanh_fwd, tanh_bwd = _op("tanh")


def softmax_fwd(xs, ps, attrs, ctx):
    y = softmax(xs[0], **own_attrs(attrs))
    return y, (y,)


def softmax_bwd(saved, dy, attrs):
    return [softmax_grad_from_output(saved[0], dy, **own_attrs(attrs))], []
