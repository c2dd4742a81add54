"""The bundled digits: UCI's optical-recognition digits as scikit-learn ships them (1,797
8×8 grey images, pixel counts 0–16, 10 classes). Source and licence: SOURCES.md."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .base import DataError, Dataset, Split, format_shape
from .images import fit_images, image_shape
from .split import assemble

DIGITS_FILE = Path(__file__).with_name("digits.npz")   # images uint8 (1797, 8, 8), labels uint8
LEVELS = 16                          # each pixel counts the ink in a 4×4 block: 0..16
ROWS = (8, 8)                        # digits-rows: 8 time steps of 8 features


def digit_images() -> tuple[np.ndarray, np.ndarray]:
    """The bundled images, (1797, 8, 8) float32 in [0, 1], and labels, (1797,) int64."""
    with np.load(DIGITS_FILE) as bundle:
        return bundle["images"].astype(np.float32) / LEVELS, bundle["labels"].astype(np.int64)


def digits(input_shape: tuple[int, ...], *, seed: int = 0) -> Dataset:
    """Handwritten digits: 1,797 8×8 images in 10 classes, as images (C, H, W).

    Values in [0, 1] (pixel count / 16), resized bilinearly to H×W (the digit fills the
    frame, as in the source; H, W ≥ 8), grey copied to each channel when C = 3.
    Splits: 70/15/15 % of each class (1,257/270/270), seeded."""
    shape = image_shape(input_shape, "dataset 'digits'", min_side=8)
    images, labels = digit_images()
    return assemble("digits", Split(fit_images(images[:, None], shape), labels), seed=seed, classes=10)


def digits_rows(input_shape: tuple[int, ...], *, seed: int = 0) -> Dataset:
    """The digits as sequences for recurrent specs: 8 time steps of 8 pixels, input [8, 8].

    Time step t is the image's row t (top first), values in [0, 1]. Same splits as `digits`."""
    if tuple(input_shape) != ROWS:
        raise DataError("dataset 'digits-rows'",
                        f"cannot make sequences of shape {format_shape(input_shape)}: "
                        "each digit is 8 rows of 8 pixels",
                        "give the spec input: [8, 8] (8 time steps of 8 features), "
                        "or use --data digits for images")
    images, labels = digit_images()
    return assemble("digits-rows", Split(images, labels), seed=seed, classes=10)
