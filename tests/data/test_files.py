"""The user's own data: MNIST-style IDX files and .npz archives (cnnc/data/files.py)."""
import gzip
import zipfile

import numpy as np
import pytest

from cnnc.data import DataError, load_dataset

IMAGES, LABELS = 0x00000803, 0x00000801


def idx_bytes(array: np.ndarray, magic: int | None = None) -> bytes:
    """An IDX file as MNIST's are written: magic, big-endian sizes, then the bytes."""
    magic = (0x0800 | array.ndim) if magic is None else magic
    header = magic.to_bytes(4, "big") + b"".join(n.to_bytes(4, "big") for n in array.shape)
    return header + array.astype(np.uint8).tobytes()


def mnist_like(n: int, seed: int = 0, size: int = 28):
    """n tiny 'digits': random images and labels cycling 0..9."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, size, size), dtype=np.uint8), (np.arange(n) % 10).astype(np.uint8)


def write_mnist(folder, *, train=100, test=40, gz=False):
    """A folder holding MNIST's four standard files (gzipped if asked)."""
    folder.mkdir(exist_ok=True)
    suffix, write = (".gz", gzip.compress) if gz else ("", bytes)
    for prefix, n in [("train", train), ("t10k", test)]:
        if n:
            images, labels = mnist_like(n, seed=n)
            (folder / f"{prefix}-images-idx3-ubyte{suffix}").write_bytes(write(idx_bytes(images)))
            (folder / f"{prefix}-labels-idx1-ubyte{suffix}").write_bytes(write(idx_bytes(labels)))
    return folder


def error_for(path, shape=(1, 28, 28)) -> DataError:
    with pytest.raises(DataError) as e:
        load_dataset(str(path), shape)
    return e.value


# ------------------------------------------------------------------ IDX: what loads
@pytest.mark.parametrize("gz", [False, True])
def test_an_mnist_folder(tmp_path, gz):
    ds = load_dataset(str(write_mnist(tmp_path / "mnist", gz=gz)), (1, 28, 28))
    assert [len(s) for s in ds.splits.values()] == [85, 15, 40]   # val: 15 % of train; test: t10k
    assert ds.train.x.dtype == np.float32 and ds.train.y.dtype == np.int64
    assert ds.classes == 10 and ds.name == str(tmp_path / "mnist")


def test_pixels_are_scaled_to_unit_range_unchanged_otherwise(tmp_path):
    write_mnist(tmp_path, train=0, test=0)
    images, labels = mnist_like(20)
    (tmp_path / "train-images-idx3-ubyte").write_bytes(idx_bytes(images))
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(idx_bytes(labels))
    ds = load_dataset(str(tmp_path), (1, 28, 28))
    loaded = np.concatenate([s.x for s in ds.splits.values()])[:, 0]
    assert sorted(map(bytes, (loaded * 255).round().astype(np.uint8))) == sorted(map(bytes, images))


def test_the_test_set_is_t10k_as_is(tmp_path):
    ds = load_dataset(str(write_mnist(tmp_path)), (1, 28, 28))
    images, labels = mnist_like(40, seed=40)
    assert np.array_equal(ds.test.y, labels) and np.allclose(ds.test.x[:, 0], images / 255)


def test_one_images_file_brings_its_labels_and_the_test_pair(tmp_path):
    write_mnist(tmp_path)
    ds = load_dataset(str(tmp_path / "train-images-idx3-ubyte"), (3, 32, 32))
    assert ds.train.x.shape == (85, 3, 32, 32) and len(ds.test) == 40


def test_a_pair_alone_is_split_70_15_15(tmp_path):
    write_mnist(tmp_path, test=0)
    ds = load_dataset(str(tmp_path / "train-images-idx3-ubyte"), (1, 28, 28))
    assert [len(s) for s in ds.splits.values()] == [70, 15, 15]


def test_windows_style_names_load_too(tmp_path):
    images, labels = mnist_like(20)
    (tmp_path / "train-images.idx3-ubyte").write_bytes(idx_bytes(images))
    (tmp_path / "train-labels.idx1-ubyte").write_bytes(idx_bytes(labels))
    assert sum(len(s) for s in load_dataset(str(tmp_path), (1, 28, 28)).splits.values()) == 20


