"""Central finite differences for the op contract of runtime/ops.py (float64)."""
from __future__ import annotations

import numpy as np

from cnnc.runtime.ops import RunContext


def numeric_grad(f, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """d f() / d x by central differences, perturbing x in place."""
    g = np.zeros_like(x)
    flat, gflat = x.reshape(-1), g.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        up = f()
        flat[i] = old - eps
        down = f()
        flat[i] = old
        gflat[i] = (up - down) / (2 * eps)
    return g


def check_op(fwd, bwd, xs, ps, attrs, *, train=False, seed=0, wrt_x=None, wrt_p=None, atol=1e-6, rtol=1e-5):
    """Compare the op's backward with finite differences of sum(forward · dy).

    `wrt_x` / `wrt_p`: indices of inputs / params to check (default: all that bwd returns
    a gradient for). Dropout-like ops are made deterministic by reseeding the context."""
    xs = [np.array(x, dtype=np.float64) if np.issubdtype(np.asarray(x).dtype, np.floating) else np.array(x)
          for x in xs]
    ps = [None if p is None else np.array(p, dtype=np.float64) for p in ps]

    def run():
        ctx = RunContext(train=train, rng=np.random.default_rng(seed))
        return fwd(xs, [None if p is None else p.copy() for p in ps], attrs, ctx)

    y, saved = run()
    dy = np.random.default_rng(seed + 1).standard_normal(y.shape)
    dxs, dps = bwd(saved, dy, attrs)

    def loss():
        return float(np.sum(run()[0] * dy))

    for i in (range(len(xs)) if wrt_x is None else wrt_x):
        if dxs[i] is None:
            continue
        np.testing.assert_allclose(dxs[i], numeric_grad(loss, xs[i]), atol=atol, rtol=rtol,
                                   err_msg=f"gradient of input {i}")
    for i in (range(len(ps)) if wrt_p is None else wrt_p):
        if i >= len(dps) or dps[i] is None or ps[i] is None:
            continue
        np.testing.assert_allclose(dps[i], numeric_grad(loss, ps[i]), atol=atol, rtol=rtol,
                                   err_msg=f"gradient of param {i}")
    return y
