"""Normalisation: batchnorm, layernorm, instancenorm, groupnorm, lrn (cnnc/layers/norm.py).

Parameters follow PyTorch: BatchNorm2d(C) has weight and bias (trained) and running_mean and
running_var (kept, not trained); LayerNorm([C, H, W]) has weight and bias shaped (C, H, W).
"""
import pytest

from cnnc.analysis.rf import Spatial
from cnnc.layers import LAYERS
from cnnc.shape import Shape

from .conftest import analyse, caret, error, names, assert_reported

NORMS = ["{type: batchnorm}", "{type: layernorm}", "{type: instancenorm}", "{type: groupnorm, groups: 4}",
         "{type: lrn}"]


@pytest.mark.parametrize("layer", NORMS)
@pytest.mark.parametrize("x, shape, field", [
    ("[16, 8, 8]", (16, 8, 8), Spatial((1, 1), (1, 1), (0, 0))),
    ("[16, 100]", (16, 100), Spatial((1,), (1,), (0,))),
])
def test_shape_and_receptive_field_pass_through(layer, x, shape, field):
    a = analyse(layer, input=x)
    assert a.output_shape == shape
    assert a.fields[a.layers[0]] == field


@pytest.mark.parametrize("kind, attrs, params", [
    ("batchnorm", {}, [("weight", (16,), True), ("bias", (16,), True),
                       ("running_mean", (16,), False), ("running_var", (16,), False)]),
    ("layernorm", {}, [("weight", (16, 8, 8), True), ("bias", (16, 8, 8), True)]),
    ("layernorm", {"axes": "last"}, [("weight", (8,), True), ("bias", (8,), True)]),
    ("layernorm", {"affine": False}, []),
    ("instancenorm", {}, []),                                       # PyTorch's default: no affine
    ("instancenorm", {"affine": True}, [("weight", (16,), True), ("bias", (16,), True)]),
    ("groupnorm", {"groups": 4}, [("weight", (16,), True), ("bias", (16,), True)]),
    ("lrn", {}, []),
])
def test_parameters(kind, attrs, params):
    found = LAYERS[kind](**attrs).params(Shape(16, 8, 8))
    assert [(p.name, p.shape, p.trainable) for p in found] == params


def test_batchnorm_statistics_are_not_trainable():
    totals = analyse("{type: batchnorm}", input="[64, 56, 56]").totals()
    assert (totals["params"], totals["trainable_params"], totals["non_trainable_params"]) == (256, 128, 128)


def test_layernorm_over_the_last_axis_of_a_sequence():
    assert names(LAYERS["layernorm"](axes="last").params(Shape(50, 512))) == \
        [("weight", (512,)), ("bias", (512,))]


def test_lrn_counts_size_macs_per_value():
    a = analyse("{type: lrn, size: 5}", input="[96, 55, 55]")                 # AlexNet's first LRN
    assert a.totals()["macs"] == 96 * 55 * 55 * 5


@pytest.mark.parametrize("layer", ["{type: batchnorm}", "{type: layernorm}", "{type: groupnorm, groups: 2}"])
def test_other_norms_count_no_macs(layer):
    assert analyse(layer, input="[16, 8, 8]").totals()["macs"] == 0


@pytest.mark.parametrize("layer, x, pointed, message, help", [
    ("{type: groupnorm, groups: 3}", "[16, 8, 8]", "groups: «3»", "groups=3 must divide the 16 channels", ""),
    ("{type: groupnorm, groups: 0}", "[16, 8, 8]", "groups: «0»", "must be at least 1, got 0", ""),
    ("{type: batchnorm, momentum: 2}", "[16, 8, 8]", "momentum: «2»", "must be at most 1, got 2", ""),
    ("{type: batchnorm, eps: -1e-5}", "[16, 8, 8]", "eps: «-1e-5»", "must be at least 0", ""),
    ("{type: batchnorm, eps: small}", "[16, 8, 8]", "eps: «small»", "expected a number, got 'small'", ""),
    ("{type: layernorm, axes: first}", "[16, 8, 8]", "axes: «first»", "'first' is not one of all, last",
     "the choices are: 'all', 'last'"),
    ("{type: layernorm, axes: lats}", "[16, 8, 8]", "axes: «lats»", "'lats' is not one of all, last",
     "did you mean 'last'?"),
    ("{type: instancenorm, affine: 1}", "[16, 8, 8]", "affine: «1»", "expected true or false, got 1", ""),
    ("{type: lrn, size: 0}", "[16, 8, 8]", "size: «0»", "must be at least 1, got 0", ""),
])
def test_error(layer, x, pointed, message, help):
    assert_reported(layer, x, pointed, message, help)


def test_unknown_attribute_suggests_the_nearest():
    e = error("{type: batchnorm, momentom: 0.1}")
    assert (e.message, e.help) == ("unknown attribute 'momentom' for batchnorm", "did you mean 'momentum'?")


def test_groupnorm_needs_groups():
    e = error("{type: groupnorm}")
    assert e.message == "groupnorm needs `groups`"
    assert caret(e) == "  - «{type: groupnorm}»"


def test_instancenorm_needs_spatial_axes():
    e = error("{type: instancenorm}", input="[16]")
    assert e.message == "layer 'instancenorm0' (instancenorm) needs spatial axes (N, C, …), got (N, 16)"
