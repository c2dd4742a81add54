"""`cnnc bench`: where a network's time goes, measured, against the machine's measured peak.

Everything printed is measured in the same run: per-layer forward and backward time (the
executor's own timers around each kernel), the FLOPs each layer does (2 per MAC; a layer
with weights does twice its forward FLOPs in backward: the input and the weight gradients),
the machine's FP32 peak (an FMA-bound kernel, runtime/cpu/peak.py) and the throughput of
whole steps (forward, or forward + backward + an SGD update with --train).

With --compare torch the same network runs in PyTorch (cnnc/torch_net.py) on the same weights,
inputs, batch and threads, a cnnc step and a PyTorch step in turn; every figure is a median.
"""
from __future__ import annotations

import statistics
import time
from contextlib import nullcontext
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


@dataclass
class Sample:
    """One timed step: its wall time, and seconds per layer forward and backward."""
    seconds: float
    forward: dict[str, float]
    backward: dict[str, float]


def cnnc_step(a: Analysis, backend, params: dict, inputs: dict, *, train: bool):
    """A function running one step as `cnnc infer` (batchnorm folded) or `cnnc train` (forward,
    backward, an SGD update) would, on the backend's own copy of `params`, and its Executor."""
    program = lower(a, training=train)
    if not train:
        program, params = fold_batchnorm(program, params)
    executor = Executor(program, backend, backend.bind_params(params, program))
    optimizer, rng = SGD(1e-6), np.random.default_rng(0)

    def step():
        out = executor.forward(inputs, RunContext(train=train, rng=rng))
        if train:
            optimizer.step(executor.params, executor.backward({k: np.ones_like(v) for k, v in out.items()}))
    return step, executor


def fused_charges(executor, train: bool = False) -> dict[str, str]:
    """Tensor → the layer the Executor's profile charges the op making it to, where that is not
    the op's own layer: a step run by a fused runner (at inference; in training, a step that
    trains as one op) is timed whole, under its first layer."""
    runs_whole = executor.trained if train else {i for i, r in executor.fused.items() if r is not None}
    return {prim.output: step.layer for i, step in enumerate(executor.program.steps)
            if i in runs_whole for prim in step.chain()}


def _cnnc_sampler(a, backend, params, inputs, train):
    """cnnc's step, timed whole and per layer by the Executor's profile; and the Executor."""
    step, executor = cnnc_step(a, backend, params, inputs, train=train)

    def sample() -> Sample:
        executor.profile = {}
        started = time.perf_counter()
        step()
        seconds = time.perf_counter() - started
        return Sample(seconds, dict(executor.profile.get("forward", {})), dict(executor.profile.get("backward", {})))
    return sample, executor


def _torch_sampler(rival, a, params, inputs, train, layers: bool, charge: dict[str, str]):
    """The same network in PyTorch: the step timed whole (one autograd graph), then, for the
    per-layer columns, once more op by op (rival.TorchProgram.profile)."""
    net = rival.TorchProgram(lower(a, training=train), params)
    tensors = rival.to_tensors(inputs)

    def sample() -> Sample:
        started = time.perf_counter()
        net.step(tensors, train)
        seconds = time.perf_counter() - started
        forward, backward = net.profile(tensors, train, charge) if layers else ({}, {})
        return Sample(seconds, forward, backward)
    return sample


