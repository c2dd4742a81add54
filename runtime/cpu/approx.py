"""tanh and sigmoid by a float32 rational approximation: the one definition every CPU kernel uses.

np.tanh and np.exp are scalar libm calls in the pip stack (12.5 ns per element here, never
vectorised, ../shared/PERFORMANCE.md); a rational function is a handful of multiply-adds and
one division, which LLVM vectorises across a loop like any other arithmetic.

    tanh(x) ≈ x · P(x²) / Q(x²),   P of degree 6, Q of degree 3 (odd 13 / even 6 in x)

for x clamped to ±CLAMP (7.905): Eigen's `generic_fast_tanh_float` minimax coefficients, with
Eigen's branch for tiny |x| left out (it only sharpens the relative error near 0), so a loop over
it vectorises. Past the clamp the result stays at tanh(CLAMP) ≈ 1 − 2.4e-7, within the stated
error of tanh(x) for every larger x, ±inf included. NaN in gives an unspecified value out (the
clamp is a min/max pair under fastmath).

    sigmoid(x) = ½ + ½ · tanh(x / 2)

which never overflows (an exp(−x) formulation overflows for x < −88).

Maximum absolute error, float32 arithmetic as compiled (fastmath: contractions into FMAs, loops
vectorised), against float64 np.tanh and 1 / (1 + exp(−x)) over 2²⁰ evenly spaced points in
[−20, 20], the 2⁻²⁰ grid on [−1, 1], ±0, ±1e-30, ±float32 max and ±inf
(tests/runtime/cpu/test_approx.py):

    |tanh_approx(x) − tanh(x)|       ≤ MAX_ERROR_TANH    = 4e-7     (measured 2.3e-7 to 3.1e-7)
    |sigmoid_approx(x) − sigmoid(x)| ≤ MAX_ERROR_SIGMOID = 2.5e-7   (measured 1.2e-7 to 1.9e-7)

(the measured maximum depends on how the division is compiled: a scalar divss, or in a
vectorised loop a reciprocal estimate refined by a Newton step)

a few ulp of 1 (6e-8); float32 training tolerates far more (the CPU-vs-reference tests compare at
rtol 1e-4).

Both are jitted with error_model="numpy" (with Numba's default, "python", a division tests for
zero and may raise, an exit that stops LLVM vectorising the loop the function is inlined into)
and compiled eagerly, for float32, when this module is imported. Compiled lazily they were
optimised, and cached, under whatever flags their first caller's compilation had set: when that
was a generated kernel (SLP vectoriser on, generated.HEADER, which imports this module before it
sets the flag), the cached body held its two polynomials packed as a pair of lanes, and every
later loop over it stayed scalar (2.0 against 0.25 ns per element; LeNet's C1 with its tanh
store 0.71 against 0.35 ms). Numba's on-disk cache does not notice an edit here in the kernels
that call these (activation.py, recurrent.py): touch those files, or clear the cache, after one.
"""
from __future__ import annotations

import numpy as np
from numba import njit

MAX_ERROR_TANH = 4e-7
MAX_ERROR_SIGMOID = 2.5e-7

_HALF = np.float32(0.5)
_CLAMP = np.float32(7.90531110763549805)       # the end of the fitted interval
_A1, _A3, _A5, _A7 = (np.float32(4.89352455891786e-03), np.float32(6.37261928875436e-04),
                      np.float32(1.48572235717979e-05), np.float32(5.12229709037114e-08))
_A9, _A11, _A13 = (np.float32(-8.60467152213735e-11), np.float32(2.00018790482477e-13),
                   np.float32(-2.76076847742355e-16))
_B0, _B2, _B4, _B6 = (np.float32(4.89352518554385e-03), np.float32(2.26843463243900e-03),
                      np.float32(1.18534705686654e-04), np.float32(1.19825839466702e-06))


@njit("float32(float32)", fastmath=True, error_model="numpy", cache=True)
def tanh(x):
    """tanh(x) for float32 x, absolute error ≤ MAX_ERROR_TANH; no branch, so loops over it vectorise."""
    x = min(max(x, -_CLAMP), _CLAMP)
    x2 = x * x
    p = x2 * _A13 + _A11
    p = x2 * p + _A9
    p = x2 * p + _A7
    p = x2 * p + _A5
    p = x2 * p + _A3
    p = x2 * p + _A1
    q = x2 * _B6 + _B4
    q = x2 * q + _B2
    q = x2 * q + _B0
    return x * p / q


@njit("float32(float32)", fastmath=True, error_model="numpy", cache=True)
def sigmoid(x):
    """1 / (1 + exp(−x)) for float32 x, absolute error ≤ MAX_ERROR_SIGMOID."""
    return _HALF + _HALF * tanh(_HALF * x)
