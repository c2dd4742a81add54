"""Normalisation: batch, layer, instance and group norm, local response normalisation — CPU.

Batch, instance and group norm share one core, as in the reference. The input is viewed as
(A, K, B) so that sums over k are per (sample, channel) — NHWC (N, H·W, C), (N, C) as
(N, 1, C), (N, C, L…) as (N·C, L…, 1) — and one kernel, `_moments`, gives Σu and Σu·v per
(sample, channel) in float64. The ops differ only in how they pool those (N, C) sums into
statistics: over the batch (batchnorm), not at all (instancenorm), over the channels of a
group (groupnorm). Everything else is small (N, C) arithmetic, and the passes over the data
are one fused multiply-add per element:

    forward   y  = x · scale + shift                        (`_affine`)
    backward  dx = dy · α + x · β + γ                       (`_affine2`)

with scale, shift, α, β, γ per (sample, channel), from x̂ = (x − μ)·r, dx̂ = w·dy and
dx = r·(dx̂ − mean dx̂ − x̂ · mean(dx̂·x̂)) over each pool. Backward saves x, not x̂.

Layernorm normalises each sample over all its axes or the boundary's last one (W of an
NHWC tensor: the view (N·H, W, C)); its weight is shaped like the boundary's normalised axes,
so for `axes: all` on a 4-D input it is read in (H, W, C) order inside and its gradient
returned as (C, H, W). LRN sums over neighbouring channels: the middle axis of `channel_view`.
"""
from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange

from .activation import LOWEST, elementwise_grad, epilogue_in_place
from .core import channel_view

_0, _1 = np.float32(0), np.float32(1)
FLOORS = {"none": LOWEST, "relu": 0.0}     # the activations the normalising pass applies itself


def slices(rows: int) -> int:
    """How many slices a kernel that needs scratch space cuts its rows into (one scratch each)."""
    return min(rows, 4 * numba.get_num_threads())


# ---------------------------------------------------------------- kernels on (A, K, B) views
# The gated kernels read u only where gate > low: a ReLU's derivative taken in the same pass
# (gate its output, low 0), or no gate (gate u itself, low the lowest float). A select, not a
# branch: the loops stay vectorised.
@njit(parallel=True, fastmath=True, cache=True)
def _moments(u, v, gate, low):
    """Σ_k u and Σ_k u·v for each (a, b), in float64; u gated."""
    na, nk, nb = u.shape
    s1, s2 = np.zeros((na, nb)), np.zeros((na, nb))
    for a in prange(na):
        if nb == 1:
            t1, t2 = 0.0, 0.0
            for k in range(nk):
                p = np.float64(u[a, k, 0]) if gate[a, k, 0] > low else 0.0
                t1 += p
                t2 += p * v[a, k, 0]
            s1[a, 0], s2[a, 0] = t1, t2
        else:
            for k in range(nk):
                for b in range(nb):
                    p = np.float64(u[a, k, b]) if gate[a, k, b] > low else 0.0
                    s1[a, b] += p
                    s2[a, b] += p * v[a, k, b]
    return s1, s2


@njit(parallel=True, fastmath=True, cache=True)
def _affine(x, scale, shift, floor, y):
    """y = max(x · scale[a, b] + shift[a, b], floor): floor 0 is a ReLU in the same pass, the
    lowest float none (a max, not a branch, which would cost the vectorisation)."""
    na, nk, nb = x.shape
    for a in prange(na):
        if nb == 1:
            s, t = scale[a, 0], shift[a, 0]
            for k in range(nk):
                y[a, k, 0] = max(x[a, k, 0] * s + t, floor)
        else:
            for k in range(nk):
                for b in range(nb):
                    y[a, k, b] = max(x[a, k, b] * scale[a, b] + shift[a, b], floor)


