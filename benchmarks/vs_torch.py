"""cnnc against PyTorch 2.13 CPU, side by side in one run: every speed and memory target of the
runtime issue as one table, `target | cnnc | torch | ratio | goal | met`.

- convolutions: each distinct convolution of resnet20 (batch 64), the 64→64 3×3 at 56×56
  (batch 8) and MobileNetV2's depthwise 3×3 layers with 56×56, 28×28 and 14×14 outputs
  (batch 8), forward and backward as separate rows: cnnc's conv2d kernels called through the
  op contract (`cnnc.runtime.cpu.kernels()`, NHWC inputs, HWIO weights) against F.conv2d and
  its autograd backward (grad input where the network wants it, grad weight);
- the 3×3 convolutions' share of the FP32 peak measured in the same run (runtime/cpu/peak.py);
- whole steps through `cnnc bench --compare torch`'s code path (cnnc/bench.py): training at
  batch 64 (lenet5, keras_mnist, resnet20) and 32 (benchmarks/specs/lstm_t50, gru_t50),
  inference at batch 64 (lenet5, resnet20; cnnc folds batchnorm as `cnnc infer` does);
- memory: the peak resident set of a resnet20 training step at batch 64, each framework in a
  process of its own, and the activation bytes cnnc's executor holds for backward against what
  `cnnc compile --plan` predicts.

Every ratio reads "> 1: cnnc better". cnnc and PyTorch take turns, medians are reported.

    .venv/bin/python benchmarks/vs_torch.py [--quick] [--only PATTERN] [--json FILE] [--threads N]
"""
from __future__ import annotations

import argparse
import json
import platform
import re
import resource
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from timing import ROOT, alternating_medians, seconds_of

RESNET20 = ROOT / "specs" / "resnet20.yaml"
MOBILENET_V2 = ROOT / "specs" / "mobilenet_v2.yaml"
CONV_64_AT_56 = """
name: conv64_at_56
input: [64, 56, 56]
layers:
  - {type: relu}       # so the convolution's input gradient is wanted, as inside a network
  - {name: conv64, type: conv2d, filters: 64, kernel: 3, padding: 1, bias: false}
"""
DEPTHWISE_OUTPUTS = {56, 28, 14}
RSS_STEPS = 3
MIB = 2 ** 20


@dataclass
class Settings:
    conv_repeat: int
    step_repeat: int
    threads: int


@dataclass
class Row:
    target: str
    cnnc: float
    torch: float
    unit: str                 # how both values read: a key of FORMATS
    ratio: float | None       # > 1: cnnc better
    goal: str
    met: bool
    note: str = ""

    def __post_init__(self):              # plain Python numbers, whatever numpy computed them
        self.cnnc, self.torch, self.met = float(self.cnnc), float(self.torch), bool(self.met)
        self.ratio = None if self.ratio is None else float(self.ratio)


FORMATS: dict[str, Callable[[float], str]] = {
    "ms": lambda v: f"{v:.3f} ms",
    "img/s": lambda v: f"{v:,.0f} img/s",
    "samples/s": lambda v: f"{v:,.0f} samples/s",
    "% peak": lambda v: f"{100 * v:.1f} %",
    "MiB": lambda v: f"{v:.1f} MiB",
}


@dataclass
class Target:
    name: str
    measure: Callable[[Settings], Row]


# ---------------------------------------------------------------- convolutions
@dataclass
class ConvCase:
    """One convolution as a network runs it: shapes and attrs from a lowered training program."""
    label: str
    program: object           # the Program the step is from (its weight layout binds there)
    step: object              # the conv2d Step
    batch: int
    layers: int               # how many layers of the network share exactly this convolution
    x_shape: tuple = field(init=False)
    w_shape: tuple = field(init=False)

    def __post_init__(self):
        self.x_shape = (self.batch, *self.program.tensors[self.step.inputs[0]])
        self.w_shape = tuple(self.program.params[self.step.params[0]].shape)

    @property
    def wants_dx(self) -> bool:
        return self.step.attrs["input_grads"][0]

    def flops(self, direction: str) -> float:
        """2 per multiply-add; backward does the forward's work once for grad weight and once
        more for grad input when it is wanted."""
        out = np.prod(self.program.tensors[self.step.output]) * self.batch
        forward = 2.0 * out * np.prod(self.w_shape[1:])
        return forward if direction == "fwd" else forward * (2 if self.wants_dx else 1)


