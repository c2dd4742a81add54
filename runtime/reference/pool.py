"""Pooling: windowed max/avg (PyTorch's ceil_mode and divisor rules), global, adaptive and
spatial pyramid pooling.

Windowed pools gather their windows with conv.py's taps. Ties in a max go to the first
maximum in row-major order, as in PyTorch, so exactly one input gets each gradient.
"""
from __future__ import annotations

from itertools import product
from math import prod

import numpy as np

from cnnc.layers.base import window_out
from cnnc.layers.pool import adaptive_windows

from .conv import crop, gather_taps, pad, scatter_taps

NO_DILATION = (1, 1)


# ---------------------------------------------------------------- windowed pools
def pool_out(x_shape, attrs) -> tuple[int, int]:
    return tuple(window_out(n, k, s, p, 1, attrs["ceil_mode"]) for n, k, s, p in
                 zip(x_shape[2:], attrs["kernel"], attrs["stride"], attrs["padding"]))


def pool_pads(x_shape, attrs, out):
    """The padding, widened on the far side where a ceil_mode window runs past it."""
    pads = []
    for n, k, s, (before, after), o in zip(x_shape[2:], attrs["kernel"], attrs["stride"],
                                           attrs["padding"], out):
        overrun = max((o - 1) * s + k - (before + n + after), 0)
        pads.append((before, after + overrun))
    return pads


def pool_taps(x, attrs, fill):
    """(N, C, kh, kw, OH, OW) windows of x padded with `fill`, and the padding used."""
    out = pool_out(x.shape, attrs)
    pads = pool_pads(x.shape, attrs, out)
    return gather_taps(pad(x, pads, fill), attrs["kernel"], attrs["stride"], NO_DILATION, out), pads


def unpool_taps(dtaps, x_shape, pads, attrs):
    """The gradient on x of the windows pool_taps gathered."""
    padded = (*x_shape[:2], *(n + a + b for n, (a, b) in zip(x_shape[2:], pads)))
    return crop(scatter_taps(dtaps, padded, attrs["stride"], NO_DILATION), pads, x_shape)


def maxpool2d_fwd(xs, ps, attrs, ctx):
    x, = xs
    taps, pads = pool_taps(x, attrs, -np.inf)       # padding never wins a max
    flat = taps.reshape(*x.shape[:2], -1, *taps.shape[4:])
    first_max = flat.argmax(axis=2)[:, :, None]
    y = np.take_along_axis(flat, first_max, axis=2)[:, :, 0]
    return y, (x.shape, pads, first_max)


def maxpool2d_bwd(saved, dy, attrs):
    x_shape, pads, first_max = saved
    dtaps = np.zeros((*x_shape[:2], prod(attrs["kernel"]), *dy.shape[2:]), dy.dtype)
    np.put_along_axis(dtaps, first_max, dy[:, :, None], axis=2)
    dtaps = dtaps.reshape(*x_shape[:2], *attrs["kernel"], *dy.shape[2:])
    return [unpool_taps(dtaps, x_shape, pads, attrs)], []


def window_sizes(n, kernel, stride, pads, out, count_include_pad):
    """Along one axis, how many positions each window averages (PyTorch's divisor): the
    window clipped to input + padding, or to the input alone without count_include_pad."""
    start = np.arange(out) * stride - pads[0]
    end = np.minimum(start + kernel, n + pads[1])
    if not count_include_pad:
        start, end = np.maximum(start, 0), np.minimum(end, n)
    return end - start


def avg_divisor(x_shape, attrs, out, dtype):
    rows, cols = (window_sizes(n, k, s, p, o, attrs["count_include_pad"]) for n, k, s, p, o in
                  zip(x_shape[2:], attrs["kernel"], attrs["stride"], attrs["padding"], out))
    return np.outer(rows, cols).astype(dtype)


def avgpool2d_fwd(xs, ps, attrs, ctx):
    x, = xs
    taps, pads = pool_taps(x, attrs, 0.0)
    divisor = avg_divisor(x.shape, attrs, taps.shape[4:], x.dtype)
    return taps.sum(axis=(2, 3)) / divisor, (x.shape, pads, divisor)


def avgpool2d_bwd(saved, dy, attrs):
    x_shape, pads, divisor = saved
    per_tap = (dy / divisor)[:, :, None, None]
    dtaps = np.broadcast_to(per_tap, (*dy.shape[:2], *attrs["kernel"], *dy.shape[2:]))
    return [unpool_taps(dtaps, x_shape, pads, attrs)], []


# ---------------------------------------------------------------- global pools
def spatial_axes(x) -> tuple[int, ...]:
    return tuple(range(2, x.ndim))


def global_shape(x_shape, keepdims: bool) -> tuple[int, ...]:
    return (*x_shape[:2], *[1] * (len(x_shape) - 2)) if keepdims else tuple(x_shape[:2])


