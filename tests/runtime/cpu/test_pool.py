"""The CPU pools against the reference: same data, NHWC inside, float32.

The reference runs in float64 on the float32 data; inputs, outputs and gradients cross the
boundary through layout.to_internal / from_internal as the executor does.
"""
import numpy as np
import pytest

from cnnc.runtime.cpu import pool as cpu
from cnnc.runtime.cpu.layout import from_internal, to_internal
from cnnc.runtime.ops import RunContext
from cnnc.runtime.reference import pool as ref

rng = np.random.default_rng(0)


def assert_close(actual, expected, what):
    """float32 agreement: relative 1e-4, absolute 1e-5 of the largest value."""
    assert actual.shape == expected.shape, what
    atol = 1e-5 * max(float(np.abs(expected).max()), 1.0)
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=atol, err_msg=what)


def check_pool(op, x, attrs):
    """Forward and input gradient of `op` agree with the reference."""
    y_ref, saved_ref = getattr(ref, f"{op}_fwd")([x.astype(np.float64)], [], attrs, RunContext())
    dy = rng.standard_normal(y_ref.shape).astype(np.float32)
    (dx_ref,), _ = getattr(ref, f"{op}_bwd")(saved_ref, dy.astype(np.float64), attrs)

    y, saved = getattr(cpu, f"{op}_fwd")([to_internal(op, x)], [], attrs, RunContext())
    (dx,), dps = getattr(cpu, f"{op}_bwd")(saved, to_internal(op, dy), attrs)

    assert y.dtype == dx.dtype == np.float32 and dps == []
    assert_close(from_internal(op, y), y_ref, "output")
    assert_close(from_internal(op, dx), dx_ref, "input gradient")
    return y


def normal(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def ties(*shape):
    """Small integers: every window has tied maxima."""
    return rng.integers(0, 3, shape).astype(np.float32)


def pool_attrs(kernel, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    return {"kernel": (kernel, kernel), "stride": (stride or kernel,) * 2,
            "padding": ((padding, padding),) * 2, "ceil_mode": ceil_mode,
            "count_include_pad": count_include_pad}


WINDOW_CASES = {
    "k2 s2": pool_attrs(2),                      # windows that tile the image (rows, columns left over)
    "k3 s3": pool_attrs(3),
    "k3 s1 padding 1": pool_attrs(3, 1, padding=1),
    "k2 s2 ceil": pool_attrs(2, ceil_mode=True),
    "k3 s2 padding 1 ceil": pool_attrs(3, 2, padding=1, ceil_mode=True),
    "k3 s2 ceil": pool_attrs(3, 2, ceil_mode=True),
    "asymmetric": {**pool_attrs(3, 2), "kernel": (3, 2), "stride": (2, 1), "padding": ((1, 0), (0, 1))},
    "k5 s3 padding 2 ceil": pool_attrs(5, 3, padding=2, ceil_mode=True),
}


# ---------------------------------------------------------------- windowed pools
@pytest.mark.parametrize("data", [normal, ties], ids=["distinct", "ties"])
@pytest.mark.parametrize("case", WINDOW_CASES)
def test_maxpool2d_matches_reference(case, data):
    check_pool("maxpool2d", data(2, 5, 9, 8), WINDOW_CASES[case])


@pytest.mark.parametrize("count_include_pad", [True, False], ids=["count pad", "ignore pad"])
@pytest.mark.parametrize("case", WINDOW_CASES)
def test_avgpool2d_matches_reference(case, count_include_pad):
    check_pool("avgpool2d", normal(2, 5, 9, 8), {**WINDOW_CASES[case], "count_include_pad": count_include_pad})


@pytest.mark.parametrize("shape", [(2, 3, 6, 7), (2, 16, 7, 9), (1, 20, 4, 4)],
                         ids=["3 channels, column left over", "16 channels, both left over", "20 channels"])
def test_avgpool_2x2_windows_on_either_side_of_the_channel_thresholds(shape):
    check_pool("avgpool2d", normal(*shape), {**pool_attrs(2), "count_include_pad": True})


def test_maxpool_padding_never_wins():
    y = check_pool("maxpool2d", -np.ones((1, 2, 2, 2), np.float32), pool_attrs(2, padding=1))
    np.testing.assert_array_equal(y, -np.ones((1, 2, 2, 2)))


# ---------------------------------------------------------------- global pools
@pytest.mark.parametrize("keepdims", [True, False], ids=["keepdims", "flat"])
@pytest.mark.parametrize("shape", [(2, 6, 5, 7), (2, 6, 9)], ids=["NCHW", "NCL"])
@pytest.mark.parametrize("op", ["global_avgpool", "global_maxpool"])
def test_global_pools_match_reference(op, shape, keepdims):
    y = check_pool(op, normal(*shape), {"keepdims": keepdims})
    internal = {(4, True): (2, 1, 1, 6), (3, True): (2, 6, 1)}.get((len(shape), keepdims), (2, 6))
    assert y.shape == internal


def test_global_maxpool_tie_goes_to_the_first_maximum():
    check_pool("global_maxpool", ties(2, 3, 4, 4), {"keepdims": False})


# ---------------------------------------------------------------- adaptive and spp
@pytest.mark.parametrize("output", [(1, 1), (2, 2), (3, 4), (5, 6), (7, 9)])
def test_adaptive_avgpool_matches_reference(output):
    check_pool("adaptive_avgpool", normal(2, 5, 5, 6), {"output": output})


@pytest.mark.parametrize("data", [normal, ties], ids=["distinct", "ties"])
@pytest.mark.parametrize("mode", ["max", "avg"])
def test_spp_matches_reference(mode, data):
    check_pool("spp", data(2, 3, 5, 7), {"levels": (1, 2, 4), "mode": mode})


def test_spp_flattens_in_the_boundary_channel_major_order():
    x = np.stack([np.arange(16.0).reshape(4, 4), -np.arange(16.0).reshape(4, 4)])[None].astype(np.float32)
    y, _ = cpu.spp_fwd([to_internal("spp", x)], [], {"levels": (1, 2), "mode": "max"}, RunContext())
    #          level 1, (C, 1, 1)   level 2, (C, 2, 2)
    np.testing.assert_array_equal(y, [[15, 0, 5, 7, 13, 15, 0, -2, -8, -10]])
