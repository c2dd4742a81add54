"""Recurrent layers (Elman RNN, LSTM, GRU) over (N, T, F), and the highway layer.

Semantics are PyTorch's (nn.RNN / nn.LSTM / nn.GRU with batch_first=True, one layer,
h0 = c0 = 0). Every cell is written against two projections of a step,

    gi = x_t W_ihᵀ + b_ih        gh = h_{t−1} W_hhᵀ + b_hh        (N, G·H each)

so one driver (`_scan` / `_scan_bwd`) runs all three cells in either direction and owns
the matrix products and their gradients; a cell only says how gates combine.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np


# Activations: (forward f(z), backward grad(z, y, dy) -> dz), where y = f(z).

def _sigmoid(z):
    # tanh form: no overflow warning for large |z|
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


_LEAKY_SLOPE = 0.01      # PyTorch's default; highway has no slope attribute

_ACTIVATIONS: dict[str, tuple[Callable, Callable]] = {
    "none": (lambda z: z, lambda z, y, dy: dy),
    "relu": (lambda z: np.maximum(z, 0), lambda z, y, dy: dy * (z > 0)),
    "relu6": (lambda z: np.clip(z, 0, 6), lambda z, y, dy: dy * ((z > 0) & (z < 6))),
    "leaky_relu": (lambda z: np.where(z > 0, z, _LEAKY_SLOPE * z),
                   lambda z, y, dy: dy * np.where(z > 0, 1.0, _LEAKY_SLOPE)),
    "sigmoid": (_sigmoid, lambda z, y, dy: dy * y * (1 - y)),
    "hard_sigmoid": (lambda z: np.clip(z / 6 + 0.5, 0, 1),
                     lambda z, y, dy: dy * ((z > -3) & (z < 3)) / 6),
    "tanh": (np.tanh, lambda z, y, dy: dy * (1 - y * y)),
    "softmax": (_softmax, lambda z, y, dy: y * (dy - np.sum(dy * y, axis=-1, keepdims=True))),
}


# Cells. A state is a tuple whose first element is h: (h,) or, for the LSTM, (h, c).

class Cell(NamedTuple):
    gates: int
    states: int
    step: Callable        # (gi, gh, state) -> (new state, cache)
    step_bwd: Callable    # (cache, d new state) -> (d gi, d gh, d old state except via gh)


def _elman(activation: str) -> Cell:
    f, grad = _ACTIVATIONS[activation]

    def step(gi, gh, state):
        z = gi + gh
        h = f(z)
        return (h,), (z, h)

    def step_bwd(cache, dstate):
        z, h = cache
        dz = grad(z, h, dstate[0])
        return dz, dz, (np.zeros_like(h),)

    return Cell(1, 1, step, step_bwd)


def _lstm_step(gi, gh, state):
    h, c = state
    i, f, g, o = np.split(gi + gh, 4, axis=-1)
    i, f, g, o = _sigmoid(i), _sigmoid(f), np.tanh(g), _sigmoid(o)
    c_new = f * c + i * g
    tanh_c = np.tanh(c_new)
    return (o * tanh_c, c_new), (i, f, g, o, c, tanh_c)


def _lstm_step_bwd(cache, dstate):
    i, f, g, o, c, tanh_c = cache
    dh, dc = dstate
    dc = dc + dh * o * (1 - tanh_c ** 2)
    dgates = np.concatenate([dc * g * i * (1 - i),
                             dc * c * f * (1 - f),
                             dc * i * (1 - g ** 2),
                             dh * tanh_c * o * (1 - o)], axis=-1)
    return dgates, dgates, (np.zeros_like(dh), dc * f)


def _gru_step(gi, gh, state):
    h, = state
    gi_r, gi_z, gi_n = np.split(gi, 3, axis=-1)
    gh_r, gh_z, gh_n = np.split(gh, 3, axis=-1)
    r = _sigmoid(gi_r + gh_r)
    z = _sigmoid(gi_z + gh_z)
    n = np.tanh(gi_n + r * gh_n)      # r gates W_hn h + b_hn together, as in PyTorch
    return ((1 - z) * n + z * h,), (r, z, n, gh_n, h)


def _gru_step_bwd(cache, dstate):
    r, z, n, gh_n, h = cache
    dh, = dstate
    dn = dh * (1 - z) * (1 - n ** 2)
    dr = dn * gh_n * r * (1 - r)
    dz = dh * (h - n) * z * (1 - z)
    dgi = np.concatenate([dr, dz, dn], axis=-1)
    dgh = np.concatenate([dr, dz, dn * r], axis=-1)
    return dgi, dgh, (dh * z,)


_LSTM = Cell(4, 2, _lstm_step, _lstm_step_bwd)
_GRU = Cell(3, 1, _gru_step, _gru_step_bwd)


# One direction over the whole sequence.

class Weights(NamedTuple):
    w_ih: np.ndarray
    w_hh: np.ndarray
    b_ih: np.ndarray | None
    b_hh: np.ndarray | None


def _affine(a, w, b):
    y = a @ w.T
    return y if b is None else y + b


def _time_order(steps: int, reverse: bool) -> range:
    return range(steps - 1, -1, -1) if reverse else range(steps)


def _scan(cell: Cell, x, p: Weights, reverse: bool):
    """Run one direction; returns every step's h in time order (N, T, H) and the tape."""
    n, steps, _ = x.shape
    units = p.w_hh.shape[1]
    state = tuple(np.zeros((n, units), dtype=x.dtype) for _ in range(cell.states))
    hs = np.empty((n, steps, units), dtype=x.dtype)
    tape = []
    for t in _time_order(steps, reverse):
        h_prev = state[0]
        state, cache = cell.step(_affine(x[:, t], p.w_ih, p.b_ih), _affine(h_prev, p.w_hh, p.b_hh), state)
        hs[:, t] = state[0]
        tape.append((t, h_prev, cache))
    return hs, tape


