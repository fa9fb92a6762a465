"""Backend-agnostic checking of a ``devices`` argument (no backend imports)."""

import numbers
import re

_DEVICE = re.compile(r"^/?(?:device:)?([a-z]+):(\d+)$")


def parse_device(name):
    """``"cpu:0"``, ``"/cpu:0"``, ``"/device:CPU:0"`` -> ``("cpu", 0)``; else None."""
    if not isinstance(name, str):
        return None
    match = _DEVICE.match(name.strip().lower())
    if match is None:
        return None
    return match.group(1), int(match.group(2))


def select(devices, available, default=None):
    """Pick devices from ``available`` (a list of ``(type, index)``) by ``devices``.

    Args:
        devices: None (the ``default`` devices), an int n > 0 (the first n
            of ``default``), or a non-empty list/tuple of distinct device
            names such as ``"gpu:0"`` or ``"/device:CPU:1"`` (any of
            ``available``).
        available: every device the backend can use.
        default: the devices used when none are named (the accelerators,
            else the CPUs); defaults to ``available``.

    Returns:
        A list of ``(type, index)`` pairs.
    """
    available = list(available)
    default = available if default is None else list(default)
    names = [f"{t}:{i}" for t, i in available]
    if devices is None:
        return default
    if isinstance(devices, numbers.Integral) and not isinstance(devices, bool):
        if not 0 < devices <= len(default):
            raise ValueError(
                "devices must be None, a number of devices between 1 and "
                f"{len(default)} (available: {[f'{t}:{i}' for t, i in default]}), "
                f"or a list of device names. Received: devices={devices!r}"
            )
        return default[: int(devices)]
    if isinstance(devices, str) or not isinstance(devices, (list, tuple)) or not devices:
        raise ValueError(
            "devices must be None, a positive int, or a non-empty list of "
            f"device names such as {names[:2]}. Received: devices={devices!r}"
        )
    chosen = []
    for name in devices:
        parsed = parse_device(name)
        if parsed is None or parsed not in available:
            raise ValueError(
                f"Unknown device {name!r} in devices. Available devices: "
                f"{names}. Received: devices={devices!r}"
            )
        if parsed in chosen:
            raise ValueError(
                f"Device {name!r} is listed twice in devices. "
                f"Received: devices={devices!r}"
            )
        chosen.append(parsed)
    return chosen


class EngineScope:
    """Enters ``engine.scope()`` as a context manager; ``num_replicas`` is its size.

    The same object for both engines: ``engine`` is a
    ``keras.distribution.DataParallel`` (JAX, variables created inside are
    replicated) or a ``tf.distribute.MirroredStrategy`` (TensorFlow, a model
    created inside keeps the strategy); ``replicas`` is the device count.
    """

    def __init__(self, engine, replicas):
        self.engine = engine
        self.num_replicas = int(replicas)
        self._scope = None

    def __enter__(self):
        self._scope = self.engine.scope()
        self._scope.__enter__()
        return self.engine

    def __exit__(self, *exc):
        scope, self._scope = self._scope, None
        return scope.__exit__(*exc)
