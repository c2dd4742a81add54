"""Normalisation ops against hand-checked values and finite differences.

Checked against PyTorch 2.13 in float64 (nn.BatchNorm1d/2d in train and eval mode, running
statistics included; F.layer_norm, F.instance_norm, F.group_norm, F.local_response_norm):
outputs and gradients agree to 1e-10 for (N, C), (N, C, L) and (N, C, H, W) inputs.
The torch-derived values below are quoted to 10 digits.
"""
import numpy as np
import pytest

from cnnc.runtime.ops import RunContext
from cnnc.runtime.reference import norm as ref

from ..gradcheck import check_op

rng = np.random.default_rng(0)
BN = {"eps": 1e-5, "momentum": 0.1}


def batchnorm_params(c):
    """weight, bias, running mean, running variance (positive)."""
    return [rng.standard_normal(c), rng.standard_normal(c), rng.standard_normal(c), rng.random(c) + 0.5]


# ---------------------------------------------------------------- batchnorm
def test_batchnorm_training_uses_the_batch_and_updates_running_stats():
    x = np.array([[1.0], [2.0], [3.0], [4.0]])      # mean 2.5, biased var 1.25, unbiased 5/3
    running_mean, running_var = np.zeros(1), np.ones(1)
    y, _ = ref.batchnorm_fwd([x], [np.ones(1), np.zeros(1), running_mean, running_var], BN,
                             RunContext(train=True))
    np.testing.assert_allclose(y.ravel(), [-1.3416354200, -0.4472118067, 0.4472118067, 1.3416354200])
    np.testing.assert_allclose(running_mean, [0.25])                   # 0.9 · 0 + 0.1 · 2.5
    np.testing.assert_allclose(running_var, [0.9 + 0.1 * 5 / 3])       # torch: 1.0666666667


def test_batchnorm_eval_uses_running_stats_and_leaves_them():
    running_mean, running_var = np.array([0.25]), np.array([1.0666666667])
    y, _ = ref.batchnorm_fwd([np.array([[1.0], [2.0]])], [np.ones(1), np.zeros(1), running_mean, running_var],
                             BN, RunContext(train=False))
    np.testing.assert_allclose(y.ravel(), [0.7261809734, 1.6944222714], rtol=1e-9)
    assert running_mean.tolist() == [0.25]


@pytest.mark.parametrize("shape", [(5, 3), (4, 3, 7), (2, 3, 4, 5)])
@pytest.mark.parametrize("train", [True, False])
def test_batchnorm_gradient(shape, train):
    x = 2 * rng.standard_normal(shape) + 1
    check_op(ref.batchnorm_fwd, ref.batchnorm_bwd, [x], batchnorm_params(3), BN, train=train)


def test_batchnorm_gives_no_gradient_to_running_stats():
    x = rng.standard_normal((4, 3))
    y, saved = ref.batchnorm_fwd([x], batchnorm_params(3), BN, RunContext(train=True))
    _, (dweight, dbias, dmean, dvar) = ref.batchnorm_bwd(saved, np.ones_like(y), BN)
    assert dweight.shape == dbias.shape == (3,) and dmean is None and dvar is None


def test_batchnorm_training_needs_two_values_per_channel():
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        ref.batchnorm_fwd([np.ones((1, 3))], batchnorm_params(3), BN, RunContext(train=True))


# ---------------------------------------------------------------- layernorm
def test_layernorm_standardises_each_sample():
    y, _ = ref.layernorm_fwd([np.array([[1.0, 2.0, 3.0]])], [None, None],
                             {"axes": "all", "eps": 1e-5, "affine": False}, RunContext())
    np.testing.assert_allclose(y, [[-1.2247356859, 0, 1.2247356859]])


@pytest.mark.parametrize("axes, normalised", [("all", (3, 4, 5)), ("last", (5,))])
@pytest.mark.parametrize("affine", [True, False])
def test_layernorm_gradient(axes, normalised, affine):
    x = rng.standard_normal((2, 3, 4, 5))
    ps = [rng.standard_normal(normalised), rng.standard_normal(normalised)] if affine else [None, None]
    y = check_op(ref.layernorm_fwd, ref.layernorm_bwd, [x], ps, {"axes": axes, "eps": 1e-5, "affine": affine})
    if not affine:
        np.testing.assert_allclose(y.mean(axis=-1 if axes == "last" else (1, 2, 3)), 0, atol=1e-12)


