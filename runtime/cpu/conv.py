"""Convolutions on NHWC images with HWIO weights ((kh, kw, C/groups, O)), by generated kernels.

Every convolution runs a kernel generated for its shape class (runtime/cpu/conv_source.py,
built and cached by runtime/cpu/generated.py): kernel size, stride and dilation are constants
of the source, the tile of output channels × pixels is chosen from the layer's widths, and a
fused epilogue (bias, residual add, a ReLU-family activation, tanh or sigmoid) happens in the
store.

Which kernel (`forward_kernel`, `weight_grad_kernel` decide, one place each):
- dense 3×3 stride 1 with 64+ input channels (grad weight: 32+): Winograd F(2×2, 3×3),
  runtime/cpu/winograd.py;
- depthwise (one input channel per group, any multiplier; a multiplier m > 1 repeats each
  input channel m times first): own kernels, vectorised over channels;
- few channels (≤ 16 out, < 16 in or out; 16 out only on rows of whole vectors): `narrow`,
  vectorised along the output row; grad weight of ≤ 16 input channels along kernel-row runs
  of taps (a one-channel image with < 16 outputs at stride 1: summed lane-wise along rows);
- else channel tiles × pixel tiles (rows split evenly), the epilogue in the store.

- grad input is the transposed convolution, run through the forward kernels: for stride s the
  input splits into s·s phases (positions ≡ r mod s); each phase is a stride-1 correlation of
  the output gradient with the flipped taps that reach it, stored straight into its positions
  of dx, so no work is spent on zero-stuffing or scattering;
- grad weight is a generated reduction: each worker owns a share of the output rows and a
  partial gradient (added up after: no races);
- a window over the whole unpadded input (LeNet's C5) is a matrix product, and so are its
  gradients;
- conv1d is conv2d over a height-1 image.

`kernels_for(...)` lists the generated kernels a convolution needs, for `cnnc build` and the
"compiling kernels k/n" of a first run; the run path asks the same functions.
"""
from __future__ import annotations

from math import gcd

import numpy as np
from numba import get_num_threads, njit, prange

from cnnc.layers.base import window_out

from . import conv_source as source
from . import winograd
from .activation import epilogue_in_place
from .allocator import cache_aligned
from .generated import Kernel, module

WINOGRAD_FORWARD_CHANNELS = 64      # input channels from which a forward pass runs by Winograd
WINOGRAD_GRADIENT_CHANNELS = 32     # input and output channels, for the weight gradient
STORE_ACTIVATIONS = tuple(source.ACTIVATIONS)   # what a conv store applies itself


