"""Source of the generated convolution kernels (runtime/cpu/generated.py builds them).

Forward (`forward`): NHWC input, weights packed as (G·T, KH, KW, Cg, COT) — T tiles of COT
output channels per group, zero-filled past the last channel. Each worker takes output rows;
for a tile of P output pixels × COT output channels it keeps P·COT scalar accumulators in
registers and runs over (kh, kw, c): COT weight loads, P input loads, P·COT multiply-adds,
which the SLP vectorizer packs into COT-wide vector FMAs. Windows that run into the padding
go through a one-pixel path with bounds checks; the epilogue (bias, residual add,
activation) happens in the store. Grad input is this same kernel on the output gradient
(runtime/cpu/conv.py).

Grad weight (`weight_grad`): each worker owns a share of the output rows and a partial HWIO
gradient; for blocks of rows (their output gradient stays in L2) it keeps P input channels ×
COT output channels of one tap in registers over every pixel of the block.

Depthwise (`depthwise`, `depthwise_weight_grad`): one input channel per group; vectorised
over channels, every tap unrolled.

Kernel size, stride and dilation are constants of the source (unrolled taps, constant
offsets); image sizes, channels, batch and padding are arguments.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

from .generated import Kernel

# The activations a conv store can apply, as source over `v` (float32) with `slope` in scope
# (tanh and sigmoid: every generated module imports runtime/cpu/approx.py's, generated.HEADER).
ACTIVATIONS = {
    "none": "",
    "relu": "v = max(v, ZERO)",
    "relu6": "v = min(max(v, ZERO), SIX)",
    "leaky_relu": "v = v if v > ZERO else v * slope",
    "tanh": "v = tanh(v)",                              # runtime/cpu/approx.py's, vectorised
    "sigmoid": "v = sigmoid(v)",
}

# y[n, ry + oh·sy, rx + ow·sx] receives output pixel (oh, ow) of an ho × wo output: all of y, or
# one stride phase of a transposed convolution's output (its input gradient), written in place.
PLACEMENT = ", int64, int64, int64, int64, int64, int64"           # ho, wo, ry, rx, sy, sx
SIGNATURE_CONV = ("void(float32[:, :, :, ::1], float32[:, :, :, :, ::1], float32[::1], float32[:, :, :, ::1], "
                  "float32[:, :, :, ::1], int64, int64, int64, float32, int64" + PLACEMENT + ")")
SIGNATURE_WGRAD = "void(float32[:, :, :, ::1], float32[:, :, :, ::1], float32[:, :, :, :, ::1], int64, int64, int64, int64)"
SIGNATURE_DW = ("void(float32[:, :, :, ::1], float32[:, :, ::1], float32[::1], float32[:, :, :, ::1], "
                "float32[:, :, :, ::1], int64, int64, float32" + PLACEMENT + ")")
SIGNATURE_DW_WGRAD = "void(float32[:, :, :, ::1], float32[:, :, :, ::1], float32[:, :, :, ::1], int64, int64)"
BLOCK_PIXELS = 256           # output pixels per weight-gradient block: its dy and x stay in L2
OPTIONS = 'parallel=True, fastmath={"contract"}, cache=True, boundscheck=False, error_model="numpy"'


@dataclass(frozen=True)
class Geometry:
    """What a convolution's generated code is specialised on besides tiles and epilogue."""
    kh: int
    kw: int
    sh: int = 1
    sw: int = 1
    dh: int = 1
    dw: int = 1

    @property
    def any_size(self) -> bool:
        """Kernel size 0 × 0: any size, read from the weights at run time (the stride phases of
        a transposed convolution: one kernel for all their tap counts)."""
        return self.kh == 0

    @property
    def tag(self) -> str:
        size = "kany" if self.any_size else f"k{self.kh}x{self.kw}"
        return f"{size}_s{self.sh}x{self.sw}_d{self.dh}x{self.dw}"

    def constants(self) -> str:
        size = "" if self.any_size else f"KH, KW = {self.kh}, {self.kw}\n"
        return (size + f"SH, SW, DH, DW = {self.sh}, {self.sw}, {self.dh}, {self.dw}\n"
                "ZERO, SIX = np.float32(0), np.float32(6)\n")


def _lines(block: str, indent: int) -> str:
    pad = " " * indent
    return "".join(pad + line + "\n" for line in block.splitlines() if line.strip())


def _accumulate(pixels: int, cot: int, x_of) -> str:
    """Load the COT weights of input channel c (row `wc`) and each pixel's input, then FMA."""
    out = [f"w{o} = wc[{o}]" for o in range(cot)]
    out += [f"x{p} = {x_of(p)}" for p in range(pixels)]
    out += [f"a{p}_{o} += x{p} * w{o}" for p in range(pixels) for o in range(cot)]
    return "\n".join(out)


def _zero(pixels: int, cot: int) -> str:
    return "\n".join(f"a{p}_{o} = ZERO" for p in range(pixels) for o in range(cot))


# The accumulators a forward worker keeps for its band of output rows (floats): they stay in L1.
ACCUMULATOR_FLOATS = 2048


