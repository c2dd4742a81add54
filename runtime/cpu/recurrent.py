"""Recurrent layers (Elman RNN, LSTM, GRU) over (N, T, F), and the highway layer: Numba kernels.

Same semantics, names and attributes as runtime/reference/recurrent.py (PyTorch's, batch_first,
one layer, h0 = c0 = 0). One direction of a recurrent op runs as

    gi = x W_ihᵀ                      one GEMM over all N·T steps (numpy)
    scan                              one Numba kernel: for each step, h W_hhᵀ (a loop over a
                                      block of batch rows, four rows of W_hh per pass) fused
                                      with the biases and the gate math; the tape goes to arrays
    scan_bwd                          one Numba kernel: backpropagation through time, giving
                                      every step's gate gradients d gi, d gh (N, T, G)
    dx, dW_ih, dW_hh, db              four GEMMs / sums over all N·T steps (numpy)

Batch rows never interact in a recurrence, so each kernel runs its time loop inside a prange
over blocks of batch rows: no synchronisation per step, and each block reuses a row of W_hh
for all its rows. Kernels are dtype-generic (float32 in training, float64 in gradient checks);
constants are float32 so they never widen float32 arithmetic.
"""
from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange

ZERO, HALF, ONE, TWO, SIX = np.float32(0), np.float32(0.5), np.float32(1), np.float32(2), np.float32(6)
THREE, SIXTH, LEAKY_SLOPE = np.float32(3), np.float32(1 / 6), np.float32(0.01)   # reference's slope


# Shared pieces, called from the kernels (LLVM inlines them).

@njit(cache=True, fastmath=True)
def _tanh(z):
    """tanh through e = exp(−2|z|) ≤ 1, nothing overflows: absolute error ≤ 1.5e-7 in float32
    (relative error grows near 0, where 1 − e cancels); 4× cheaper than libm's tanhf here."""
    e = np.exp(-TWO * abs(z))
    t = (ONE - e) / (ONE + e)
    return t if z >= ZERO else -t


@njit(cache=True, fastmath=True)
def _sigmoid(z):
    e = np.exp(-abs(z))                         # ≤ 1: no overflow for large |z|
    return ONE / (ONE + e) if z >= ZERO else e / (ONE + e)


@njit(cache=True, fastmath=True)
def _add_h_w(h, w_t, acc, rows):
    """acc[:rows] += h[:rows] @ w_t, w_t (H, G). Four rows of w_t per pass over acc (they stay
    in L1 for the whole block of batch rows): a quarter of the accumulator traffic."""
    units, width = w_t.shape
    k = 0
    while k + 4 <= units:
        for r in range(rows):
            h0, h1, h2, h3 = h[r, k], h[r, k + 1], h[r, k + 2], h[r, k + 3]
            for g in range(width):
                acc[r, g] += h0 * w_t[k, g] + h1 * w_t[k + 1, g] + h2 * w_t[k + 2, g] + h3 * w_t[k + 3, g]
        k += 4
    for k in range(k, units):
        for r in range(rows):
            hk = h[r, k]
            for g in range(width):
                acc[r, g] += hk * w_t[k, g]


@njit(cache=True, fastmath=True)
def _add_d_w(d, w, dh, rows):
    """dh[:rows] += d[:rows] @ w, w (G, H); four rows of w per pass, as `_add_h_w`."""
    width, units = w.shape
    g = 0
    while g + 4 <= width:
        for r in range(rows):
            d0, d1, d2, d3 = d[r, g], d[r, g + 1], d[r, g + 2], d[r, g + 3]
            for k in range(units):
                dh[r, k] += d0 * w[g, k] + d1 * w[g + 1, k] + d2 * w[g + 2, k] + d3 * w[g + 3, k]
        g += 4
    for g in range(g, width):
        for r in range(rows):
            dg = d[r, g]
            for k in range(units):
                dh[r, k] += dg * w[g, k]