def test_mnist_resized_for_lenet5(tmp_path):
    ds = load_dataset(str(write_mnist(tmp_path)), (1, 32, 32))
    assert ds.train.x.shape == (85, 1, 32, 32) and 0 <= ds.train.x.min() and ds.train.x.max() <= 1


# ------------------------------------------------------------------ IDX: every way it can be wrong
def test_missing_file(tmp_path):
    e = error_for(tmp_path / "nowhere" / "train-images-idx3-ubyte")
    assert e.message == "no such file or folder" and e.where.endswith("train-images-idx3-ubyte")


def test_folder_without_mnist_files(tmp_path):
    e = error_for(tmp_path)
    assert str(e) == (f"{tmp_path}: no train-images-idx3-ubyte (or .gz) in this folder\n  = help: an MNIST "
                      "folder holds train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte "
                      "and t10k-labels-idx1-ubyte, each maybe ending in .gz")


def test_images_without_labels(tmp_path):
    write_mnist(tmp_path)
    (tmp_path / "train-labels-idx1-ubyte").unlink()
    e = error_for(tmp_path)
    assert e.where == str(tmp_path / "train-images-idx3-ubyte")
    assert e.message == f"no labels file beside it: expected train-labels-idx1-ubyte (or .gz) in {tmp_path}"


def test_test_labels_without_test_images(tmp_path):
    write_mnist(tmp_path)
    (tmp_path / "t10k-images-idx3-ubyte").unlink()
    e = error_for(tmp_path)
    assert e.where == str(tmp_path / "t10k-labels-idx1-ubyte")
    assert e.message.startswith("no images file beside it: expected t10k-images-idx3-ubyte")


def test_labels_file_given_for_images(tmp_path):
    write_mnist(tmp_path)
    e = error_for(tmp_path / "train-labels-idx1-ubyte")
    assert (e.message, e.help) == ("this is a labels file",
                                   "give its images file (…-images-idx3-ubyte) or the folder holding both")


def test_a_file_of_another_kind(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    assert error_for(tmp_path / "notes.txt").message == "not a kind of file cnnc reads as data"


@pytest.mark.parametrize("which, content, message", [
    ("train-images-idx3-ubyte", b"\x89PNG\r\n\x1a\n",
     "magic number 0x89504E47 is not an IDX header, but images need 0x00000803 (unsigned bytes, 3 axes)"),
    ("train-images-idx3-ubyte", idx_bytes(np.zeros(5)),
     "magic number 0x00000801 (unsigned bytes, 1 axis), but images need 0x00000803 (unsigned bytes, 3 axes)"),
    ("train-labels-idx1-ubyte", idx_bytes(np.zeros((5, 2, 2))),
     "magic number 0x00000803 (unsigned bytes, 3 axes), but labels need 0x00000801 (unsigned bytes, 1 axis)"),
    ("train-images-idx3-ubyte", idx_bytes(np.zeros((5, 2, 2)), magic=0x00000D03),   # wrong dtype: float32
     "magic number 0x00000D03 (float32, 3 axes), but images need 0x00000803 (unsigned bytes, 3 axes)"),
    ("train-images-idx3-ubyte", b"\x00\x00",
     "truncated: 2 bytes, too short for an IDX header"),
    ("train-images-idx3-ubyte", idx_bytes(np.zeros((5, 2, 2)))[:10],
     "truncated: 10 bytes, shorter than its 16-byte header"),
    ("train-images-idx3-ubyte", idx_bytes(np.zeros((5, 2, 2)))[:-3],
     "truncated: 17 bytes of data, its header promises 20 (5 × 2 × 2)"),
    ("train-labels-idx1-ubyte", idx_bytes(np.zeros(5)) + b"\x00",
     "1 bytes more than its header promises (5: 5)"),
])
def test_malformed_idx_files(tmp_path, which, content, message):
    images, labels = np.zeros((5, 2, 2), np.uint8), np.zeros(5, np.uint8)
    (tmp_path / "train-images-idx3-ubyte").write_bytes(idx_bytes(images))
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(idx_bytes(labels))
    (tmp_path / which).write_bytes(content)
    e = error_for(tmp_path, (1, 2, 2))
    assert (e.where, e.message) == (str(tmp_path / which), message)


def test_label_count_must_match_image_count(tmp_path):
    (tmp_path / "train-images-idx3-ubyte").write_bytes(idx_bytes(np.zeros((5, 2, 2))))
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(4)))
    e = error_for(tmp_path, (1, 2, 2))
    assert str(e) == (f"{tmp_path / 'train-labels-idx1-ubyte'}: 4 labels for the 5 images in "
                      "train-images-idx3-ubyte\n  = help: the two files must come from the same set")


