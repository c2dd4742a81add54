"""Convolutions: conv2d, depthwise_conv2d, conv1d (cnnc/layers/conv.py).

Output size per axis: floor((n + p_before + p_after − d(k − 1) − 1) / s) + 1; `same` is
TensorFlow's rule, ceil(n / s), the odd pixel of padding going after.
"""
import pytest

from cnnc.analysis.rf import Spatial
from cnnc.layers import LAYERS
from cnnc.shape import Shape

from .conftest import analyse, caret, error, errors, names, assert_reported


def conv2d(**attrs):
    return LAYERS["conv2d"](**attrs)


# ------------------------------------------------------------------ output shape
@pytest.mark.parametrize("attrs, x, y", [
    ({"kernel": 3}, (3, 32, 32), (8, 30, 30)),
    ({"kernel": 3, "padding": "valid"}, (3, 32, 32), (8, 30, 30)),
    ({"kernel": 3, "padding": 1}, (3, 32, 32), (8, 32, 32)),
    ({"kernel": 3, "padding": "same"}, (3, 32, 32), (8, 32, 32)),
    ({"kernel": 3, "padding": "same", "stride": 2}, (3, 32, 32), (8, 16, 16)),
    ({"kernel": 3, "padding": "same", "stride": 2}, (3, 33, 33), (8, 17, 17)),
    ({"kernel": 3, "padding": [1, 2]}, (3, 32, 32), (8, 32, 34)),                # [h, w]
    ({"kernel": 3, "padding": [[1, 0], [2, 1]]}, (3, 32, 32), (8, 31, 33)),     # [[t, b], [l, r]]
    ({"kernel": 3, "stride": 2, "padding": 1}, (3, 32, 32), (8, 16, 16)),
    ({"kernel": 3, "stride": [2, 1]}, (3, 32, 32), (8, 15, 30)),
    ({"kernel": [1, 7], "padding": [0, 3]}, (3, 17, 17), (8, 17, 17)),          # Inception's 1×7
    ({"kernel": 3, "dilation": 2}, (3, 32, 32), (8, 28, 28)),                   # 5×5 effective
    ({"kernel": 3, "dilation": 2, "padding": "same"}, (3, 32, 32), (8, 32, 32)),
    ({"kernel": 7, "stride": 2, "padding": 3}, (3, 224, 224), (8, 112, 112)),   # ResNet's stem
    ({"kernel": 3, "groups": 4}, (16, 10, 10), (8, 8, 8)),
    ({"kernel": 3, "padding": 1, "groups": 8}, (8, 10, 10), (8, 10, 10)),       # depthwise
])
def test_conv2d_output_shape(attrs, x, y):
    assert conv2d(filters=8, **attrs).infer_shape(Shape(*x)) == y


@pytest.mark.parametrize("attrs, y", [
    ({"kernel": 3}, (32, 54, 54)),
    ({"kernel": 3, "padding": 1, "stride": 2}, (32, 28, 28)),
    ({"kernel": 3, "padding": "same", "multiplier": 2}, (64, 56, 56)),
    ({"kernel": 5, "padding": 4, "dilation": 2}, (32, 56, 56)),
])
def test_depthwise_conv2d_output_shape(attrs, y):
    assert LAYERS["depthwise_conv2d"](**attrs).infer_shape(Shape(32, 56, 56)) == y


@pytest.mark.parametrize("attrs, y", [
    ({"kernel": 3}, (32, 98)),
    ({"kernel": 5, "padding": 2}, (32, 100)),
    ({"kernel": 5, "padding": [[1, 2]]}, (32, 99)),                             # [[before, after]]
    ({"kernel": 5, "stride": 2, "dilation": 2, "padding": "same"}, (32, 50)),
    ({"kernel": 3, "groups": 4}, (32, 98)),
])
def test_conv1d_output_shape(attrs, y):
    assert LAYERS["conv1d"](filters=32, **attrs).infer_shape(Shape(16, 100)) == y


def test_same_padding_through_a_spec():
    a = analyse("{type: conv2d, filters: 8, kernel: 3, padding: same}", input="[3, 32, 32]")
    assert a.output_shape == (8, 32, 32)


# ------------------------------------------------------------------ parameters
@pytest.mark.parametrize("kind, attrs, x, params", [
    ("conv2d", {"filters": 64, "kernel": 3}, (3, 224, 224),
     [("weight", (64, 3, 3, 3)), ("bias", (64,))]),                          # OIHW
    ("conv2d", {"filters": 64, "kernel": 7, "bias": False}, (3, 224, 224),
     [("weight", (64, 3, 7, 7))]),
    ("conv2d", {"filters": 32, "kernel": [1, 3], "groups": 4}, (16, 8, 8),
     [("weight", (32, 4, 1, 3)), ("bias", (32,))]),                           # C / groups
    ("depthwise_conv2d", {"kernel": 3, "multiplier": 2}, (32, 8, 8),
     [("weight", (64, 1, 3, 3)), ("bias", (64,))]),
    ("conv1d", {"filters": 32, "kernel": 5, "groups": 2}, (16, 100),
     [("weight", (32, 8, 5)), ("bias", (32,))]),
])
def test_parameter_names_and_shapes(kind, attrs, x, params):
    assert names(LAYERS[kind](**attrs).params(Shape(*x))) == params


