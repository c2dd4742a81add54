"""Seeded, stratified splits: the same seed gives the same split on every run and machine."""
from __future__ import annotations

import zlib

import numpy as np

from .base import Dataset, Split

VAL_FRACTION = 0.15                  # of the pool, when the source gives no validation split
TEST_FRACTION = 0.15                 # of the pool, when the source gives no test split


def rng(seed: int, purpose: str) -> np.random.Generator:
    """A generator of its own for each purpose, so changing how data is split never changes
    how it is generated (digits-affine's warps), and the other way round."""
    return np.random.default_rng([seed, zlib.crc32(purpose.encode())])


def stratified_split(labels: np.ndarray, seed: int, *, val: float, test: float):
    """Indices (train, val, test): round(val·N) for validation and round(test·N) for test,
    shared out among the classes in proportion to their sizes; within each class the
    members are drawn by a seeded shuffle, and the rest train. Each split is shuffled, so
    none is sorted by class."""
    gen = rng(seed, "split")
    classes, sizes = np.unique(labels, return_counts=True)
    val_counts, test_counts = share(sizes, val), share(sizes, test)
    parts: tuple[list, list, list] = ([], [], [])
    for c, n_val, n_test in zip(classes, val_counts, test_counts):
        members = gen.permutation(np.flatnonzero(labels == c))
        parts[1].append(members[:n_val])
        parts[2].append(members[n_val:n_val + n_test])
        parts[0].append(members[n_val + n_test:])
    return tuple(gen.permutation(np.concatenate(p)).astype(np.int64) for p in parts)


def share(sizes: np.ndarray, fraction: float) -> np.ndarray:
    """round(fraction · total) shared among groups of `sizes` by largest remainder: each
    group gets fraction · size rounded down or up, and the counts add up exactly."""
    exact = sizes * fraction
    counts = np.floor(exact).astype(np.int64)
    missing = round(fraction * sizes.sum()) - counts.sum()
    counts[np.argsort(counts - exact, kind="stable")[:missing]] += 1
    return counts


def assemble(name: str, pool: Split, *, seed: int, val: Split | None = None,
             test: Split | None = None, classes: int | None = None, extra: dict | None = None) -> Dataset:
    """A Dataset from the splits a source gives. What it lacks is carved from `pool` (its
    training examples), stratified and seeded: 15 % for test, 15 % for validation, each
    class in proportion; the rest trains. `classes` defaults to the largest label + 1."""
    train_at, val_at, test_at = stratified_split(
        pool.y, seed, val=VAL_FRACTION if val is None else 0.0,
        test=TEST_FRACTION if test is None else 0.0)
    train = Split(pool.x[train_at], pool.y[train_at])
    val = Split(pool.x[val_at], pool.y[val_at]) if val is None else val
    test = Split(pool.x[test_at], pool.y[test_at]) if test is None else test
    if classes is None:
        classes = int(max(s.y.max(initial=-1) for s in (train, val, test))) + 1
    return Dataset(name, train, val, test, classes, extra or {})
