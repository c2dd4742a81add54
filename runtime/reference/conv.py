"""Convolutions as a sum over kernel taps.

Tap (i, j) of the kernel sees one strided slice of the padded input, so gathering the kh·kw
slices turns the convolution into a single contraction, and its backward into the transposed
contraction plus a scatter-add of the slices. pool.py slides its windows with the same two
helpers.
"""
from __future__ import annotations

import numpy as np

from cnnc.layers.base import window_out


# ---------------------------------------------------------------- sliding windows
def tap_slice(offset: int, stride: int, dilation: int, out: int) -> slice:
    """The input positions that kernel offset `offset` sees, one per output position."""
    start = offset * dilation
    return slice(start, start + stride * (out - 1) + 1, stride)


def gather_taps(xp, kernel, stride, dilation, out):
    """(N, C, H, W) padded input → (N, C, kh, kw, OH, OW): what each tap sees at each output."""
    taps = np.empty((*xp.shape[:2], *kernel, *out), xp.dtype)
    for i, j in np.ndindex(*kernel):
        taps[:, :, i, j] = xp[:, :, tap_slice(i, stride[0], dilation[0], out[0]),
                              tap_slice(j, stride[1], dilation[1], out[1])]
    return taps


def scatter_taps(dtaps, padded_shape, stride, dilation):
    """The adjoint of gather_taps: add each tap's gradient back where the tap read."""
    kernel, out = dtaps.shape[2:4], dtaps.shape[4:]
    dxp = np.zeros(padded_shape, dtaps.dtype)
    for i, j in np.ndindex(*kernel):
        dxp[:, :, tap_slice(i, stride[0], dilation[0], out[0]),
            tap_slice(j, stride[1], dilation[1], out[1])] += dtaps[:, :, i, j]
    return dxp


def pad(x, pads, value=0.0):
    """Pad the spatial axes of (N, C, H, W) by ((top, bottom), (left, right))."""
    return np.pad(x, ((0, 0), (0, 0), *pads), constant_values=value)


def crop(dxp, pads, shape):
    """The inverse of `pad` for gradients: the part of a padded array over the input."""
    (top, _), (left, _) = pads
    return dxp[:, :, top:top + shape[2], left:left + shape[3]]


# ---------------------------------------------------------------- conv2d
def conv_out(x_shape, kernel, attrs) -> tuple[int, int]:
    return tuple(window_out(n, k, s, p, d) for n, k, s, p, d in
                 zip(x_shape[2:], kernel, attrs["stride"], attrs["padding"], attrs["dilation"]))


def by_group(a, groups: int):
    """Split axis 1 into (groups, per group): (N, C, …) → (N, G, C/G, …)."""
    return a.reshape(a.shape[0], groups, a.shape[1] // groups, *a.shape[2:])


def weight_by_group(weight, groups: int):
    """(O, C/G, kh, kw) → (G, O/G, C/G, kh, kw): group g's filters see group g's channels."""
    return weight.reshape(groups, weight.shape[0] // groups, *weight.shape[1:])


def conv2d_fwd(xs, ps, attrs, ctx):
    x, = xs
    weight, bias = ps
    groups, kernel = attrs["groups"], weight.shape[2:]
    taps = gather_taps(pad(x, attrs["padding"]), kernel, attrs["stride"], attrs["dilation"],
                       conv_out(x.shape, kernel, attrs))
    y = np.einsum("ngcijhw,gocij->ngohw", by_group(taps, groups), weight_by_group(weight, groups),
                  optimize=True)
    y = y.reshape(y.shape[0], -1, *y.shape[3:])
    if bias is not None:
        y = y + bias[:, None, None]
    return y, (x, weight, bias is not None)


def conv2d_bwd(saved, dy, attrs):
    x, weight, has_bias = saved
    groups, kernel, pads = attrs["groups"], weight.shape[2:], attrs["padding"]
    xp = pad(x, pads)
    taps = by_group(gather_taps(xp, kernel, attrs["stride"], attrs["dilation"], dy.shape[2:]), groups)
    dy_g = by_group(dy, groups)
    dweight = np.einsum("ngohw,ngcijhw->gocij", dy_g, taps, optimize=True).reshape(weight.shape)
    dtaps = np.einsum("ngohw,gocij->ngcijhw", dy_g, weight_by_group(weight, groups), optimize=True)
    dtaps = dtaps.reshape(x.shape[0], x.shape[1], *dtaps.shape[3:])
    dx = crop(scatter_taps(dtaps, xp.shape, attrs["stride"], attrs["dilation"]), pads, x.shape)
    dbias = dy.sum(axis=(0, 2, 3)) if has_bias else None
    return [dx], [dweight, dbias]


# ---------------------------------------------------------------- conv1d
def as_2d(attrs):
    """conv1d's attrs for the same convolution over a height-1 image."""
    return {"stride": (1, attrs["stride"]), "padding": ((0, 0), tuple(attrs["padding"])),
            "dilation": (1, attrs["dilation"]), "groups": attrs["groups"]}


def conv1d_fwd(xs, ps, attrs, ctx):
    x, = xs
    weight, bias = ps
    y, saved = conv2d_fwd([x[:, :, None]], [weight[:, :, None], bias], as_2d(attrs), ctx)
    return y[:, :, 0], saved


def conv1d_bwd(saved, dy, attrs):
    (dx,), (dweight, dbias) = conv2d_bwd(saved, dy[:, :, None], as_2d(attrs))
    return [dx[:, :, 0]], [dweight[:, :, 0], dbias]
