"""Zachary's karate club for a GCN (cnnc/data/karate.py)."""
import numpy as np
import pytest

from cnnc.data import DataError, load_dataset


@pytest.fixture
def karate():
    return load_dataset("karate", (34, 34))


def test_graph_facts(karate):
    adj = karate.extra["adj"]
    assert adj.shape == (34, 34) and adj.dtype == np.float32
    assert set(np.unique(adj)) == {0.0, 1.0}
    assert np.array_equal(adj, adj.T) and not adj.diagonal().any()
    assert adj.sum() == 2 * 78                                     # 78 friendships
    assert adj[0].sum() == 16 and adj[33].sum() == 17               # the two leaders' degrees


def test_features_are_one_hot_identities(karate):
    assert np.array_equal(karate.extra["x"], np.eye(34, dtype=np.float32))


def test_two_factions_of_17(karate):
    labels = karate.extra["labels"]
    assert karate.classes == 2 and karate.extra["class_names"] == ("Mr. Hi", "Officer")
    assert labels.dtype == np.int64 and np.bincount(labels).tolist() == [17, 17]
    assert (labels[0], labels[33]) == (0, 1)                        # Mr. Hi and the officer


def test_one_labelled_node_per_faction_trains(karate):
    assert karate.train.x.tolist() == [0, 33] and karate.train.y.tolist() == [0, 1]
    assert np.flatnonzero(karate.extra["train_mask"]).tolist() == [0, 33]


def test_masks_are_disjoint_and_cover_every_node(karate):
    masks = [karate.extra[f"{name}_mask"] for name in ("train", "val", "test")]
    assert all(m.dtype == bool and m.shape == (34,) for m in masks)
    assert np.array_equal(sum(m.astype(int) for m in masks), np.ones(34, int))
    assert [m.sum() for m in masks] == [2, 6, 26]


def test_splits_hold_node_indices_and_their_labels(karate):
    for name, split in karate.splits.items():
        assert split.x.dtype == np.int64 and split.y.dtype == np.int64
        assert np.array_equal(split.x, np.flatnonzero(karate.extra[f"{name}_mask"]))
        assert np.array_equal(split.y, karate.extra["labels"][split.x])
    assert np.bincount(karate.val.y).tolist() == [3, 3]


def test_validation_nodes_follow_the_seed():
    val = [load_dataset("karate", (34, 34), seed=s).val.x.tolist() for s in (0, 0, 1)]
    assert val[0] == val[1] != val[2]


@pytest.mark.parametrize("shape", [(34, 16), (10, 34), (34,), (1, 34, 34)])
def test_features_must_be_34_by_34(shape):
    with pytest.raises(DataError) as e:
        load_dataset("karate", shape)
    assert str(e.value).startswith("dataset 'karate': the node features are 34×34 (one-hot, one per member), "
                                   f"the spec's input is [{', '.join(map(str, shape))}]")
    assert e.value.help == "give the spec inputs x: [34, 34] and adj: {shape: [34, 34], kind: graph}"
