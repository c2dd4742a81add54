"""CPU recurrent ops and highway against the NumPy reference.

Each case runs the CPU kernels on float32 data and the reference on the same values in float64,
then compares the output and every input and parameter gradient at float32 tolerances. Inputs
and gradients cross the backend boundary with layout.to_internal / from_internal (the identity
for these 2-D and 3-D tensors; the spatial transformer's tests use the same helper on NHWC)."""
import importlib

import numpy as np
import pytest

from cnnc.runtime.cpu import recurrent as cpu
from cnnc.runtime.cpu.layout import from_internal, to_internal
from cnnc.runtime.ops import RunContext

from ..reference.test_recurrent import GATES, highway_params, recurrent_params


def _cast(arrays, dtype):
    """Floating arrays in `dtype`; others (an integer adjacency) and None as they are."""
    return [np.asarray(a, dtype) if a is not None and np.issubdtype(np.asarray(a).dtype, np.floating) else a
            for a in arrays]


def assert_matches_reference(backend, op, xs, ps, attrs, *, seed=0):
    """CPU op (float32, internal layout) == reference op (float64): y, dxs and dps."""
    xs, ps = _cast(xs, np.float32), _cast(ps, np.float32)
    names = [f"x{i}" for i in range(len(xs))]
    training = RunContext(train=True)                # a forward whose backward is taken
    y, saved = getattr(backend, f"{op}_fwd")([to_internal(n, x) for n, x in zip(names, xs)], ps, attrs, training)
    y_ref, saved_ref = getattr(ref_of(backend), f"{op}_fwd")(_cast(xs, np.float64), _cast(ps, np.float64), attrs,
                                                             training)
    y = from_internal("y", y)
    dy = np.random.default_rng(seed).standard_normal(y_ref.shape)
    dxs, dps = getattr(backend, f"{op}_bwd")(saved, to_internal("y", dy.astype(np.float32)), attrs)
    dxs_ref, dps_ref = getattr(ref_of(backend), f"{op}_bwd")(saved_ref, dy, attrs)
    assert len(dxs) == len(dxs_ref) and len(dps) == len(dps_ref)
    dxs = [None if d is None else from_internal(n, d) for n, d in zip(names, dxs)]
    pairs = [("y", y, y_ref)] + [(f"d{n}", d, r) for n, d, r in zip(names, dxs, dxs_ref)] \
        + [(f"dp{i}", d, r) for i, (d, r) in enumerate(zip(dps, dps_ref))]
    for what, got, want in pairs:
        assert (got is None) == (want is None), f"{what}: {got is None=} but reference {want is None=}"
        if got is not None:
            assert got.dtype == np.float32 and got.shape == want.shape, what
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5 * max(1.0, np.abs(want).max()),
                                       err_msg=what)
    return y


def ref_of(backend):
    """The reference module with the same family name as a CPU module."""
    return importlib.import_module(backend.__name__.replace(".cpu.", ".reference."))


@pytest.mark.parametrize("op", GATES)
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_matches_reference(op, bidirectional, return_sequences):
    """11 sequences: more than one block of batch rows per thread, the last one partial."""
    rng = np.random.default_rng(0)
    n, steps, features, units = 11, 5, 3, 4
    x = rng.standard_normal((n, steps, features))
    ps = recurrent_params(op, features, units, bidirectional=bidirectional, rng=rng)
    attrs = dict(units=units, bidirectional=bidirectional, return_sequences=return_sequences, activation="tanh")
    y = assert_matches_reference(cpu, op, [x], ps, attrs)
    width = units * (2 if bidirectional else 1)
    assert y.shape == ((n, steps, width) if return_sequences else (n, width))


@pytest.mark.parametrize("op", GATES)
def test_without_bias(op):
    rng = np.random.default_rng(2)
    ps = recurrent_params(op, 3, 2, bidirectional=True, bias=False, rng=rng)
    assert_matches_reference(cpu, op, [rng.standard_normal((2, 3, 3))], ps,
                             dict(units=2, bidirectional=True, return_sequences=True))


@pytest.mark.parametrize("bidirectional", [False, True])
def test_relu_rnn(bidirectional):
    rng = np.random.default_rng(3)
    ps = recurrent_params("rnn", 3, 3, bidirectional=bidirectional, rng=rng)
    attrs = dict(units=3, bidirectional=bidirectional, return_sequences=True, activation="relu")
    y = assert_matches_reference(cpu, "rnn", [rng.standard_normal((2, 4, 3))], ps, attrs)
    assert (y >= 0).all() and (y == 0).any()


