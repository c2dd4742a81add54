"""Recurrent layers (Elman RNN, LSTM, GRU) over (N, T, F), and the highway layer: Numba kernels.

Same semantics, names and attributes as runtime/reference/recurrent.py (PyTorch's, batch_first,
one layer, h0 = c0 = 0); float32 throughout. One direction of a recurrent op runs as

    scan                one kernel: each thread owns a block of batch rows and runs the whole
                        time loop on them (rows never interact, so threads never wait for each
                        other). Per step: [h_{s−1}, x_s, 1] · [W_hhᵀ; W_ihᵀ; b] for its rows by
                        tiled_gemm's register tile, then the cell's gate math over the result
                        while it is in L1
    scan_bwd            the same for backpropagation through time: the cell's gate gradients of
                        the step, then d h_{s−1} = d gates · W_hh
    dW_ih, dW_hh, db    one GEMM over all N·T steps after the loop (two for the GRU; dx, when
                        wanted, another)

Layout inside (none of it crosses the op boundary): time-major in the direction's own step order
(the reverse direction reads x, and hands back y and dx, reversed), so the kernels know no
direction and one step's rows are one contiguous matrix; batch rows padded to a multiple of 4
(the register tile's height), units to a multiple of 64 (its width), gate blocks [i f g o] /
[r z n] of `padded units` each; weights packed once per call into the GEMM's panels. A cell is
two elementwise kernels (`_<cell>_step`, `_<cell>_step_bwd`) over a block of rows of one step;
`_scan` and `_scan_bwd` are the one time loop for all three. tanh and sigmoid are
runtime/cpu/approx.py's rational approximation.
"""
from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np
from numba import njit, prange

from .approx import sigmoid, tanh
from .llvm_hints import no_alias
from .tiled_gemm import DEPTH_BLOCK, ROWS, WIDTH, as_tiles, gemm, gemm_rows, panels, ready, round_up

F32 = np.float32
ZERO, HALF, ONE, SIX = F32(0), F32(0.5), F32(1), F32(6)
THREE, SIXTH, LEAKY_SLOPE = F32(3), F32(1 / 6), F32(0.01)   # the reference's leaky slope

RNN_TANH, RNN_RELU, LSTM, GRU = range(4)           # cell codes the kernels branch on
GATES = {RNN_TANH: 1, RNN_RELU: 1, LSTM: 4, GRU: 3}
SLOTS = {RNN_TANH: 0, RNN_RELU: 0, LSTM: 6, GRU: 4}   # per-unit values the tape keeps per step


# ---------------------------------------------------------------- cells, one step of a block of rows
# Everything is in the direction's step order (the reverse direction reads its input reversed).
# zs (T + 1, N', Z) holds, per step s, the row [h_{s−1}, x_s, 1] the step's product reads (h
# first, H' wide, so a cell's stores of h start on a cache line; Z rounds the row up to whole
# lines for the same reason), and after the last step [h_{T−1}, 0…]: a cell writes its h_s into
# slot s + 1. Forward: acc (N', G, H') holds [h_{s−1}, x_s, 1] · [W_hhᵀ; W_ihᵀ; b], biases
# included; the GRU's acc holds only the x part (its n gate multiplies the h part by r) and acc_h
# the h part (b_hn is not in it). Padded units see zero weights and biases: their h stays 0.
# The three cells take the same arguments (each ignores some), so the scans call them alike. The
# tape keeps every step for backward (slot = s, prev = s − 1) or, outside training, a ring of two
# that stays in cache (one slot would make the step's reads and writes overlap, and LLVM's
# overlap check would send the loop to its scalar version).

@njit(fastmath=True, cache=True)
def _rnn_step(acc, acc_h, b_hn, zs, width, tape, s, slot, prev, lo, hi, relu):
    no_alias()
    for r in range(lo, hi):
        h_new = zs[s + 1, r, :width]
        for u in range(h_new.size):
            z = acc[r, 0, u]
            h_new[u] = max(z, ZERO) if relu else tanh(z)


