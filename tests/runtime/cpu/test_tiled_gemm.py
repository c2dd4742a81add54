"""The register-tiled GEMM (runtime/cpu/tiled_gemm.py) against numpy: every operand form, ragged
rows and columns, several depth blocks, an empty depth, and the per-thread entry point."""
import numpy as np
import pytest

from cnnc.runtime.cpu import tiled_gemm as tg


def product(a_form, m, k, n, rng, b0=0):
    """(C from the tiled GEMM, A·B from numpy) for A (m, k) laid out as `a_form`."""
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((b0 + k, n)).astype(np.float32)
    rows = tg.round_up(m, tg.ROWS)
    block = tg.DEPTH_BLOCK
    if a_form == "rows":
        flat = np.zeros((rows, k), np.float32)
        flat[:m] = a
        operand = (flat.reshape(-1), k, 1, block)
    elif a_form == "columns":                              # A given as Aᵀ (k, rows)
        flat = np.zeros((k, rows), np.float32)
        flat[:, :m] = a.T
        operand = (flat.reshape(-1), 1, rows, block * rows)
    else:                                                  # A in panels: (k/64, rows, 64)
        block = tg.WIDTH
        padded = np.zeros((rows, k), np.float32)
        padded[:m] = a
        operand = (tg.panels(padded).reshape(-1), tg.WIDTH, 1, rows * tg.WIDTH)
    c = np.full((rows, tg.round_up(n, tg.WIDTH)), np.nan, np.float32)
    a_flat, rs, ks, kb = operand
    tg.gemm(a_flat, rs, ks, kb, block, m, k, tg.panels(b), b0, tg.as_tiles(c))
    return c[:m, :n], a @ b[b0:]


@pytest.mark.parametrize("a_form", ["rows", "columns", "panels"])
@pytest.mark.parametrize("m, k, n", [(4, 64, 64), (7, 3, 5), (70, 300, 130), (129, 129, 64), (1, 1, 1)])
def test_matches_numpy(a_form, m, k, n):
    got, want = product(a_form, m, k, n, np.random.default_rng(m + k + n))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)


def test_b_from_a_row_offset():
    got, want = product("columns", 12, 200, 64, np.random.default_rng(1), b0=37)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)


def test_empty_depth_gives_zeros():
    c = np.full((8, 64), np.nan, np.float32)
    no_rows = tg.panels(np.zeros((0, 64), np.float32))
    tg.gemm(np.zeros(0, np.float32), 0, 1, tg.DEPTH_BLOCK, tg.DEPTH_BLOCK, 6, 0, no_rows, 0, tg.as_tiles(c))
    assert not c[:6].any()


def test_rows_on_one_thread_accumulate():
    tg.ready()                                         # gemm_rows is jitted code calling the tile
    rng = np.random.default_rng(2)
    a = rng.standard_normal((8, 40)).astype(np.float32)
    b = rng.standard_normal((40, 128)).astype(np.float32)
    c = np.ones((8, 128), np.float32)
    block = tg.DEPTH_BLOCK
    tg.gemm_rows(a.reshape(-1), 0, 40, 1, block, block, 40, tg.panels(b), 0, tg.as_tiles(c), 4, 8, True)
    np.testing.assert_allclose(c[4:], 1 + a[4:] @ b, rtol=1e-5, atol=1e-4)
    np.testing.assert_array_equal(c[:4], 1)            # rows outside lo:hi untouched
