"""Normalisation: batch, layer, instance and group norm, local response normalisation.

The first four share one core, `standardise`: x̂ = (x − mean) / sqrt(var + eps) over some
axes, with the biased variance, as PyTorch; they differ in the axes and in the shape of the
learned scale (weight) and shift (bias). Per-channel parameters are (C,) arrays.
"""
from __future__ import annotations

import numpy as np


# ---------------------------------------------------------------- shared core
def standardise(x, axes, eps):
    """x̂ and 1/σ, with mean and (biased) variance over `axes`."""
    mean = x.mean(axis=axes, keepdims=True)
    inv_std = 1 / np.sqrt(x.var(axis=axes, keepdims=True) + eps)
    return (x - mean) * inv_std, inv_std


def standardise_bwd(dxhat, xhat, inv_std, axes):
    """dx from dx̂, when the mean and variance were x's own over `axes` (so they carry gradient)."""
    mean_dxhat = dxhat.mean(axis=axes, keepdims=True)
    mean_dxhat_xhat = (dxhat * xhat).mean(axis=axes, keepdims=True)
    return inv_std * (dxhat - mean_dxhat - xhat * mean_dxhat_xhat)


def per_channel(p, ndim):
    """A (C,) parameter shaped (1, C, 1, …) to broadcast against an (N, C, …) array."""
    return p.reshape((1, -1) + (1,) * (ndim - 2))


def all_but_channels(ndim):
    """The axes a per-channel gradient sums over: batch and spatial."""
    return (0, *range(2, ndim))


def channel_affine(xhat, weight, bias):
    """weight · x̂ + bias per channel; x̂ itself when there are no parameters (affine=False)."""
    if weight is None:
        return xhat
    return xhat * per_channel(weight, xhat.ndim) + per_channel(bias, xhat.ndim)


def channel_affine_bwd(dy, xhat, weight):
    """(dx̂, [dweight, dbias]) of `channel_affine`."""
    if weight is None:
        return dy, [None, None]
    axes = all_but_channels(dy.ndim)
    return dy * per_channel(weight, dy.ndim), [(dy * xhat).sum(axis=axes), dy.sum(axis=axes)]


# ---------------------------------------------------------------- batchnorm
def update_running_stats(x, axes, running_mean, running_var, momentum):
    """PyTorch's update, in place: running = (1 − momentum)·running + momentum·batch,
    with the unbiased batch variance."""
    running_mean[...] = (1 - momentum) * running_mean + momentum * x.mean(axis=axes)
    running_var[...] = (1 - momentum) * running_var + momentum * x.var(axis=axes, ddof=1)


def batchnorm_fwd(xs, ps, attrs, ctx):
    x, = xs
    weight, bias, running_mean, running_var = ps
    axes = all_but_channels(x.ndim)
    if ctx.train:
        if x.size // x.shape[1] < 2:
            raise ValueError(f"batchnorm in training needs more than 1 value per channel, got input {x.shape}")
        xhat, inv_std = standardise(x, axes, attrs["eps"])
        update_running_stats(x, axes, running_mean, running_var, attrs["momentum"])
    else:
        inv_std = 1 / np.sqrt(per_channel(running_var, x.ndim) + attrs["eps"])
        xhat = (x - per_channel(running_mean, x.ndim)) * inv_std
    return channel_affine(xhat, weight, bias), (xhat, inv_std, weight, ctx.train)


def batchnorm_bwd(saved, dy, attrs):
    xhat, inv_std, weight, batch_stats = saved
    dxhat, (dweight, dbias) = channel_affine_bwd(dy, xhat, weight)
    if batch_stats:
        dx = standardise_bwd(dxhat, xhat, inv_std, all_but_channels(dy.ndim))
    else:
        dx = dxhat * inv_std                     # running statistics are constants
    return [dx], [dweight, dbias, None, None]


# ---------------------------------------------------------------- layernorm
def layernorm_axes(attrs, ndim):
    return tuple(range(1, ndim)) if attrs["axes"] == "all" else (ndim - 1,)


