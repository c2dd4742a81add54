"""Convolutions over (C, H, W) and (C, L)."""
from __future__ import annotations

from math import prod
from typing import ClassVar

from .activation import ACTIVATION_CHOICES
from .base import INITS, Layer, Op, Padding, Pair, Param, Shape, Windowed, activation_ops, attr, layer


class Convolution(Windowed):
    """Shared rules: weight (O, C/groups, *kernel), optional bias, fused activation."""

    padding: Padding = attr(default=0, doc="zero padding")
    bias: bool = attr(default=True, doc="add a learned bias per output channel")
    activation: str = attr(default="none", choices=ACTIVATION_CHOICES, doc="applied to the output")
    init: str = attr(default="auto", choices=INITS, doc="weight initialiser; auto is He (normal, fan-in)")

    def out_channels(self, c: int) -> int:
        return self.filters

    def in_per_group(self, c: int) -> int:
        return c // self.groups

    def check_groups(self, c: int) -> None:
        self.require(c % self.groups == 0, f"groups={self.groups} must divide the {c} input channels",
                     "groups")
        self.require(self.out_channels(c) % self.groups == 0,
                     f"groups={self.groups} must divide the {self.out_channels(c)} output channels", "groups")

    def infer_shape(self, x: Shape) -> Shape:
        x.expect(self.axes)
        self.check_groups(x[0])
        return Shape(self.out_channels(x[0]), *self.spatial_out(x))

    def params(self, x: Shape):
        kernel = self.window()[0]
        yield Param("weight", (self.out_channels(x[0]), self.in_per_group(x[0]), *kernel))
        if self.bias:
            yield Param("bias", (self.out_channels(x[0]),))

    def macs(self, xs, y: Shape) -> int:
        return y.numel * self.in_per_group(xs[0][0]) * prod(self.window()[0])

    def lower(self, x: Shape):
        kernel, stride, dilation = self.window()
        groups = x[0] // self.in_per_group(x[0])
        conv = Op(self.op, {"stride": stride, "padding": tuple(self.pads(x)), "dilation": dilation,
                            "groups": groups}, ("weight", "bias" if self.bias else None))
        return [conv, *activation_ops(self.activation, axis=0)]


@layer("conv2d", "conv")
class Conv2d(Convolution):
    """2-D convolution over (C, H, W); weight is OIHW."""

    axes: ClassVar[str] = "C, H, W"
    op: ClassVar[str] = "conv2d"
    filters: int = attr(min=1, doc="output channels")
    kernel: Pair = attr(min=1, doc="window size")
    stride: Pair = attr(default=1, min=1)
    dilation: Pair = attr(default=1, min=1)
    groups: int = attr(default=1, min=1, doc="channel groups; groups = channels is depthwise")

    def window(self):
        return self.kernel, self.stride, self.dilation


@layer("depthwise_conv2d", "conv")
class DepthwiseConv2d(Convolution):
    """One filter per input channel (× multiplier); weight is (C·multiplier, 1, kh, kw)."""

    axes: ClassVar[str] = "C, H, W"
    op: ClassVar[str] = "conv2d"           # a grouped convolution with groups = channels
    kernel: Pair = attr(min=1)
    stride: Pair = attr(default=1, min=1)
    dilation: Pair = attr(default=1, min=1)
    multiplier: int = attr(default=1, min=1, doc="output channels per input channel")

    def window(self):
        return self.kernel, self.stride, self.dilation

    def out_channels(self, c: int) -> int:
        return c * self.multiplier

    def in_per_group(self, c: int) -> int:
        return 1

    def check_groups(self, c: int) -> None:
        pass


@layer("conv1d", "conv")
class Conv1d(Convolution):
    """1-D convolution over (C, L); weight is (O, C/groups, k)."""

    axes: ClassVar[str] = "C, L"
    op: ClassVar[str] = "conv1d"
    spatial_axes: ClassVar[int] = 1
    filters: int = attr(min=1)
    kernel: int = attr(min=1)
    stride: int = attr(default=1, min=1)
    dilation: int = attr(default=1, min=1)
    groups: int = attr(default=1, min=1)

    def window(self):
        return (self.kernel,), (self.stride,), (self.dilation,)

    def lower(self, x: Shape):
        conv = Op("conv1d", {"stride": self.stride, "padding": self.pads(x)[0], "dilation": self.dilation,
                             "groups": self.groups}, ("weight", "bias" if self.bias else None))
        return [conv, *activation_ops(self.activation, axis=0)]
