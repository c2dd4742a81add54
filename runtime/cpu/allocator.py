"""Keep freed memory in the process, so a step's arrays reuse the pages the last step freed.

A step allocates every activation afresh (NumPy → malloc). glibc serves blocks of 32 MiB and
less from its heap only once its adaptive threshold has grown; until then, and whenever the
heap's top is trimmed, a freed block goes back to the kernel and the next step's array of the
same size faults in fresh, zeroed pages: in a ResNet-20 training step (batch 64, ~170 MB of
activations) that was 20 % of the step (154 → 121 ms here, docs/benchmarks.md). Here, set
once at import:

- M_MMAP_THRESHOLD 32 MiB (glibc's largest): blocks up to that come from the heap;
- M_TRIM_THRESHOLD 2 GiB (mallopt takes an int): freed heap memory is kept for the next
  allocation unless 2 GiB of it lie free at the heap's top.

The resident set then stays at the step's peak between steps, which a training process
reaches every step anyway. Only glibc has mallopt; elsewhere nothing changes.
"""
from __future__ import annotations

import ctypes
import ctypes.util

import numpy as np

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD = 32 * 2 ** 20          # glibc's DEFAULT_MMAP_THRESHOLD_MAX on 64-bit
TRIM_THRESHOLD = 2 ** 31 - 1


def keep_freed_memory() -> bool:
    """Whether glibc took both settings."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))


keep_freed_memory()


CACHE_LINE = 64


def cache_aligned(a):
    """`a` as a C-contiguous array starting on a cache line: the generated kernels load weights as
    whole 64-byte vectors, and malloc's 16-byte alignment leaves most of them straddling two
    lines (resnet20's 32→32 convolution forward: 0.99 → 0.95 ms with the weights aligned)."""
    if a.flags.c_contiguous and a.ctypes.data % CACHE_LINE == 0:
        return a
    buf = np.empty(a.nbytes + CACHE_LINE, np.uint8)
    start = -buf.ctypes.data % CACHE_LINE
    out = buf[start:start + a.nbytes].view(a.dtype).reshape(a.shape)
    out[...] = a
    return out
