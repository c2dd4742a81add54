"""The user's own data: MNIST-style IDX files (MNIST, Fashion-MNIST, KMNIST…) and .npz
archives. Everything is checked; anything wrong is a DataError naming the file."""
from __future__ import annotations

import difflib
import gzip
import re
import zipfile
import zlib
from math import prod
from pathlib import Path

import numpy as np

from .base import DataError, Dataset, Split, format_shape
from .images import CHANNELS, fit_images, image_shape
from .split import assemble

FORMS = ("give a folder holding MNIST's four IDX files, one …-images-idx3-ubyte file (its "
         "labels file beside it), or an .npz with arrays x and y")

# ------------------------------------------------------------------ IDX (yann.lecun.com/exdb/mnist)
IDX_TYPES = {0x08: "unsigned bytes", 0x09: "signed bytes", 0x0B: "int16", 0x0C: "int32",
             0x0D: "float32", 0x0E: "float64"}
IDX_IMAGES = 0x00000803              # unsigned bytes, 3 axes: (N, H, W)
IDX_LABELS = 0x00000801              # unsigned bytes, 1 axis: (N,)
IDX_NAME = re.compile(r"^(?P<prefix>.+)-images[-.]idx3-ubyte(\.gz)?$")
IDX_SPELLINGS = ("{prefix}-{kind}-idx{axes}-ubyte", "{prefix}-{kind}.idx{axes}-ubyte")
MNIST_FOLDER = ("an MNIST folder holds train-images-idx3-ubyte, train-labels-idx1-ubyte, "
                "t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte, each maybe ending in .gz")
PIXEL_LEVELS = 255


def load_file(path: str, input_shape: tuple[int, ...], *, seed: int = 0) -> Dataset:
    """A Dataset from a folder of IDX files, an …-images-idx3-ubyte[.gz] file or an .npz."""
    p = Path(path)
    if p.is_dir():
        return load_idx(path, mnist_images(p), input_shape, seed)
    if not p.exists():
        raise DataError(path, "no such file or folder", FORMS)
    if p.name.endswith(".npz"):
        return load_npz(path, input_shape, seed)
    if IDX_NAME.match(p.name):
        return load_idx(path, p, input_shape, seed)
    if "labels" in p.name and "idx1" in p.name:
        raise DataError(path, "this is a labels file",
                        "give its images file (…-images-idx3-ubyte) or the folder holding both")
    raise DataError(path, "not a kind of file cnnc reads as data", FORMS)


def mnist_images(folder: Path) -> Path:
    """The training images file of an MNIST folder."""
    found = find_idx(folder, "train", "images")
    if found is None:
        raise DataError(str(folder), "no train-images-idx3-ubyte (or .gz) in this folder", MNIST_FOLDER)
    return found


def load_idx(name: str, images: Path, input_shape, seed: int) -> Dataset:
    """The images file's pair as the training pool; for a train-… pair, t10k-… beside it
    (when there) is the test set. Missing splits are carved from the pool (see assemble)."""
    prefix = IDX_NAME.match(images.name)["prefix"]
    shape = image_shape(input_shape, str(images), min_side=1)
    pool = read_idx_pair(images.parent, prefix, shape)
    has_test = prefix == "train" and (find_idx(images.parent, "t10k", "images") or
                                      find_idx(images.parent, "t10k", "labels"))
    test = read_idx_pair(images.parent, "t10k", shape) if has_test else None
    return assemble(name, pool, test=test, seed=seed)


def find_idx(folder: Path, prefix: str, kind: str) -> Path | None:
    """`prefix`'s images or labels file in `folder`, spelt with - or . and maybe gzipped."""
    axes = 3 if kind == "images" else 1
    for spelling in IDX_SPELLINGS:
        for suffix in ("", ".gz"):
            path = folder / (spelling.format(prefix=prefix, kind=kind, axes=axes) + suffix)
            if path.is_file():
                return path
    return None


def read_idx_pair(folder: Path, prefix: str, shape: tuple[int, int, int]) -> Split:
    """Images (scaled to [0, 1], fitted to `shape`) and their labels."""
    images_at, labels_at = find_idx(folder, prefix, "images"), find_idx(folder, prefix, "labels")
    if images_at is None:
        raise DataError(str(labels_at), f"no images file beside it: expected {prefix}-images-idx3-ubyte "
                                        f"(or .gz) in {folder}", MNIST_FOLDER)
    if labels_at is None:
        raise DataError(str(images_at), f"no labels file beside it: expected {prefix}-labels-idx1-ubyte "
                                        f"(or .gz) in {folder}", MNIST_FOLDER)
    images = read_idx(images_at, IDX_IMAGES, "images")
    labels = read_idx(labels_at, IDX_LABELS, "labels")
    if len(images) != len(labels):
        raise DataError(str(labels_at), f"{len(labels)} labels for the {len(images)} images "
                                        f"in {images_at.name}", "the two files must come from the same set")
    pixels = images[:, None].astype(np.float32) / PIXEL_LEVELS
    return Split(fit_images(pixels, shape), labels.astype(np.int64))