def _tile_taps(geometry: Geometry, pixels: int, cot: int, grouped: bool, channels: int = 0) -> tuple[str, str]:
    """The tile's views of its ring and weights, made once per call (a reshape is a call and
    reference counts: made per tile it cost the 3 → 16 stem 15 % of its time, 16 → 16 6 %),
    and its loops over the taps. Without dilation or groups, the KW·C taps of one kernel
    row are one contiguous run of the row buffer (and of the weights): one long loop. With
    `channels` (C, a constant of the source) the pixels' runs lie at constant offsets of one
    base: one register for all of them, where P runs took P (16 pixels: 6 reloaded from the
    stack every multiply-add step)."""
    if geometry.dw == 1 and not grouped and channels:
        return ("xf = xb.reshape(xb.shape[0], xb.shape[1] * CG)\n"
                "wf = wt.reshape(wt.shape[0], KW * CG, COT)\n",
                "for i in range(i0, i1):\n"
                "    run = xf[(ih0 + i * DH) % span][ow0 * SW * CG:]\n"
                "    wi = wf[i]\n"
                "    for u in range(KW * CG):\n"
                "        wc = wi[u]\n"
                + _lines(_accumulate(pixels, cot, lambda p: f"run[u + {p * geometry.sw * channels}]"), 8))
    if geometry.dw == 1 and not grouped:
        runs = "\n".join(f"s{p} = xr[(ow0 + {p}) * SW * cg:(ow0 + {p}) * SW * cg + KW * cg]" for p in range(pixels))
        return ("xf = xb.reshape(xb.shape[0], xb.shape[1] * cg)\n"
                "wf = wt.reshape(wt.shape[0], KW * cg, COT)\n",
                "for i in range(i0, i1):\n"
                "    xr = xf[(ih0 + i * DH) % span]\n"
                "    wi = wf[i]\n"
                + _lines(runs, 4)
                + "    for u in range(KW * cg):\n"
                "        wc = wi[u]\n"
                + _lines(_accumulate(pixels, cot, lambda p: f"s{p}[u]"), 8))
    rows = "\n".join(f"s{p} = xr[(ow0 + {p}) * SW + j * DW, c0:c0 + cg]" for p in range(pixels))
    return "", ("for i in range(i0, i1):\n"
                "    xr = xb[(ih0 + i * DH) % span]\n"
                "    wi = wt[i]\n"
                "    for j in range(KW):\n"
                "        wij = wi[j]\n"
                + _lines(rows, 8)
                + "        for c in range(cg):\n"
                "            wc = wij[c]\n"
                + _lines(_accumulate(pixels, cot, lambda p: f"s{p}[c]"), 12))


def ring_copy(slot: str, left: str, source: str, source_width: str) -> str:
    """Source copying an image row (`source`[n, ih], `source_width` pixels of c_in channels)
    into ring slot `slot` of xb (`width` pixels) from ring column `left`, the columns first to
    last as one flat run: a 2-D slice of pixels × channels copied 4–11 % slower, whole kernel
    (resnet20's 3×3 layers, docs/benchmarks.md)."""
    return (f"xb[{slot}].reshape(width * c_in)[(first + {left}) * c_in:(last + {left}) * c_in] = "
            f"{source}[n, ih].reshape({source_width} * c_in)[first * c_in:last * c_in]")


def _band_units(copy: str) -> str:
    """A worker's loop over its units (bands of output rows of one image), each first bringing
    the input rows its band reads into the ring `xb` (slot ih % span) by `copy`, unless the
    slot holds that row already."""
    return ("for u in range(k * units // workers, (k + 1) * units // workers):\n"
            "    n = u // bands\n"
            "    oh0 = (u - n * bands) * band\n"
            "    oh1 = min(ho, oh0 + band)\n"
            "    for ih in range(max(0, oh0 * SH - pt), min(h, (oh1 - 1) * SH - pt + (KH - 1) * DH + 1)):\n"
            "        if held[ih % span] != n * h + ih:\n"
            + _lines(copy, 12)
            + "            held[ih % span] = n * h + ih\n")


def _epilogue(residual: bool, activation: str) -> str:
    """y[n, oh, ow, o0:o0 + ov] = act(acc + bias (+ res)) over the band's rows."""
    add = " + ro[o]" if residual else ""
    lines = [f"v = ap[o] + bo[o]{add}", ACTIVATIONS[activation], "yo[o] = v"]
    return ("bo = bias[o0:o0 + ov]\n"
            "for oh in range(oh0, oh1):\n"
            "    for ow in range(wo):\n"
            "        ap = acc[oh - oh0, ow]\n"
            "        yo = y[n, ry + oh * sy, rx + ow * sx, o0:o0 + ov]\n"
            + ("        ro = res[n, oh, ow, o0:o0 + ov]\n" if residual else "")
            + "        for o in range(ov):\n"
            + _lines("\n".join(line for line in lines if line), 12))


