"""Inference with trained weights: evaluation on a dataset, or raw arrays in and out.

Weights are read by name and checked against the spec (names and shapes as
`cnnc compile --format json` reports them, layouts as PyTorch: conv OIHW, dense (out, in)),
so weights exported from another framework under those names run as they are.
"""
from __future__ import annotations

import numpy as np

from cnnc.runtime.executor import Executor
from cnnc.runtime.ops import RunContext

from .compiler import Analysis
from .passes import lower
from .passes.fold import fold_batchnorm
from .train import checkpoint
from .train.feeds import Feeds, score
from .train.losses import softmax_cross_entropy


class InputError(Exception):
    """An input array that does not fit the network; says which, expected and got."""


class Inference:
    def __init__(self, a: Analysis, weights_path: str, backend) -> None:
        self.a = a
        program = lower(a, training=False)
        expected = {n: p.shape for n, p in program.params.items()}
        params = checkpoint.check_weights(checkpoint.load(weights_path).params, expected, weights_path)
        self.program, params = fold_batchnorm(program, params)
        self.executor = Executor(self.program, backend, backend.bind_params(params, self.program))

    def forward(self, inputs: dict[str, np.ndarray], *, logits: bool = False) -> dict[str, np.ndarray]:
        return self.executor.forward(inputs, RunContext(train=False), stop_before="softmax" if logits else None)

    def evaluate(self, dataset, split: str, batch: int) -> tuple[float, float]:
        return score(lambda inputs: self.forward(inputs, logits=True), Feeds(self.a, dataset), split, batch,
                     softmax_cross_entropy, self.program.outputs[-1])

    def arrays(self, path: str, batch: int) -> dict[str, np.ndarray]:
        inputs = read_inputs(path, self.a)
        n = len(next(iter(inputs.values())))
        parts = [self.forward({k: v[i:i + batch] for k, v in inputs.items()}) for i in range(0, n, batch)]
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def read_inputs(path: str, a: Analysis) -> dict[str, np.ndarray]:
    """The network's inputs from a .npy (one input) or .npz (keyed by input name), checked."""
    try:
        loaded = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise InputError(f"{path}: not a readable .npy/.npz array file ({e})") from None
    specs = {inp.name: inp for inp in a.graph.inputs}
    if isinstance(loaded, np.ndarray):
        if len(specs) != 1:
            raise InputError(f"{path}: the spec has inputs {', '.join(specs)}; give an .npz with one array each")
        arrays = {next(iter(specs)): loaded}
    else:
        arrays = {k: loaded[k] for k in loaded.files}
        missing = [k for k in specs if k not in arrays]
        if missing:
            raise InputError(f"{path}: no array for input '{missing[0]}' (it holds {', '.join(arrays) or 'nothing'})")
    return {name: _checked(path, name, arrays[name], inp) for name, inp in specs.items()}


def _checked(path: str, name: str, x: np.ndarray, inp) -> np.ndarray:
    want = tuple(inp.shape)
    if x.ndim != len(want) + 1 or tuple(x.shape[1:]) != want:
        raise InputError(f"{path}: input '{name}' has shape {x.shape}, expected (N, {', '.join(map(str, want))})")
    if inp.shape.dtype.startswith("int"):
        if not np.issubdtype(x.dtype, np.integer):
            raise InputError(f"{path}: input '{name}' holds {x.dtype}, expected integer token ids")
        return x.astype(np.int64)
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)) or x.dtype == bool:
        raise InputError(f"{path}: input '{name}' holds {x.dtype}, expected numbers (float32)")
    return x.astype(np.float32)
