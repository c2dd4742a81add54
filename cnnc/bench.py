"""`cnnc bench`: where a network's time goes, measured, against the machine's measured peak.

Everything printed is measured in the same run: per-layer forward and backward time (the
executor's own timers around each kernel), the FLOPs each layer does (2 per MAC; a layer
with weights does twice its forward FLOPs in backward: the input and the weight gradients),
the machine's FP32 peak (an FMA-bound kernel, runtime/cpu/peak.py) and the throughput of
whole steps (forward, or forward + backward + an SGD update with --train).
"""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import numpy as np

from cnnc.runtime.executor import Executor
from cnnc.runtime.ops import RunContext

from .compiler import Analysis
from .passes import lower
from .passes.fold import fold_batchnorm
from .train.init import initial_params
from .train.optimizers import SGD


@dataclass
class LayerTime:
    name: str
    kind: str
    forward_ms: float
    backward_ms: float
    flops: float                       # per step, forward + backward

    def gflops(self) -> float:
        seconds = (self.forward_ms + self.backward_ms) / 1000
        return self.flops / seconds / 1e9 if seconds > 0 and self.flops else 0.0


def random_inputs(a: Analysis, batch: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    out = {}
    for inp in a.graph.inputs:
        shape = (batch, *inp.shape)
        if inp.kind == "graph":
            adj = (rng.random(shape) < 0.05).astype(np.float32)
            out[inp.name] = np.maximum(adj, adj.transpose(0, 2, 1))
        elif inp.shape.dtype.startswith("int"):
            out[inp.name] = rng.integers(0, 2, shape)
        else:
            out[inp.name] = rng.standard_normal(shape).astype(np.float32)
    return out


def bench(a: Analysis, backend, *, train: bool, batch: int, repeat: int, peak_gflops: float) -> dict:
    program, params = lower(a, training=train), initial_params(a)
    if not train:                                     # what `cnnc infer` runs: batchnorm folded
        program, params = fold_batchnorm(program, params)
    params = backend.bind_params(params, program)
    rng = np.random.default_rng(0)
    inputs = random_inputs(a, batch, rng)
    executor = Executor(program, backend, params)
    optimizer = SGD(1e-6)

    def step():
        out = executor.forward(inputs, RunContext(train=train, rng=rng))
        if train:
            optimizer.step(executor.params, executor.backward({k: np.ones_like(v) for k, v in out.items()}))

    step()                                            # compile or load every kernel first
    executor.profile = {}
    seconds = []
    for _ in range(repeat):
        started = time.perf_counter()
        step()
        seconds.append(time.perf_counter() - started)
    layers = _layer_times(a, executor.profile, batch, repeat, train)
    median = statistics.median(seconds)
    return {"spec": a.name, "backend": backend.NAME, "train": train, "batch": batch, "repeat": repeat,
            "peak_gflops": round(peak_gflops, 1), "step_ms": round(1000 * median, 3),
            "throughput": round(batch / median, 1),
            "layers": [{"name": t.name, "kind": t.kind, "forward_ms": round(t.forward_ms, 4),
                        "backward_ms": round(t.backward_ms, 4), "gflops": round(t.gflops(), 2),
                        "peak_share": round(t.gflops() / peak_gflops, 4) if peak_gflops else None}
                       for t in layers]}


def _layer_times(a: Analysis, profile: dict, batch: int, repeat: int, train: bool) -> list[LayerTime]:
    forward, backward = profile.get("forward", {}), profile.get("backward", {})
    out = []
    for name in a.layers:
        fwd_flops = 2 * a.macs[name] * batch
        has_weights = any(p.trainable for p in a.params[name])
        flops = fwd_flops + (2 * fwd_flops if train and has_weights else 0)
        out.append(LayerTime(name, a.graph.decl(name).kind, 1000 * forward.get(name, 0.0) / repeat,
                             1000 * backward.get(name, 0.0) / repeat, flops))
    return out


def table(result: dict) -> str:
    rows = [(l["name"], l["kind"], f"{l['forward_ms']:.3f}", f"{l['backward_ms']:.3f}" if result["train"] else "-",
             f"{l['gflops']:.1f}" if l["gflops"] else "-",
             f"{100 * l['peak_share']:.1f}%" if l["gflops"] else "-") for l in result["layers"]]
    head = ("layer", "kind", "fwd ms", "bwd ms", "GFLOP/s", "% peak")
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]

    def line(cells):
        return "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    mode = "train step (forward + backward + SGD)" if result["train"] else "inference"
    return "\n".join([line(head), *map(line, rows),
                      f"{result['spec']} {mode}, batch {result['batch']}, backend {result['backend']}: "
                      f"{result['step_ms']:.1f} ms per step (median of {result['repeat']}), "
                      f"{result['throughput']:,.0f} samples/s",
                      f"measured FP32 peak: {result['peak_gflops']:.0f} GFLOP/s"])
