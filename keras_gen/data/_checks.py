"""Argument checks shared by the data loaders.

Each check names the argument and the received value, Keras style. A value
of the wrong type raises `TypeError`; a value of the right type that is out
of bounds raises `ValueError`.
"""

import numbers


def is_int(value):
    """True for Python/NumPy integers, False for bools and everything else."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def positive_int(value, name):
    """Return `value` as an `int` if it is a positive integer, else raise."""
    message = f"{name} must be a positive integer. Received: {name}={value!r}"
    if not is_int(value):
        raise TypeError(message)
    if value <= 0:
        raise ValueError(message)
    return int(value)


def optional_positive_int(value, name):
    """Like `positive_int`, but `None` is returned unchanged."""
    if value is None:
        return None
    return positive_int(value, name)


def image_size(value, name="image_size", allow_none=True):
    """Return `value` as a `(height, width)` pair of ints, or `None`.

    Accepts a positive integer (square images) or a pair of positive
    integers; `None` only when `allow_none`.
    """
    allowed = "None, " if allow_none else ""
    message = (
        f"{name} must be {allowed}a positive integer or a pair "
        f"(height, width) of positive integers. Received: {name}={value!r}"
    )
    if value is None:
        if allow_none:
            return None
        raise TypeError(message)
    if is_int(value):
        if value <= 0:
            raise ValueError(message)
        return int(value), int(value)
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(message)
        if not all(is_int(v) for v in value):
            raise TypeError(message)
        if not all(v > 0 for v in value):
            raise ValueError(message)
        return int(value[0]), int(value[1])
    raise TypeError(message)


def seed(value, name="seed"):
    """Return `value` as an `int` or `None`, else raise `TypeError`."""
    if value is None:
        return None
    if not is_int(value):
        raise TypeError(
            f"{name} must be an int or None. Received: {name}={value!r}"
        )
    return int(value)


def one_of(value, choices, name):
    """Return `value` if it is one of `choices`, else raise `ValueError`."""
    if value not in choices:
        raise ValueError(
            f"{name} must be one of {list(choices)}. Received: {name}={value!r}"
        )
    return value
