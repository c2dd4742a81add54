"""Tensor types: a shape without the batch axis, and its element type."""
from __future__ import annotations

from math import prod

from .spec.errors import LayerError

DTYPE_BYTES = {"float32": 4, "float64": 8, "int32": 4, "int64": 8}


class Shape(tuple):
    """(C, H, W), (T, F), (F,) …: the batch axis is never part of a Shape."""

    dtype: str

    def __new__(cls, *dims: int, dtype: str = "float32") -> "Shape":
        self = super().__new__(cls, (int(d) for d in dims))
        self.dtype = dtype
        return self

    @property
    def numel(self) -> int:
        return prod(self)

    @property
    def rank(self) -> int:
        return len(self)

    @property
    def bytes(self) -> int:
        return self.numel * DTYPE_BYTES[self.dtype]

    def expect(self, axes: str, attr: str | None = None) -> "Shape":
        """Check the rank against a pattern like "C, H, W"; say what was wanted and what came."""
        names = [a.strip() for a in axes.split(",")]
        if len(names) != self.rank:
            raise LayerError(f"needs input (N, {', '.join(names)}), got {self.batched()}", attr,
                             _rank_help(names, self))
        return self

    def batched(self) -> str:
        return "(" + ", ".join(["N", *map(str, self)]) + ")"

    def __str__(self) -> str:
        return "×".join(map(str, self)) if self else "scalar"

    def __repr__(self) -> str:
        return f"Shape{tuple(self)}"

    def __reduce__(self):
        return (_rebuild, (tuple(self), self.dtype))


def _rebuild(dims, dtype):
    return Shape(*dims, dtype=dtype)


def _rank_help(wanted: list[str], got: Shape) -> str:
    if len(wanted) == 1 and got.rank > 1:
        return "add a `flatten` or a global pooling layer before it"
    if len(wanted) > got.rank:
        return "add a `reshape` before it, or check the layer it takes its input from"
    return ""
