"""Normalisation: batch, layer, instance and group norm, local response normalisation."""
from __future__ import annotations

from .base import Layer, Op, Param, Shape, attr, layer


def batchnorm_params(c: int, prefix: str = ""):
    """γ, β learned; running mean and variance kept, not trained (PyTorch's names)."""
    yield Param(prefix + "weight", (c,))
    yield Param(prefix + "bias", (c,))
    yield Param(prefix + "running_mean", (c,), trainable=False)
    yield Param(prefix + "running_var", (c,), trainable=False)


class Norm(Layer):
    family = "norm"
    eps: float = attr(default=1e-5, min=0, doc="added to the variance")

    def lower(self, x):
        affine = getattr(self, "affine", True)
        return [Op(self.kind, self.attrs(), ("weight", "bias") if affine else (None, None))]


@layer("batchnorm")
class BatchNorm(Norm):
    """Per-channel (axis 0) normalisation over batch and spatial axes, with running statistics."""

    momentum: float = attr(default=0.1, min=0, max=1, doc="weight of the new batch in the running statistics")

    def params(self, x):
        yield from batchnorm_params(x[0])

    def lower(self, x):
        return [Op("batchnorm", self.attrs(), ("weight", "bias", "running_mean", "running_var"))]


@layer("layernorm")
class LayerNorm(Norm):
    """Normalise each sample over all its axes (`axes: all`) or the last one (`axes: last`);
    learned scale and shift shaped like the normalised axes (PyTorch's LayerNorm)."""

    axes: str = attr(default="all", choices=("all", "last"))
    affine: bool = attr(default=True)

    def params(self, x):
        if self.affine:
            shape = tuple(x) if self.axes == "all" else (x[-1],)
            yield Param("weight", shape)
            yield Param("bias", shape)


@layer("instancenorm")
class InstanceNorm(Norm):
    """Per sample and channel over the spatial axes; no learned scale unless `affine` (PyTorch's default)."""

    affine: bool = attr(default=False)

    def infer_shape(self, x):
        self.require(x.rank >= 2, f"needs spatial axes (N, C, …), got {x.batched()}")
        return x

    def params(self, x):
        if self.affine:
            yield Param("weight", (x[0],))
            yield Param("bias", (x[0],))


@layer("groupnorm")
class GroupNorm(Norm):
    """Per sample over groups of channels and the spatial axes; learned per-channel scale and shift."""

    groups: int = attr(min=1, doc="number of channel groups; must divide the channels")

    def infer_shape(self, x):
        self.require(x[0] % self.groups == 0, f"groups={self.groups} must divide the {x[0]} channels", "groups")
        return x

    def params(self, x):
        yield Param("weight", (x[0],))
        yield Param("bias", (x[0],))


@layer("lrn")
class LocalResponseNorm(Layer):
    """AlexNet's local response normalisation across `size` neighbouring channels:
    x / (k + α/size · Σ x²)^β (PyTorch's convention)."""

    family = "norm"
    size: int = attr(default=5, min=1)
    alpha: float = attr(default=1e-4, min=0)
    beta: float = attr(default=0.75, min=0)
    k: float = attr(default=2.0, min=0)

    def macs(self, xs, y):
        return y.numel * self.size