def test_broken_gzip(tmp_path):
    write_mnist(tmp_path, gz=True)
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(b"\x1f\x8b\x08\x00garbage")
    e = error_for(tmp_path)
    assert e.where.endswith("train-labels-idx1-ubyte.gz") and e.message.startswith("cannot read this gzip file: ")


def test_images_need_an_image_shape(tmp_path):
    write_mnist(tmp_path)
    e = error_for(tmp_path, (8, 8))
    assert e.where == str(tmp_path / "train-images-idx3-ubyte")
    assert e.message == "cannot make images of shape [8, 8]: images have 3 axes (C, H, W), this has 2"


# ------------------------------------------------------------------ .npz: what loads
def write_npz(path, **arrays):
    np.savez(path, **arrays)
    return str(path)


def test_npz_with_x_and_y_is_split_70_15_15(tmp_path):
    x, y = np.random.default_rng(0).random((200, 8, 8), dtype=np.float32), np.arange(200) % 4
    ds = load_dataset(write_npz(tmp_path / "d.npz", x=x, y=y), (8, 8))
    assert [len(s) for s in ds.splits.values()] == [140, 30, 30]
    assert ds.classes == 4 and ds.train.x.dtype == np.float32 and ds.train.y.dtype == np.int64
    rows = {bytes(r) for r in x}
    assert all(bytes(r) in rows for r in ds.val.x)                # floats are used as they are