def test_one_step_of_one_sequence():
    rng = np.random.default_rng(4)
    for op in GATES:
        assert_matches_reference(cpu, op, [rng.standard_normal((1, 1, 2))], recurrent_params(op, 2, 3, rng=rng),
                                 dict(units=3))


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid", "none", "leaky_relu", "relu6",
                                        "hard_sigmoid", "softmax"])
def test_highway(activation):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((5, 4)) * 2
    assert_matches_reference(cpu, "highway", [x], highway_params(4, rng), {"activation": activation})


def test_highway_without_biases():
    rng = np.random.default_rng(6)
    w_h, _, w_t, _ = highway_params(3, rng)
    assert_matches_reference(cpu, "highway", [rng.standard_normal((2, 3))], [w_h, None, w_t, None], {"activation": "tanh"})


@pytest.mark.parametrize("op", GATES)
def test_wide_layers_cross_tiles_and_blocks(op):
    """130 units: padded to three 64-wide column tiles (the LSTM's gates to twelve); with 130
    features a step's product [h, x, 1] is 323 deep, three 128-deep blocks; 9 sequences: two row
    blocks, the second ragged."""
    rng = np.random.default_rng(7)
    n, steps, features, units = 9, 3, 130, 130
    ps = recurrent_params(op, features, units, bidirectional=True, rng=rng)
    ps = [None if p is None else p * 0.2 for p in ps]          # keep the gates off saturation
    attrs = dict(units=units, bidirectional=True, return_sequences=True, activation="tanh")
    assert_matches_reference(cpu, op, [rng.standard_normal((n, steps, features))], ps, attrs)


@pytest.mark.parametrize("op", GATES)
@pytest.mark.parametrize("return_sequences", [False, True])
def test_one_sequence_many_steps(op, return_sequences):
    rng = np.random.default_rng(8)
    ps = recurrent_params(op, 5, 70, rng=rng)
    ps = [None if p is None else p * 0.3 for p in ps]
    assert_matches_reference(cpu, op, [rng.standard_normal((1, 12, 5))], ps,
                             dict(units=70, return_sequences=return_sequences))


@pytest.mark.parametrize("op", GATES)
def test_input_gradient_skipped_when_not_wanted(op):
    rng = np.random.default_rng(9)
    ps = recurrent_params(op, 3, 4, rng=rng)
    x = rng.standard_normal((2, 3, 3)).astype(np.float32)
    attrs = dict(units=4, input_grads=[False])
    y, saved = getattr(cpu, f"{op}_fwd")([x], [None if p is None else p.astype(np.float32) for p in ps], attrs,
                                         RunContext(train=True))
    dxs, dps = getattr(cpu, f"{op}_bwd")(saved, np.ones_like(y), attrs)
    assert dxs == [None] and all(d is not None for d in dps[:4])


@pytest.mark.parametrize("op", GATES)
def test_same_result_on_one_and_on_every_thread(op):
    """Rows never interact and each thread owns whole rows: the thread count changes nothing."""
    import numba
    rng = np.random.default_rng(10)
    ps = [p.astype(np.float32) for p in recurrent_params(op, 6, 20, rng=rng)[:4]] + [None] * 4
    x = rng.standard_normal((13, 7, 6)).astype(np.float32)
    attrs = dict(units=20, return_sequences=True)

    def run():
        y, saved = getattr(cpu, f"{op}_fwd")([x], ps, attrs, RunContext(train=True))
        return [y, *getattr(cpu, f"{op}_bwd")(saved, np.ones_like(y), attrs)[1][:4]]

    every = run()
    previous = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        one = run()
    finally:
        numba.set_num_threads(previous)
    for a, b in zip(every, one):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("op", GATES)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_inference_keeps_one_step_of_tape_and_gives_the_same_output(op, bidirectional):
    rng = np.random.default_rng(11)
    ps = [None if p is None else p.astype(np.float32)
          for p in recurrent_params(op, 4, 5, bidirectional=bidirectional, rng=rng)]
    x = rng.standard_normal((6, 9, 4)).astype(np.float32)
    attrs = dict(units=5, bidirectional=bidirectional, return_sequences=True)
    y_train, _ = getattr(cpu, f"{op}_fwd")([x], ps, attrs, RunContext(train=True))
    y_infer, saved = getattr(cpu, f"{op}_fwd")([x], ps, attrs, RunContext(train=False))
    np.testing.assert_array_equal(y_infer, y_train)
    with pytest.raises(ValueError, match="training"):
        getattr(cpu, f"{op}_bwd")(saved, np.ones_like(y_infer), attrs)
