"""What the benchmarks share: the repository root, timing a whole command as a user runs it,
and timing work in-process against a rival, taking turns."""
from __future__ import annotations

import statistics
import subprocess
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent


def timed(cmd: list[str]) -> float:
    """Seconds from start to exit of `cmd`, run in the repository root, output discarded."""
    started = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def alternating_medians(samplers: dict[str, Callable[[], float]], repeat: int) -> dict[str, float]:
    """Median seconds of each sampler (a call that runs the work once and returns the seconds it
    timed), after one untimed warm-up call each (compiling, caches); the samplers take turns
    `repeat` times, so drift in the machine's load hits them all alike."""
    for sample in samplers.values():
        sample()
    seconds: dict[str, list[float]] = {name: [] for name in samplers}
    for _ in range(repeat):
        for name, sample in samplers.items():
            seconds[name].append(sample())
    return {name: statistics.median(s) for name, s in seconds.items()}


def seconds_of(work: Callable[[], object]) -> Callable[[], float]:
    """A sampler timing the whole of `work`."""
    def sample() -> float:
        started = time.perf_counter()
        work()
        return time.perf_counter() - started
    return sample