@functools.cache            # a program lists its kernels each time it is prepared
def forward(geometry: Geometry, cot: int, pixels: int, grouped: bool = False, residual: bool = False,
            activation: str = "none", channels: int = 0) -> Kernel:
    """y = act(conv(x, w) + bias (+ res)); `pixels` output pixels × `cot` channels per tile.

    A worker takes bands of output rows of one image; for each tile of output channels, every
    tile of pixels in the band sums its taps in registers and stores the sums to the band's
    accumulators (in L1), which the epilogue (bias, residual, activation) then writes to y in
    one vectorised pass."""
    save = "\n".join(f"ap{p} = acc[r, ow0 + {p}]" for p in range(pixels))
    save += "\n" + "\n".join(f"ap{p}[{o}] = a{p}_{o}" for p in range(pixels) for o in range(cot))
    views, taps = _tile_taps(geometry, pixels, cot, grouped, channels)
    body = f'''
{geometry.constants()}P, COT, CG = {pixels}, {cot}, {channels}
ACCUMULATOR_FLOATS = {ACCUMULATOR_FLOATS}


# The tile is a function of its own: Numba's parallel passes then see a short loop body rather
# than hundreds of accumulators (compile time: 10 s instead of 5 min), and LLVM still
# vectorises it. Slices of the rows keep every index inside the channel loop non-negative,
# which spares LLVM the negative-index wraparound on each load.
# One call sweeps a whole output row (a call per tile cost its argument set-up and reference
# counts every few hundred multiply-adds), and of a whole band of rows: a call per row still
# cost the 3 → 16 stem 10 % of its time, 32 → 64 stride 2 10 % (each call makes views of w
# and acc, and a view of the w both workers share bounces its reference count between cores).
@njit(fastmath={{"contract"}}, cache=True, boundscheck=False, error_model="numpy", inline="never")
def tile(xb, wt, acc, wpad, c0, cg, oh0, rows, pt, h, span):
{"    KH, KW = wt.shape[0], wt.shape[1]" if geometry.any_size else ""}
{_lines(views, 4)}    across = wpad // P
    for q in range(rows * across):
        r = q // across
        ow0 = (q - r * across) * P
        ih0 = (oh0 + r) * SH - pt
        # the kernel rows inside the image: rows of padding are skipped
        i0 = max(0, -(ih0 // DH))
        i1 = max(i0, min(KH, (h - 1 - ih0) // DH + 1))
{_lines(_zero(pixels, cot), 8)}
{_lines(taps, 8)}
{_lines(save, 8)}

@njit("{SIGNATURE_CONV}", {OPTIONS})
def conv(x, w, bias, res, y, groups, pt, pl, slope, workers, ho, wo, ry, rx, sy, sx):
{"    KH, KW = w.shape[1], w.shape[2]" if geometry.any_size else ""}
    n_img, h, wd, c_in = x.shape
    c_out = y.shape[3]
    tiles = w.shape[0] // groups
    cg, og = c_in // groups, c_out // groups
    wpad = (wo + P - 1) // P * P                        # whole tiles: columns past wo are dropped
    width = (wpad - 1) * SW + (KW - 1) * DW + 1         # padded row: column u is input column u - pl
    first, last = max(0, -pl), min(wd, width - pl)      # the input columns that land in it
    # output rows per band: the accumulators fit, and every worker gets several bands
    band = max(1, min(ho, ACCUMULATOR_FLOATS // (wpad * COT), n_img * ho // (4 * workers)))
    bands = (ho + band - 1) // band
    units = n_img * bands
    span = (band - 1) * SH + (KH - 1) * DH + 1          # input rows one band reads
    for k in prange(workers):
        # Each worker keeps the input rows its bands read in a zero-bordered ring of `span`
        # rows (row ih in slot ih % span), copying each row once per image: every tile then
        # reads without bounds checks.
        xb = np.zeros((span, width, c_in), np.float32)
        held = np.full(span, -1, np.int64)              # which (image, row) each slot holds
        acc = np.empty((band, wpad, COT), np.float32)
{_lines(_band_units(ring_copy("ih % span", "pl", "x", "wd")), 8)}            for gt in range(groups * tiles):
                g = gt // tiles
                t = gt - g * tiles
                o0 = g * og + t * COT
                ov = min(COT, og - t * COT)
                tile(xb, w[gt], acc, wpad, g * cg, cg, oh0, oh1 - oh0, pt, h, span)
{_lines(_epilogue(residual, activation), 16)}'''
    epilogue = ("res_" if residual else "") + activation + ("_grouped" if grouped else "")
    epilogue += f"_c{channels}" if channels else ""
    return Kernel(f"conv_fwd_{geometry.tag}_co{cot}_p{pixels}_{epilogue}",
                  f"convolution forward, {geometry}, tile {pixels} pixels x {cot} channels, "
                  f"epilogue {epilogue}", body)


# A stride phase of the transposed convolution, as the int64 row `phases[f]` of its kernel:
# taps down and across, padding before (rows, columns), the phase (ry, rx), its rows and columns.
PHASE_FIELDS = ("th", "tw", "pt", "pl", "ry", "rx", "ho", "wo")
SIGNATURE_TRANSPOSED = ("void(float32[:, :, :, ::1], float32[:, :, :, :, :, ::1], int64[:, ::1], "
                        "float32[:, :, :, ::1], int64)")


