"""Argument checks: the one module every keras-gen function validates with.

Every check has the signature ``check(name, value, ...)`` and returns the
*normalised* value (a Python ``int``/``float``/``tuple``), which is the one
the caller must keep and use. NumPy integer and floating scalars are accepted
wherever Python ones are; ``bool`` is never a number.

Errors name the argument and the received value, Keras style::

    latent_dim must be a positive integer. Received: latent_dim=0

A value of the right type that is out of bounds raises ``ValueError``. A
value of the wrong type raises :class:`ArgumentTypeError`, which is both a
``TypeError`` and a ``ValueError``, so callers may catch either.
"""

import math
import numbers

import numpy as np


class ArgumentTypeError(TypeError, ValueError):
    """An argument of the wrong type (catchable as TypeError or ValueError)."""


def _received(name, value):
    return f"Received: {name}={value!r}"


def is_int(value):
    """True for Python/NumPy integers; False for bools and everything else."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_real(value):
    """True for Python/NumPy real numbers; False for bools and everything else."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


# ------------------------------------------------------------- integers
def integer(name, value, minimum=None, maximum=None, allow_none=False):
    """``value`` as an ``int`` within ``[minimum, maximum]`` (bounds optional).

    ``None`` is returned unchanged when ``allow_none``.
    """
    if value is None and allow_none:
        return None
    bounds = []
    if minimum is not None:
        bounds.append(f">= {minimum}")
    if maximum is not None:
        bounds.append(f"<= {maximum}")
    what = "an integer" + (" " + " and ".join(bounds) if bounds else "")
    if allow_none:
        what += " or None"
    message = f"{name} must be {what}. {_received(name, value)}"
    if not is_int(value):
        raise ArgumentTypeError(message)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ValueError(message)
    return int(value)


def positive_int(name, value, allow_none=False):
    """``value`` as an ``int`` > 0 (``None`` passes when ``allow_none``)."""
    if value is None and allow_none:
        return None
    suffix = " or None" if allow_none else ""
    message = f"{name} must be a positive integer{suffix}. {_received(name, value)}"
    if not is_int(value):
        raise ArgumentTypeError(message)
    if value <= 0:
        raise ValueError(message)
    return int(value)


def non_negative_int(name, value):
    """``value`` as an ``int`` >= 0."""
    message = f"{name} must be an integer >= 0. {_received(name, value)}"
    if not is_int(value):
        raise ArgumentTypeError(message)
    if value < 0:
        raise ValueError(message)
    return int(value)


def positive_int_sequence(name, value):
    """A non-empty list/tuple of positive integers, as a tuple of ``int``."""
    message = (
        f"{name} must be a non-empty list or tuple of positive integers. "
        f"{_received(name, value)}"
    )
    if not isinstance(value, (list, tuple)) or not value:
        raise ArgumentTypeError(message)
    if not all(is_int(v) for v in value):
        raise ArgumentTypeError(message)
    if not all(v > 0 for v in value):
        raise ValueError(message)
    return tuple(int(v) for v in value)


# Seeds are below this on every backend (see `seed`).
SEED_LIMIT = 2**31


def derived_seed(value):
    """The seed of a model's second random stream: ``value + 1`` kept below ``SEED_LIMIT`` (None stays None)."""
    return None if value is None else (value + 1) % SEED_LIMIT


def seed(name, value, allow_none=True):
    """An RNG seed: ``int`` in ``[0, 2**31)``, or ``None`` when ``allow_none``
    (NumPy integers accepted).

    The range is what every backend takes: Keras' SeedGenerator state is
    int32 under PyTorch, JAX's random keys are uint32, and NumPy's
    generators refuse negative seeds.
    """
    if value is None and allow_none:
        return None
    none = " or None" if allow_none else ""
    if not is_int(value):
        raise ArgumentTypeError(f"{name} must be an int{none}. {_received(name, value)}")
    if not 0 <= value < SEED_LIMIT:
        raise ValueError(f"{name} must be an int in [0, 2**31){none}. {_received(name, value)}")
    return int(value)


# --------------------------------------------------------------- floats
def real(
    name,
    value,
    minimum=None,
    maximum=None,
    min_inclusive=True,
    max_inclusive=True,
    allow_none=False,
):
    """``value`` as a finite ``float`` within the given bounds (optional)."""
    if value is None and allow_none:
        return None
    bounds = []
    if minimum is not None:
        bounds.append(f"{'>=' if min_inclusive else '>'} {minimum:g}")
    if maximum is not None:
        bounds.append(f"{'<=' if max_inclusive else '<'} {maximum:g}")
    what = "a finite number" + (" " + " and ".join(bounds) if bounds else "")
    if allow_none:
        what += " or None"
    message = f"{name} must be {what}. {_received(name, value)}"
    if not is_real(value):
        raise ArgumentTypeError(message)
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(message)
    if minimum is not None and (value < minimum if min_inclusive else value <= minimum):
        raise ValueError(message)
    if maximum is not None and (value > maximum if max_inclusive else value >= maximum):
        raise ValueError(message)
    return value


