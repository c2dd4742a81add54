"""What the benchmarks share: the repository root, and timing a whole command as a user runs it."""
from __future__ import annotations

import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def timed(cmd: list[str]) -> float:
    """Seconds from start to exit of `cmd`, run in the repository root, output discarded."""
    started = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started