@functools.cache            # a program lists its kernels each time it is prepared
def transposed(stride: tuple[int, int], cot: int, pixels: int, channels: int) -> Kernel:
    """dx of an ungrouped, undilated convolution at stride (SH, SW), every stride phase in one
    pass: dx[n, ry + oh·SH, rx + ow·SW] = Σ over the phase's taps (i, j) of
    dy[n, oh − pt + i, ow − pl + j] · w[f, i, j] (w: the phase's flipped, transposed taps, packed
    as (F, T, KH', KW', C, COT), zero past each phase's own taps). One ring of dy rows per worker
    serves every phase (per phase it took a ring copy of dy, a thread launch and a strided store
    of its own: ResNet-20's 16 → 32 stride 2 grad input spent 0.28 ms on its one-tap phase, 1/9
    of the multiply-adds). `channels` (C) is a constant of the source: each pixel's run of taps
    at a constant offset of one base."""
    sh, sw = stride
    save = "\n".join(f"ap{p} = acc[r, ow0 + {p}]" for p in range(pixels))
    save += "\n" + "\n".join(f"ap{p}[{o}] = a{p}_{o}" for p in range(pixels) for o in range(cot))
    body = f'''
SH, SW = {sh}, {sw}
ZERO = np.float32(0)
P, COT, CG = {pixels}, {cot}, {channels}
ACCUMULATOR_FLOATS = {ACCUMULATOR_FLOATS}


# The tile is a function of its own, as in the forward kernel (compile time); it sweeps a
# phase's output rows oh0 to oh0 + rows (one call per band, as there): `col0` the ring column
# of the phase's first tap, `kh`, `kw` its taps down and across.
@njit(fastmath={{"contract"}}, cache=True, boundscheck=False, error_model="numpy", inline="never")
def tile(xb, wt, acc, wpad, oh0, rows, pt, hd, span, kh, kw, col0):
    xf = xb.reshape(xb.shape[0], xb.shape[1] * CG)
    wf = wt.reshape(wt.shape[0], wt.shape[1] * CG, COT)
    across = wpad // P
    for q in range(rows * across):
        r = q // across
        ow0 = (q - r * across) * P
        ih0 = oh0 + r - pt
        i0 = max(0, -ih0)
        i1 = max(i0, min(kh, hd - ih0))
{_lines(_zero(pixels, cot), 8)}
        for i in range(i0, i1):
            run = xf[(ih0 + i) % span][(col0 + ow0) * CG:]
            wi = wf[i]
            for u in range(kw * CG):
                wc = wi[u]
{_lines(_accumulate(pixels, cot, lambda p: f"run[u + {p * channels}]"), 16)}
{_lines(save, 8)}

@njit("{SIGNATURE_TRANSPOSED}", {OPTIONS})
def transposed(dy, w, phases, dx, workers):
    n_img, hd, wdy, c_in = dy.shape
    c_out = dx.shape[3]
    tiles = w.shape[1]
    ho, wo = phases[:, 6].max(), phases[:, 7].max()
    wpad = (wo + P - 1) // P * P
    before, left = phases[:, 2].max(), phases[:, 3].max()      # ring row/column 0: dy's -before/-left
    after = (phases[:, 0] - 1 - phases[:, 2]).max()
    width = left + wpad + (phases[:, 1] - phases[:, 3]).max() - 1
    first, last = max(0, -left), min(wdy, width - left)
    band = max(1, min(ho, ACCUMULATOR_FLOATS // (wpad * COT), n_img * ho // (4 * workers)))
    bands = (ho + band - 1) // band
    units = n_img * bands
    span = band + before + after
    for k in prange(workers):
        xb = np.zeros((span, width, c_in), np.float32)
        held = np.full(span, -1, np.int64)
        acc = np.empty((band, wpad, COT), np.float32)
        for u in range(k * units // workers, (k + 1) * units // workers):
            n = u // bands
            oh0 = (u - n * bands) * band
            oh1 = min(ho, oh0 + band)
            for ih in range(max(0, oh0 - before), min(hd, oh1 + after)):
                if held[ih % span] != n * hd + ih:
                    {ring_copy("ih % span", "left", "dy", "wdy")}
                    held[ih % span] = n * hd + ih
            for t in range(tiles):
                o0 = t * COT
                ov = min(COT, c_out - o0)
                for f in range(phases.shape[0]):
                    th, tw, pt, pl, ry, rx, hf, wf = phases[f]
                    rows = min(oh1, hf)
                    tile(xb, w[f, t], acc, (wf + P - 1) // P * P, oh0, rows - oh0, pt, hd, span, th, tw, left - pl)
                    for oh in range(oh0, rows):
                        for ow in range(wf):
                            ap = acc[oh - oh0, ow]
                            do = dx[n, ry + oh * SH, rx + ow * SW, o0:o0 + ov]
                            for o in range(ov):
                                do[o] = ap[o]
'''
    return Kernel(f"conv_dx_s{sh}x{sw}_co{cot}_p{pixels}_c{channels}",
                  f"convolution input gradient, stride {sh}x{sw}, every phase in one pass, "
                  f"tile {pixels} pixels x {cot} channels", body)


@functools.cache            # a program lists its kernels each time it is prepared
def weight_grad(geometry: Geometry, cot: int, ctile: int) -> Kernel:
    """partial[k, i, j, c, o] (HWIO per worker k) += Σ over worker k's output rows of
    x[n, oh·SH + i·DH − pt, ow·SW + j·DW − pl, g·Cg + c] · dy[n, oh, ow, g·Og + o];
    `ctile` divides Cg and `cot` divides Og (the caller picks them so)."""
    acc = "\n".join(f"x{p} = xp[{p}]" for p in range(ctile))
    acc += "\n" + "\n".join(f"d{o} = dp[{o}]" for o in range(cot))
    acc += "\n" + "\n".join(f"a{p}_{o} += x{p} * d{o}" for p in range(ctile) for o in range(cot))
    flush = "\n".join(f"gc[{p}, {o}] += a{p}_{o}" for p in range(ctile) for o in range(cot))
    body = f'''
{geometry.constants()}CT, COT = {ctile}, {cot}


# The register tile is a function of its own, as in the forward kernel (compile time). Slices
# of contiguous pixel rows make every index in the pixel loop a constant: no negative-index
# wraparound, so LLVM sees consecutive loads and vectorises them. Each pixel's slices are taken
# from the whole arrays: a slice of the row held across the pixel loop costs reference counts
# (atomic calls) per row, which LLVM does not prune.
@njit(fastmath={{"contract"}}, cache=True, boundscheck=False, error_model="numpy", inline="never")
def block(x, dy, gw, r0, r1, i, j, c, cw, od, pt, pl):
    h, wd = x.shape[1], x.shape[2]
    ho, wo = dy.shape[1], dy.shape[2]
    gc = gw[cw:cw + CT, od:od + COT]
    # the output columns whose tap (i, j) falls inside the image
    lo = min(wo, max(0, (pl - j * DW + SW - 1) // SW))
    hi = max(lo, min(wo, (wd - 1 + pl - j * DW) // SW + 1))
{_lines(_zero(ctile, cot), 4)}
    for r in range(r0, r1):
        n = r // ho
        oh = r - n * ho
        ih = oh * SH + i * DH - pt
        if ih >= 0 and ih < h:
            for ow in range(lo, hi):
                xp = x[n, ih, ow * SW + j * DW - pl, c:c + CT]
                dp = dy[n, oh, ow, od:od + COT]
{_lines(acc, 16)}
{_lines(flush, 4)}

@njit("{SIGNATURE_WGRAD}", {OPTIONS})
def weight_grad(x, dy, partial, groups, pt, pl, block_rows):
    c_in, c_out = x.shape[3], dy.shape[3]
    workers = partial.shape[0]
    cg, og = c_in // groups, c_out // groups
    rows = dy.shape[0] * dy.shape[1]
    blocks = (rows + block_rows - 1) // block_rows
    for k in prange(workers):
        part = partial[k]
        for b in range(k * blocks // workers, (k + 1) * blocks // workers):
            r0 = b * block_rows
            r1 = min(rows, r0 + block_rows)
            for i in range(KH):
                for j in range(KW):
                    for g in range(groups):
                        for c in range(0, cg, CT):
                            for od in range(g * og, (g + 1) * og, COT):
                                block(x, dy, part[i, j], r0, r1, i, j, g * cg + c, c, od, pt, pl)
'''
    return Kernel(f"conv_wgrad_{geometry.tag}_co{cot}_ci{ctile}",
                  f"convolution weight gradient, {geometry}, tile {ctile} input x {cot} output channels", body)


