"""Checkpoints: one .npz without pickle — PyTorch-named weights in PyTorch's layouts (conv
OIHW, dense (out, in)), optimizer state, and what a resumed run needs; written atomically."""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass

import numpy as np

OPTIM, META = "optimizer/", "meta/"


class CheckpointError(Exception):
    """A weights or checkpoint file that cannot be used; the message says which and why."""


@dataclass
class Checkpoint:
    params: dict[str, np.ndarray]
    optimizer: dict[str, np.ndarray]
    meta: dict                         # spec_hash, epoch, optimizer_steps, rng, best, history …


def spec_hash(param_shapes: dict[str, tuple]) -> str:
    """What makes weights fit a network: every parameter's name and shape."""
    text = json.dumps(sorted((name, list(shape)) for name, shape in param_shapes.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def save(path: str, ckpt: Checkpoint) -> None:
    arrays = dict(ckpt.params)
    arrays.update({OPTIM + k: v for k, v in ckpt.optimizer.items()})
    arrays[META + "json"] = np.array(json.dumps(ckpt.meta))
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".ckpt-", suffix=".npz")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)          # a crash leaves the previous checkpoint whole
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load(path: str) -> Checkpoint:
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such file") from None
    except (ValueError, OSError, EOFError) as e:
        raise CheckpointError(f"{path}: not a readable .npz file ({e})") from None
    meta = json.loads(str(arrays.pop(META + "json"))) if META + "json" in arrays else {}
    optimizer = {k[len(OPTIM):]: arrays.pop(k) for k in list(arrays) if k.startswith(OPTIM)}
    return Checkpoint(arrays, optimizer, meta)


def check_weights(weights: dict[str, np.ndarray], expected: dict[str, tuple], path: str) -> dict:
    """The weights a network needs, float32, or a CheckpointError naming what is wrong."""
    missing = [n for n in expected if n not in weights]
    if missing:
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        raise CheckpointError(f"{path}: missing {', '.join(missing[:3])}{more} "
                              f"({len(expected)} tensors expected, named as `cnnc compile --format json` lists)")
    for name, shape in expected.items():
        if tuple(weights[name].shape) != tuple(shape):
            raise CheckpointError(f"{path}: '{name}' has shape {tuple(weights[name].shape)}, expected {tuple(shape)}")
        if not np.issubdtype(weights[name].dtype, np.floating):
            raise CheckpointError(f"{path}: '{name}' holds {weights[name].dtype}, expected floating-point values")
    return {n: np.array(weights[n], dtype=np.float32) for n in expected}