@njit(fastmath=True, cache=True)
def _lstm_step(acc, acc_h, b_hn, zs, width, tape, s, slot, prev, lo, hi, relu):
    """tape[slot] = i, f, g, o, c, tanh(c); c_{s−1} is in tape[prev]."""
    no_alias()
    for r in range(lo, hi):
        h_new = zs[s + 1, r, :width]
        for u in range(h_new.size):
            i, f = sigmoid(acc[r, 0, u]), sigmoid(acc[r, 1, u])
            g, o = tanh(acc[r, 2, u]), sigmoid(acc[r, 3, u])
            c = f * (tape[prev, r, 4, u] if s > 0 else ZERO) + i * g
            tanh_c = tanh(c)
            h_new[u] = o * tanh_c
            tape[slot, r, 0, u], tape[slot, r, 1, u], tape[slot, r, 2, u] = i, f, g
            tape[slot, r, 3, u], tape[slot, r, 4, u], tape[slot, r, 5, u] = o, c, tanh_c


@njit(fastmath=True, cache=True)
def _gru_step(acc, acc_h, b_hn, zs, width, tape, s, slot, prev, lo, hi, relu):
    """tape[slot] = r, z, n and W_hn h + b_hn (r gates it as a whole)."""
    no_alias()
    for r in range(lo, hi):
        h_prev, h_new = zs[s, r, :width], zs[s + 1, r, :width]
        for u in range(h_new.size):
            reset = sigmoid(acc[r, 0, u] + acc_h[r, 0, u])
            z = sigmoid(acc[r, 1, u] + acc_h[r, 1, u])
            gh_n = acc_h[r, 2, u] + b_hn[u]
            n = tanh(acc[r, 2, u] + reset * gh_n)
            h_new[u] = (ONE - z) * n + z * h_prev[u]
            tape[slot, r, 0, u], tape[slot, r, 1, u], tape[slot, r, 2, u], tape[slot, r, 3, u] = reset, z, n, gh_n


# Backward: dh = carry (d gates_{s+1} · W_hh, (N', H')) + the loss's dh of step s (dhs[ds], none
# when ds < 0); `extra` carries what does not go through W_hh (the LSTM's dc, the GRU's dh·z).
# They write the step's gate gradients through W_hh (dgh) and through W_ih (dgi: dgh itself but
# for the GRU, and then only dgh is touched, as no_alias requires) in tiled_gemm's panels,
# (G·H'/64, T·N', 64): gate q, unit 64·p + j of row n at [q·H'/64 + p, n, j], so they are at once
# the products' B operand and, for d h_{s−1}, an A one. Padded units get dh = 0 everywhere, so
# their gradients are exactly 0.

@njit(fastmath=True, cache=True)
def _rnn_step_bwd(carry, extra, dhs, ds, zs, tape, s, dgi, dgh, lo, hi, relu):
    no_alias()
    panels = carry.shape[1] // WIDTH
    for r in range(lo, hi):
        row, h_new = s * carry.shape[0] + r, zs[s + 1, r, :carry.shape[1]]
        for p in range(panels):
            for j in range(WIDTH):
                u = p * WIDTH + j
                dh = carry[r, u] + (dhs[ds, r, u] if ds >= 0 else ZERO)
                h = h_new[u]
                dgh[p, row, j] = (dh if h > ZERO else ZERO) if relu else dh * (ONE - h * h)


