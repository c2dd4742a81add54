"""The rational tanh and sigmoid (runtime/cpu/approx.py) against float64 libm: the maximum absolute
error over a dense grid stays within the bound the module states, compiled both as the kernels
use them (a vectorised loop: reciprocal estimate and Newton step for the division) and as a
scalar call; and the activation kernels use the same definition."""
import re

import numba
import numpy as np
import pytest
from numba import njit

from cnnc.runtime.cpu import activation, approx


def grid() -> np.ndarray:
    """2²⁰ points on [−20, 20], the 2⁻²⁰ grid on [−1, 1], and the extremes."""
    dense = np.linspace(-20, 20, 2 ** 20, dtype=np.float32)
    fine = (np.arange(-2 ** 20, 2 ** 20 + 1) / 2 ** 20).astype(np.float32)
    big = np.finfo(np.float32).max
    extremes = np.float32([0.0, -0.0, 1e-30, -1e-30, 9.0, -9.0, 88.0, -88.0, 1e4, -1e4, big, -big, np.inf, -np.inf])
    return np.concatenate([dense, fine, extremes])


@njit(fastmath=True)
def _tanh_loop(x, y):
    for i in range(x.size):
        y[i] = approx.tanh(x[i])


@njit(fastmath=True)
def _sigmoid_loop(x, y):
    for i in range(x.size):
        y[i] = approx.sigmoid(x[i])


def exact(name: str, x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    if name == "tanh":
        return np.tanh(x)
    with np.errstate(over="ignore"):
        return 1 / (1 + np.exp(-x))


BOUNDS = {"tanh": approx.MAX_ERROR_TANH, "sigmoid": approx.MAX_ERROR_SIGMOID}
LOOPS = {"tanh": _tanh_loop, "sigmoid": _sigmoid_loop}


@pytest.mark.parametrize("name", ["tanh", "sigmoid"])
def test_vectorised_error_is_within_the_stated_bound(name):
    x = grid()
    y = np.empty_like(x)
    LOOPS[name](x, y)
    error = np.abs(y - exact(name, x))
    assert error.max() <= BOUNDS[name], (error.max(), x[error.argmax()])
    assert error.max() > BOUNDS[name] / 4          # the bound is tight, not a blanket tolerance


@pytest.mark.parametrize("name", ["tanh", "sigmoid"])
def test_scalar_error_is_within_the_stated_bound(name):
    function = getattr(approx, name)
    x = np.concatenate([np.linspace(-10, 10, 20001, dtype=np.float32), grid()[-14:]])
    y = np.array([function(v) for v in x], np.float32)
    assert np.abs(y - exact(name, x)).max() <= BOUNDS[name]


def test_ranges_and_symmetry():
    x = grid()
    t, s = np.empty_like(x), np.empty_like(x)
    _tanh_loop(x, t)
    _sigmoid_loop(x, s)
    assert np.abs(t).max() <= 1 and s.min() >= 0 and s.max() <= 1
    np.testing.assert_array_equal(t[:2 ** 20], -t[:2 ** 20][::-1])      # odd: the grid is symmetric
    assert t[-2] > 0.9999995 and t[-1] < -0.9999995                      # ±inf → ±1 within the bound
    assert _one(0.0) == 0.0


@njit(fastmath=True)
def _scalar_tanh(v):
    return approx.tanh(np.float32(v))


def _one(v):
    return _scalar_tanh(v)


@pytest.mark.parametrize("name", ["tanh", "sigmoid"])
def test_activation_kernels_use_the_same_definition(name):
    """The activation op's parallel kernel: within the same bound, and equal to the loop above up
    to the rounding of a differently scheduled division."""
    x = grid()
    y, expected = activation.elementwise(name, x), np.empty_like(x)
    LOOPS[name](x, expected)
    assert np.abs(y - exact(name, x)).max() <= BOUNDS[name]
    np.testing.assert_allclose(y, expected, rtol=0, atol=1e-7)


@pytest.mark.skipif("+avx512f" not in numba.config.CPU_FEATURES.split(","), reason="checks AVX-512 code")
def test_a_loop_over_tanh_is_vectorised_after_a_generated_kernel_compiled_it_first():
    # generated kernels compile with the SLP vectoriser on; a tanh compiled once under it packed its
    # two polynomials into lanes and kept every later loop over it scalar (8× slower)
    numba.config.reload_config()                 # as generated.HEADER does, or a compile resets the flag
    numba.config.SLP_VECTORIZE, before = 1, numba.config.SLP_VECTORIZE
    try:
        njit(lambda v: approx.tanh(v) + approx.sigmoid(v))(np.float32(0.5))
    finally:
        numba.config.SLP_VECTORIZE = before

    @njit(fastmath={"contract"})
    def tanh_all(x, y):
        for i in range(x.size):
            y[i] = approx.tanh(x[i])

    x = np.linspace(-4, 4, 64, dtype=np.float32)
    tanh_all(x, np.empty_like(x))
    assert re.search(r"vfmadd\w*ps\s+%zmm", next(iter(tanh_all.inspect_asm().values())))
