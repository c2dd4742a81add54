"""karate: Zachary's karate club, a 34-member club that split in two, for semi-supervised
node classification with a GCN as in Kipf & Welling (2017). Source: networkx's
karate_club_graph(); see SOURCES.md."""
from __future__ import annotations

import networkx as nx
import numpy as np

from .base import DataError, Dataset, Split, format_shape
from .split import rng

FACTIONS = ("Mr. Hi", "Officer")     # class 0, class 1: each node's 'club' attribute
NODES = 34
TRAIN_NODES = (0, 33)                # the two leaders: Mr. Hi (node 0) and the officer (node 33)
VAL_PER_FACTION = 3                  # drawn from the other nodes with the seed; the rest test


def karate(input_shape: tuple[int, ...], *, seed: int = 0) -> Dataset:
    """Zachary's karate club: one graph of 34 members in 2 factions, for a GCN.

    34 nodes, 78 edges; factions 0 "Mr. Hi" (17 members) and 1 "Officer" (17).

    For a GCN with inputs x [34, 34] (features) and adj [34, 34] (kind: graph); input_shape
    is that of x. The whole graph is one example (a batch of 1):

    - extra["x"]: node features (34, 34) float32, one-hot identity (node i has feature i)
    - extra["adj"]: adjacency (34, 34) float32, 1 where two members met outside the club,
      symmetric, no self-loops, unweighted (gcn_conv adds self-loops and normalises)
    - extra["labels"]: every node's faction (34,) int64
    - extra["train_mask"], ["val_mask"], ["test_mask"]: (34,) bool, disjoint, covering all
    - extra["class_names"]: ("Mr. Hi", "Officer")

    Each Split holds node indices, not examples: split.x (n,) int64 are the nodes of that
    split and split.y (n,) their factions. Train is nodes 0 and 33 (one per faction), val
    3 nodes per faction chosen with the seed, test the other 26.

    Training: feed extra["x"][None] and extra["adj"][None], get (1, 34, 2); the loss is the
    cross-entropy of out[0, train.x] against train.y (only the masked nodes count); accuracy
    on val/test likewise. Every step sees the whole graph; there is nothing to shuffle.
    """
    features = check_features(input_shape)
    graph = nx.karate_club_graph()
    labels = np.array([FACTIONS.index(graph.nodes[v]["club"]) for v in range(NODES)], dtype=np.int64)
    adj = nx.to_numpy_array(graph, nodelist=range(NODES), weight=None, dtype=np.float32)
    masks = node_masks(labels, seed)
    splits = {name: Split(np.flatnonzero(mask).astype(np.int64), labels[mask]) for name, mask in masks.items()}
    extra = {"x": features, "adj": adj, "labels": labels, "class_names": FACTIONS,
             **{f"{name}_mask": mask for name, mask in masks.items()}}
    return Dataset("karate", splits["train"], splits["val"], splits["test"], len(FACTIONS), extra)


def check_features(input_shape: tuple[int, ...]) -> np.ndarray:
    """The one-hot features (34, 34) if the spec's x input is [34, 34], else a DataError."""
    if tuple(input_shape) != (NODES, NODES):
        raise DataError("dataset 'karate'",
                        f"the node features are {NODES}×{NODES} (one-hot, one per member), "
                        f"the spec's input is {format_shape(input_shape)}",
                        f"give the spec inputs x: [{NODES}, {NODES}] and "
                        f"adj: {{shape: [{NODES}, {NODES}], kind: graph}}")
    return np.eye(NODES, dtype=np.float32)


def node_masks(labels: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """Boolean masks over the nodes: train = the two leaders, val = VAL_PER_FACTION others
    of each faction drawn with the seed, test = everyone else."""
    gen = rng(seed, "karate")
    train = np.isin(np.arange(NODES), TRAIN_NODES)
    val = np.zeros(NODES, dtype=bool)
    for faction in range(len(FACTIONS)):
        candidates = np.flatnonzero((labels == faction) & ~train)
        val[gen.choice(candidates, VAL_PER_FACTION, replace=False)] = True
    return {"train": train, "val": val, "test": ~(train | val)}
