"""Activations (cnnc/layers/activation.py): each a layer kind and a fusable `activation:` value."""
import pytest

from cnnc.analysis.rf import Spatial
from cnnc.layers import LAYERS
from cnnc.layers.activation import ACTIVATION_CHOICES, ACTIVATIONS

from .conftest import analyse, caret, error, assert_reported

KINDS = ["relu", "relu6", "leaky_relu", "sigmoid", "hard_sigmoid", "tanh", "softmax"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("before, x", [
    ("{type: conv2d, filters: 16, kernel: 3, padding: 1}", "[16, 8, 8]"),    # a spatial field
    ("{type: dense, units: 10}", "[10]"),                                     # a global one
])
def test_keeps_shape_and_field_with_no_params_or_macs(kind, before, x):
    a = analyse(before, f"{{type: {kind}}}", input=x)
    layer, previous = a.layers[1], a.layers[0]
    assert a.shapes[layer] == a.shapes[previous]
    assert a.fields[layer] == a.fields[previous]
    assert a.params[layer] == [] and a.macs[layer] == 0


def test_every_activation_is_a_layer_kind_and_an_attribute_value():
    assert list(ACTIVATIONS) == KINDS
    assert ACTIVATION_CHOICES == ("none", *KINDS)
    assert all(LAYERS[kind].family == "activation" for kind in ACTIVATIONS)


@pytest.mark.parametrize("kind", ["conv2d", "depthwise_conv2d", "conv1d", "dense", "gcn_conv"])
def test_fused_activation_choices(kind):
    assert LAYERS[kind].schema["activation"].choices == ACTIVATION_CHOICES


@pytest.mark.parametrize("activation", list(ACTIVATION_CHOICES))
def test_fused_activation_changes_nothing_the_analysis_counts(activation):
    plain = analyse("{type: conv2d, filters: 8, kernel: 3}")
    fused = analyse(f"{{type: conv2d, filters: 8, kernel: 3, activation: {activation}}}")
    assert (fused.output_shape, fused.totals()["params"], fused.totals()["macs"]) == \
        (plain.output_shape, plain.totals()["params"], plain.totals()["macs"])


def test_leaky_relu_slope_defaults_to_pytorch():
    assert LAYERS["leaky_relu"]().slope == 0.01
    assert LAYERS["leaky_relu"](slope=0.3).slope == 0.3                    # Keras' default


@pytest.mark.parametrize("axis", [0, 2, -1, -3])
def test_softmax_axis_in_range(axis):
    assert analyse(f"{{type: softmax, axis: {axis}}}", input="[16, 8, 8]").output_shape == (16, 8, 8)


def test_softmax_receptive_field_is_pointwise():
    a = analyse("{type: softmax}", input="[16, 8, 8]")
    assert a.fields["softmax0"] == Spatial.identity(2)


@pytest.mark.parametrize("layer, x, pointed, message, help", [
    ("{type: softmax, axis: 3}", "[16, 8, 8]", "axis: «3»", "axis 3 is out of range for input (N, 16, 8, 8)", ""),
    ("{type: softmax, axis: -2}", "[10]", "axis: «-2»", "axis -2 is out of range for input (N, 10)", ""),
    ("{type: softmax, axis: last}", "[10]", "axis: «last»", "expected an integer, got 'last'", ""),
    ("{type: leaky_relu, slope: -0.1}", "[10]", "slope: «-0.1»", "must be at least 0, got -0.1", ""),
    ("{type: leaky_relu, slope: fast}", "[10]", "slope: «fast»", "expected a number, got 'fast'", ""),
    ("{type: relu, inplace: true}", "[10]", "«inplace»: true", "unknown attribute 'inplace' for relu",
     "relu takes no attributes"),
    ("{type: leaky_relu, slop: 0.2}", "[10]", "«slop»: 0.2", "unknown attribute 'slop' for leaky_relu",
     "did you mean 'slope'?"),
])
def test_error(layer, x, pointed, message, help):
    assert_reported(layer, x, pointed, message, help)


def test_misspelt_kind_suggests_the_nearest():
    e = error("{type: rellu}")
    assert (e.message, e.help) == ("unknown layer type 'rellu'", "did you mean 'relu'?")
    assert "type: «rellu»" in caret(e)


def test_activation_takes_one_input():
    e = error("{type: relu, inputs: [input, input]}")
    assert e.message == "layer 'relu0' (relu) takes 1 input, got 2"
    assert "inputs: «[input, input]»" in caret(e)
