"""Whole networks: the executor's backward equals finite differences of the forward (float64),
on tiny versions of ResNet-20, an Inception module, stacked LSTM/GRU, a GCN and an STN."""
from pathlib import Path

import numpy as np
import pytest

from cnnc.compiler import check
from cnnc.passes import lower
from cnnc.runtime import reference
from cnnc.runtime.executor import Executor
from cnnc.runtime.ops import RunContext
from cnnc.train.init import initial_params

TINY = Path(__file__).resolve().parents[1] / "specs" / "tiny"


def inputs_for(a, rng, batch=2):
    out = {}
    for inp in a.graph.inputs:
        if inp.kind == "graph":
            adj = (rng.random((batch, *inp.shape)) < 0.4).astype(float)
            out[inp.name] = np.maximum(adj, adj.transpose(0, 2, 1))
        else:
            out[inp.name] = rng.standard_normal((batch, *inp.shape))
    return out


@pytest.mark.parametrize("name", ["resnet", "inception", "lstm", "gcn", "stn"])
def test_network_backward_matches_finite_differences(name):
    a = check(str(TINY / f"{name}.yaml"))
    rng = np.random.default_rng(0)
    params = {k: v.astype(np.float64) + 0.05 * rng.standard_normal(v.shape) for k, v in initial_params(a, 1).items()}
    program = lower(a, training=True)
    feeds = inputs_for(a, rng)
    weights = {o: rng.standard_normal((2, *a.shapes[o])) for o in program.outputs}

    def loss():
        ex = Executor(program, reference, {k: v.copy() for k, v in params.items()})
        out = ex.forward(feeds, RunContext(train=True))
        return float(sum((out[o] * weights[o]).sum() for o in out)), ex

    _, ex = loss()
    grads = ex.backward(weights)
    trainable = {n for n, p in program.params.items() if p.trainable}
    assert set(grads) == trainable
    for pname in sorted(trainable):
        value = params[pname].reshape(-1)
        for i in rng.choice(value.size, size=min(4, value.size), replace=False):
            old = value[i]
            value[i] = old + 1e-6
            up, _ = loss()
            value[i] = old - 1e-6
            down, _ = loss()
            value[i] = old
            numeric = (up - down) / 2e-6
            assert abs(grads[pname].reshape(-1)[i] - numeric) <= 1e-5 + 1e-4 * abs(numeric), (pname, i)