# ---------------------------------------------------------------- instancenorm
def test_instancenorm_standardises_each_sample_and_channel():
    x = np.array([[[1.0, 3.0], [0.0, 4.0]]])       # (N=1, C=2, L=2)
    y, _ = ref.instancenorm_fwd([x], [None, None], {"eps": 1e-5, "affine": False}, RunContext())
    np.testing.assert_allclose(y.ravel(), [-0.9999950000, 0.9999950000, -0.9999987500, 0.9999987500])


@pytest.mark.parametrize("shape", [(2, 3, 7), (2, 3, 4, 5)])
@pytest.mark.parametrize("affine", [True, False])
def test_instancenorm_gradient(shape, affine):
    ps = [rng.standard_normal(3), rng.standard_normal(3)] if affine else [None, None]
    check_op(ref.instancenorm_fwd, ref.instancenorm_bwd, [3 * rng.standard_normal(shape)], ps,
             {"eps": 1e-5, "affine": affine})


def test_instancenorm_needs_spatial_axes():
    with pytest.raises(ValueError, match="spatial"):
        ref.instancenorm_fwd([np.ones((2, 3))], [None, None], {"eps": 1e-5, "affine": False}, RunContext())


# ---------------------------------------------------------------- groupnorm
def test_groupnorm_standardises_groups_of_channels():
    x = np.array([[1.0, 2.0, 3.0, 5.0]]).reshape(1, 4, 1)   # groups {1, 2} and {3, 5}
    y, _ = ref.groupnorm_fwd([x], [np.ones(4), np.zeros(4)], {"groups": 2, "eps": 1e-5}, RunContext())
    np.testing.assert_allclose(y.ravel(), [-0.9999800006, 0.9999800006, -0.9999950000, 0.9999950000])


@pytest.mark.parametrize("shape", [(2, 6), (2, 6, 7), (2, 6, 4, 5)])
@pytest.mark.parametrize("groups", [1, 3, 6])
def test_groupnorm_gradient(shape, groups):
    check_op(ref.groupnorm_fwd, ref.groupnorm_bwd, [3 * rng.standard_normal(shape)],
             [rng.standard_normal(6), rng.standard_normal(6)], {"groups": groups, "eps": 1e-5})


def test_groupnorm_with_one_group_per_channel_is_instancenorm():
    x, w, b = rng.standard_normal((2, 4, 5, 5)), rng.standard_normal(4), rng.standard_normal(4)
    group, _ = ref.groupnorm_fwd([x], [w, b], {"groups": 4, "eps": 1e-5}, RunContext())
    instance, _ = ref.instancenorm_fwd([x], [w, b], {"eps": 1e-5, "affine": True}, RunContext())
    np.testing.assert_allclose(group, instance)


# ---------------------------------------------------------------- lrn
def test_lrn_window_and_values():
    # size 2: channel c sums x² over c−1 … c, so the scales are 1 + (1, 1+4, 4+9)/2
    x = np.array([1.0, 2.0, 3.0]).reshape(1, 3, 1, 1)
    y, _ = ref.lrn_fwd([x], [], {"size": 2, "alpha": 1.0, "beta": 1.0, "k": 1.0}, RunContext())
    np.testing.assert_allclose(y.ravel(), [1 / 1.5, 2 / 3.5, 3 / 7.5])


def test_lrn_with_alexnet_constants_matches_pytorch():
    # the layer's defaults are AlexNet's (k = 2); PyTorch's own default is k = 1
    x = np.arange(1.0, 7.0).reshape(1, 6, 1)
    y, _ = ref.lrn_fwd([x], [], {"size": 5, "alpha": 1e-4, "beta": 0.75, "k": 2.0}, RunContext())
    np.testing.assert_allclose(y.ravel(), [0.5945411318, 1.1889396136, 1.7830752045,
                                           2.3768100636, 2.9711016329, 3.5655624308], rtol=1e-9)


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("shape", [(2, 7, 5), (2, 7, 3, 4)])
def test_lrn_gradient(size, shape):
    check_op(ref.lrn_fwd, ref.lrn_bwd, [3 * rng.standard_normal(shape)], [],
             {"size": size, "alpha": 0.1, "beta": 0.75, "k": 2.0})
