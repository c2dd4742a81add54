"""NumPy reference of every op: the oracle the fast kernels are tested against.

Written for clarity, not speed: NCHW, any float dtype (float64 in gradient checks).
Each family module defines `<op>_fwd` and `<op>_bwd` as runtime/ops.py describes.
"""
import functools

from . import activation, conv, core, graph, merge, norm, pool, recurrent, spatial  # noqa: F401

_MODULES = (activation, conv, core, graph, merge, norm, pool, recurrent, spatial)
NAME = "reference"


@functools.cache
def kernels() -> dict[str, tuple]:
    """{op name: (forward, backward)} for every op the reference implements."""
    out = {}
    for module in _MODULES:
        for name in dir(module):
            if name.endswith("_fwd") and not name.startswith("_") and hasattr(module, name[:-4] + "_bwd"):
                out[name[:-4]] = (getattr(module, name), getattr(module, name[:-4] + "_bwd"))
    return out


def compute_scope(threads: int | None = None):
    """The reference's work is numpy's: let BLAS use `threads` (default: its own choice)."""
    from contextlib import nullcontext

    from threadpoolctl import threadpool_limits
    return threadpool_limits(threads, "blas") if threads else nullcontext()


# The boundary: the reference computes in the boundary layout (NCHW, OIHW) itself.
def to_internal(name, array):
    return array


def from_internal(name, array):
    return array


def bind_params(params: dict, program=None) -> dict:
    return params


def unbind_params(params: dict, program=None) -> dict:
    return params