def read_idx(path: Path, magic: int, what: str) -> np.ndarray:
    """An IDX array whose magic number must be `magic`; header and length checked."""
    data = read_bytes(path)
    if len(data) < 4:
        raise DataError(str(path), f"truncated: {len(data)} bytes, too short for an IDX header")
    found = int.from_bytes(data[:4], "big")
    if found != magic:
        seen = f"({idx_kind(found)})" if idx_kind(found) else "is not an IDX header"
        raise DataError(str(path), f"magic number 0x{found:08X} {seen}, but {what} need "
                                   f"0x{magic:08X} ({idx_kind(magic)})", MNIST_FOLDER)
    axes = magic & 0xFF
    header = 4 + 4 * axes
    if len(data) < header:
        raise DataError(str(path), f"truncated: {len(data)} bytes, shorter than its {header}-byte header")
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(axes))
    expected, body = prod(shape), len(data) - header
    sizes = " × ".join(map(str, shape))
    if body < expected:
        raise DataError(str(path), f"truncated: {body} bytes of data, its header promises "
                                   f"{expected} ({sizes})", "download or unpack the file again")
    if body > expected:
        raise DataError(str(path), f"{body - expected} bytes more than its header promises "
                                   f"({expected}: {sizes})", "the file is damaged; download it again")
    return np.frombuffer(data, np.uint8, expected, header).reshape(shape)


def idx_kind(magic: int) -> str | None:
    """What an IDX magic number declares, e.g. 'unsigned bytes, 3 axes'; None if not IDX."""
    code, axes = (magic >> 8) & 0xFF, magic & 0xFF
    if magic >> 16 != 0 or code not in IDX_TYPES:
        return None
    return f"{IDX_TYPES[code]}, {axes} ax{'is' if axes == 1 else 'es'}"


def read_bytes(path: Path) -> bytes:
    """The file's bytes, gunzipped when it ends in .gz."""
    try:
        data = path.read_bytes()
        return gzip.decompress(data) if path.name.endswith(".gz") else data
    except (OSError, EOFError, zlib.error) as e:
        kind = "gzip file" if path.name.endswith(".gz") else "file"
        raise DataError(str(path), f"cannot read this {kind}: {getattr(e, 'strerror', None) or e}") from None


# ------------------------------------------------------------------ .npz
NPZ_SPLITS = {"train": ("x", "y"), "val": ("x_val", "y_val"), "test": ("x_test", "y_test")}
NPZ_KEYS = [key for pair in NPZ_SPLITS.values() for key in pair]
NPZ_HELP = ("write it with np.savez(path, x=x, y=y), optionally with x_val, y_val, x_test, y_test; "
            "x uint8 pixels (0–255, scaled to [0, 1]), float (used as is) or integer tokens, "
            "y integer class indices (N,)")


def load_npz(path: str, input_shape: tuple[int, ...], seed: int) -> Dataset:
    """The archive's x, y as the training pool, with x_val/y_val and x_test/y_test as
    those splits when present; missing splits are carved from the pool (see assemble)."""
    arrays = read_npz(path)
    check_npz_keys(path, arrays)
    given = {split: npz_split(path, arrays, x_key, y_key, input_shape)
             for split, (x_key, y_key) in NPZ_SPLITS.items() if x_key in arrays}
    return assemble(path, given["train"], val=given.get("val"), test=given.get("test"), seed=seed)


def read_npz(path: str) -> dict[str, np.ndarray]:
    """Every array of the archive, refusing pickled objects."""
    try:
        archive = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile):
        raise DataError(path, "not a readable .npz archive: not a zip of arrays, or damaged or cut short",
                        NPZ_HELP) from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DataError(path, "holds a single array (.npy), not named arrays x and y", NPZ_HELP)
    with archive:
        arrays = {}
        for key in archive.files:
            try:
                arrays[key] = archive[key]
            except ValueError:
                raise DataError(path, f"array '{key}' holds Python objects, which cnnc never unpickles",
                                NPZ_HELP) from None
            except (OSError, EOFError, zipfile.BadZipFile, zlib.error):
                raise DataError(path, f"array '{key}' is damaged or cut short", NPZ_HELP) from None
        return arrays


