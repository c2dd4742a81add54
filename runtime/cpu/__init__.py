"""The CPU backend: Numba kernels, NHWC inside.

Images live as NHWC inside this backend (measured fastest here, ../shared/PERFORMANCE.md);
the executor converts the network's inputs, outputs and gradients at the boundary, and the
trainer binds parameters once (conv weights OIHW → HWIO) and unbinds them for checkpoints.
Every other tensor keeps its boundary layout.

Each family module defines `<op>_fwd(xs, ps, attrs, ctx)` and `<op>_bwd(saved, dy, attrs)` as
runtime/ops.py describes, on internal-layout arrays; `attrs` still count axes in the boundary
layout (channels = axis 0), which `layout.internal_axis` maps.
"""
from __future__ import annotations

import functools

from . import cache, target  # noqa: F401  (NUMBA_CACHE_DIR and NUMBA_CPU_FEATURES, before numba compiles)
from . import allocator  # noqa: F401  (freed memory stays in the process: no page faults per step)
from .layout import bind_params, from_internal, to_internal, unbind_params

NAME = "cpu"
_FAMILIES = ("activation", "conv", "core", "graph", "merge", "norm", "pool", "recurrent", "spatial")


@functools.cache
def kernels() -> dict[str, tuple]:
    """{op name: (forward, backward)} for every op this backend implements."""
    import importlib
    out = {}
    for family in _FAMILIES:
        module = importlib.import_module(f"{__name__}.{family}")
        for name in dir(module):
            if name.endswith("_fwd") and not name.startswith("_") and hasattr(module, name[:-4] + "_bwd"):
                out[name[:-4]] = (getattr(module, name), getattr(module, name[:-4] + "_bwd"))
    return out


def compute_scope(threads: int | None = None):
    """One thread pool busy at a time: Numba's prange over `threads` (default: every core) for
    the heavy kernels, OpenBLAS held to one thread inside (its own spinning pool competing with
    Numba's on a 2-core machine cost LSTM training 10× here: docs/benchmarks.md)."""
    from contextlib import ExitStack

    import numba
    from threadpoolctl import threadpool_limits

    stack = ExitStack()
    stack.enter_context(threadpool_limits(1, "blas"))
    if threads:
        previous = numba.get_num_threads()
        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
        stack.callback(numba.set_num_threads, previous)
    return stack


def generated_kernels(program) -> list:
    """Every generated kernel `program` runs, training or inference (runtime/cpu/generated.py)."""
    from . import conv, recurrent
    from .fusion import epilogue, in_conv_store
    families = {**conv.KERNELS, **recurrent.KERNELS}       # op → the generated kernels it runs
    out = []
    for step in program.steps:
        fused = epilogue(step)
        if fused and in_conv_store(fused[0], fused[2]):    # how the executor runs it when not training
            head, residual, activation, _ = fused
            # a step that trains as one op runs this forward in training too, with its backward
            out += families[head.op](head, _shapes(program, head), step.trains_as_one, residual is not None,
                                     activation)
            if not program.training or step.trains_as_one:
                continue
        for prim in step.chain():
            if prim.op in families:
                out += families[prim.op](prim, _shapes(program, prim), program.training)
    return list({k.stem: k for k in out}.values())


def _shapes(program, prim):
    return [tuple(program.tensors[t]) for t in prim.inputs] + [
        tuple(program.params[p].shape) for p in prim.params if p is not None]


def prepare(*programs) -> int:
    """Compile (or load) every generated kernel the programs run, before their first step; the
    number compiled (generated.report_compiling says who hears about it)."""
    from .generated import prepare as build
    return build([k for program in programs for k in generated_kernels(program)])


def sum_gradients(a, b):
    """a + b for the executor's gradient sums, on every core (runtime/cpu/merge.py)."""
    from .merge import sum_gradients as add
    return add(a, b)


def fuse(step):
    """A fused inference runner for `step` (runtime/cpu/fusion.py), or None."""
    from .fusion import fuse as fuse_step
    return fuse_step(step, kernels())

def fuse_training(step):
    """The (forward, backward) of a step that trains as one op (runtime/cpu/fusion.py)."""
    from .fusion import fuse_training as fuse_step
    return fuse_step(step, kernels())


__all__ = ["NAME", "compute_scope", "fuse", "fuse_training", "generated_kernels", "prepare", "bind_params", "from_internal", "kernels",
           "sum_gradients", "to_internal", "unbind_params"]
