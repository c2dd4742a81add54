"""CPU spatial transformer (NHWC inside) against the NumPy reference: float32 kernels, float64
oracle; x, y and their gradients cross the boundary with layout.to_internal / from_internal."""
import numpy as np
import pytest

from cnnc.runtime.cpu import spatial as cpu
from cnnc.runtime.cpu.layout import from_internal, to_internal
from cnnc.runtime.ops import RunContext

from ..reference.test_spatial import IDENTITY, away_from_kinks, near_identity
from .test_recurrent import assert_matches_reference


@pytest.mark.parametrize("shape, output, scale", [
    ((2, 2, 5, 6), (5, 6), 0.1),        # same size, small warp
    ((1, 3, 4, 5), (6, 3), 0.2),        # taller and narrower than the input
    ((2, 1, 4, 4), (5, 5), 0.6),        # larger output, large warp: many samples outside the input
    ((2, 3, 7, 6), (3, 4), 0.3),        # smaller output
])
def test_matches_reference(shape, output, scale):
    rng = np.random.default_rng(1)
    x = rng.standard_normal(shape)
    theta = near_identity(shape[0], rng, scale)
    assert away_from_kinks(x, theta, output)
    y = assert_matches_reference(cpu, "spatial_transformer", [x, theta], [], {"output": output})
    assert y.shape == shape[:2] + output


def test_output_size_defaults_to_the_input():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((1, 2, 3, 4))
    theta = near_identity(1, rng, 0.1)
    assert away_from_kinks(x, theta, (3, 4))
    assert assert_matches_reference(cpu, "spatial_transformer", [x, theta], [], {}).shape == x.shape


def test_identity_returns_the_input():
    x = np.random.default_rng(3).standard_normal((2, 3, 4, 5)).astype(np.float32)
    y, _ = cpu.spatial_transformer_fwd([to_internal("x", x), np.stack([IDENTITY] * 2)], [], {"output": (4, 5)},
                                       RunContext())
    np.testing.assert_allclose(from_internal("y", y), x, atol=1e-6)
