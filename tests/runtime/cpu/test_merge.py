"""CPU merges against the reference (see test_core.check): add and multiply with the boundary's
broadcasting (lower-rank inputs align with trailing boundary axes, also against NHWC), concat."""
import numpy as np
import pytest

from cnnc.runtime.cpu import merge as cpu
from cnnc.runtime.cpu.layout import to_internal

from .test_core import check, run

rng = np.random.default_rng(0)

SHAPES = {
    "equal": [(2, 3, 4, 5), (2, 3, 4, 5)],
    "channel gate": [(2, 3, 1, 1), (2, 3, 4, 5)],                 # squeeze-and-excitation
    "spatial gate": [(2, 3, 4, 5), (2, 1, 4, 5)],
    "lower rank": [(2, 5), (2, 3, 4, 5), (2, 1, 4, 1)],           # (N, W) stretches over C, H
    "3-D under 4-D": [(2, 4, 5), (2, 3, 4, 5)],
    "both stretched": [(2, 3, 4, 1), (2, 1, 1, 5), (2, 3, 1, 5)],
    "three full": [(2, 3, 4, 5), (2, 3, 4, 5), (2, 3, 4, 5)],
    "batch of one": [(1, 3, 1, 1), (1, 3, 4, 5)],
    "3-D": [(2, 3, 1), (2, 3, 5), (2, 5)],
    "2-D": [(3, 1), (3, 6)],
}


@pytest.mark.parametrize("shapes", SHAPES.values(), ids=SHAPES.keys())
@pytest.mark.parametrize("op", ["add", "multiply"])
def test_broadcast_gradients_sum_back_to_each_input(op, shapes):
    xs = [rng.standard_normal(s) for s in shapes]
    xs[0].flat[0] = 0.0                      # multiply's gradient must not divide by an input
    check("merge", op, xs)


@pytest.mark.parametrize("shapes", [SHAPES["equal"], SHAPES["channel gate"]], ids=["equal", "channel gate"])
def test_add_with_a_relu_equals_the_relu_of_the_sum(shapes):
    """add+relu, a step that trains as one op (a ResNet block's end): the ReLU in the sum's pass."""
    from cnnc.runtime.ops import RunContext
    xs = [to_internal("x", rng.standard_normal(s).astype(np.float32)) for s in shapes]
    plain, _ = cpu.add_fwd(xs, [], {}, RunContext())
    y, saved = cpu.add_fwd(xs, [], {}, RunContext(), activation="relu")
    np.testing.assert_array_equal(y, np.maximum(plain, 0))
    assert saved == [x.shape for x in xs]


def test_channel_gate_scales_each_channel_inside():
    x = np.ones((1, 2, 2, 2), np.float32)
    gate = np.array([2.0, 3.0], np.float32).reshape(1, 2, 1, 1)
    y, saved = cpu.multiply_fwd([to_internal("", gate), to_internal("", x)], [], {}, None)
    assert y[0, 0, 0, :].tolist() == [2, 3]                       # NHWC: channels last
    (dgate, dx), _ = cpu.multiply_bwd(saved, np.ones_like(y), {})
    assert dgate.shape == (1, 1, 1, 2) and dgate.ravel().tolist() == [4, 4]   # summed over H × W


def test_stretched_operands_take_one_block_of_axes():
    assert cpu.stretch((2, 4, 5, 3), (2, 1, 1, 3)) == (2, 20, 3)   # a channel gate inside
    assert cpu.stretch((2, 4, 5, 3), (2, 4, 5, 1)) == (40, 3, 1)
    assert cpu.stretch((1, 4, 5, 3), (1, 1, 1, 3)) == (1, 20, 3)
    assert cpu.stretch((2, 4, 5, 3), (2, 1, 5, 1)) is None         # alternating: NumPy broadcasting


def test_lower_rank_aligns_with_trailing_boundary_axes():
    x = to_internal("", np.zeros((1, 3, 2, 2), np.float32))        # boundary (N, C=3, H=2, W=2)
    bias = np.array([[10.0, 20.0]], np.float32)                     # (N, W=2)
    y = run(cpu.add_fwd, [x, bias])
    assert y.shape == (1, 2, 2, 3)                                  # NHWC
    assert (y[0, :, 0, :] == 10).all() and (y[0, :, 1, :] == 20).all()


@pytest.mark.parametrize("axis", [0, 1, 2, -1])
def test_concat_4d(axis):
    sizes = [2, 3, 4]
    shapes = [[2, 3, 4, 5] for _ in sizes]
    for shape, size in zip(shapes, sizes):
        shape[axis % 3 + 1] = size
    check("merge", "concat", [rng.standard_normal(s) for s in shapes], [], {"axis": axis})


@pytest.mark.parametrize("shapes, axis", [([(2, 2, 5), (2, 3, 5)], 0), ([(2, 3, 1), (2, 3, 4)], 1),
                                         ([(3, 2), (3, 4)], 0)])
def test_concat_lower_rank(shapes, axis):
    check("merge", "concat", [rng.standard_normal(s) for s in shapes], [], {"axis": axis})