def check_npz_keys(path: str, arrays: dict) -> None:
    """Only known names; x with y, x_val with y_val, x_test with y_test."""
    for key in arrays:
        if key not in NPZ_KEYS:
            near = difflib.get_close_matches(key, NPZ_KEYS, n=1)
            raise DataError(path, f"unknown array '{key}'",
                            f"did you mean '{near[0]}'?" if near else NPZ_HELP)
    if not arrays:
        raise DataError(path, "holds no arrays", NPZ_HELP)
    for x_key, y_key in NPZ_SPLITS.values():
        if (x_key in arrays) != (y_key in arrays):
            has, lacks = (x_key, y_key) if x_key in arrays else (y_key, x_key)
            raise DataError(path, f"has '{has}' but no '{lacks}'", NPZ_HELP)
    if "x" not in arrays:
        raise DataError(path, "has no training arrays 'x' and 'y'", NPZ_HELP)


def npz_split(path: str, arrays: dict, x_key: str, y_key: str, input_shape) -> Split:
    x = npz_examples(path, x_key, arrays[x_key], input_shape)
    y = npz_labels(path, y_key, arrays[y_key])
    if len(x) != len(y):
        raise DataError(path, f"'{x_key}' holds {len(x)} examples but '{y_key}' {len(y)} labels",
                        "give one label per example")
    return Split(x, y)


def npz_examples(path: str, key: str, x: np.ndarray, input_shape: tuple[int, ...]) -> np.ndarray:
    """uint8 → pixels / 255; float → float32 as is; other integers → int64 tokens. Images
    (N, H, W) or (N, C, H, W) are fitted to an image input; anything else must match it."""
    if x.ndim == 0 or len(x) == 0:
        raise DataError(path, f"array '{key}' holds no examples", NPZ_HELP)
    if x.dtype.kind not in "uif":
        raise DataError(path, f"array '{key}' has dtype {x.dtype}, not numbers", NPZ_HELP)
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        where = tuple(int(i) for i in np.argwhere(~np.isfinite(x))[0])
        raise DataError(path, f"array '{key}' holds NaN or infinity, first at {key}[{', '.join(map(str, where))}]")
    if x.dtype.kind in "iu" and x.dtype != np.uint8:
        return npz_tokens(path, key, x, input_shape)
    values = x.astype(np.float32) / PIXEL_LEVELS if x.dtype == np.uint8 else x.astype(np.float32)
    if values.shape[1:] == tuple(input_shape):
        return values
    return npz_images(path, key, values, input_shape)


def npz_tokens(path: str, key: str, x: np.ndarray, input_shape) -> np.ndarray:
    if x.shape[1:] != tuple(input_shape):
        raise DataError(path, f"array '{key}' holds integer tokens of shape {format_shape(x.shape[1:])}, "
                              f"the spec's input is {format_shape(input_shape)}",
                        "tokens are never resized; store pixels as uint8 (0–255) or float")
    return x.astype(np.int64)


def npz_images(path: str, key: str, values: np.ndarray, input_shape) -> np.ndarray:
    """Images (N, H, W) or (N, C, H, W) resized to the spec's (C, H, W); grey may become 3
    channels, colour may not become grey."""
    mismatch = (f"array '{key}' holds examples of shape {format_shape(values.shape[1:])}, "
                f"the spec's input is {format_shape(input_shape)}")
    fits = ("store x as (N, *input), or as images (N, H, W) or (N, C, H, W) with C = 1 or 3 "
            "for an image input (C, H, W), which cnnc resizes")
    images = values[:, None] if values.ndim == 3 else values
    if images.ndim != 4 or images.shape[1] not in CHANNELS or len(input_shape) != 3:
        raise DataError(path, mismatch, fits)
    shape = image_shape(input_shape, path, min_side=1)
    if images.shape[1] not in (1, shape[0]):
        raise DataError(path, f"{mismatch}: {images.shape[1]} channels cannot become {shape[0]}",
                        "convert the images to grey, or give the spec 3 channels")
    return fit_images(images, shape)


def npz_labels(path: str, key: str, y: np.ndarray) -> np.ndarray:
    """Class indices (N,) int64 from integers, or from floats that are whole numbers."""
    if y.ndim != 1:
        one_hot = " (one-hot? store y.argmax(1))" if y.ndim == 2 else ""
        raise DataError(path, f"array '{key}' has shape {format_shape(y.shape)}, labels are (N,){one_hot}",
                        "give one class index per example")
    if y.dtype.kind not in "iuf":
        raise DataError(path, f"array '{key}' has dtype {y.dtype}, labels are integers", NPZ_HELP)
    if y.dtype.kind == "f":
        bad = np.flatnonzero(~np.isfinite(y) | (y != np.round(y)))
        if len(bad):
            raise DataError(path, f"array '{key}' holds non-integer labels, e.g. {key}[{bad[0]}] = {y[bad[0]]}",
                            "labels are class indices 0, 1, 2, …")
    if len(y) and y.min() < 0:
        first = int(np.flatnonzero(y < 0)[0])
        raise DataError(path, f"array '{key}' holds a negative label, {key}[{first}] = {y[first]}",
                        "labels are class indices 0, 1, 2, …")
    return y.astype(np.int64)
