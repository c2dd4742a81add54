"""Core ops: dense, dropout, flatten, reshape, embedding, split, channel shuffle.

Checked against PyTorch 2.13 in float64 (F.linear, torch.flatten, reshape, F.embedding,
torch.chunk, F.channel_shuffle and torchvision's channel_shuffle): outputs and gradients agree.
"""
import numpy as np
import pytest

from cnnc.runtime.ops import RunContext
from cnnc.runtime.reference import core as ref

from ..gradcheck import check_op

rng = np.random.default_rng(0)


def run(fwd, xs, ps=(), attrs=None, train=False):
    y, _ = fwd(xs, list(ps), attrs or {}, RunContext(train=train))
    return y


# ---------------------------------------------------------------- dense
def test_dense_is_x_times_weight_transposed_plus_bias():
    x = np.array([[1.0, 2.0]])
    weight = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, -1.0]])     # (out=3, in=2), PyTorch's layout
    assert run(ref.dense_fwd, [x], [weight, np.array([0.5, 0, 0])]).tolist() == [[1.5, 3, -2]]


@pytest.mark.parametrize("bias", [True, False])
def test_dense_gradient(bias):
    ps = [rng.standard_normal((3, 6)), rng.standard_normal(3) if bias else None]
    check_op(ref.dense_fwd, ref.dense_bwd, [rng.standard_normal((4, 6))], ps, {})


# ---------------------------------------------------------------- dropout
def test_dropout_keeps_with_probability_one_minus_rate_and_rescales():
    y = run(ref.dropout_fwd, [np.ones((200, 500))], attrs={"rate": 0.3}, train=True)
    assert set(np.unique(y)) == {0, 1 / 0.7}
    assert abs((y > 0).mean() - 0.7) < 0.01
    assert abs(y.mean() - 1) < 0.01


def test_dropout_is_the_identity_in_eval():
    x = rng.standard_normal((2, 3))
    np.testing.assert_array_equal(run(ref.dropout_fwd, [x], attrs={"rate": 0.5}), x)


@pytest.mark.parametrize("train", [True, False])
def test_dropout_gradient_uses_the_same_mask(train):
    check_op(ref.dropout_fwd, ref.dropout_bwd, [rng.standard_normal((4, 3, 5))], [], {"rate": 0.4}, train=train)


# ---------------------------------------------------------------- flatten, reshape
def test_flatten_keeps_chw_order():
    x = np.arange(24.0).reshape(2, 3, 2, 2)
    y = check_op(ref.flatten_fwd, ref.flatten_bwd, [x], [], {})
    np.testing.assert_array_equal(y, np.arange(24.0).reshape(2, 12))


def test_reshape_keeps_the_batch_axis():
    y = check_op(ref.reshape_fwd, ref.reshape_bwd, [rng.standard_normal((2, 3, 4, 5))], [], {"shape": (12, 5)})
    assert y.shape == (2, 12, 5)


# ---------------------------------------------------------------- embedding
def test_embedding_looks_up_rows_and_gathers_gradients_of_repeats():
    weight = np.arange(8.0).reshape(4, 2)                        # vocab 4, dim 2
    tokens = np.array([[3, 1, 3]])
    y, saved = ref.embedding_fwd([tokens], [weight], {}, RunContext())
    assert y.tolist() == [[[6, 7], [2, 3], [6, 7]]]
    (dtokens,), (dweight,) = ref.embedding_bwd(saved, np.ones_like(y), {})
    assert dtokens is None
    assert dweight.tolist() == [[0, 0], [1, 1], [0, 0], [2, 2]]    # token 3 used twice


def test_embedding_gradient():
    check_op(ref.embedding_fwd, ref.embedding_bwd, [rng.integers(0, 5, (3, 4))], [rng.standard_normal((5, 3))], {})


@pytest.mark.parametrize("bad", [7, -1])
def test_embedding_rejects_out_of_range_tokens(bad):
    with pytest.raises(ValueError, match=f"token id {bad} is out of range for vocab size 5"):
        run(ref.embedding_fwd, [np.array([[0, bad]])], [np.zeros((5, 3))])


# ---------------------------------------------------------------- split
def test_split_takes_the_index_th_equal_part():
    x = np.arange(6.0).reshape(1, 6)
    assert run(ref.split_fwd, [x], attrs={"parts": 3, "index": 1, "axis": 0}).tolist() == [[2, 3]]


@pytest.mark.parametrize("parts, index, axis", [(2, 0, 0), (2, 1, 0), (3, 2, 0), (2, 1, 1), (5, 3, 2)])
def test_split_gradient(parts, index, axis):
    x = rng.standard_normal((2, 6, 4, 10))
    y = check_op(ref.split_fwd, ref.split_bwd, [x], [], {"parts": parts, "index": index, "axis": axis})
    assert y.shape[axis + 1] == x.shape[axis + 1] // parts


# ---------------------------------------------------------------- channel shuffle
@pytest.mark.parametrize("groups, order", [(2, [0, 3, 1, 4, 2, 5]), (3, [0, 2, 4, 1, 3, 5]), (1, list(range(6)))])
def test_channel_shuffle_interleaves_groups(groups, order):
    x = np.arange(6.0).reshape(1, 6, 1, 1)
    assert run(ref.channel_shuffle_fwd, [x], attrs={"groups": groups}).ravel().tolist() == order


@pytest.mark.parametrize("groups", [2, 3])
def test_channel_shuffle_gradient(groups):
    check_op(ref.channel_shuffle_fwd, ref.channel_shuffle_bwd, [rng.standard_normal((2, 6, 3, 4))], [],
             {"groups": groups})


# ---------------------------------------------------------------- axes
def test_axis_attributes_count_the_non_batch_axes():
    assert [ref.array_axis(a, 4) for a in (0, 1, 2, -1, -3)] == [1, 2, 3, 3, 1]
    with pytest.raises(ValueError, match="axis 3 is out of range"):
        ref.array_axis(3, 4)