@functools.cache            # a program lists its kernels each time it is prepared
def depthwise(geometry: Geometry, residual: bool = False, activation: str = "none") -> Kernel:
    """y[n, oh, ow, c] = act(bias[c] + Σ_(i, j) x[n, oh·SH + i·DH − pt, ow·SW + j·DW − pl, c]·w[i, j, c]
    (+ res)); inner loops over channels (vectorised), every tap unrolled."""
    g = geometry
    inside = " + ".join(f"r{i}[b + {j * g.dw}, c] * w[{i}, {j}, c]" for i in range(g.kh) for j in range(g.kw))
    rows = "\n".join(f"r{i} = x[n, ih0 + {i * g.dh}]" for i in range(g.kh))
    add = " + res[n, oh, ow, c]" if residual else ""
    act = ACTIVATIONS[activation]
    store = f"v = bias[c] + {inside}{add}\n" + (act + "\n" if act else "") + "yo[c] = v"
    edge_store = f"v = bias[c] + acc[c]{add}\n" + (act + "\n" if act else "") + "yo[c] = v"
    body = f'''
{geometry.constants()}

@njit("{SIGNATURE_DW}", {OPTIONS})
def depthwise(x, w, bias, res, y, pt, pl, slope, ho, wo, ry, rx, sy, sx):
    n_img, h, wd, c_in = x.shape
    lo = min(wo, max(0, (pl + SW - 1) // SW))
    hi = max(lo, min(wo, (wd - 1 + pl - (KW - 1) * DW) // SW + 1))
    top = min(ho, max(0, (pt + SH - 1) // SH))
    bottom = max(top, min(ho, (h - 1 + pt - (KH - 1) * DH) // SH + 1))
    for r in prange(n_img * ho):
        n = r // ho
        oh = r - n * ho
        ih0 = oh * SH - pt
        acc = np.empty(c_in, np.float32)
        for ow in range(wo):
            yo = y[n, ry + oh * sy, rx + ow * sx]
            if oh >= top and oh < bottom and ow >= lo and ow < hi:
{_lines(rows, 16)}
                b = ow * SW - pl
                for c in range(c_in):
{_lines(store, 20)}
            else:
                acc[:] = ZERO
                for i in range(KH):
                    ih = ih0 + i * DH
                    if ih >= 0 and ih < h:
                        for j in range(KW):
                            iw = ow * SW - pl + j * DW
                            if iw >= 0 and iw < wd:
                                xp = x[n, ih, iw]
                                wp = w[i, j]
                                for c in range(c_in):
                                    acc[c] += xp[c] * wp[c]
                for c in range(c_in):
{_lines(edge_store, 20)}
'''
    epilogue = ("res_" if residual else "") + activation
    return Kernel(f"depthwise_fwd_{geometry.tag}_{epilogue}",
                  f"depthwise convolution forward, {geometry}, epilogue {epilogue}", body)


@functools.cache            # a program lists its kernels each time it is prepared
def depthwise_weight_grad(geometry: Geometry) -> Kernel:
    """partial[k, i, j, c] += Σ over worker k's output rows of
    x[n, oh·SH + i·DH − pt, ow·SW + j·DW − pl, c] · dy[n, oh, ow, c]."""
    body = f'''
{geometry.constants()}

@njit("{SIGNATURE_DW_WGRAD}", {OPTIONS})
def depthwise_weight_grad(x, dy, partial, pt, pl):
    n_img, h, wd, c_in = x.shape
    _, ho, wo, _ = dy.shape
    workers = partial.shape[0]
    rows = n_img * ho
    for k in prange(workers):
        part = partial[k]
        for r in range(k * rows // workers, (k + 1) * rows // workers):
            n = r // ho
            oh = r - n * ho
            for i in range(KH):
                ih = oh * SH + i * DH - pt
                if ih >= 0 and ih < h:
                    xr = x[n, ih]
                    dr = dy[n, oh]
                    for j in range(KW):
                        lo = min(wo, max(0, (pl - j * DW + SW - 1) // SW))
                        hi = max(lo, min(wo, (wd - 1 + pl - j * DW) // SW + 1))
                        gw = part[i, j]
                        for ow in range(lo, hi):
                            xp = xr[ow * SW + j * DW - pl]
                            dp = dr[ow]
                            for c in range(c_in):
                                gw[c] += xp[c] * dp[c]
'''
    return Kernel(f"depthwise_wgrad_{geometry.tag}", f"depthwise convolution weight gradient, {geometry}", body)


