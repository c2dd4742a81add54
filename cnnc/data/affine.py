"""digits-affine: each digit rotated, scaled and moved on a larger blank canvas, after the
distorted-MNIST experiments of Jaderberg et al., "Spatial Transformer Networks" (2015).
A plain CNN must learn every pose; a spatial transformer can undo it first."""
from __future__ import annotations

import numpy as np

from .base import Dataset, Split
from .digits import digit_images
from .images import fit_images, image_shape
from .split import assemble, rng

ROTATION = np.radians(45.0)          # angle drawn uniformly from ±45°
SCALE = (0.7, 1.2)                   # size drawn uniformly from this range
DIGIT_SHARE = 0.5                    # at scale 1 the digit spans half the canvas's shorter side
MIN_SIDE = 16                        # smaller canvases leave a digit too few pixels


def digits_affine(input_shape: tuple[int, ...], *, seed: int = 0) -> Dataset:
    """The digits rotated ±45°, scaled 0.7–1.2 and moved on a blank (C, H, W) canvas.

    Each digit is drawn on a canvas of the spec's H×W (e.g. [1, 32, 32]; H, W ≥ 16): at
    scale 1 it spans half the canvas, and it is moved anywhere it stays whole. Bilinear
    sampling, zero outside the digit, values in [0, 1]. The poses follow from the seed
    alone; the splits are those of `digits`."""
    c, h, w = image_shape(input_shape, "dataset 'digits-affine'", min_side=MIN_SIDE)
    images, labels = digit_images()
    angle, magnification, offset = random_poses(len(images), (h, w), seed)
    canvases = draw_posed(images, angle, magnification, offset, (h, w))
    x = fit_images(canvases[:, None], (c, h, w))
    return assemble("digits-affine", Split(x, labels), seed=seed, classes=10)


def random_poses(n: int, canvas: tuple[int, int], seed: int):
    """Per digit: angle (radians), magnification (canvas pixels per digit pixel), and the
    offset (dy, dx) of its centre from the canvas centre, drawn so the whole digit stays on
    the canvas."""
    gen = rng(seed, "affine")
    angle = gen.uniform(-ROTATION, ROTATION, n)
    magnification = gen.uniform(*SCALE, n) * DIGIT_SHARE * min(canvas) / 8
    # bilinear ink reaches a digit pixel past the 8×8 grid's centres: 4.5 each side of its centre
    half_extent = 4.5 * magnification * (np.abs(np.cos(angle)) + np.abs(np.sin(angle))) + 0.5
    room = np.maximum(0.0, np.array(canvas)[None, :] / 2 - half_extent[:, None])   # (n, 2)
    offset = gen.uniform(-1.0, 1.0, (n, 2)) * room
    return angle, magnification, offset


def draw_posed(images: np.ndarray, angle, magnification, offset, canvas: tuple[int, int]) -> np.ndarray:
    """(N, 8, 8) digits → (N, H, W) canvases: each canvas pixel looks up where it falls in
    its digit (the inverse of the pose) and samples it bilinearly."""
    h, w = canvas
    rows, cols = np.mgrid[0:h, 0:w].astype(np.float32)
    centre = offset.astype(np.float32) + np.float32([(h - 1) / 2, (w - 1) / 2])
    dy = rows[None] - centre[:, 0, None, None]
    dx = cols[None] - centre[:, 1, None, None]
    cos, sin, m = (v.astype(np.float32)[:, None, None] for v in (np.cos(angle), np.sin(angle), magnification))
    src_row = 3.5 + (-sin * dx + cos * dy) / m
    src_col = 3.5 + (cos * dx + sin * dy) / m
    return bilinear_sample(images, src_row, src_col)


def bilinear_sample(images: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """images (N, h, w) sampled at fractional (rows, cols), each (N, H, W); zero outside."""
    n, h, w = images.shape
    padded = np.pad(images, ((0, 0), (1, 1), (1, 1))).ravel()     # a ring of zeros, flat
    stride = w + 2
    r = np.clip(rows + 1, 0, h + 1)
    c = np.clip(cols + 1, 0, w + 1)
    r0, c0 = np.minimum(np.floor(r), h), np.minimum(np.floor(c), w)
    fr, fc = r - r0, c - c0
    at = (np.arange(n) * (h + 2) * stride)[:, None, None] + r0.astype(np.int64) * stride + c0.astype(np.int64)
    top = padded[at] * (1 - fc) + padded[at + 1] * fc
    bottom = padded[at + stride] * (1 - fc) + padded[at + stride + 1] * fc
    return top * (1 - fr) + bottom * fr
