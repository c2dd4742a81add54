"""Convolutions on NHWC images with HWIO weights ((kh, kw, C/groups, O)), as Numba kernels.

One forward kernel does the work of every convolution. For each output row it stages the
receptive field of each pixel as a row of a (Wo, kh·kw·C/G) matrix, zero where the window runs
into the padding, and multiplies it by the weights laid out (G, O/G, kh·kw·C/G): tiles of
4 pixels × 4 output channels, sixteen accumulators in registers over one long contiguous dot.

- grad input is the transposed convolution, run through the same kernel: for stride s the input
  splits into s·s phases (positions ≡ r mod s); each phase is a stride-1 correlation of the
  output gradient with the flipped taps that reach it, so no work is spent on zero-stuffing;
- grad weight stages blocks of output pixels transposed, (kh·kw·C/G, pixels), and takes the
  same 4 × 4-tiled dots against the transposed output gradient, each thread into its own
  partial sum (added up after: no races);
- depthwise convolutions (one input channel per group, any multiplier) have their own kernels,
  vectorised over channels; a multiplier m > 1 repeats each input channel m times first;
- conv1d is conv2d over a height-1 image.

Kernels take runtime shapes, so one compiled kernel serves every layer (per dtype).
"""
from __future__ import annotations

import numpy as np
from numba import get_num_threads, njit, prange

from cnnc.layers.base import window_out

kernel = njit(parallel=True, fastmath=True, cache=True)
helper = njit(fastmath=True, cache=True, inline="always")   # inlined by Numba: 15% faster here

BLOCK_PIXELS = 512            # output pixels per grad-weight block: long dots, staging fits L2


# ---------------------------------------------------------------- kernels
@helper
def _stage(xf, h, w, c_in, n, ih0, iw0, c0, cg, kh, kw, dh, dw, dst):
    """dst[(i, j, c)] = x[n, ih0 + i·dh, iw0 + j·dw, c0 + c] (xf: x (N, H, W, C) flat), zero outside
    the image. Without dilation or groups a kernel row's taps are one contiguous run of x."""
    zero = xf.dtype.type(0)
    run = kw * cg
    for i in range(kh):
        ih = ih0 + i * dh
        t = i * run
        if ih < 0 or ih >= h:
            for u in range(run):
                dst[t + u] = zero
        elif dw == 1 and cg == c_in:
            j_lo = min(kw, max(0, -iw0))                 # the taps inside the image: [j_lo, j_hi)
            j_hi = max(j_lo, min(kw, w - iw0))
            src = ((n * h + ih) * w + iw0) * c_in
            for u in range(j_lo * cg):
                dst[t + u] = zero
            for u in range(j_lo * cg, j_hi * cg):
                dst[t + u] = xf[src + u]
            for u in range(j_hi * cg, run):
                dst[t + u] = zero
        else:
            for j in range(kw):
                iw = iw0 + j * dw
                if 0 <= iw < w:
                    src = ((n * h + ih) * w + iw) * c_in + c0
                    for c in range(cg):
                        dst[t + c] = xf[src + c]
                else:
                    for c in range(cg):
                        dst[t + c] = zero
                t += cg


@helper
def _dot4x4(a0, a1, a2, a3, b0, b1, b2, b3, length):
    """The 16 dot products a_p · b_q over [0, length), p-major."""
    s00 = s01 = s02 = s03 = s10 = s11 = s12 = s13 = a0.dtype.type(0)
    s20 = s21 = s22 = s23 = s30 = s31 = s32 = s33 = a0.dtype.type(0)
    for t in range(length):
        x0, x1, x2, x3 = a0[t], a1[t], a2[t], a3[t]
        v0, v1, v2, v3 = b0[t], b1[t], b2[t], b3[t]
        s00 += x0 * v0
        s01 += x0 * v1
        s02 += x0 * v2
        s03 += x0 * v3
        s10 += x1 * v0
        s11 += x1 * v1
        s12 += x1 * v2
        s13 += x1 * v3
        s20 += x2 * v0
        s21 += x2 * v1
        s22 += x2 * v2
        s23 += x2 * v3
        s30 += x3 * v0
        s31 += x3 * v1
        s32 += x3 * v2
        s33 += x3 * v3
    return (s00, s01, s02, s03, s10, s11, s12, s13, s20, s21, s22, s23, s30, s31, s32, s33)


