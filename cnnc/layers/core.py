"""Layers that move or reshape data: dense, flatten, reshape, dropout, embedding, split, shortcut."""
from __future__ import annotations

from math import prod

from .activation import ACTIVATION_CHOICES
from .base import INITS, Global, Ints, Layer, Op, Param, Shape, activation_ops, attr, layer


@layer("dense", "dense")
class Dense(Layer):
    """Fully connected: (F,) → (units,); weight is (units, F) as in PyTorch."""

    units: int = attr(min=1, doc="output features")
    bias: bool = attr(default=True)
    activation: str = attr(default="none", choices=ACTIVATION_CHOICES)
    init: str = attr(default="auto", choices=INITS,
                     doc="auto is He for relu-like activations, else Xavier; identity_affine: zero weight, "
                         "bias (1, 0, 0, 0, 1, 0), for a spatial transformer's θ")

    def infer_shape(self, x):
        x.expect("F")
        return Shape(self.units)

    def params(self, x):
        yield Param("weight", (self.units, x[0]))
        if self.bias:
            yield Param("bias", (self.units,))

    def macs(self, xs, y):
        return xs[0][0] * self.units

    def receptive_field(self, rf, x):
        return Global()

    def lower(self, x):
        dense = Op("dense", {}, ("weight", "bias" if self.bias else None))
        return [dense, *activation_ops(self.activation, axis=-1)]


@layer("flatten")
class Flatten(Layer):
    """(C, H, W) → (C·H·W,), in C, H, W order as PyTorch's flatten."""

    def infer_shape(self, x):
        return Shape(x.numel, dtype=x.dtype)

    def receptive_field(self, rf, x):
        return Global()


@layer("reshape")
class Reshape(Layer):
    """To `shape` (without the batch axis); one entry may be -1 and is then inferred."""

    shape: Ints = attr(min=-1, doc="target shape; one -1 is inferred")

    def infer_shape(self, x):
        known = [d for d in self.shape if d != -1]
        self.require(len(known) >= len(self.shape) - 1, "at most one entry of shape may be -1", "shape")
        self.require(0 not in self.shape, "shape entries must be positive (or one -1)", "shape")
        size = prod(known)
        if -1 in self.shape:
            self.require(x.numel % size == 0,
                         f"cannot reshape {x.numel} values ({x.batched()}) into {list(self.shape)}", "shape")
            dims = [x.numel // size if d == -1 else d for d in self.shape]
        else:
            self.require(size == x.numel,
                         f"cannot reshape {x.numel} values ({x.batched()}) into {size}", "shape",
                         "the product of shape must equal the input's size; use -1 for one axis")
            dims = list(self.shape)
        return Shape(*dims, dtype=x.dtype)

    def receptive_field(self, rf, x):
        return Global()

    def lower(self, x):
        return [Op("reshape", {"shape": tuple(self.infer_shape(x))})]


@layer("dropout")
class Dropout(Layer):
    """Zeroes each value with probability `rate` in training, scaling the rest by 1/(1 − rate)."""

    rate: float = attr(min=0, below=1, doc="probability of dropping a value")


@layer("embedding")
class Embedding(Layer):
    """Integer tokens (T,) → vectors (T, dim); weight is (vocab, dim)."""

    vocab: int = attr(min=1, doc="number of distinct tokens")
    dim: int = attr(min=1, doc="vector size")

    def infer_shape(self, x):
        self.require(x.dtype.startswith("int"),
                     f"needs integer token ids, got {x.dtype} input", None,
                     "give the input `dtype: int64`")
        return Shape(*x, self.dim)

    def params(self, x):
        yield Param("weight", (self.vocab, self.dim))

    def lower(self, x):
        return [Op("embedding", {}, ("weight",))]


@layer("split")
class Split(Layer):
    """Part `index` of `parts` equal, consecutive slices of an axis (ShuffleNet's channel split)."""

    internal = True
    parts: int = attr(min=1)
    index: int = attr(min=0)
    axis: int = attr(default=0, min=0)

    def infer_shape(self, x):
        self.require(self.axis < x.rank, f"axis {self.axis} is out of range for {x.batched()}", "axis")
        self.require(self.index < self.parts, f"index {self.index} must be below parts={self.parts}", "index")
        n = x[self.axis]
        self.require(n % self.parts == 0, f"cannot split {n} channels into {self.parts} equal parts", "parts",
                     f"use a number of branches that divides {n}")
        dims = list(x)
        dims[self.axis] = n // self.parts
        return Shape(*dims, dtype=x.dtype)