@njit(parallel=True, fastmath=True, cache=True)
def _affine2(p, q, gate, low, alpha, beta, gamma, out):
    """out = p · alpha[a, b] + q · beta[a, b] + gamma[a, b]; p gated."""
    na, nk, nb = p.shape
    zero = p.dtype.type(0)
    for a in prange(na):
        if nb == 1:
            s, t, u = alpha[a, 0], beta[a, 0], gamma[a, 0]
            for k in range(nk):
                g = p[a, k, 0] if gate[a, k, 0] > low else zero
                out[a, k, 0] = g * s + q[a, k, 0] * t + u
        else:
            for k in range(nk):
                for b in range(nb):
                    g = p[a, k, b] if gate[a, k, b] > low else zero
                    out[a, k, b] = g * alpha[a, b] + q[a, k, b] * beta[a, b] + gamma[a, b]


# ---------------------------------------------------------------- shared core: per-channel pools
def nc_view(x):
    """x (contiguous) as (A, K, B) whose per-(a, b) sums over k are per (sample, channel)."""
    n = len(x)
    if x.ndim == 4:
        return x.reshape(n, -1, x.shape[3])
    if x.ndim == 2:
        return x.reshape(n, 1, -1)
    return x.reshape(n * x.shape[1], -1, 1)


def channels(x) -> int:
    return x.shape[3] if x.ndim == 4 else x.shape[1]


def moments(u, v, relu_output=None):
    """Σu and Σu·v per (sample, channel): (N, C) float64 arrays; u through the derivative of the
    ReLU whose output is `relu_output`, when given."""
    gate, low = _gate(u, relu_output)
    s1, s2 = _moments(nc_view(u), nc_view(v), nc_view(gate), low)
    return s1.reshape(len(u), -1), s2.reshape(len(u), -1)


def _gate(u, relu_output):
    if relu_output is None:
        return u, u.dtype.type(LOWEST)
    return np.ascontiguousarray(relu_output), u.dtype.type(0)


