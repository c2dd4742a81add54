"""The machine's FP32 peak, measured: an FMA-bound Numba kernel on every core.

Numpy's sgemm is no measure of the peak here (OpenBLAS is pinned to AVX2 on this machine, see
../shared/PERFORMANCE.md), so `cnnc bench` measures the peak in the same run with a kernel
that does nothing but independent float32 multiply-adds, vectorised by LLVM.
"""
from __future__ import annotations

import time

import numpy as np
from numba import njit, prange

CHAIN = 16            # multiply-adds per element per pass, in registers
BLOCK = 4096          # elements per thread: fits in L1, vectorised across


@njit(parallel=True, fastmath=True, cache=True)
def _fma_kernel(x, a, b, passes):
    # Each element runs a chain of CHAIN dependent FMAs; the loop over elements is independent,
    # so LLVM vectorises it (16 float32 lanes with AVX-512) and interleaves vectors to hide the
    # FMA latency. Loads and stores are 2 per CHAIN FMAs: the kernel is FMA-bound.
    for t in prange(x.shape[0]):
        row = x[t]
        for _ in range(passes):
            for i in range(row.shape[0]):
                v = row[i]
                # the chain written out, so the element loop is the innermost one and vectorises
                v = v * a + b; v = v * a + b; v = v * a + b; v = v * a + b   # noqa: E702
                v = v * a + b; v = v * a + b; v = v * a + b; v = v * a + b   # noqa: E702
                v = v * a + b; v = v * a + b; v = v * a + b; v = v * a + b   # noqa: E702
                v = v * a + b; v = v * a + b; v = v * a + b; v = v * a + b   # noqa: E702
                row[i] = v


def fp32_peak_gflops(seconds: float = 0.3) -> float:
    """Measured multiply-add throughput of all threads, in GFLOP/s (an FMA is 2 FLOPs)."""
    import numba
    threads = numba.get_num_threads()
    x = np.ones((threads, BLOCK), np.float32)
    a, b = np.float32(0.999999), np.float32(1e-7)
    _fma_kernel(x, a, b, 1)                            # compile (or load) first
    passes, best = 200, 0.0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        _fma_kernel(x, a, b, passes)
        elapsed = time.perf_counter() - started
        best = max(best, 2 * CHAIN * x.size * passes / elapsed / 1e9)
    return best
