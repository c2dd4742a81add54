"""Pooling: maxpool2d, avgpool2d, global, adaptive and spatial pyramid pooling (cnnc/layers/pool.py).

Windowed pooling follows PyTorch: stride defaults to the kernel; ceil_mode rounds the output
size up, but the last window must start inside the input (or its left padding).
"""
import pytest

from cnnc.analysis.rf import Global, Spatial
from cnnc.layers import LAYERS
from cnnc.layers.pool import adaptive_windows
from cnnc.shape import Shape

from .conftest import analyse, caret, error, assert_reported


# ------------------------------------------------------------------ windowed pooling
@pytest.mark.parametrize("kind", ["maxpool2d", "avgpool2d"])
@pytest.mark.parametrize("attrs, n, out", [
    ({"kernel": 2}, 32, 16),                                         # stride defaults to the kernel
    ({"kernel": 2}, 7, 3),
    ({"kernel": 2, "ceil_mode": True}, 7, 4),
    ({"kernel": 3, "stride": 2}, 112, 55),
    ({"kernel": 3, "stride": 2, "ceil_mode": True}, 112, 56),        # GoogLeNet: 112 → 56 → 28 → 14 → 7
    ({"kernel": 3, "stride": 2, "ceil_mode": True}, 56, 28),
    ({"kernel": 3, "stride": 2, "ceil_mode": True}, 28, 14),
    ({"kernel": 3, "stride": 2, "ceil_mode": True}, 14, 7),
    ({"kernel": 3, "stride": 2, "padding": 1}, 8, 4),
    ({"kernel": 3, "stride": 2, "padding": 1, "ceil_mode": True}, 8, 5),
    ({"kernel": 2, "stride": 2, "padding": 1}, 5, 3),
    ({"kernel": 2, "stride": 2, "padding": 1, "ceil_mode": True}, 5, 3),   # a 4th window would start in the padding
    ({"kernel": 3, "stride": 3, "ceil_mode": True}, 6, 2),           # exact fit: ceil changes nothing
    ({"kernel": 3, "stride": 2, "padding": "same"}, 7, 4),           # ceil(7 / 2)
    ({"kernel": 3, "stride": 1, "padding": 1}, 9, 9),
])
def test_pool_output_size(kind, attrs, n, out):
    assert LAYERS[kind](**attrs).infer_shape(Shape(16, n, n)) == (16, out, out)


def test_pool_kernel_and_stride_per_axis():
    pool = LAYERS["maxpool2d"](kernel=[2, 3])
    assert pool.infer_shape(Shape(4, 5, 5)) == (4, 2, 1)


def test_googlenet_pools_through_a_spec():
    a = analyse(*["{type: maxpool2d, kernel: 3, stride: 2, ceil_mode: true}"] * 4, input="[64, 112, 112]")
    assert [a.shapes[n][1] for n in a.layers] == [56, 28, 14, 7]


def test_pooling_has_no_parameters_and_no_macs():
    a = analyse("{type: maxpool2d, kernel: 2}", "{type: avgpool2d, kernel: 2}", "{type: global_avgpool}")
    assert a.totals()["params"] == 0 and a.totals()["macs"] == 0


# ------------------------------------------------------------------ global pooling
@pytest.mark.parametrize("kind", ["global_avgpool", "global_maxpool"])
@pytest.mark.parametrize("keepdims, x, y", [
    (False, (512, 7, 7), (512,)),
    (True, (512, 7, 7), (512, 1, 1)),
    (False, (64, 100), (64,)),
    (True, (64, 100), (64, 1)),
])
def test_global_pool_shape(kind, keepdims, x, y):
    assert LAYERS[kind](keepdims=keepdims).infer_shape(Shape(*x)) == y


@pytest.mark.parametrize("kind", ["global_avgpool", "global_maxpool"])
def test_global_pool_needs_spatial_axes(kind):
    e = error(f"{{type: {kind}}}", input="[16]")
    assert e.message == f"layer '{kind}0' ({kind}) needs spatial axes (N, C, …), got (N, 16)"


# ------------------------------------------------------------------ adaptive pooling
@pytest.mark.parametrize("output, x, y", [
    (1, (512, 7, 7), (512, 1, 1)),
    (3, (8, 7, 7), (8, 3, 3)),
    ([6, 6], (256, 13, 13), (256, 6, 6)),                             # AlexNet's avgpool
    ([2, 4], (8, 8, 8), (8, 2, 4)),
    (6, (8, 4, 4), (8, 6, 6)),                                        # larger than the input: bins overlap
])
def test_adaptive_avgpool_shape(output, x, y):
    assert LAYERS["adaptive_avgpool"](output=output).infer_shape(Shape(*x)) == y


@pytest.mark.parametrize("n, out, bins", [
    (6, 3, [(0, 2), (2, 4), (4, 6)]),
    (7, 3, [(0, 3), (2, 5), (4, 7)]),                                 # floor(i·n/o), ceil((i+1)·n/o)
    (5, 3, [(0, 2), (1, 4), (3, 5)]),
])
def test_adaptive_bins_follow_pytorch(n, out, bins):
    assert adaptive_windows(n, out) == bins


