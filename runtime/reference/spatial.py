"""Spatial transformer (Jaderberg et al. 2015): an affine grid, then bilinear sampling.

Exactly PyTorch's F.affine_grid(theta, (N, C, oh, ow), align_corners=False) followed by
F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False).
Coordinates are normalised to [−1, 1] over the pixel *edges* (align_corners=False), so
output pixel j sits at (2j + 1)/ow − 1 and normalised u reads input column ((u + 1)·W − 1)/2.
"""
from __future__ import annotations

import numpy as np


def _centres(size: int, dtype) -> np.ndarray:
    """Normalised coordinates of the pixel centres along an axis of `size` pixels."""
    return ((2 * np.arange(size) + 1) / size - 1).astype(dtype)


def _base_grid(oh: int, ow: int, dtype) -> np.ndarray:
    """(x, y, 1) of every output pixel centre: (oh, ow, 3)."""
    ys, xs = np.meshgrid(_centres(oh, dtype), _centres(ow, dtype), indexing="ij")
    return np.stack([xs, ys, np.ones_like(xs)], axis=-1)


def affine_grid(theta: np.ndarray, oh: int, ow: int) -> np.ndarray:
    """theta (N, 6) -> sampling grid (N, oh, ow, 2) of normalised (u, v) = θ · (x, y, 1)."""
    return np.einsum("hwk,nik->nhwi", _base_grid(oh, ow, theta.dtype), theta.reshape(-1, 2, 3))


def _unnormalise(u: np.ndarray, size: int) -> np.ndarray:
    return ((u + 1) * size - 1) / 2


def _taps(ix: np.ndarray, iy: np.ndarray):
    """The four bilinear neighbours of each sample point, as
    (row, col, weight, d weight / d ix, d weight / d iy)."""
    x0, y0 = np.floor(ix), np.floor(iy)
    fx, fy = ix - x0, iy - y0
    for row_off, wy, dwy in ((0, 1 - fy, -1.0), (1, fy, 1.0)):
        for col_off, wx, dwx in ((0, 1 - fx, -1.0), (1, fx, 1.0)):
            row = (y0 + row_off).astype(np.intp)
            col = (x0 + col_off).astype(np.intp)
            yield row, col, wy * wx, wy * dwx, wx * dwy


def _inside(x: np.ndarray, row, col) -> np.ndarray:
    h, w = x.shape[-2:]
    return (row >= 0) & (row < h) & (col >= 0) & (col < w)


def _batch_index(x: np.ndarray) -> np.ndarray:
    return np.arange(x.shape[0])[:, None, None]


def _gather(x: np.ndarray, row, col) -> np.ndarray:
    """x[n, :, row, col] as (N, C, oh, ow); zero outside the input (padding_mode="zeros")."""
    inside = _inside(x, row, col)
    h, w = x.shape[-2:]
    values = x[_batch_index(x), :, np.clip(row, 0, h - 1), np.clip(col, 0, w - 1)]  # (N, oh, ow, C)
    return np.moveaxis(values, -1, 1) * inside[:, None]


def _scatter_add(dx: np.ndarray, row, col, values: np.ndarray) -> None:
    """dx[n, :, row, col] += values (N, C, oh, ow), dropping taps outside the input."""
    inside = _inside(dx, row, col)
    n = np.broadcast_to(_batch_index(dx), row.shape)
    np.add.at(dx, (n[inside], slice(None), row[inside], col[inside]), np.moveaxis(values, 1, -1)[inside])


def _sample_points(x: np.ndarray, theta: np.ndarray, attrs):
    oh, ow = attrs.get("output") or x.shape[-2:]
    grid = affine_grid(theta, oh, ow)
    h, w = x.shape[-2:]
    return _unnormalise(grid[..., 0], w), _unnormalise(grid[..., 1], h)


def spatial_transformer_fwd(xs, ps, attrs, ctx):
    x, theta = xs
    ix, iy = _sample_points(x, theta, attrs)
    y = sum(weight[:, None] * _gather(x, row, col) for row, col, weight, _, _ in _taps(ix, iy))
    return y, (x, theta, ix, iy)


def spatial_transformer_bwd(saved, dy, attrs):
    x, theta, ix, iy = saved
    dx = np.zeros_like(x)
    dix, diy = np.zeros_like(ix), np.zeros_like(iy)
    for row, col, weight, dw_dix, dw_diy in _taps(ix, iy):
        _scatter_add(dx, row, col, dy * weight[:, None])
        dy_dot_tap = np.sum(dy * _gather(x, row, col), axis=1)         # (N, oh, ow)
        dix += dy_dot_tap * dw_dix
        diy += dy_dot_tap * dw_diy
    h, w = x.shape[-2:]
    dgrid = np.stack([dix * w / 2, diy * h / 2], axis=-1)               # d/d(u, v)
    return [dx, affine_grid_bwd(dgrid).reshape(theta.shape)], []


def affine_grid_bwd(dgrid: np.ndarray) -> np.ndarray:
    """Gradient of affine_grid: dgrid (N, oh, ow, 2) -> dtheta (N, 6)."""
    n, oh, ow, _ = dgrid.shape
    return np.einsum("nhwi,hwk->nik", dgrid, _base_grid(oh, ow, dgrid.dtype)).reshape(n, 6)
