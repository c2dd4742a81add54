"""CPU activations against the reference (see test_core.check), on 4-D (NHWC inside), 3-D and
2-D inputs, kinks included; the fast float32 tanh against libm."""
import numpy as np
import pytest

from cnnc.runtime.cpu import activation as cpu
from cnnc.runtime.reference import activation as ref

from .test_core import SHAPES, check, run

ELEMENTWISE = {
    "relu": {}, "relu6": {}, "leaky_relu": {"slope": 0.2},
    "sigmoid": {}, "hard_sigmoid": {}, "tanh": {},
}
rng = np.random.default_rng(0)


@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
@pytest.mark.parametrize("name", ELEMENTWISE)
def test_elementwise(name, shape):
    # scaled so the kinks of relu6 (0, 6) and hard_sigmoid (±3) are crossed
    check("activation", name, [4 * rng.standard_normal(shape)], [], ELEMENTWISE[name])


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_elementwise_at_the_kinks(name):
    x = np.array([[-6.0, -3.0, -1.0, 0.0, 1.0, 3.0, 6.0, 7.0]])
    check("activation", name, [x], [], ELEMENTWISE[name])


def test_leaky_relu_slope_defaults_to_pytorchs():
    y = run(cpu.leaky_relu_fwd, [np.array([[-2.0, 3.0]], np.float32)])
    np.testing.assert_allclose(y, [[-0.02, 3.0]])


@pytest.mark.parametrize("axis", [0, 1, 2, -1, -3])
def test_softmax_4d(axis):
    check("activation", "softmax", [3 * rng.standard_normal((2, 3, 4, 5))], [], {"axis": axis})


@pytest.mark.parametrize("shape, axis", [((2, 3, 5), 0), ((2, 3, 5), 1), ((2, 3, 5), -1), ((4, 7), 0)])
def test_softmax_lower_rank(shape, axis):
    check("activation", "softmax", [3 * rng.standard_normal(shape)], [], {"axis": axis})


def test_softmax_survives_large_inputs():
    y = run(cpu.softmax_fwd, [np.array([[1000.0, 1000.0]], np.float32)], attrs={"axis": 0})
    np.testing.assert_allclose(y, [[0.5, 0.5]])


def test_fast_tanh_is_within_a_few_ulp_of_libm():
    x = np.linspace(-20, 20, 200_001).astype(np.float32)
    t = cpu.elementwise("tanh", x)
    assert np.abs(t.astype(np.float64) - np.tanh(x.astype(np.float64))).max() < 1e-6
    assert np.abs(t).max() <= 1 and cpu.elementwise("tanh", np.float32([0.0]))[0] == 0


def test_sigmoid_stays_in_range_for_huge_inputs():
    y = cpu.elementwise("sigmoid", np.array([-800.0, 0.0, 800.0], np.float32))
    assert 0 <= y[0] < 1e-6 and y[1] == 0.5 and 1 - 1e-6 < y[2] <= 1


@pytest.mark.parametrize("name", [*ELEMENTWISE, "softmax"])
def test_fused_activations_by_name_match_the_reference(name):
    x = (3 * rng.standard_normal((4, 6))).astype(np.float32)
    dy = rng.standard_normal((4, 6)).astype(np.float32)
    np.testing.assert_allclose(cpu.apply(name, x), ref.apply(name, x.astype(np.float64)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(cpu.apply_grad(name, x, dy), ref.apply_grad(name, x.astype(np.float64), dy),
                               rtol=1e-5, atol=1e-6)
