"""Seeded, stratified splits (cnnc/data/split.py)."""
import numpy as np

from cnnc.data import Split
from cnnc.data.split import assemble, share, stratified_split


def test_share_rounds_the_total_and_spreads_it_by_size():
    assert share(np.array([10, 10, 10, 10]), 0.15).tolist() == [2, 2, 1, 1]    # 15 % of 40 is 6
    assert share(np.array([3, 1]), 0.15).tolist() == [1, 0]                     # 15 % of 4 rounds to 1
    assert share(np.array([50, 50]), 0.0).tolist() == [0, 0]


def test_stratified_split_keeps_class_proportions():
    labels = np.repeat([0, 1, 2], [60, 30, 10])
    train, val, test = stratified_split(labels, seed=0, val=0.2, test=0.1)
    assert np.bincount(labels[val]).tolist() == [12, 6, 2]
    assert np.bincount(labels[test]).tolist() == [6, 3, 1]
    assert sorted(np.concatenate([train, val, test]).tolist()) == list(range(100))


def test_assemble_carves_only_what_the_source_lacks():
    pool = Split(np.arange(40.0)[:, None], np.arange(40) % 2)
    given = Split(np.zeros((5, 1)), np.ones(5, np.int64))
    ds = assemble("toy", pool, seed=0, test=given)
    assert [len(s) for s in ds.splits.values()] == [34, 6, 5]
    assert ds.test is given and ds.classes == 2
