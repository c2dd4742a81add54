"""cnnc/torch_net.py: the same Program in PyTorch computes what the NumPy reference computes —
outputs, parameter gradients and batchnorm's running statistics — on the same weights."""
import numpy as np
import pytest

from cnnc.bench import random_inputs
from cnnc.compiler import check
from cnnc.passes import lower
from cnnc.runtime import reference
from cnnc.runtime.executor import Executor
from cnnc.runtime.ops import RunContext
from cnnc.train.init import initial_params
from conftest import ROOT

torch = pytest.importorskip("torch")
from cnnc import torch_net  # noqa: E402  (needs torch)

SPECS = ["specs/lenet5.yaml", "specs/lstm.yaml", "specs/gru.yaml", "tests/specs/tiny/resnet.yaml",
         "tests/specs/tiny/lstm.yaml", "tests/specs/tiny/mobile.yaml", "tests/specs/tiny/inception.yaml",
         "tests/specs/tiny/gcn.yaml", "tests/specs/tiny/stn.yaml", "tests/specs/tiny/mlp.yaml"]
TOLERANCE = {"rtol": 2e-4, "atol": 2e-5}


def both(spec: str, train: bool, batch: int = 3):
    """The reference's and PyTorch's runs of one program, weights and inputs alike."""
    a = check(str(ROOT / spec))
    program, params = lower(a, training=train), initial_params(a)
    inputs = random_inputs(a, batch, np.random.default_rng(1))
    ours = torch_net.TorchProgram(program, params)          # copies params before the reference runs
    theirs = Executor(program, reference, params)
    return ours, theirs, inputs


@pytest.mark.parametrize("spec", SPECS)
def test_training_outputs_gradients_and_running_stats_match_the_reference(spec):
    ours, theirs, inputs = both(spec, train=True)
    expected = theirs.forward(inputs, RunContext(train=True))
    grads = {name: np.random.default_rng(2).standard_normal(y.shape).astype(np.float32)
             for name, y in expected.items()}
    expected_grads = theirs.backward(grads)
    outputs = ours.forward(torch_net.to_tensors(inputs), train=True)
    for name, y in expected.items():
        np.testing.assert_allclose(outputs[name].detach().numpy(), y, **TOLERANCE)
    # running statistics: the reference updated its arrays in place, PyTorch its own copies
    for name, p in ours.params.items():
        if name.endswith(("running_mean", "running_var")):
            np.testing.assert_allclose(p.numpy(), theirs.params[name], **TOLERANCE)
    got = torch_net.TorchProgram(ours.program, theirs.params).gradients(torch_net.to_tensors(inputs), grads)
    assert set(got) == set(expected_grads)
    for name, g in expected_grads.items():
        np.testing.assert_allclose(got[name], g, rtol=1e-3, atol=1e-4, err_msg=name)


@pytest.mark.parametrize("spec", ["specs/lenet5.yaml", "tests/specs/tiny/resnet.yaml", "tests/specs/tiny/mobile.yaml"])
def test_inference_matches_the_reference(spec):
    ours, theirs, inputs = both(spec, train=False)
    for p in theirs.params.values():             # batchnorm statistics that are not 0 and 1
        p += 0.1
    ours = torch_net.TorchProgram(ours.program, theirs.params)
    expected = theirs.forward(inputs, RunContext(train=False))
    with torch.inference_mode():
        outputs = ours.forward(torch_net.to_tensors(inputs), train=False)
    for name, y in expected.items():
        np.testing.assert_allclose(outputs[name].numpy(), y, **TOLERANCE)


@pytest.mark.parametrize("train", [True, False])
def test_profile_times_every_layer_that_computes(train):
    a = check(str(ROOT / "tests/specs/tiny/resnet.yaml"))
    program = lower(a, training=train)
    ours = torch_net.TorchProgram(program, initial_params(a))
    forward, backward = ours.profile(torch_net.to_tensors(random_inputs(a, 2, np.random.default_rng(0))), train)
    assert set(forward) == {s.layer for s in program.primitive_steps()}
    convs = [s.layer for s in program.primitive_steps() if s.op == "conv2d"]
    assert all(backward[layer] > 0 for layer in convs) == train and all(p.grad is None for p in ours.trainable)


def test_every_runtime_op_has_a_pytorch_equivalent():
    from cnnc.runtime.ops import OPS
    assert set(torch_net.OPS) == set(OPS)


def test_an_op_without_a_pytorch_equivalent_is_named(monkeypatch):
    monkeypatch.delitem(torch_net.OPS, "lstm")
    a = check(str(ROOT / "specs/lstm.yaml"))
    with pytest.raises(torch_net.MissingTorchOp, match="lstm: op lstm has no PyTorch equivalent"):
        torch_net.TorchProgram(lower(a, training=True), initial_params(a))


ADJACENCY = np.array([[0, 1, 0, 0, 1, 0], [1, 2, 1, 0, 0, 0], [0, 1, 0, 1, 0, 0],
                      [0, 0, 1, 0, 1, 1], [1, 0, 0, 1, 0, 0], [0, 0, 0, 1, 0, 0.5]], np.float32)