SIGNATURE_LANE_WGRAD = "void(float32[:, :, :, ::1], float32[:, :, :, ::1], float32[:, :, :, :, ::1], int64, int64)"
BAND_FLOATS = 8192           # a lane weight gradient's band of transposed dy (32 KiB): in L1/L2


@functools.cache
def lane_weight_grad(geometry: Geometry, og: int) -> Kernel:
    """partial[k, i, j, o, l] += Σ over worker k's rows and the output columns ow ≡ l (mod 16) of
    x[n, oh + i·DH − pt, ow + j·DW − pl, 0] · dy[n, oh, ow, o], for a one-channel image at
    stride 1 (the caller sums the lanes l). The sums stay lane-wise, in registers, over a whole
    band of rows: a tile is KW taps × `og` output channels × 16 columns, fed by KW shifted runs
    of the input and `og` runs of dy transposed (16 columns of each of `og` channels in turn). Input rows and dy rows
    share one pitch, so a band is one flat loop, with no work per row (a loop per row, over
    two vectors for LeNet's C1, spent most of its time setting up the row); the columns of a
    row past Wo meet zeros of dy. The kernel it replaces reduced each (tap, channel) across its
    lanes at every row (30 horizontal sums per kernel row for LeNet's C1)."""
    taps, outs, lanes = range(geometry.kw), range(og), range(16)
    acc = "".join(f"xw{j} = xs[{j}, off + f:off + f + 16]\n" for j in taps) + "ds = dg[f * OG:(f + 16) * OG]\n"
    acc += "\n".join(f"x{j}_{l} = xw{j}[{l}]" for j in taps for l in lanes)
    acc += "\n" + "\n".join(f"e{o}_{l} = ds[{o * 16 + l}]" for o in outs for l in lanes)
    acc += "\n" + "\n".join(f"a{j}_{o}_{l} += x{j}_{l} * e{o}_{l}" for j in taps for o in outs for l in lanes)
    zero = "\n".join(f"a{j}_{o}_{l} = ZERO" for j in taps for o in outs for l in lanes)
    save = "\n".join(f"g{j}_{o} = gi[{j}, o0 + {o}]" for j in taps for o in outs)
    save += "\n" + "\n".join(f"g{j}_{o}[{l}] += a{j}_{o}_{l}" for j in taps for o in outs for l in lanes)
    body = f'''
{geometry.constants()}OG, BAND_FLOATS = {og}, {BAND_FLOATS}


# The register tile over a band, a function of its own (compile time).
@njit(fastmath={{"contract"}}, cache=True, boundscheck=False, error_model="numpy", inline="never")
def block(xs, off, dg, gi, count, o0):
{_lines(zero, 4)}
    for f in range(0, count, 16):
{_lines(acc, 8)}
{_lines(save, 4)}

@njit("{SIGNATURE_LANE_WGRAD}", {OPTIONS})
def weight_grad(x, dy, partial, pt, pl):
    n_img, h, wd, _ = x.shape
    _, ho, wo, c_out = dy.shape
    workers, o_pad = partial.shape[0], partial.shape[3]
    pitch = (wo + (KW - 1) * DW + 15) // 16 * 16        # floats per row, input and dy alike
    band = max(1, min(ho, BAND_FLOATS // (o_pad * pitch)))
    bands = (ho + band - 1) // band
    units = n_img * bands
    span = band + (KH - 1) * DH                         # input rows one band reads
    first, last = max(0, -pl), min(wd, pitch - pl)      # the input columns inside a row
    for k in prange(workers):
        part = partial[k]
        # band row b is input row oh0 - pt + b, column u input column u - pl, zero outside the
        # image; KW·DW + 16 floats more at the end for the last row's run
        xb = np.zeros(span * pitch + (KW * DW + 16), np.float32)
        # the band shifted by each tap across, xs[j, u] = xb[u + j·DW]: the tile's KW runs from
        # one array at overlapping offsets had LLVM load each input once and build the runs by
        # shuffles, spilling accumulators (LeNet's C1 0.42 → 0.35 ms)
        xs = np.zeros((KW, span * pitch + 16), np.float32)
        # dy transposed, per group of OG channels: 16 columns of each channel in turn (one
        # slice per step of the tile); columns past Wo stay 0
        dt = np.zeros((o_pad // OG, band * pitch * OG), np.float32)
        for u in range(k * units // workers, (k + 1) * units // workers):
            n = u // bands
            oh0 = (u - n * bands) * band
            oh1 = min(ho, oh0 + band)
            for b in range(span):
                ih = oh0 - pt + b
                row = xb[b * pitch:(b + 1) * pitch]
                row[:] = ZERO
                if ih >= 0 and ih < h:
                    xr = x[n, ih]
                    for c in range(first, last):
                        row[c + pl] = xr[c, 0]
            for j in range(KW):
                xs[j, :span * pitch] = xb[j * DW:j * DW + span * pitch]
            # channel by channel, each its run of columns (pixel by pixel: 0.35 → 0.33 ms)
            for r in range(oh1 - oh0):
                for o in range(c_out):
                    g = o // OG
                    dg = dt[g]
                    lane0 = (o - g * OG) * 16
                    for ow in range(wo):
                        q = r * pitch + ow
                        dg[(q >> 4) * (OG * 16) + lane0 + (q & 15)] = dy[n, oh0 + r, ow, o]
            for i in range(KH):
                for o0 in range(0, o_pad, OG):
                    block(xs, i * DH * pitch, dt[o0 // OG], part[i], (oh1 - oh0) * pitch, o0)
'''
    return Kernel(f"conv1ch_wgrad_lanes_{geometry.tag}_o{og}",
                  f"one-channel convolution weight gradient in lanes, {geometry}, tile {geometry.kw} taps x {og} channels",
                  body)