def bench(a: Analysis, backend, *, train: bool, batch: int, repeat: int, peak_gflops: float,
          rival=None, threads: int | None = None, rival_layers: bool = True) -> dict:
    """Time `repeat` steps of `a` (medians). With `rival` (cnnc.torch_net), the same network in
    PyTorch on the same weights, inputs and `threads`, a cnnc step and a PyTorch step in turn,
    so both see the same machine load."""
    params = initial_params(a)
    inputs = random_inputs(a, batch, np.random.default_rng(0))
    samplers = {}
    samplers["cnnc"], executor = _cnnc_sampler(a, backend, params, inputs, train)
    if rival is not None:
        charges = fused_charges(executor, train)
        samplers["torch"] = _torch_sampler(rival, a, params, inputs, train, rival_layers, charges)
    samples: dict[str, list[Sample]] = {name: [] for name in samplers}
    with rival.threads(threads) if rival is not None and threads else nullcontext():
        for sample in samplers.values():
            sample()                                  # compile or load every kernel first
        for _ in range(repeat):
            for name, sample in samplers.items():
                samples[name].append(sample())
    step_seconds = statistics.median(s.seconds for s in samples["cnnc"])
    result = {"spec": a.name, "backend": backend.NAME, "train": train, "batch": batch, "repeat": repeat,
              "peak_gflops": round(peak_gflops, 1), "step_ms": round(1000 * step_seconds, 3),
              "throughput": round(batch / step_seconds, 1), "unit": _unit(a),
              "layers": [_layer_row(t, peak_gflops) for t in _layer_times(a, samples["cnnc"], batch, train)]}
    if rival is not None:
        _add_rival(result, rival, samples["torch"], step_seconds, threads, rival_layers)
    return result


def _unit(a: Analysis) -> str:
    """What a sample is called in throughputs: an image for (C, H, W) inputs."""
    return "img/s" if all(len(inp.shape) == 3 and inp.kind != "graph" for inp in a.graph.inputs) else "samples/s"


def _layer_row(t: "LayerTime", peak_gflops: float) -> dict:
    return {"name": t.name, "kind": t.kind, "forward_ms": round(t.forward_ms, 4),
            "backward_ms": round(t.backward_ms, 4), "gflops": round(t.gflops(), 2),
            "peak_share": round(t.gflops() / peak_gflops, 4) if peak_gflops else None}


def _add_rival(result: dict, rival, samples: list[Sample], cnnc_seconds: float, threads, layers: bool) -> None:
    """PyTorch's figures beside cnnc's; every ratio is PyTorch's time over cnnc's (> 1: cnnc faster)."""
    seconds = statistics.median(s.seconds for s in samples)
    forward, backward = _median_layers(samples)
    result["torch"] = {"version": rival.version(), "threads": threads, "step_ms": round(1000 * seconds, 3),
                       "throughput": round(result["batch"] / seconds, 1),
                       "ratio": round(seconds / cnnc_seconds, 3)}
    for row in result["layers"] if layers else []:
        row["torch_forward_ms"] = round(1000 * forward.get(row["name"], 0.0), 4)
        row["torch_backward_ms"] = round(1000 * backward.get(row["name"], 0.0), 4)
        ours = row["forward_ms"] + row["backward_ms"]
        theirs = row["torch_forward_ms"] + row["torch_backward_ms"]
        row["ratio"] = round(theirs / ours, 3) if ours > 0 and theirs > 0 else None


def _median_layers(samples: list[Sample]) -> tuple[dict[str, float], dict[str, float]]:
    """Seconds per layer, forward and backward: the median over the samples (0 where a sample
    did not time the layer)."""
    def median(phase: str) -> dict[str, float]:
        layers = {layer for s in samples for layer in getattr(s, phase)}
        return {layer: statistics.median(getattr(s, phase).get(layer, 0.0) for s in samples) for layer in layers}
    return median("forward"), median("backward")


def _layer_times(a: Analysis, samples: list[Sample], batch: int, train: bool) -> list[LayerTime]:
    forward, backward = _median_layers(samples)
    out = []
    for name in a.layers:
        fwd_flops = 2 * a.macs[name] * batch
        has_weights = any(p.trainable for p in a.params[name])
        flops = fwd_flops + (2 * fwd_flops if train and has_weights else 0)
        out.append(LayerTime(name, a.graph.decl(name).kind, 1000 * forward.get(name, 0.0),
                             1000 * backward.get(name, 0.0), flops))
    return out


def _ms(value: float) -> str:
    return f"{value:.3f}"


