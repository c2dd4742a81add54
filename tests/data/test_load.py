"""load_dataset's dispatch, the registry, and the bilinear resize (cnnc/data/__init__.py, images.py)."""
import subprocess
import sys

import numpy as np
import pytest

from cnnc.data import DATASETS, DEFAULT_DATASET, DataError, load_dataset, summary
from cnnc.data.images import fit_images, resize_matrix


def test_registry_names_the_bundled_datasets():
    assert list(DATASETS) == ["digits", "digits-rows", "digits-affine", "karate"]
    assert DEFAULT_DATASET == "digits"
    assert summary("karate") == "Zachary's karate club: one graph of 34 members in 2 factions, for a GCN."


def test_every_summary_is_one_sentence():
    assert all(summary(name).endswith(".") for name in DATASETS)


def test_data_layer_never_imports_numba():
    code = "import sys, cnnc.data; cnnc.data.load_dataset('karate', (34, 34)); print('numba' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout == "False\n"


def test_a_list_shape_works_like_a_tuple():
    assert load_dataset("digits", [1, 8, 8]).train.x.shape[1:] == (1, 8, 8)


@pytest.mark.parametrize("name, message, help", [
    ("digts", "dataset 'digts': no dataset of that name and no such file",
     "did you mean 'digits'? Bundled: digits, digits-rows, digits-affine, karate; "
     "or give a path to an .npz or MNIST IDX files"),
    ("mnist", "dataset 'mnist': no dataset of that name and no such file",
     "cnnc bundles no mnist and never downloads; give the folder holding its IDX files, "
     "e.g. --data path/to/mnist/"),
    ("cifar", "dataset 'cifar': no dataset of that name and no such file",
     "bundled: digits, digits-rows, digits-affine, karate; or give a path to an .npz or MNIST IDX files"),
])
def test_unknown_names(name, message, help):
    with pytest.raises(DataError) as e:
        load_dataset(name, (1, 8, 8))
    assert (str(e.value), e.value.help) == (f"{message}\n  = help: {help}", help)


@pytest.mark.parametrize("shape", [(), (1, 0, 8), (1, -8, 8), (1.5, 8, 8), "1, 8, 8", (True, 8, 8)])
def test_input_shape_must_be_positive_whole_numbers(shape):
    with pytest.raises(DataError, match=r"^dataset 'digits': input shape must be whole numbers > 0, got "):
        load_dataset("digits", shape)


@pytest.mark.parametrize("seed", [-1, 1.5, None])
def test_seed_must_be_a_whole_number(seed):
    with pytest.raises(DataError, match=r"^dataset 'digits': seed must be a whole number ≥ 0, got "):
        load_dataset("digits", (1, 8, 8), seed=seed)


# ------------------------------------------------------------------ resizing
def test_same_size_is_the_identity():
    assert np.array_equal(resize_matrix(8, 8), np.eye(8, dtype=np.float32))


def test_resize_weights_sum_to_one():
    for n_in, n_out in [(8, 32), (28, 32), (28, 8), (8, 3)]:
        assert np.allclose(resize_matrix(n_in, n_out).sum(axis=1), 1.0)


def test_doubling_interpolates_between_pixel_centres():
    assert resize_matrix(2, 4).tolist() == [[1, 0], [0.75, 0.25], [0.25, 0.75], [0, 1]]


def test_halving_averages_neighbours():
    image = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    assert fit_images(image, (1, 2, 2)).shape == (1, 1, 2, 2)
    assert np.isclose(fit_images(image, (1, 2, 2)).mean(), image.mean())


def test_constant_images_stay_constant():
    assert np.allclose(fit_images(np.full((2, 1, 8, 8), 0.5, np.float32), (3, 28, 20)), 0.5)
