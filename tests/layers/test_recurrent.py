"""Recurrent layers over (T, F), and the highway layer (cnnc/layers/recurrent.py).

Parameters follow PyTorch: nn.LSTM(F, h) has weight_ih_l0 (4h, F), weight_hh_l0 (4h, h),
bias_ih_l0 and bias_hh_l0 (4h,), and the same with _reverse when bidirectional; GRU has 3
gates, RNN 1. MACs: T × gates × units × (F + units) × directions.
"""
import pytest

from cnnc.analysis.rf import Global, Steps
from cnnc.layers import LAYERS
from cnnc.shape import Shape

from .conftest import analyse, caret, error, names, numel

KINDS = ["rnn", "lstm", "gru"]
GATES = {"rnn": 1, "lstm": 4, "gru": 3}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("attrs, y", [
    ({}, (64,)),
    ({"return_sequences": True}, (10, 64)),
    ({"bidirectional": True}, (128,)),
    ({"return_sequences": True, "bidirectional": True}, (10, 128)),
])
def test_output_shape(kind, attrs, y):
    assert LAYERS[kind](units=64, **attrs).infer_shape(Shape(10, 8)) == y


@pytest.mark.parametrize("kind, total", [
    ("rnn", 64 * (8 + 64) + 2 * 64),                  # nn.RNN(8, 64): 4,736
    ("lstm", 4 * 64 * (8 + 64) + 2 * 4 * 64),         # nn.LSTM(8, 64): 18,944
    ("gru", 3 * 64 * (8 + 64) + 2 * 3 * 64),          # nn.GRU(8, 64): 14,208
])
def test_parameter_count_matches_pytorch(kind, total):
    assert numel(LAYERS[kind](units=64).params(Shape(10, 8))) == total
    assert numel(LAYERS[kind](units=64, bidirectional=True).params(Shape(10, 8))) == 2 * total


def test_lstm_parameter_names():
    assert names(LAYERS["lstm"](units=64, bidirectional=True).params(Shape(10, 8))) == [
        ("weight_ih_l0", (256, 8)), ("weight_hh_l0", (256, 64)), ("bias_ih_l0", (256,)), ("bias_hh_l0", (256,)),
        ("weight_ih_l0_reverse", (256, 8)), ("weight_hh_l0_reverse", (256, 64)),
        ("bias_ih_l0_reverse", (256,)), ("bias_hh_l0_reverse", (256,))]


def test_gru_without_bias():
    assert names(LAYERS["gru"](units=5, bias=False).params(Shape(16, 4))) == [
        ("weight_ih_l0", (15, 4)), ("weight_hh_l0", (15, 5))]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_macs(kind, bidirectional):
    a = analyse(f"{{type: {kind}, units: 64, bidirectional: {str(bidirectional).lower()}}}", input="[50, 8]")
    directions = 2 if bidirectional else 1
    assert a.totals()["macs"] == 50 * GATES[kind] * 64 * (8 + 64) * directions


@pytest.mark.parametrize("kind", KINDS)
def test_receptive_field_counts_steps(kind):
    a = analyse(f"{{type: {kind}, units: 16, return_sequences: true}}", f"{{type: {kind}, units: 16}}",
                input="[50, 8]")
    assert a.fields[a.layers[0]] == Steps(50) and a.fields[a.layers[1]] == Steps(50)


def test_stacked_lstm_reads_the_previous_width():
    a = analyse("{type: lstm, units: 32, return_sequences: true, bidirectional: true}",
                "{type: lstm, units: 16}", input="[20, 8]")
    assert a.params["lstm1"][0].shape == (64, 64)                  # weight_ih_l0: (4·16, 2·32)
    assert a.output_shape == (16,)


@pytest.mark.parametrize("layer, pointed, message, help", [
    ("{type: lstm, units: 0}", "units: «0»", "must be at least 1, got 0", ""),
    ("{type: gru, units: 8, bidirectional: 2}", "bidirectional: «2»", "expected true or false, got 2", ""),
    ("{type: rnn, units: 8, activation: sigmoid}", "activation: «sigmoid»",
     "'sigmoid' is not one of tanh, relu", "the choices are: 'relu', 'tanh'"),
    ("{type: lstm, units: 8, return_sequence: true}", "«return_sequence»: true",
     "unknown attribute 'return_sequence' for lstm", "did you mean 'return_sequences'?"),
])
def test_attribute_error(layer, pointed, message, help):
    e = error(layer, input="[50, 8]")
    assert pointed in caret(e)
    assert message in e.message
    assert e.help == help


@pytest.mark.parametrize("kind", KINDS)
def test_needs_a_sequence(kind):
    e = error(f"{{type: {kind}, units: 4}}", input="[16, 8, 8]")
    assert e.message == f"layer '{kind}0' ({kind}) needs input (N, T, F), got (N, 16, 8, 8)"


def test_needs_units():
    e = error("{type: lstm}", input="[50, 8]")
    assert (e.message, e.help) == ("lstm needs `units`", "add `units: <int>` (hidden size)")


# ------------------------------------------------------------------ highway
def test_highway_keeps_the_width():
    highway, x = LAYERS["highway"](), Shape(32)
    assert highway.infer_shape(x) == (32,)
    assert names(highway.params(x)) == [("plain.weight", (32, 32)), ("plain.bias", (32,)),
                                        ("gate.weight", (32, 32)), ("gate.bias", (32,))]
    assert highway.macs([x], x) == 2 * 32 * 32


def test_highway_through_a_spec():
    a = analyse("{type: highway}", "{type: highway, activation: tanh}", input="[32]")
    assert a.totals()["params"] == 2 * 2 * (32 * 32 + 32)
    assert a.fields["highway1"] == Global()


def test_highway_needs_a_vector():
    e = error("{type: highway}", input="[16, 8]")
    assert e.message == "layer 'highway0' (highway) needs input (N, F), got (N, 16, 8)"
    assert e.help == "add a `flatten` or a global pooling layer before it"


def test_highway_activation_choices():
    e = error("{type: highway, activation: rellu}", input="[32]")
    assert e.help == "did you mean 'relu'?" and "activation: «rellu»" in caret(e)