@njit(fastmath=True, cache=True)
def _lstm_step_bwd(carry, extra, dhs, ds, zs, tape, s, dgi, dgh, lo, hi, relu):
    no_alias()
    panels = carry.shape[1] // WIDTH
    for r in range(lo, hi):
        row = s * carry.shape[0] + r
        for p in range(panels):
            for j in range(WIDTH):
                u = p * WIDTH + j
                dh = carry[r, u] + (dhs[ds, r, u] if ds >= 0 else ZERO)
                i, f, g, o = tape[s, r, 0, u], tape[s, r, 1, u], tape[s, r, 2, u], tape[s, r, 3, u]
                tanh_c = tape[s, r, 5, u]
                c_prev = tape[s - 1, r, 4, u] if s > 0 else ZERO
                dc = extra[r, u] + dh * o * (ONE - tanh_c * tanh_c)
                dgh[p, row, j] = dc * g * i * (ONE - i)
                dgh[panels + p, row, j] = dc * c_prev * f * (ONE - f)
                dgh[2 * panels + p, row, j] = dc * i * (ONE - g * g)
                dgh[3 * panels + p, row, j] = dh * tanh_c * o * (ONE - o)
                extra[r, u] = dc * f


@njit(fastmath=True, cache=True)
def _gru_step_bwd(carry, extra, dhs, ds, zs, tape, s, dgi, dgh, lo, hi, relu):
    no_alias()
    panels = carry.shape[1] // WIDTH
    for r in range(lo, hi):
        row, h_prev = s * carry.shape[0] + r, zs[s, r, :carry.shape[1]]
        for p in range(panels):
            for j in range(WIDTH):
                u = p * WIDTH + j
                dh = carry[r, u] + extra[r, u] + (dhs[ds, r, u] if ds >= 0 else ZERO)
                reset, z, n, gh_n = tape[s, r, 0, u], tape[s, r, 1, u], tape[s, r, 2, u], tape[s, r, 3, u]
                dn = dh * (ONE - z) * (ONE - n * n)
                dr = dn * gh_n * reset * (ONE - reset)
                dz = dh * (h_prev[u] - n) * z * (ONE - z)
                dgi[p, row, j] = dgh[p, row, j] = dr
                dgi[panels + p, row, j] = dgh[panels + p, row, j] = dz
                dgi[2 * panels + p, row, j] = dn
                dgh[2 * panels + p, row, j] = dn * reset
                extra[r, u] = dh * z


# ---------------------------------------------------------------- the time loops

@njit(parallel=True, fastmath=True, cache=True)
def _scan(cell, zs, width, w, b_hn, bounds, tape, acc, acc_tiles, acc_h, acc_h_tiles):
    """Every step of one direction. zs: see above, its x columns filled, its h columns zero;
    w: [W_hhᵀ; 0…; W_ihᵀ; b] with gates packed, in panels (G·H'/64, H' + F + 1, 64); acc, acc_h:
    (N', G, H') scratch matrices, acc_tiles, acc_h_tiles: their tiles views."""
    steps, rows, row_width = zs.shape[0] - 1, zs.shape[1], zs.shape[2]
    z_flat = zs.reshape(zs.size)
    for block in prange(len(bounds) - 1):
        lo, hi = bounds[block], bounds[block + 1]
        top = (hi + ROWS - 1) // ROWS * ROWS              # the tile's rows: lo, hi rounded up
        for s in range(steps):
            row0 = s * rows * row_width
            slot, prev = s % tape.shape[0], (s - 1) % tape.shape[0]
            if cell == GRU:                               # the h and the x parts apart
                gemm_rows(z_flat, row0, row_width, 1, DEPTH_BLOCK, DEPTH_BLOCK, width, w, 0, acc_h_tiles,
                          lo, top, False)
                gemm_rows(z_flat, row0 + width, row_width, 1, DEPTH_BLOCK, DEPTH_BLOCK, w.shape[1] - width,
                          w, width, acc_tiles, lo, top, False)
                _gru_step(acc, acc_h, b_hn, zs, width, tape, s, slot, prev, lo, hi, False)
            else:
                gemm_rows(z_flat, row0, row_width, 1, DEPTH_BLOCK, DEPTH_BLOCK, w.shape[1], w, 0, acc_tiles,
                          lo, top, False)
                if cell == LSTM:
                    _lstm_step(acc, acc_h, b_hn, zs, width, tape, s, slot, prev, lo, hi, False)
                else:
                    _rnn_step(acc, acc_h, b_hn, zs, width, tape, s, slot, prev, lo, hi, cell == RNN_RELU)


