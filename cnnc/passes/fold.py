"""Batchnorm folded into the weights of the convolution or dense layer before it (inference).

y = γ (W x + b − μ) / √(σ² + ε) + β  is  W' x + b'  with  W' = W · s,  b' = (b − μ) · s + β,
s = γ / √(σ² + ε) per output channel. Done on the parameter values, so the folded program runs
one op where the unfolded ran two; the result is the same to float rounding.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..layers.base import Param
from .program import Program, Step

FOLDABLE = {"conv2d", "conv1d", "dense"}


def fold_batchnorm(program: Program, params: dict[str, np.ndarray]) -> tuple[Program, dict[str, np.ndarray]]:
    """A program without the batchnorms that follow a conv/dense in a fused step, and the
    parameters it needs (the originals plus `<layer>.weight~folded` / `bias~folded`)."""
    if program.training:
        raise ValueError("batchnorm is folded only for inference: training needs batch statistics")
    params = dict(params)
    steps = [_fold_step(step, params) for step in program.steps]
    declared = dict(program.params)          # the folded parameters are the program's too
    declared.update({name: Param(name, value.shape, False) for name, value in params.items() if name not in declared})
    return replace(program, steps=steps, params=declared), params


def _fold_step(step: Step, params: dict) -> Step:
    if step.op not in FOLDABLE or not step.fused or step.fused[0].op != "batchnorm":
        return step
    bn = step.fused[0]
    gamma, beta, mean, var = (params[p] for p in bn.params)
    scale = gamma / np.sqrt(var + bn.attrs["eps"])
    weight = params[step.params[0]]
    bias = params[step.params[1]] if step.params[1] else np.zeros_like(mean)
    folded_w, folded_b = f"{step.params[0]}~folded", f"{step.layer}.bias~folded"
    params[folded_w] = (weight * scale.reshape((-1,) + (1,) * (weight.ndim - 1))).astype(weight.dtype)
    params[folded_b] = ((bias - mean) * scale + beta).astype(weight.dtype)
    # the convolution now writes what the batchnorm wrote; the ops after it read that already
    return replace(step, output=bn.output, params=[folded_w, folded_b], fused=step.fused[1:])
