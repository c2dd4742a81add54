"""The CPU target Numba compiles for: the host's own features, with two of LLVM's x86 tuning
choices reversed for AVX-512 machines, and on Intel ones a fixed CPU for LLVM's cost model
(measured on this one, docs/benchmarks.md):

- `-prefer-256-bit`: LLVM's server-Intel tuning keeps vectors at 256 bits; the generated
  convolutions reach ~2× the FLOP rate with 512-bit vectors (the FMA peak measured by
  runtime/cpu/peak.py goes from ~180 to ~290 GFLOP/s on 2 cores);
- `+prefer-no-gather`: otherwise the SLP vectorizer gathers a tile's input pixels into one
  vector and permutes them back out, instead of broadcasting each from memory;
- the CPU name `emeraldrapids` where the host is an Intel AVX-512 core, whatever LLVM calls the
  host: the same 2-core VM has come up as `emeraldrapids` one day and `rocketlake` another (its
  CPUID model changes with the host under it), and under `rocketlake` or `sapphirerapids` LLVM
  22's cost model leaves the loop over approx.tanh scalar (2.0 against 0.25 ns per element,
  LeNet's C1 with its tanh epilogue 0.71 against 0.35 ms) and tunes the tiles differently from
  how every kernel choice here was measured. The name picks tuning and scheduling only: the
  features string lists every host feature on or off, so no instruction the host lacks is used.
  AMD hosts (`znver*`) keep their own name: their cost model vectorises the same loops.

Set through NUMBA_CPU_FEATURES and NUMBA_CPU_NAME before Numba compiles anything (both are part
of Numba's cache key, so kernels cached for another target are not reused). A user's own
NUMBA_CPU_FEATURES or NUMBA_CPU_NAME is left alone.
"""
from __future__ import annotations

import os
import sys

TUNING = ",-prefer-256-bit,+prefer-no-gather"
INTEL_TUNING_CPU = "emeraldrapids"


def features() -> str | None:
    """The host's features with our tuning, or None where the tuning does not apply."""
    import llvmlite.binding as llvm
    host = llvm.get_host_cpu_features().flatten()
    return host + TUNING if "+avx512f" in host.split(",") else None


def cpu_name(host_name: str) -> str | None:
    """The CPU LLVM tunes for on an AVX-512 host, or None to keep the host's own name."""
    return None if host_name.startswith("znver") else INTEL_TUNING_CPU


def _set(variable: str, attribute: str, value: str) -> None:
    os.environ[variable] = value
    if "numba.core.config" in sys.modules:        # imported already: config was read
        setattr(sys.modules["numba.core.config"], attribute, value)


def choose_target() -> None:
    """Set Numba's CPU features and name for this host, unless the user set them."""
    if "NUMBA_CPU_FEATURES" in os.environ or not (chosen := features()):
        return
    _set("NUMBA_CPU_FEATURES", "CPU_FEATURES", chosen)
    import llvmlite.binding as llvm
    if "NUMBA_CPU_NAME" not in os.environ and (name := cpu_name(llvm.get_host_cpu_name())):
        _set("NUMBA_CPU_NAME", "CPU_NAME", name)


choose_target()