def global_avgpool_fwd(xs, ps, attrs, ctx):
    x, = xs
    return x.mean(axis=spatial_axes(x), keepdims=attrs["keepdims"]), (x.shape,)


def global_avgpool_bwd(saved, dy, attrs):
    x_shape, = saved
    per_position = dy.reshape(global_shape(x_shape, keepdims=True)) / prod(x_shape[2:])
    return [np.broadcast_to(per_position, x_shape).copy()], []


def global_maxpool_fwd(xs, ps, attrs, ctx):
    x, = xs
    flat = x.reshape(*x.shape[:2], -1)
    first_max = flat.argmax(axis=2)[:, :, None]
    y = np.take_along_axis(flat, first_max, axis=2)
    return y.reshape(global_shape(x.shape, attrs["keepdims"])), (x.shape, first_max)


def global_maxpool_bwd(saved, dy, attrs):
    x_shape, first_max = saved
    dflat = np.zeros((*x_shape[:2], prod(x_shape[2:])), dy.dtype)
    np.put_along_axis(dflat, first_max, dy.reshape(*x_shape[:2], 1), axis=2)
    return [dflat.reshape(x_shape)], []


# ---------------------------------------------------------------- adaptive pools
def bin_means(n: int, out: int, dtype):
    """(out, n) matrix averaging each of PyTorch's adaptive bins along one axis."""
    means = np.zeros((out, n), dtype)
    for i, (start, end) in enumerate(adaptive_windows(n, out)):
        means[i, start:end] = 1 / (end - start)
    return means


# Adaptive average pooling is separable: average the rows' bins, then the columns'.
def adaptive_avg(x, out):
    rows, cols = (bin_means(n, o, x.dtype) for n, o in zip(x.shape[2:], out))
    return np.einsum("ih,nchw,jw->ncij", rows, x, cols, optimize=True), (rows, cols)


def adaptive_avg_grad(saved, dy):
    rows, cols = saved
    return np.einsum("ih,ncij,jw->nchw", rows, dy, cols, optimize=True)


def adaptive_max(x, out):
    """Max over PyTorch's adaptive bins, and the flat H·W index of each bin's first maximum."""
    n, c, h, w = x.shape
    y = np.empty((n, c, *out), x.dtype)
    where = np.empty((n, c, *out), np.intp)
    bins = product(enumerate(adaptive_windows(h, out[0])), enumerate(adaptive_windows(w, out[1])))
    for (i, (top, bottom)), (j, (left, right)) in bins:
        window = x[:, :, top:bottom, left:right].reshape(n, c, -1)
        first_max = window.argmax(axis=2)
        y[:, :, i, j] = np.take_along_axis(window, first_max[:, :, None], axis=2)[:, :, 0]
        row, col = np.divmod(first_max, right - left)
        where[:, :, i, j] = (top + row) * w + left + col
    return y, (x.shape, where)


def adaptive_max_grad(saved, dy):
    x_shape, where = saved
    n, c = x_shape[:2]
    dflat = np.zeros((n, c, prod(x_shape[2:])), dy.dtype)
    # bins overlap when the size does not divide, so one input may be the max of two bins
    np.add.at(dflat, (np.arange(n)[:, None, None], np.arange(c)[None, :, None], where.reshape(n, c, -1)),
              dy.reshape(n, c, -1))
    return dflat.reshape(x_shape)


def adaptive_avgpool_fwd(xs, ps, attrs, ctx):
    x, = xs
    return adaptive_avg(x, attrs["output"])


def adaptive_avgpool_bwd(saved, dy, attrs):
    return [adaptive_avg_grad(saved, dy)], []


# ---------------------------------------------------------------- spatial pyramid pooling
ADAPTIVE = {"avg": (adaptive_avg, adaptive_avg_grad), "max": (adaptive_max, adaptive_max_grad)}


def spp_fwd(xs, ps, attrs, ctx):
    x, = xs
    pool = ADAPTIVE[attrs["mode"]][0]
    pooled, saved = zip(*(pool(x, (n, n)) for n in attrs["levels"]))
    y = np.concatenate([p.reshape(x.shape[0], -1) for p in pooled], axis=1)
    return y, (x.shape[1], saved)


def spp_bwd(saved, dy, attrs):
    channels, level_saved = saved
    grad = ADAPTIVE[attrs["mode"]][1]
    widths = [channels * n * n for n in attrs["levels"]]
    dy_levels = np.split(dy, np.cumsum(widths)[:-1], axis=1)
    dx = sum(grad(s, d.reshape(d.shape[0], channels, n, n))
             for n, s, d in zip(attrs["levels"], level_saved, dy_levels))
    return [dx], []
