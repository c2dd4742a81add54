"""Graph convolution (Kipf & Welling 2017): Y = Â (X Wᵀ) + b, Â = D^−½ (A + I) D^−½.

Self-loops follow PyTorch Geometric's GCNConv (add_self_loops=True, which calls
add_remaining_self_loops): a node without a self-loop gets one of weight 1, a node that
already has one keeps its weight (it is neither replaced by 1 nor increased by 1). For a
0/1 adjacency this is simply "set the diagonal to 1". D is the row sum of that matrix.

The adjacency is read as symmetric, as the layer documents; row i of Â is what node i
aggregates. Â is dense here; the CPU kernel keeps the same values in CSR form.
"""
from __future__ import annotations

import numpy as np


def with_self_loops(adj: np.ndarray) -> np.ndarray:
    """A + I in PyG's sense: a missing self-loop becomes 1, an existing one is kept."""
    a = np.array(adj, copy=True)
    nodes = np.arange(a.shape[-1])
    diagonal = a[..., nodes, nodes]
    a[..., nodes, nodes] = np.where(diagonal != 0, diagonal, 1)
    return a


def normalized_adjacency(adj: np.ndarray) -> np.ndarray:
    """Â = D^−½ (A + I) D^−½ for adj (..., V, V)."""
    a = with_self_loops(adj)
    degree = a.sum(axis=-1)
    # a zero degree (possible only with negative weights) gives 0, as PyG's masked_fill of inf
    inv_sqrt = np.divide(1.0, np.sqrt(degree), out=np.zeros_like(degree), where=degree > 0)
    return inv_sqrt[..., :, None] * a * inv_sqrt[..., None, :]


def gcn_conv_fwd(xs, ps, attrs, ctx):
    x, adj = xs
    weight, bias = ps
    a_hat = normalized_adjacency(adj.astype(x.dtype))
    y = a_hat @ (x @ weight.T)
    return (y if bias is None else y + bias), (x, a_hat, weight, bias is not None)


def gcn_conv_bwd(saved, dy, attrs):
    x, a_hat, weight, has_bias = saved
    dxw = np.swapaxes(a_hat, -1, -2) @ dy                       # gradient of X Wᵀ
    dweight = _rows(dxw).T @ _rows(x)
    dbias = _rows(dy).sum(axis=0) if has_bias else None
    return [dxw @ weight, None], [dweight, dbias]


def _rows(a: np.ndarray) -> np.ndarray:
    """All nodes of all graphs as rows: (..., V, K) -> (·, K)."""
    return a.reshape(-1, a.shape[-1])
