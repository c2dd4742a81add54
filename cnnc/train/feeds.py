"""Feeding a dataset to a network: which array goes to which input, in minibatches.

Image and sequence datasets feed the network's single input in shuffled minibatches. A graph
dataset (one graph, `extra["adj"]`) is one batch of the whole graph: node features to the
tensor input (`extra["x"]`), the adjacency to the input of `kind: graph`, and the loss counted only on the
split's nodes (`extra["<split>_mask"]`), as Kipf & Welling train a GCN.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np

from ..compiler import Analysis


class FeedError(Exception):
    """The data does not fit the network; the message says how."""


@dataclass
class Batch:
    inputs: dict[str, np.ndarray]
    labels: np.ndarray
    mask: np.ndarray | None = None

    def correct(self, probs: np.ndarray) -> tuple[float, float]:
        """(right, counted) predictions: argmax over the class axis, masked nodes excluded."""
        right = probs.argmax(axis=-1) == self.labels
        if self.mask is not None:
            return float((right & self.mask).sum()), float(self.mask.sum())
        return float(right.sum()), float(right.size)


@dataclass
class Tally:
    """Running loss and accuracy over batches, weighted by the examples each counted."""
    loss: float = 0.0
    right: float = 0.0
    seen: float = 0.0

    def add(self, batch: Batch, loss: float, probs: np.ndarray) -> None:
        right, seen = batch.correct(probs)
        self.loss += loss * seen
        self.right += right
        self.seen += seen

    def means(self) -> tuple[float, float]:
        """(mean loss, accuracy)."""
        return self.loss / max(self.seen, 1), self.right / max(self.seen, 1)


def score(forward, feeds: "Feeds", split: str, batch: int, loss_fn, output: str) -> tuple[float, float]:
    """(loss, accuracy) of a split; `forward(inputs)` gives the network's outputs (logits)."""
    tally = Tally()
    for b in feeds.batches(split, batch, None):
        loss, _, probs = loss_fn(forward(b.inputs)[output], b.labels, b.mask)
        tally.add(b, loss, probs)
    return tally.means()


class Feeds:
    def __init__(self, a: Analysis, dataset) -> None:
        self.dataset = dataset
        inputs = a.graph.inputs
        self.graph = "adj" in dataset.extra
        if self.graph:
            graph_inputs = [i.name for i in inputs if i.kind == "graph"]
            node_inputs = [i.name for i in inputs if i.kind != "graph"]
            if len(graph_inputs) != 1 or len(node_inputs) != 1:
                raise FeedError(f"dataset '{dataset.name}' is a graph: the spec needs one node-feature input "
                                "and one input of `kind: graph`")
            self.x_name, self.adj_name = node_inputs[0], graph_inputs[0]
        elif len(inputs) != 1:
            raise FeedError(f"dataset '{dataset.name}' has one input array, the spec has {len(inputs)} inputs "
                            f"({', '.join(i.name for i in inputs)})")
        else:
            self.x_name = inputs[0].name
        classes = a.shapes[a.graph.outputs[-1]][-1]
        if classes != dataset.classes:
            raise FeedError(f"the network ends in {classes} outputs but dataset '{dataset.name}' has "
                            f"{dataset.classes} classes; make the last layer `units: {dataset.classes}`")

    def steps(self, split: str, size: int) -> int:
        """How many batches `batches` yields."""
        return 1 if self.graph else -(-len(getattr(self.dataset, split).y) // size)

    def batches(self, split: str, size: int, rng: np.random.Generator | None) -> Iterator[Batch]:
        if self.graph:
            yield self._graph_batch(split)
            return
        part = getattr(self.dataset, split)
        order = rng.permutation(len(part.y)) if rng is not None else np.arange(len(part.y))
        for start in range(0, len(order), size):
            take = order[start:start + size]
            yield Batch({self.x_name: part.x[take]}, part.y[take])

    def _graph_batch(self, split: str) -> Batch:
        d = self.dataset
        x, labels, mask = d.extra["x"], d.extra["labels"], d.extra[f"{split}_mask"]
        return Batch({self.x_name: x[None], self.adj_name: d.extra["adj"][None]}, labels[None], mask[None])
