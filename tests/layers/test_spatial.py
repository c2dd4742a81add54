"""Spatial transformer (Jaderberg et al. 2015) and channel shuffle (cnnc/layers/spatial.py)."""
import pytest

from cnnc.analysis.rf import Global
from cnnc.layers import LAYERS
from cnnc.shape import Shape

from .conftest import analyse, caret, error

LOCALISATION = ["{type: flatten, name: f}", "{type: dense, units: 6, name: theta}"]


# ------------------------------------------------------------------ spatial_transformer
@pytest.mark.parametrize("attrs, theta, y", [
    ({}, (6,), (1, 28, 28)),                                       # output defaults to the input's size
    ({"output": [20, 24]}, (6,), (1, 20, 24)),
    ({"output": 14}, (2, 3), (1, 14, 14)),                         # θ as a 2×3 matrix
])
def test_spatial_transformer_shape(attrs, theta, y):
    assert LAYERS["spatial_transformer"](**attrs).infer_shape(Shape(1, 28, 28), Shape(*theta)) == y


def test_spatial_transformer_through_a_spec():
    a = analyse(*LOCALISATION, "{type: spatial_transformer, output: [20, 24], inputs: [input, theta]}",
                input="[1, 28, 28]")
    assert a.output_shape == (1, 20, 24)
    assert a.params["spatial_transformer0"] == []
    assert a.macs["spatial_transformer0"] == 4 * 1 * 20 * 24 + 6 * 20 * 24   # bilinear taps + affine grid
    assert a.fields["spatial_transformer0"] == Global()


def test_theta_must_be_six_values():
    e = error("{type: spatial_transformer, inputs: [input, input]}", input="[1, 28, 28]")
    assert e.message == ("layer 'spatial_transformer0' (spatial_transformer): theta must be 6 values "
                         "(an affine 2×3), got (N, 1, 28, 28)")
    assert e.help == "end the localisation network with `dense` of 6 units"


def test_spatial_transformer_takes_features_and_theta():
    e = error("{type: spatial_transformer}", input="[1, 28, 28]")
    assert e.message == "layer 'spatial_transformer0' (spatial_transformer) takes 2 inputs, got 1"


def test_spatial_transformer_warps_an_image():
    e = error(*LOCALISATION, "{type: spatial_transformer, inputs: [f, theta]}", input="[1, 28, 28]")
    assert e.message == ("layer 'spatial_transformer0' (spatial_transformer) needs input (N, C, H, W), "
                         "got (N, 784)")


def test_spatial_transformer_output_must_be_positive():
    e = error(*LOCALISATION, "{type: spatial_transformer, output: [0, 4], inputs: [input, theta]}",
              input="[1, 28, 28]")
    assert "must be at least 1, got 0" in e.message and "output: «[0, 4]»" in caret(e)


# ------------------------------------------------------------------ channel_shuffle
def test_channel_shuffle_keeps_everything():
    a = analyse("{type: conv2d, filters: 24, kernel: 3}", "{type: channel_shuffle, groups: 3}")
    assert a.shapes["channel_shuffle0"] == a.shapes["conv2d0"] == (24, 30, 30)
    assert a.params["channel_shuffle0"] == [] and a.macs["channel_shuffle0"] == 0
    assert a.fields["channel_shuffle0"] == a.fields["conv2d0"]


@pytest.mark.parametrize("layer, pointed, message", [
    ("{type: channel_shuffle, groups: 5}", "groups: «5»", "groups=5 must divide the 24 channels"),
    ("{type: channel_shuffle, groups: 0}", "groups: «0»", "must be at least 1, got 0"),
    ("{type: channel_shuffle, groups: two}", "groups: «two»", "expected an integer, got 'two'"),
])
def test_channel_shuffle_errors(layer, pointed, message):
    e = error(layer, input="[24, 8, 8]")
    assert pointed in caret(e) and message in e.message


def test_channel_shuffle_needs_groups():
    assert error("{type: channel_shuffle}").message == "channel_shuffle needs `groups`"
