"""Graph convolution: the normalised adjacency by hand, PyG's values, finite differences.

Compared with PyTorch Geometric 2.8.1 GCNConv (dense adjacency via dense_to_sparse, one graph
at a time) on random 0/1 and weighted symmetric adjacencies with and without self-loops:
outputs and the gradients of x, weight and bias agreed to 3e-15."""
import numpy as np
import pytest

from cnnc.runtime.ops import RunContext
from cnnc.runtime.reference import graph as ref

from ..gradcheck import check_op

PATH3 = np.array([[0.0, 1, 0], [1, 0, 1], [0, 1, 0]])     # 0 — 1 — 2


def test_normalized_adjacency_of_a_path():
    """Self-loops give degrees 2, 3, 2; entry (i, j) is 1 / sqrt(d_i · d_j)."""
    s6 = 1 / np.sqrt(6)
    np.testing.assert_allclose(ref.normalized_adjacency(PATH3),
                               [[1 / 2, s6, 0], [s6, 1 / 3, s6], [0, s6, 1 / 2]])


def test_existing_self_loops_are_kept_as_pyg_does():
    """GCNConv's add_remaining_self_loops: a 0/1 diagonal of ones changes nothing; a weighted
    self-loop keeps its weight rather than becoming 1 or weight + 1."""
    np.testing.assert_allclose(ref.normalized_adjacency(PATH3 + np.eye(3)), ref.normalized_adjacency(PATH3))
    np.testing.assert_allclose(ref.with_self_loops(np.array([[2.0, 1], [1, 0]])), [[2, 1], [1, 1]])


def test_weighted_self_loop_matches_pyg():
    """PyG GCNConv(1, 1, bias=False), weight 1: Ã = [[2, 1], [1, 1]], degrees 3 and 2."""
    x = np.array([[[1.0], [0.0]]])
    adj = np.array([[[2.0, 1], [1, 0]]])
    y, _ = ref.gcn_conv_fwd([x, adj], [np.ones((1, 1)), None], {}, RunContext())
    np.testing.assert_allclose(y.ravel(), [2 / 3, 1 / np.sqrt(6)])


def test_isolated_node_sees_only_itself():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 3, 4))
    weight, bias = rng.standard_normal((2, 4)), rng.standard_normal(2)
    adj = np.zeros((1, 3, 3))
    adj[0, 0, 1] = adj[0, 1, 0] = 1                             # node 2 has no edges
    y, _ = ref.gcn_conv_fwd([x, adj], [weight, bias], {}, RunContext())
    np.testing.assert_allclose(y[0, 2], x[0, 2] @ weight.T + bias)


def random_graphs(rng, n, nodes, weighted):
    upper = np.triu(rng.random((n, nodes, nodes)) < 0.5, 1) * (rng.random((n, nodes, nodes)) + 0.5 if weighted else 1)
    return upper + np.swapaxes(upper, 1, 2)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("bias", [True, False])
def test_gradients(weighted, bias):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 5, 3))
    adj = random_graphs(rng, 2, 5, weighted)
    ps = [rng.standard_normal((4, 3)), rng.standard_normal(4) if bias else None]
    y = check_op(ref.gcn_conv_fwd, ref.gcn_conv_bwd, [x, adj], ps, {})
    assert y.shape == (2, 5, 4)
    _, saved = ref.gcn_conv_fwd([x, adj], ps, {}, RunContext())
    (_, dadj), (_, dbias) = ref.gcn_conv_bwd(saved, y, {})
    assert dadj is None and (dbias is None) == (not bias)


def test_keeps_float32():
    x = np.ones((1, 3, 2), dtype=np.float32)
    y, _ = ref.gcn_conv_fwd([x, PATH3[None]], [np.ones((2, 2), np.float32), None], {}, RunContext())
    assert y.dtype == np.float32
