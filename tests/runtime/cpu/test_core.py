"""CPU core ops against the reference, on the same data moved between the layouts.

`check` (shared by the other CPU op tests) runs an op's forward and backward on the reference
in float64 NCHW and on the CPU backend in float32 NHWC inside, and asserts that outputs and
every gradient agree at float32 tolerances. Dropout draws the reference's mask exactly.
"""
import importlib

import numpy as np
import pytest

from cnnc.runtime.cpu import core as cpu
from cnnc.runtime.cpu.layout import from_internal, to_internal
from cnnc.runtime.ops import RunContext

rng = np.random.default_rng(0)


def _cast(a, dtype):
    if a is None or not np.issubdtype(np.asarray(a).dtype, np.floating):
        return a
    return np.array(a, dtype=np.float32).astype(dtype)     # both sides see the same float32 values


def check(family, name, xs, ps=(), attrs=None, *, train=False, seed=0, rtol=1e-4, atol=2e-5):
    """Run op `name` on both backends; assert y, dxs and dps agree. Returns the params of each
    side after the step (batchnorm updates its running statistics) and the CPU's y (boundary)."""
    attrs = attrs or {}
    backends = {side: importlib.import_module(f"cnnc.runtime.{side}.{family}") for side in ("reference", "cpu")}
    ref_ps = [_cast(p, np.float64) for p in ps]
    cpu_ps = [_cast(p, np.float32) for p in ps]
    ref_fwd, ref_bwd = getattr(backends["reference"], f"{name}_fwd"), getattr(backends["reference"], f"{name}_bwd")
    cpu_fwd, cpu_bwd = getattr(backends["cpu"], f"{name}_fwd"), getattr(backends["cpu"], f"{name}_bwd")

    y_ref, saved_ref = ref_fwd([_cast(x, np.float64) for x in xs], ref_ps, attrs,
                               RunContext(train=train, rng=np.random.default_rng(seed)))
    y_cpu, saved_cpu = cpu_fwd([to_internal("", _cast(x, np.float32)) for x in xs], cpu_ps, attrs,
                               RunContext(train=train, rng=np.random.default_rng(seed)))
    assert y_cpu.shape == to_internal("", y_ref).shape and y_cpu.dtype == np.float32
    np.testing.assert_allclose(from_internal("", y_cpu), y_ref, rtol=rtol, atol=atol, err_msg="forward")

    dy = np.random.default_rng(seed + 1).standard_normal(y_ref.shape).astype(np.float32)
    dxs_ref, dps_ref = ref_bwd(saved_ref, dy.astype(np.float64), attrs)
    dxs_cpu, dps_cpu = cpu_bwd(saved_cpu, to_internal("", dy), attrs)
    assert len(dxs_cpu) == len(dxs_ref) and len(dps_cpu) == len(dps_ref)
    for kind, refs, cpus in (("input", dxs_ref, dxs_cpu), ("param", dps_ref, dps_cpu)):
        for i, (r, c) in enumerate(zip(refs, cpus)):
            assert (r is None) == (c is None), f"{kind} {i}: gradient presence"
            if r is not None:
                assert c.dtype == np.float32, f"{kind} {i}: {c.dtype}"
                np.testing.assert_allclose(from_internal("", c) if kind == "input" else c, r,
                                           rtol=rtol, atol=atol, err_msg=f"gradient of {kind} {i}")
    return ref_ps, cpu_ps, from_internal("", y_cpu)


def run(fwd, xs, ps=(), attrs=None, train=False, seed=0):
    y, _ = fwd(xs, list(ps), attrs or {}, RunContext(train=train, rng=np.random.default_rng(seed)))
    return y


SHAPES = {"4-D": (2, 6, 4, 5), "3-D": (2, 6, 7), "2-D": (3, 6)}


# ---------------------------------------------------------------- layout helpers
def test_axis_attributes_map_to_nhwc_for_4d_and_stay_otherwise():
    assert [cpu.array_axis(a, 4) for a in (0, 1, 2, -1, -3)] == [3, 1, 2, 2, 3]
    assert [cpu.array_axis(a, 3) for a in (0, 1, -1)] == [1, 2, 2]
    with pytest.raises(ValueError, match="axis 3 is out of range"):
        cpu.array_axis(3, 4)


# ---------------------------------------------------------------- dense
@pytest.mark.parametrize("bias", [True, False])
def test_dense(bias):
    check("core", "dense", [rng.standard_normal((4, 6))], [rng.standard_normal((3, 6)),
                                                           rng.standard_normal(3) if bias else None])


