"""User-supplied image arrays: checked, converted, optionally batched."""

import numpy as np

from keras_gen import _checks
from keras_gen.data import _pipeline
from keras_gen.data.ranges import rescale

_TOLERANCE = 1e-4  # Of the width of value_range, for float round-off.


def guess_input_range(low, high):
    """The usual image range that data with these extremes was probably
    stored in: ``(0, 255)`` (8-bit), ``(-1, 1)`` (tanh), ``(0, 1)``; None
    when none of them holds it."""
    if low >= 0.0 and high <= 255.0 and high > 1.0:
        return (0, 255)
    if low >= -1.0 and high <= 1.0 and low < 0.0:
        return (-1, 1)
    if low >= 0.0 and high <= 1.0:
        return (0, 1)
    return None


def rescale_hint(name, low, high, value_range):
    """"Rescale it, e.g. ..." for data ``name`` with these extremes that must
    lie in ``value_range``: ``from_numpy`` with the guessed ``input_range``
    (or the data's own extremes where no usual range holds them)."""
    guess = guess_input_range(low, high)
    if guess is None:
        guess = (float(f"{low:.4g}"), float(f"{high:.4g}"))
    value_range = tuple(float(v) for v in value_range)
    return (f"Rescale it, e.g. with keras_gen.data.from_numpy({name}, input_range={guess}, "
            f"value_range={value_range}).")


def _suggest_input_range(low, high):
    guess = guess_input_range(low, high)
    if guess == (0, 255):
        return " (e.g. input_range=(0, 255) for 8-bit images)"
    if guess == (-1, 1):
        return " (e.g. input_range=(-1, 1))"
    return ""


def from_numpy(
    x,
    value_range=(0.0, 1.0),
    input_range=None,
    batch_size=None,
    shuffle=False,
    seed=None,
    drop_remainder=False,
):
    """Check and convert a user array of images to float32 NHWC.

    A rank-3 array `(N, H, W)` gets a channel axis, unless it looks like one
    colour image `(H, W, 3 or 4)` without its batch axis (`W` 3 or 4 with
    `H >= 8`: a ValueError; pass `x[..., None]` for grey images that narrow).
    A rank-4 array must have 1 to 4 channels. With `input_range`, values are first mapped linearly
    from `input_range` to `value_range`. The values must then lie within
    `value_range` (up to a round-off tolerance of 1e-4 of its width; such
    tiny excursions are clipped away).

    Args:
        x: array-like of shape `(N, H, W)` or `(N, H, W, C)`, `C` in 1..4,
            with real values (NumPy array, list, or a tensor of any
            backend that NumPy can read).
        value_range: pair `(low, high)`, the range the returned values must
            lie in. Defaults to `(0.0, 1.0)`.
        input_range: `None` or pair `(low, high)`, the range of the values
            in `x`, e.g. `(0, 255)` for 8-bit images. Defaults to `None`
            (`x` is already in `value_range`).
        batch_size: `None` or positive int. Defaults to `None`, which returns
            a NumPy array; an int returns a batched, prefetched
            `tf.data.Dataset` of images instead.
        shuffle: bool, whether the dataset reshuffles the images every
            epoch (only with `batch_size`). Defaults to `False`.
        seed: `None` or int, the shuffle seed. Defaults to `None`.
        drop_remainder: bool, whether the dataset drops a last, smaller
            batch (only with `batch_size`; data-parallel training needs
            whole batches). Defaults to `False`.

    Returns:
        A float32 NumPy array of shape `(N, H, W, C)`, or a `tf.data.Dataset`
        of such batches when `batch_size` is given.

    Raises:
        ValueError: if `x` has the wrong shape or values outside
            `value_range`.
        TypeError: if `x` is not numeric.

    Example:

    >>> import numpy as np
    >>> x = np.full((2, 4, 4), 255, "uint8")
    >>> y = from_numpy(x, value_range=(-1, 1), input_range=(0, 255))
    >>> y.shape, y.dtype.name, float(y.max())
    ((2, 4, 4, 1), 'float32', 1.0)
    """
    value_range = _checks.value_range("value_range", value_range)
    if input_range is not None:
        input_range = _checks.value_range("input_range", input_range)
    batch_size = _checks.positive_int("batch_size", batch_size, allow_none=True)
    seed = _checks.seed("seed", seed)
    shuffle = _checks.boolean("shuffle", shuffle)
    drop_remainder = _checks.boolean("drop_remainder", drop_remainder)
    if drop_remainder and batch_size is None:
        raise ValueError(
            "drop_remainder applies to the batches of a dataset, so it needs a batch_size. "
            f"Received: batch_size=None, drop_remainder={drop_remainder!r}"
        )

    array = np.asarray(x)
    if array.dtype == bool or not (
        np.issubdtype(array.dtype, np.integer)
        or np.issubdtype(array.dtype, np.floating)
    ):
        raise TypeError(
            "x must be an array of real numbers. "
            f"Received: x with dtype={array.dtype}"
        )
    if array.ndim == 3 and array.shape[-1] in (3, 4) and array.shape[1] >= 8:
        # (N, H, W) grey images only 3 or 4 pixels wide are far less likely
        # than one colour image without its batch axis.
        raise ValueError(
            "x of rank 3 is read as (N, H, W) grey images, and these would be "
            f"{array.shape[-1]} pixels wide: for one colour image of shape (H, W, C) add the "
            "batch axis (x[None]); for grey images that narrow, add the channel axis "
            f"(x[..., None]). Received: x with shape={np.shape(x)}"
        )
    if array.ndim == 3:
        array = array[..., None]
    if array.ndim != 4 or not 1 <= array.shape[-1] <= 4:
        raise ValueError(
            "x must have shape (N, H, W) or (N, H, W, C) with C in 1..4. "
            f"Received: x with shape={np.shape(x)}"
        )
    if array.shape[0] == 0:
        raise ValueError(
            "x must contain at least one image. "
            f"Received: x with shape={np.shape(x)}"
        )
    array = array.astype("float32")

    # Check in the units the user gave, so the message speaks their scale.
    expected_name = "input_range" if input_range else "value_range"
    low, high = input_range or value_range
    observed_min, observed_max = float(array.min()), float(array.max())
    if not (np.isfinite(observed_min) and np.isfinite(observed_max)):
        raise ValueError(
            "x must not contain NaN or infinite values. "
            f"Received: x with min={observed_min}, max={observed_max}"
        )
    atol = _TOLERANCE * (high - low)
    if observed_min < low - atol or observed_max > high + atol:
        hint = ""
        if input_range is None:
            hint = (
                " If x uses another scale, pass its range as input_range"
                + _suggest_input_range(observed_min, observed_max)
                + "."
            )
        raise ValueError(
            f"x has values outside {expected_name}=({low:g}, {high:g}): "
            f"observed min={observed_min:.6g}, max={observed_max:.6g}.{hint}"
        )
    if input_range is not None:
        array = rescale(array, input_range, value_range)
    array = np.clip(array, *value_range)

    if batch_size is None:
        return array
    _pipeline.check_batch(batch_size, len(array), drop_remainder, what="x")
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices(array)
    if shuffle:
        ds = ds.shuffle(len(array), seed=seed, reshuffle_each_iteration=True)
    return _pipeline.batch_and_prefetch(ds, batch_size, drop_remainder)
