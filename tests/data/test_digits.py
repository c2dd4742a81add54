"""The bundled digits and the datasets made from them (cnnc/data/digits.py, affine.py)."""
import hashlib

import numpy as np
import pytest

from cnnc.data import DataError, load_dataset
from cnnc.data.digits import DIGITS_FILE, digit_images

DIGITS_SHA256 = "b2dab7b501728c22e9119ad76740b2e17c77a231e42d1e592380d90886f1a05e"
PER_CLASS = [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]   # sklearn's load_digits


# ------------------------------------------------------------------ the bundled file
def test_bundled_file_is_the_one_in_sources_md():
    assert hashlib.sha256(DIGITS_FILE.read_bytes()).hexdigest() == DIGITS_SHA256


def test_bundled_digits_are_sklearns():
    with np.load(DIGITS_FILE) as bundle:
        images, labels = bundle["images"], bundle["labels"]
    assert images.shape == (1797, 8, 8) and images.dtype == np.uint8
    assert (images.min(), images.max()) == (0, 16)
    assert np.bincount(labels).tolist() == PER_CLASS
    assert labels[:10].tolist() == list(range(10))              # sklearn's order: 0, 1, 2, …
    assert images[0, 1].tolist() == [0, 0, 13, 15, 10, 15, 5, 0]  # the top of the first zero


def test_digit_images_are_scaled_to_unit_range():
    images, labels = digit_images()
    assert images.dtype == np.float32 and labels.dtype == np.int64
    assert (images.min(), images.max()) == (0.0, 1.0)


# ------------------------------------------------------------------ digits
@pytest.mark.parametrize("shape", [(1, 32, 32), (1, 28, 28), (3, 32, 32), (1, 8, 8), (1, 12, 20)])
def test_digits_take_the_specs_image_shape(shape):
    ds = load_dataset("digits", shape)
    for split in ds.splits.values():
        assert split.x.shape == (len(split), *shape) and split.x.dtype == np.float32
        assert split.y.dtype == np.int64
        assert 0.0 <= split.x.min() and split.x.max() <= 1.0
    assert ds.classes == 10 and ds.name == "digits" and ds.extra == {}


def test_digits_split_70_15_15():
    ds = load_dataset("digits", (1, 8, 8))
    assert [len(s) for s in ds.splits.values()] == [1257, 270, 270]


def test_digits_at_8x8_are_the_source_pixels():
    ds = load_dataset("digits", (1, 8, 8))
    images, _ = digit_images()
    assert any(np.array_equal(ds.train.x[0, 0], image) for image in images)


def test_three_channels_are_copies_of_the_grey():
    ds = load_dataset("digits", (3, 32, 32))
    assert np.array_equal(ds.train.x[:, 0], ds.train.x[:, 2])


def test_splits_are_disjoint_and_cover_every_digit():
    ds = load_dataset("digits", (1, 8, 8))                # no two of the 1,797 images are alike
    train, val, test = ({bytes(x) for x in s.x} for s in ds.splits.values())
    assert not (train & val or train & test or val & test)
    assert len(train | val | test) == 1797


def test_splits_are_stratified():
    ds = load_dataset("digits", (1, 8, 8))
    for name, share, slack in [("train", 0.70, 2), ("val", 0.15, 1), ("test", 0.15, 1)]:
        counts = np.bincount(ds.splits[name].y, minlength=10)
        assert np.all(np.abs(counts - share * np.array(PER_CLASS)) < slack), name


def test_splits_are_shuffled_not_sorted_by_class():
    y = load_dataset("digits", (1, 8, 8)).train.y
    assert not np.all(np.diff(y) >= 0)


def test_same_seed_same_splits_other_seed_other_splits():
    a, b = load_dataset("digits", (1, 8, 8), seed=3), load_dataset("digits", (1, 8, 8), seed=3)
    c = load_dataset("digits", (1, 8, 8), seed=4)
    assert np.array_equal(a.train.x, b.train.x) and np.array_equal(a.test.y, b.test.y)
    assert not np.array_equal(a.train.y, c.train.y)


def test_upscaling_keeps_the_picture():
    small, large = load_dataset("digits", (1, 8, 8)), load_dataset("digits", (1, 32, 32))
    block_means = large.train.x.reshape(-1, 8, 4, 8, 4).mean(axis=(2, 4))
    assert np.corrcoef(block_means.ravel(), small.train.x.ravel())[0, 1] > 0.95