# ---------------------------------------------------------------- dropout
@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
@pytest.mark.parametrize("train", [True, False])
def test_dropout_draws_the_reference_mask(shape, train):
    # same seed, same draws in the boundary order: outputs and gradients equal the reference
    _, _, y = check("core", "dropout", [rng.standard_normal(shape)], [], {"rate": 0.4}, train=train, seed=5)
    if train:
        assert 0 < (y == 0).mean() < 1


def test_dropout_keeps_with_probability_one_minus_rate_and_rescales():
    y = run(cpu.dropout_fwd, [np.ones((50, 20, 10, 10), np.float32)], attrs={"rate": 0.3}, train=True)
    assert set(np.unique(y)) == {0, np.float32(1) / np.float32(0.7)}
    assert abs((y > 0).mean() - 0.7) < 0.01
    assert abs(y.mean() - 1) < 0.01


def test_dropout_is_reproducible_for_a_seed():
    x = rng.standard_normal((4, 3, 5, 6)).astype(np.float32)
    first, again = (run(cpu.dropout_fwd, [x], attrs={"rate": 0.5}, train=True, seed=7) for _ in range(2))
    other = run(cpu.dropout_fwd, [x], attrs={"rate": 0.5}, train=True, seed=8)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_dropout_is_the_identity_in_eval():
    x = rng.standard_normal((2, 3)).astype(np.float32)
    np.testing.assert_array_equal(run(cpu.dropout_fwd, [x], attrs={"rate": 0.5}), x)


# ---------------------------------------------------------------- flatten, reshape
@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (2, 3, 7), (2, 6)])
def test_flatten(shape):
    check("core", "flatten", [rng.standard_normal(shape)])


def test_flatten_of_nhwc_keeps_the_boundary_chw_order():
    x = np.arange(24.0, dtype=np.float32).reshape(2, 3, 2, 2)
    y = run(cpu.flatten_fwd, [to_internal("", x)])
    np.testing.assert_array_equal(y, np.arange(24.0).reshape(2, 12))


@pytest.mark.parametrize("shape, target", [((2, 3, 4, 5), (12, 5)), ((2, 3, 4, 5), (5, 4, 3)),
                                           ((2, 60), (3, 4, 5)), ((2, 6, 10), (60,)), ((2, 6, 10), (4, 15))])
def test_reshape_in_boundary_order(shape, target):
    check("core", "reshape", [rng.standard_normal(shape)], [], {"shape": target})


# ---------------------------------------------------------------- embedding
@pytest.mark.parametrize("tokens", [(3, 4), (2, 3, 4)], ids=["(N, T)", "(N, A, B) → 4-D"])
def test_embedding(tokens):
    # repeated tokens (vocab 5) gather every use in the weight's gradient
    check("core", "embedding", [rng.integers(0, 5, tokens)], [rng.standard_normal((5, 3))])


@pytest.mark.parametrize("bad", [7, -1])
def test_embedding_rejects_out_of_range_tokens(bad):
    with pytest.raises(ValueError, match=f"token id {bad} is out of range for vocab size 5"):
        run(cpu.embedding_fwd, [np.array([[0, bad]])], [np.zeros((5, 3), np.float32)])


# ---------------------------------------------------------------- split
@pytest.mark.parametrize("parts, index, axis", [(2, 0, 0), (3, 2, 0), (2, 1, 1), (5, 3, 2), (2, 1, -1)])
def test_split_4d(parts, index, axis):
    check("core", "split", [rng.standard_normal((2, 6, 4, 10))], [], {"parts": parts, "index": index, "axis": axis})


@pytest.mark.parametrize("shape, axis", [((2, 6, 4), 0), ((2, 6, 4), 1), ((3, 6), 0)])
def test_split_lower_rank(shape, axis):
    check("core", "split", [rng.standard_normal(shape)], [], {"parts": 2, "index": 1, "axis": axis})


# ---------------------------------------------------------------- channel shuffle
@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
@pytest.mark.parametrize("groups", [2, 3])
def test_channel_shuffle(shape, groups):
    check("core", "channel_shuffle", [rng.standard_normal(shape)], [], {"groups": groups})


def test_channel_shuffle_rejects_groups_not_dividing_channels():
    with pytest.raises(ValueError, match="groups=4 must divide the 6 channels"):
        run(cpu.channel_shuffle_fwd, [np.zeros((1, 2, 2, 6), np.float32)], attrs={"groups": 4})
