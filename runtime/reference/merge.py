"""Merges: add and multiply (two or more inputs, broadcasting), concat along an axis.

Broadcasting is NumPy's over the non-batch axes: all inputs share the batch size N, and
trailing non-batch axes align, so (N, C, 1, 1) × (N, C, H, W) gates channels and (N, W)
stretches over (N, C, H, W). A stretched input's gradient is summed back to its shape.
"""
from __future__ import annotations

from functools import reduce

import numpy as np

from .core import array_axis


def align(xs):
    """Each input at the highest rank, with 1s inserted after the batch axis, so NumPy's
    broadcasting lines up the trailing non-batch axes (it would line up N otherwise)."""
    rank = max(x.ndim for x in xs)
    return [x.reshape(x.shape[:1] + (1,) * (rank - x.ndim) + x.shape[1:]) for x in xs]


def unbroadcast(grad, shape):
    """grad summed over the axes an input of `shape` was stretched along, back to `shape`."""
    aligned = shape[:1] + (1,) * (grad.ndim - len(shape)) + shape[1:]
    stretched = tuple(a for a, (g, s) in enumerate(zip(grad.shape, aligned)) if s == 1 and g != 1)
    return grad.sum(axis=stretched, keepdims=True).reshape(shape)


def product(arrays):
    return reduce(np.multiply, arrays)


# ---------------------------------------------------------------- add, multiply
def add_fwd(xs, ps, attrs, ctx):
    return reduce(np.add, align(xs)), [x.shape for x in xs]


def add_bwd(saved, dy, attrs):
    return [unbroadcast(dy, shape) for shape in saved], []


def multiply_fwd(xs, ps, attrs, ctx):
    return product(align(xs)), xs


def multiply_bwd(saved, dy, attrs):
    aligned = align(saved)
    # the product of the others, not y / x: an input may hold zeros
    others = [aligned[:i] + aligned[i + 1:] for i in range(len(aligned))]
    return [unbroadcast(product([dy, *rest]), x.shape) for rest, x in zip(others, saved)], []


# ---------------------------------------------------------------- concat
def concat_fwd(xs, ps, attrs, ctx):
    axis = array_axis(attrs["axis"], xs[0].ndim)
    return np.concatenate(xs, axis=axis), [x.shape[axis] for x in xs]


def concat_bwd(saved, dy, attrs):
    sizes = saved
    ends = np.cumsum(sizes)[:-1]
    return np.split(dy, ends, axis=array_axis(attrs["axis"], dy.ndim)), []
