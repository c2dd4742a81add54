"""Layers that move or reshape data: dense, flatten, reshape, dropout, embedding, split
(cnnc/layers/core.py)."""
import pytest

from cnnc.analysis.rf import Global, Spatial, Steps
from cnnc.layers import LAYERS
from cnnc.shape import Shape
from cnnc.spec.errors import LayerError

from .conftest import analyse, caret, error, errors, names

TOKENS = "{tokens: {shape: [50], dtype: int64}}"


# ------------------------------------------------------------------ dense
def test_dense_shape_params_and_macs():
    dense = LAYERS["dense"](units=120)
    x = Shape(400)
    y = dense.infer_shape(x)
    assert y == (120,)
    assert names(dense.params(x)) == [("weight", (120, 400)), ("bias", (120,))]   # (out, in) as PyTorch
    assert dense.macs([x], y) == 400 * 120


def test_dense_without_bias():
    assert names(LAYERS["dense"](units=10, bias=False).params(Shape(84))) == [("weight", (10, 84))]


def test_lenet_classifier_after_flatten():
    a = analyse("{type: flatten}", "{type: dense, units: 120}", "{type: dense, units: 84}",
                "{type: dense, units: 10}", input="[16, 5, 5]")
    assert a.shapes["flatten0"] == (400,)
    assert a.totals()["params"] == 48_120 + 10_164 + 850
    assert a.totals()["macs"] == 400 * 120 + 120 * 84 + 84 * 10


def test_dense_on_an_image_asks_for_flatten():
    e = error("{type: dense, units: 5}", input="[3, 32, 32]")
    assert e.message == "layer 'dense0' (dense) needs input (N, F), got (N, 3, 32, 32)"
    assert e.help == "add a `flatten` or a global pooling layer before it"
    assert caret(e) == "  - «{type: dense, units: 5}»"


# ------------------------------------------------------------------ flatten
@pytest.mark.parametrize("x, y", [((512, 7, 7), (25_088,)), ((16, 100), (1_600,)), ((10,), (10,))])
def test_flatten_shape(x, y):
    assert LAYERS["flatten"]().infer_shape(Shape(*x)) == y


def test_flatten_keeps_the_dtype():
    assert LAYERS["flatten"]().infer_shape(Shape(5, 10, dtype="int64")).dtype == "int64"


# ------------------------------------------------------------------ reshape
@pytest.mark.parametrize("shape, x, y", [
    ([16, 64], (16, 8, 8), (16, 64)),
    ([-1], (16, 8, 8), (1024,)),
    ([2, -1], (16, 8, 8), (2, 512)),
    ([4, -1, 8], (16, 8, 8), (4, 32, 8)),
    ([1, 28, 28], (784,), (1, 28, 28)),
])
def test_reshape_infers_one_minus_one(shape, x, y):
    assert LAYERS["reshape"](shape=shape).infer_shape(Shape(*x)) == y


@pytest.mark.parametrize("shape, message, help", [
    ("[-1, -1]", "at most one entry of shape may be -1", ""),
    ("[2, 0, -1]", "shape entries must be positive (or one -1)", ""),
    ("[5, 5]", "cannot reshape 1024 values ((N, 16, 8, 8)) into 25",
     "the product of shape must equal the input's size; use -1 for one axis"),
    ("[3, -1]", "cannot reshape 1024 values ((N, 16, 8, 8)) into [3, -1]", ""),
])
def test_reshape_errors_point_at_shape(shape, message, help):
    e = error(f"{{type: reshape, shape: {shape}}}", input="[16, 8, 8]")
    assert e.message == f"layer 'reshape0' (reshape): {message}"
    assert e.help == help
    assert f"shape: «{shape}»" in caret(e)


@pytest.mark.parametrize("shape, message", [
    ("[2, -2]", "must be at least -1, got -2"),
    ("[]", "expected a list of integers, got []"),
    ("16", "expected a list of integers, got 16"),
])
def test_reshape_shape_must_be_a_list_of_sizes(shape, message):
    assert message in error(f"{{type: reshape, shape: {shape}}}").message


# ------------------------------------------------------------------ dropout
def test_dropout_changes_nothing_the_analysis_counts():
    a = analyse("{type: conv2d, filters: 8, kernel: 3}", "{type: dropout, rate: 0.5}")
    assert a.shapes["dropout0"] == a.shapes["conv2d0"]
    assert a.fields["dropout0"] == a.fields["conv2d0"]
    assert a.params["dropout0"] == [] and a.macs["dropout0"] == 0