def _float32_representable(name, value):
    """``value`` if it is 0 or a normal float32 number in magnitude.

    Larger values are inf in float32; smaller non-zero ones are subnormal
    there, which TensorFlow and XLA flush to 0 in arithmetic.
    """
    tiny, largest = float(np.finfo(np.float32).tiny), float(np.finfo(np.float32).max)
    if value != 0 and not tiny <= abs(value) <= largest:
        raise ValueError(f"{name} must be 0 or between {tiny:g} and {largest:g} in magnitude "
                         f"(float32's normal numbers, where the model computes with it). "
                         f"{_received(name, value)}")
    return value


def non_negative_float(name, value):
    """``value`` as a finite ``float`` >= 0 that float32 holds (0 or a normal float32)."""
    return _float32_representable(name, real(name, value, minimum=0.0))


def positive_float(name, value):
    """``value`` as a finite ``float`` > 0 that float32 holds (a normal float32)."""
    return _float32_representable(name, real(name, value, minimum=0.0, min_inclusive=False))


def probability(name, value, allow_one=False):
    """A float in ``[0, 1)`` (``[0, 1]`` when ``allow_one``)."""
    return real(name, value, minimum=0.0, maximum=1.0, max_inclusive=allow_one)


# ---------------------------------------------------------------- other
def boolean(name, value):
    """``value`` if it is a ``bool`` (NumPy bools accepted), else an error."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise ArgumentTypeError(f"{name} must be a bool. {_received(name, value)}")


def choice(name, value, options):
    """``value`` if it is one of ``options`` (bools never match numbers)."""
    options = tuple(options)
    if not any(_same(value, option) for option in options):
        raise ValueError(f"{name} must be one of {list(options)}. {_received(name, value)}")
    return value


def _same(value, option):
    if isinstance(value, bool) != isinstance(option, bool):
        return False
    try:
        return bool(value == option)
    except (TypeError, ValueError):  # e.g. an array compared with a string
        return False


def value_range(name, value):
    """A ``(low, high)`` pair of finite numbers with ``low < high``, as floats."""
    message = (
        f"{name} must be a pair (low, high) of finite numbers with low < high. "
        f"{_received(name, value)}"
    )
    if isinstance(value, (str, bytes)):
        raise ArgumentTypeError(message)
    try:
        pair = tuple(value)
    except TypeError:
        raise ArgumentTypeError(message) from None
    pair = tuple(v.item() if isinstance(v, np.ndarray) and v.ndim == 0 else v for v in pair)
    if len(pair) != 2 or not all(is_real(v) for v in pair):
        raise ArgumentTypeError(message)
    low, high = float(pair[0]), float(pair[1])
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ValueError(message)
    # images are float32: both ends, and the width a rescale divides by, must
    # be float32 numbers, and the ends distinct in float32
    largest = float(np.finfo(np.float32).max)
    if high - low > largest or np.float32(low) >= np.float32(high):
        raise ValueError(
            f"{name} must be a pair (low, high) that float32 images can hold: high - low at "
            f"most {largest:.6g} and low < high in float32. {_received(name, value)}"
        )
    return low, high


# ------------------------------------------------------- network builders
MAX_CHANNELS = 4


def image_shape(name, value, max_channels=MAX_CHANNELS):
    """An image shape ``(height, width, channels)`` as a tuple of ``int``.

    Exactly three positive integers (no batch axis) with 1 to
    ``max_channels`` channels; ``(height, width)`` is refused.
    """
    message = (
        f"{name} must be a tuple (height, width, channels) of positive integers "
        f"with 1 to {max_channels} channels (NHWC images, no batch axis). "
        f"{_received(name, value)}"
    )
    if not isinstance(value, (list, tuple)) or len(value) != 3:
        raise ArgumentTypeError(message)
    if not all(is_int(v) for v in value):
        raise ArgumentTypeError(message)
    if not all(v > 0 for v in value) or value[2] > max_channels:
        raise ValueError(message)
    return tuple(int(v) for v in value)


def activation(name, value):
    """``value`` unchanged if it names a Keras activation, is callable or None.

    A name stays a name (so it serialises as one); it is resolved once with
    ``keras.activations.get`` to fail early on an unknown name.
    """
    if value is None or callable(value):
        return value
    if isinstance(value, str):
        import keras

        try:
            keras.activations.get(value)
        except ValueError:
            pass
        else:
            return value
    raise ValueError(
        f"{name} must be the name of a Keras activation (such as 'relu' or "
        f"'sigmoid'), a callable, or None. {_received(name, value)}"
    )


def optional_name(name, value):
    """``value`` if it is None or a non-empty string."""
    if value is None or (isinstance(value, str) and value):
        return value
    raise ValueError(f"{name} must be a non-empty string or None. {_received(name, value)}")


# ----------------------------------------------------------- data loaders
def image_size(name, value, allow_none=True):
    """``(height, width)`` ints from a positive integer or a pair of them.

    A single integer means square images; ``None`` is returned unchanged
    when ``allow_none``.
    """
    allowed = "None, " if allow_none else ""
    message = (
        f"{name} must be {allowed}a positive integer or a pair (height, width) of "
        f"positive integers. {_received(name, value)}"
    )
    if value is None:
        if allow_none:
            return None
        raise ArgumentTypeError(message)
    if is_int(value):
        if value <= 0:
            raise ValueError(message)
        return int(value), int(value)
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(message)
        if not all(is_int(v) for v in value):
            raise ArgumentTypeError(message)
        if not all(v > 0 for v in value):
            raise ValueError(message)
        return int(value[0]), int(value[1])
    raise ArgumentTypeError(message)
