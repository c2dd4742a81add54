"""Elementwise activations. Each is a layer kind of its own and a fusable `activation:` value."""
from __future__ import annotations

from .base import Layer, attr, layer

ACTIVATIONS = {
    "relu": "max(x, 0)",
    "relu6": "min(max(x, 0), 6) (MobileNets)",
    "leaky_relu": "x if x > 0 else slope · x",
    "sigmoid": "1 / (1 + exp(−x))",
    "hard_sigmoid": "min(max(x / 6 + 1/2, 0), 1) (PyTorch's hardsigmoid)",
    "tanh": "tanh(x)",
    "softmax": "exp(x) / Σ exp(x) over the channel axis",
}
ACTIVATION_CHOICES = ("none", *ACTIVATIONS)


class Activation(Layer):
    family = "activation"


def _register(kind: str, formula: str) -> None:
    cls = type(kind.title().replace("_", ""), (Activation,), {"__doc__": formula, "__module__": __name__})
    layer(kind)(cls)


for _kind, _formula in ACTIVATIONS.items():
    if _kind not in ("leaky_relu", "softmax"):
        _register(_kind, _formula)


@layer("leaky_relu")
class LeakyRelu(Activation):
    """x if x > 0 else slope · x"""

    slope: float = attr(default=0.01, min=0, doc="negative slope (PyTorch 0.01, Keras 0.3)")


@layer("softmax")
class Softmax(Activation):
    """exp(x) / Σ exp(x) along an axis (the channel axis, 0, by default)."""

    axis: int = attr(default=0, doc="axis of the input without batch; -1 for the last")

    def infer_shape(self, x):
        self.require(-x.rank <= self.axis < x.rank,
                     f"axis {self.axis} is out of range for input {x.batched()}", "axis")
        return x
