"""Images to the spec's input shape (C, H, W): bilinear resize, grey replicated to 3 channels."""
from __future__ import annotations

import numpy as np

from .base import DataError, format_shape

CHANNELS = (1, 3)                    # grey, or grey replicated to RGB


def image_shape(input_shape: tuple[int, ...], where: str, *, min_side: int) -> tuple[int, int, int]:
    """The (C, H, W) that images from `where` become, or a DataError saying which shapes work."""
    works = f"images take an input [C, H, W] with C = 1 or 3 and H, W ≥ {min_side}, e.g. [1, 32, 32]"
    if len(input_shape) != 3:
        raise DataError(where, f"cannot make images of shape {format_shape(input_shape)}: "
                               f"images have 3 axes (C, H, W), this has {len(input_shape)}", works)
    c, h, w = input_shape
    if c not in CHANNELS:
        raise DataError(where, f"cannot make images with {c} channels: the images are grey, "
                               "so 1 channel, or 3 with the grey copied to each", works)
    if min(h, w) < min_side:
        raise DataError(where, f"cannot make images of {h}×{w}: smaller than {min_side}×{min_side}", works)
    return c, h, w


def fit_images(images: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """(N, c, h, w) float32 with c = 1 or c = C → (N, C, H, W) float32: each image resized
    bilinearly (antialiased when shrinking), grey copied to every channel."""
    c, h, w = shape
    rows, cols = resize_matrix(images.shape[-2], h), resize_matrix(images.shape[-1], w)
    resized = rows @ images @ cols.T
    if resized.shape[1] != c:
        resized = np.repeat(resized, c, axis=1)
    return np.ascontiguousarray(resized, dtype=np.float32)


def resize_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) weights of 1-D bilinear resampling with pixel centres aligned as PIL,
    OpenCV and PyTorch (align_corners=False) do: a tent filter, widened to the scale when
    shrinking so every input pixel counts; weights past the edge fold back onto it.
    Same size gives the identity."""
    scale = n_in / n_out
    support = max(scale, 1.0)
    centres = (np.arange(n_out) + 0.5) * scale - 0.5
    weights = np.maximum(0.0, 1.0 - np.abs(np.arange(n_in)[None, :] - centres[:, None]) / support)
    return (weights / weights.sum(axis=1, keepdims=True)).astype(np.float32)
