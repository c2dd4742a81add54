"""Graph convolution (Kipf & Welling 2017)."""
from __future__ import annotations

from .activation import ACTIVATION_CHOICES
from .base import INITS, Hops, Layer, LayerError, Op, Param, Shape, activation_ops, attr, layer


@layer("gcn_conv", "graph")
class GCNConv(Layer):
    """Y = Â X W + b with Â = D^−½ (A + I) D^−½ (self-loops added, symmetric normalisation).
    Inputs: node features X (N, F) and adjacency A (N, N). weight is (units, F) as in PyTorch.
    MACs count Â as dense (N²·units); a sparse kernel does nnz·units."""

    arity = (2, 2)
    units: int = attr(min=1, doc="output features per node")
    bias: bool = attr(default=True)
    activation: str = attr(default="none", choices=ACTIVATION_CHOICES)
    init: str = attr(default="auto", choices=INITS, doc="weight initialiser; auto is Xavier (Kipf & Welling)")

    def infer_shape(self, x, adj):
        x.expect("nodes, F")
        if adj.rank != 2 or adj[0] != adj[1]:
            raise LayerError(f"second input must be a square adjacency (N, N), got {adj.batched()}",
                             help="wire it as `inputs: [features, adjacency]`")
        self.require(adj[0] == x[0], f"adjacency is {adj[0]}×{adj[1]} but the features have {x[0]} nodes")
        return Shape(x[0], self.units)

    def params(self, x, adj):
        yield Param("weight", (self.units, x[1]))
        if self.bias:
            yield Param("bias", (self.units,))

    def macs(self, xs, y):
        (n, f), _ = xs
        return n * f * self.units + n * n * self.units

    def lower(self, x, adj):
        gcn = Op("gcn_conv", {}, ("weight", "bias" if self.bias else None))
        return [gcn, *activation_ops(self.activation, axis=-1)]

    def receptive_field(self, rf, x, adj):
        return Hops((rf.n if isinstance(rf, Hops) else 0) + 1)