# name: (op, inputs (shapes, or arrays as they are), parameters (shapes or None), attrs) — the
# attribute cases the specs above do not reach
OP_CASES = {
    "conv2d asymmetric, dilated, grouped": ("conv2d", [(2, 4, 7, 6)], [(6, 2, 3, 3), (6,)],
                                            {"stride": (2, 1), "padding": ((1, 0), (2, 1)), "dilation": (1, 2),
                                             "groups": 2}),
    "conv1d asymmetric": ("conv1d", [(2, 4, 9)], [(6, 4, 3), (6,)],
                          {"stride": 2, "padding": (0, 2), "dilation": 1, "groups": 1}),
    "maxpool2d asymmetric, ceil": ("maxpool2d", [(2, 3, 7, 7)], [],
                                   {"kernel": (3, 3), "stride": (2, 2), "padding": ((1, 0), (0, 1)),
                                    "ceil_mode": True}),
    "avgpool2d excluding padding": ("avgpool2d", [(2, 3, 7, 7)], [],
                                    {"kernel": (3, 3), "stride": (2, 2), "padding": ((1, 1), (1, 1)),
                                     "ceil_mode": True, "count_include_pad": False}),
    "global_maxpool": ("global_maxpool", [(2, 3, 4, 5)], [], {"keepdims": True}),
    "adaptive_avgpool": ("adaptive_avgpool", [(2, 3, 7, 5)], [], {"output": (3, 2)}),
    "spp max": ("spp", [(2, 3, 7, 5)], [], {"mode": "max", "levels": (1, 2, 3)}),
    "spp avg": ("spp", [(2, 3, 7, 5)], [], {"mode": "avg", "levels": (1, 2)}),
    "layernorm all": ("layernorm", [(2, 3, 4, 4)], [(3, 4, 4), (3, 4, 4)], {"axes": "all", "eps": 1e-5}),
    "layernorm last": ("layernorm", [(2, 5, 6)], [(6,), (6,)], {"axes": "last", "eps": 1e-5}),
    "instancenorm": ("instancenorm", [(2, 3, 4, 4)], [(3,), (3,)], {"eps": 1e-5}),
    "groupnorm": ("groupnorm", [(2, 4, 3, 3)], [(4,), (4,)], {"groups": 2, "eps": 1e-5}),
    "lrn": ("lrn", [(2, 5, 3, 3)], [], {"size": 3, "alpha": 1e-2, "beta": 0.75, "k": 2.0}),
    "leaky_relu": ("leaky_relu", [(2, 3, 4)], [], {"slope": 0.2}),
    "hard_sigmoid": ("hard_sigmoid", [(2, 3, 4)], [], {}),
    "softmax last axis": ("softmax", [(2, 3, 4)], [], {"axis": -1}),
    "reshape": ("reshape", [(2, 3, 4)], [], {"shape": (6, 2)}),
    "embedding": ("embedding", [np.array([[0, 3, 6, 1, 1], [2, 2, 5, 0, 4]])], [(7, 3)], {}),
    "split": ("split", [(2, 4, 3, 3)], [], {"parts": 2, "index": 1, "axis": 0}),
    "channel_shuffle": ("channel_shuffle", [(2, 4, 3, 3)], [], {"groups": 2}),
    "multiply broadcasting": ("multiply", [(2, 3, 4, 4), (2, 3, 1, 1)], [], {}),
    "add broadcasting": ("add", [(2, 3, 4, 4), (2, 4)], [], {}),
    "highway tanh": ("highway", [(2, 5)], [(5, 5), (5,), (5, 5), (5,)], {"activation": "tanh"}),
    "rnn relu": ("rnn", [(2, 4, 3)], [(5, 3), (5, 5), (5,), (5,), None, None, None, None],
                 {"activation": "relu", "return_sequences": True}),
    "gru without bias, bidirectional": ("gru", [(2, 4, 3)], [(15, 3), (15, 5), None, None] * 2,
                                        {"bidirectional": True}),
    "gcn_conv with self-loops": ("gcn_conv", [(2, 6, 4), np.stack([ADJACENCY, ADJACENCY.T])], [(3, 4), (3,)], {}),
    "spatial_transformer": ("spatial_transformer",
                            [(2, 3, 5, 5), np.array([[0.9, 0.1, 0.05, -0.1, 1.1, 0.0], [1, 0, 0.2, 0, 0.8, -0.1]])],
                            [], {"output": (4, 4)}),
}


@pytest.mark.parametrize("case", OP_CASES)
def test_op_matches_the_reference_forward_and_backward(case):
    op, xs, ps, attrs = OP_CASES[case]
    rng = np.random.default_rng(3)
    xs = [x.astype(x.dtype if x.dtype.kind == "i" else np.float32) if isinstance(x, np.ndarray)
          else rng.standard_normal(x).astype(np.float32) for x in xs]
    ps = [None if p is None else (0.5 * rng.standard_normal(p)).astype(np.float32) for p in ps]
    forward, backward = reference.kernels()[op]
    y, saved = forward(xs, ps, attrs, RunContext(train=True))
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dxs, dps = backward(saved, dy, attrs)
    leaves = [torch.tensor(a, requires_grad=a.dtype.kind == "f") if a is not None else None for a in xs + ps]
    y_torch = torch_net.OPS[op](leaves[:len(xs)], leaves[len(xs):], attrs, True)
    np.testing.assert_allclose(y_torch.detach().numpy(), y, **TOLERANCE)
    y_torch.backward(torch.from_numpy(dy))
    for i, (leaf, expected) in enumerate(zip(leaves, list(dxs) + list(dps))):
        if expected is not None:
            np.testing.assert_allclose(leaf.grad.numpy(), expected, rtol=1e-3, atol=1e-4, err_msg=f"input/param {i}")