# ---------------------------------------------------------------- choosing the generated kernels
def channel_tile(og: int) -> int:
    """Output channels per tile: whole 16-lane vectors, 32 at most. Wider tiles (64 × 4 pixels)
    stream twice the weight bytes per multiply-add from L2 and measured 15–25 % slower here
    (docs/benchmarks.md); narrow layers pad their last tile (LeNet's 6 → 8)."""
    for cot in (32, 16):
        if og % cot == 0:
            return cot
    return min(32, -(-og // 8) * 8)


def pixel_tile(cot: int, wo: int) -> int:
    """Output pixels per tile: the row split evenly into tiles of at most 16 pixels (one vector
    of channels) or 8 (two vectors): 16 of the 32 AVX-512 registers hold accumulators. An even
    split wastes no tile slots (LeNet's C3, 10 pixels: one tile of 10, 0.27 → 0.16 ms, where a
    power of two took 16 slots; rows of 12, 13, 14, 28: 11–26 % faster than 8 or 16,
    docs/benchmarks.md)."""
    widest = 16 if cot <= 16 else 8
    tiles = -(-wo // widest)
    return max(1, -(-wo // tiles))


def is_depthwise(cg: int, groups: int) -> bool:
    return cg == 1 and groups > 1


def is_single_channel(cin: int, groups: int) -> bool:
    """A one-channel image (MNIST's first layers)."""
    return cin == 1 and groups == 1


def is_winograd(x_shape, w_shape, stride, dilation, groups, gradient=False) -> bool:
    """Whether a convolution (or with `gradient`, its weight gradient) runs by Winograd F(2×2,
    3×3) (runtime/cpu/winograd.py): dense, 3×3, stride 1, and channels enough that the 2.25×
    fewer multiply-adds outweigh the transforms (measured on ResNet-20's layers:
    docs/benchmarks.md)."""
    if not (tuple(w_shape[:2]) == (3, 3) and tuple(stride) == (1, 1) and tuple(dilation) == (1, 1)
            and groups == 1):
        return False
    if gradient:
        return min(w_shape[2:]) >= WINOGRAD_GRADIENT_CHANNELS
    return x_shape[3] >= WINOGRAD_FORWARD_CHANNELS


def is_narrow(w_shape, stride, groups) -> bool:
    """Fewer than 16 output channels (less than a vector), one group, stride 1 along rows:
    vectorised along the output row (conv_source.narrow). At 16 out the channel tiles are as
    fast or faster, whatever the input channels: resnet20's 3 → 16 stem 0.69 → 0.55 ms, 8 → 16
    at 32×32 1.07 → 0.84 ms (batch 64), a 5×5 3 → 16 even."""
    _, _, cg, o = w_shape
    return o < 16 and groups == 1 and stride[1] == 1


def narrow_tiles(out_w: int, out_channels: int) -> tuple[int, int]:
    """(channels, pixels) of a narrow tile: 8 × 32 (2 vectors) for rows of 24 pixels or more,
    else 16 × 16 (16 registers of accumulators either way), or 8 × 16 for 8 or fewer channels
    (LeNet's C3 input gradient, 6 channels: 16 would waste 10 of every 16 sums; 0.61 → 0.35 ms)."""
    if out_w >= 24:
        return 8, 32
    return (8 if out_channels <= 8 else 16), 16


def forward_kernel(x_shape, w_shape, stride, dilation, groups, out_w, residual=False, activation="none",
                   kernel_hw=None) -> Kernel:
    """The one place that picks a conv2d's forward kernel (NHWC x, HWIO w): Winograd,
    depthwise, narrow or channel-tiled; `kernel_hw` the size a narrow or tiled
    kernel is specialised on when not w's (phase_kernel_hw)."""
    kh, kw, cg, o = w_shape
    if is_winograd(x_shape, w_shape, stride, dilation, groups):
        cot = channel_tile(o)
        return winograd.forward(cot, pixel_tile(cot, 16), residual, activation)
    if is_depthwise(cg, groups):
        return source.depthwise(source.Geometry(kh, kw, *stride, *dilation), residual, activation)
    if is_narrow(w_shape, stride, groups):
        return source.narrow(source.Geometry(*(kernel_hw or (kh, kw)), *stride, *dilation), *narrow_tiles(out_w, o),
                             residual, activation)
    # one-channel images too: a kernel of their own, vectorised along the output row, ran 2–15×
    # slower (batch 64 at 28×28: 1 → 64 3×3 1.42 against 0.68 ms, 1 → 32 5×5 stride 2 2.81
    # against 0.19, even 1 → 6 5×5 stride 2 0.57 against 0.08 with 10 of 16 channels idle)
    og = o // groups
    cot = channel_tile(og)
    pixels = pixel_tile(cot, out_w)
    # 9-16 pixels' runs need as many address registers unless the channel count is a constant
    channels = cg if pixels > 8 and groups == 1 and dilation[1] == 1 else 0
    return source.forward(source.Geometry(*(kernel_hw or (kh, kw)), *stride, *dilation), cot, pixels, groups > 1,
                          residual, activation, channels)


def weight_grad_kernel(x_shape, w_shape, stride, dilation, groups) -> Kernel:
    """The one place that picks a conv2d's weight-gradient kernel. Tiled: tiles that divide the
    channels exactly (a reduction reads every channel of its tile), in powers of two (LLVM's
    vectorizer gave up on 6- or 60-wide tiles here, 10× slower): up to 64 output × 8 input
    channels, 16 vector registers of accumulators at most."""
    kh, kw, cg, o = w_shape
    geometry = source.Geometry(kh, kw, *stride, *dilation)
    if is_winograd(x_shape, w_shape, stride, dilation, groups, gradient=True):
        return winograd.weight_grad(*gradient_tiles(cg, o))
    if is_depthwise(cg, groups):
        return source.depthwise_weight_grad(geometry)
    if sums_in_lanes(x_shape[3], o, stride, groups):
        return source.lane_weight_grad(geometry, lane_outputs(kw))
    if takes_tap_runs(w_shape, dilation, groups):
        return source.run_weight_grad(geometry, RUN_TAPS, RUN_OUTPUTS)
    return source.weight_grad(geometry, *gradient_tiles(cg, gradient_width(o // groups, groups)))


def sums_in_lanes(cin: int, cout: int, stride, groups) -> bool:
    """Whether a weight gradient keeps its sums lane-wise (conv_source.lane_weight_grad): a
    one-channel image at stride 1 with fewer than 16 outputs. From 16 outputs the tap runs are
    faster (1 → 16 3×3 at 28×28, batch 64: 0.39 against 0.31 ms; 1 → 64 1.64 against 1.22), and
    at stride 2 by far (1 → 6 5×5 0.62 against 0.23 ms with the one-channel kernel that took
    strided layers before)."""
    return is_single_channel(cin, groups) and cout < 16 and tuple(stride) == (1, 1)


def lane_outputs(kw: int) -> int:
    """Output channels of a lane weight-gradient tile: KW taps × these many vectors of
    accumulators, 20 at most (with the KW input runs and the dy runs: 29 of 32 registers)."""
    return 4 if kw <= 5 else 2 if kw <= 10 else 1


def takes_tap_runs(w_shape, dilation, groups) -> bool:
    """Whether a weight gradient runs along kernel-row runs of taps (conv_source.run_weight_grad):
    one group, no dilation along rows, and input channels too few for a vector-wide tile of
    them (16 or fewer: ResNet-20's first stage, LeNet), unless a full 32 × 8 tile fits (16 → 32
    3×3 stride 2: 0.92 → 0.79 ms, 1×1: 0.26 → 0.14 ms; 8 → 32: 1.70 → 1.26 ms), or the run holds
    4 or fewer of a tile's 16 taps with 32 or more outputs (a one-channel 3×3: 1 → 32 at 28×28,
    batch 64, 0.68 → 0.46 ms, 1 → 64 1.28 → 0.84; at 16 outputs, or 5 taps, the runs are as fast
    or faster)."""
    _, kw, cg, o = w_shape
    sparse_run = kw * cg <= 4 and o >= 32
    return (groups == 1 and dilation[1] == 1 and cg <= 16 and not has_full_gradient_tile(cg, o)
            and not sparse_run)


FULL_GRADIENT_TILE = 32, 8           # output × input channels


def has_full_gradient_tile(cg: int, og: int) -> bool:
    return og % FULL_GRADIENT_TILE[0] == 0 and cg % FULL_GRADIENT_TILE[1] == 0


# A run tile: 16 taps (a vector) × 16 output channels, 16 registers of accumulators. Wider runs
# (32 or 48 taps × 8 channels: fewer loads per multiply-add on paper) were 3x slower here: LLVM
# did not vectorise them (docs/benchmarks.md).
RUN_TAPS, RUN_OUTPUTS = 16, 16


def gradient_tiles(cg: int, og: int) -> tuple[int, int]:
    """(output, input) channels of a weight-gradient register tile: powers of two that divide
    the channels, 16 vector registers of accumulators at most; 32 × 8 where it fits (two dy
    vectors per 8 broadcasts beat 64 × 4's four per 4: resnet20's 32 → 64 stride 2 0.90 →
    0.82 ms, its 1×1 0.11 → 0.10 ms, keras_mnist's 32 → 64 6.4 → 6.0 ms)."""
    if has_full_gradient_tile(cg, og):
        return FULL_GRADIENT_TILE
    cot = max(d for d in (1, 2, 4, 8, 16, 32, 64) if og % d == 0)
    return cot, max(d for d in (1, 2, 4, 8) if cg % d == 0 and d * cot <= 256)


def widened(dy, width):
    """dy with zero channels up to `width`."""
    wide = np.zeros((*dy.shape[:3], width), np.float32)
    wide[..., :dy.shape[3]] = dy
    return wide


def gradient_width(og: int, groups: int) -> int:
    """The output channels the weight gradient runs over: a narrow ungrouped layer's gradient
    is padded with zero channels to a whole vector (LeNet's 6 → 16: one 16-wide tile instead
    of three 2-wide ones)."""
    return -(-og // 16) * 16 if groups == 1 and og % 16 and og < 64 else og


def kernels_for(x_shape, w_shape, stride, pads, dilation, groups, training, residual=False,
                activation="none", want_dx=True) -> list[Kernel]:
    """The generated kernels a conv2d over NHWC `x_shape` with HWIO `w_shape` runs (in training,
    the input gradient's only when `want_dx`): what the run path below asks for, from the
    same functions."""
    kh, kw, cg, o = w_shape
    if covers_input(x_shape, w_shape, pads, dilation, groups):
        return []                                   # matrix products, forward and backward
    ho, wo = out_size(x_shape, (kh, kw), stride, pads, dilation)
    out = [forward_kernel(x_shape, w_shape, stride, dilation, groups, wo, residual, activation)]
    if training and want_dx and takes_one_pass(x_shape, w_shape, stride, pads, dilation, groups):
        out.append(one_pass_kernel(x_shape, w_shape, stride, pads))
    elif training and want_dx:
        dy_shape = (x_shape[0], ho, wo, o)
        out += [forward_kernel(dy_shape, phase_weight_shape(w_shape, r, c, groups), (1, 1), (r[1], c[1]), groups,
                               hw[1], kernel_hw=phase_kernel_hw(r, c, stride))
                for r, c, hw, _ in phases(x_shape, stride, pads, dilation, (kh, kw))]
    if training:
        out.append(weight_grad_kernel(x_shape, w_shape, stride, dilation, groups))
    return out


# ---------------------------------------------------------------- layouts and geometry
def packed(w, groups, cot):
    """HWIO (kh, kw, Cg, O) → (G·T, kh, kw, Cg, cot): each group's output channels in T tiles of
    `cot`, zero past the group's last channel."""
    kh, kw, cg, o = w.shape
    og = o // groups
    tiles = -(-og // cot)
    out = np.zeros((groups, tiles * cot, kh, kw, cg), np.float32)
    out[:, :og] = w.reshape(kh, kw, cg, groups, og).transpose(3, 4, 0, 1, 2)
    return cache_aligned(out.reshape(groups, tiles, cot, kh, kw, cg).transpose(0, 1, 3, 4, 5, 2)
                         .reshape(groups * tiles, kh, kw, cg, cot))


def transposed(w, groups):
    """HWIO → the HWIO weights of the transposed convolution (inputs and outputs swapped within
    each group), taps as given."""
    kh, kw, cg, o = w.shape
    return w.reshape(kh, kw, cg, groups, o // groups).transpose(0, 1, 4, 3, 2).reshape(kh, kw, o // groups,
                                                                                       groups * cg)


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


def phases(x_shape, stride, pads, dilation, kernel_hw):
    """The stride-1 correlations that make up the transposed convolution: for each phase
    (rh, rw) with taps, (rows, cols, out_hw, (rh, rw)); rows/cols as phase_taps gives them."""
    (sh, sw), (dh, dw) = stride, dilation
    (pt, _), (pl, _) = pads
    _, h, w, _ = x_shape
    out = []
    for rh in range(min(sh, h)):
        for rw in range(min(sw, w)):
            rows, cols = phase_taps(kernel_hw[0], sh, dh, pt, rh), phase_taps(kernel_hw[1], sw, dw, pl, rw)
            if rows is not None and cols is not None:
                out.append((rows, cols, (len(range(rh, h, sh)), len(range(rw, w, sw))), (rh, rw)))
    return out


def phase_kernel_hw(rows, cols, stride) -> tuple[int, int]:
    """The kernel size a phase's generated kernel is specialised on: its tap counts, or (0, 0),
    any size, for the phases of a strided convolution without dilation (one kernel serves the
    1×1, 1×2, 2×1 and 2×2 phases of a 3×3 stride-2 layer: fewer kernels to compile and load)."""
    if tuple(stride) != (1, 1) and (rows[1], cols[1]) == (1, 1):
        return 0, 0
    return len(rows[0]), len(cols[0])


def phase_weights(w, rows, cols, groups):
    """A phase's weights: the taps that reach it, as the transposed convolution's HWIO weights
    (a depthwise one's stay (kh', kw', 1, C): its channels do not mix)."""
    taps = w[np.ix_(rows[0], cols[0])]
    return f32(taps if is_depthwise(w.shape[2], groups) else transposed(taps, groups))


def phase_weight_shape(w_shape, rows, cols, groups):
    kh, kw, cg, o = w_shape
    if is_depthwise(cg, groups):
        return len(rows[0]), len(cols[0]), 1, o
    return len(rows[0]), len(cols[0]), o // groups, groups * cg


def takes_one_pass(x_shape, w_shape, stride, pads, dilation, groups) -> bool:
    """Whether grad input runs every stride phase in one pass (conv_source.transposed): strided,
    ungrouped, undilated, a tap for every phase, and phases that would take channel tiles (16
    or more input channels, more than one output channel, none of them a Winograd phase)."""
    kh, kw, cg, o = w_shape
    if tuple(stride) == (1, 1) or groups != 1 or tuple(dilation) != (1, 1) or cg < 16 or o < 2:
        return False
    parts = phases(x_shape, stride, pads, dilation, (kh, kw))
    dy_shape = (x_shape[0], *out_size(x_shape, (kh, kw), stride, pads, dilation), o)
    return len(parts) == stride[0] * stride[1] and not any(
        is_winograd(dy_shape, phase_weight_shape(w_shape, r, c, 1), (1, 1), (1, 1), 1) for r, c, *_ in parts)


def phase_table(x_shape, w_shape, stride, pads) -> np.ndarray:
    """The phases of a one-pass input gradient as conv_source.transposed reads them, one row
    of conv_source.PHASE_FIELDS each."""
    rows = [(len(r[0]), len(c[0]), r[2], c[2], *phase, *hw)
            for r, c, hw, phase in phases(x_shape, stride, pads, (1, 1), w_shape[:2])]
    return np.array(rows, np.int64).reshape(-1, len(source.PHASE_FIELDS))


def one_pass_kernel(x_shape, w_shape, stride, pads) -> Kernel:
    cot = channel_tile(w_shape[2])
    widest = int(phase_table(x_shape, w_shape, stride, pads)[:, 7].max())
    return source.transposed(tuple(stride), cot, pixel_tile(cot, widest), w_shape[3])


def one_pass_input_grad(dy, w, x_shape, stride, pads):
    """dx by conv_source.transposed: every phase's flipped, transposed taps packed into one
    array, zero past each phase's own taps."""
    cot = channel_tile(w.shape[2])
    parts = phases(x_shape, stride, pads, (1, 1), w.shape[:2])
    table = phase_table(x_shape, w.shape, stride, pads)
    tiles = -(-w.shape[2] // cot)
    taps = np.zeros((len(parts), tiles, table[:, 0].max(), table[:, 1].max(), w.shape[3], cot), np.float32)
    for f, (rows, cols, _, _) in enumerate(parts):
        taps[f, :, :len(rows[0]), :len(cols[0])] = packed(phase_weights(w, rows, cols, 1), 1, cot)
    dx = np.empty(x_shape, np.float32)
    run = module(one_pass_kernel(x_shape, w.shape, stride, pads))
    run.transposed(dy, cache_aligned(taps), table, dx, threads_for(dy.shape[0] * dy.shape[1]))
    return dx


def input_grad(dy, x_shape, stride, pads, dilation, kernel_hw, correlate):
    """The transposed convolution, phase by phase: `correlate(dy, rows, cols, out_hw, into)` runs
    the stride-1 correlation of one phase, into `into` = (dx, phase, stride) where given (see
    conv_forward); positions no tap reaches are zero."""
    parts = phases(x_shape, stride, pads, dilation, kernel_hw)
    if tuple(stride) == (1, 1):
        rows, cols, out_hw, _ = parts[0]
        return correlate(dy, rows, cols, out_hw, None)
    dx = np.empty(x_shape, np.float32)
    reached = {phase for *_, phase in parts}
    for rh in range(stride[0]):
        for rw in range(stride[1]):
            if (rh, rw) not in reached:
                dx[:, rh::stride[0], rw::stride[1]] = 0
    for rows, cols, out_hw, phase in parts:
        correlate(dy, rows, cols, out_hw, (dx, phase, stride))
    return dx


def out_size(x_shape, kernel_hw, stride, pads, dilation):
    return tuple(window_out(n, k, s, p, d) for n, k, s, p, d in
                 zip(x_shape[1:3], kernel_hw, stride, pads, dilation))


def channel_sum(dy):
    """Σ over every axis but the last, accumulated in float64 (NumPy's float64 reduction of a
    float32 array along its rows took ~0.5 ms for LeNet's first layer: a Numba pass instead).
    Rows of C < 16 channels are summed as rows of lcm(C, 16) (whole vectors; LeNet's 6
    channels: 0.16 → 0.04 ms), folded to C after."""
    c = dy.shape[-1]
    flat = np.ascontiguousarray(dy, dtype=np.float32).reshape(-1)
    width = c * 16 // gcd(c, 16)
    if flat.size % width:
        width = c
    rows = flat.reshape(-1, width)
    partial = np.zeros((threads_for(rows.shape[0]), width))
    _row_sums(rows, partial)
    return partial.reshape(-1, c).sum(axis=0).astype(np.float32)


@njit(parallel=True, cache=True)
def _row_sums(rows, partial):
    """partial[k] = Σ of worker k's share of the rows, in float64."""
    workers, n, width = partial.shape[0], rows.shape[0], rows.shape[1]
    for k in prange(workers):
        acc = np.zeros(width)          # a local accumulator: summing into partial[k] ran ~2x slower
        for r in range(k * n // workers, (k + 1) * n // workers):
            row = rows[r]
            for c in range(width):
                acc[c] += row[c]
        partial[k] = acc


def f32(a):
    return np.ascontiguousarray(a, dtype=np.float32)


# ---------------------------------------------------------------- conv2d, general
def conv_forward(x, w, bias, stride, pads, dilation, groups, residual=None, activation="none", slope=0.01,
                 out_hw=None, kernel_hw=None, into=None):
    """act(conv(x, w) + bias (+ residual)); `activation` one of STORE_ACTIVATIONS; `out_hw`
    when the padding after is implied and `kernel_hw` the kernel size the generated kernel is
    specialised on, when not w's (both for a phase of the transposed convolution). With
    `into` = (y, (ry, rx), (sy, sx)) the output goes to y[:, ry::sy, rx::sx] (a phase of a
    transposed convolution's output) and y is returned."""
    kh, kw, cg, o = w.shape
    if out_hw is None and kernel_hw is None and covers_input(x.shape, w.shape, pads, dilation, groups):
        # one output pixel: a matrix product (LeNet's C5 at batch 64: 0.19 → 0.04 ms)
        y = f32(x).reshape(x.shape[0], -1) @ f32(w).reshape(-1, o)
        if bias is not None:
            y += bias
        return epilogue_in_place(y.reshape(x.shape[0], 1, 1, o), residual, activation, slope)
    ho, wo = out_hw or out_size(x.shape, (kh, kw), stride, pads, dilation)
    if into and not places_output(x.shape, w.shape, stride, dilation, groups):
        # Winograd kernels write a whole array: their phase goes through a copy
        y, (ry, rx), (sy, sx) = into
        y[:, ry::sy, rx::sx] = conv_forward(x, w, bias, stride, pads, dilation, groups, residual, activation, slope,
                                            out_hw, kernel_hw)
        return y
    if is_depthwise(cg, groups):
        x = repeat_channels(x, o // x.shape[3])
    x = f32(x)
    y, (ry, rx), (sy, sx) = into or (np.empty((x.shape[0], ho, wo, o), np.float32), (0, 0), (1, 1))
    bias = np.zeros(o, np.float32) if bias is None else f32(bias)
    res = y if residual is None else f32(residual)
    run = module(forward_kernel(x.shape, w.shape, stride, dilation, groups, wo, residual is not None, activation,
                                kernel_hw))
    (pt, _), (pl, _) = pads
    slope, workers = np.float32(slope), threads_for(x.shape[0] * ho)
    placement = ho, wo, ry, rx, sy, sx
    if is_winograd(x.shape, w.shape, stride, dilation, groups):
        run.conv(x, winograd.transformed_weights(w, channel_tile(o)), bias, res, y, pt, pl, slope, workers)
    elif is_depthwise(cg, groups):
        run.depthwise(x, f32(w[:, :, 0]), bias, res, y, pt, pl, slope, *placement)
    elif is_narrow(w.shape, stride, groups):
        ot, _ = narrow_tiles(wo, o)
        wide = np.zeros((kh, kw, cg, -(-o // ot) * ot), np.float32)
        wide[..., :o] = w
        run.conv(x, wide, bias, res, y, pt, pl, slope, workers, *placement)
    else:
        run.conv(x, packed(f32(w), groups, channel_tile(o // groups)), bias, res, y, groups, pt, pl, slope, workers,
                 *placement)
    return y


def places_output(x_shape, w_shape, stride, dilation, groups) -> bool:
    """Whether the forward kernel conv_forward runs can store into a phase of a larger output
    (all but the Winograd kernels)."""
    return not is_winograd(x_shape, w_shape, stride, dilation, groups)


def covers_input(x_shape, w_shape, pads, dilation, groups) -> bool:
    """A window that covers the whole unpadded input (LeNet's C5): one output pixel, the
    convolution a matrix product, and so are its gradients."""
    return (groups == 1 and tuple(dilation) == (1, 1) and not any(p for pair in pads for p in pair)
            and tuple(w_shape[:2]) == tuple(x_shape[1:3]))


def conv_backward(x, w, dy, stride, pads, dilation, groups, want_dx=True):
    """(dx, dweight) of conv_forward; dx is None when not wanted (the network's input). A
    depthwise convolution with multiplier m ran on its input's channels repeated m times: dx
    sums each channel's m copies."""
    kh, kw, cg, o = w.shape
    n, h, wd, c = x.shape
    if covers_input(x.shape, w.shape, pads, dilation, groups):
        flat_x, flat_w, flat_dy = f32(x).reshape(n, -1), f32(w).reshape(-1, o), f32(dy).reshape(n, o)
        dx = (flat_dy @ flat_w.T).reshape(x.shape) if want_dx else None
        return dx, (flat_x.T @ flat_dy).reshape(w.shape)
    m = o // c if is_depthwise(cg, groups) else 1
    x, w, dy = f32(repeat_channels(x, m)), f32(w), f32(dy)

    def correlate(g, rows, cols, out_hw, into):
        (ti, di, pi), (tj, dj, pj) = rows, cols
        return conv_forward(g, phase_weights(w, rows, cols, groups), None, (1, 1), ((pi, 0), (pj, 0)), (di, dj),
                            groups, out_hw=out_hw, kernel_hw=phase_kernel_hw(rows, cols, stride), into=into)

    if not want_dx:
        dx = None
    elif takes_one_pass(x.shape, w.shape, stride, pads, dilation, groups):
        dx = one_pass_input_grad(dy, w, x.shape, stride, pads)
    else:
        dx = input_grad(dy, x.shape, stride, pads, dilation, (kh, kw), correlate)
    if m > 1 and dx is not None:
        dx = dx.reshape(n, h, wd, c, m).sum(axis=4)
    return dx, weight_grad(x, dy, w.shape, stride, pads, dilation, groups)


def weight_grad(x, dy, w_shape, stride, pads, dilation, groups):
    """HWIO dweight: each worker sums its share of the output rows into a partial of its own."""
    kh, kw, cg, o = w_shape
    (pt, _), (pl, _) = pads
    run = module(weight_grad_kernel(x.shape, w_shape, stride, dilation, groups))
    rows = dy.shape[0] * dy.shape[1]
    if is_winograd(x.shape, w_shape, stride, dilation, groups, gradient=True):
        partial = np.zeros((threads_for(rows), 16, cg, o), np.float32)
        run.weight_grad(x, dy, partial, pt, pl)
        return winograd.weight_gradient(partial.sum(axis=0))
    if is_depthwise(cg, groups):
        partial = np.zeros((threads_for(rows), kh, kw, o), np.float32)
        run.depthwise_weight_grad(x, dy, partial, pt, pl)
        return partial.sum(axis=0)[:, :, None, :]
    if sums_in_lanes(x.shape[3], o, stride, groups):
        og = lane_outputs(kw)
        partial = np.zeros((threads_for(rows), kh, kw, -(-o // og) * og, 16), np.float32)
        run.weight_grad(x, dy, partial, pt, pl)
        return np.ascontiguousarray(partial.sum(axis=(0, 4))[:, :, None, :o])
    if takes_tap_runs(w_shape, dilation, groups):
        width = -(-o // RUN_OUTPUTS) * RUN_OUTPUTS        # dy padded with zero channels to whole tiles
        partial = np.zeros((threads_for(rows), kh, -(-kw * cg // RUN_TAPS) * RUN_TAPS, width), np.float32)
        run.weight_grad(x, dy if width == o else widened(dy, width), partial, pt, pl)
        return np.ascontiguousarray(partial.sum(axis=0)[:, :kw * cg, :o].reshape(kh, kw, cg, o))
    width = gradient_width(o // groups, groups) * groups
    dy = dy if width == o else widened(dy, width)
    block_rows = max(1, min(rows, -(-source.BLOCK_PIXELS // max(1, dy.shape[2]))))
    partial = np.zeros((threads_for(-(-rows // block_rows)), kh, kw, cg, width), np.float32)
    run.weight_grad(x, dy, partial, groups, pt, pl, block_rows)
    dw = partial.sum(axis=0) if partial.shape[0] > 1 else partial[0]
    return np.ascontiguousarray(dw[..., :o]) if width != o else dw


# ---------------------------------------------------------------- conv2d, depthwise
def repeat_channels(x, m):
    """Each channel m times in a row: the input of a depthwise convolution with multiplier m."""
    return x if m == 1 else np.repeat(x, m, axis=3)


# ---------------------------------------------------------------- conv2d
def conv2d_fwd(xs, ps, attrs, ctx, activation="none"):
    """`activation` (one of STORE_ACTIVATIONS): applied in the store, for a step that trains as
    one op (runtime/cpu/fusion.py)."""
    x, = xs
    weight, bias = ps
    y = conv_forward(x, weight, bias, attrs["stride"], attrs["padding"], attrs["dilation"], attrs["groups"],
                     activation=activation)
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


# ---------------------------------------------------------------- the kernels a program needs
def conv2d_kernels(step, shapes, training, residual=False, activation="none") -> list[Kernel]:
    """`shapes`: the step's input and parameter shapes at the boundary (no batch axis)."""
    (c, h, w), (o, cg, kh, kw) = shapes[0], shapes[1]
    a = step.attrs
    return kernels_for((1, h, w, c), (kh, kw, cg, o), a["stride"], a["padding"], a["dilation"], a["groups"],
                       training, residual, activation, a.get("input_grads", (True,))[0])


def conv1d_kernels(step, shapes, training, residual=False, activation="none") -> list[Kernel]:
    (c, length), (o, cg, k) = shapes[0], shapes[1]
    return kernels_for((1, 1, length, c), (1, k, cg, o), *as_2d(step.attrs), training,
                       want_dx=step.attrs.get("input_grads", (True,))[0])


KERNELS = {"conv2d": conv2d_kernels, "conv1d": conv1d_kernels}
