"""Lowering passes: what fuses, in which order steps run, how memory is planned."""
from pathlib import Path

import numpy as np
import pytest

from cnnc.compiler import check
from cnnc.passes import lower
from cnnc.passes.fold import fold_batchnorm
from cnnc.runtime import reference
from cnnc.runtime.executor import Executor
from cnnc.runtime.ops import RunContext
from cnnc.train.init import initial_params

ROOT = Path(__file__).resolve().parents[2]


def analysis(name):
    path = ROOT / "specs" / f"{name}.yaml"
    return check(str(path if path.exists() else ROOT / "tests" / "specs" / "tiny" / f"{name}.yaml"))


def test_inference_fuses_conv_batchnorm_relu_and_the_residual_add():
    steps = lower(analysis("resnet18"), training=False).steps
    ops = [tuple(s.op for s in step.chain()) for step in steps]
    assert ops[0] == ("conv2d", "batchnorm", "relu")
    assert ("conv2d", "batchnorm", "add", "relu") in ops
    assert len(steps) == 23                     # from 68 ops


def test_projection_shortcut_runs_before_the_block_body():
    names = [s.result for s in lower(analysis("resnet18"), training=False).steps]
    assert names.index("layer2.0.downsample") < names.index("layer2.0.relu")


def test_training_keeps_batchnorm_and_dropout_apart():
    steps = lower(analysis("resnet18"), training=True).steps
    assert all(s.chain()[0].op != "conv2d" or len(s.chain()) == 1 for s in steps)
    alex = lower(analysis("alexnet"), training=True).steps
    assert any(s.op == "dropout" for s in alex)


def test_memory_plan_reuses_buffers_at_inference_only():
    a = analysis("vgg16")
    infer, train = lower(a, training=False).plan, lower(a, training=True).plan
    assert infer.after_bytes < infer.before_bytes / 2
    assert train.after_bytes == train.before_bytes
    # a chain needs at most two live buffers besides the input
    assert len(lower(analysis("lenet5"), training=False).plan.slot_bytes) == 2


def random_stats(params, seed=0):
    rng = np.random.default_rng(seed)
    for name, value in params.items():
        if name.endswith("running_var"):
            params[name] = (0.5 + rng.random(value.shape)).astype(value.dtype)
        elif name.endswith("running_mean"):
            params[name] = (0.1 * rng.standard_normal(value.shape)).astype(value.dtype)
    return params


@pytest.mark.parametrize("name", ["resnet", "inception", "lstm"])
def test_fused_and_unfused_programs_agree(name):
    a = analysis(name)
    params = random_stats(initial_params(a, seed=1))
    x = np.random.default_rng(2).standard_normal((3, *a.graph.inputs[0].shape)).astype(np.float32)
    outs = [Executor(lower(a, training=False, fused=fused), reference, params).forward({"input": x}, RunContext())
            for fused in (False, True)]
    for key in outs[0]:
        np.testing.assert_allclose(outs[0][key], outs[1][key], rtol=1e-6, atol=1e-6)


def test_folded_batchnorm_equals_the_unfolded_network_in_eval():
    a = analysis("resnet20")
    params = random_stats(initial_params(a, seed=3))
    program = lower(a, training=False)
    folded, folded_params = fold_batchnorm(program, params)
    assert sum(len(s.chain()) for s in folded.steps) < sum(len(s.chain()) for s in program.steps)
    x = np.random.default_rng(4).standard_normal((4, 3, 32, 32)).astype(np.float32)
    y = Executor(program, reference, params).forward({"input": x}, RunContext())
    y_folded = Executor(folded, reference, folded_params).forward({"input": x}, RunContext())
    for key in y:
        np.testing.assert_allclose(y_folded[key], y[key], rtol=1e-4, atol=1e-4 * np.abs(y[key]).max())


def test_an_activation_after_a_head_that_reads_only_its_inputs_trains_in_its_store():
    steps = lower(analysis("resnet20"), training=True).steps
    as_one = {tuple(s.op for s in step.chain()) for step in steps if step.trains_as_one}
    assert as_one == {("batchnorm", "relu"), ("add", "relu")}
    lenet = lower(analysis("lenet5"), training=True)
    assert [tuple(s.op for s in step.chain()) for step in lenet.steps if step.trains_as_one] == [
        ("conv2d", "tanh"), ("conv2d", "tanh"), ("conv2d", "tanh"), ("dense", "tanh")]
    assert not any(step.trains_as_one for step in lower(analysis("lenet5"), training=False).steps)


def test_training_plan_keeps_one_output_for_a_step_that_trains_as_one():
    program = lower(analysis("lenet5"), training=True)
    kept = [t for t in program.plan.slot_of]
    heads = [step.op for step in program.steps if step.trains_as_one]
    assert len(kept) == len(program.primitive_steps()) - len(heads)
    assert all(step.result in kept and step.output not in kept for step in program.steps if step.trains_as_one)
