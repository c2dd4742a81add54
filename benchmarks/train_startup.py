"""How soon `cnnc train` reaches its first training step, as a user at a terminal sees it.

Runs `cnnc train SPEC` under a pseudo-terminal (so the progress bar draws as it does for a
user) and times process start to the first bar that reports a loss (the first step done),
then stops the process. Warm: the kernel cache as it is, after one untimed run that fills
it; N runs, median. Cold: `CNNC_KERNEL_DIR` and `NUMBA_CACHE_DIR` at new empty directories,
one run, which must show "compiling kernels k/n" while it compiles. Goals (issue 9): warm
within 1 s, cold within 90 s.

    .venv/bin/python benchmarks/train_startup.py [--runs 5] [--spec specs/resnet20.yaml] [--no-cold]
"""
from __future__ import annotations

import argparse
import os
import pty
import re
import select
import signal
import statistics
import sys
import tempfile
import time

from timing import ROOT

WARM_GOAL_S, COLD_GOAL_S = 1.0, 90.0
FIRST_STEP = re.compile(rb"loss \d")
COMPILING = re.compile(rb"compiling kernels \d+/\d+")


def first_step(spec: str, env: dict[str, str], limit_s: float) -> tuple[float, bytes]:
    """Seconds from start to the first progress line with a loss, and what was printed."""
    started = time.perf_counter()
    pid, fd = pty.fork()
    if pid == 0:                                          # the child: cnnc as a user runs it
        os.chdir(ROOT)
        os.execve(sys.executable, [sys.executable, "-m", "cnnc", "train", spec], env)
    seen = b""
    try:
        while time.perf_counter() - started < limit_s:
            ready, _, _ = select.select([fd], [], [], 0.01)
            if not ready:
                continue
            try:
                chunk = os.read(fd, 65536)
            except OSError:                               # the child ended
                break
            seen += chunk
            if FIRST_STEP.search(seen):
                return time.perf_counter() - started, seen
        raise SystemExit(f"no training step within {limit_s:.0f} s; the command printed:\n"
                         + seen.decode(errors="replace")[-2000:])
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(fd)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--spec", default="specs/resnet20.yaml")
    parser.add_argument("--no-cold", action="store_true", help="skip the empty-cache run")
    args = parser.parse_args()
    env = dict(os.environ)
    first_step(args.spec, env, 600)                       # fills the caches, warms the page cache
    warm = [first_step(args.spec, env, 60)[0] for _ in range(args.runs)]
    w = statistics.median(warm)
    print(f"cnnc train {args.spec}, filled kernel cache: first step after {w:.2f} s "
          f"(median of {args.runs}: {', '.join(f'{s:.2f}' for s in warm)}; goal ≤ {WARM_GOAL_S:.0f} s): "
          f"{'met' if w <= WARM_GOAL_S else 'MISSED'}")
    if args.no_cold:
        return 0
    with tempfile.TemporaryDirectory() as empty:
        cold_env = {**env, "CNNC_KERNEL_DIR": f"{empty}/kernels", "NUMBA_CACHE_DIR": f"{empty}/numba"}
        c, printed = first_step(args.spec, cold_env, 600)
    counts = COMPILING.findall(printed)
    shown = f"showing {counts[0].decode()} … {counts[-1].decode()}" if counts else "NOT showing 'compiling kernels k/n'"
    print(f"cnnc train {args.spec}, empty kernel and Numba caches: first step after {c:.1f} s, {shown} "
          f"(goal ≤ {COLD_GOAL_S:.0f} s): {'met' if c <= COLD_GOAL_S and counts else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