@pytest.mark.parametrize("layer, total", [
    ("{type: conv2d, filters: 64, kernel: 3, padding: 1}", 1_792),              # VGG16 conv1_1
    ("{type: conv2d, filters: 64, kernel: 7, stride: 2, padding: 3, bias: false}", 9_408),  # ResNet conv1
    ("{type: depthwise_conv2d, kernel: 3, padding: 1, bias: false}", 27),
])
def test_parameter_totals_match_torchvision(layer, total):
    assert analyse(layer, input="[3, 224, 224]").totals()["params"] == total


# ------------------------------------------------------------------ MACs: output numel × C/groups × kernel
@pytest.mark.parametrize("layer, x, macs", [
    ("{type: conv2d, filters: 64, kernel: 7, stride: 2, padding: 3}", "[3, 224, 224]",
     64 * 112 * 112 * 3 * 7 * 7),                                             # 118,013,952
    ("{type: conv2d, filters: 32, kernel: 3, padding: 1, groups: 4}", "[16, 8, 8]", 32 * 8 * 8 * 4 * 9),
    ("{type: depthwise_conv2d, kernel: 3, padding: 1}", "[32, 112, 112]", 32 * 112 * 112 * 9),
    ("{type: conv1d, filters: 32, kernel: 3, groups: 4}", "[16, 100]", 32 * 98 * 4 * 3),
])
def test_macs(layer, x, macs):
    assert analyse(layer, input=x).totals()["macs"] == macs


# ------------------------------------------------------------------ receptive field
@pytest.mark.parametrize("layers, field", [
    (["{type: conv2d, filters: 1, kernel: 3, padding: 1}"], Spatial((3, 3), (1, 1), (0, 0))),
    (["{type: conv2d, filters: 1, kernel: 3}"], Spatial((3, 3), (1, 1), (1, 1))),   # pad 0 starts at 1
    (["{type: conv2d, filters: 1, kernel: 3, dilation: 2}"], Spatial((5, 5), (1, 1), (2, 2))),
    (["{type: conv2d, filters: 1, kernel: 3, stride: 2, padding: 1}"], Spatial((3, 3), (2, 2), (0, 0))),
    (["{type: conv2d, filters: 1, kernel: 3, stride: 2, padding: same}"],            # TF pads (0, 1)
     Spatial((3, 3), (2, 2), (1, 1))),
    (["{type: conv2d, filters: 1, kernel: 3, padding: [[1, 0], [2, 1]]}"], Spatial((3, 3), (1, 1), (0, -1))),
    (["{type: conv2d, filters: 1, kernel: 3, stride: 2, padding: 1}",
      "{type: conv2d, filters: 1, kernel: 3, padding: 1}"], Spatial((7, 7), (2, 2), (0, 0))),
    (["{type: depthwise_conv2d, kernel: [3, 5]}"], Spatial((3, 5), (1, 1), (1, 2))),
])
def test_conv2d_receptive_field(layers, field):
    a = analyse(*layers, input="[1, 32, 32]")
    assert a.fields[a.layers[-1]] == field


def test_conv1d_receptive_field_has_one_axis():
    a = analyse("{type: conv1d, filters: 4, kernel: 5, stride: 2, dilation: 2, padding: same}",
                "{type: conv1d, filters: 4, kernel: 3}", input="[16, 100]")
    assert a.fields["conv1d0"] == Spatial((9,), (2,), (1,))      # same pads (3, 4)
    assert a.fields["conv1d1"] == Spatial((13,), (2,), (3,))


