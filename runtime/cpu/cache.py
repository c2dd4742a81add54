"""Where Numba keeps compiled kernels: beside the code when that is writable, else a per-user
cache directory (an installed, read-only package still caches its kernels)."""
from __future__ import annotations

import os
from pathlib import Path


def _writable(path: Path) -> bool:
    return os.access(path, os.W_OK)


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "cnnc" / "numba"


if "NUMBA_CACHE_DIR" not in os.environ and not _writable(Path(__file__).parent):
    cache_dir().mkdir(parents=True, exist_ok=True)
    os.environ["NUMBA_CACHE_DIR"] = str(cache_dir())
