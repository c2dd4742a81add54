"""Spatial transformer (Jaderberg et al. 2015) on NHWC: an affine grid, then bilinear sampling.

Same semantics as runtime/reference/spatial.py: PyTorch's F.affine_grid + F.grid_sample
(bilinear, zeros padding, align_corners=False). x and y are NHWC here (channels innermost, so
each tap is one contiguous run of C values); theta (N, 6) is as at the boundary.

The grid is never stored: each output pixel recomputes its sample point from θ. Forward runs
prange over (image, output row); backward runs prange over images, so the scatter-add into dx
and the six sums of dθ each belong to one thread (race-free).
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

ZERO, HALF, ONE = np.float32(0), np.float32(0.5), np.float32(1)


@njit(cache=True, fastmath=True)
def _sample_point(theta, b, i, j, oh, ow, h, w):
    """Output pixel (i, j)'s pixel-centre coordinates (gx, gy) in [−1, 1] and the input
    position (ix, iy) it reads, in pixels."""
    cast = theta.dtype.type                  # all in θ's dtype: float32 stays float32
    gx = cast((2.0 * j + 1.0) / ow - 1.0)
    gy = cast((2.0 * i + 1.0) / oh - 1.0)
    u = theta[b, 0] * gx + theta[b, 1] * gy + theta[b, 2]
    v = theta[b, 3] * gx + theta[b, 4] * gy + theta[b, 5]
    return gx, gy, ((u + ONE) * cast(w) - ONE) * HALF, ((v + ONE) * cast(h) - ONE) * HALF


@njit(parallel=True, cache=True, fastmath=True)
def _sample(x, theta, y):
    n, h, w, channels = x.shape
    _, oh, ow, _ = y.shape
    for row in prange(n * oh):
        b, i = row // oh, row % oh
        for j in range(ow):
            _, _, ix, iy = _sample_point(theta, b, i, j, oh, ow, h, w)
            x0, y0 = np.floor(ix), np.floor(iy)
            fx, fy = ix - x0, iy - y0
            out = y[b, i, j]
            for k in range(channels):
                out[k] = ZERO
            for dr in range(2):
                r = int(y0) + dr
                if r < 0 or r >= h:
                    continue
                wy = fy if dr else ONE - fy
                for dc in range(2):
                    c = int(x0) + dc
                    if c < 0 or c >= w:
                        continue
                    weight = wy * (fx if dc else ONE - fx)
                    tap = x[b, r, c]
                    for k in range(channels):
                        out[k] += weight * tap[k]


@njit(parallel=True, cache=True, fastmath=True)
def _sample_bwd(x, theta, dy, dx, dtheta):
    """Adds into dx (zeroed by the caller); writes dtheta."""
    n, h, w, channels = x.shape
    _, oh, ow, _ = dy.shape
    for b in prange(n):
        dt = np.zeros(6)                                # float64 sums over all output pixels
        for i in range(oh):
            for j in range(ow):
                gx, gy, ix, iy = _sample_point(theta, b, i, j, oh, ow, h, w)
                x0, y0 = np.floor(ix), np.floor(iy)
                fx, fy = ix - x0, iy - y0
                g = dy[b, i, j]
                dix = diy = 0.0
                for dr in range(2):
                    r = int(y0) + dr
                    if r < 0 or r >= h:
                        continue
                    wy = fy if dr else ONE - fy
                    sy = ONE if dr else -ONE               # d wy / d iy
                    for dc in range(2):
                        c = int(x0) + dc
                        if c < 0 or c >= w:
                            continue
                        wx = fx if dc else ONE - fx
                        sx = ONE if dc else -ONE           # d wx / d ix
                        weight = wy * wx
                        tap, dtap = x[b, r, c], dx[b, r, c]
                        dot = ZERO
                        for k in range(channels):
                            dtap[k] += weight * g[k]
                            dot += g[k] * tap[k]
                        dix += dot * wy * sx
                        diy += dot * wx * sy
                du, dv = dix * w * 0.5, diy * h * 0.5      # d/d(u, v) of the normalised grid
                dt[0] += du * gx
                dt[1] += du * gy
                dt[2] += du
                dt[3] += dv * gx
                dt[4] += dv * gy
                dt[5] += dv
        for k in range(6):
            dtheta[b, k] = dt[k]


def _output_size(x, attrs):
    return tuple(attrs.get("output") or x.shape[1:3])


def spatial_transformer_fwd(xs, ps, attrs, ctx):
    x, theta = xs
    x = np.ascontiguousarray(x)
    theta = np.ascontiguousarray(theta, x.dtype).reshape(len(x), 6)
    oh, ow = _output_size(x, attrs)
    y = np.empty((len(x), oh, ow, x.shape[3]), x.dtype)
    _sample(x, theta, y)
    return y, (x, theta)


def spatial_transformer_bwd(saved, dy, attrs):
    x, theta = saved
    dx, dtheta = np.zeros_like(x), np.empty_like(theta)
    _sample_bwd(x, theta, np.ascontiguousarray(dy, x.dtype), dx, dtheta)
    return [dx, dtheta], []
