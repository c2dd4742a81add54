"""Core ops: dense, dropout, flatten, reshape, embedding, split, channel shuffle — CPU.

Also the layout helpers the other families share: `array_axis` (an `axis` attribute, which
counts the boundary's non-batch axes, as an axis of the internal array), `boundary`/`inside`
(4-D NHWC ⇄ NCHW, anything else unchanged) and `channel_view` (channels as the middle axis).

Layout: flatten and reshape work in the boundary's (C, H, W) order, so dense weights stay
PyTorch's: a 4-D input goes to NCHW first, a 4-D result comes back as NHWC. Embedding looks
up in boundary order too (a 4-D token array or a 4-D result are converted).
Dropout draws its mask exactly as the reference does — `ctx.rng.random` over the boundary
shape, keep where ≥ rate — so both backends drop the same values for the same seed.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from ..reference.core import check_tokens
from .layout import from_internal, internal_axis, to_internal

_0 = np.float32(0)


# ---------------------------------------------------------------- layout helpers
def array_axis(axis: int, ndim: int) -> int:
    """The internal array axis of an `axis` attribute: 0 is channels (the last axis of a 4-D
    NHWC array, axis 1 otherwise), −1 the boundary's last."""
    rank = ndim - 1
    if not -rank <= axis < rank:
        raise ValueError(f"axis {axis} is out of range for {rank} non-batch axes")
    return internal_axis(axis, ndim)


def boundary(x):
    """x in the boundary layout (NCHW for 4-D; a new contiguous array then, else x itself)."""
    return from_internal("", x)


def inside(x):
    """x in this backend's layout (NHWC for 4-D)."""
    return to_internal("", x)


def boundary_shape(shape):
    """The boundary shape of an internal array of `shape`."""
    return (shape[0], shape[3], shape[1], shape[2]) if len(shape) == 4 else tuple(shape)


def channel_view(x):
    """x (contiguous) viewed as (A, C, B) with the channels in the middle:
    (N·H·W, C, 1) for NHWC, (N, C, L…) otherwise."""
    if x.ndim == 4:
        return x.reshape(-1, x.shape[3], 1)
    return x.reshape(x.shape[0], x.shape[1], -1)


# ---------------------------------------------------------------- dense
def dense_fwd(xs, ps, attrs, ctx):
    x, = xs
    weight, bias = ps
    y = x @ weight.T
    if bias is not None:
        y += bias
    return y, (x, weight, bias is not None)


def dense_bwd(saved, dy, attrs):
    x, weight, has_bias = saved
    return [dy @ weight], [dy.T @ x, dy.sum(axis=0) if has_bias else None]


# ---------------------------------------------------------------- dropout
@njit(parallel=True, fastmath=True, cache=True)
def _masked_scale(x, keep, scale, y):
    """y = x · scale where keep, else 0 (flat arrays): dropout's forward and backward."""
    for i in prange(x.size):
        y[i] = x[i] * scale if keep[i] else _0


def masked_scale(x, keep, scale):
    x = np.ascontiguousarray(x)
    y = np.empty_like(x)
    _masked_scale(x.reshape(-1), keep.reshape(-1), x.dtype.type(scale), y.reshape(-1))
    return y


def dropout_fwd(xs, ps, attrs, ctx):
    x, = xs
    if not ctx.train:
        return x, (None,)
    rate = attrs["rate"]
    keep = inside(ctx.rng.random(boundary_shape(x.shape)) >= rate)   # the reference's draws
    scale = x.dtype.type(1) / x.dtype.type(1 - rate)                  # its float32 1/(1 − rate)
    return masked_scale(x, keep, scale), (keep, scale)


def dropout_bwd(saved, dy, attrs):
    if saved[0] is None:
        return [dy], []
    keep, scale = saved
    return [masked_scale(dy, keep, scale)], []


# ---------------------------------------------------------------- flatten, reshape
def flatten_fwd(xs, ps, attrs, ctx):
    x, = xs
    return boundary(x).reshape(len(x), -1), (x.shape,)


def flatten_bwd(saved, dy, attrs):
    shape, = saved
    return [inside(boundary(dy).reshape(boundary_shape(shape)))], []


def reshape_fwd(xs, ps, attrs, ctx):
    x, = xs
    return inside(boundary(x).reshape(len(x), *attrs["shape"])), (x.shape,)


reshape_bwd = flatten_bwd


# ---------------------------------------------------------------- embedding
@njit(cache=True)
def _scatter_add_rows(index, rows, out):
    """out[index[i]] += rows[i]: a repeated token gathers every use (serial: rows collide)."""
    for i in range(index.size):
        t = index[i]
        for j in range(rows.shape[1]):
            out[t, j] += rows[i, j]


def embedding_fwd(xs, ps, attrs, ctx):
    tokens, = xs
    weight, = ps
    tokens = np.ascontiguousarray(boundary(tokens))
    check_tokens(tokens, len(weight))
    return inside(weight[tokens]), (tokens, weight.shape)


def embedding_bwd(saved, dy, attrs):
    tokens, weight_shape = saved
    dweight = np.zeros(weight_shape, dy.dtype)
    rows = np.ascontiguousarray(boundary(dy)).reshape(-1, weight_shape[1])
    _scatter_add_rows(tokens.reshape(-1), rows, dweight)
    return [None], [dweight]


# ---------------------------------------------------------------- split, channel shuffle
def split_fwd(xs, ps, attrs, ctx):
    x, = xs
    axis = array_axis(attrs["axis"], x.ndim)
    return np.ascontiguousarray(np.split(x, attrs["parts"], axis=axis)[attrs["index"]]), ()


def split_bwd(saved, dy, attrs):
    # the other parts did not reach the output: their gradient is zero
    axis = array_axis(attrs["axis"], dy.ndim)
    shape = list(dy.shape)
    shape[axis] *= attrs["parts"]
    dx = np.zeros(shape, dy.dtype)
    start = attrs["index"] * dy.shape[axis]
    dx[(slice(None),) * axis + (slice(start, start + dy.shape[axis]),)] = dy
    return [dx], []


def shuffle_channels(x, groups: int):
    """View the channels as (groups, C/groups), transpose to (C/groups, groups), flatten."""
    x3 = channel_view(np.ascontiguousarray(x))
    a, c, b = x3.shape
    if c % groups:
        raise ValueError(f"channel_shuffle: groups={groups} must divide the {c} channels")
    return np.ascontiguousarray(x3.reshape(a, groups, c // groups, b).swapaxes(1, 2)).reshape(x.shape)


def channel_shuffle_fwd(xs, ps, attrs, ctx):
    x, = xs
    return shuffle_channels(x, attrs["groups"]), ()


def channel_shuffle_bwd(saved, dy, attrs):
    # a transpose is undone by the transpose back: the shuffle with C/groups groups
    channels = dy.shape[3] if dy.ndim == 4 else dy.shape[1]
    return [shuffle_channels(dy, channels // attrs["groups"])], []
