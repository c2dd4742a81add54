"""Layers that join paths: add, multiply, concat, and the residual shortcut (cnnc/layers/merge.py)."""
import pytest

from cnnc.analysis.rf import Global, Spatial
from cnnc.layers import LAYERS
from cnnc.shape import Shape

from .conftest import analyse, caret, error, names

TWO = "{a: [16, 8, 8], b: [16, 8, 8]}"


# ------------------------------------------------------------------ add, multiply: NumPy broadcasting
@pytest.mark.parametrize("kind", ["add", "multiply"])
@pytest.mark.parametrize("xs, y", [
    ([(16, 8, 8), (16, 8, 8)], (16, 8, 8)),
    ([(16, 1, 1), (16, 8, 8)], (16, 8, 8)),                          # SE: gate each channel
    ([(16, 8, 8), (16, 1, 1)], (16, 8, 8)),
    ([(1, 8, 8), (16, 1, 1)], (16, 8, 8)),
    ([(8,), (16, 8, 8)], (16, 8, 8)),                                # trailing axes align
    ([(16, 8, 8)] * 3, (16, 8, 8)),
])
def test_broadcast_shape(kind, xs, y):
    assert LAYERS[kind]().infer_shape(*(Shape(*x) for x in xs)) == y


def test_squeeze_and_excitation_gate():
    a = analyse("{type: global_avgpool, keepdims: true, name: squeeze}",
                "{type: conv2d, filters: 16, kernel: 1, name: excite}",
                "{type: multiply, inputs: [excite, input]}", input="[16, 8, 8]")
    assert a.output_shape == (16, 8, 8)
    assert a.params["multiply0"] == [] and a.macs["multiply0"] == 0
    assert a.fields["multiply0"] == Global()                        # the gate saw the whole map


@pytest.mark.parametrize("kind", ["add", "multiply"])
def test_broadcast_mismatch(kind):
    e = error("{type: conv2d, filters: 8, kernel: 1, inputs: a, name: c}", f"{{type: {kind}, inputs: [c, b]}}",
              inputs=TWO)
    assert e.message == f"layer '{kind}0' ({kind}): cannot broadcast (N, 8, 8, 8) with (N, 16, 8, 8)"
    assert e.help == "shapes must be equal, or 1 where they differ (NumPy broadcasting)"
    assert e.span.line == 4                                          # the merging layer


@pytest.mark.parametrize("kind", ["add", "multiply", "concat"])
def test_merges_take_two_or_more_inputs(kind):
    e = error(f"{{type: {kind}, inputs: [a]}}", inputs=TWO)
    assert e.message == f"layer '{kind}0' ({kind}) takes at least 2 inputs, got 1"
    assert e.help == "list them with `inputs: [a, b]`"
    assert "inputs: «[a]»" in caret(e)


@pytest.mark.parametrize("kind", ["add", "multiply"])
def test_elementwise_merges_take_no_attributes(kind):
    e = error(f"{{type: {kind}, axis: 1, inputs: [a, b]}}", inputs=TWO)
    assert (e.message, e.help) == (f"unknown attribute 'axis' for {kind}", f"{kind} takes no attributes")
    assert "«axis»: 1" in caret(e)


# ------------------------------------------------------------------ concat
@pytest.mark.parametrize("axis, xs, y", [
    (0, [(16, 8, 8), (32, 8, 8)], (48, 8, 8)),                       # channels by default
    (0, [(64, 28, 28), (128, 28, 28), (32, 28, 28), (32, 28, 28)], (256, 28, 28)),   # Inception 3a
    (1, [(16, 8, 8), (16, 4, 8)], (16, 12, 8)),
    (2, [(16, 8, 8), (16, 8, 8)], (16, 8, 16)),
    (-1, [(16, 8, 8), (16, 8, 2)], (16, 8, 10)),
    (0, [(10,), (20,)], (30,)),
    (1, [(5, 3), (5, 4)], (5, 7)),
])
def test_concat_shape(axis, xs, y):
    assert LAYERS["concat"](axis=axis).infer_shape(*(Shape(*x) for x in xs)) == y


def test_concat_channels_through_a_spec():
    a = analyse("{type: conv2d, filters: 8, kernel: 3, padding: 1, inputs: a, name: c}",
                "{type: concat, inputs: [c, b]}", inputs=TWO)
    assert a.output_shape == (24, 8, 8)
    assert a.params["concat0"] == [] and a.macs["concat0"] == 0


def test_concat_mismatch_off_the_axis():
    e = error("{type: conv2d, filters: 8, kernel: 1, stride: 2, inputs: a, name: c}",
              "{type: concat, inputs: [b, c]}", inputs=TWO)
    assert e.message == ("layer 'concat0' (concat): cannot concat (N, 16, 8, 8) and (N, 8, 4, 4) (input 2) "
                         "along axis 0: they differ on axis 1")
    assert e.help == "inputs must agree on every axis but the concat axis"


def test_concat_rank_mismatch():
    e = error("{type: flatten, inputs: a, name: f}", "{type: concat, inputs: [b, f]}", inputs=TWO)
    assert "cannot concat (N, 16, 8, 8) and (N, 1024) (input 2)" in e.message


