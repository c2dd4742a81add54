"""Spatial transformer (Jaderberg et al. 2015) and channel shuffle."""
from __future__ import annotations

from .base import Global, Layer, LayerError, Op, Pair, Shape, attr, layer


@layer("spatial_transformer", "spatial")
class SpatialTransformer(Layer):
    """Warp a feature map (C, H, W) by an affine θ (6,) from a localisation sub-network:
    an affine grid over the output, bilinear sampling of the input. Inputs: [features, theta]."""

    arity = (2, 2)
    output: Pair = attr(default=None, min=1, doc="output height and width; defaults to the input's")

    def infer_shape(self, x, theta):
        x.expect("C, H, W")
        if theta.numel != 6 or theta.rank not in (1, 2):
            raise LayerError(f"theta must be 6 values (an affine 2×3), got {theta.batched()}",
                             help="end the localisation network with `dense` of 6 units")
        return Shape(x[0], *(self.output or x[1:]))

    def macs(self, xs, y):
        return 4 * y.numel + 6 * y[1] * y[2]      # bilinear taps per value; grid per pixel

    def receptive_field(self, rf, x, theta):
        return Global()

    def lower(self, x, theta):
        return [Op("spatial_transformer", {"output": tuple(self.output or x[1:])})]


@layer("channel_shuffle")
class ChannelShuffle(Layer):
    """ShuffleNet's shuffle: view channels as (groups, C/groups), transpose, flatten."""

    groups: int = attr(min=1)

    def infer_shape(self, x):
        self.require(x[0] % self.groups == 0, f"groups={self.groups} must divide the {x[0]} channels", "groups")
        return x