def conv_cases(source: Path | str, batch: int, keep: Callable[[ConvCase], bool], prefix: str) -> list[ConvCase]:
    """The distinct convolutions of a spec (a path, or spec text) that `keep` selects, each once with the
    count of layers alike."""
    from cnnc.compiler import analyse_text, check
    from cnnc.passes import lower

    a = analyse_text(source) if isinstance(source, str) else check(str(source))
    program = lower(a, training=True)
    alike: dict[tuple, list[ConvCase]] = {}
    for step in program.primitive_steps():
        if step.op != "conv2d":
            continue
        case = ConvCase("", program, step, batch, 1)
        if keep(case):
            key = (case.x_shape, case.w_shape, tuple(sorted(step.attrs.items())))
            alike.setdefault(key, []).append(case)
    out = []
    for cases in alike.values():
        first = cases[0]
        first.layers = len(cases)
        first.label = " ".join(filter(None, [prefix, first.step.layer])) + describe(first)
        out.append(first)
    return out


def describe(case: ConvCase) -> str:
    n, c, h, w = case.x_shape
    o, _, kh, kw = case.w_shape
    attrs = case.step.attrs
    kind = "depthwise " if attrs["groups"] == c and attrs["groups"] > 1 else ""
    shape = f"{c}ch" if kind else f"{c}→{o}"
    out = case.program.tensors[case.step.output]
    extra = [f"×{case.layers} layers"] if case.layers > 1 else []
    extra += [] if case.wants_dx else ["no grad input"]
    return (f" ({kind}{shape} {kh}×{kw} s{attrs['stride'][0]} {h}×{w}→{out[1]}×{out[2]} b{n}"
            + "".join(f", {e}" for e in extra) + ")")


_CONV_SECONDS: dict[tuple[str, str], dict[str, float]] = {}


def conv_seconds(case: ConvCase, direction: str, settings: Settings) -> dict[str, float]:
    """Median seconds of one convolution's forward or backward, cnnc and PyTorch in turn
    (measured once per run: the peak rows reuse the rows' figures)."""
    key = (case.label, direction)
    if key not in _CONV_SECONDS:
        _CONV_SECONDS[key] = alternating_medians(CONV_SAMPLERS[direction](case), settings.conv_repeat)
    return _CONV_SECONDS[key]


def _conv_arrays(case: ConvCase):
    """x, weight and an output gradient (boundary layouts), and cnnc's and PyTorch's views of them."""
    import torch

    from cnnc.runtime import cpu
    rng = np.random.default_rng(0)
    x = rng.standard_normal(case.x_shape).astype(np.float32)
    w = (rng.standard_normal(case.w_shape) * np.sqrt(2 / np.prod(case.w_shape[1:]))).astype(np.float32)
    name = case.step.params[0]
    ours = cpu.to_internal("x", x), cpu.bind_params({name: w}, case.program)[name]
    return ours, (torch.from_numpy(x), torch.from_numpy(w))


def _forward_samplers(case: ConvCase) -> dict[str, Callable[[], float]]:
    import torch

    from cnnc import torch_net
    from cnnc.runtime import cpu
    from cnnc.runtime.ops import RunContext
    forward, _ = cpu.kernels()["conv2d"]
    (x, w), (xt, wt) = _conv_arrays(case)
    attrs, ctx = case.step.attrs, RunContext(train=True)

    def theirs():
        with torch.no_grad():
            torch_net.OPS["conv2d"]([xt], [wt, None], attrs, True)
    return {"cnnc": seconds_of(lambda: forward([x], [w, None], attrs, ctx)), "torch": seconds_of(theirs)}