def test_concat_axis_out_of_range():
    e = error("{type: concat, inputs: [a, b], axis: 3}", inputs=TWO)
    assert e.message == "layer 'concat0' (concat): axis 3 is out of range for (N, 16, 8, 8)"
    assert "axis: «3»" in caret(e)


def test_concat_axis_must_be_an_integer():
    e = error("{type: concat, inputs: [a, b], axis: channels}", inputs=TWO)
    assert e.message == "concat attribute 'axis': expected an integer, got 'channels'"


def test_concat_keeps_integer_tokens():
    a = analyse("{type: concat, inputs: [a, b]}", "{type: embedding, vocab: 100, dim: 8}",
                inputs="{a: {shape: [10], dtype: int64}, b: {shape: [5], dtype: int64}}")
    assert a.output_shape == (15, 8)


# ------------------------------------------------------------------ receptive field of a merge
def test_merged_field_is_the_largest():
    a = analyse("{type: conv2d, filters: 8, kernel: 3, padding: 1, inputs: a, name: c3}",
                "{type: conv2d, filters: 8, kernel: 5, padding: 2, inputs: a, name: c5}",
                "{type: concat, inputs: [c3, c5]}", inputs=TWO)
    assert a.fields["concat0"] == Spatial((5, 5), (1, 1), (0, 0))
    assert not a.diagnostics.warnings


def test_misaligned_merge_is_flagged():
    a = analyse("{type: maxpool2d, kernel: 2, inputs: a, name: pool}",                 # start 0.5
                "{type: conv2d, filters: 16, kernel: 3, stride: 2, padding: 1, inputs: a, name: conv}",  # start 0
                "{type: add, inputs: [pool, conv]}", inputs=TWO)
    assert a.fields["add0"] == Spatial((3, 3), (2, 2), (0, 0), aligned=False)
    [w] = a.diagnostics.warnings
    assert "merges paths whose receptive fields are not aligned" in w.message


# ------------------------------------------------------------------ shortcut (made by `residual:`)
def residual(filters=16, stride=1, shortcut=None):
    """`{residual: {layers: [3×3 conv], shortcut: …}}` on a [16, 8, 8] input."""
    conv = f"{{type: conv2d, filters: {filters}, kernel: 3, stride: {stride}, padding: 1}}"
    mode = f", shortcut: {shortcut}" if shortcut else ""
    return f"{{residual: {{layers: [{conv}]{mode}}}}}"


def test_identity_shortcut_is_no_layer():
    a = analyse(residual(), input="[16, 8, 8]")
    assert [a.graph.decl(n).kind for n in a.layers] == ["conv2d", "add"]
    assert a.graph.decl("add0").inputs == ["conv2d0", "input"]
    assert a.output_shape == (16, 8, 8)


def test_projection_shortcut_when_the_body_changes_shape():
    a = analyse(residual(filters=32, stride=2), input="[16, 8, 8]")
    assert a.shapes["downsample"] == (32, 4, 4)
    assert names(a.params["downsample"]) == [                       # torchvision's downsample.0 / .1
        ("0.weight", (32, 16, 1, 1)), ("1.weight", (32,)), ("1.bias", (32,)),
        ("1.running_mean", (32,)), ("1.running_var", (32,))]
    assert a.macs["downsample"] == 32 * 4 * 4 * 16
    assert a.fields["downsample"] == Spatial((1, 1), (2, 2), (0, 0))
    assert a.fields["add0"] == Spatial((3, 3), (2, 2), (0, 0), aligned=True)


def test_projection_can_be_forced():
    a = analyse(residual(shortcut="projection"), input="[16, 8, 8]")
    assert a.params["downsample"][0].shape == (16, 16, 1, 1)


def test_shortcut_layer_directly():
    shortcut, x, like = LAYERS["shortcut"](), Shape(64, 56, 56), Shape(128, 28, 28)
    assert shortcut.infer_shape(x, like) == (128, 28, 28)
    assert shortcut.stride(x, like) == (2, 2)
    assert shortcut.infer_shape(like, like) == like and list(shortcut.params(like, like)) == []


def test_identity_shortcut_must_match():
    e = error(residual(filters=32, shortcut="identity"), input="[16, 8, 8]")
    assert "identity shortcut (N, 16, 8, 8) does not match the body's output (N, 32, 8, 8)" in e.message
    assert e.help == "use `shortcut: auto` or `projection`"
    assert "«residual»" in caret(e)


def test_residual_body_must_shrink_by_a_whole_stride():
    e = error("{residual: {layers: [{type: conv2d, filters: 16, kernel: 3, stride: 2}]}}", input="[16, 7, 7]")
    assert e.message == ("layer 'downsample' (shortcut): the residual body maps size 7 to 3, "
                         "not an even stride")
    assert e.help == "the body's output size must divide its input size"


def test_residual_body_must_keep_the_rank():
    e = error("{residual: {layers: [{type: global_avgpool}]}}", input="[16, 7, 7]")
    assert "the residual body changes the rank: (N, 16, 7, 7) → (N, 16)" in e.message
    assert e.help == "a residual body must keep (C, H, W)"


def test_shortcut_mode_choices():
    e = error(residual(shortcut="projektion"), input="[16, 8, 8]")
    assert e.message == "'projektion' is not one of auto, identity, projection"
    assert e.help == "did you mean 'projection'?"