def test_npz_with_every_split_keeps_them(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {f"x{s}": rng.random((n, 5), dtype=np.float32) for s, n in [("", 30), ("_val", 7), ("_test", 9)]}
    arrays |= {f"y{s}": np.arange(n) % 3 for s, n in [("", 30), ("_val", 7), ("_test", 9)]}
    ds = load_dataset(write_npz(tmp_path / "d.npz", **arrays), (5,))
    assert [len(s) for s in ds.splits.values()] == [30, 7, 9]
    assert np.array_equal(ds.test.x, arrays["x_test"]) and np.array_equal(ds.val.y, arrays["y_val"])


def test_npz_with_a_test_split_carves_validation_from_training(tmp_path):
    x, y = np.zeros((100, 5), np.float32), np.arange(100) % 2
    ds = load_dataset(write_npz(tmp_path / "d.npz", x=x, y=y, x_test=x[:10], y_test=y[:10]), (5,))
    assert [len(s) for s in ds.splits.values()] == [85, 15, 10]    # 15 % of the training pool


def test_npz_uint8_images_are_scaled_resized_and_replicated(tmp_path):
    images = np.full((20, 28, 28), 255, np.uint8)
    ds = load_dataset(write_npz(tmp_path / "d.npz", x=images, y=np.arange(20) % 2), (3, 32, 32))
    assert ds.train.x.shape == (14, 3, 32, 32) and np.allclose(ds.train.x, 1.0)


def test_npz_integer_tokens_stay_integers(tmp_path):
    tokens = np.arange(60).reshape(20, 3) % 7
    ds = load_dataset(write_npz(tmp_path / "d.npz", x=tokens, y=np.arange(20) % 2), (3,))
    assert ds.train.x.dtype == np.int64 and ds.train.x.max() < 7


def test_npz_whole_float_labels_are_accepted(tmp_path):
    ds = load_dataset(write_npz(tmp_path / "d.npz", x=np.zeros((20, 2)), y=np.arange(20.0) % 2), (2,))
    assert ds.train.y.dtype == np.int64 and ds.classes == 2


# ------------------------------------------------------------------ .npz: every way it can be wrong
X, Y = np.zeros((10, 4), np.float32), np.arange(10) % 2


@pytest.mark.parametrize("arrays, message", [
    ({"X": X, "y": Y}, "unknown array 'X'"),
    ({"x": X, "y": Y, "x_tset": X, "y_test": Y}, "unknown array 'x_tset'"),
    ({}, "holds no arrays"),
    ({"x": X}, "has 'x' but no 'y'"),
    ({"x": X, "y": Y, "y_val": Y}, "has 'y_val' but no 'x_val'"),
    ({"x_test": X, "y_test": Y}, "has no training arrays 'x' and 'y'"),
    ({"x": X, "y": Y[:9]}, "'x' holds 10 examples but 'y' 9 labels"),
    ({"x": X[:0], "y": Y[:0]}, "array 'x' holds no examples"),
    ({"x": X.astype(bool), "y": Y}, "array 'x' has dtype bool, not numbers"),
    ({"x": X.astype(str), "y": Y}, "array 'x' has dtype <U32, not numbers"),
    ({"x": np.where(np.eye(10, 4) > 0, np.nan, X), "y": Y}, "array 'x' holds NaN or infinity, first at x[0, 0]"),
    ({"x": X, "y": Y + 0.5}, "array 'y' holds non-integer labels, e.g. y[0] = 0.5"),
    ({"x": X, "y": Y - 1}, "array 'y' holds a negative label, y[0] = -1"),
    ({"x": X, "y": Y.astype(str)}, "array 'y' has dtype <U21, labels are integers"),
    ({"x": X, "y": np.eye(10, 2)}, "array 'y' has shape [10, 2], labels are (N,) (one-hot? store y.argmax(1))"),
    ({"x": np.zeros((10, 3)), "y": Y}, "array 'x' holds examples of shape [3], the spec's input is [4]"),
    ({"x": np.zeros((10, 4), np.int32) , "y": Y, "x_val": np.zeros((10, 5), np.int32), "y_val": Y},
     "array 'x_val' holds integer tokens of shape [5], the spec's input is [4]"),
])
def test_malformed_npz(tmp_path, arrays, message):
    e = error_for(write_npz(tmp_path / "d.npz", **arrays), (4,))
    assert (e.where, e.message) == (str(tmp_path / "d.npz"), message)


def test_npz_unknown_array_gets_a_did_you_mean(tmp_path):
    e = error_for(write_npz(tmp_path / "d.npz", x=X, y=Y, x_tset=X, y_test=Y), (4,))
    assert e.help == "did you mean 'x_test'?"


def test_npz_colour_images_cannot_become_grey(tmp_path):
    e = error_for(write_npz(tmp_path / "d.npz", x=np.zeros((10, 3, 8, 8), np.uint8), y=Y), (1, 16, 16))
    assert e.message == ("array 'x' holds examples of shape [3, 8, 8], the spec's input is [1, 16, 16]: "
                         "3 channels cannot become 1")


def test_npz_with_pickled_objects(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, x=np.array([{"a": 1}] * 10, dtype=object), y=Y)
    e = error_for(path, (4,))
    assert e.message == "array 'x' holds Python objects, which cnnc never unpickles"


@pytest.mark.parametrize("cut", [lambda data: b"not a zip at all",
                                 lambda data: b"PK\x03\x04broken",
                                 lambda data: data[: len(data) // 2]])
def test_npz_that_is_not_an_archive_or_cut_short(tmp_path, cut):
    path = tmp_path / "d.npz"
    np.savez(path, x=X, y=Y)
    path.write_bytes(cut(path.read_bytes()))
    assert error_for(path, (4,)).message == "not a readable .npz archive: not a zip of arrays, or damaged or cut short"


def test_npz_with_a_damaged_array(tmp_path):
    path = tmp_path / "d.npz"
    np.savez_compressed(path, x=np.arange(400.0).reshape(100, 4), y=np.arange(100) % 2)
    data = bytearray(path.read_bytes())
    data[100:110] = b"\xff" * 10                                 # inside x's compressed bytes
    path.write_bytes(bytes(data))
    assert error_for(path, (4,)).message == "array 'x' is damaged or cut short"


def test_npy_saved_as_npz(tmp_path):
    with open(tmp_path / "d.npz", "wb") as f:
        np.save(f, X)
    assert error_for(tmp_path / "d.npz", (4,)).message == "holds a single array (.npy), not named arrays x and y"
