"""Pooling on NHWC images as Numba kernels: windowed max/avg (PyTorch's ceil_mode and divisor
rules), global, adaptive and spatial pyramid pooling.

Every pool here is a max or a mean over rectangular windows given, along each axis, by the
[start, end) of each output position's window clipped to the input: a sliding window, an
adaptive bin or the whole axis. So four kernels serve them all, channels innermost:

- window_max / window_mean: prange over (image, output row);
- their gradients gather instead of scattering (no races): each input pixel sums over the
  windows that contain it, a contiguous range along each axis since starts and ends ascend.
Max keeps the flat H·W position of each window's first maximum in row-major order, as
PyTorch and the reference do, so exactly one input gets each gradient.

Pools whose windows tile the image (kernel = stride, no padding, every window whole: LeNet's
and VGG's 2×2) take their own kernels, tile_max / tile_mean and their gradients: a worker's
rows with no window bounds to look up, a mean's kh input rows summed as flat (W·C) runs
(vectorised however few the channels), each gradient written row by row. The general kernels
spent ~4× longer on LeNet's 6-channel pools (docs/benchmarks.md).
"""
from __future__ import annotations

import functools
from math import prod

import numpy as np
from numba import get_num_threads, njit, prange

from cnnc.layers.base import window_out
from cnnc.layers.pool import adaptive_windows

kernel = njit(parallel=True, fastmath=True, cache=True)


# ---------------------------------------------------------------- kernels
@kernel
def window_max(x, rs, re, cs, ce, y, where):
    """y[n, i, j, c] = max of x[n, rs[i]:re[i], cs[j]:ce[j], c]; where = its flat h·W + w."""
    n_img, _, w, ch = x.shape
    _, ho, wo, _ = y.shape
    for r in prange(n_img * ho):
        n = r // ho
        i = r - n * ho
        for j in range(wo):
            out, at = y[n, i, j], where[n, i, j]
            for c in range(ch):
                out[c] = -np.inf
                at[c] = -1
            for ih in range(rs[i], re[i]):
                for iw in range(cs[j], ce[j]):
                    src, pos = x[n, ih, iw], ih * w + iw
                    for c in range(ch):
                        if src[c] > out[c] or at[c] < 0:
                            out[c] = src[c]
                            at[c] = pos


@kernel
def window_max_grad(dy, where, first_r, last_r, first_c, last_c, dx):
    """dx[n, h, w, c] = Σ dy[n, i, j, c] over the windows (i, j) whose maximum was at (h, w);
    the windows containing row h are [first_r[h], last_r[h]), and likewise for columns."""
    n_img, h, w, ch = dx.shape
    for r in prange(n_img * h):
        n = r // h
        ih = r - n * h
        for iw in range(w):
            out, pos = dx[n, ih, iw], ih * w + iw
            for c in range(ch):
                out[c] = 0
            for i in range(first_r[ih], last_r[ih]):
                for j in range(first_c[iw], last_c[iw]):
                    d, at = dy[n, i, j], where[n, i, j]
                    for c in range(ch):
                        if at[c] == pos:
                            out[c] += d[c]


@kernel
def window_mean(x, rs, re, cs, ce, scale, y):
    """y[n, i, j, c] = scale[i, j] · Σ x[n, rs[i]:re[i], cs[j]:ce[j], c]."""
    n_img, _, _, ch = x.shape
    _, ho, wo, _ = y.shape
    for r in prange(n_img * ho):
        n = r // ho
        i = r - n * ho
        for j in range(wo):
            out = y[n, i, j]
            for c in range(ch):
                out[c] = 0
            for ih in range(rs[i], re[i]):
                for iw in range(cs[j], ce[j]):
                    src = x[n, ih, iw]
                    for c in range(ch):
                        out[c] += src[c]
            s = scale[i, j]
            for c in range(ch):
                out[c] *= s


@kernel
def window_mean_grad(dy, scale, first_r, last_r, first_c, last_c, dx):
    """dx[n, h, w, c] = Σ scale[i, j] · dy[n, i, j, c] over the windows (i, j) containing (h, w)."""
    n_img, h, w, ch = dx.shape
    for r in prange(n_img * h):
        n = r // h
        ih = r - n * h
        for iw in range(w):
            out = dx[n, ih, iw]
            for c in range(ch):
                out[c] = 0
            for i in range(first_r[ih], last_r[ih]):
                for j in range(first_c[iw], last_c[iw]):
                    d, s = dy[n, i, j], scale[i, j]
                    for c in range(ch):
                        out[c] += s * d[c]


