"""Value ranges of images: validation and linear rescaling."""

import numpy as np

from keras_gen import _checks as checks


def check_value_range(value_range, name="value_range"):
    """Validate a `(low, high)` pair and return it as a tuple of floats.

    The public face of ``keras_gen._checks.value_range`` (which takes the
    name first, like every check).

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
    return checks.value_range(name, value_range)


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
    a, b = checks.value_range("from_range", from_range)
    c, d = checks.value_range("to_range", to_range)
    if isinstance(images, (list, tuple, np.ndarray, np.generic)):
        images = np.asarray(images)
        if not np.issubdtype(images.dtype, np.floating):
            images = images.astype("float32")
    scale = (d - c) / (b - a)
    offset = c - a * scale
    return images * scale + offset
