"""Graph convolution, Kipf & Welling 2017 (cnnc/layers/graph.py).

Inputs are node features X (N, F) and an adjacency A (N, N); an input of `kind: graph`
starts the receptive field at 0 hops, and each gcn_conv adds one.
"""
import pytest

from cnnc.analysis.rf import Hops
from cnnc.layers import LAYERS
from cnnc.shape import Shape

from .conftest import analyse, caret, error, names

CORA = "{x: [2708, 1433], adj: {shape: [2708, 2708], kind: graph}}"
TWO_LAYER_GCN = ["{type: gcn_conv, units: 16, activation: relu, inputs: [x, adj], name: conv1}",
                 "{type: dropout, rate: 0.5}",
                 "{type: gcn_conv, units: 7, inputs: [dropout0, adj], name: conv2}"]


def test_gcn_shape_and_parameters():
    gcn, x, adj = LAYERS["gcn_conv"](units=16), Shape(2708, 1433), Shape(2708, 2708)
    assert gcn.infer_shape(x, adj) == (2708, 16)
    assert names(gcn.params(x, adj)) == [("weight", (16, 1433)), ("bias", (16,))]   # (out, in) as PyTorch
    assert names(LAYERS["gcn_conv"](units=16, bias=False).params(x, adj)) == [("weight", (16, 1433))]


def test_two_layer_gcn_on_cora():
    a = analyse(*TWO_LAYER_GCN, inputs=CORA)
    assert a.output_shape == (2708, 7)
    assert a.totals()["params"] == 23_063                          # Kipf & Welling's Cora model


def test_macs_count_the_adjacency_as_dense():
    a = analyse(*TWO_LAYER_GCN, inputs=CORA)
    n = 2708
    assert a.macs["conv1"] == n * 1433 * 16 + n * n * 16           # X W, then Â (X W)
    assert a.macs["conv2"] == n * 16 * 7 + n * n * 7


def test_receptive_field_counts_hops():
    a = analyse(*TWO_LAYER_GCN, inputs=CORA)
    assert [a.fields[n] for n in a.layers] == [Hops(1), Hops(1), Hops(2)]
    assert Hops(2).describe()[0] == "2 hops" and Hops(1).describe()[0] == "1 hop"


def test_adjacency_must_match_the_nodes():
    e = error("{type: gcn_conv, units: 4, inputs: [x, adj]}", inputs="{x: [10, 4], adj: [9, 9]}")
    assert e.message == "layer 'gcn_conv0' (gcn_conv): adjacency is 9×9 but the features have 10 nodes"


def test_adjacency_must_be_square():
    e = error("{type: gcn_conv, units: 4, inputs: [x, adj]}", inputs="{x: [10, 4], adj: [10, 9]}")
    assert e.message == ("layer 'gcn_conv0' (gcn_conv): second input must be a square adjacency (N, N), "
                         "got (N, 10, 9)")


def test_adjacency_help_says_how_to_wire_it():
    e = error("{type: gcn_conv, units: 4, inputs: [x, adj]}", inputs="{x: [10, 4], adj: [10, 9]}")
    assert e.help == "wire it as `inputs: [features, adjacency]`"


def test_features_must_be_nodes_by_features():
    e = error("{type: gcn_conv, units: 4, inputs: [x, adj]}", inputs="{x: [10, 4, 2], adj: [10, 10]}")
    assert e.message == "layer 'gcn_conv0' (gcn_conv) needs input (N, nodes, F), got (N, 10, 4, 2)"


def test_gcn_takes_two_inputs():
    e = error("{type: gcn_conv, units: 4, inputs: [x]}", inputs=CORA)
    assert e.message == "layer 'gcn_conv0' (gcn_conv) takes 2 inputs, got 1"
    assert "inputs: «[x]»" in caret(e)


@pytest.mark.parametrize("layer, pointed, message", [
    ("{type: gcn_conv, units: 0, inputs: [x, adj]}", "units: «0»", "must be at least 1, got 0"),
    ("{type: gcn_conv, units: 4, bias: maybe, inputs: [x, adj]}", "bias: «maybe»", "expected true or false"),
    ("{type: gcn_conv, unit: 4, inputs: [x, adj]}", "«unit»: 4", "unknown attribute 'unit' for gcn_conv"),
])
def test_attribute_error(layer, pointed, message):
    e = error(layer, inputs=CORA)
    assert pointed in caret(e) and message in e.message