@njit(parallel=True, fastmath=True, cache=True)
def _scan_bwd(cell, dhs, every_step, zs, tape, w_hh, bounds, dgi, dgh, carry, carry_tiles, extra):
    """Backpropagation through time of one direction. dhs: the loss's dh of every step (T, N', H'),
    or of the last one only (1, N', H'); w_hh: the packed W_hh in panels, (H'/64, G·H', 64);
    carry, extra: (N', H') zeros; carry_tiles: the tiles view of carry."""
    steps, rows = zs.shape[0] - 1, zs.shape[1]
    gate_width = WIDTH * dgh.shape[0]
    dgh_flat = dgh.reshape(dgh.size)
    for block in prange(len(bounds) - 1):
        lo, hi = bounds[block], bounds[block + 1]
        top = (hi + ROWS - 1) // ROWS * ROWS
        for s in range(steps - 1, -1, -1):
            ds = s if every_step else (0 if s == steps - 1 else -1)
            if cell == LSTM:
                _lstm_step_bwd(carry, extra, dhs, ds, zs, tape, s, dgi, dgh, lo, hi, False)
            elif cell == GRU:
                _gru_step_bwd(carry, extra, dhs, ds, zs, tape, s, dgi, dgh, lo, hi, False)
            else:
                _rnn_step_bwd(carry, extra, dhs, ds, zs, tape, s, dgi, dgh, lo, hi, cell == RNN_RELU)
            if s > 0:                                     # d h_{s−1} = d gates_s · W_hh
                gemm_rows(dgh_flat, s * rows * WIDTH, WIDTH, 1, dgh.shape[1] * WIDTH, WIDTH, gate_width,
                          w_hh, 0, carry_tiles, lo, top, False)


# ---------------------------------------------------------------- one direction, around the scans

