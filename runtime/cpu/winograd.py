"""3×3 stride-1 convolutions by Winograd's minimal filtering F(2×2, 3×3): 16 multiplies per
2×2 output pixels and channel pair instead of 36, 2.25× fewer multiply-adds than the direct
kernel (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", CVPR 2016).

For a 4×4 input patch d and a 3×3 filter g, the 2×2 output is Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A. The
generated kernel (`forward`) takes the filters already transformed (`transformed_weights`,
U = G g Gᵀ, 16 positions ξ) and works through blocks of TB output tiles, everything of a block
in L2:
1. input transform: each tile's patch (from a zero-bordered ring of input rows) into
   V[ξ, t, c] — additions only, vectorised over channels;
2. 16 products M[ξ] = V[ξ]·U[ξ] (TB × C by C × O), each on the register tile of the direct
   kernel (P tiles × COT output channels in accumulators, a vector FMA per weight row);
3. output transform Aᵀ M A (additions), then the epilogue (bias, residual, activation) into y.

The transforms' coefficients are 0, ±1 and ±½: float32 rounding stays that of the direct sum's
order of magnitude (tests/runtime/cpu/test_conv.py compares with the NumPy reference). The
input gradient of such a layer is a 3×3 stride-1 correlation too and runs here as well.
"""
from __future__ import annotations

import functools

import numpy as np

from numba import njit

from .allocator import cache_aligned
from .conv_source import ACTIVATIONS, OPTIONS, _accumulate, _lines, _zero, ring_copy
from .generated import Kernel
from .llvm_hints import no_alias

TILES_PER_BLOCK = 64          # output tiles a block transforms at once: its V and M stay in L2

SIGNATURE = ("void(float32[:, :, :, ::1], float32[:, :, :, ::1], float32[::1], float32[:, :, :, ::1], "
             "float32[:, :, :, ::1], int64, int64, float32, int64)")