# ---------------------------------------------------------------- kernels for windows that tile the image
@kernel
def tile_mean(x, kh, kw, scale, y, workers):
    """y[n, i, j, c] = scale · Σ x[n, i·kh:(i + 1)·kh, j·kw:(j + 1)·kw, c]."""
    n_img, _, _, ch = x.shape
    _, ho, wo, _ = y.shape
    rows, width = n_img * ho, wo * kw * ch
    for k in prange(workers):
        acc = np.empty(width, np.float32)               # the kh rows summed, flat (column, channel)
        for r in range(k * rows // workers, (k + 1) * rows // workers):
            n = r // ho
            i = r - n * ho
            xr = x[n, i * kh].reshape(-1)
            for u in range(width):
                acc[u] = xr[u]
            for a in range(1, kh):
                xr = x[n, i * kh + a].reshape(-1)
                for u in range(width):
                    acc[u] += xr[u]
            yr = y[n, i].reshape(-1)
            for j in range(wo):
                out, src = yr[j * ch:(j + 1) * ch], acc[j * kw * ch:(j + 1) * kw * ch]
                for c in range(ch):
                    out[c] = src[c]
                for b in range(1, kw):
                    for c in range(ch):
                        out[c] += src[b * ch + c]
                for c in range(ch):
                    out[c] *= scale


@kernel
def tile_mean_grad(dy, scale, kh, kw, dx, workers):
    """dx[n, h, w, c] = scale · dy[n, h // kh, w // kw, c] inside the tiled part, 0 past it."""
    n_img, h, w, ch = dx.shape
    _, ho, wo, _ = dy.shape
    rows, width = n_img * ho, wo * kw * ch
    for k in prange(workers):
        row = np.zeros(w * ch, np.float32)              # columns past the last window stay 0
        for r in range(k * rows // workers, (k + 1) * rows // workers):
            n = r // ho
            i = r - n * ho
            dr = dy[n, i].reshape(-1)
            for j in range(wo):
                for b in range(kw):
                    for c in range(ch):
                        row[(j * kw + b) * ch + c] = dr[j * ch + c] * scale
            for a in range(kh):
                dx[n, i * kh + a].reshape(-1)[:] = row


@kernel
def tile_max(x, kh, kw, y, where, workers):
    """y[n, i, j, c] = max of the window; where = the flat h·W + w of its first maximum (rows
    flat, (column, channel), and the comparison a select: no branch in the channel loop)."""
    n_img, _, w, ch = x.shape
    _, ho, wo, _ = y.shape
    rows = n_img * ho
    for k in prange(workers):
        for r in range(k * rows // workers, (k + 1) * rows // workers):
            n = r // ho
            i = r - n * ho
            out, at = y[n, i].reshape(-1), where[n, i].reshape(-1)
            for a in range(kh):
                xr = x[n, i * kh + a].reshape(-1)
                for j in range(wo):
                    o, t = out[j * ch:(j + 1) * ch], at[j * ch:(j + 1) * ch]
                    for b in range(kw):
                        src, pos = xr[(j * kw + b) * ch:(j * kw + b + 1) * ch], (i * kh + a) * w + j * kw + b
                        if a == 0 and b == 0:
                            for c in range(ch):
                                o[c] = src[c]
                                t[c] = pos
                        else:
                            for c in range(ch):
                                better = src[c] > o[c]
                                o[c] = src[c] if better else o[c]
                                t[c] = pos if better else t[c]


@kernel
def tile_max_grad(dy, where, kh, kw, dx, workers):
    """dx[n, h, w, c] = dy of the window holding (h, w) where its maximum was there, else 0."""
    n_img, h, w, ch = dx.shape
    _, ho, wo, _ = dy.shape
    rows = n_img * ho
    zero = np.float32(0)
    for k in prange(workers):
        for r in range(k * rows // workers, (k + 1) * rows // workers):
            n = r // ho
            i = r - n * ho
            d, at = dy[n, i].reshape(-1), where[n, i].reshape(-1)
            for a in range(kh):
                out = dx[n, i * kh + a].reshape(-1)
                for j in range(wo):
                    dj, tj = d[j * ch:(j + 1) * ch], at[j * ch:(j + 1) * ch]
                    for b in range(kw):
                        o, pos = out[(j * kw + b) * ch:(j * kw + b + 1) * ch], (i * kh + a) * w + j * kw + b
                        for c in range(ch):
                            o[c] = dj[c] if tj[c] == pos else zero
                for u in range(wo * kw * ch, w * ch):
                    out[u] = zero


# A tiled mean's forward wins over the general kernel below this many channels (6: 0.16 →
# 0.09 ms for LeNet's first pool); at 32 its per-column folds cost more (0.29 → 0.39 ms).
TILED_MEAN_CHANNELS = 16


# ---------------------------------------------------------------- 2×2 windows that tile the image
# The commonest tiled pool (LeNet, VGG) summed window by window, channels innermost: no row
# buffer to fold. Batch 64 against tile_mean: 6 channels at 28×28 0.10 → 0.05 ms, 16 at 10×10
# 0.020 → 0.007 ms, and against the general kernel 16 at 32×32 0.18 → 0.075 ms.
@kernel
def mean_2x2(x, scale, y, workers):
    """y[n, i, j, c] = scale · Σ x[n, 2i:2i + 2, 2j:2j + 2, c]."""
    n_img, ho, wo, ch = y.shape
    rows = n_img * ho
    for k in prange(workers):
        for r in range(k * rows // workers, (k + 1) * rows // workers):
            n = r // ho
            i = r - n * ho
            x0, x1, yr = x[n, 2 * i], x[n, 2 * i + 1], y[n, i]
            for j in range(wo):
                a, b, c0, d, o = x0[2 * j], x0[2 * j + 1], x1[2 * j], x1[2 * j + 1], yr[j]
                for c in range(ch):
                    o[c] = (a[c] + b[c] + c0[c] + d[c]) * scale


# Its gradient, window by window, wins below this many channels (6: 0.085 → 0.047 ms); at 16
# and more tile_mean_grad's row copies are faster (16 at 32×32: 0.11 against 0.19 ms).
MEAN_2X2_GRAD_CHANNELS = 16


@kernel
def mean_2x2_grad(dy, scale, _kh, _kw, dx, workers):
    """dx[n, 2i + a, 2j + b, c] = scale · dy[n, i, j, c] (tile_mean_grad's signature)."""
    n_img, ho, wo, ch = dy.shape
    rows = n_img * ho
    for k in prange(workers):
        for r in range(k * rows // workers, (k + 1) * rows // workers):
            n = r // ho
            i = r - n * ho
            dr, x0, x1 = dy[n, i], dx[n, 2 * i], dx[n, 2 * i + 1]
            for j in range(wo):
                d, a, b, c0, e = dr[j], x0[2 * j], x0[2 * j + 1], x1[2 * j], x1[2 * j + 1]
                for c in range(ch):
                    v = d[c] * scale
                    a[c] = v
                    b[c] = v
                    c0[c] = v
                    e[c] = v
            for u in range(2 * wo, dx.shape[2]):       # a column past the last window
                x0[u, :] = 0
                x1[u, :] = 0


def tiling(hw, attrs):
    """(kh, kw) when the pool's windows tile the image: kernel = stride, no padding, every
    window whole (rows and columns past the last window are left out, as in floor mode); else None."""
    kernel, stride = tuple(attrs["kernel"]), tuple(attrs["stride"])
    if kernel != stride or any(p for pair in attrs["padding"] for p in pair):
        return None
    whole = all(n % k == 0 for n, k in zip(hw, kernel))
    return kernel if whole or not attrs["ceil_mode"] else None


def workers_for(rows: int) -> int:
    return max(1, min(get_num_threads(), rows))


def tiled_grad(grad, dy, kept, tiles, x_shape):
    """dx of a pool whose windows tile the image, by `grad` (tile_max_grad with the maxima's
    positions, tile_mean_grad with the scale); rows past the last window get 0."""
    dx = np.empty(x_shape, np.float32)
    grad(np.ascontiguousarray(dy, dtype=np.float32), kept, *tiles, dx, workers_for(dy.shape[0] * dy.shape[1]))
    dx[:, dy.shape[1] * tiles[0]:] = 0
    return dx


# ---------------------------------------------------------------- windows
def index(values) -> np.ndarray:
    return np.asarray(values, np.int64).reshape(-1)


class Windows:
    """The windows of one pool along both axes of an (H, W) image: per output position the
    clipped [start, end), and per input position the range of windows that contain it."""

    def __init__(self, hw, rows, cols):
        self.hw = tuple(hw)
        (self.rs, self.re), (self.cs, self.ce) = ((index(s), index(e)) for s, e in (rows, cols))

    @property
    def out(self) -> tuple[int, int]:
        return len(self.rs), len(self.cs)

    def bounds(self):
        return self.rs, self.re, self.cs, self.ce

    @functools.cached_property
    def containing(self):
        """first_r, last_r, first_c, last_c: windows [first, last) contain each input position."""
        out = []
        for n, starts, ends in ((self.hw[0], self.rs, self.re), (self.hw[1], self.cs, self.ce)):
            positions = np.arange(n)
            out += [index(np.searchsorted(ends, positions, side="right")),
                    index(np.searchsorted(starts, positions, side="right"))]
        return out

    def sizes(self):
        """(Ho, Wo) number of input positions in each window."""
        return np.outer(self.re - self.rs, self.ce - self.cs)


def sliding(n, kernel, stride, pads, out):
    """Along one axis: unclipped starts and ends of the windows of a sliding pool."""
    start = np.arange(out) * stride - pads[0]
    return start, start + kernel


def sliding_windows(hw, attrs) -> Windows:
    """The windows of a sliding pool, made once per image size and pool: building them (and
    the windows that contain each pixel) took ~0.1 ms a call, longer than pooling LeNet's
    16 × 10 × 10 maps (docs/benchmarks.md). Nothing writes a Windows after it is made."""
    return _sliding_windows(tuple(hw), *_pool_key(attrs))


def _pool_key(attrs) -> tuple:
    return (tuple(attrs["kernel"]), tuple(attrs["stride"]), tuple(tuple(p) for p in attrs["padding"]),
            bool(attrs["ceil_mode"]))


@functools.cache
def _sliding_windows(hw, kernel, stride, padding, ceil_mode) -> Windows:
    out = [window_out(n, k, s, p, 1, ceil_mode) for n, k, s, p in zip(hw, kernel, stride, padding)]
    axes = [sliding(n, k, s, p, o) for n, k, s, p, o in zip(hw, kernel, stride, padding, out)]
    return Windows(hw, *[(np.clip(s, 0, n), np.clip(e, 0, n)) for n, (s, e) in zip(hw, axes)])


@functools.cache
def _avg_scale(hw, key, count_include_pad, dtype) -> np.ndarray:
    kernel, stride, padding, ceil_mode = key
    attrs = {"kernel": kernel, "stride": stride, "padding": padding, "ceil_mode": ceil_mode,
             "count_include_pad": count_include_pad}
    return reciprocal(avg_divisor(hw, attrs, _sliding_windows(hw, *key)), dtype)


def avg_scale(hw, attrs, dtype) -> np.ndarray:
    """1 / PyTorch's divisor of each window (avg_divisor), made once per image size and pool."""
    return _avg_scale(tuple(hw), _pool_key(attrs), bool(attrs["count_include_pad"]), np.dtype(dtype))


def adaptive(hw, out) -> Windows:
    return Windows(hw, *[tuple(zip(*adaptive_windows(n, o))) for n, o in zip(hw, out)])


def whole(hw) -> Windows:
    return Windows(hw, ((0,), (hw[0],)), ((0,), (hw[1],)))


def avg_divisor(hw, attrs, windows: Windows):
    """PyTorch's divisor: the window clipped to input + padding, or to the input alone without
    count_include_pad."""
    if not attrs["count_include_pad"]:
        return windows.sizes()
    sizes = []
    for n, k, s, pads, o in zip(hw, attrs["kernel"], attrs["stride"], attrs["padding"], windows.out):
        start, end = sliding(n, k, s, pads, o)
        sizes.append(np.minimum(end, n + pads[1]) - start)
    return np.outer(*sizes)


# ---------------------------------------------------------------- max and mean over windows
def pool_max(x, windows: Windows):
    """(y, where) for NHWC x."""
    x = np.ascontiguousarray(x)
    shape = (x.shape[0], *windows.out, x.shape[3])
    y, where = np.empty(shape, x.dtype), np.empty(shape, np.int32)
    window_max(x, *windows.bounds(), y, where)
    return y, where


def pool_max_grad(dy, where, windows: Windows, x_shape):
    dx = np.empty(x_shape, dy.dtype)
    window_max_grad(np.ascontiguousarray(dy), where, *windows.containing, dx)
    return dx


def pool_mean(x, windows: Windows, scale):
    x = np.ascontiguousarray(x)
    y = np.empty((x.shape[0], *windows.out, x.shape[3]), x.dtype)
    window_mean(x, *windows.bounds(), scale, y)
    return y


def pool_means(x, windows: Windows):
    """(y, scale): the mean over each window."""
    scale = reciprocal(windows.sizes(), x.dtype)
    return pool_mean(x, windows, scale), scale


def pool_mean_grad(dy, scale, windows: Windows, x_shape):
    dx = np.empty(x_shape, dy.dtype)
    window_mean_grad(np.ascontiguousarray(dy), scale, *windows.containing, dx)
    return dx


def reciprocal(sizes, dtype):
    return np.ascontiguousarray(1.0 / np.asarray(sizes, np.float64)).astype(dtype)


# ---------------------------------------------------------------- windowed pools
def maxpool2d_fwd(xs, ps, attrs, ctx):
    x, = xs
    tiles = tiling(x.shape[1:3], attrs)
    if tiles:
        x = np.ascontiguousarray(x)
        shape = (x.shape[0], x.shape[1] // tiles[0], x.shape[2] // tiles[1], x.shape[3])
        y, where = np.empty(shape, x.dtype), np.empty(shape, np.int32)
        tile_max(x, *tiles, y, where, workers_for(shape[0] * shape[1]))
        return y, (x.shape, None, where)
    windows = sliding_windows(x.shape[1:3], attrs)
    y, where = pool_max(x, windows)
    return y, (x.shape, windows, where)


def maxpool2d_bwd(saved, dy, attrs):
    x_shape, windows, where = saved
    if windows is None:                                 # windows that tile the image
        return [tiled_grad(tile_max_grad, dy, where, tiling(x_shape[1:3], attrs), x_shape)], []
    return [pool_max_grad(dy, where, windows, x_shape)], []


def avgpool2d_fwd(xs, ps, attrs, ctx):
    x, = xs
    tiles = tiling(x.shape[1:3], attrs)
    if tiles and (tiles == (2, 2) or x.shape[3] < TILED_MEAN_CHANNELS):
        x = np.ascontiguousarray(x, dtype=np.float32)
        y = np.empty((x.shape[0], x.shape[1] // tiles[0], x.shape[2] // tiles[1], x.shape[3]), np.float32)
        scale, workers = np.float32(1 / (tiles[0] * tiles[1])), workers_for(y.shape[0] * y.shape[1])
        if tiles == (2, 2):
            mean_2x2(x, scale, y, workers)
        else:
            tile_mean(x, *tiles, scale, y, workers)
        return y, (x.shape, None, None)   # the gradient needs no windows
    windows = sliding_windows(x.shape[1:3], attrs)
    scale = avg_scale(x.shape[1:3], attrs, x.dtype)
    return pool_mean(x, windows, scale), (x.shape, windows, scale)


def avgpool2d_bwd(saved, dy, attrs):
    x_shape, windows, scale = saved
    tiles = tiling(x_shape[1:3], attrs)
    if tiles:
        scale = np.float32(1 / (tiles[0] * tiles[1]))
        by_window = tiles == (2, 2) and x_shape[3] < MEAN_2X2_GRAD_CHANNELS
        return [tiled_grad(mean_2x2_grad if by_window else tile_mean_grad, dy, scale, tiles, x_shape)], []
    return [pool_mean_grad(dy, scale, windows, x_shape)], []


# ---------------------------------------------------------------- global pools
# An NHWC image pools over one (H, W) window; a sequence (N, C, L) is read as an (N, C, L, 1)
# image whose rows are the channels, each its own window.
def global_view(x_shape):
    """(the NHWC shape the kernels see, its windows, the pooled NHWC shape)."""
    if len(x_shape) == 4:
        n, h, w, c = x_shape
        return x_shape, whole((h, w)), (n, 1, 1, c)
    n, c = x_shape[:2]
    length = prod(x_shape[2:])
    return (n, c, length, 1), Windows((c, length), (range(c), range(1, c + 1)), ((0,), (length,))), (n, c, 1, 1)


def global_out(y, x_shape, keepdims):
    """The pooled NHWC array in the op's output shape: NHWC (N, 1, 1, C) for images, (N, C, 1…)
    for sequences, (N, C) without keepdims."""
    n, c = y.shape[0], y.shape[1] * y.shape[3]
    if not keepdims:
        return y.reshape(n, c)
    return y.reshape(n, 1, 1, c) if len(x_shape) == 4 else y.reshape(n, c, *[1] * (len(x_shape) - 2))


def global_avgpool_fwd(xs, ps, attrs, ctx):
    x, = xs
    view, windows, _ = global_view(x.shape)
    y, _ = pool_means(x.reshape(view), windows)
    return global_out(y, x.shape, attrs["keepdims"]), (x.shape,)


def global_avgpool_bwd(saved, dy, attrs):
    x_shape, = saved
    view, windows, pooled = global_view(x_shape)
    dx = pool_mean_grad(dy.reshape(pooled), reciprocal(windows.sizes(), dy.dtype), windows, view)
    return [dx.reshape(x_shape)], []


def global_maxpool_fwd(xs, ps, attrs, ctx):
    x, = xs
    view, windows, _ = global_view(x.shape)
    y, where = pool_max(x.reshape(view), windows)
    return global_out(y, x.shape, attrs["keepdims"]), (x.shape, where)


def global_maxpool_bwd(saved, dy, attrs):
    x_shape, where = saved
    view, windows, pooled = global_view(x_shape)
    return [pool_max_grad(dy.reshape(pooled), where, windows, view).reshape(x_shape)], []


# ---------------------------------------------------------------- adaptive pools
def adaptive_avgpool_fwd(xs, ps, attrs, ctx):
    x, = xs
    windows = adaptive(x.shape[1:3], attrs["output"])
    y, scale = pool_means(x, windows)
    return y, (x.shape, windows, scale)


def adaptive_avgpool_bwd(saved, dy, attrs):
    x_shape, windows, scale = saved
    return [pool_mean_grad(dy, scale, windows, x_shape)], []


# ---------------------------------------------------------------- spatial pyramid pooling
# Each level n is an adaptive (n, n) pool; the output concatenates the levels flattened in the
# boundary's (C, n, n) order, so the NHWC (N, n, n, C) results are transposed before flattening.
LEVEL = {"max": (pool_max, pool_max_grad), "avg": (pool_means, pool_mean_grad)}   # (pool, its gradient)


def spp_fwd(xs, ps, attrs, ctx):
    x, = xs
    n_img, h, w, c = x.shape
    pool = LEVEL[attrs["mode"]][0]
    pooled, saved = [], []
    for n in attrs["levels"]:
        windows = adaptive((h, w), (n, n))
        y, kept = pool(x, windows)
        pooled.append(y.transpose(0, 3, 1, 2).reshape(n_img, -1))
        saved.append((windows, kept))
    return np.concatenate(pooled, axis=1), (x.shape, saved)


def spp_bwd(saved, dy, attrs):
    x_shape, levels = saved
    n_img, c = x_shape[0], x_shape[3]
    grad = LEVEL[attrs["mode"]][1]
    widths = [c * n * n for n in attrs["levels"]]
    dx = np.zeros(x_shape, dy.dtype)
    for n, (windows, kept), d in zip(attrs["levels"], levels, np.split(dy, np.cumsum(widths)[:-1], axis=1)):
        d = np.ascontiguousarray(d.reshape(n_img, c, n, n).transpose(0, 2, 3, 1))
        dx += grad(d, kept, windows, x_shape)
    return [dx], []
