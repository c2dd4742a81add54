"""The CPU target Numba compiles for: the host's own features, with two of LLVM's x86 tuning
choices reversed for AVX-512 machines (measured on this one, docs/benchmarks.md):

- `-prefer-256-bit`: LLVM's server-Intel tuning keeps vectors at 256 bits; the generated
  convolutions reach ~2× the FLOP rate with 512-bit vectors (the FMA peak measured by
  runtime/cpu/peak.py goes from ~180 to ~290 GFLOP/s on 2 cores);
- `+prefer-no-gather`: otherwise the SLP vectorizer gathers a tile's input pixels into one
  vector and permutes them back out, instead of broadcasting each from memory.

Set through NUMBA_CPU_FEATURES before Numba compiles anything (it is part of Numba's cache
key, so kernels cached for other features are not reused). A user's own NUMBA_CPU_FEATURES
is left alone.
"""
from __future__ import annotations

import os
import sys

TUNING = ",-prefer-256-bit,+prefer-no-gather"


def features() -> str | None:
    """The host's features with our tuning, or None where the tuning does not apply."""
    import llvmlite.binding as llvm
    host = llvm.get_host_cpu_features().flatten()
    return host + TUNING if "+avx512f" in host.split(",") else None


if "NUMBA_CPU_FEATURES" not in os.environ:
    chosen = features()
    if chosen:
        os.environ["NUMBA_CPU_FEATURES"] = chosen
        if "numba.core.config" in sys.modules:        # imported already: config was read
            sys.modules["numba.core.config"].CPU_FEATURES = chosen
