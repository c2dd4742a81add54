"""Initial parameter values: per layer kind by default, or as a layer's `init:` says."""
from __future__ import annotations

from math import prod, sqrt

import numpy as np

from ..compiler import Analysis

RELU_LIKE = {"relu", "relu6", "leaky_relu"}


def fans(shape: tuple) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight (out, in, *kernel) as PyTorch computes them."""
    receptive = prod(shape[2:]) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def he(shape, rng):
    return rng.standard_normal(shape) * sqrt(2.0 / fans(shape)[0])


def xavier(shape, rng):
    fan_in, fan_out = fans(shape)
    bound = sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-bound, bound, shape)


WEIGHT_INITS = {"he": he, "xavier": xavier, "zeros": lambda shape, rng: np.zeros(shape)}


def initial_params(a: Analysis, seed: int = 0) -> dict[str, np.ndarray]:
    """Every parameter of the network, float32, from one seeded generator (reproducible)."""
    rng = np.random.default_rng(seed)
    out = {}
    for layer_name in a.layers:
        layer = a.graph.decl(layer_name).layer
        for p in a.params[layer_name]:
            out[f"{layer_name}.{p.name}"] = np.asarray(_value(layer, p, rng), dtype=np.float32)
    return out


def _value(layer, p, rng) -> np.ndarray:
    role = p.name.rsplit(".", 1)[-1]               # weight, bias, running_mean, weight_ih_l0 …
    init = getattr(layer, "init", "auto")
    if init == "identity_affine":                  # θ of a spatial transformer starts as the identity
        return np.array([1, 0, 0, 0, 1, 0], float) if role == "bias" else np.zeros(p.shape)
    if _is_norm(layer, p):                         # γ = 1, β = 0, running mean 0, variance 1
        return np.ones(p.shape) if role in ("weight", "running_var") else np.zeros(p.shape)
    if layer.family == "recurrent":                # PyTorch: U(−1/√H, 1/√H) for every tensor
        bound = 1 / sqrt(layer.units)
        return rng.uniform(-bound, bound, p.shape)
    if role == "bias":                             # highway: carry the input at first (Srivastava et al.)
        return np.full(p.shape, -2.0) if p.name == "gate.bias" else np.zeros(p.shape)
    if layer.kind == "embedding":
        return rng.standard_normal(p.shape)
    return WEIGHT_INITS[_default_init(layer) if init == "auto" else init](p.shape, rng)


def _is_norm(layer, p) -> bool:
    """Normalisation parameters: a norm layer's, or the batchnorm (`1.*`) of a projection shortcut."""
    return layer.family == "norm" or (layer.kind == "shortcut" and p.name.startswith("1."))


def _default_init(layer) -> str:
    if layer.family == "conv":
        return "he"
    return "he" if getattr(layer, "activation", "none") in RELU_LIKE else "xavier"
