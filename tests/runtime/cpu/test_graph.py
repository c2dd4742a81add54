"""CPU graph convolution (sparse Â) against the NumPy reference: float32 kernels, float64 oracle."""
import numpy as np
import pytest

from cnnc.runtime.cpu import graph as cpu

from ..reference.test_graph import PATH3, random_graphs
from .test_recurrent import assert_matches_reference


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("bias", [True, False])
def test_matches_reference(weighted, bias):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 6, 3))
    adj = random_graphs(rng, 3, 6, weighted)
    adj[:, 0, 0] = 2.0 if weighted else 1.0          # an existing self-loop keeps its weight
    adj[1, 4, :] = adj[1, :, 4] = 0                   # an isolated node
    ps = [rng.standard_normal((4, 3)), rng.standard_normal(4) if bias else None]
    y = assert_matches_reference(cpu, "gcn_conv", [x, adj], ps, {})
    assert y.shape == (3, 6, 4)


def test_directed_graph_backward_uses_the_transpose():
    """Â is not symmetric here, so Âᵀ dY differs from Â dY."""
    rng = np.random.default_rng(2)
    adj = (rng.random((2, 5, 5)) < 0.4) * (rng.random((2, 5, 5)) + 0.5)
    assert not np.allclose(adj, np.swapaxes(adj, 1, 2))
    assert_matches_reference(cpu, "gcn_conv", [rng.standard_normal((2, 5, 3)), adj],
                             [rng.standard_normal((2, 3)), rng.standard_normal(2)], {})


def test_negative_weights_giving_zero_degree():
    """Node 0: self-loop 1 and an edge of weight −1, degree 0: its Â row and column are 0."""
    rng = np.random.default_rng(3)
    adj = np.array([[[0.0, -1, 0], [-1, 0, 1], [0, 1, 0]]])
    assert_matches_reference(cpu, "gcn_conv", [rng.standard_normal((1, 3, 2)), adj],
                             [rng.standard_normal((2, 2)), None], {})


def test_integer_adjacency_of_a_path():
    rng = np.random.default_rng(4)
    assert_matches_reference(cpu, "gcn_conv", [rng.standard_normal((1, 3, 2)), PATH3[None].astype(np.int64)],
                             [rng.standard_normal((3, 2)), rng.standard_normal(3)], {})
