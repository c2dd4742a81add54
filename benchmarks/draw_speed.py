"""How long `cnnc draw` takes, start to finish, as a user runs it.

Times `cnnc draw SPEC -o OUT.svg` (the whole process: Python start, analysis, dot layout,
writing the file) N times and reports the median, for the full graph and for --collapse.
Goal (issue 3): resnet152 to SVG in under 3 s on the 2-core dev machine.

    .venv/bin/python benchmarks/draw_speed.py [--runs 7] [--spec specs/resnet152.yaml]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from timing import timed

GOAL_S = 3.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--spec", default="specs/resnet152.yaml")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "out.svg")
        for label, extra in (("full graph", []), ("--collapse", ["--collapse"]), ("--detail full", ["--detail", "full"])):
            cmd = [sys.executable, "-m", "cnnc", "draw", args.spec, "-o", out, *extra]
            timed(cmd)                                    # warm caches
            median = statistics.median(timed(cmd) for _ in range(args.runs))
            verdict = "met" if median < GOAL_S else "MISSED"
            print(f"cnnc draw {args.spec} {label:<14} median {median * 1000:6.0f} ms over {args.runs} runs "
                  f"(goal < {GOAL_S:.0f} s: {verdict})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
