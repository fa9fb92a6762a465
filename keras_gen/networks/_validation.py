"""Argument checks shared by the network builders.

Every check raises a `ValueError` (or `TypeError` for a wrong type where no
value could be right) whose message names the argument and the received
value, Keras style:
`"latent_dim must be a positive integer. Received: latent_dim=0"`.
"""

import numbers

import keras

MAX_CHANNELS = 4


def _is_int(value):
    """True for Python/NumPy integers, False for bools and everything else."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def positive_int(value, arg_name):
    """Return `value` as an `int`, or raise if it is not a positive integer.

    Args:
        value: the value to check.
        arg_name: str, the argument name used in the error message.

    Returns:
        The value as a Python `int`.
    """
    if not _is_int(value) or value <= 0:
        raise ValueError(
            f"{arg_name} must be a positive integer. "
            f"Received: {arg_name}={value!r}"
        )
    return int(value)


def optional_positive_int(value, arg_name):
    """Like `positive_int`, but `None` is allowed and returned unchanged."""
    if value is None:
        return None
    if not _is_int(value) or value <= 0:
        raise ValueError(
            f"{arg_name} must be a positive integer or None. "
            f"Received: {arg_name}={value!r}"
        )
    return int(value)


def positive_int_sequence(value, arg_name):
    """Return `value` as a tuple of ints, or raise if it is not one.

    A valid value is a non-empty list or tuple of positive integers, for
    example `(32, 64)`.

    Args:
        value: the value to check.
        arg_name: str, the argument name used in the error message.

    Returns:
        A tuple of Python `int`s.
    """
    if (
        not isinstance(value, (list, tuple))
        or len(value) == 0
        or not all(_is_int(v) and v > 0 for v in value)
    ):
        raise ValueError(
            f"{arg_name} must be a non-empty list or tuple of positive "
            f"integers. Received: {arg_name}={value!r}"
        )
    return tuple(int(v) for v in value)


def image_shape(value, arg_name):
    """Return an image shape as `(height, width, channels)` ints, or raise.

    The shape must be exactly `(height, width, channels)` (a list or tuple of
    length 3, no batch axis), with positive integer entries and from 1 to 4
    channels. `(height, width)` is rejected: add the channel axis explicitly.

    Args:
        value: the value to check.
        arg_name: str, the argument name used in the error message.

    Returns:
        A tuple `(height, width, channels)` of Python `int`s.
    """
    if (
        not isinstance(value, (list, tuple))
        or len(value) != 3
        or not all(_is_int(v) and v > 0 for v in value)
        or value[2] > MAX_CHANNELS
    ):
        raise ValueError(
            f"{arg_name} must be a tuple (height, width, channels) of "
            f"positive integers with 1 to {MAX_CHANNELS} channels (NHWC "
            f"images, no batch axis). Received: {arg_name}={value!r}"
        )
    return tuple(int(v) for v in value)


def boolean(value, arg_name):
    """Return `value` if it is a `bool`, else raise a `TypeError`."""
    if not isinstance(value, bool):
        raise TypeError(
            f"{arg_name} must be a bool (True or False). "
            f"Received: {arg_name}={value!r}"
        )
    return value


def activation(value, arg_name):
    """Check that `value` names a Keras activation, or is callable or None.

    The value itself is returned unchanged (so a name stays a name and
    serialises as one); the check resolves it once with
    `keras.activations.get` to fail early on an unknown name.

    Args:
        value: a Keras activation name such as `"relu"`, a callable, or
            `None` (linear).
        arg_name: str, the argument name used in the error message.

    Returns:
        `value`, unchanged.
    """
    if value is None or callable(value):
        return value
    if isinstance(value, str):
        try:
            keras.activations.get(value)
        except ValueError:
            pass
        else:
            return value
    raise ValueError(
        f"{arg_name} must be the name of a Keras activation (such as "
        f"'relu' or 'sigmoid'), a callable, or None. "
        f"Received: {arg_name}={value!r}"
    )


def optional_name(value, arg_name="name"):
    """Return `value` if it is `None` or a non-empty string, else raise."""
    if value is None or (isinstance(value, str) and value):
        return value
    raise ValueError(
        f"{arg_name} must be a non-empty string or None. "
        f"Received: {arg_name}={value!r}"
    )


def choice(value, options, arg_name):
    """Return `value` if it is one of `options`, else raise."""
    if not isinstance(value, str) or value not in options:
        allowed = ", ".join(repr(o) for o in options)
        raise ValueError(
            f"{arg_name} must be one of {allowed}. "
            f"Received: {arg_name}={value!r}"
        )
    return value
