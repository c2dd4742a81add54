"""Layers that join paths: add, multiply (broadcasting), concat, and the residual shortcut."""
from __future__ import annotations

from .base import Layer, LayerError, Op, Param, Shape, Spatial, attr, layer
from .norm import batchnorm_params


def broadcast(xs) -> Shape:
    """NumPy's rule over the non-batch axes: trailing axes align; 1 stretches."""
    rank = max(x.rank for x in xs)
    dims = []
    for axis in range(-rank, 0):
        sizes = {x[axis] for x in xs if x.rank >= -axis} - {1}
        if len(sizes) > 1:
            raise LayerError("cannot broadcast " + " with ".join(x.batched() for x in xs),
                             help="shapes must be equal, or 1 where they differ (NumPy broadcasting)")
        dims.append(sizes.pop() if sizes else 1)
    return Shape(*dims, dtype=xs[0].dtype)


class Elementwise(Layer):
    family = "merge"
    arity = (2, None)

    def infer_shape(self, *xs):
        return broadcast(xs)


@layer("add")
class Add(Elementwise):
    """Sum of two or more inputs, broadcasting (residual connections)."""


@layer("multiply")
class Multiply(Elementwise):
    """Product of two or more inputs, broadcasting: (C, 1, 1) × (C, H, W) gates channels (SE)."""


@layer("concat", "merge")
class Concat(Layer):
    """Join inputs along an axis (channels by default); all other axes must match."""

    arity = (2, None)
    axis: int = attr(default=0, doc="axis without batch; 0 is channels")

    def infer_shape(self, *xs):
        first = xs[0]
        self.require(-first.rank <= self.axis < first.rank,
                     f"axis {self.axis} is out of range for {first.batched()}", "axis")
        axis = self.axis % first.rank
        for i, x in enumerate(xs[1:], 2):
            off = [a for a in range(max(x.rank, first.rank))
                   if a != axis and (a >= x.rank or a >= first.rank or x[a] != first[a])]
            if x.rank != first.rank or off:
                raise LayerError(f"cannot concat {first.batched()} and {x.batched()} (input {i}) along "
                                 f"axis {self.axis}: they differ on axis {off[0] if off else 'count'}",
                                 help="inputs must agree on every axis but the concat axis")
        dims = list(first)
        dims[axis] = sum(x[axis] for x in xs)
        return Shape(*dims, dtype=first.dtype)


@layer("shortcut", "conv")
class Shortcut(Layer):
    """The skip path of `residual:`: identity, or a 1×1 convolution without bias + batchnorm
    whose stride is the ratio of input to output size. Its second input is the residual body's
    output, read for its shape only. Parameters: `0.weight` (conv), `1.*` (batchnorm)."""

    internal = True
    arity = (2, 2)
    shape_only = (1,)
    mode: str = attr(default="auto", choices=("auto", "identity", "projection"))

    def projects(self, x: Shape, like: Shape) -> bool:
        return self.mode == "projection" or (self.mode == "auto" and tuple(x) != tuple(like))

    def stride(self, x: Shape, like: Shape) -> tuple[int, ...]:
        if x.rank != like.rank:
            raise LayerError(f"the residual body changes the rank: {x.batched()} → {like.batched()}",
                             "shortcut", "a residual body must keep (C, H, W)")
        strides = []
        for a, b in zip(x[1:], like[1:]):
            if b == 0 or a % b:
                raise LayerError(f"the residual body maps size {a} to {b}, not an even stride",
                                 "shortcut", "the body's output size must divide its input size")
            strides.append(a // b)
        return tuple(strides)

    def infer_shape(self, x, like):
        if not self.projects(x, like):
            self.require(tuple(x) == tuple(like),
                         f"identity shortcut {x.batched()} does not match the body's output {like.batched()}",
                         "shortcut", "use `shortcut: auto` or `projection`")
            return x
        self.stride(x, like)
        return Shape(*like)

    def params(self, x, like):
        if self.projects(x, like):
            yield Param("0.weight", (like[0], x[0]) + (1,) * (x.rank - 1))
            yield from batchnorm_params(like[0], prefix="1.")

    def macs(self, xs, y):
        x, like = xs
        return y.numel * x[0] if self.projects(x, like) else 0

    def lower(self, x, like):
        """A projection: 1×1 convolution (`0.weight`), then batchnorm (`1.*`). Identity
        shortcuts never reach lowering: they are removed from the graph after inference."""
        n = x.rank - 1
        conv = Op("conv2d", {"stride": self.stride(x, like), "padding": ((0, 0),) * n, "dilation": (1,) * n,
                             "groups": 1}, ("0.weight", None))
        bn = Op("batchnorm", {"eps": 1e-5, "momentum": 0.1},
                ("1.weight", "1.bias", "1.running_mean", "1.running_var"))
        return [conv, bn]

    def receptive_field(self, rf, x, like):
        if not isinstance(rf, Spatial) or not self.projects(x, like):
            return rf
        n = x.rank - 1
        return rf.through((1,) * n, self.stride(x, like), (0,) * n)
