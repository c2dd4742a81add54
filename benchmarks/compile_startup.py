"""How long `cnnc compile` takes beyond starting Python at all.

Runs `cnnc compile specs/resnet152.yaml` (as `python -m cnnc`, the installed console script's
code path) and `python -c pass` alternately, N times each, and reports the medians and their
difference. Goal (issue 2): the difference stays under 0.5 s on the 2-core dev machine.

    .venv/bin/python benchmarks/compile_startup.py [--runs 15] [--spec specs/resnet152.yaml]
"""
from __future__ import annotations

import argparse
import statistics
import sys

from timing import timed

GOAL_S = 0.5


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--spec", default="specs/resnet152.yaml")
    args = parser.parse_args()
    compile_cmd = [sys.executable, "-m", "cnnc", "compile", args.spec]
    bare_cmd = [sys.executable, "-c", "pass"]
    timed(compile_cmd)                               # warm the .pyc files and the page cache
    compile_s, bare_s = [], []
    for _ in range(args.runs):                       # alternate, so drift hits both alike
        compile_s.append(timed(compile_cmd))
        bare_s.append(timed(bare_cmd))
    c, b = statistics.median(compile_s), statistics.median(bare_s)
    print(f"cnnc compile {args.spec}: median {c * 1000:.0f} ms over {args.runs} runs")
    print(f"python -c pass:          median {b * 1000:.0f} ms")
    print(f"difference: {(c - b) * 1000:.0f} ms (goal < {GOAL_S * 1000:.0f} ms): "
          f"{'met' if c - b < GOAL_S else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
