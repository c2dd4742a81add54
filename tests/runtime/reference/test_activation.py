"""Activations against their formulas and finite differences.

Checked against PyTorch 2.13 (F.relu6, F.leaky_relu, torch.sigmoid, F.hardsigmoid, torch.tanh,
torch.softmax: outputs and gradients agree to 1e-10 in float64, kinks included). One knowing
difference: PyTorch's hardsigmoid gradient is float32's 1/6 (0.1666666716); ours is exact.
"""
import numpy as np
import pytest

from cnnc.runtime.reference import activation as ref
from cnnc.runtime.ops import RunContext

from ..gradcheck import check_op

ELEMENTWISE = {
    "relu": {}, "relu6": {}, "leaky_relu": {"slope": 0.2},
    "sigmoid": {}, "hard_sigmoid": {}, "tanh": {},
}


def op(name):
    return getattr(ref, f"{name}_fwd"), getattr(ref, f"{name}_bwd")


def test_relu_forward_and_gradient():
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 4))
    y = check_op(ref.relu_fwd, ref.relu_bwd, [x], [], {})
    np.testing.assert_array_equal(y, np.maximum(x, 0))


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_elementwise_gradient(name):
    # scaled so the kinks of relu6 (0, 6) and hard_sigmoid (±3) are crossed
    x = 4 * np.random.default_rng(1).standard_normal((2, 3, 4, 4))
    check_op(*op(name), [x], [], ELEMENTWISE[name])


def test_values_match_pytorch():
    assert ref.relu6(np.array([-1.0, 3.0, 7.0])).tolist() == [0, 3, 6]
    assert ref.leaky_relu(np.array([-2.0, 0.0, 3.0]), slope=0.1).tolist() == [-0.2, 0, 3]
    assert ref.hard_sigmoid(np.array([-4.0, -1.5, 0.0, 1.5, 4.0])).tolist() == [0, 0.25, 0.5, 0.75, 1]


def test_gradients_at_the_kinks_follow_pytorch():
    ones = np.ones(5)
    x = np.array([-1.0, 0.0, 3.0, 6.0, 7.0])
    assert ref.relu_grad(x, ones).tolist() == [0, 0, 1, 1, 1]
    assert ref.relu6_grad(x, ones).tolist() == [0, 0, 1, 0, 0]
    assert ref.leaky_relu_grad(x, ones, slope=0.1).tolist() == [0.1, 0.1, 1, 1, 1]
    np.testing.assert_allclose(ref.hard_sigmoid_grad(np.array([-3.0, -2.0, 0.0, 3.0, 4.0]), ones),
                               [0, 1 / 6, 1 / 6, 0, 0])


def test_sigmoid_does_not_overflow():
    with np.errstate(all="raise"):
        assert ref.sigmoid(np.array([-800.0, 0.0, 800.0])).tolist() == [0, 0.5, 1]


def test_softmax_along_channels_by_default():
    x = np.log([[1.0, 2.0, 3.0]])                   # exp(x) = 1, 2, 3: softmax = 1/6, 2/6, 3/6
    y, _ = ref.softmax_fwd([x], [], {"axis": 0}, RunContext())
    np.testing.assert_allclose(y, [[1 / 6, 2 / 6, 3 / 6]])
    np.testing.assert_allclose(ref.softmax(np.array([[0.0, 1.0, 2.0]])),   # torch.softmax
                               [[0.0900305732, 0.2447284711, 0.6652409558]])


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_softmax_sums_to_one_along_axis_and_gradient(axis):
    x = np.random.default_rng(2).standard_normal((2, 3, 4, 5))
    y = check_op(ref.softmax_fwd, ref.softmax_bwd, [x], [], {"axis": axis})
    np.testing.assert_allclose(y.sum(axis=axis % 3 + 1), 1)


def test_softmax_survives_large_inputs():
    y = ref.softmax(np.array([[1000.0, 1000.0]]))
    np.testing.assert_allclose(y, [[0.5, 0.5]])


def test_table_serves_fused_activations_by_name():
    x = np.array([[-2.0, 0.5]])
    assert ref.apply("none", x) is x
    assert ref.apply("relu", x).tolist() == [[0, 0.5]]
    assert ref.apply("leaky_relu", x, slope=0.5).tolist() == [[-1, 0.5]]
    assert ref.apply_grad("relu", x, np.ones_like(x)).tolist() == [[0, 1]]
    assert set(ref.ACTIVATIONS) >= {"none", "relu", "relu6", "leaky_relu", "sigmoid", "hard_sigmoid",
                                    "tanh", "softmax"}


@pytest.mark.parametrize("name", [*ELEMENTWISE, "softmax"])
def test_float32_stays_float32(name):
    x = np.random.default_rng(3).standard_normal((2, 3)).astype(np.float32)
    attrs = {"axis": 0} if name == "softmax" else ELEMENTWISE[name]
    fwd, bwd = op(name)
    y, saved = fwd([x], [], attrs, RunContext())
    (dx,), _ = bwd(saved, np.ones_like(y), attrs)
    assert y.dtype == dx.dtype == np.float32