def layernorm_fwd(xs, ps, attrs, ctx):
    x, = xs
    weight, bias = ps
    xhat, inv_std = standardise(x, layernorm_axes(attrs, x.ndim), attrs["eps"])
    # weight and bias are shaped like the trailing, normalised axes: they broadcast as they are
    y = xhat if weight is None else xhat * weight + bias
    return y, (xhat, inv_std, weight)


def layernorm_bwd(saved, dy, attrs):
    xhat, inv_std, weight = saved
    dx = standardise_bwd(dy if weight is None else dy * weight, xhat, inv_std,
                         layernorm_axes(attrs, dy.ndim))
    if weight is None:
        return [dx], [None, None]
    leading = tuple(range(dy.ndim - weight.ndim))
    return [dx], [(dy * xhat).sum(axis=leading), dy.sum(axis=leading)]


# ---------------------------------------------------------------- instancenorm
def instancenorm_fwd(xs, ps, attrs, ctx):
    x, = xs
    weight, bias = ps
    if x.ndim < 3:
        raise ValueError(f"instancenorm needs spatial axes (N, C, …), got input {x.shape}")
    xhat, inv_std = standardise(x, tuple(range(2, x.ndim)), attrs["eps"])
    return channel_affine(xhat, weight, bias), (xhat, inv_std, weight)


def instancenorm_bwd(saved, dy, attrs):
    xhat, inv_std, weight = saved
    dxhat, dps = channel_affine_bwd(dy, xhat, weight)
    return [standardise_bwd(dxhat, xhat, inv_std, tuple(range(2, dy.ndim)))], dps


# ---------------------------------------------------------------- groupnorm
def by_group(x, groups):
    """(N, C, …) viewed as (N, groups, C/groups · …): one row of values per group."""
    n, c = x.shape[:2]
    if c % groups:
        raise ValueError(f"groupnorm: groups={groups} must divide the {c} channels")
    return x.reshape(n, groups, -1)


def groupnorm_fwd(xs, ps, attrs, ctx):
    x, = xs
    weight, bias = ps
    xhat_grouped, inv_std = standardise(by_group(x, attrs["groups"]), (2,), attrs["eps"])
    xhat = xhat_grouped.reshape(x.shape)
    return channel_affine(xhat, weight, bias), (xhat, inv_std, weight)


def groupnorm_bwd(saved, dy, attrs):
    xhat, inv_std, weight = saved
    groups = attrs["groups"]
    dxhat, dps = channel_affine_bwd(dy, xhat, weight)
    dx = standardise_bwd(by_group(dxhat, groups), by_group(xhat, groups), inv_std, (2,))
    return [dx.reshape(dy.shape)], dps


# ---------------------------------------------------------------- local response norm
def channel_window_sum(a, before: int, after: int):
    """Σ a[:, c − before … c + after] for each channel c, zero beyond the edges."""
    c = a.shape[1]
    padded = np.pad(a, [(0, 0), (before, after)] + [(0, 0)] * (a.ndim - 2))
    return sum(padded[:, i:i + c] for i in range(before + after + 1))


def lrn_fwd(xs, ps, attrs, ctx):
    """y = x / (k + α/size · Σ x² over `size` channels around c)^β, as PyTorch's LocalResponseNorm."""
    x, = xs
    size = attrs["size"]
    scale = attrs["k"] + attrs["alpha"] / size * channel_window_sum(x * x, size // 2, (size - 1) // 2)
    return x * scale ** -attrs["beta"], (x, scale)


def lrn_bwd(saved, dy, attrs):
    x, scale = saved
    size, alpha, beta = attrs["size"], attrs["alpha"], attrs["beta"]
    dscale = -beta * dy * x * scale ** (-beta - 1)
    # x[i]² enters the scales of channels i − (size−1)//2 … i + size//2: the mirrored window
    dscale_seen = channel_window_sum(dscale, (size - 1) // 2, size // 2)
    return [dy * scale ** -beta + 2 * alpha / size * x * dscale_seen], []
