"""The CPU backend's layouts and the conversions at the boundary.

- activations with two spatial axes: NCHW outside, NHWC inside (`to_internal`/`from_internal`);
- conv2d weights: OIHW outside, HWIO inside ((kh, kw, C/groups, O)) — bound once per run;
- everything else: the same inside as outside.
An `axis` attribute counts the non-batch axes of the boundary layout (0 = channels); for a
4-D internal tensor `internal_axis` gives the array axis it now is.
"""
from __future__ import annotations

import numpy as np

_TO_NHWC, _TO_NCHW = (0, 2, 3, 1), (0, 3, 1, 2)
_AXIS_NHWC = {0: 3, 1: 1, 2: 2}              # boundary non-batch axis → NHWC array axis


def to_internal(name: str, x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x.transpose(_TO_NHWC)) if x.ndim == 4 else x


def from_internal(name: str, x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x.transpose(_TO_NCHW)) if x.ndim == 4 else x


def internal_axis(axis: int, ndim: int) -> int:
    """The array axis of boundary non-batch `axis` (negative counts from the end) in an
    internal array of `ndim` dimensions (batch included)."""
    axis = axis % (ndim - 1)
    return _AXIS_NHWC[axis] if ndim == 4 else axis + 1


def conv_weights(program) -> set[str]:
    """The parameters that are conv2d weights (converted to HWIO inside)."""
    return {s.params[0] for s in program.primitive_steps() if s.op == "conv2d"}


def bind_params(params: dict[str, np.ndarray], program) -> dict[str, np.ndarray]:
    """Parameters in this backend's layout: new arrays, the trainer's optimizer updates these."""
    convs = conv_weights(program)
    return {k: np.ascontiguousarray(v.transpose(2, 3, 1, 0)) if k in convs else v for k, v in params.items()}


def unbind_params(params: dict[str, np.ndarray], program) -> dict[str, np.ndarray]:
    """Back to the boundary layouts (OIHW), for checkpoints."""
    convs = conv_weights(program)
    return {k: np.ascontiguousarray(v.transpose(3, 2, 0, 1)) if k in convs else v for k, v in params.items()}