def _backward_samplers(case: ConvCase) -> dict[str, Callable[[], float]]:
    import torch

    from cnnc import torch_net
    from cnnc.runtime import cpu
    from cnnc.runtime.ops import RunContext
    forward, backward = cpu.kernels()["conv2d"]
    (x, w), (xt, wt) = _conv_arrays(case)
    attrs = case.step.attrs
    y, saved = forward([x], [w, None], attrs, RunContext(train=True))
    dy = np.random.default_rng(1).standard_normal(y.shape).astype(np.float32)      # internal layout
    dyt = torch.from_numpy(cpu.from_internal("dy", dy))
    xt, wt = xt.clone().requires_grad_(case.wants_dx), wt.clone().requires_grad_()
    wanted = [xt, wt] if case.wants_dx else [wt]

    def theirs() -> float:
        yt = torch_net.OPS["conv2d"]([xt], [wt, None], attrs, True)      # the graph: not timed
        started = time.perf_counter()
        torch.autograd.grad(yt, wanted, dyt)
        return time.perf_counter() - started
    return {"cnnc": seconds_of(lambda: backward(saved, dy, attrs)), "torch": theirs}


CONV_SAMPLERS = {"fwd": _forward_samplers, "bwd": _backward_samplers}


def conv_target(case: ConvCase, direction: str) -> Target:
    def measure(settings: Settings) -> Row:
        s = conv_seconds(case, direction, settings)
        ratio = s["torch"] / s["cnnc"]
        return Row(f"{case.label} {direction}", 1000 * s["cnnc"], 1000 * s["torch"], "ms", ratio, "≥ 1.0x",
                   ratio >= 1.0)
    return Target(f"{case.label} {direction}", measure)


def is_3x3(case: ConvCase) -> bool:
    return case.w_shape[2:] == (3, 3) and case.step.attrs["groups"] == 1


def is_target_depthwise(case: ConvCase) -> bool:
    groups, out = case.step.attrs["groups"], case.program.tensors[case.step.output]
    return (groups > 1 and groups == case.x_shape[1] and case.w_shape[2:] == (3, 3)
            and out[1] == out[2] and out[1] in DEPTHWISE_OUTPUTS)


_PEAK: list[float] = []


def peak_gflops() -> float:
    """The machine's FP32 peak on the threads in use, measured once per run."""
    if not _PEAK:
        from cnnc.runtime.cpu.peak import fp32_peak_gflops
        _PEAK.append(fp32_peak_gflops())
    return _PEAK[0]


def peak_target(cases: list[ConvCase], direction: str, goal: float = 0.60) -> Target:
    """The 3×3 convolutions' FLOPs over their time (each case weighted by its layer count),
    as a share of the measured FP32 peak. FLOPs are a direct convolution's (2 per multiply-add
    of the definition) for both frameworks: the layers cnnc runs by Winograd F(2×2, 3×3) do
    2.25× fewer multiply-adds, so their share is an effective one."""
    def measure(settings: Settings) -> Row:
        times = {name: 0.0 for name in ("cnnc", "torch")}
        flops = 0.0
        for case in cases:
            s = conv_seconds(case, direction, settings)
            flops += case.layers * case.flops(direction)
            for name in times:
                times[name] += case.layers * s[name]
        peak = peak_gflops() * 1e9
        ours, theirs = flops / times["cnnc"] / peak, flops / times["torch"] / peak
        return Row(f"3×3 conv {direction}, share of FP32 peak", ours, theirs, "% peak", ours / theirs,
                   f"≥ {100 * goal:.0f} % peak", ours >= goal,
                   f"peak {peak / 1e9:.0f} GFLOP/s; cnnc {ours * peak / 1e9:.0f}, torch {theirs * peak / 1e9:.0f} "
                   "(direct-convolution FLOPs; cnnc's Winograd layers do 2.25x fewer multiply-adds)")
    return Target(f"3×3 conv {direction}, share of FP32 peak", measure)


# ---------------------------------------------------------------- whole steps
THROUGHPUT = [  # (spec, train, batch, goal ratio)
    (ROOT / "specs" / "lenet5.yaml", True, 64, 1.5),
    (ROOT / "specs" / "keras_mnist.yaml", True, 64, 1.0),
    (RESNET20, True, 64, 1.0),
    (ROOT / "specs" / "lenet5.yaml", False, 64, 1.5),
    (RESNET20, False, 64, 1.2),
    (ROOT / "benchmarks" / "specs" / "lstm_t50.yaml", True, 32, 1.0),
    (ROOT / "benchmarks" / "specs" / "gru_t50.yaml", True, 32, 1.0),
]


