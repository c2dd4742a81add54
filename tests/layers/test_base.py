"""The layer contract (cnnc/layers/base.py): attribute types, padding, window arithmetic, Layer."""
from itertools import product
from math import ceil

import pytest

from cnnc.layers import LAYERS
from cnnc.layers.base import AttrError, Ints, Padding, Pair, Param, window_out
from cnnc.shape import Shape
from cnnc.spec.errors import LayerError


# ------------------------------------------------------------------ attribute types
@pytest.mark.parametrize("value, pair", [(3, (3, 3)), ([3, 5], (3, 5))])
def test_pair_is_one_int_or_height_width(value, pair):
    assert Pair.parse(value) == pair


@pytest.mark.parametrize("value, message", [
    ([1, 2, 3], "expected one integer or [height, width], got a list of 3"),
    ("3", "expected an integer, got '3'"),
    (True, "expected an integer, got true"),
    (2.5, "expected an integer, got 2.5"),
])
def test_pair_rejects(value, message):
    with pytest.raises(AttrError, match=message.replace("[", r"\[")):
        Pair.parse(value)


def test_ints_need_a_non_empty_list():
    assert Ints.parse([2, -1]) == (2, -1)
    for bad in (2, [], [1, "a"]):
        with pytest.raises(AttrError):
            Ints.parse(bad)


@pytest.mark.parametrize("value, sides", [
    (0, [(0, 0), (0, 0)]),
    (2, [(2, 2), (2, 2)]),
    ([1, 2], [(1, 1), (2, 2)]),                                      # [h, w]
    ([[1, 0], [2, 1]], [(1, 0), (2, 1)]),                            # [[top, bottom], [left, right]]
    ([[0, 1]], [(0, 1), (0, 1)]),                                    # one [before, after] for both axes
    ("valid", [(0, 0), (0, 0)]),
    ("same", [(1, 1), (1, 1)]),                                      # k = 3, s = 1
])
def test_padding_resolves_per_side(value, sides):
    assert Padding.parse(value).resolve((32, 32), (3, 3), (1, 1), (1, 1)) == sides


def test_same_padding_puts_the_odd_pixel_after():
    assert Padding.parse("same").resolve((32,), (3,), (2,), (1,)) == [(0, 1)]


def test_same_padding_gives_ceil_of_size_over_stride():
    for n, k, s, d in product(range(1, 20), (1, 2, 3, 5, 7), (1, 2, 3), (1, 2)):
        pads = Padding.parse("same").resolve((n,), (k,), (s,), (d,))[0]
        assert window_out(n, k, s, pads, d) == ceil(n / s), (n, k, s, d)


@pytest.mark.parametrize("value, message", [
    ("full", "unknown padding 'full'"),
    ([[1, 2, 3]], "per-side padding takes [before, after] for each axis"),
])
def test_padding_rejects(value, message):
    with pytest.raises(AttrError) as e:
        Padding.parse(value)
    assert e.value.message == message


def test_negative_padding_is_caught_when_the_attribute_is_read():
    with pytest.raises(AttrError, match="padding must not be negative"):
        LAYERS["conv2d"](filters=1, kernel=3, padding=[[0, -1], [0, 0]])


def test_padding_for_the_wrong_number_of_axes():
    with pytest.raises(LayerError) as e:
        Padding.parse([1, 2, 3]).resolve((8, 8), (3, 3), (1, 1), (1, 1))
    assert e.value.attr == "padding"


# ------------------------------------------------------------------ window arithmetic
def pytorch_pooling_output_shape(n, k, s, p, d, ceil_mode):
    """aten/src/ATen/native/Pool.h, written out again as an independent oracle."""
    out = (n + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= n + p:
        out -= 1
    return out


@pytest.mark.parametrize("ceil_mode", [False, True])
def test_window_out_matches_pytorch(ceil_mode):
    for n, k, s, d in product(range(1, 20), range(1, 6), range(1, 5), (1, 2)):
        for p in range(0, k // 2 + 1):
            if n + 2 * p < d * (k - 1) + 1:
                continue                                            # PyTorch refuses an empty output
            expected = pytorch_pooling_output_shape(n, k, s, p, d, ceil_mode)
            assert window_out(n, k, s, (p, p), d, ceil_mode) == expected, (n, k, s, p, d)


@pytest.mark.parametrize("n, k, s, pads, d, ceil_mode, out", [
    (32, 3, 1, (0, 0), 1, False, 30),
    (112, 3, 2, (0, 0), 1, False, 55),
    (112, 3, 2, (0, 0), 1, True, 56),
    (5, 2, 2, (1, 1), 1, True, 3),        # ceil would give 4, but that window starts in the padding
    (32, 3, 2, (0, 1), 1, False, 16),     # asymmetric
    (32, 3, 1, (0, 0), 2, False, 28),
    (4, 5, 1, (0, 0), 1, False, 0),       # empty: the layer reports it
])
def test_window_out(n, k, s, pads, d, ceil_mode, out):
    assert window_out(n, k, s, pads, d, ceil_mode) == out


@pytest.mark.parametrize("kind, attr", [("dropout", "rate"), ("batchnorm", "momentum"), ("batchnorm", "eps")])
def test_nan_is_out_of_range(kind, attr):
    with pytest.raises(AttrError):
        LAYERS[kind].schema[attr].parse(float("nan"))


# ------------------------------------------------------------------ Layer
def test_layer_reads_attributes_and_defaults():
    conv = LAYERS["conv2d"](filters=8, kernel=3)
    assert (conv.filters, conv.kernel, conv.stride, conv.padding, conv.groups, conv.bias) == \
        (8, (3, 3), (1, 1), Padding.parse(0), 1, True)


def test_layer_checks_values_like_the_spec_does():
    with pytest.raises(AttrError, match="expected an integer, got 2.5"):
        LAYERS["conv2d"](filters=2.5, kernel=3)


def test_layer_needs_required_attributes():
    with pytest.raises(TypeError, match="conv2d: missing attribute 'filters'"):
        LAYERS["conv2d"](kernel=3)


def test_layer_rejects_unknown_attributes():
    with pytest.raises(TypeError):
        LAYERS["conv2d"](filters=8, kernel=3, strid=2)


def test_layer_errors_name_their_attribute():
    with pytest.raises(LayerError) as e:
        LAYERS["conv2d"](filters=8, kernel=3, groups=2).infer_shape(Shape(3, 8, 8))
    assert (e.value.message, e.value.attr) == ("groups=2 must divide the 3 input channels", "groups")


def test_param_numel():
    assert Param("weight", (64, 3, 7, 7)).numel == 9_408
    assert Param("running_mean", (64,), trainable=False).numel == 64


def test_schema_lists_required_attributes_first():
    assert list(LAYERS["conv2d"].schema)[:2] == ["filters", "kernel"]
    assert list(LAYERS["dense"].schema)[0] == "units"
