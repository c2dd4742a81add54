"""Merges: add and multiply (two or more inputs, broadcasting), concat along an axis — CPU.

Broadcasting is the boundary's: inputs share the batch size, and trailing boundary axes align.
Inputs of the output's rank broadcast as they are (NHWC against NHWC: a (N, C, 1, 1) gate is
(N, 1, 1, C) inside). A lower-rank input is first given 1s after its batch axis in the
boundary layout, then, against a 4-D output, moved to NHWC — a view, since only size-1 axes
move: (N, W) → (N, 1, 1, W) → (N, 1, W, 1).

Same-shape contiguous operands take a parallel Numba pass (`_elementwise`: NumPy's ufuncs run
on one core; this pass is memory-bound, and two cores move ~1.7x the bytes here; also what the
executor sums gradients with, `sum_gradients`). A stretched operand
whose pattern, after merging neighbouring axes, is (A, 1, B) of an (A, K, B) output — a
channel gate, a per-sample bias, anything stretched along one block of axes — takes a Numba
pass (`_stretched`; NumPy is 2x slower over a short last axis), and so does its gradient, a sum
over k (`_stretched_sum`, fused with the product for multiply). Other patterns (two stretched
operands, alternating stretches) fall back to NumPy broadcasting.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from .activation import LOWEST, epilogue_in_place
from .core import array_axis, boundary, boundary_shape, inside


# ---------------------------------------------------------------- kernels
@njit(parallel=True, fastmath=True, cache=True)
def _elementwise(x, u, mul, floor, y):
    """y = x · u if mul else max(x + u, floor), over flat arrays of one length (the branch
    outside the parallel loops: inside, it cost the vectorisation, 2.8x slower). Floor 0 is the
    ReLU at a ResNet block's end in the sum's pass; the lowest float, none."""
    if mul:
        for i in prange(x.shape[0]):
            y[i] = x[i] * u[i]
    else:
        for i in prange(x.shape[0]):
            y[i] = max(x[i] + u[i], floor)


def sum_gradients(a, b):
    """a + b, a new array (the executor's sum of two gradients of one tensor)."""
    out = np.empty(np.broadcast_shapes(a.shape, b.shape), np.result_type(a, b))
    return combine(a, b, False, out)


@njit(parallel=True, fastmath=True, cache=True)
def _stretched(x, u, mul, y):
    """y[a, k, b] = x[a, k, b] · u[a, b] if mul else x[a, k, b] + u[a, b]."""
    na, nk, nb = x.shape
    for a in prange(na):
        if nb == 1:
            s = u[a, 0]
            for k in range(nk):
                y[a, k, 0] = x[a, k, 0] * s if mul else x[a, k, 0] + s
        elif mul:
            for k in range(nk):
                for b in range(nb):
                    y[a, k, b] = x[a, k, b] * u[a, b]
        else:
            for k in range(nk):
                for b in range(nb):
                    y[a, k, b] = x[a, k, b] + u[a, b]


@njit(parallel=True, fastmath=True, cache=True)
def _stretched_sum(p, q, weighted, out):
    """out[a, b] = Σ_k p[a, k, b] (· q[a, k, b] if weighted), accumulated in float64."""
    na, nk, nb = p.shape
    for a in prange(na):
        if nb == 1:
            t = 0.0
            for k in range(nk):
                t += p[a, k, 0] * q[a, k, 0] if weighted else p[a, k, 0]
            out[a, 0] = t
        else:
            acc = np.zeros(nb)
            for k in range(nk):
                for b in range(nb):
                    acc[b] += p[a, k, b] * q[a, k, b] if weighted else p[a, k, b]
            for b in range(nb):
                out[a, b] = acc[b]


# ---------------------------------------------------------------- broadcasting
def aligned(x, rank: int):
    """x (internal layout) as an array of `rank` axes in the output's layout, broadcasting as the
    boundary does; a view unless a 4-D input meets a higher rank."""
    if x.ndim == rank:
        return x
    b = boundary(x)
    b = b.reshape(b.shape[:1] + (1,) * (rank - b.ndim) + b.shape[1:])
    return b.transpose(0, 2, 3, 1) if rank == 4 else b


def aligned_shape(shape, rank: int):
    """The shape of `aligned` for an input of (internal) `shape`."""
    if len(shape) == rank:
        return tuple(shape)
    b = boundary_shape(shape)
    b = b[:1] + (1,) * (rank - len(b)) + b[1:]
    return (b[0], b[2], b[3], b[1]) if rank == 4 else b


def unaligned(g, shape):
    """The gradient of an aligned view back in the input's internal `shape`."""
    if g.ndim == len(shape):
        return g
    b = g.transpose(0, 3, 1, 2) if g.ndim == 4 else g
    return inside(np.ascontiguousarray(b).reshape(boundary_shape(shape)))


def stretch(shape, ushape):
    """(A, K, B) such that an operand of `ushape` is (A, 1, B) within the output's (A, K, B):
    None when its stretched axes do not form one block."""
    blocks = []                                     # [is full, size] of merged neighbouring axes
    for s, u in zip(shape, ushape):
        if s == 1:
            continue
        if blocks and blocks[-1][0] == (u == s):
            blocks[-1][1] *= s
        else:
            blocks.append([u == s, s])
    if not blocks or not blocks[0][0]:
        blocks.insert(0, [True, 1])
    if len(blocks) > 3:
        return None
    sizes = [size for _, size in blocks] + [1] * (3 - len(blocks))
    return tuple(sizes)


def whole(acc, u, out) -> bool:
    """Same-shape contiguous float32 operands: the parallel pass `_elementwise` takes them."""
    return (acc.shape == u.shape == out.shape and acc.dtype == u.dtype == out.dtype == np.float32
            and acc.flags.c_contiguous and u.flags.c_contiguous and out.flags.c_contiguous)


def combine(acc, u, mul: bool, out):
    """out = acc (+ or ·) u, acc of the output's shape or not; out may be acc."""
    if whole(acc, u, out):
        _elementwise(acc.reshape(-1), u.reshape(-1), mul, LOWEST, out.reshape(-1))
        return out
    pattern = stretch(out.shape, u.shape)
    if acc.shape == out.shape and u.shape != out.shape and pattern and acc.flags.c_contiguous:
        a, k, b = pattern
        _stretched(acc.reshape(a, k, b), np.ascontiguousarray(u).reshape(a, b), mul, out.reshape(a, k, b))
    else:
        (np.multiply if mul else np.add)(acc, u, out=out)
    return out


def fold(views, mul: bool, shape):
    """The sum or product of aligned views: operands of the full shape first."""
    views = sorted(views, key=lambda v: v.shape != shape)
    first = np.ascontiguousarray(views[0])
    if len(views) == 1:
        return first.copy()
    out = np.empty(shape, np.result_type(*views))
    combine(first, views[1], mul, out)
    for v in views[2:]:
        combine(out, v, mul, out)
    return out


def sum_to(g, q, vshape, shape):
    """Σ of g (· q, a full-shape array, when given) over the axes an operand of `vshape` was
    stretched along to `shape`."""
    if vshape == shape:
        return g if q is None else g * q
    pattern = stretch(shape, vshape)
    if pattern:
        a, k, b = pattern
        g3 = np.ascontiguousarray(g).reshape(a, k, b)
        q3 = g3 if q is None else np.ascontiguousarray(q).reshape(a, k, b)
        out = np.empty((a, b), g.dtype)
        _stretched_sum(g3, q3, q is not None, out)
        return out.reshape(vshape)
    p = g if q is None else g * q
    stretched = tuple(i for i, (s, v) in enumerate(zip(shape, vshape)) if v == 1 and s != 1)
    return p.sum(axis=stretched, keepdims=True)


def _align_all(xs):
    rank = max(x.ndim for x in xs)
    views = [aligned(x, rank) for x in xs]
    return views, np.broadcast_shapes(*(v.shape for v in views))


# ---------------------------------------------------------------- add, multiply
def add_fwd(xs, ps, attrs, ctx, activation="none"):
    """`activation`: one in-place pass after the sum, for a step that trains as one op
    (runtime/cpu/fusion.py); its output is a fresh array."""
    views, shape = _align_all(xs)
    saved = [x.shape for x in xs]
    if activation == "relu" and len(views) == 2 and whole(*views, views[0]):
        y = np.empty(shape, np.float32)               # a ResNet block's end: the ReLU in the sum's pass
        _elementwise(views[0].reshape(-1), views[1].reshape(-1), False, np.float32(0), y.reshape(-1))
        return y, saved
    return epilogue_in_place(fold(views, False, shape), None, activation), saved


def add_bwd(saved, dy, attrs):
    return [unaligned(sum_to(dy, None, aligned_shape(shape, dy.ndim), dy.shape), shape) for shape in saved], []


def multiply_fwd(xs, ps, attrs, ctx):
    views, shape = _align_all(xs)
    return fold(views, True, shape), xs


def multiply_bwd(saved, dy, attrs):
    views, shape = _align_all(saved)
    dxs = []
    for i, view in enumerate(views):
        # the product of dy and the others, not y / x: an input may hold zeros; one full-shape
        # other (q) is folded into the sum over the stretched axes
        others = views[:i] + views[i + 1:]
        full = [j for j, v in enumerate(others) if v.shape == shape]
        q = np.ascontiguousarray(others.pop(full[0])) if full else None
        g = fold([dy, *others], True, shape) if others else dy
        dxs.append(unaligned(sum_to(g, q, view.shape, shape), saved[i].shape))
    return dxs, []


# ---------------------------------------------------------------- concat
def concat_fwd(xs, ps, attrs, ctx):
    axis = array_axis(attrs["axis"], xs[0].ndim)
    return np.concatenate(xs, axis=axis), [x.shape[axis] for x in xs]


def concat_bwd(saved, dy, attrs):
    ends = np.cumsum(saved)[:-1]
    return [np.ascontiguousarray(part) for part in np.split(dy, ends, axis=array_axis(attrs["axis"], dy.ndim))], []