def throughput_target(spec, train: bool, batch: int, goal: float) -> Target:
    name = f"{spec.stem} {'train' if train else 'inference'} b{batch}"

    def measure(settings: Settings) -> Row:
        from cnnc import torch_net
        from cnnc.bench import bench
        from cnnc.compiler import check
        from cnnc.runtime import cpu
        result = bench(check(str(spec)), cpu, train=train, batch=batch, repeat=settings.step_repeat,
                       peak_gflops=0.0, rival=torch_net, threads=settings.threads, rival_layers=False)
        ratio = result["torch"]["ratio"]
        return Row(name, result["throughput"], result["torch"]["throughput"], result["unit"], ratio,
                   f"≥ {goal:.1f}x", ratio >= goal)
    return Target(name, measure)


# ---------------------------------------------------------------- memory
def rss_target() -> Target:
    name = "resnet20 train b64 peak RSS"

    def measure(settings: Settings) -> Row:
        ours, theirs = (child_rss(which, settings.threads) / MIB for which in ("cnnc", "torch"))
        return Row(name, ours, theirs, "MiB", theirs / ours, "≤ torch", ours <= theirs,
                   f"peak resident set (VmHWM) after {RSS_STEPS} steps, each in its own process")
    return Target(name, measure)


def child_rss(which: str, threads: int) -> int:
    out = subprocess.run([sys.executable, __file__, "--rss-child", which, "--threads", str(threads)],
                         cwd=ROOT, check=True, capture_output=True, text=True).stdout
    return int(out.split()[-1])


def rss_child(which: str, threads: int) -> int:
    """Peak resident bytes of this process after RSS_STEPS resnet20 training steps at batch 64.
    The cnnc child never imports torch, the torch child never imports numba."""
    from cnnc.bench import random_inputs
    from cnnc.compiler import check
    from cnnc.train.init import initial_params
    a = check(str(RESNET20))
    params, inputs = initial_params(a), random_inputs(a, 64, np.random.default_rng(0))
    if which == "cnnc":
        from cnnc.bench import cnnc_step
        from cnnc.runtime import cpu
        with cpu.compute_scope(threads):
            step, _ = cnnc_step(a, cpu, params, inputs, train=True)
            for _ in range(RSS_STEPS):
                step()
    else:
        from cnnc import torch_net
        from cnnc.passes import lower
        net, tensors = torch_net.TorchProgram(lower(a, training=True), params), torch_net.to_tensors(inputs)
        with torch_net.threads(threads):
            for _ in range(RSS_STEPS):
                net.step(tensors, train=True)
    other = {"cnnc": "torch", "torch": "numba"}[which]
    if other in sys.modules:                 # its libraries would count against this framework
        raise RuntimeError(f"the {which} process imported {other}: its peak RSS would not be {which}'s own")
    return peak_rss()


def peak_rss() -> int:
    """This process's peak resident bytes. Linux's ru_maxrss carries over through fork and exec
    (a child of this benchmark reported its parent's peak, whatever it did itself), so read the
    high-water mark of this process's own address space, VmHWM, where /proc has it."""
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin" else 1024)


def activation_target(batch: int = 64) -> Target:
    name = f"resnet20 train b{batch} activation bytes == compile --plan"

    def measure(settings: Settings) -> Row:
        from cnnc.bench import Recording, held_activation_bytes, random_inputs
        from cnnc.compiler import check
        from cnnc.passes import lower
        from cnnc.passes.report import batch_plan
        from cnnc.runtime import cpu
        from cnnc.runtime.executor import Executor
        from cnnc.runtime.ops import RunContext
        from cnnc.train.init import initial_params
        a = check(str(RESNET20))
        program = lower(a, training=True)
        params = cpu.bind_params(initial_params(a), program)
        backend = Recording(cpu)
        executor = Executor(program, backend, params)
        with cpu.compute_scope(settings.threads):
            executor.forward(random_inputs(a, batch, np.random.default_rng(0)), RunContext(train=True))
        held = held_activation_bytes(backend.outputs, [*params.values(), *backend.made])
        planned = batch_plan(program, batch).after_bytes
        return Row(name, held / MIB, planned / MIB, "MiB", planned / held, "equal", held == planned,
                   f"torch column: the plan's figure; executor {held:,} B, plan {planned:,} B")
    return Target(name, measure)