# ------------------------------------------------------------------ attribute errors
@pytest.mark.parametrize("layer, pointed, message, help", [
    ("{type: conv2d, filters: 2.5, kernel: 3}", "filters: «2.5»", "expected an integer, got 2.5", ""),
    ("{type: conv2d, filters: 8.0, kernel: 3}", "filters: «8.0»", "expected an integer, got 8.0", "write 8"),
    ("{type: conv2d, filters: 8, kernel: abc}", "kernel: «abc»", "expected an integer, got 'abc'", ""),
    ("{type: conv2d, filters: 8, kernel: [3, 3, 3]}", "kernel: «[3, 3, 3]»", "[height, width], got a list of 3", ""),
    ("{type: conv2d, filters: 8, kernel: 3, bias: 3}", "bias: «3»", "expected true or false, got 3", ""),
    ("{type: conv2d, filters: 0, kernel: 3}", "filters: «0»", "must be at least 1, got 0", ""),
    ("{type: conv2d, filters: 8, kernel: -1}", "kernel: «-1»", "must be at least 1, got -1", ""),
    ("{type: conv2d, filters: 8, kernel: 3, stride: [2, 0]}", "stride: «[2, 0]»", "at least 1, got 0", ""),
    ("{type: conv2d, filters: 8, kernel: 3, padding: -1}", "padding: «-1»", "must not be negative", ""),
    ("{type: conv2d, filters: 8, kernel: 3, padding: full}", "padding: «full»", "unknown padding 'full'",
     "use 'valid', 'same', an integer or a list"),
    ("{type: conv2d, filters: 8, kernel: 3, activation: rellu}", "activation: «rellu»",
     "'rellu' is not one of none, relu", "did you mean 'relu'?"),
    ("{type: depthwise_conv2d, kernel: 3, multiplier: 0}", "multiplier: «0»", "at least 1, got 0", ""),
    ("{type: conv1d, filters: 8, kernel: [3, 3]}", "kernel: «[3, 3]»", "expected an integer", ""),
])
def test_bad_attribute_value(layer, pointed, message, help):
    e = error(layer)
    assert pointed in caret(e)
    assert message in e.message
    assert e.help == help


def test_error_names_the_kind_and_attribute():
    e = error("{type: conv2d, filters: 2.5, kernel: 3}")
    assert e.message == "conv2d attribute 'filters': expected an integer, got 2.5"
    assert (e.span.line, e.span.col) == (3, 29)


def test_unknown_attribute_suggests_the_nearest():
    e = error("{type: conv2d, filters: 8, kernel: 3, strid: 2}")
    assert e.message == "unknown attribute 'strid' for conv2d"
    assert e.help == "did you mean 'stride'?"
    assert "«strid»: 2" in caret(e)


def test_depthwise_has_no_filters_and_lists_what_it_takes():
    e = error("{type: depthwise_conv2d, filters: 32, kernel: 3}")
    assert e.message == "unknown attribute 'filters' for depthwise_conv2d"
    assert e.help == "depthwise_conv2d takes: kernel, padding, bias, activation, init, stride, dilation, multiplier"


def test_missing_attribute_points_at_the_layer():
    e = error("{type: conv2d, kernel: 3}")
    assert e.message == "conv2d needs `filters`"
    assert e.help == "add `filters: <int>` (output channels)"
    assert caret(e) == "  - «{type: conv2d, kernel: 3}»"


def test_every_bad_attribute_is_reported():
    found = errors("{type: conv2d, filters: 0, kernel: abc, bias: 3, activation: rellu}")
    assert [e.message.split("'")[1] for e in found] == ["filters", "kernel", "bias", "activation"]


# ------------------------------------------------------------------ shape errors
@pytest.mark.parametrize("layer, x, pointed, message, help", [
    ("{type: conv2d, filters: 8, kernel: 3, groups: 2}", "[3, 32, 32]", "groups: «2»",
     "groups=2 must divide the 3 input channels", ""),
    ("{type: conv2d, filters: 6, kernel: 3, groups: 4}", "[8, 32, 32]", "groups: «4»",
     "groups=4 must divide the 6 output channels", ""),
    ("{type: conv2d, filters: 8, kernel: 5}", "[3, 4, 4]", "kernel: «5»",
     "output would be empty: input 4×4 is smaller than the 5×5 window",
     "use a smaller kernel or stride, padding, or a larger input"),
    ("{type: conv2d, filters: 8, kernel: 3, dilation: 3}", "[3, 6, 6]", "kernel: «3»",
     "smaller than the 7×7 window", "use a smaller kernel or stride, padding, or a larger input"),
    ("{type: conv2d, filters: 8, kernel: 3, padding: [1, 2, 3]}", "[3, 32, 32]", "padding: «[1, 2, 3]»",
     "padding gives 3 axes, the input has 2 spatial axes", "give one integer, one per axis, or [[before, after]] per axis"),
    ("{type: conv1d, filters: 8, kernel: 3, padding: [1, 2]}", "[3, 32]", "padding: «[1, 2]»",
     "padding gives 2 axes, the input has 1 spatial axis", "give one integer, one per axis, or [[before, after]] per axis"),
])
def test_shape_error(layer, x, pointed, message, help):
    assert_reported(layer, x, pointed, message, help)


def test_conv2d_on_a_vector_asks_for_a_reshape():
    e = error("{type: conv2d, filters: 8, kernel: 3}", input="[784]")
    assert e.message == "layer 'conv2d0' (conv2d) needs input (N, C, H, W), got (N, 784)"
    assert "reshape" in e.help
    assert caret(e).startswith("  - «{type: conv2d")