@pytest.mark.parametrize("rate, message", [
    ("1", "must be below 1, got 1"),
    ("-0.1", "must be at least 0, got -0.1"),
    ("half", "expected a number, got 'half'"),
])
def test_dropout_rate_is_a_probability_below_one(rate, message):
    e = error(f"{{type: dropout, rate: {rate}}}")
    assert e.message == f"dropout attribute 'rate': {message}"
    assert f"rate: «{rate}»" in caret(e)


def test_dropout_needs_a_rate():
    e = error("{type: dropout}")
    assert (e.message, e.help) == ("dropout needs `rate`", "add `rate: <float>` (probability of dropping a value)")


# ------------------------------------------------------------------ embedding
def test_embedding_turns_tokens_into_vectors():
    a = analyse("{type: embedding, vocab: 10000, dim: 128}", inputs=TOKENS)
    assert a.output_shape == (50, 128) and a.output_shape.dtype == "float32"
    assert names(a.params["embedding0"]) == [("weight", (10_000, 128))]
    assert a.macs["embedding0"] == 0                                          # a lookup, no arithmetic


def test_embedding_then_lstm_sees_every_step():
    a = analyse("{type: embedding, vocab: 100, dim: 16}", "{type: lstm, units: 32}", inputs=TOKENS)
    assert a.fields["lstm0"] == Steps(50)


def test_embedding_needs_integer_tokens():
    e = error("{type: embedding, vocab: 100, dim: 16}", input="[50]")
    assert e.message == "layer 'embedding0' (embedding) needs integer token ids, got float32 input"
    assert e.help == "give the input `dtype: int64`"


@pytest.mark.parametrize("layer, missing", [("{type: embedding, dim: 16}", "vocab"),
                                            ("{type: embedding, vocab: 100}", "dim")])
def test_embedding_needs_vocab_and_dim(layer, missing):
    assert error(layer, inputs=TOKENS).message == f"embedding needs `{missing}`"


def test_embedding_sizes_must_be_positive():
    found = errors("{type: embedding, vocab: 0, dim: -3}", inputs=TOKENS)
    assert [e.message for e in found] == ["embedding attribute 'vocab': must be at least 1, got 0",
                                          "embedding attribute 'dim': must be at least 1, got -3"]


# ------------------------------------------------------------------ split (made by `parallel: {split: true}`)
def test_parallel_split_halves_the_channels():
    a = analyse("{parallel: {split: true, branches: [[], [{type: conv2d, filters: 8, kernel: 3, padding: 1}]]}}",
                input="[16, 8, 8]")
    assert [(n, a.graph.decl(n).kind, a.shapes[n]) for n in a.layers] == [
        ("split0", "split", (8, 8, 8)), ("split1", "split", (8, 8, 8)),
        ("conv2d0", "conv2d", (8, 8, 8)), ("concat0", "concat", (16, 8, 8))]
    assert a.params["split0"] == [] and a.fields["split0"] == Spatial.identity(2)


@pytest.mark.parametrize("attrs, x, y", [
    ({"parts": 2, "index": 0}, (16, 8, 8), (8, 8, 8)),
    ({"parts": 4, "index": 3}, (16, 8, 8), (4, 8, 8)),
    ({"parts": 2, "index": 1, "axis": 1}, (16, 8, 8), (16, 4, 8)),
])
def test_split_shape(attrs, x, y):
    assert LAYERS["split"](**attrs).infer_shape(Shape(*x)) == y


@pytest.mark.parametrize("attrs, message", [
    ({"parts": 3, "index": 0}, "cannot split 16 channels into 3 equal parts"),
    ({"parts": 2, "index": 2}, "index 2 must be below parts=2"),
    ({"parts": 2, "index": 0, "axis": 3}, "axis 3 is out of range for (N, 16, 8, 8)"),
])
def test_split_errors(attrs, message):
    with pytest.raises(LayerError) as e:
        LAYERS["split"](**attrs).infer_shape(Shape(16, 8, 8))
    assert e.value.message == message


def test_uneven_parallel_split_is_one_error():
    e = error("{parallel: {split: true, branches: [[], [], []]}}", input="[16, 8, 8]")
    assert "cannot split 16 channels into 3 equal parts" in e.message


def test_internal_kinds_are_not_written_by_users():
    for kind in ("split", "shortcut"):
        assert LAYERS[kind].internal
        assert error(f"{{type: {kind}}}").message == f"unknown layer type '{kind}'"


# ------------------------------------------------------------------ fields
@pytest.mark.parametrize("layer", ["{type: flatten}", "{type: reshape, shape: [-1]}", "{type: dense, units: 4}"])
def test_flatten_reshape_and_dense_see_everything(layer):
    layers = ["{type: flatten}", layer] if "dense" in layer else [layer]
    a = analyse("{type: conv2d, filters: 2, kernel: 3}", *layers, input="[1, 8, 8]")
    assert a.fields[a.layers[-1]] == Global()
