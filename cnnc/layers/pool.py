"""Pooling: windowed max/avg, global, adaptive and spatial pyramid pooling."""
from __future__ import annotations

from math import ceil, floor

from ..analysis.rf import _num
from .base import Global, Ints, Layer, LayerError, Op, Padding, Pair, Shape, Spatial, Windowed, attr, layer


class Pool2d(Windowed):
    family = "pool"
    kernel: Pair = attr(min=1)
    stride: Pair = attr(default=None, min=1, doc="defaults to the kernel")
    padding: Padding = attr(default=0)
    ceil_mode: bool = attr(default=False, doc="round the output size up (PyTorch's ceil_mode)")

    def window(self):
        return self.kernel, self.stride or self.kernel, (1, 1)

    def lower(self, x):
        kernel, stride, _ = self.window()
        extra = {"count_include_pad": self.count_include_pad} if self.kind == "avgpool2d" else {}
        return [Op(self.kind, {"kernel": kernel, "stride": stride, "padding": tuple(self.pads(x)),
                               "ceil_mode": self.ceil_mode, **extra})]

    def infer_shape(self, x):
        x.expect("C, H, W")
        for (before, after), k in zip(self.pads(x), self.kernel):
            self.require(max(before, after) <= k // 2, f"padding {max(before, after)} is more than "
                         f"half the kernel {k}", "padding", "PyTorch allows at most kernel // 2")
        return Shape(x[0], *self.spatial_out(x))


@layer("maxpool2d")
class MaxPool2d(Pool2d):
    """Maximum over each window."""


@layer("avgpool2d")
class AvgPool2d(Pool2d):
    """Mean over each window."""

    count_include_pad: bool = attr(default=True, doc="count padded zeros in the mean")


class GlobalPool(Layer):
    family = "pool"
    keepdims: bool = attr(default=False, doc="(C, 1, 1) instead of (C,)")

    def infer_shape(self, x):
        self.require(x.rank >= 2, f"needs spatial axes (N, C, …), got {x.batched()}")
        return Shape(x[0], *([1] * (x.rank - 1))) if self.keepdims else Shape(x[0])

    def receptive_field(self, rf, x):
        return Global()


@layer("global_avgpool")
class GlobalAvgPool(GlobalPool):
    """Mean over all spatial positions: (C, H, W) → (C,)."""


@layer("global_maxpool")
class GlobalMaxPool(GlobalPool):
    """Maximum over all spatial positions: (C, H, W) → (C,)."""


def adaptive_windows(size: int, out: int) -> list[tuple[int, int]]:
    """PyTorch's adaptive bins: [floor(i·n/o), ceil((i+1)·n/o)) for each output i."""
    return [(floor(i * size / out), ceil((i + 1) * size / out)) for i in range(out)]


@layer("adaptive_avgpool")
class AdaptiveAvgPool(Layer):
    """Average into a fixed `output` size whatever the input size (PyTorch's adaptive bins)."""

    family = "pool"
    output: Pair = attr(min=1, doc="output height and width")

    def infer_shape(self, x):
        x.expect("C, H, W")
        return Shape(x[0], *self.output)

    def receptive_field(self, rf, x):
        """Bins may differ in width when the size does not divide: the field is the widest
        bin's, the start the first bin's centre, the stride the mean step n / o."""
        if not isinstance(rf, Spatial):
            return rf
        if self.output == (1, 1):
            return Global()
        size, stride, start = [], [], []
        for r, j, s, n, o in zip(rf.size, rf.stride, rf.start, x[1:], self.output):
            bins = adaptive_windows(n, o)
            size.append(r + (max(b - a for a, b in bins) - 1) * j)
            first, last = bins[0]
            start.append(s + (first + last - 1) / 2 * j)
            stride.append(j * n / o)
        return Spatial(*(tuple(_num(v) for v in axis) for axis in (size, stride, start)))


@layer("spp")
class SpatialPyramidPool(Layer):
    """Spatial pyramid pooling (He et al. 2014): pool into n×n bins for each level n and
    concatenate: (C, H, W) → (C · Σ n²,), whatever H and W."""

    family = "pool"
    levels: Ints = attr(default=[1, 2, 4], min=1, doc="bins per side at each level")
    mode: str = attr(default="max", choices=("max", "avg"))

    def infer_shape(self, x):
        x.expect("C, H, W")
        for n in self.levels:
            if n > min(x[1:]):
                raise LayerError(f"level {n} needs at least {n}×{n} input, got {x[1]}×{x[2]}", "levels")
        return Shape(x[0] * sum(n * n for n in self.levels))

    def receptive_field(self, rf, x):
        return Global()
