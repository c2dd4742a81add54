"""Recurrent layers over sequences (T, F), and the highway layer."""
from __future__ import annotations

from typing import ClassVar

from .activation import ACTIVATION_CHOICES
from .base import Layer, Op, Param, Shape, Steps, activation_ops, attr, layer


class Recurrent(Layer):
    """Shared rules. Parameters follow PyTorch: weight_ih_l0 (G·units, F), weight_hh_l0
    (G·units, units), bias_ih_l0, bias_hh_l0, and *_reverse for the backward direction."""

    family = "recurrent"
    gates: ClassVar[int] = 1
    units: int = attr(min=1, doc="hidden size")
    return_sequences: bool = attr(default=False, doc="output every step (T, units) instead of the last")
    bidirectional: bool = attr(default=False, doc="also run backwards and concatenate")
    bias: bool = attr(default=True)

    @property
    def directions(self) -> int:
        return 2 if self.bidirectional else 1

    def infer_shape(self, x):
        x.expect("T, F")
        width = self.units * self.directions
        return Shape(x[0], width) if self.return_sequences else Shape(width)

    def params(self, x):
        g = self.gates * self.units
        for suffix in ("", "_reverse")[:self.directions]:
            yield Param(f"weight_ih_l0{suffix}", (g, x[1]))
            yield Param(f"weight_hh_l0{suffix}", (g, self.units))
            if self.bias:
                yield Param(f"bias_ih_l0{suffix}", (g,))
                yield Param(f"bias_hh_l0{suffix}", (g,))

    def macs(self, xs, y):
        t, f = xs[0]
        return self.directions * t * self.gates * self.units * (f + self.units)

    def receptive_field(self, rf, x):
        return Steps(x[0])

    def lower(self, x):
        present = {p.name for p in self.params(x)}
        names = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")
        names += tuple(n + "_reverse" for n in names)
        return [Op(self.kind, self.attrs(), tuple(n if n in present else None for n in names))]


@layer("rnn")
class SimpleRNN(Recurrent):
    """Elman RNN: h_t = act(W_ih x_t + b_ih + W_hh h_{t−1} + b_hh)."""

    activation: str = attr(default="tanh", choices=("tanh", "relu"))


@layer("lstm")
class LSTM(Recurrent):
    """Long short-term memory; gates in PyTorch's order i, f, g, o."""

    gates = 4


@layer("gru")
class GRU(Recurrent):
    """Gated recurrent unit; gates in PyTorch's order r, z, n."""

    gates = 3


@layer("highway", "dense")
class Highway(Layer):
    """Highway layer (Srivastava et al. 2015) on (F,): y = H(x)·T(x) + x·(1 − T(x)),
    H = act(W_H x + b_H), T = sigmoid(W_T x + b_T). Parameters plain.* and gate.*."""

    activation: str = attr(default="relu", choices=ACTIVATION_CHOICES, doc="of the plain path H")

    def infer_shape(self, x):
        return x.expect("F")

    def params(self, x):
        f = x[0]
        for part in ("plain", "gate"):
            yield Param(f"{part}.weight", (f, f))
            yield Param(f"{part}.bias", (f,))

    def macs(self, xs, y):
        return 2 * xs[0][0] ** 2

    def lower(self, x):
        return [Op("highway", self.attrs(), ("plain.weight", "plain.bias", "gate.weight", "gate.bias"))]

    def receptive_field(self, rf, x):
        from .base import Global
        return Global()