SIGNATURE_RUN_WGRAD = "void(float32[:, :, :, ::1], float32[:, :, :, ::1], float32[:, :, :, ::1], int64, int64)"


@functools.cache
def run_weight_grad(geometry: Geometry, fv: int, ot: int) -> Kernel:
    """partial[k, i, j·C + c, o] += Σ over worker k's pixels of x[n, oh·SH + i·DH − pt, ow·SW + j − pl, c]
    · dy[n, oh, ow, o], for one group without dilation along rows: a kernel row's KW·C taps are
    one contiguous run of a zero-bordered input row, so the register tile is `fv` taps (vector
    loads along the run) × `ot` output channels (broadcasts). A layer with few channels gets
    whole vectors that way, where an input × output channel tile was one vector wide (16
    channels) or less. `partial`'s tap axis is KW·C rounded up to `fv` (taps past it are
    garbage, dropped by the caller)."""
    acc = "\n".join(f"x{f} = xs[{f}]" for f in range(fv))
    acc += "\n" + "\n".join(f"d{o} = ds[{o}]" for o in range(ot))
    acc += "\n" + "\n".join(f"a{f}_{o} += x{f} * d{o}" for o in range(ot) for f in range(fv))
    load = "\n".join(f"a{f}_{o} = gf{f}[{o}]" for f in range(fv) for o in range(ot))
    save = "\n".join(f"gf{f}[{o}] = a{f}_{o}" for f in range(fv) for o in range(ot))
    rows = "\n".join(f"gf{f} = gi[f0 + {f}][o0:o0 + OT]" for f in range(fv))
    body = f'''
{geometry.constants()}FV, OT, BLOCK_PIXELS = {fv}, {ot}, {BLOCK_PIXELS}


# The register tile, a function of its own (compile time), over a band of output rows: the
# band's dy (≤ BLOCK_PIXELS pixels) and input rows stay in L2 while every tile runs over them.
# Pixel slices come from the whole ring and dy, not from a row slice held across the pixel
# loop: that costs reference counts per row (3→16 stem −0.05 ms, 16→16 1.62 → 1.46 ms).
@njit(fastmath={{"contract"}}, cache=True, boundscheck=False, error_model="numpy", inline="never")
def block(xb, dy, gi, n, oh0, oh1, i, f0, o0, pt, h, span, step):
{_lines(rows, 4)}
{_lines(load, 4)}
    for oh in range(oh0, oh1):
        ih = oh * SH - pt + i * DH
        if ih >= 0 and ih < h:
            slot = ih % span
            for ow in range(dy.shape[2]):
                xs = xb[slot, ow * step + f0:ow * step + f0 + FV]
                ds = dy[n, oh, ow, o0:o0 + OT]
{_lines(acc, 16)}
{_lines(save, 4)}

@njit("{SIGNATURE_RUN_WGRAD}", {OPTIONS})
def weight_grad(x, dy, partial, pt, pl):
    n_img, h, wd, cg = x.shape
    _, ho, wo, c_out = dy.shape
    workers = partial.shape[0]
    width = (wo - 1) * SW + KW                          # padded row: column u is input column u - pl
    first, last = max(0, -pl), min(wd, width - pl)
    band = max(1, min(ho, BLOCK_PIXELS // wo))          # output rows per unit, of one image
    bands = (ho + band - 1) // band
    units = n_img * bands
    span = (band - 1) * SH + (KH - 1) * DH + 1          # input rows one band reads
    for k in prange(workers):
        # the band's input rows, flat and zero-bordered (row ih in slot ih % span), with FV
        # floats more at the end for the last tile's run
        xb = np.zeros((span, width * cg + FV), np.float32)
        held = np.full(span, -1, np.int64)
        part = partial[k]
{_lines(_band_units("""# one flat copy (a slice per column cost more than the products for 3 channels)
xb[ih % span, (first + pl) * cg:(last + pl) * cg] = x[n, ih].reshape(wd * cg)[first * cg:last * cg]"""), 8)}            for i in range(KH):
                for f0 in range(0, part.shape[1], FV):
                    for o0 in range(0, c_out, OT):
                        block(xb, dy, part[i], n, oh0, oh1, i, f0, o0, pt, h, span, SW * cg)
'''
    return Kernel(f"conv_wgrad_run_{geometry.tag}_f{fv}_o{ot}",
                  f"convolution weight gradient along kernel-row runs, {geometry}, tile {fv} taps x {ot} channels",
                  body)


SIGNATURE_NARROW = ("void(float32[:, :, :, ::1], float32[:, :, :, ::1], float32[::1], float32[:, :, :, ::1], "
                    "float32[:, :, :, ::1], int64, int64, float32, int64" + PLACEMENT + ")")


