"""The CPU target: host features with our tuning, one tuning CPU for Intel AVX-512 hosts."""
import re

import numpy as np
import pytest
from numba import njit

from cnnc.runtime.cpu import target
from cnnc.runtime.cpu.approx import tanh


def test_intel_hosts_tune_for_one_cpu_and_amd_keep_their_own():
    assert target.cpu_name("rocketlake") == target.cpu_name("sapphirerapids") == "emeraldrapids"
    assert target.cpu_name("znver5") is None


@pytest.mark.skipif(target.features() is None, reason="the tuning applies to AVX-512 hosts only")
def test_a_loop_over_tanh_is_vectorised_in_512_bit_registers():
    # under LLVM's `rocketlake` cost model this loop stayed scalar (8× slower)
    @njit(fastmath={"contract"})
    def tanh_all(x, y):
        for i in range(x.size):
            y[i] = tanh(x[i])

    x = np.linspace(-4, 4, 64, dtype=np.float32)
    y = np.empty_like(x)
    tanh_all(x, y)
    assert np.allclose(y, np.tanh(x), atol=4e-7)
    asm = next(iter(tanh_all.inspect_asm().values()))
    assert re.search(r"vfmadd\w*ps\s+%zmm", asm)
