"""Value ranges of images: validation and linear rescaling."""

import math
import numbers

import numpy as np


def _is_real(value):
    """True for Python/NumPy real numbers, False for bools and the rest."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_value_range(value_range, name="value_range"):
    """Validate a `(low, high)` pair and return it as a tuple of floats.

    Args:
        value_range: a pair `(low, high)` of finite real numbers with
            `low < high` (tuple, list or 1-D array of length 2).
        name: str, the argument name used in error messages. Defaults to
            `"value_range"`.

    Returns:
        The pair as a tuple of two Python floats.

    Raises:
        ValueError: if `value_range` is not such a pair.

    Example:

    >>> check_value_range([-1, 1])
    (-1.0, 1.0)
    """
    message = (
        f"{name} must be a pair (low, high) of finite numbers with "
        f"low < high. Received: {name}={value_range!r}"
    )
    if isinstance(value_range, (str, bytes)):
        raise ValueError(message)
    try:
        items = list(value_range)
    except TypeError:
        raise ValueError(message) from None
    if len(items) != 2:
        raise ValueError(message)
    pair = []
    for item in items:
        if isinstance(item, np.ndarray) and item.ndim == 0:
            item = item.item()
        if not _is_real(item) or not math.isfinite(float(item)):
            raise ValueError(message)
        pair.append(float(item))
    low, high = pair
    if not low < high:
        raise ValueError(message)
    return low, high


def rescale(images, from_range, to_range):
    """Map values linearly from `from_range` to `to_range`.

    `from_range[0]` goes to `to_range[0]` and `from_range[1]` to
    `to_range[1]`. Values are not clipped. Works on NumPy arrays (integer
    arrays are converted to float32; float arrays keep their dtype) and on
    float tensors of any backend or `tf.data` pipeline, since it only uses
    `*` and `+`.

    Args:
        images: array or float tensor of any shape.
        from_range: pair `(low, high)`, the current range of the values.
        to_range: pair `(low, high)`, the range to map onto.

    Returns:
        The rescaled values, of the same type as `images` (a NumPy array for
        lists and NumPy inputs).

    Example:

    >>> import numpy as np
    >>> rescale(np.array([0, 128, 255], "uint8"), (0, 255), (-1, 1)).round(3)
    array([-1.   ,  0.004,  1.   ], dtype=float32)
    """
    a, b = check_value_range(from_range, name="from_range")
    c, d = check_value_range(to_range, name="to_range")
    if isinstance(images, (list, tuple, np.ndarray, np.generic)):
        images = np.asarray(images)
        if not np.issubdtype(images.dtype, np.floating):
            images = images.astype("float32")
    scale = (d - c) / (b - a)
    offset = c - a * scale
    return images * scale + offset