# ---------------------------------------------------------------- the run
def targets() -> list[Target]:
    resnet = conv_cases(RESNET20, 64, lambda c: True, "resnet20")
    big = conv_cases(CONV_64_AT_56, 8, lambda c: True, "")
    depthwise = conv_cases(MOBILENET_V2, 8, is_target_depthwise, "mobilenet_v2")
    convs = [conv_target(case, d) for case in resnet + big + depthwise for d in ("fwd", "bwd")]
    three = [c for c in resnet + big if is_3x3(c)]
    return (convs + [peak_target(three, d) for d in ("fwd", "bwd")]
            + [throughput_target(*t) for t in THROUGHPUT] + [rss_target(), activation_target()])


def table(rows: list[Row]) -> str:
    head = ("target", "cnnc", "torch", "ratio", "goal", "met")
    cells = [(r.target, FORMATS[r.unit](r.cnnc), FORMATS[r.unit](r.torch),
              f"{r.ratio:.2f}x" if r.ratio is not None else "-", r.goal, "yes" if r.met else "NO") for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(head)]

    def line(row):
        return " | ".join(c.ljust(w) if i in (0, 4, 5) else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
    notes = [f"  {r.target}: {r.note}" for r in rows if r.note]
    return "\n".join([line(head), "-+-".join("-" * w for w in widths), *map(line, cells),
                      *(["notes:", *notes] if notes else [])])


def machine(settings: Settings) -> dict:
    import torch

    from cnnc import torch_net
    model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
                 platform.processor())
    return {"date": time.strftime("%Y-%m-%d"), "cpu": model, "python": platform.python_version(),
            "torch": torch.__version__, "torch_version": torch_net.version(), "threads": settings.threads,
            "peak_gflops": round(peak_gflops(), 1), "conv_repeat": settings.conv_repeat,
            "step_repeat": settings.step_repeat}


def warm_up(seconds: float = 3.0) -> None:
    """Every core busy for a few seconds before the first row: the first rows of a run measured
    both frameworks up to 1.6x slower than later in the same run (the cores' clocks, or the
    VM's scheduling, ramping up), which each target's own warm-up call did not cover. The peak
    is measured right after, warm."""
    from cnnc.runtime.cpu.peak import fp32_peak_gflops
    fp32_peak_gflops(seconds)
    peak_gflops()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats (5 per conv, 3 per step)")
    parser.add_argument("--only", metavar="PATTERN", help="run the targets whose name matches this regex")
    parser.add_argument("--json", metavar="FILE", help="also write the rows and the machine as JSON")
    parser.add_argument("--threads", type=int, help="threads for both (default: Numba's, every core)")
    parser.add_argument("--list", action="store_true", help="print the target names and exit")
    parser.add_argument("--rss-child", choices=["cnnc", "torch"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_child:
        print(rss_child(args.rss_child, args.threads))
        return 0
    try:
        import torch  # noqa: F401
    except ImportError:
        print("benchmarks/vs_torch.py needs PyTorch: pip install 'cnnc[bench]'", file=sys.stderr)
        return 1
    import numba

    from cnnc import torch_net
    from cnnc.runtime import cpu
    threads = min(args.threads, numba.config.NUMBA_NUM_THREADS) if args.threads else numba.get_num_threads()
    settings = Settings(5 if args.quick else 20, 3 if args.quick else 10, threads)
    chosen = [t for t in targets() if not args.only or re.search(args.only, t.name, re.IGNORECASE)]
    if args.list or not chosen:
        print("\n".join(t.name for t in chosen) or f"no target matches '{args.only}' (--list shows them)")
        return 0 if chosen else 1
    rows = []
    with cpu.compute_scope(threads), torch_net.threads(threads):
        warm_up()
        for i, target in enumerate(chosen, 1):
            print(f"[{i}/{len(chosen)}] {target.name}", file=sys.stderr, flush=True)
            rows.append(target.measure(settings))
        about = machine(settings)
    print(f"cnnc vs PyTorch {about['torch_version']}, {threads} thread{'s' if threads > 1 else ''}, float32, "
          f"{'quick' if args.quick else 'full'} run ({settings.conv_repeat} repeats per conv, "
          f"{settings.step_repeat} per step), FP32 peak {about['peak_gflops']:.0f} GFLOP/s, {about['cpu']}")
    print(table(rows))
    print(f"met {sum(r.met for r in rows)} of {len(rows)} targets")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": about, "rows": [asdict(r) for r in rows]}, f, indent=2, ensure_ascii=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
