"""The CPU backend runs whole networks as the reference does: outputs and parameter gradients
agree at float32 tolerances, layouts converted only at the boundary."""
from pathlib import Path

import numpy as np
import pytest

from cnnc.compiler import check
from cnnc.passes import lower
from cnnc.runtime import cpu, reference
from cnnc.runtime.executor import Executor
from cnnc.runtime.ops import RunContext
from cnnc.train.init import initial_params

from .test_network_gradients import inputs_for

ROOT = Path(__file__).resolve().parents[2]
SPECS = ["tests/specs/tiny/resnet.yaml", "tests/specs/tiny/inception.yaml", "tests/specs/tiny/lstm.yaml",
         "tests/specs/tiny/gcn.yaml", "tests/specs/tiny/stn.yaml", "tests/specs/tiny/mobile.yaml",
         "specs/lenet5.yaml"]


def run(backend, program, params, feeds, weights):
    ex = Executor(program, backend, backend.bind_params({k: v.copy() for k, v in params.items()}, program))
    out = ex.forward(feeds, RunContext(train=program.training, rng=np.random.default_rng(0)))
    grads = backend.unbind_params(ex.backward(weights), program) if program.training else {}
    return out, grads


@pytest.mark.parametrize("training", [False, True], ids=["inference", "training"])
@pytest.mark.parametrize("spec", SPECS, ids=[Path(s).stem for s in SPECS])
def test_cpu_equals_reference(spec, training):
    a = check(str(ROOT / spec))
    rng = np.random.default_rng(0)
    params = initial_params(a, 1)
    feeds = {k: v.astype(np.float32) for k, v in inputs_for(a, rng, batch=3).items()}
    program = lower(a, training=training)
    weights = {o: rng.standard_normal((3, *a.shapes[o])).astype(np.float32) for o in program.outputs}
    out_ref, grads_ref = run(reference, program, params, feeds, weights)
    out_cpu, grads_cpu = run(cpu, program, params, feeds, weights)
    for key in out_ref:
        scale = np.abs(out_ref[key]).max() + 1e-6
        np.testing.assert_allclose(out_cpu[key], out_ref[key], rtol=1e-4, atol=1e-5 * scale)
    assert set(grads_cpu) == set(grads_ref)
    for key in grads_ref:
        scale = np.abs(grads_ref[key]).max() + 1e-6
        np.testing.assert_allclose(grads_cpu[key], grads_ref[key], rtol=1e-3, atol=1e-4 * scale, err_msg=key)


@pytest.mark.parametrize("spec", ["tests/specs/tiny/resnet.yaml", "specs/lenet5.yaml"], ids=["resnet", "lenet5"])
def test_cpu_inference_with_folded_batchnorm_and_fused_epilogues(spec):
    """What `cnnc infer` runs: batchnorm folded into the convolutions, residual add and activation
    in one pass after the convolution (runtime/cpu/fusion.py), against the plain reference."""
    from cnnc.passes.fold import fold_batchnorm
    a = check(str(ROOT / spec))
    rng = np.random.default_rng(0)
    params = initial_params(a, 1)
    for name, value in params.items():
        if name.endswith("running_var"):
            params[name] = (0.5 + rng.random(value.shape)).astype(np.float32)
        elif name.endswith("running_mean"):
            params[name] = (0.1 * rng.standard_normal(value.shape)).astype(np.float32)
    x = {"input": rng.standard_normal((3, *a.graph.inputs[0].shape)).astype(np.float32)}
    program = lower(a, training=False)
    folded, folded_params = fold_batchnorm(program, params)
    fast = Executor(folded, cpu, cpu.bind_params(folded_params, folded))
    assert sum(r is not None for r in fast.fused.values()) >= 3          # the epilogues do run fused
    y = fast.forward(x, RunContext())
    y_ref = Executor(program, reference, params).forward(x, RunContext())
    for key in y_ref:
        np.testing.assert_allclose(y[key], y_ref[key], rtol=1e-4, atol=1e-5 * np.abs(y_ref[key]).max())


@pytest.mark.parametrize("spec", ["tests/specs/tiny/resnet.yaml", "tests/specs/tiny/inception.yaml",
                                  "tests/specs/tiny/mobile.yaml"], ids=["resnet", "inception", "mobile"])
def test_training_forward_allocates_what_the_plan_predicts(spec):
    """An activation in its head's store (Step.trains_as_one) keeps one output for two ops, and
    the executor allocates exactly what `cnnc compile --plan` says training keeps. (Not LeNet:
    its flatten is a view here, which the plan, not knowing the layout, counts.)"""
    from cnnc.bench import Recording, held_activation_bytes
    from cnnc.passes.report import batch_plan
    a = check(str(ROOT / spec))
    program = lower(a, training=True)
    assert any(step.trains_as_one for step in program.steps)
    backend = Recording(cpu)
    params = cpu.bind_params(initial_params(a, 1), program)
    ex = Executor(program, backend, params)
    feeds = {k: v.astype(np.float32) for k, v in inputs_for(a, np.random.default_rng(0), batch=3).items()}
    ex.forward(feeds, RunContext(train=True))
    held = held_activation_bytes(backend.outputs, [*params.values(), *backend.made])
    assert held == batch_plan(program, 3).after_bytes
