"""CPU normalisation against the reference (see test_core.check), on 4-D (NHWC inside), 3-D and
2-D inputs; batchnorm's running statistics after a training step included."""
import numpy as np
import pytest

from cnnc.runtime.cpu import norm as cpu

from .test_core import SHAPES, check, run

rng = np.random.default_rng(0)
BN = {"eps": 1e-5, "momentum": 0.1}


def batchnorm_params(c):
    """weight, bias, running mean, running variance (positive)."""
    return [rng.standard_normal(c), rng.standard_normal(c), rng.standard_normal(c), rng.random(c) + 0.5]


# ---------------------------------------------------------------- batchnorm
@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
@pytest.mark.parametrize("train", [True, False])
def test_batchnorm(shape, train):
    x = 2 * rng.standard_normal(shape) + 1
    ref_ps, cpu_ps, _ = check("norm", "batchnorm", [x], batchnorm_params(6), BN, train=train)
    for r, c in zip(ref_ps[2:], cpu_ps[2:]):                # running mean and variance, in place
        np.testing.assert_allclose(c, r, rtol=1e-5, atol=1e-6)


def test_batchnorm_with_a_relu_in_its_passes_equals_the_two_ops():
    """A batchnorm+relu step that trains as one op: the ReLU in the normalising pass forward,
    its derivative in batchnorm's reductions backward."""
    from cnnc.runtime.cpu import activation
    from cnnc.runtime.ops import RunContext
    x = (2 * rng.standard_normal((4, 5, 6, 16)) + 1).astype(np.float32)
    dy = rng.standard_normal(x.shape).astype(np.float32)
    ps = [p.astype(np.float32) for p in batchnorm_params(16)]
    z, saved = cpu.batchnorm_fwd([x], [p.copy() for p in ps], BN, RunContext(train=True))
    y, saved_as_one = cpu.batchnorm_fwd([x], [p.copy() for p in ps], BN, RunContext(train=True), activation="relu")
    np.testing.assert_array_equal(y, np.maximum(z, 0))
    dz = activation.relu_bwd((z,), dy, {})[0][0]
    expected = cpu.batchnorm_bwd(saved, dz, BN)
    got = cpu.batchnorm_bwd(saved_as_one, dy, BN, activation="relu", output=y)
    for e, g in zip(expected[0] + expected[1][:2], got[0] + got[1][:2]):
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-5)


def test_batchnorm_running_stats_use_the_unbiased_variance():
    x = np.array([[1.0], [2.0], [3.0], [4.0]], np.float32)   # mean 2.5, unbiased variance 5/3
    running_mean, running_var = np.zeros(1, np.float32), np.ones(1, np.float32)
    run(cpu.batchnorm_fwd, [x], [np.ones(1, np.float32), np.zeros(1, np.float32), running_mean, running_var],
        BN, train=True)
    np.testing.assert_allclose(running_mean, [0.25])
    np.testing.assert_allclose(running_var, [0.9 + 0.1 * 5 / 3])
    assert running_mean.dtype == running_var.dtype == np.float32


def test_batchnorm_training_needs_two_values_per_channel():
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        run(cpu.batchnorm_fwd, [np.ones((1, 3), np.float32)], batchnorm_params(3), BN, train=True)


# ---------------------------------------------------------------- layernorm
@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
@pytest.mark.parametrize("axes", ["all", "last"])
@pytest.mark.parametrize("affine", [True, False])
def test_layernorm(shape, axes, affine):
    normalised = shape[1:] if axes == "all" else shape[-1:]
    ps = [rng.standard_normal(normalised), rng.standard_normal(normalised)] if affine else [None, None]
    check("norm", "layernorm", [3 * rng.standard_normal(shape) - 1], ps, {"axes": axes, "eps": 1e-5, "affine": affine})


# ---------------------------------------------------------------- instancenorm
@pytest.mark.parametrize("shape", [(2, 6, 4, 5), (2, 6, 7)], ids=["4-D", "3-D"])
@pytest.mark.parametrize("affine", [True, False])
def test_instancenorm(shape, affine):
    ps = [rng.standard_normal(6), rng.standard_normal(6)] if affine else [None, None]
    check("norm", "instancenorm", [3 * rng.standard_normal(shape)], ps, {"eps": 1e-5, "affine": affine})


def test_instancenorm_needs_spatial_axes():
    with pytest.raises(ValueError, match="spatial"):
        run(cpu.instancenorm_fwd, [np.ones((2, 3), np.float32)], [None, None], {"eps": 1e-5, "affine": False})


# ---------------------------------------------------------------- groupnorm
# groups = 6 on (N, 6) would be one value per group: x̂ is 0 / sqrt(eps), all rounding
GROUPNORM = [(rank, groups) for rank in SHAPES for groups in (1, 2, 3, 6) if (rank, groups) != ("2-D", 6)]


@pytest.mark.parametrize("rank, groups", GROUPNORM)
def test_groupnorm(rank, groups):
    ps = [rng.standard_normal(6), rng.standard_normal(6)]
    check("norm", "groupnorm", [2 * rng.standard_normal(SHAPES[rank]) + 1], ps, {"groups": groups, "eps": 1e-5})


def test_groupnorm_rejects_groups_not_dividing_channels():
    with pytest.raises(ValueError, match="groups=4 must divide the 6 channels"):
        run(cpu.groupnorm_fwd, [np.ones((2, 3, 3, 6), np.float32)], [None, None], {"groups": 4, "eps": 1e-5})


# ---------------------------------------------------------------- local response norm
@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
@pytest.mark.parametrize("size, beta", [(1, 0.75), (2, 0.75), (5, 0.75), (3, 0.5)])
def test_lrn(shape, size, beta):
    # a large alpha so the window's contribution shows at float32 tolerances; β = 3/4 has a fast path
    check("norm", "lrn", [2 * rng.standard_normal(shape)], [], {"size": size, "alpha": 0.5, "beta": beta, "k": 2.0})