def _scan_bwd(cell: Cell, x, p: Weights, tape, dhs):
    """Backpropagation through time: dhs (N, T, H) is the loss gradient of each step's h.
    Returns dx (N, T, F) and the gradients of Weights (None for an absent bias)."""
    dx = np.zeros_like(x)
    dw_ih, dw_hh = np.zeros_like(p.w_ih), np.zeros_like(p.w_hh)
    db_ih = db_hh = np.zeros(p.w_ih.shape[0], dtype=x.dtype)
    dstate = tuple(np.zeros_like(dhs[:, 0]) for _ in range(cell.states))
    for t, h_prev, cache in reversed(tape):
        dstate = (dstate[0] + dhs[:, t], *dstate[1:])
        dgi, dgh, dstate = cell.step_bwd(cache, dstate)
        dx[:, t] = dgi @ p.w_ih
        dw_ih += dgi.T @ x[:, t]
        dw_hh += dgh.T @ h_prev
        db_ih = db_ih + dgi.sum(axis=0)
        db_hh = db_hh + dgh.sum(axis=0)
        dstate = (dstate[0] + dgh @ p.w_hh, *dstate[1:])
    return dx, Weights(dw_ih, dw_hh,
                       None if p.b_ih is None else db_ih,
                       None if p.b_hh is None else db_hh)


# The op: one or two directions, all steps or the final states.

def _directions(ps, attrs) -> list[tuple[Weights, bool]]:
    """[(weights, reverse)] from ps in RNN_PARAMS order."""
    forward = [(Weights(*ps[:4]), False)]
    return forward + [(Weights(*ps[4:8]), True)] if attrs.get("bidirectional") else forward


def _recurrent_fwd(cell: Cell, xs, ps, attrs):
    x, = xs
    runs = [(p, reverse, *_scan(cell, x, p, reverse)) for p, reverse in _directions(ps, attrs)]
    if attrs.get("return_sequences"):
        y = np.concatenate([hs for _, _, hs, _ in runs], axis=-1)
    else:
        # PyTorch's h_n: forward after step T−1, backward after step 0
        y = np.concatenate([hs[:, 0 if reverse else -1] for _, reverse, hs, _ in runs], axis=-1)
    return y, (cell, x, [(p, tape) for p, _, _, tape in runs])


def _recurrent_bwd(saved, dy, attrs):
    cell, x, runs = saved
    steps = x.shape[1]
    dx = np.zeros_like(x)
    dps: list = []
    for k, (p, tape) in enumerate(runs):
        units = p.w_hh.shape[1]
        dy_k = dy[..., k * units:(k + 1) * units]
        if attrs.get("return_sequences"):
            dhs = dy_k
        else:
            dhs = np.zeros(x.shape[:2] + (units,), dtype=dy.dtype)
            dhs[:, tape[-1][0]] = dy_k        # the final state's step
        dx_k, dp = _scan_bwd(cell, x, p, tape, dhs)
        dx += dx_k
        dps += list(dp)
    return [dx], dps + [None] * (8 - len(dps))


def rnn_fwd(xs, ps, attrs, ctx):
    return _recurrent_fwd(_elman(attrs.get("activation", "tanh")), xs, ps, attrs)


def rnn_bwd(saved, dy, attrs):
    return _recurrent_bwd(saved, dy, attrs)


def lstm_fwd(xs, ps, attrs, ctx):
    return _recurrent_fwd(_LSTM, xs, ps, attrs)


def lstm_bwd(saved, dy, attrs):
    return _recurrent_bwd(saved, dy, attrs)


def gru_fwd(xs, ps, attrs, ctx):
    return _recurrent_fwd(_GRU, xs, ps, attrs)


def gru_bwd(saved, dy, attrs):
    return _recurrent_bwd(saved, dy, attrs)


# Highway (Srivastava et al. 2015): y = H·T + x·(1 − T).

def highway_fwd(xs, ps, attrs, ctx):
    x, = xs
    w_h, b_h, w_t, b_t = ps
    f, _ = _ACTIVATIONS[attrs.get("activation", "relu")]
    z_h, z_t = _affine(x, w_h, b_h), _affine(x, w_t, b_t)
    h, gate = f(z_h), _sigmoid(z_t)
    return h * gate + x * (1 - gate), (x, w_h, b_h, w_t, b_t, z_h, h, gate)


def highway_bwd(saved, dy, attrs):
    x, w_h, b_h, w_t, b_t, z_h, h, gate = saved
    _, grad = _ACTIVATIONS[attrs.get("activation", "relu")]
    dz_h = grad(z_h, h, dy * gate)
    dz_t = dy * (h - x) * gate * (1 - gate)
    dx = dy * (1 - gate) + dz_h @ w_h + dz_t @ w_t
    return [dx], [dz_h.T @ x, _bias_grad(dz_h, b_h), dz_t.T @ x, _bias_grad(dz_t, b_t)]


def _bias_grad(dz, bias):
    return None if bias is None else dz.sum(axis=0)
