"""Activations: elementwise, and softmax along an axis."""
from __future__ import annotations

import numpy as np


def relu_fwd(xs, ps, attrs, ctx):
    x, = xs
    return np.maximum(x, 0), (x,)


def relu_bwd(saved, dy, attrs):
    x, = saved
    return [dy * (x > 0)], []