def transformed_weights(w: np.ndarray, cot: int) -> np.ndarray:
    """HWIO (3, 3, C, O) → U = G g Gᵀ as (16, T, C, cot): position ξ = 4·row + column, then T
    tiles of `cot` output channels, zero past the last."""
    _, _, c, o = w.shape
    u = np.zeros((16, -(-o // cot), c, cot), np.float32)
    _filter_transform(np.ascontiguousarray(w, dtype=np.float32), u)
    return cache_aligned(u)


# G = [[1, 0, 0], [½, ½, ½], [½, -½, ½], [0, 0, 1]] on rows, then on columns; one pass over the
# weights, vectorised along the output channels (NumPy's slices and transposes took ~0.13 ms
# for a 64 → 64 layer, a tenth of its forward pass).
@njit(cache=True, boundscheck=False, error_model="numpy")
def _filter_transform(w, u):
    no_alias()
    cot, half = u.shape[3], np.float32(0.5)
    for c in range(w.shape[2]):
        for t in range(u.shape[1]):
            for oo in range(min(cot, w.shape[3] - t * cot)):
                o = t * cot + oo
                for j in range(3):                       # G·g, column j: rows r0..r3
                    a, b, d = w[0, j, c, o], w[1, j, c, o], w[2, j, c, o]
                    r0, r1, r2, r3 = a, half * (a + b + d), half * (a - b + d), d
                    if j == 0:
                        c00, c10, c20, c30 = r0, r1, r2, r3
                    elif j == 1:
                        c01, c11, c21, c31 = r0, r1, r2, r3
                    else:
                        c02, c12, c22, c32 = r0, r1, r2, r3
                for i, (a, b, d) in enumerate(((c00, c01, c02), (c10, c11, c12), (c20, c21, c22), (c30, c31, c32))):
                    u[4 * i, t, c, oo] = a
                    u[4 * i + 1, t, c, oo] = half * (a + b + d)
                    u[4 * i + 2, t, c, oo] = half * (a - b + d)
                    u[4 * i + 3, t, c, oo] = d


def _input_transform() -> str:
    """V = Bᵀ d B for channel c of tile t, whose patch is rows r0..r3 from column `col`."""
    d = [[f"r{i}[col + {j}, c]" for j in range(4)] for i in range(4)]
    out = []
    for j in range(4):                        # Bᵀ d: rows 0-2, 1+2, 2-1, 1-3
        out += [f"t0{j} = {d[0][j]} - {d[2][j]}", f"t1{j} = {d[1][j]} + {d[2][j]}",
                f"t2{j} = {d[2][j]} - {d[1][j]}", f"t3{j} = {d[1][j]} - {d[3][j]}"]
    for i in range(4):                        # (Bᵀ d) B: the same on columns
        out += [f"vt[{4 * i}, t, c] = t{i}0 - t{i}2", f"vt[{4 * i + 1}, t, c] = t{i}1 + t{i}2",
                f"vt[{4 * i + 2}, t, c] = t{i}2 - t{i}1", f"vt[{4 * i + 3}, t, c] = t{i}1 - t{i}3"]
    return "\n".join(out)


def _output_transform() -> str:
    """The 2×2 outputs Aᵀ M A of tile t for output channel o, into rows z[0], z[1] from column `col`."""
    m = [[f"m[{4 * i + j}, t, o]" for j in range(4)] for i in range(4)]
    out = []
    for j in range(4):                        # Aᵀ M: rows 0+1+2, 1-2-3
        out += [f"s0{j} = {m[0][j]} + {m[1][j]} + {m[2][j]}", f"s1{j} = {m[1][j]} - {m[2][j]} - {m[3][j]}"]
    for i in range(2):
        out += [f"z[{i}, col, o] = s{i}0 + s{i}1 + s{i}2", f"z[{i}, col + 1, o] = s{i}1 - s{i}2 - s{i}3"]
    return "\n".join(out)


def _store(residual: bool, activation: str) -> str:
    """The tile row's outputs z (2 rows from output row 2·th, columns c0:c1) into y with the
    epilogue: each row's run of columns × channels is contiguous in z and y, one long loop
    (bias repeated along it in `brow`)."""
    lines = ["v = zf[i] + bf[i]" + (" + rf[i]" if residual else ""), ACTIVATIONS[activation], "yf[i] = v"]
    return ("bf = brow[c0 * c_out:c1 * c_out]\n"
            "for a in range(min(2, ho - 2 * th)):\n"
            "    zf = z[a].reshape(z.shape[1] * c_out)[c0 * c_out:c1 * c_out]\n"
            "    yf = y[n, 2 * th + a].reshape(wo * c_out)[c0 * c_out:c1 * c_out]\n"
            + ("    rf = res[n, 2 * th + a].reshape(wo * c_out)[c0 * c_out:c1 * c_out]\n" if residual else "")
            + "    for i in range(yf.shape[0]):\n"
            + _lines("\n".join(line for line in lines if line), 8))


# The parts the forward and the weight-gradient kernels share, as source.
BLOCKS = """
th_n, tw_n = (ho + 1) // 2, (wo + 1) // 2          # output tiles per column and row
per_image = th_n * tw_n
total = n_img * per_image
# tiles per block: at most TB, a multiple of P, and enough blocks for every worker
tb = min(TB, max(P, (total + 2 * workers - 1) // (2 * workers) + P - 1) // P * P)
blocks = (total + tb - 1) // tb
width = 2 * tw_n + 2                                # padded row: column u is input column u - pl
first, last = max(0, -pl), min(wd, width - pl)
"""
WORKER_INPUT = """
# input rows in a zero-bordered ring of 4 (row ih in slot ih % 4); slot 4 stays zero and
# stands for the rows of padding
xb = np.zeros((5, width, c_in), np.float32)
held = np.full(4, -1, np.int64)
slots = np.empty(4, np.int64)
# one row more than the block has tiles: the 16 positions' rows then do not lie a multiple of
# 4 KiB apart, which put them all in one L1 set (3x slower transforms)
vt = np.empty((16, tb + 1, c_in), np.float32)
"""
TILE_ROWS = """
t = 0
while t < count:                            # the block's tiles, a tile row's run at a time
    n = (b * tb + t) // per_image
    th = (b * tb + t - n * per_image) // tw_n
    tw = b * tb + t - n * per_image - th * tw_n
    run = min(count - t, tw_n - tw)
"""
TILE_ROW_INPUT = f"""
for i in range(4):
    ih = 2 * th - pt + i
    slots[i] = 4
    if ih >= 0 and ih < h:
        slots[i] = ih % 4
        if held[ih % 4] != n * h + ih:
            {ring_copy("ih % 4", "pl", "x", "wd")}
            held[ih % 4] = n * h + ih
c0 = 2 * tw
transform_input(xb[slots[0], c0:], xb[slots[1], c0:], xb[slots[2], c0:], xb[slots[3], c0:], vt, t, run)
"""


def _transform_input() -> str:
    return f'''
@njit(fastmath={{"contract"}}, cache=True, boundscheck=False, error_model="numpy", inline="never")
def transform_input(r0, r1, r2, r3, vt, t0, count):
    """`count` tiles of one tile row, from its first (column 0 of the rows) into V[:, t0:]."""
    no_alias()              # else a runtime overlap check per pair of its 20 streams: not vectorised
    for s in range(count):
        t, col = t0 + s, 2 * s
        for c in range(vt.shape[2]):
{_lines(_input_transform(), 12)}
'''


@functools.cache            # a program lists its kernels each time it is prepared
def forward(cot: int, pixels: int, residual: bool = False, activation: str = "none") -> Kernel:
    """y = act(conv3×3(x, w) + bias (+ res)), stride 1, any padding, weights as
    `transformed_weights(w, cot)`; the products on tiles of `pixels` tiles × `cot` channels."""
    save = "\n".join(f"mp{p} = mx[t0 + {p}][o0:o0 + COT]" for p in range(pixels))
    save += "\n" + "\n".join(f"mp{p}[{o}] = a{p}_{o}" for p in range(pixels) for o in range(cot))
    rows = "\n".join(f"s{p} = va[t0 + {p}]" for p in range(pixels))
    body = f'''
from cnnc.runtime.cpu.llvm_hints import no_alias

ZERO, SIX = np.float32(0), np.float32(6)
P, COT, TB = {pixels}, {cot}, {TILES_PER_BLOCK}


# M[ξ] = V[ξ]·U[ξ] for the block's `count` tiles, on register tiles of P output tiles × COT
# output channels (a function of its own, as in the direct kernel: compile time).
@njit(fastmath={{"contract"}}, cache=True, boundscheck=False, error_model="numpy", inline="never")
def products(vt, u, m, count):
    for xi in range(16):
        for ot in range(u.shape[1]):
            uo = u[xi, ot]
            o0 = ot * COT
            for t0 in range(0, count, P):
                va = vt[xi]
                mx = m[xi]
{_lines(_zero(pixels, cot), 16)}
{_lines(rows, 16)}
                for c in range(uo.shape[0]):
                    wc = uo[c]
{_lines(_accumulate(pixels, cot, lambda p: f"s{p}[c]"), 20)}
{_lines(save, 16)}

{_transform_input()}

@njit(fastmath={{"contract"}}, cache=True, boundscheck=False, error_model="numpy", inline="never")
def transform_output(m, z, t0, count):
    """`count` tiles of one tile row, M[:, t0:] into the two output rows z from column 0."""
    no_alias()
    for s in range(count):
        t, col = t0 + s, 2 * s
        for o in range(z.shape[2]):
{_lines(_output_transform(), 12)}


@njit("{SIGNATURE}", {OPTIONS})
def conv(x, u, bias, res, y, pt, pl, slope, workers):
    n_img, h, wd, c_in = x.shape
    _, ho, wo, c_out = y.shape
{_lines(BLOCKS, 4)}
    for k in prange(workers):
{_lines(WORKER_INPUT, 8)}        m = np.empty((16, tb + 1, u.shape[1] * COT), np.float32)
        z = np.empty((2, 2 * tw_n, c_out), np.float32)
        brow = np.empty(2 * tw_n * c_out, np.float32)  # the bias along a row of z
        for i in range(2 * tw_n):
            brow[i * c_out:(i + 1) * c_out] = bias
        for b in range(k * blocks // workers, (k + 1) * blocks // workers):
            count = min(tb, total - b * tb)
{_lines(TILE_ROWS, 12)}{_lines(TILE_ROW_INPUT, 16)}                t += run
            products(vt, u, m, count)
{_lines(TILE_ROWS, 12)}                c0, c1 = 2 * tw, min(wo, 2 * (tw + run))
                transform_output(m, z[:, c0:], t, run)
{_lines(_store(residual, activation), 16)}                t += run
'''
    epilogue = ("res_" if residual else "") + activation
    return Kernel(f"conv_winograd_f2x2_3x3_co{cot}_p{pixels}_{epilogue}",
                  f"convolution forward by Winograd F(2x2, 3x3), tile {pixels} x {cot} channels, "
                  f"epilogue {epilogue}", body)


# ---------------------------------------------------------------- weight gradient
# y = Aᵀ M A and M[ξ] = V[ξ]·U[ξ], U = G g Gᵀ, so dM = A dY Aᵀ per tile, dU[ξ] = V[ξ]ᵀ·dM[ξ]
# summed over the tiles, and dg = Gᵀ dU G.
SIGNATURE_WGRAD = "void(float32[:, :, :, ::1], float32[:, :, :, ::1], float32[:, :, :, ::1], int64, int64)"


def _gradient_transform() -> str:
    """dM = A dY Aᵀ (4×4) for output channel o of tile t, from dY in rows e0, e1 at column `col`;
    A = [[1, 0], [1, 1], [1, -1], [0, -1]]."""
    out = [f"p{i} = e{i}[col, o]" for i in range(2)] + [f"q{i} = e{i}[col + 1, o]" for i in range(2)]
    out += ["r00, r01 = p0, q0", "r10, r11 = p0 + p1, q0 + q1", "r20, r21 = p0 - p1, q0 - q1",
            "r30, r31 = -p1, -q1"]
    for i in range(4):
        out += [f"dm[{4 * i}, t, o] = r{i}0", f"dm[{4 * i + 1}, t, o] = r{i}0 + r{i}1",
                f"dm[{4 * i + 2}, t, o] = r{i}0 - r{i}1", f"dm[{4 * i + 3}, t, o] = -r{i}1"]
    return "\n".join(out)


def weight_gradient(du: np.ndarray) -> np.ndarray:
    """dU (16, C, O) → HWIO dg = Gᵀ dU G (3, 3, C, O)."""
    dg = np.empty((3, 3, *du.shape[1:]), np.float32)
    _filter_gradient(np.ascontiguousarray(du, dtype=np.float32), dg)
    return dg


# Gᵀ = [[1, ½, ½, 0], [0, ½, -½, 0], [0, ½, ½, 1]] on rows, then on columns, in one pass
# vectorised along the output channels (as _filter_transform).
@njit(cache=True, boundscheck=False, error_model="numpy")
def _filter_gradient(du, dg):
    no_alias()
    half = np.float32(0.5)
    for c in range(du.shape[1]):
        for o in range(du.shape[2]):
            for j in range(4):                           # Gᵀ·dU, column j: rows s0..s2
                a, b, d, e = du[j, c, o], du[4 + j, c, o], du[8 + j, c, o], du[12 + j, c, o]
                s0, s1, s2 = a + half * (b + d), half * (b - d), half * (b + d) + e
                if j == 0:
                    c00, c10, c20 = s0, s1, s2
                elif j == 1:
                    c01, c11, c21 = s0, s1, s2
                elif j == 2:
                    c02, c12, c22 = s0, s1, s2
                else:
                    c03, c13, c23 = s0, s1, s2
            for i, (a, b, d, e) in enumerate(((c00, c01, c02, c03), (c10, c11, c12, c13), (c20, c21, c22, c23))):
                dg[i, 0, c, o] = a + half * (b + d)
                dg[i, 1, c, o] = half * (b - d)
                dg[i, 2, c, o] = half * (b + d) + e


@functools.cache            # a program lists its kernels each time it is prepared
def weight_grad(cot: int, ctile: int) -> Kernel:
    """partial[k, ξ, c, o] += Σ over worker k's tiles of V[ξ, t, c]·dM[ξ, t, o], on register tiles
    of `ctile` input × `cot` output channels (`ctile` divides C and `cot` O); the caller adds
    the workers' partials and turns dU into dg (`weight_gradient`)."""
    acc = "\n".join(f"x{p} = xr[{p}]" for p in range(ctile))
    acc += "\n" + "\n".join(f"d{o} = dr[{o}]" for o in range(cot))
    acc += "\n" + "\n".join(f"a{p}_{o} += x{p} * d{o}" for p in range(ctile) for o in range(cot))
    load = "\n".join(f"g{p} = gx[c0 + {p}][o0:o0 + COT]" for p in range(ctile))
    load += "\n" + "\n".join(f"a{p}_{o} = g{p}[{o}]" for p in range(ctile) for o in range(cot))
    save = "\n".join(f"g{p}[{o}] = a{p}_{o}" for p in range(ctile) for o in range(cot))
    body = f'''
from cnnc.runtime.cpu.llvm_hints import no_alias

ZERO = np.float32(0)
P, CT, COT, TB = 1, {ctile}, {cot}, {TILES_PER_BLOCK}


# dU[ξ] += V[ξ]ᵀ·dM[ξ] over the block's `count` tiles: CT × COT accumulators per register tile
# (a function of its own, as in the direct kernels: compile time).
@njit(fastmath={{"contract"}}, cache=True, boundscheck=False, error_model="numpy", inline="never")
def products(vt, dm, du, count):
    for xi in range(16):
        va, da, gx = vt[xi], dm[xi], du[xi]
        for c0 in range(0, gx.shape[0], CT):
            for o0 in range(0, gx.shape[1], COT):
{_lines(load, 16)}
                for t in range(count):
                    xr = va[t][c0:c0 + CT]
                    dr = da[t][o0:o0 + COT]
{_lines(acc, 20)}
{_lines(save, 16)}
{_transform_input()}

@njit(fastmath={{"contract"}}, cache=True, boundscheck=False, error_model="numpy", inline="never")
def transform_gradient(e0, e1, dm, t0, count):
    """`count` tiles of one tile row: dY in rows e0, e1 from column 0 into dM[:, t0:]."""
    no_alias()
    for s in range(count):
        t, col = t0 + s, 2 * s
        for o in range(dm.shape[2]):
{_lines(_gradient_transform(), 12)}


@njit("{SIGNATURE_WGRAD}", {OPTIONS})
def weight_grad(x, dy, partial, pt, pl):
    n_img, h, wd, c_in = x.shape
    _, ho, wo, c_out = dy.shape
    workers = partial.shape[0]
{_lines(BLOCKS, 4)}
    for k in prange(workers):
{_lines(WORKER_INPUT, 8)}
        dm = np.empty((16, tb + 1, c_out), np.float32)
        # the two rows of dY of the current tile row, zero past its last column and row
        dr = np.zeros((2, 2 * tw_n, c_out), np.float32)
        dr_held = -1
        for b in range(k * blocks // workers, (k + 1) * blocks // workers):
            count = min(tb, total - b * tb)
{_lines(TILE_ROWS, 12)}
{_lines(TILE_ROW_INPUT, 16)}
                if dr_held != n * th_n + th:
                    dr[0, :wo] = dy[n, 2 * th]
                    if 2 * th + 1 < ho:
                        dr[1, :wo] = dy[n, 2 * th + 1]
                    else:
                        dr[1] = ZERO
                    dr_held = n * th_n + th
                transform_gradient(dr[0, c0:], dr[1, c0:], dm, t, run)
                t += run
            products(vt, dm, partial[k], count)
'''
    return Kernel(f"conv_winograd_f2x2_3x3_wgrad_co{cot}_ci{ctile}",
                  f"convolution weight gradient by Winograd F(2x2, 3x3), tile {ctile} x {cot} channels", body)
