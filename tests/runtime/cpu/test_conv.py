"""The CPU convolutions against the reference: same data, NHWC/HWIO inside, float32.

Each case runs the reference in float64 on the float32 data and the CPU kernels in float32,
converting at the boundary as the executor does (layout.to_internal / from_internal; conv2d
weights OIHW → HWIO), and compares the output and the input, weight and bias gradients.
"""
import numpy as np
import pytest

from cnnc.runtime.cpu import conv as cpu
from cnnc.runtime.cpu.layout import from_internal, to_internal
from cnnc.runtime.ops import RunContext
from cnnc.runtime.reference import conv as ref

rng = np.random.default_rng(0)


def assert_close(actual, expected, what):
    """float32 agreement: relative 1e-4, absolute 1e-5 of the largest value."""
    assert actual.shape == expected.shape, what
    atol = 1e-5 * max(float(np.abs(expected).max()), 1.0)
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=atol, err_msg=what)


def check_conv(op, x, weight, bias, attrs, weight_in, weight_out):
    """Forward and every gradient of `op` agree with the reference; `weight_in`/`weight_out`
    convert the weight to and from the CPU layout."""
    f64 = [None if a is None else a.astype(np.float64) for a in (x, weight, bias)]
    y_ref, saved_ref = getattr(ref, f"{op}_fwd")([f64[0]], f64[1:], attrs, RunContext())
    dy = rng.standard_normal(y_ref.shape).astype(np.float32)
    (dx_ref,), (dw_ref, db_ref) = getattr(ref, f"{op}_bwd")(saved_ref, dy.astype(np.float64), attrs)

    y, saved = getattr(cpu, f"{op}_fwd")([to_internal(op, x)], [weight_in(weight), bias], attrs, RunContext())
    (dx,), (dw, db) = getattr(cpu, f"{op}_bwd")(saved, to_internal(op, dy), attrs)

    assert y.dtype == dx.dtype == dw.dtype == np.float32
    assert_close(from_internal(op, y), y_ref, "output")
    assert_close(from_internal(op, dx), dx_ref, "input gradient")
    assert_close(weight_out(dw), dw_ref, "weight gradient")
    if bias is None:
        assert db is None and db_ref is None
    else:
        assert_close(db, db_ref, "bias gradient")


def hwio(w):
    return np.ascontiguousarray(w.transpose(2, 3, 1, 0))


def oihw(w):
    return w.transpose(3, 2, 0, 1)


def same(w):
    return w


def normal(*shape):
    return rng.standard_normal(shape).astype(np.float32)


