"""Datasets for `cnnc train --data NAME|PATH`: bundled digits, their row-sequence and
affine-distorted variants, Zachary's karate club, and the user's IDX or .npz files.

    ds = load_dataset("digits", (1, 32, 32), seed=0)
    ds.train.x.shape, ds.train.y.shape      # (1257, 1, 32, 32) float32, (1257,) int64

Image examples are float32 (N, C, H, W) in [0, 1], not normalised further. Labels are
int64 class indices. Nothing is ever downloaded. Sources and licences: SOURCES.md.
"""
from __future__ import annotations

import difflib
import os
from typing import Callable

from .affine import digits_affine
from .base import DataError, Dataset, Split
from .digits import digits, digits_rows
from .files import load_file
from .karate import karate

__all__ = ["DATASETS", "DEFAULT_DATASET", "DataError", "Dataset", "Split", "load_dataset", "summary"]

Loader = Callable[..., Dataset]      # loader(input_shape, *, seed) -> Dataset

DATASETS: dict[str, Loader] = {
    "digits": digits,                # images (C, H, W), C = 1 or 3
    "digits-rows": digits_rows,      # sequences (8, 8)
    "digits-affine": digits_affine,  # images (C, H, W) on a larger canvas, H, W ≥ 16
    "karate": karate,                # one graph: x (34, 34), adj in extra
}
DEFAULT_DATASET = "digits"
NOT_BUNDLED = {"mnist", "fashion-mnist", "fashion_mnist", "fashionmnist", "kmnist", "emnist"}


def load_dataset(name_or_path: str, input_shape: tuple[int, ...], *, seed: int = 0) -> Dataset:
    """The dataset named `name_or_path` (a key of DATASETS) or read from that path (see
    files.load_file), shaped for a spec whose input is `input_shape` (no batch axis; for
    karate, the shape of the node features x). The same seed gives the same data and splits."""
    where = f"dataset '{name_or_path}'" if name_or_path in DATASETS else name_or_path
    shape = checked_shape(where, input_shape)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise DataError(where, f"seed must be a whole number ≥ 0, got {seed!r}")
    if name_or_path in DATASETS:
        return DATASETS[name_or_path](shape, seed=seed)
    if looks_like_path(name_or_path):
        return load_file(name_or_path, shape, seed=seed)
    raise unknown_dataset(name_or_path)


def summary(name: str) -> str:
    """A dataset's one-line description (its loader's first docstring line), for --help."""
    return DATASETS[name].__doc__.strip().splitlines()[0]


def checked_shape(where: str, input_shape) -> tuple[int, ...]:
    dims = tuple(input_shape) if isinstance(input_shape, (tuple, list)) else ()
    if not dims or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in dims):
        raise DataError(where, f"input shape must be whole numbers > 0, got {input_shape!r}",
                        "pass the spec's input shape without the batch axis, e.g. (1, 32, 32)")
    return dims


def looks_like_path(text: str) -> bool:
    return os.path.exists(text) or any(sep in text for sep in ("/", os.sep, "."))


def unknown_dataset(name: str) -> DataError:
    near = difflib.get_close_matches(name, DATASETS, n=1)
    names = ", ".join(DATASETS)
    if near:
        hint = f"did you mean '{near[0]}'? Bundled: {names}; or give a path to an .npz or MNIST IDX files"
    elif name.lower() in NOT_BUNDLED:
        hint = (f"cnnc bundles no {name} and never downloads; give the folder holding its IDX files, "
                f"e.g. --data path/to/{name.lower()}/")
    else:
        hint = f"bundled: {names}; or give a path to an .npz or MNIST IDX files"
    return DataError(f"dataset '{name}'", "no dataset of that name and no such file", hint)
