"""Initial values: per layer kind, overridable with `init:`."""
import numpy as np

from cnnc.compiler import analyse_text
from cnnc.train.init import initial_params


def params_of(text, seed=0):
    return initial_params(analyse_text(text), seed)


def test_he_for_convolutions_xavier_for_linear_dense():
    p = params_of("""
input: [64, 16, 16]
layers:
  - {name: conv, type: conv2d, filters: 64, kernel: 3}
  - {type: flatten}
  - {name: fc, type: dense, units: 256}
""")
    assert abs(p["conv.weight"].std() - np.sqrt(2 / (64 * 9))) < 0.003
    bound = np.sqrt(6 / (64 * 14 * 14 + 256))
    assert abs(p["fc.weight"]).max() <= bound and abs(p["fc.weight"].std() - bound / np.sqrt(3)) < 0.0005
    assert not p["conv.bias"].any()


def test_batchnorm_starts_as_identity_and_seed_reproduces():
    text = "input: [3, 4, 4]\nlayers: [{name: bn, type: batchnorm}, {name: c, type: conv2d, filters: 2, kernel: 1}]"
    p = params_of(text)
    assert (p["bn.weight"] == 1).all() and (p["bn.running_var"] == 1).all() and not p["bn.running_mean"].any()
    np.testing.assert_array_equal(params_of(text, 7)["c.weight"], params_of(text, 7)["c.weight"])
    assert not np.array_equal(params_of(text, 7)["c.weight"], params_of(text, 8)["c.weight"])


def test_spec_overrides_and_identity_affine_theta():
    p = params_of("""
input: [8]
layers:
  - {name: z, type: dense, units: 4, init: zeros}
  - {name: theta, type: dense, units: 6, init: identity_affine}
""")
    assert not p["z.weight"].any()
    np.testing.assert_array_equal(p["theta.bias"], [1, 0, 0, 0, 1, 0])
    assert not p["theta.weight"].any()


def test_highway_gate_starts_closed():
    p = params_of("input: [8]\nlayers: [{name: h, type: highway}]")
    assert (p["h.gate.bias"] == -2).all()