@pytest.mark.parametrize("shape, message", [
    ((5, 4), "dataset 'digits': cannot make images of shape [5, 4]: images have 3 axes (C, H, W), this has 2"),
    ((64,), "dataset 'digits': cannot make images of shape [64]: images have 3 axes (C, H, W), this has 1"),
    ((2, 32, 32), "dataset 'digits': cannot make images with 2 channels: the images are grey, "
                  "so 1 channel, or 3 with the grey copied to each"),
    ((1, 4, 4), "dataset 'digits': cannot make images of 4×4: smaller than 8×8"),
])
def test_digits_refuse_shapes_they_cannot_become(shape, message):
    with pytest.raises(DataError) as e:
        load_dataset("digits", shape)
    assert str(e.value) == message + "\n  = help: images take an input [C, H, W] with C = 1 or 3 " \
                                     "and H, W ≥ 8, e.g. [1, 32, 32]"


# ------------------------------------------------------------------ digits-rows
def test_digits_rows_are_the_image_rows_as_time_steps():
    rows, images = load_dataset("digits-rows", (8, 8)), load_dataset("digits", (1, 8, 8))
    assert rows.train.x.shape == (1257, 8, 8) and rows.train.x.dtype == np.float32
    assert np.array_equal(rows.train.x, images.train.x[:, 0])       # same seed, same split
    assert np.array_equal(rows.test.y, images.test.y)


@pytest.mark.parametrize("shape", [(1, 8, 8), (64,), (8, 4), (4, 16)])
def test_digits_rows_need_8_by_8(shape):
    with pytest.raises(DataError, match=r"^dataset 'digits-rows': cannot make sequences of shape .*"
                                        r"each digit is 8 rows of 8 pixels\n  = help: give the spec input: \[8, 8\]"):
        load_dataset("digits-rows", shape)


# ------------------------------------------------------------------ digits-affine
@pytest.fixture(scope="module")
def affine():
    return load_dataset("digits-affine", (1, 32, 32))


def test_affine_digits_on_the_specs_canvas(affine):
    ds = affine
    assert [s.x.shape for s in ds.splits.values()] == [(1257, 1, 32, 32), (270, 1, 32, 32), (270, 1, 32, 32)]
    assert ds.train.x.dtype == np.float32 and 0.0 <= ds.train.x.min() and ds.train.x.max() <= 1.0
    assert np.array_equal(ds.test.y, load_dataset("digits", (1, 8, 8)).test.y)   # the same splits


def test_affine_digits_stay_whole_on_the_canvas(affine):
    x = affine.train.x[:, 0]
    border = np.concatenate([x[:, 0], x[:, -1], x[:, :, 0], x[:, :, -1]], axis=1)
    assert border.max() < 0.05


def test_affine_digits_move_around(affine):
    x = affine.train.x[:, 0]
    rows = np.arange(32)
    centre_of_ink = (x.sum(axis=2) * rows).sum(axis=1) / x.sum(axis=(1, 2))
    assert centre_of_ink.std() > 2 and centre_of_ink.min() < 12 and centre_of_ink.max() > 20


def test_affine_digits_keep_their_ink_up_to_scale(affine):
    plain = load_dataset("digits", (1, 16, 16)).train.x.sum(axis=(1, 2, 3))
    posed = affine.train.x.sum(axis=(1, 2, 3))
    ratio = posed / plain                        # digit area at scale s is (s · 16 px)², s in 0.7–1.2
    assert 0.7 ** 2 * 0.8 < ratio.min() and ratio.max() < 1.2 ** 2 * 1.2


def test_affine_digits_follow_the_seed(affine):
    assert np.array_equal(load_dataset("digits-affine", (1, 32, 32), seed=0).train.x, affine.train.x)
    assert not np.array_equal(load_dataset("digits-affine", (1, 32, 32), seed=1).train.x, affine.train.x)


def test_affine_digits_take_other_canvases_and_channels():
    ds = load_dataset("digits-affine", (3, 20, 24))
    assert ds.train.x.shape == (1257, 3, 20, 24)
    assert np.array_equal(ds.train.x[:, 0], ds.train.x[:, 1])


@pytest.mark.parametrize("shape, message", [
    ((1, 8, 8), "cannot make images of 8×8: smaller than 16×16"),
    ((4, 32, 32), "cannot make images with 4 channels"),
    ((32, 32), "cannot make images of shape [32, 32]"),
])
def test_affine_digits_refuse_shapes_they_cannot_become(shape, message):
    with pytest.raises(DataError) as e:
        load_dataset("digits-affine", shape)
    assert str(e.value).startswith(f"dataset 'digits-affine': {message}")
    assert "H, W ≥ 16" in e.value.help