class Pool:
    """How per-(sample, channel) sums become statistics: `total` sums each pool and broadcasts
    the sum back to (N, C); `count` is the number of values in a pool."""

    def __init__(self, kind: str, x, groups: int = 1):
        n, c = len(x), channels(x)
        self.kind, self.groups, self.shape = kind, groups, (n, c)
        per_channel = x.size // (n * c)
        self.count = {"batch": n * per_channel, "instance": per_channel,
                      "group": per_channel * (c // groups)}[kind]

    def total(self, s):
        if self.kind == "batch":
            return np.broadcast_to(s.sum(axis=0), self.shape)
        if self.kind == "group":
            n, c = self.shape
            return np.repeat(s.reshape(n, self.groups, -1).sum(axis=2), c // self.groups, axis=1)
        return s


def batch_statistics(x, pool: Pool):
    """mean and biased variance per (sample, channel) over each pool (float64)."""
    s1, s2 = moments(x, x)
    mean = pool.total(s1) / pool.count
    return mean, np.maximum(pool.total(s2) / pool.count - mean * mean, 0)


def ab(p, x3, shape, dtype):
    """A per-(sample, channel) value (anything broadcasting to (N, C)) as view x3's (A, B) array."""
    return np.ascontiguousarray(np.broadcast_to(p, shape), dtype=dtype).reshape(x3.shape[0], x3.shape[2])


def normalise(x, mean, inv_std, weight, bias, floor=LOWEST):
    """max(weight · (x − mean) · inv_std + bias, floor), per (sample, channel): one pass."""
    x = np.ascontiguousarray(x)
    scale = inv_std if weight is None else inv_std * weight
    shift = -mean * scale if bias is None else bias - mean * scale
    x3, y = nc_view(x), np.empty_like(x)
    shape = (len(x), channels(x))
    _affine(x3, ab(scale, x3, shape, x.dtype), ab(shift, x3, shape, x.dtype), x.dtype.type(floor), nc_view(y))
    return y


def normalise_bwd(saved, dy, relu_output=None):
    """[dx], [dweight, dbias] of `normalise`; `pool` None when mean and σ were constants. With
    `relu_output` (a ReLU after it, fused), dy is the ReLU's, masked where that output is 0."""
    x, mean, inv_std, weight, pool = saved
    dy = np.ascontiguousarray(dy)
    gate, low = _gate(dy, relu_output)
    t1, t2 = moments(dy, x, relu_output)                 # Σdy, Σdy·x per (sample, channel)
    dy_xhat = inv_std * (t2 - mean * t1)                 # Σdy·x̂
    w = 1.0 if weight is None else weight.astype(np.float64)
    alpha = inv_std * w
    dy3, x3, dx = nc_view(dy), nc_view(x), np.empty_like(dy)
    shape = (len(x), channels(x))
    if pool is None:
        zero = np.zeros((x3.shape[0], x3.shape[2]), dy.dtype)
        _affine2(dy3, x3, nc_view(gate), low, ab(alpha, x3, shape, dy.dtype), zero, zero, nc_view(dx))
    else:
        mean_dxhat = pool.total(w * t1) / pool.count
        mean_dxhat_xhat = pool.total(w * dy_xhat) / pool.count
        beta = -inv_std * inv_std * mean_dxhat_xhat
        gamma = -inv_std * mean_dxhat - beta * mean
        _affine2(dy3, x3, nc_view(gate), low, ab(alpha, x3, shape, dy.dtype), ab(beta, x3, shape, dy.dtype),
                 ab(gamma, x3, shape, dy.dtype), nc_view(dx))
    if weight is None:
        return [dx], [None, None]
    return [dx], [dy_xhat.sum(axis=0).astype(weight.dtype), t1.sum(axis=0).astype(weight.dtype)]


# ---------------------------------------------------------------- batchnorm
def batchnorm_fwd(xs, ps, attrs, ctx, activation="none"):
    """`activation` (a step that trains as one op, runtime/cpu/fusion.py): a ReLU in the
    normalising pass, anything else in one pass after it."""
    x, = xs
    weight, bias, running_mean, running_var = ps
    x = np.ascontiguousarray(x)
    if ctx.train:
        if x.size // channels(x) < 2:
            raise ValueError(f"batchnorm in training needs more than 1 value per channel, got input {x.shape}")
        pool = Pool("batch", x)
        mean, var = batch_statistics(x, pool)
        # PyTorch's update, in place, with the unbiased batch variance
        momentum, m = attrs["momentum"], pool.count
        running_mean[...] = (1 - momentum) * running_mean + momentum * mean[0]
        running_var[...] = (1 - momentum) * running_var + momentum * var[0] * m / (m - 1)
    else:
        pool = None                                      # running statistics are constants
        mean, var = running_mean.astype(np.float64), running_var.astype(np.float64)
    inv_std = 1 / np.sqrt(var + attrs["eps"])
    y = normalise(x, mean, inv_std, weight, bias, FLOORS.get(activation, LOWEST))
    if activation not in FLOORS:
        epilogue_in_place(y, None, activation)
    return y, (x, mean, inv_std, weight, pool)


def batchnorm_bwd(saved, dy, attrs, activation="none", output=None):
    """With `activation` and its `output` (a step that trains as one op), dy is the
    activation's: a ReLU's derivative is taken in this backward's own passes."""
    if activation not in ("none", "relu"):
        dy = elementwise_grad(activation, output, dy)
    dxs, (dweight, dbias) = normalise_bwd(saved, dy, output if activation == "relu" else None)
    return dxs, [dweight, dbias, None, None]


# ---------------------------------------------------------------- instancenorm, groupnorm
def _standardise_op(x, weight, bias, pool, eps):
    mean, var = batch_statistics(x, pool)
    inv_std = 1 / np.sqrt(var + eps)
    return normalise(x, mean, inv_std, weight, bias), (x, mean, inv_std, weight, pool)


def instancenorm_fwd(xs, ps, attrs, ctx):
    x, = xs
    if x.ndim < 3:
        raise ValueError(f"instancenorm needs spatial axes (N, C, …), got input {x.shape}")
    x = np.ascontiguousarray(x)
    return _standardise_op(x, *ps, Pool("instance", x), attrs["eps"])


def groupnorm_fwd(xs, ps, attrs, ctx):
    x, = xs
    groups = attrs["groups"]
    if channels(x) % groups:
        raise ValueError(f"groupnorm: groups={groups} must divide the {channels(x)} channels")
    x = np.ascontiguousarray(x)
    return _standardise_op(x, *ps, Pool("group", x, groups), attrs["eps"])


def instancenorm_bwd(saved, dy, attrs):
    return normalise_bwd(saved, dy)


groupnorm_bwd = instancenorm_bwd


# ---------------------------------------------------------------- layernorm
@njit(parallel=True, fastmath=True, cache=True)
def _layernorm_affine(x, mean, inv_std, weight, bias, y):
    """y = (x − mean[a, b]) · inv_std[a, b] · weight[k] + bias[k]."""
    na, nk, nb = x.shape
    for a in prange(na):
        if nb == 1:                                  # a loop over k, not 1-long loops over b
            m, r = mean[a, 0], inv_std[a, 0]
            for k in range(nk):
                y[a, k, 0] = (x[a, k, 0] - m) * r * weight[k] + bias[k]
        else:
            for k in range(nk):
                for b in range(nb):
                    y[a, k, b] = (x[a, k, b] - mean[a, b]) * inv_std[a, b] * weight[k] + bias[k]


@njit(parallel=True, fastmath=True, cache=True)
def _layernorm_bwd(dy, x, mean, inv_std, weight, parts, dx):
    """dx = r · (dx̂ − mean_k dx̂ − x̂ · mean_k(dx̂ · x̂)), dx̂ = dy · weight[k], per (a, b);
    `parts` slices of a share their scratch rows."""
    na, nk, nb = x.shape
    for p in prange(parts):
        s1, s2 = np.empty(nb, x.dtype), np.empty(nb, x.dtype)
        for a in range(p * na // parts, (p + 1) * na // parts):
            if nb == 1:
                m, r = mean[a, 0], inv_std[a, 0]
                t1, t2 = 0.0, 0.0
                for k in range(nk):
                    g = np.float64(dy[a, k, 0] * weight[k])
                    t1 += g
                    t2 += g * ((x[a, k, 0] - m) * r)
                m1, m2 = x.dtype.type(t1 / nk), x.dtype.type(t2 / nk)
                for k in range(nk):
                    dx[a, k, 0] = r * (dy[a, k, 0] * weight[k] - m1 - (x[a, k, 0] - m) * r * m2)
                continue
            s1[:] = 0
            s2[:] = 0
            for k in range(nk):
                for b in range(nb):
                    g = dy[a, k, b] * weight[k]
                    s1[b] += g
                    s2[b] += g * ((x[a, k, b] - mean[a, b]) * inv_std[a, b])
            for b in range(nb):
                s1[b] /= nk
                s2[b] /= nk
            for k in range(nk):
                for b in range(nb):
                    xhat = (x[a, k, b] - mean[a, b]) * inv_std[a, b]
                    dx[a, k, b] = inv_std[a, b] * (dy[a, k, b] * weight[k] - s1[b] - xhat * s2[b])


@njit(parallel=True, fastmath=True, cache=True)
def _layernorm_param_grads(dy, x, mean, inv_std, dweight, dbias):
    """Σ dy · x̂ and Σ dy over (a, b) for each k: partial sums over P slices of a (rows stay
    contiguous), then their total. dweight, dbias: (P, K) float64, zeroed."""
    na, nk, nb = x.shape
    parts = dweight.shape[0]
    for p in prange(parts):
        for a in range(p * na // parts, (p + 1) * na // parts):
            if nb == 1:
                m, r = mean[a, 0], inv_std[a, 0]
                for k in range(nk):
                    g = np.float64(dy[a, k, 0])
                    dbias[p, k] += g
                    dweight[p, k] += g * ((x[a, k, 0] - m) * r)
                continue
            for k in range(nk):
                for b in range(nb):
                    g = np.float64(dy[a, k, b])
                    dbias[p, k] += g
                    dweight[p, k] += g * ((x[a, k, b] - mean[a, b]) * inv_std[a, b])


def layernorm_view(x, axes: str):
    """(A, K, B): statistics per (a, b) over k, the weight indexed by k."""
    if axes == "all":
        return x.reshape(len(x), -1, 1)
    if x.ndim == 4:                                      # the boundary's last axis: W of NHWC
        n, h, w, c = x.shape
        return x.reshape(n * h, w, c)
    return x.reshape(-1, x.shape[-1], 1)


def layernorm_weight(p, x, axes: str):
    """A layernorm parameter (boundary shape) flat in the order k runs inside."""
    if axes == "all" and x.ndim == 4:
        p = p.transpose(1, 2, 0)                         # (C, H, W) → (H, W, C)
    return np.ascontiguousarray(p).reshape(-1)


def layernorm_param_grad(g, shape, x, axes: str):
    """The flat gradient of a layernorm parameter back in its boundary `shape`."""
    if axes == "all" and x.ndim == 4:
        c, h, w = shape
        return np.ascontiguousarray(g.reshape(h, w, c).transpose(2, 0, 1))
    return g.reshape(shape)


def layernorm_fwd(xs, ps, attrs, ctx):
    x, = xs
    weight, bias = ps
    axes = attrs["axes"]
    x = np.ascontiguousarray(x)
    x3, y = layernorm_view(x, axes), np.empty_like(x)
    s1, s2 = _moments(x3, x3, x3, x.dtype.type(LOWEST))
    k = x3.shape[1]
    mean = s1 / k
    inv_std = 1 / np.sqrt(np.maximum(s2 / k - mean * mean, 0) + attrs["eps"])
    mean, inv_std = mean.astype(x.dtype), inv_std.astype(x.dtype)
    if weight is None:
        _affine(x3, inv_std, -mean * inv_std, x.dtype.type(LOWEST), layernorm_view(y, axes))
    else:
        _layernorm_affine(x3, mean, inv_std, layernorm_weight(weight, x, axes),
                          layernorm_weight(bias, x, axes), layernorm_view(y, axes))
    return y, (x, mean, inv_std, weight)


def layernorm_bwd(saved, dy, attrs):
    x, mean, inv_std, weight = saved
    axes = attrs["axes"]
    x3, dy3 = layernorm_view(x, axes), layernorm_view(np.ascontiguousarray(dy), axes)
    k = x3.shape[1]
    w = np.ones(k, x.dtype) if weight is None else layernorm_weight(weight, x, axes)
    dx = np.empty(x.shape, dy.dtype)
    parts = slices(len(x3))
    _layernorm_bwd(dy3, x3, mean, inv_std, w, parts, layernorm_view(dx, axes))
    if weight is None:
        return [dx], [None, None]
    dweight, dbias = np.zeros((parts, k)), np.zeros((parts, k))
    _layernorm_param_grads(dy3, x3, mean, inv_std, dweight, dbias)
    return [dx], [layernorm_param_grad(g.sum(axis=0).astype(weight.dtype), weight.shape, x, axes)
                  for g in (dweight, dbias)]


# ---------------------------------------------------------------- local response norm
_THREE_QUARTERS = np.float32(0.75)


@njit(inline="always", fastmath=True, cache=True)
def _pow_neg(s, a, beta, out):
    """out = s[a]^−β; AlexNet's β = 3/4 by square roots (vectorised), others by libm's pow.
    (The test stays outside the loops: inside, the compiler would evaluate both sides.)
    Rows are passed as (array, index), not as views: a view costs two atomic reference counts."""
    if beta == _THREE_QUARTERS:
        for i in range(s.shape[1]):
            r = np.sqrt(s[a, i])
            out[i] = _1 / (r * np.sqrt(r))
    else:
        for i in range(s.shape[1]):
            out[i] = s[a, i] ** -beta


@njit(inline="always", fastmath=True, cache=True)
def _window_sums(v, a, nc, nb, before, after, square, cum, out):
    """out[c·nb + b] = Σ v[a, j·nb + b] (squared if `square`) over channels j = c − before … c + after
    within 0 … nc − 1: rows of flat (C, B) values. By a float64 running sum over channels,
    cum[(c + 1)·nb + b] = Σ_{j ≤ c}: two passes whatever the window (short rows stay cheap)."""
    for b in range(nb):
        cum[b] = 0
    for c in range(nc):
        for b in range(nb):
            t = v[a, c * nb + b]
            cum[(c + 1) * nb + b] = cum[c * nb + b] + (t * t if square else t)
    for c in range(nc):
        lo, hi = max(c - before, 0) * nb, (min(c + after, nc - 1) + 1) * nb
        for b in range(nb):
            out[c * nb + b] = cum[hi + b] - cum[lo + b]


@njit(parallel=True, fastmath=True, cache=True)
def _lrn_fwd(x, nc, size, coef, beta, k, parts, y, scale):
    """scale = k + coef · Σ x² over channels c − size//2 … c + (size−1)//2; y = x · scale^−β.
    x: (A, C·B) rows; `parts` slices of a share their scratch rows."""
    na, n = x.shape
    nb = n // nc
    for p in prange(parts):
        cum, acc, power = np.empty(n + nb), np.empty(n, x.dtype), np.empty(n, x.dtype)
        for a in range(p * na // parts, (p + 1) * na // parts):
            if nb == 1:                # NHWC: a literal 1 lets the compiler drop the loops over b
                _window_sums(x, a, nc, 1, size // 2, (size - 1) // 2, True, cum, acc)
            else:
                _window_sums(x, a, nc, nb, size // 2, (size - 1) // 2, True, cum, acc)
            for i in range(n):
                scale[a, i] = k + coef * acc[i]
            _pow_neg(scale, a, beta, power)
            for i in range(n):
                y[a, i] = x[a, i] * power[i]


@njit(parallel=True, fastmath=True, cache=True)
def _lrn_bwd(x, scale, dy, nc, size, coef, beta, parts, dx):
    """x[i]² enters the scales of channels i − (size−1)//2 … i + size//2: the mirrored window.
    coef = 2α/size."""
    na, n = x.shape
    nb = n // nc
    for p in prange(parts):
        cum, acc = np.empty(n + nb), np.empty(n, x.dtype)
        power, dscale = np.empty(n, x.dtype), np.empty((1, n), x.dtype)
        for a in range(p * na // parts, (p + 1) * na // parts):
            _pow_neg(scale, a, beta, power)                                # scale^−β
            for i in range(n):
                dscale[0, i] = -beta * dy[a, i] * x[a, i] * power[i] / scale[a, i]
            if nb == 1:
                _window_sums(dscale, 0, nc, 1, (size - 1) // 2, size // 2, False, cum, acc)
            else:
                _window_sums(dscale, 0, nc, nb, (size - 1) // 2, size // 2, False, cum, acc)
            for i in range(n):
                dx[a, i] = dy[a, i] * power[i] + coef * x[a, i] * acc[i]


def lrn_rows(x):
    """x as (A, C·B) rows of `channel_view`."""
    a, c, b = channel_view(x).shape
    return x.reshape(a, c * b)


def lrn_fwd(xs, ps, attrs, ctx):
    """y = x / (k + α/size · Σ x² over `size` channels around c)^β, as PyTorch's LocalResponseNorm."""
    x = np.ascontiguousarray(xs[0])
    y, scale = np.empty_like(x), np.empty_like(x)
    f, rows = x.dtype.type, lrn_rows(x)
    size = attrs["size"]
    _lrn_fwd(rows, channel_view(x).shape[1], size, f(attrs["alpha"] / size), f(attrs["beta"]), f(attrs["k"]),
             slices(len(rows)), lrn_rows(y), lrn_rows(scale))
    return y, (x, scale)


def lrn_bwd(saved, dy, attrs):
    x, scale = saved
    dx = np.empty(x.shape, dy.dtype)
    f, rows = x.dtype.type, lrn_rows(x)
    size = attrs["size"]
    _lrn_bwd(rows, lrn_rows(scale), lrn_rows(np.ascontiguousarray(dy)), channel_view(x).shape[1], size,
             f(2 * attrs["alpha"] / size), f(attrs["beta"]), slices(len(rows)), lrn_rows(dx))
    return [dx], []