# ------------------------------------------------------------------ spatial pyramid pooling
@pytest.mark.parametrize("attrs, x, y", [
    ({}, (8, 13, 9), (8 * (1 + 4 + 16),)),                           # levels [1, 2, 4] by default
    ({"levels": [1, 2, 3, 6]}, (256, 13, 13), (256 * 50,)),
    ({"levels": [4], "mode": "avg"}, (8, 4, 4), (128,)),
])
def test_spp_shape_whatever_the_input_size(attrs, x, y):
    assert LAYERS["spp"](**attrs).infer_shape(Shape(*x)) == y


# ------------------------------------------------------------------ receptive field
@pytest.mark.parametrize("layer, field", [
    ("{type: maxpool2d, kernel: 2}", Spatial((2, 2), (2, 2), (0.5, 0.5))),
    ("{type: maxpool2d, kernel: 3, stride: 2, padding: 1}", Spatial((3, 3), (2, 2), (0, 0))),
    ("{type: maxpool2d, kernel: 3, stride: 2, ceil_mode: true}", Spatial((3, 3), (2, 2), (1, 1))),
    ("{type: avgpool2d, kernel: 2, stride: 2, padding: 1, ceil_mode: true}", Spatial((2, 2), (2, 2), (-0.5, -0.5))),
    ("{type: adaptive_avgpool, output: [2, 4]}", Spatial((4, 2), (4, 2), (1.5, 0.5))),  # even bins: a plain pool
    ("{type: adaptive_avgpool, output: 1}", Global()),
    ("{type: global_avgpool}", Global()),
    ("{type: global_maxpool, keepdims: true}", Global()),
    ("{type: spp}", Global()),
])
def test_receptive_field(layer, field):
    a = analyse(layer, input="[1, 8, 8]")
    assert a.fields[a.layers[-1]] == field


def test_pool_after_conv_composes():
    a = analyse("{type: conv2d, filters: 1, kernel: 3}", "{type: conv2d, filters: 1, kernel: 3}",
                "{type: maxpool2d, kernel: 2}", input="[1, 32, 32]")
    assert a.fields["maxpool2d0"] == Spatial((6, 6), (2, 2), (2.5, 2.5))


def test_adaptive_pool_start_is_the_centre_of_its_first_bin():
    a = analyse("{type: adaptive_avgpool, output: 3}", input="[1, 5, 5]")
    assert a.fields["adaptive_avgpool0"].start == (0.5, 0.5)


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize("layer, x, pointed, message, help", [
    ("{type: maxpool2d, kernel: 3, padding: 2}", "[16, 8, 8]", "padding: «2»",
     "padding 2 is more than half the kernel 3", "PyTorch allows at most kernel // 2"),
    ("{type: avgpool2d, kernel: 7}", "[16, 4, 4]", "kernel: «7»",
     "output would be empty: input 4×4 is smaller than the 7×7 window",
     "use a smaller kernel or stride, padding, or a larger input"),
    ("{type: maxpool2d, kernel: 0}", "[16, 8, 8]", "kernel: «0»", "must be at least 1, got 0", ""),
    ("{type: maxpool2d, kernel: 2, stride: 0}", "[16, 8, 8]", "stride: «0»", "must be at least 1, got 0", ""),
    ("{type: maxpool2d, kernel: 2, ceil_mode: 1}", "[16, 8, 8]", "ceil_mode: «1»", "expected true or false", ""),
    ("{type: avgpool2d, kernel: 2, count_include_pad: no_way}", "[16, 8, 8]", "count_include_pad: «no_way»",
     "expected true or false, got 'no_way'", ""),
    ("{type: global_avgpool, keepdims: 1}", "[16, 8, 8]", "keepdims: «1»", "expected true or false", ""),
    ("{type: adaptive_avgpool, output: 0}", "[16, 8, 8]", "output: «0»", "must be at least 1, got 0", ""),
    ("{type: spp, levels: 2}", "[16, 8, 8]", "levels: «2»", "expected a list of integers, got 2", ""),
    ("{type: spp, levels: [1, 0]}", "[16, 8, 8]", "levels: «[1, 0]»", "must be at least 1, got 0", ""),
    ("{type: spp, mode: mean}", "[16, 8, 8]", "mode: «mean»", "'mean' is not one of max, avg",
     "the choices are: 'avg', 'max'"),
    ("{type: spp, levels: [1, 2, 4]}", "[16, 3, 9]", "levels: «[1, 2, 4]»",
     "level 4 needs at least 4×4 input, got 3×9", ""),
])
def test_error(layer, x, pointed, message, help):
    assert_reported(layer, x, pointed, message, help)


@pytest.mark.parametrize("layer", ["{type: maxpool2d}", "{type: adaptive_avgpool}"])
def test_missing_required_attribute(layer):
    e = error(layer)
    assert e.message.endswith("needs `kernel`") or e.message.endswith("needs `output`")
    assert caret(e) == f"  - «{layer}»"


@pytest.mark.parametrize("kind", ["maxpool2d", "adaptive_avgpool", "spp"])
def test_needs_an_image(kind):
    attrs = {"maxpool2d": ", kernel: 2", "adaptive_avgpool": ", output: 2", "spp": ""}[kind]
    e = error(f"{{type: {kind}{attrs}}}", input="[16, 8]")
    assert e.message.endswith("needs input (N, C, H, W), got (N, 16, 8)")