@njit(cache=True)
def _step(s, steps, reverse):
    """Time index of the s-th step processed, and that of the step before it (−1: none)."""
    if reverse:
        t = steps - 1 - s
        return t, t + 1 if t + 1 < steps else -1
    return s, s - 1


# Forward scans. `gates` (N, T, G) holds x W_ihᵀ on entry and the tape's gate values on exit.

@njit(parallel=True, cache=True, fastmath=True)
def _rnn_scan(gates, w_hh_t, bias, relu, reverse, block, hs):
    n, steps, units = hs.shape
    for b in prange((n + block - 1) // block):
        r0 = b * block
        rows = min(block, n - r0)
        h = np.zeros((block, units), hs.dtype)
        acc = np.empty((block, units), hs.dtype)
        for s in range(steps):
            t, _ = _step(s, steps, reverse)
            for r in range(rows):
                for j in range(units):
                    acc[r, j] = gates[r0 + r, t, j] + bias[j]
            _add_h_w(h, w_hh_t, acc, rows)
            for r in range(rows):
                for j in range(units):
                    z = acc[r, j]
                    v = (z if z > ZERO else ZERO) if relu else _tanh(z)
                    h[r, j] = v
                    hs[r0 + r, t, j] = v


@njit(parallel=True, cache=True, fastmath=True)
def _lstm_scan(gates, w_hh_t, bias, reverse, block, hs, cs, tanh_cs):
    n, steps, units = hs.shape
    for b in prange((n + block - 1) // block):
        r0 = b * block
        rows = min(block, n - r0)
        h = np.zeros((block, units), hs.dtype)
        c = np.zeros((block, units), hs.dtype)
        acc = np.empty((block, 4 * units), hs.dtype)
        for s in range(steps):
            t, _ = _step(s, steps, reverse)
            for r in range(rows):
                for g in range(4 * units):
                    acc[r, g] = gates[r0 + r, t, g] + bias[g]
            _add_h_w(h, w_hh_t, acc, rows)
            for r in range(rows):
                tape = gates[r0 + r, t]
                for j in range(units):
                    i = _sigmoid(acc[r, j])
                    f = _sigmoid(acc[r, units + j])
                    g = _tanh(acc[r, 2 * units + j])
                    o = _sigmoid(acc[r, 3 * units + j])
                    c_new = f * c[r, j] + i * g
                    tanh_c = _tanh(c_new)
                    c[r, j] = c_new
                    h[r, j] = o * tanh_c
                    tape[j], tape[units + j], tape[2 * units + j], tape[3 * units + j] = i, f, g, o
                    hs[r0 + r, t, j] = o * tanh_c
                    cs[r0 + r, t, j] = c_new
                    tanh_cs[r0 + r, t, j] = tanh_c


@njit(parallel=True, cache=True, fastmath=True)
def _gru_scan(gates, w_hh_t, b_ih, b_hh, reverse, block, hs, gh_ns):
    n, steps, units = hs.shape
    for b in prange((n + block - 1) // block):
        r0 = b * block
        rows = min(block, n - r0)
        h = np.zeros((block, units), hs.dtype)
        acc = np.empty((block, 3 * units), hs.dtype)
        for s in range(steps):
            t, _ = _step(s, steps, reverse)
            for r in range(rows):
                for g in range(3 * units):
                    acc[r, g] = b_hh[g]
            _add_h_w(h, w_hh_t, acc, rows)
            for r in range(rows):
                tape = gates[r0 + r, t]
                for j in range(units):
                    rg = _sigmoid(tape[j] + b_ih[j] + acc[r, j])
                    z = _sigmoid(tape[units + j] + b_ih[units + j] + acc[r, units + j])
                    gh_n = acc[r, 2 * units + j]             # r gates W_hn h + b_hn together
                    ng = _tanh(tape[2 * units + j] + b_ih[2 * units + j] + rg * gh_n)
                    h_new = (ONE - z) * ng + z * h[r, j]
                    h[r, j] = h_new
                    tape[j], tape[units + j], tape[2 * units + j] = rg, z, ng
                    gh_ns[r0 + r, t, j] = gh_n
                    hs[r0 + r, t, j] = h_new


# Backward scans: dhs (N, T, H) is the loss gradient of each step's h; they write d gi (and,
# for the GRU, d gh; for the others it is the same array) of every step.

@njit(parallel=True, cache=True, fastmath=True)
def _rnn_scan_bwd(hs, dhs, w_hh, relu, reverse, block, dgates):
    n, steps, units = hs.shape
    for b in prange((n + block - 1) // block):
        r0 = b * block
        rows = min(block, n - r0)
        dh = np.zeros((block, units), hs.dtype)
        d = np.empty((block, units), hs.dtype)
        for s in range(steps - 1, -1, -1):
            t, _ = _step(s, steps, reverse)
            for r in range(rows):
                for j in range(units):
                    dhv = dh[r, j] + dhs[r0 + r, t, j]
                    hv = hs[r0 + r, t, j]
                    dz = (dhv if hv > ZERO else ZERO) if relu else dhv * (ONE - hv * hv)
                    d[r, j] = dz
                    dgates[r0 + r, t, j] = dz
                    dh[r, j] = ZERO
            _add_d_w(d, w_hh, dh, rows)


@njit(parallel=True, cache=True, fastmath=True)
def _lstm_scan_bwd(gates, cs, tanh_cs, dhs, w_hh, reverse, block, dgates):
    n, steps, units = cs.shape
    for b in prange((n + block - 1) // block):
        r0 = b * block
        rows = min(block, n - r0)
        dh = np.zeros((block, units), cs.dtype)
        dc = np.zeros((block, units), cs.dtype)
        d = np.empty((block, 4 * units), cs.dtype)
        for s in range(steps - 1, -1, -1):
            t, tp = _step(s, steps, reverse)
            for r in range(rows):
                tape = gates[r0 + r, t]
                for j in range(units):
                    i, f, g, o = tape[j], tape[units + j], tape[2 * units + j], tape[3 * units + j]
                    tanh_c = tanh_cs[r0 + r, t, j]
                    c_prev = cs[r0 + r, tp, j] if tp >= 0 else ZERO
                    dhv = dh[r, j] + dhs[r0 + r, t, j]
                    dcv = dc[r, j] + dhv * o * (ONE - tanh_c * tanh_c)
                    d[r, j] = dcv * g * i * (ONE - i)
                    d[r, units + j] = dcv * c_prev * f * (ONE - f)
                    d[r, 2 * units + j] = dcv * i * (ONE - g * g)
                    d[r, 3 * units + j] = dhv * tanh_c * o * (ONE - o)
                    dc[r, j] = dcv * f
                    dh[r, j] = ZERO
                for g in range(4 * units):
                    dgates[r0 + r, t, g] = d[r, g]
            _add_d_w(d, w_hh, dh, rows)


@njit(parallel=True, cache=True, fastmath=True)
def _gru_scan_bwd(gates, gh_ns, hs, dhs, w_hh, reverse, block, dgi, dgh):
    n, steps, units = hs.shape
    for b in prange((n + block - 1) // block):
        r0 = b * block
        rows = min(block, n - r0)
        dh = np.zeros((block, units), hs.dtype)
        d = np.empty((block, 3 * units), hs.dtype)
        for s in range(steps - 1, -1, -1):
            t, tp = _step(s, steps, reverse)
            for r in range(rows):
                tape = gates[r0 + r, t]
                for j in range(units):
                    rg, z, ng = tape[j], tape[units + j], tape[2 * units + j]
                    h_prev = hs[r0 + r, tp, j] if tp >= 0 else ZERO
                    dhv = dh[r, j] + dhs[r0 + r, t, j]
                    dn = dhv * (ONE - z) * (ONE - ng * ng)
                    dr = dn * gh_ns[r0 + r, t, j] * rg * (ONE - rg)
                    dz = dhv * (h_prev - ng) * z * (ONE - z)
                    dgi[r0 + r, t, j], dgi[r0 + r, t, units + j], dgi[r0 + r, t, 2 * units + j] = dr, dz, dn
                    d[r, j], d[r, units + j], d[r, 2 * units + j] = dr, dz, dn * rg
                    dh[r, j] = dhv * z
                for g in range(3 * units):
                    dgh[r0 + r, t, g] = d[r, g]
            _add_d_w(d, w_hh, dh, rows)


# One direction: the GEMMs around the scans.

MAX_BLOCK = 8       # batch rows sharing each pass over W_hh


def _block(n: int) -> int:
    """Batch rows per prange block: every thread busy, at most MAX_BLOCK rows."""
    return max(1, min(MAX_BLOCK, -(-n // numba.get_num_threads())))


def _vector(b, size, dtype):
    return np.zeros(size, dtype) if b is None else np.asarray(b, dtype)


def _input_projection(x, w_ih):
    n, steps, features = x.shape
    return np.dot(x.reshape(n * steps, features), w_ih.T).reshape(n, steps, -1)


def _previous(hs, reverse):
    """h_{t−1} of every step in time order (zero before the first step of the direction)."""
    prev = np.zeros_like(hs)
    if reverse:
        prev[:, :-1] = hs[:, 1:]
    else:
        prev[:, 1:] = hs[:, :-1]
    return prev


def _rnn_run(x, p, reverse, attrs):
    w_ih, w_hh, b_ih, b_hh = p
    gates = _input_projection(x, w_ih)
    hs = np.empty(gates.shape, x.dtype)
    bias = _vector(b_ih, w_hh.shape[0], x.dtype) + _vector(b_hh, w_hh.shape[0], x.dtype)
    relu = attrs.get("activation", "tanh") == "relu"
    _rnn_scan(gates, np.ascontiguousarray(w_hh.T), bias, relu, reverse, _block(len(x)), hs)
    return hs, (hs,)


def _rnn_run_bwd(tape, dhs, p, reverse, attrs):
    hs, = tape
    dgates = np.empty_like(hs)
    relu = attrs.get("activation", "tanh") == "relu"
    _rnn_scan_bwd(hs, dhs, p[1], relu, reverse, _block(len(hs)), dgates)
    return dgates, dgates


def _lstm_run(x, p, reverse, attrs):
    w_ih, w_hh, b_ih, b_hh = p
    gates = _input_projection(x, w_ih)
    n, steps, units = x.shape[0], x.shape[1], w_hh.shape[1]
    hs, cs, tanh_cs = (np.empty((n, steps, units), x.dtype) for _ in range(3))
    bias = _vector(b_ih, w_hh.shape[0], x.dtype) + _vector(b_hh, w_hh.shape[0], x.dtype)
    _lstm_scan(gates, np.ascontiguousarray(w_hh.T), bias, reverse, _block(n), hs, cs, tanh_cs)
    return hs, (gates, cs, tanh_cs)


def _lstm_run_bwd(tape, dhs, p, reverse, attrs):
    gates, cs, tanh_cs = tape
    dgates = np.empty_like(gates)
    _lstm_scan_bwd(gates, cs, tanh_cs, dhs, p[1], reverse, _block(len(cs)), dgates)
    return dgates, dgates


def _gru_run(x, p, reverse, attrs):
    w_ih, w_hh, b_ih, b_hh = p
    gates = _input_projection(x, w_ih)
    n, steps, units = x.shape[0], x.shape[1], w_hh.shape[1]
    hs, gh_ns = np.empty((n, steps, units), x.dtype), np.empty((n, steps, units), x.dtype)
    _gru_scan(gates, np.ascontiguousarray(w_hh.T), _vector(b_ih, w_hh.shape[0], x.dtype),
              _vector(b_hh, w_hh.shape[0], x.dtype), reverse, _block(n), hs, gh_ns)
    return hs, (gates, gh_ns, hs)


def _gru_run_bwd(tape, dhs, p, reverse, attrs):
    gates, gh_ns, hs = tape
    dgi, dgh = np.empty_like(gates), np.empty_like(gates)
    _gru_scan_bwd(gates, gh_ns, hs, dhs, p[1], reverse, _block(len(hs)), dgi, dgh)
    return dgi, dgh


# cell: (run one direction, its backward)
_CELLS = {"rnn": (_rnn_run, _rnn_run_bwd), "lstm": (_lstm_run, _lstm_run_bwd), "gru": (_gru_run, _gru_run_bwd)}


# The op: one or two directions, all steps or the final states.

def _directions(ps, attrs, dtype):
    """[(w_ih, w_hh, b_ih, b_hh), reverse] from ps in RNN_PARAMS order, cast to the input's dtype."""
    cast = [None if p is None else np.ascontiguousarray(p, dtype) for p in ps]
    forward = [(tuple(cast[:4]), False)]
    return forward + [(tuple(cast[4:8]), True)] if attrs.get("bidirectional") else forward


def _recurrent_forward(cell, xs, ps, attrs):
    x = np.ascontiguousarray(xs[0])
    run, _ = _CELLS[cell]
    runs = [(p, reverse, *run(x, p, reverse, attrs)) for p, reverse in _directions(ps, attrs, x.dtype)]
    if attrs.get("return_sequences"):
        outs = [hs for _, _, hs, _ in runs]
    else:                                  # PyTorch's h_n: forward after step T−1, backward after 0
        outs = [hs[:, 0 if reverse else -1] for _, reverse, hs, _ in runs]
    y = np.concatenate(outs, axis=-1)      # a copy: y never aliases the tape
    return y, (cell, x, [(p, reverse, hs, tape) for p, reverse, hs, tape in runs])


def _recurrent_backward(saved, dy, attrs):
    cell, x, runs = saved
    _, run_bwd = _CELLS[cell]
    n, steps, features = x.shape
    dy = np.asarray(dy, x.dtype)
    dx = np.zeros((n * steps, features), x.dtype)
    dps: list = []
    for k, (p, reverse, hs, tape) in enumerate(runs):
        w_ih, w_hh, b_ih, b_hh = p
        units = w_hh.shape[1]
        dy_k = dy[..., k * units:(k + 1) * units]
        if attrs.get("return_sequences"):
            dhs = np.ascontiguousarray(dy_k)
        else:
            dhs = np.zeros((n, steps, units), x.dtype)
            dhs[:, 0 if reverse else -1] = dy_k
        dgi, dgh = run_bwd(tape, dhs, p, reverse, attrs)
        shared = dgh is dgi                        # the RNN and LSTM: d gh = d gi
        dgi = dgi.reshape(n * steps, -1)
        dgh = dgi if shared else dgh.reshape(n * steps, -1)
        dx += np.dot(dgi, w_ih)
        dw_ih = np.dot(dgi.T, x.reshape(n * steps, features))
        dw_hh = np.dot(dgh.T, _previous(hs, reverse).reshape(n * steps, units))
        db_ih = None if b_ih is None else dgi.sum(axis=0)
        db_hh = None if b_hh is None else (db_ih.copy() if shared and db_ih is not None else dgh.sum(axis=0))
        dps += [dw_ih, dw_hh, db_ih, db_hh]
    return [dx.reshape(x.shape)], dps + [None] * (8 - len(dps))


def rnn_fwd(xs, ps, attrs, ctx):
    return _recurrent_forward("rnn", xs, ps, attrs)


def rnn_bwd(saved, dy, attrs):
    return _recurrent_backward(saved, dy, attrs)


def lstm_fwd(xs, ps, attrs, ctx):
    return _recurrent_forward("lstm", xs, ps, attrs)


def lstm_bwd(saved, dy, attrs):
    return _recurrent_backward(saved, dy, attrs)


def gru_fwd(xs, ps, attrs, ctx):
    return _recurrent_forward("gru", xs, ps, attrs)


def gru_bwd(saved, dy, attrs):
    return _recurrent_backward(saved, dy, attrs)


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
        return _sigmoid(z)
    if code == 5:
        return min(max(z * SIXTH + HALF, ZERO), ONE)
    if code == 6:
        return _tanh(z)
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
            gate = _sigmoid(z[r, f + j])
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