def _torch_cell(l: dict, train: bool) -> str:
    if "torch_forward_ms" not in l:
        return "-"
    return _ms(l["torch_forward_ms"]) + (f"/{_ms(l['torch_backward_ms'])}" if train else "")


# (heading, cell of a layer row given the result's `train`), in column order; the first two are text
COLUMNS = [
    ("layer", lambda l, train: l["name"]),
    ("kind", lambda l, train: l["kind"]),
    ("fwd ms", lambda l, train: _ms(l["forward_ms"])),
    ("bwd ms", lambda l, train: _ms(l["backward_ms"]) if train else "-"),
    ("GFLOP/s", lambda l, train: f"{l['gflops']:.1f}" if l["gflops"] else "-"),
    ("% peak", lambda l, train: f"{100 * l['peak_share']:.1f}%" if l["gflops"] else "-"),
]
TORCH_COLUMNS = [
    ("torch fwd/bwd ms", _torch_cell),
    ("ratio", lambda l, train: f"{l['ratio']:.2f}x" if l.get("ratio") else "-"),
]


def table(result: dict) -> str:
    columns = COLUMNS + (TORCH_COLUMNS if any("torch_forward_ms" in l for l in result["layers"]) else [])
    rows = [tuple(cell(l, result["train"]) for _, cell in columns) for l in result["layers"]]
    head = tuple(h for h, _ in columns)
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]

    def line(cells):
        return "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    mode = "train step (forward + backward + SGD)" if result["train"] else "inference"
    lines = [line(head), *map(line, rows),
             f"{result['spec']} {mode}, batch {result['batch']}, backend {result['backend']}: "
             f"{result['step_ms']:.1f} ms per step (median of {result['repeat']}), "
             f"{result['throughput']:,.0f} samples/s",
             f"measured FP32 peak: {result['peak_gflops']:.0f} GFLOP/s"]
    if "torch" in result:
        torch = result["torch"]
        lines.append(f"{result['spec']} {'train' if result['train'] else 'inference'}: "
                     f"{result['throughput']:,.0f} {result['unit']}   torch {torch['version']}: "
                     f"{torch['throughput']:,.0f} {result['unit']}   {torch['ratio']:.2f}x")
    return "\n".join(lines)


# ---------------------------------------------------------------- what a training forward allocates
class Recording:
    """A backend that notes the arrays its `to_internal` makes (the network's inputs inside the
    executor, which are no activations) and the output of every op it runs, fused training
    steps included: what `held_activation_bytes` counts against `cnnc compile --plan`."""

    def __init__(self, backend) -> None:
        self.backend, self.made, self.outputs = backend, [], []

    def __getattr__(self, name):
        return getattr(self.backend, name)

    def to_internal(self, name, array):
        self.made.append(self.backend.to_internal(name, array))
        return self.made[-1]

    def kernels(self):
        return {op: (self._noted(fwd), bwd) for op, (fwd, bwd) in self.backend.kernels().items()}

    def fuse_training(self, step):
        """A step that trains as one op (an activation in its head's store), or None."""
        pair = getattr(self.backend, "fuse_training", lambda step: None)(step)
        if pair is None:
            return None
        forward, backward = pair
        return (lambda xs, ps, ctx: self._note(forward(xs, ps, ctx))), backward

    def _noted(self, forward):
        return lambda xs, ps, attrs, ctx: self._note(forward(xs, ps, attrs, ctx))

    def _note(self, result):
        self.outputs.append(result[0])
        return result


def _root(a: np.ndarray) -> np.ndarray:
    while isinstance(a.base, np.ndarray):
        a = a.base
    return a


def held_activation_bytes(outputs, not_activations) -> int:
    """The bytes of the distinct buffers the ops of a training forward allocated for their
    outputs (all alive until backward), but parameters and the network's inputs."""
    excluded = {id(_root(a)) for a in not_activations}
    buffers = {id(r): r for r in (_root(a) for a in outputs)}
    return sum(r.nbytes for key, r in buffers.items() if key not in excluded)