class Layout(NamedTuple):
    """Sizes of one op call, real and padded (see the module doc)."""
    n: int              # sequences
    steps: int
    features: int
    units: int
    gates: int

    @property
    def rows(self):             # N': whole register tiles of rows
        return round_up(self.n, ROWS)

    @property
    def width(self):            # H': whole tiles of columns
        return round_up(self.units, WIDTH)

    @property
    def z_depth(self):          # the columns of zs a product reads: h (H'), x, 1
        return self.width + self.features + 1

    @property
    def z_width(self):          # zs's row: whole cache lines (16 floats)
        return round_up(self.z_depth, 16)

    @property
    def gate_width(self):       # G·H'
        return self.gates * self.width

    def bounds(self, threads: int) -> np.ndarray:
        """Row blocks, one per thread: each starts on a whole tile of rows; the last ends at n."""
        tiles = self.rows // ROWS
        parts = max(1, min(threads, tiles))
        return np.array([min(self.n, ROWS * (tiles * k // parts)) for k in range(parts + 1)], np.int64)


def _gate_rows(w, layout: Layout):
    """(G·H, …) → (G·H', …): each gate's block of rows padded to H' with zeros."""
    if layout.width == layout.units:
        return w
    packed = np.zeros((layout.gates, layout.width) + w.shape[1:], F32)
    packed[:, :layout.units] = w.reshape((layout.gates, layout.units) + w.shape[1:])
    return packed.reshape((layout.gate_width,) + w.shape[1:])


def _zero(b, size):
    return np.zeros(size, F32) if b is None else b


def _step_weights(p, cell, layout: Layout):
    """[W_hhᵀ; 0…; W_ihᵀ; b] (H' + F + 1, G·H') in panels, the B of a step's product, and b_hn (H')
    for the GRU. b is the bias the x part adds: b_ih + b_hh, the GRU's n gate b_in alone."""
    w_ih, w_hh, b_ih, b_hh = p
    lay = layout
    g = lay.gates * lay.units
    b_ih, b_hh = _zero(b_ih, g), _zero(b_hh, g)
    bias = b_ih + b_hh
    if cell == GRU:
        bias[2 * lay.units:] = b_ih[2 * lay.units:]
    w = np.zeros((lay.gate_width // WIDTH, lay.z_depth, WIDTH), F32)
    for first, part in ((0, w_hh), (lay.width, w_ih), (lay.width + lay.features, bias[:, None])):
        # rows of W are columns of Wᵀ: panel p, row k, lane j = W[64·p + j, k]
        w[:, first:first + part.shape[1]] = _gate_rows(part, lay).reshape(-1, WIDTH, part.shape[1]).transpose(0, 2, 1)
    b_hn = np.zeros(lay.width, F32)
    b_hn[:lay.units] = b_hh[2 * lay.units:] if cell == GRU else 0
    return w, b_hn


def _steps(x, layout: Layout, reverse: bool):
    """zs for one direction: x (N, T, F) in the direction's step order after the h columns, then
    a column of ones."""
    lay = layout
    zs = np.zeros((lay.steps + 1, lay.rows, lay.z_width), F32)
    x_columns = slice(lay.width, lay.width + lay.features)
    zs[:lay.steps, :lay.n, x_columns] = (x[:, ::-1] if reverse else x).transpose(1, 0, 2)
    zs[:lay.steps, :lay.n, lay.z_depth - 1] = 1
    return zs


def _hidden(zs, layout: Layout, reverse: bool):
    """Every step's h from zs, (N, T, H) in time order."""
    hs = zs[1:, :layout.n, :layout.units].transpose(1, 0, 2)
    return hs[:, ::-1] if reverse else hs


def _product(a, rs, ks, kb, rows, depth, b, block=DEPTH_BLOCK):
    """A·B in tiled_gemm's operand forms: (rows rounded up to 4, 64 × B's panels)."""
    c = np.empty((round_up(max(rows, 1), ROWS), WIDTH * b.shape[0]), F32)
    gemm(a, rs, ks, kb, block, rows, depth, b, 0, as_tiles(c))
    return c


def _run(cell, x, p, reverse, training: bool, layout: Layout):
    """The forward of one direction: zs (its h included) and the tape (every step's if training)."""
    lay = layout
    zs = _steps(x, lay, reverse)
    tape = np.empty((lay.steps if training else 2, lay.rows, SLOTS[cell], lay.width), F32)
    w, b_hn = _step_weights(p, cell, lay)
    acc, acc_h = np.empty((lay.rows, lay.gate_width), F32), np.empty((lay.rows, lay.gate_width), F32)
    by_gate = (lay.rows, lay.gates, lay.width)
    _scan(cell, zs, lay.width, w, b_hn, lay.bounds(numba.get_num_threads()), tape,
          acc.reshape(by_gate), as_tiles(acc), acc_h.reshape(by_gate), as_tiles(acc_h))
    return zs, tape


def _gate_gradients(layout: Layout):
    """(G·H'/64, T·N', 64) panels, zero in the padded rows (which the products sum over)."""
    lay = layout
    g = np.empty((lay.gate_width // WIDTH, lay.steps, lay.rows, WIDTH), F32)
    g[:, :, lay.n:] = 0
    return g.reshape(lay.gate_width // WIDTH, lay.steps * lay.rows, WIDTH)


def _unpack(c, first: int, count: int, layout: Layout):
    """Rows first … first + count of a product (·, G·H') holding Wᵀ → W (G·H, count)."""
    lay = layout
    w_t = c[first:first + count].reshape(count, lay.gates, lay.width)[:, :, :lay.units]
    return np.ascontiguousarray(w_t.transpose(1, 2, 0)).reshape(lay.gates * lay.units, count)


def _weight_gradients(cell, zs, dgi, dgh, layout: Layout):
    """[dW_ih, dW_hh, db_ih, db_hh] from Σ_s zs_sᵀ · d gates_s: the rows of zs are [h_{s−1}, x, 1],
    so one product gives dW_hhᵀ, dW_ihᵀ and db. The GRU's two gradients differ in the n gate:
    two products, and db_hh from the h part's gradient (a product with a column of ones)."""
    lay = layout
    k, width = lay.steps * lay.rows, zs.shape[2]
    z_flat, by_block = zs.reshape(-1), DEPTH_BLOCK * width
    if cell != GRU:
        c_h = _product(z_flat, 1, width, by_block, lay.z_depth, k, dgh)
        c_x, db_hh = c_h[lay.width:], c_h[lay.width + lay.features]
    else:
        c_h = _product(z_flat, 1, width, by_block, lay.units, k, dgh)
        c_x = _product(z_flat[lay.width:], 1, width, by_block, lay.features + 1, k, dgi)
        db_hh = _product(np.ones(k, F32), 0, 1, DEPTH_BLOCK, 1, k, dgh)[0]
    db_ih = c_x[lay.features]
    vectors = [v.reshape(lay.gates, lay.width)[:, :lay.units].reshape(-1) for v in (db_ih, db_hh)]
    return [_unpack(c_x, 0, lay.features, lay), _unpack(c_h, 0, lay.units, lay), *vectors]


def _run_bwd(cell, p, reverse, zs, tape, dy, sequences, want_dx, layout: Layout):
    """Gradients of one direction from dy (its share of the op's): dx (N, T, F) or None, and
    [dW_ih, dW_hh, db_ih, db_hh]."""
    w_ih, w_hh, b_ih, b_hh = p
    lay = layout
    dhs = np.zeros((lay.steps if sequences else 1, lay.rows, lay.width), F32)
    if sequences:
        dhs[:, :lay.n, :lay.units] = (dy[:, ::-1] if reverse else dy).transpose(1, 0, 2)
    else:
        dhs[0, :lay.n, :lay.units] = dy
    dgh = _gate_gradients(lay)
    dgi = _gate_gradients(lay) if cell == GRU else dgh
    carry = np.zeros((lay.rows, lay.width), F32)
    _scan_bwd(cell, dhs, sequences, zs, tape, panels(_gate_rows(w_hh, lay)),
              lay.bounds(numba.get_num_threads()), dgi, dgh, carry, as_tiles(carry), np.zeros_like(carry))
    grads = _weight_gradients(cell, zs, dgi, dgh, lay)
    grads[2:] = [None if b is None else g for b, g in zip((b_ih, b_hh), grads[2:])]
    dx = None
    if want_dx:
        k = lay.steps * lay.rows
        c = _product(dgi.reshape(-1), WIDTH, 1, k * WIDTH, k, lay.gate_width, panels(_gate_rows(w_ih, lay)),
                     block=WIDTH)
        dx = c.reshape(lay.steps, lay.rows, -1)[:, :lay.n, :lay.features].transpose(1, 0, 2)
        dx = dx[:, ::-1] if reverse else dx
    return dx, grads


# ---------------------------------------------------------------- the op: one or two directions

def _cell(op: str, attrs) -> int:
    if op == "rnn":
        return RNN_RELU if attrs.get("activation", "tanh") == "relu" else RNN_TANH
    return LSTM if op == "lstm" else GRU


def _directions(ps, attrs):
    """[((w_ih, w_hh, b_ih, b_hh), reverse)] from ps in RNN_PARAMS order, as float32."""
    cast = [None if p is None else np.ascontiguousarray(p, F32) for p in ps]
    forward = [(tuple(cast[:4]), False)]
    return forward + [(tuple(cast[4:8]), True)] if attrs.get("bidirectional") else forward


def _recurrent_forward(op, xs, ps, attrs, training: bool):
    ready()                                 # the GEMM's generated tile, which the scans call
    x = np.asarray(xs[0], F32)
    cell = _cell(op, attrs)
    directions = _directions(ps, attrs)
    n, steps, features = x.shape
    units = directions[0][0][1].shape[1]
    layout = Layout(n, steps, features, units, GATES[cell])
    runs = [(p, reverse, *_run(cell, x, p, reverse, training, layout)) for p, reverse in directions]
    outs = [_hidden(zs, layout, reverse) for _, reverse, zs, _ in runs]
    if not attrs.get("return_sequences"):   # PyTorch's h_n: forward after step T−1, backward after 0
        outs = [hs[:, 0 if reverse else -1] for hs, (_, reverse, _, _) in zip(outs, runs)]
    return np.concatenate(outs, axis=-1), (cell, layout, runs, training)


def _recurrent_backward(saved, dy, attrs):
    ready()
    cell, layout, runs, training = saved
    if not training:                        # the tape kept only the last two steps
        raise ValueError("backward of a recurrent op needs its forward run in training (ctx.train)")
    sequences = bool(attrs.get("return_sequences"))
    want_dx = (attrs.get("input_grads") or [True])[0]
    dy = np.asarray(dy, F32)
    dx, dps = None, []
    for k, (p, reverse, zs, tape) in enumerate(runs):
        dy_k = dy[..., k * layout.units:(k + 1) * layout.units]
        dx_k, grads = _run_bwd(cell, p, reverse, zs, tape, dy_k, sequences, want_dx, layout)
        dx = dx_k if dx is None else dx + dx_k
        dps += grads
    return [None if dx is None else np.ascontiguousarray(dx)], dps + [None] * (8 - len(dps))


def rnn_fwd(xs, ps, attrs, ctx):
    return _recurrent_forward("rnn", xs, ps, attrs, ctx.train)


def rnn_bwd(saved, dy, attrs):
    return _recurrent_backward(saved, dy, attrs)


def lstm_fwd(xs, ps, attrs, ctx):
    return _recurrent_forward("lstm", xs, ps, attrs, ctx.train)


def lstm_bwd(saved, dy, attrs):
    return _recurrent_backward(saved, dy, attrs)


def gru_fwd(xs, ps, attrs, ctx):
    return _recurrent_forward("gru", xs, ps, attrs, ctx.train)


def gru_bwd(saved, dy, attrs):
    return _recurrent_backward(saved, dy, attrs)


def _vector(b, size, dtype):
    return np.zeros(size, dtype) if b is None else np.asarray(b, dtype)


# Highway (Srivastava et al. 2015): y = H·T + x·(1 − T), H = act(x W_Hᵀ + b_H), T = σ(x W_Tᵀ + b_T).
# Both products are one GEMM against [W_H; W_T]; one kernel does the rest, one row per thread.

_ACTIVATION_CODES = {name: code for code, name in enumerate(
    ("none", "relu", "relu6", "leaky_relu", "sigmoid", "hard_sigmoid", "tanh", "softmax"))}
_SOFTMAX = _ACTIVATION_CODES["softmax"]


@njit(cache=True, fastmath=True)
def _activate(code, z):
    if code == 1:
        return z if z > ZERO else ZERO
    if code == 2:
        return min(max(z, ZERO), SIX)
    if code == 3:
        return z if z > ZERO else LEAKY_SLOPE * z
    if code == 4:
        return sigmoid(z)
    if code == 5:
        return min(max(z * SIXTH + HALF, ZERO), ONE)
    if code == 6:
        return tanh(z)
    return z


@njit(cache=True, fastmath=True)
def _activate_bwd(code, z, y, dy):
    """dz from dy for elementwise codes (softmax is done per row by the caller)."""
    if code == 1:
        return dy if z > ZERO else ZERO
    if code == 2:
        return dy if ZERO < z < SIX else ZERO
    if code == 3:
        return dy if z > ZERO else LEAKY_SLOPE * dy
    if code == 4:
        return dy * y * (ONE - y)
    if code == 5:
        return dy * SIXTH if -THREE < z < THREE else ZERO
    if code == 6:
        return dy * (ONE - y * y)
    return dy


@njit(parallel=True, cache=True, fastmath=True)
def _highway(x, z, bias, code, h, y):
    """z (N, 2F) = x [W_H; W_T]ᵀ on entry; on exit z[:, :F] is H's pre-activation and z[:, F:]
    the gate T. Writes h = H and y."""
    n, f = x.shape
    for r in prange(n):
        for j in range(2 * f):
            z[r, j] += bias[j]
        if code == _SOFTMAX:
            top = z[r, 0]
            for j in range(1, f):
                top = max(top, z[r, j])
            total = ZERO
            for j in range(f):
                h[r, j] = np.exp(z[r, j] - top)
                total += h[r, j]
            for j in range(f):
                h[r, j] /= total
        else:
            for j in range(f):
                h[r, j] = _activate(code, z[r, j])
        for j in range(f):
            gate = sigmoid(z[r, f + j])
            z[r, f + j] = gate
            y[r, j] = h[r, j] * gate + x[r, j] * (ONE - gate)


@njit(parallel=True, cache=True, fastmath=True)
def _highway_bwd(x, z, h, dy, code, dz, dx):
    """dz (N, 2F): gradients of H's and T's pre-activations; dx: the carry path's share."""
    n, f = x.shape
    for r in prange(n):
        dot = ZERO                               # softmax: sum(dH · H)
        for j in range(f):
            gate = z[r, f + j]
            dz[r, j] = dy[r, j] * gate           # dH for now
            dz[r, f + j] = dy[r, j] * (h[r, j] - x[r, j]) * gate * (ONE - gate)
            dx[r, j] = dy[r, j] * (ONE - gate)
            dot += dz[r, j] * h[r, j]
        for j in range(f):
            if code == _SOFTMAX:
                dz[r, j] = h[r, j] * (dz[r, j] - dot)
            else:
                dz[r, j] = _activate_bwd(code, z[r, j], h[r, j], dz[r, j])


def highway_fwd(xs, ps, attrs, ctx):
    x = np.ascontiguousarray(xs[0])
    f = x.shape[1]
    w_h, b_h, w_t, b_t = ps
    weights = np.concatenate([w_h, w_t]).astype(x.dtype, copy=False)          # (2F, F)
    bias = np.concatenate([_vector(b_h, f, x.dtype), _vector(b_t, f, x.dtype)])
    z = np.dot(x, weights.T)
    h, y = np.empty_like(x), np.empty_like(x)
    _highway(x, z, bias, _ACTIVATION_CODES[attrs.get("activation", "relu")], h, y)
    return y, (x, weights, z, h, b_h is not None, b_t is not None)


def highway_bwd(saved, dy, attrs):
    x, weights, z, h, has_b_h, has_b_t = saved
    f = x.shape[1]
    dz, dx = np.empty_like(z), np.empty_like(x)
    _highway_bwd(x, z, h, np.ascontiguousarray(dy, x.dtype), _ACTIVATION_CODES[attrs.get("activation", "relu")],
                 dz, dx)
    dx += np.dot(dz, weights)
    dw = np.dot(dz.T, x)
    db = dz.sum(axis=0)
    return [dx], [dw[:f], db[:f] if has_b_h else None, dw[f:], db[f:] if has_b_t else None]


# ---------------------------------------------------------------- the kernels a program needs
def recurrent_kernels(step, shapes, training, residual=False, activation="none"):
    """Every recurrent op runs its products through tiled_gemm's one generated tile."""
    from .tiled_gemm import TILE
    return [TILE]


KERNELS = {"rnn": recurrent_kernels, "lstm": recurrent_kernels, "gru": recurrent_kernels}
