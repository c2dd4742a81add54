"""What every dataset is made of: splits of examples and labels, and the error for bad data."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Split:
    """Examples and their labels: x float32 (N, *input_shape), or int64 tokens / node indices;
    y int64 class indices (N,)."""
    x: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return len(self.y)


@dataclass
class Dataset:
    """Train, validation and test splits of one source, and how many classes its labels name.
    `extra` holds what some datasets need besides examples (karate's graph); each loader
    documents its keys."""
    name: str
    train: Split
    val: Split
    test: Split
    classes: int
    extra: dict = field(default_factory=dict)

    @property
    def splits(self) -> dict[str, Split]:
        return {"train": self.train, "val": self.val, "test": self.test}


class DataError(Exception):
    """Data that cannot be loaded as asked. `where` is the file or dataset, `message` what was
    wrong (lowercase, no final period), `help` what would be right."""

    def __init__(self, where: str, message: str, help: str = "") -> None:
        super().__init__(where, message, help)
        self.where, self.message, self.help = where, message, help

    def __str__(self) -> str:
        text = f"{self.where}: {self.message}"
        return f"{text}\n  = help: {self.help}" if self.help else text


def format_shape(shape) -> str:
    """(1, 32, 32) as a spec writes it: [1, 32, 32]."""
    return "[" + ", ".join(str(d) for d in shape) + "]"