# ---------------------------------------------------------------- conv2d
def conv2d_case(c=4, o=6, hw=(7, 6), kernel=(3, 3), stride=(1, 1), padding=((1, 1), (1, 1)),
                dilation=(1, 1), groups=1, batch=2, bias=True):
    return dict(x=(batch, c, *hw), weight=(o, c // groups, *kernel), bias=bias,
                attrs={"stride": stride, "padding": padding, "dilation": dilation, "groups": groups})


CONV2D_CASES = {
    "3x3": conv2d_case(),
    "1x1": conv2d_case(kernel=(1, 1), padding=((0, 0), (0, 0))),
    "1x1 stride 2": conv2d_case(c=8, o=16, kernel=(1, 1), padding=((0, 0), (0, 0)), stride=(2, 2)),
    "5x5": conv2d_case(c=3, o=5, hw=(9, 8), kernel=(5, 5), padding=((2, 2), (2, 2))),
    "7x7 stride 2": conv2d_case(c=3, o=8, hw=(13, 11), kernel=(7, 7), stride=(2, 2), padding=((3, 3), (3, 3))),
    "3x2 no padding": conv2d_case(kernel=(3, 2), padding=((0, 0), (0, 0))),
    "no bias": conv2d_case(bias=False),
    "stride 2": conv2d_case(c=8, o=8, hw=(9, 8), stride=(2, 2)),
    "stride 3, phases without taps": conv2d_case(hw=(10, 9), kernel=(2, 2), stride=(3, 3), padding=((0, 1), (1, 0))),
    "stride (2, 1)": conv2d_case(stride=(2, 1)),
    "dilation 2": conv2d_case(dilation=(2, 2), padding=((2, 2), (2, 2))),
    "dilation 2 stride 2": conv2d_case(hw=(11, 10), dilation=(2, 2), stride=(2, 2)),
    "asymmetric padding": conv2d_case(padding=((0, 2), (1, 0)), stride=(2, 1)),
    "padding past the kernel": conv2d_case(hw=(5, 5), padding=((3, 0), (0, 3))),
    "padding wider than the kernel": conv2d_case(hw=(5, 4), padding=((1, 4), (5, 2)), stride=(1, 2)),
    "groups 2": conv2d_case(c=8, o=6, groups=2),
    "groups 2 stride 2 dilation 2": conv2d_case(c=8, o=12, hw=(11, 9), groups=2, stride=(2, 2),
                                                dilation=(2, 1), padding=((0, 2), (1, 0))),
    "depthwise": conv2d_case(c=6, o=6, groups=6),
    "depthwise multiplier 2": conv2d_case(c=3, o=6, groups=3, stride=(2, 2)),
    "depthwise 5x5 dilation 2": conv2d_case(c=5, o=5, hw=(10, 9), groups=5, kernel=(5, 5),
                                            dilation=(2, 2), padding=((4, 3), (2, 4)), bias=False),
    "one input channel": conv2d_case(c=1, o=5, kernel=(5, 5), padding=((2, 2), (2, 2))),
    "one input channel, LeNet's": conv2d_case(c=1, o=6, hw=(12, 12), kernel=(5, 5), padding=((0, 0), (0, 0))),
    "one input channel, 10 outputs, dilation 2, several bands": conv2d_case(
        c=1, o=10, hw=(40, 30), dilation=(2, 2), padding=((2, 2), (1, 3))),
    "one input channel, 7x7, three outputs": conv2d_case(c=1, o=3, hw=(9, 20), kernel=(7, 7),
                                                       padding=((3, 3), (3, 3)), batch=1),
    "one input channel stride 2 dilation 2": conv2d_case(c=1, o=4, hw=(11, 9), stride=(2, 2), dilation=(2, 2),
                                                         padding=((2, 1), (0, 2))),
    "one input channel, 32 outputs: channel tiles forward and weight gradient": conv2d_case(c=1, o=32, hw=(9, 8)),
    "wide: several weight-gradient blocks": conv2d_case(c=5, o=7, hw=(30, 40), batch=1),
    "32 input channels: a channel-tiled weight gradient": conv2d_case(c=32, o=16, hw=(9, 8), stride=(2, 2)),
    "8 inputs, 32 outputs: a full 32 x 8 weight-gradient tile": conv2d_case(c=8, o=32, hw=(9, 8), stride=(2, 2)),
    # grad input with every stride phase in one pass (16+ input channels, no groups or dilation)
    "one pass, odd sizes": conv2d_case(c=16, o=8, hw=(9, 7), stride=(2, 2)),
    "one pass, 5x5, asymmetric padding, a padded channel tile": conv2d_case(
        c=20, o=16, hw=(11, 10), kernel=(5, 5), stride=(2, 2), padding=((0, 2), (1, 2))),
    "one pass, 4x4 without padding": conv2d_case(c=16, o=3, hw=(12, 13), kernel=(4, 4), stride=(2, 2),
                                                 padding=((0, 0), (0, 0))),
    "one pass, 7x5 stride (3, 2), uneven phases": conv2d_case(c=16, o=5, hw=(19, 17), kernel=(7, 5), stride=(3, 2),
                                                              padding=((3, 1), (2, 3)), batch=3),
    "one image, one output pixel": conv2d_case(hw=(3, 3), padding=((0, 0), (0, 0)), batch=1),
    # dense 3x3 stride 1: Winograd F(2x2, 3x3) forward and input gradient from 64 channels, weight
    # gradient from 32
    "Winograd, odd sizes": conv2d_case(c=64, o=64, hw=(7, 5)),
    "Winograd, a padded channel tile, asymmetric padding": conv2d_case(c=64, o=40, hw=(6, 9),
                                                                     padding=((0, 2), (2, 1))),
    "Winograd, no padding, one image": conv2d_case(c=64, o=64, hw=(5, 6), padding=((0, 0), (0, 0)), batch=1),
    "Winograd weight gradient only (32 channels)": conv2d_case(c=32, o=32, hw=(6, 5)),
    # stride phases of grad input whose kernels write a whole array (a copy into dx)
    "5x5 stride 2, 64 outputs: Winograd phases": conv2d_case(c=8, o=64, hw=(11, 10), kernel=(5, 5), stride=(2, 2),
                                                            padding=((2, 2), (2, 2))),
    "stride 2, one output channel: one-channel phases": conv2d_case(c=32, o=1, hw=(9, 8), stride=(2, 2)),
}


@pytest.mark.parametrize("case", CONV2D_CASES)
def test_conv2d_matches_reference(case):
    spec = CONV2D_CASES[case]
    bias = normal(spec["weight"][0]) if spec["bias"] else None
    check_conv("conv2d", normal(*spec["x"]), normal(*spec["weight"]), bias, spec["attrs"], hwio, oihw)


@pytest.mark.parametrize("channels", [(8, 32), (64, 32), (8, 12)], ids=["channel tiles", "Winograd", "narrow"])
@pytest.mark.parametrize("activation", ["relu", "leaky_relu"])
def test_conv2d_store_applies_the_epilogue(channels, activation):
    """act(conv(x, w) + bias + residual) in the kernel's store, as inference runs a fused step."""
    c, o = channels
    x, w, bias, res = normal(2, 6, 5, c), normal(3, 3, c, o), normal(o), normal(2, 6, 5, o)
    pads = ((1, 1), (1, 1))
    plain = cpu.conv_forward(x, w, None, (1, 1), pads, (1, 1), 1)
    fused = cpu.conv_forward(x, w, bias, (1, 1), pads, (1, 1), 1, residual=res, activation=activation, slope=0.1)
    v = plain + bias + res
    expected = np.maximum(v, 0) if activation == "relu" else np.where(v > 0, v, 0.1 * v)
    assert_close(fused, expected, "fused output")


@pytest.mark.parametrize("channels", [(8, 32), (3, 6)], ids=["channel tiles", "narrow"])
@pytest.mark.parametrize("activation", ["tanh", "sigmoid"])
def test_conv2d_store_applies_tanh_and_sigmoid(channels, activation):
    """LeNet's activations in the store (runtime/cpu/approx.py's), without a residual: the
    narrow kernel applies them along its rows before the transposed store."""
    c, o = channels
    x, w, bias = normal(2, 6, 20, c), normal(3, 3, c, o), normal(o)
    pads = ((1, 1), (1, 1))
    v = cpu.conv_forward(x, w, None, (1, 1), pads, (1, 1), 1) + bias
    fused = cpu.conv_forward(x, w, bias, (1, 1), pads, (1, 1), 1, activation=activation)
    assert_close(fused, np.tanh(v) if activation == "tanh" else 1 / (1 + np.exp(-v)), "fused output")


def test_conv2d_keeps_the_internal_layouts():
    attrs = conv2d_case()["attrs"]
    x, weight = normal(2, 7, 6, 4), normal(3, 3, 4, 6)          # NHWC, HWIO
    y, saved = cpu.conv2d_fwd([x], [weight, None], attrs, RunContext())
    assert y.shape == (2, 7, 6, 6) and y.flags.c_contiguous
    (dx,), (dw, db) = cpu.conv2d_bwd(saved, np.ones_like(y), attrs)
    assert dx.shape == x.shape and dw.shape == weight.shape and db is None


# ---------------------------------------------------------------- conv1d
def conv1d_attrs(stride=1, padding=(0, 0), dilation=1, groups=1):
    return {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}


CONV1D_CASES = {
    "plain": (4, 6, 3, conv1d_attrs()),
    "stride 2 asymmetric padding": (4, 6, 3, conv1d_attrs(stride=2, padding=(2, 1))),
    "dilation 2 groups 2": (4, 6, 3, conv1d_attrs(dilation=2, groups=2, padding=(2, 2))),
    "depthwise": (4, 4, 5, conv1d_attrs(groups=4, padding=(2, 2))),
    "kernel 7 stride 3": (3, 5, 7, conv1d_attrs(stride=3, padding=(3, 3))),
}


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no bias"])
@pytest.mark.parametrize("case", CONV1D_CASES)
def test_conv1d_matches_reference(case, bias):
    c, o, k, attrs = CONV1D_CASES[case]
    x, weight = normal(2, c, 17), normal(o, c // attrs["groups"], k)
    check_conv("conv1d", x, weight, normal(o) if bias else None, attrs, same, same)