@kernel
def conv_rows(x, wmat, bias, y, kh, kw, sh, sw, dh, dw, pt, pl, threads):
    """y[n, oh, ow, g·Og + o] = bias + Σ_(i, j, c) x[n, oh·sh + i·dh − pt, ow·sw + j·dw − pl, g·Cg + c]
    · wmat[g, o, (i, j, c)]; x (N, H, W, C), wmat (G, Og, kh·kw·Cg), y (N, Ho, Wo, G·Og); each of
    `threads` workers takes a contiguous run of output rows."""
    n_img, h, w, c_in = x.shape
    _, ho, wo, _ = y.shape
    groups, og, taps = wmat.shape
    cg = c_in // groups
    xf = x.reshape(-1)
    rows = n_img * ho
    for k in prange(threads):                            # one staging buffer per thread
        buf = np.empty((wo, taps), x.dtype)
        for r in range(k * rows // threads, (k + 1) * rows // threads):
            n = r // ho
            oh = r - n * ho
            yr = y[n, oh]
            for g in range(groups):
                for ow in range(wo):
                    _stage(xf, h, w, c_in, n, oh * sh - pt, ow * sw - pl, g * cg, cg, kh, kw, dh, dw, buf[ow])
                for p in range(0, wo, 4):
                    a0, a1 = buf[p], buf[min(p + 1, wo - 1)]
                    a2, a3 = buf[min(p + 2, wo - 1)], buf[min(p + 3, wo - 1)]
                    for o in range(0, og, 4):
                        wg = wmat[g]
                        s = _dot4x4(a0, a1, a2, a3, wg[o], wg[min(o + 1, og - 1)],
                                    wg[min(o + 2, og - 1)], wg[min(o + 3, og - 1)], taps)
                        oc = g * og + o
                        for q in range(4):                   # constant bounds: unrolled
                            for u in range(4):
                                if p + q < wo and o + u < og:
                                    yr[p + q, oc + u] = s[4 * q + u] + bias[oc + u]


@helper
def _stage_columns(xf, h, w, c_in, n, oh0, wo, pixels, c0, cg, kh, kw, sh, sw, dh, dw, pt, pl, where, staged):
    """staged[(i, j, c), p] = x[n, oh·sh + i·dh − pt, ow·sw + j·dw − pl, c0 + c] (xf: x flat) for the
    pixels p = (oh − oh0)·Wo + ow of a block, zero outside the image. A transpose: for each tap,
    `where` gets each pixel's flat offset, then rows are written in chunks of pixels whose
    sources stay in cache."""
    zero = xf.dtype.type(0)
    for i in range(kh):
        for j in range(kw):
            for p in range(pixels):
                oh = oh0 + p // wo
                ow = p - (p // wo) * wo
                ih = oh * sh + i * dh - pt
                iw = ow * sw + j * dw - pl
                where[p] = ((n * h + ih) * w + iw) * c_in + c0 if 0 <= ih < h and 0 <= iw < w else -1
            t = (i * kw + j) * cg
            for p0 in range(0, pixels, 64):
                p1 = min(p0 + 64, pixels)
                for c in range(cg):
                    row = staged[t + c]
                    for p in range(p0, p1):
                        at = where[p]
                        row[p] = xf[at + c] if at >= 0 else zero


@kernel
def conv_weight_grad(x, dy, partial, kh, kw, sh, sw, dh, dw, pt, pl, block_rows):
    """partial[thread, g, o, (i, j, c)] = that thread's share of Σ_(n, oh, ow)
    dy[n, oh, ow, g·Og + o] · x[n, oh·sh + i·dh − pt, ow·sw + j·dw − pl, g·Cg + c], by blocks of
    `block_rows` output rows."""
    n_img, h, w, c_in = x.shape
    _, ho, wo, c_out = dy.shape
    threads, groups, og, taps = partial.shape
    cg = c_in // groups
    xf, dyf = x.reshape(-1), dy.reshape(-1)
    per_image = (ho + block_rows - 1) // block_rows
    blocks = n_img * per_image
    width = (block_rows * wo + 15) // 16 * 16
    for k in prange(threads):
        staged = np.zeros((taps, width), x.dtype)        # receptive fields, one column per pixel
        grads = np.zeros((og, width), x.dtype)           # dy, one column per pixel
        where = np.empty(width, np.int64)
        acc = partial[k]
        for b in range(k * blocks // threads, (k + 1) * blocks // threads):
            n = b // per_image
            oh0 = (b - n * per_image) * block_rows
            pixels = min(block_rows, ho - oh0) * wo
            length = (pixels + 15) // 16 * 16
            staged[:, pixels:length] = 0                 # padding columns (stale after a full block)
            grads[:, pixels:length] = 0
            first = (n * ho + oh0) * wo * c_out          # the block's dy is (pixels, O), contiguous
            for g in range(groups):
                _stage_columns(xf, h, w, c_in, n, oh0, wo, pixels, g * cg, cg, kh, kw, sh, sw, dh, dw, pt, pl,
                               where, staged)
                for p0 in range(0, pixels, 64):
                    p1 = min(p0 + 64, pixels)
                    for o in range(og):
                        row = grads[o]
                        for p in range(p0, p1):
                            row[p] = dyf[first + p * c_out + g * og + o]
                for t in range(0, taps, 4):
                    b0, b1 = staged[t], staged[min(t + 1, taps - 1)]
                    b2, b3 = staged[min(t + 2, taps - 1)], staged[min(t + 3, taps - 1)]
                    for o in range(0, og, 4):
                        s = _dot4x4(grads[o], grads[min(o + 1, og - 1)], grads[min(o + 2, og - 1)],
                                    grads[min(o + 3, og - 1)], b0, b1, b2, b3, length)
                        for q in range(4):
                            for u in range(4):
                                if o + q < og and t + u < taps:
                                    acc[g, o + q, t + u] += s[4 * q + u]


@kernel
def depthwise_rows(x, w, bias, y, sh, sw, dh, dw, pt, pl):
    """y[n, oh, ow, c] = bias[c] + Σ_(i, j) x[n, oh·sh + i·dh − pt, ow·sw + j·dw − pl, c] · w[i, j, c]."""
    n_img, h, wd, c_in = x.shape
    _, ho, wo, _ = y.shape
    kh, kw, _ = w.shape
    for r in prange(n_img * ho):
        n = r // ho
        oh = r - n * ho
        for ow in range(wo):
            out = y[n, oh, ow]
            for c in range(c_in):
                out[c] = bias[c]
            for i in range(kh):
                ih = oh * sh + i * dh - pt
                if 0 <= ih < h:
                    for j in range(kw):
                        iw = ow * sw + j * dw - pl
                        if 0 <= iw < wd:
                            src, tap = x[n, ih, iw], w[i, j]
                            for c in range(c_in):
                                out[c] += src[c] * tap[c]


@kernel
def depthwise_weight_grad(x, dy, partial, sh, sw, dh, dw, pt, pl):
    """partial[thread, i, j, c] = that thread's share of Σ x[n, oh·sh + i·dh − pt, ow·sw + j·dw − pl, c]
    · dy[n, oh, ow, c]."""
    n_img, h, wd, c_in = x.shape
    _, ho, wo, _ = dy.shape
    threads, kh, kw, _ = partial.shape
    rows = n_img * ho
    for k in prange(threads):
        acc = partial[k]
        for r in range(k * rows // threads, (k + 1) * rows // threads):
            n = r // ho
            oh = r - n * ho
            for ow in range(wo):
                d = dy[n, oh, ow]
                for i in range(kh):
                    ih = oh * sh + i * dh - pt
                    if 0 <= ih < h:
                        for j in range(kw):
                            iw = ow * sw + j * dw - pl
                            if 0 <= iw < wd:
                                src, a = x[n, ih, iw], acc[i, j]
                                for c in range(c_in):
                                    a[c] += src[c] * d[c]


# ---------------------------------------------------------------- layouts and geometry
def weight_rows(w, groups):
    """HWIO (kh, kw, Cg, O) → (G, O/G, kh·kw·Cg): each output channel's taps in one row."""
    kh, kw, cg, o = w.shape
    return np.ascontiguousarray(w.reshape(kh, kw, cg, groups, o // groups).transpose(3, 4, 0, 1, 2)
                                .reshape(groups, o // groups, kh * kw * cg))


def weight_from_rows(rows, kh, kw):
    """The inverse of weight_rows: (G, Og, kh·kw·Cg) → HWIO."""
    groups, og, taps = rows.shape
    cg = taps // (kh * kw)
    return np.ascontiguousarray(rows.reshape(groups, og, kh, kw, cg).transpose(2, 3, 4, 0, 1)
                                .reshape(kh, kw, cg, groups * og))


def transposed_rows(w, groups):
    """HWIO → the weights of the transposed convolution: (G, Cg, kh·kw·Og), taps as given."""
    kh, kw, cg, o = w.shape
    return np.ascontiguousarray(w.reshape(kh, kw, cg, groups, o // groups).transpose(3, 2, 0, 1, 4)
                                .reshape(groups, cg, kh * kw * (o // groups)))


def threads_for(items: int) -> int:
    return max(1, min(get_num_threads(), items))


def phase_taps(k: int, s: int, d: int, pad: int, r: int):
    """Along one axis, the taps that reach input positions ≡ r (mod s) in the transposed
    convolution: (taps in correlation order, their dilation, the padding before), or None.
    Input position i·s + r gets dy[i + q_j] · w[taps[j]] with q_j = -padding + j·dilation."""
    taps = [t for t in range(k) if (r + pad - t * d) % s == 0][::-1]
    if not taps:
        return None
    dilation = (taps[0] - taps[1]) * d // s if len(taps) > 1 else 1
    return taps, dilation, -((r + pad - taps[0] * d) // s)


def input_grad(dy, x_shape, stride, pads, dilation, kernel_hw, correlate):
    """The transposed convolution, phase by phase: `correlate(dy, rows, cols, out_hw)` runs the
    stride-1 correlation for one phase, given its phase_taps along each axis."""
    (sh, sw), (dh, dw) = stride, dilation
    (pt, _), (pl, _) = pads
    n, h, w, c = x_shape
    if sh == sw == 1:
        return correlate(dy, phase_taps(kernel_hw[0], 1, dh, pt, 0), phase_taps(kernel_hw[1], 1, dw, pl, 0),
                         (h, w))
    dx = np.zeros(x_shape, dy.dtype)
    for rh in range(min(sh, h)):
        for rw in range(min(sw, w)):
            rows, cols = phase_taps(kernel_hw[0], sh, dh, pt, rh), phase_taps(kernel_hw[1], sw, dw, pl, rw)
            if rows is not None and cols is not None:
                out_hw = (len(range(rh, h, sh)), len(range(rw, w, sw)))
                dx[:, rh::sh, rw::sw] = correlate(dy, rows, cols, out_hw)
    return dx


def out_size(x_shape, kernel_hw, stride, pads, dilation):
    return tuple(window_out(n, k, s, p, d) for n, k, s, p, d in
                 zip(x_shape[1:3], kernel_hw, stride, pads, dilation))


def channel_sum(dy):
    """Σ over every axis but the last, accumulated in float64."""
    return dy.reshape(-1, dy.shape[-1]).sum(axis=0, dtype=np.float64).astype(dy.dtype)


# ---------------------------------------------------------------- conv2d, general
def conv_forward(x, w, bias, stride, pads, dilation, groups):
    kh, kw, cg, o = w.shape
    if cg == 1 and groups > 1:
        return depthwise_forward(x, w, bias, stride, pads, dilation)
    ho, wo = out_size(x.shape, (kh, kw), stride, pads, dilation)
    y = np.empty((x.shape[0], ho, wo, o), x.dtype)
    bias = np.zeros(o, x.dtype) if bias is None else bias
    conv_rows(np.ascontiguousarray(x), weight_rows(w, groups), bias, y, kh, kw, *stride, *dilation,
              pads[0][0], pads[1][0], threads_for(x.shape[0] * ho))
    return y


def conv_backward(x, w, dy, stride, pads, dilation, groups, want_dx=True):
    """(dx, dweight) of conv_forward; dx is None when not wanted (the network's input)."""
    kh, kw, cg, o = w.shape
    if cg == 1 and groups > 1:
        return depthwise_backward(x, w, dy, stride, pads, dilation, want_dx)
    x, dy = np.ascontiguousarray(x), np.ascontiguousarray(dy)
    (dh, dw), (pt, pl) = dilation, (pads[0][0], pads[1][0])
    zeros = np.zeros(x.shape[3], dy.dtype)

    def correlate(g, rows, cols, out_hw):
        (ti, di, pi), (tj, dj, pj) = rows, cols
        out = np.empty((g.shape[0], *out_hw, x.shape[3]), g.dtype)
        wt = transposed_rows(w[np.ix_(ti, tj)], groups)
        conv_rows(g, wt, zeros, out, len(ti), len(tj), 1, 1, di, dj, pi, pj, threads_for(g.shape[0] * out_hw[0]))
        return out

    dx = input_grad(dy, x.shape, stride, pads, dilation, (kh, kw), correlate) if want_dx else None
    block_rows = max(1, min(dy.shape[1], -(-BLOCK_PIXELS // max(1, dy.shape[2]))))
    blocks = x.shape[0] * -(-dy.shape[1] // block_rows)
    partial = np.zeros((threads_for(blocks), groups, o // groups, kh * kw * cg), x.dtype)
    conv_weight_grad(x, dy, partial, kh, kw, *stride, dh, dw, pt, pl, block_rows)
    return dx, weight_from_rows(partial.sum(axis=0), kh, kw)


# ---------------------------------------------------------------- conv2d, depthwise
def repeat_channels(x, m):
    """Each channel m times in a row: the input of a depthwise convolution with multiplier m."""
    return x if m == 1 else np.repeat(x, m, axis=3)


def depthwise_forward(x, w, bias, stride, pads, dilation):
    kh, kw, _, o = w.shape
    x = np.ascontiguousarray(repeat_channels(x, o // x.shape[3]))
    ho, wo = out_size(x.shape, (kh, kw), stride, pads, dilation)
    y = np.empty((x.shape[0], ho, wo, o), x.dtype)
    bias = np.zeros(o, x.dtype) if bias is None else bias
    depthwise_rows(x, np.ascontiguousarray(w[:, :, 0]), bias, y, *stride, *dilation, pads[0][0], pads[1][0])
    return y


def depthwise_backward(x, w, dy, stride, pads, dilation, want_dx=True):
    kh, kw, _, o = w.shape
    n, h, wd, c = x.shape
    m = o // c
    xr, dy = np.ascontiguousarray(repeat_channels(x, m)), np.ascontiguousarray(dy)
    zeros = np.zeros(o, dy.dtype)

    def correlate(g, rows, cols, out_hw):
        (ti, di, pi), (tj, dj, pj) = rows, cols
        out = np.empty((g.shape[0], *out_hw, o), g.dtype)
        depthwise_rows(g, np.ascontiguousarray(w[np.ix_(ti, tj)][:, :, 0]), zeros, out, 1, 1, di, dj, pi, pj)
        return out

    dx = input_grad(dy, xr.shape, stride, pads, dilation, (kh, kw), correlate) if want_dx else None
    if m > 1 and dx is not None:
        dx = dx.reshape(n, h, wd, c, m).sum(axis=4)
    partial = np.zeros((threads_for(n * dy.shape[1]), kh, kw, o), x.dtype)
    depthwise_weight_grad(xr, dy, partial, *stride, *dilation, pads[0][0], pads[1][0])
    return dx, partial.sum(axis=0)[:, :, None, :]


# ---------------------------------------------------------------- conv2d
def conv2d_fwd(xs, ps, attrs, ctx):
    x, = xs
    weight, bias = ps
    y = conv_forward(x, weight, bias, attrs["stride"], attrs["padding"], attrs["dilation"], attrs["groups"])
    return y, (x, weight, bias is not None)


def conv2d_bwd(saved, dy, attrs):
    x, weight, has_bias = saved
    dx, dweight = conv_backward(x, weight, dy, attrs["stride"], attrs["padding"], attrs["dilation"],
                                attrs["groups"], attrs.get("input_grads", (True,))[0])
    return [dx], [dweight, channel_sum(dy) if has_bias else None]


# ---------------------------------------------------------------- conv1d
# (N, C, L) and (O, C/G, k) at the boundary and inside: a height-1 NHWC image and HWIO weight.
def as_2d(attrs):
    """conv1d's attrs for the same convolution over a height-1 image."""
    return (1, attrs["stride"]), ((0, 0), tuple(attrs["padding"])), (1, attrs["dilation"]), attrs["groups"]


def image_1d(x):
    """(N, C, L) → (N, 1, L, C)."""
    return np.ascontiguousarray(x.transpose(0, 2, 1))[:, None]


def sequence_1d(y):
    """(N, 1, L, C) → (N, C, L)."""
    return np.ascontiguousarray(y[:, 0].transpose(0, 2, 1))


def conv1d_fwd(xs, ps, attrs, ctx):
    x, = xs
    weight, bias = ps
    y = conv_forward(image_1d(x), weight.transpose(2, 1, 0)[None], bias, *as_2d(attrs))
    return sequence_1d(y), (x, weight, bias is not None)


def conv1d_bwd(saved, dy, attrs):
    x, weight, has_bias = saved
    dx, dweight = conv_backward(image_1d(x), weight.transpose(2, 1, 0)[None], image_1d(dy), *as_2d(attrs))
    dbias = channel_sum(dy.transpose(0, 2, 1)) if has_bias else None
    return [sequence_1d(dx)], [np.ascontiguousarray(dweight[0].transpose(2, 1, 0)), dbias]
