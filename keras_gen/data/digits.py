"""scikit-learn's handwritten digits as a small offline image dataset."""

import functools
import math
import numbers

import numpy as np

from keras_gen import _checks
from keras_gen.data.ranges import rescale

DIGITS_SPLITS = ("train", "test", "all")

_NUM_CLASSES = 10
_MAX_PIXEL = 16.0  # sklearn's digits are 8x8 counts in 0..16.


def _resize_matrix(out_size, in_size):
    """Linear-interpolation weights of shape `(out_size, in_size)`.

    Pixel centres are aligned as in `tf.image.resize` and PIL (half-pixel
    offsets). When shrinking, the triangle kernel is widened by the scale
    factor, which antialiases like PIL's bilinear filter; when enlarging it
    is plain bilinear interpolation with clamped edges.
    """
    scale = in_size / out_size
    support = max(1.0, scale)
    centres = (np.arange(out_size) + 0.5) * scale - 0.5
    distance = np.abs(np.arange(in_size)[None, :] - centres[:, None])
    weights = np.clip(1.0 - distance / support, 0.0, None)
    return weights / weights.sum(axis=1, keepdims=True)


@functools.lru_cache(maxsize=1)
def _raw_digits():
    """The 1797 sklearn digits as `(images in [0, 1], int32 labels)`."""
    from sklearn import datasets

    bunch = datasets.load_digits()
    images = bunch.images.astype("float64") / _MAX_PIXEL
    labels = bunch.target.astype("int32")
    labels.setflags(write=False)
    return images, labels


# The largest digits images (height * width): 256x256, 0.47 GB for all 1,797 in float32.
MAX_DIGITS_PIXELS = 256 * 256


@functools.lru_cache(maxsize=8)
def _resized_digits(height, width):
    """All digits resized to `(height, width)`, NHWC float32 in [0, 1]."""
    images, _ = _raw_digits()
    rows = _resize_matrix(height, images.shape[1])
    cols = _resize_matrix(width, images.shape[2])
    resized = np.empty((len(images), height, width, 1), "float32")
    for start in range(0, len(images), 64):  # float64 work in chunks: peak ~ the float32 result
        part = np.einsum("hi,nij,wj->nhw", rows, images[start:start + 64], cols)
        resized[start:start + 64, ..., 0] = np.clip(part, 0.0, 1.0)
    resized.setflags(write=False)
    return resized


@functools.lru_cache(maxsize=16)
def _split_indices(test_fraction, seed):
    """Stratified `(train_indices, test_indices)` for a fraction and seed."""
    from sklearn.model_selection import train_test_split

    _, labels = _raw_digits()
    train, test = train_test_split(
        np.arange(len(labels)),
        test_size=test_fraction,
        random_state=seed,
        shuffle=True,
        stratify=labels,
    )
    train.setflags(write=False)
    test.setflags(write=False)
    return train, test


def _check_test_fraction(test_fraction, num_examples):
    message = (
        "test_fraction must be a number in (0, 1) that leaves at least "
        f"{_NUM_CLASSES} digits (one per class) in both train and test "
        f"splits of the {num_examples} digits. "
        f"Received: test_fraction={test_fraction!r}"
    )
    if not isinstance(test_fraction, numbers.Real) or isinstance(
        test_fraction, bool
    ):
        raise TypeError(message)
    test_fraction = float(test_fraction)
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(message)
    num_test = math.ceil(test_fraction * num_examples)
    if min(num_test, num_examples - num_test) < _NUM_CLASSES:
        raise ValueError(message)
    return test_fraction


def load_digits(
    split="train",
    image_size=28,
    value_range=(0.0, 1.0),
    test_fraction=0.2,
    seed=0,
    with_labels=True,
):
    """Load scikit-learn's handwritten digits as NHWC image arrays, offline.

    The 1797 8x8 greyscale digits bundled with scikit-learn (values 0..16,
    no download needed) are resized with bilinear interpolation to
    `image_size` and mapped linearly to `value_range`. The train/test split
    is stratified by digit class and fixed by `seed`. Processed arrays are
    cached in memory, so repeated calls are fast; every call returns fresh
    arrays that may be modified freely.

    Args:
        split: str, `"train"`, `"test"` or `"all"` (all digits in their
            original order). Defaults to `"train"`.
        image_size: int or pair `(height, width)` of ints, the output size.
            Defaults to `28`.
        value_range: pair `(low, high)`, the range of the returned pixel
            values (0 maps to `low`, full ink to `high`). Defaults to
            `(0.0, 1.0)`.
        test_fraction: float in (0, 1), the share of digits held out as the
            test split. Defaults to `0.2` (1437 train, 360 test).
        seed: int, the seed of the stratified split. Defaults to `0`.
        with_labels: bool, whether to also return the int32 labels.
            Defaults to `True`.

    Returns:
        `(x, y)` when `with_labels`, else `x`: `x` is float32 of shape
        `(n, height, width, 1)`, `y` is int32 of shape `(n,)` with the
        digit 0-9.

    Example:

    >>> x, y = load_digits("test", image_size=16, value_range=(-1, 1))
    >>> x.shape, x.dtype.name, float(x.min()), float(x.max()), y.shape
    ((360, 16, 16, 1), 'float32', -1.0, 1.0, (360,))
    """
    _checks.choice("split", split, DIGITS_SPLITS)
    height, width = _checks.image_size("image_size", image_size, allow_none=False)
    if height * width > MAX_DIGITS_PIXELS:
        gigabytes = 1797 * height * width * 4 / 1e9
        raise ValueError(
            f"image_size must be at most {MAX_DIGITS_PIXELS} pixels per image for the digits "
            f"(8x8 scans, all held in memory: {height}x{width} would take {gigabytes:.1f} GB). "
            f"Received: image_size={image_size!r}"
        )
    value_range = _checks.value_range("value_range", value_range)
    seed = _checks.seed("seed", seed, allow_none=False)
    images = _resized_digits(height, width)
    _, labels = _raw_digits()
    test_fraction = _check_test_fraction(test_fraction, len(labels))
    if split == "all":
        x, y = images, labels.copy()
    else:
        train, test = _split_indices(test_fraction, int(seed))
        indices = train if split == "train" else test
        x, y = images[indices], labels[indices]
    x = np.clip(rescale(x, (0.0, 1.0), value_range), *value_range)
    x = x.astype("float32", copy=False)
    return (x, y) if with_labels else x