def _narrow_store(residual: bool, activation: str) -> str:
    """The narrow kernel's store of one output row: acc[o, ow] transposed back to NHWC. Without
    a residual the epilogue runs first along acc's rows, vectorised, and the store reads along
    them (the transposed store is scalar: LeNet's C1 spent ~40 % of its time in it, with the
    epilogue inside it and reading across acc's rows; 0.32 → 0.24 ms)."""
    act = ACTIVATIONS[activation]
    if residual:
        lines = ["v = acc[o, ow] + bias[o] + res[n, oh, ow, o]", act, "yo[o] = v"]
        return ("for ow in range(wo):\n"
                "    yo = y[n, ry + oh * sy, rx + ow * sx]\n"
                "    for o in range(y.shape[3]):\n" + _lines("\n".join(line for line in lines if line), 8))
    return ("for o in range(y.shape[3]):\n"
            "    ar = acc[o]\n"
            "    bo = bias[o]\n"
            "    for q in range(wv):\n"
            + _lines("\n".join(line for line in ("v = ar[q] + bo", act, "ar[q] = v") if line), 8)
            + "yf = y[n, ry + oh * sy].reshape(-1)\n"
            "cy = y.shape[3]\n"
            "for o in range(cy):\n"
            "    ar = acc[o]\n"
            "    for ow in range(wo):\n"
            "        yf[(rx + ow * sx) * cy + o] = ar[ow]\n")


@functools.cache
def narrow(geometry: Geometry, ot: int, pv: int, residual: bool = False, activation: str = "none") -> Kernel:
    """A convolution with few output channels (16 or fewer; one group, stride 1 along rows),
    vectorised along the output row instead of the channels: a tile is `ot` output channels ×
    `pv` output pixels, fed per tap and input channel by `pv` contiguous inputs (vector loads)
    and `ot` weights (broadcasts): (pv/16 + ot) loads per ot·pv/16 vector multiply-adds, where a
    channel tile one vector wide took 17 loads per 16. Each worker transposes the input rows
    an output row reads to (channel, column), zero-bordered, and stores its sums transposed
    back (NHWC) with the epilogue."""
    acc = "\n".join(f"w{o} = wc[{o}]" for o in range(ot))
    acc += "\n" + "\n".join(f"x{q} = run[{q}]" for q in range(pv))
    acc += "\n" + "\n".join(f"a{o}_{q} += w{o} * x{q}" for o in range(ot) for q in range(pv))
    save = "\n".join(f"ar{o} = acc[o0 + {o}]" for o in range(ot))
    save += "\n" + "\n".join(f"ar{o}[v0 + {q}] = a{o}_{q}" for o in range(ot) for q in range(pv))
    body_store = _narrow_store(residual, activation)
    body = f'''
{geometry.constants()}OT, PV = {ot}, {pv}


# The register tile, a function of its own (compile time): OT channels × PV pixels from v0.
@njit(fastmath={{"contract"}}, cache=True, boundscheck=False, error_model="numpy", inline="never")
def tile(xt, w, acc, o0, v0, i0, i1, slot):
{"    KW = w.shape[1]" if geometry.any_size else ""}
{_lines(_zero(ot, pv), 4)}
    for i in range(i0, i1):
        for j in range(KW):
            wij = w[i, j]
            for c in range(wij.shape[0]):
                run = xt[slot[i], c, v0 + j * DW:v0 + j * DW + PV]
                wc = wij[c][o0:o0 + OT]
{_lines(acc, 16)}
{_lines(save, 4)}

@njit("{SIGNATURE_NARROW}", {OPTIONS})
def conv(x, w, bias, res, y, pt, pl, slope, workers, ho, wo, ry, rx, sy, sx):
{"    KH, KW = w.shape[0], w.shape[1]" if geometry.any_size else ""}
    n_img, h, wd, c_in = x.shape
    c_out = w.shape[3]                                  # padded to whole tiles of OT
    wv = (wo + PV - 1) // PV * PV                       # whole tiles: columns past wo are dropped
    width = wv + (KW - 1) * DW                          # padded row: column u is input column u - pl
    first, last = max(0, -pl), min(wd, width - pl)
    rows = n_img * ho
    span = (KH - 1) * DH + 1                            # input rows one output row reads
    for k in prange(workers):
        # the input rows in a zero-bordered ring of `span` rows (row ih in slot ih % span),
        # each transposed to (channel, column) once per image
        xt = np.zeros((span, c_in, width), np.float32)
        held = np.full(span, -1, np.int64)
        slot = np.empty(KH, np.int64)
        acc = np.empty((c_out, wv), np.float32)
        for r in range(k * rows // workers, (k + 1) * rows // workers):
            n = r // ho
            oh = r - n * ho
            # the kernel rows inside the image: rows of padding are skipped
            i0 = max(0, -((oh * SH - pt) // DH))
            i1 = max(i0, min(KH, (h - 1 + pt - oh * SH) // DH + 1))
            for i in range(i0, i1):
                ih = oh * SH - pt + i * DH
                slot[i] = ih % span
                if held[slot[i]] != n * h + ih:
                    xr = x[n, ih]
                    xs = xt[slot[i]]
                    for c in range(c_in):
                        xc = xs[c]
                        for u in range(first, last):
                            xc[u + pl] = xr[u, c]
                    held[slot[i]] = n * h + ih
            for o0 in range(0, c_out, OT):
                for v0 in range(0, wv, PV):
                    tile(xt, w, acc, o0, v0, i0, i1, slot)
{_lines(body_store, 12)}'''
    epilogue = ("res_" if residual else "") + activation
    return Kernel(f"conv_narrow_{geometry.tag}_o{ot}_v{pv}_{epilogue}",
                  f"narrow convolution forward, {geometry}, tile {ot} channels x {pv} pixels, epilogue {epilogue}",
                  body)
