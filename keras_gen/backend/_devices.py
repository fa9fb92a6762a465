"""Backend-agnostic checking of a ``devices`` argument and of a launcher's
environment (no backend imports)."""

import numbers
import os
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


# The variables a launcher sets for each of several processes: torchrun's
# names, which any launcher (SLURM wrappers, a shell loop) can also set.
LAUNCHER_VARIABLES = ("WORLD_SIZE", "RANK", "MASTER_ADDR", "MASTER_PORT")


def launcher_env(environ=None):
    """The multi-process launch this process belongs to, read from ``environ``.

    Reads torchrun's variables: ``WORLD_SIZE`` (number of processes),
    ``RANK`` (this process, 0-based), ``MASTER_ADDR`` / ``MASTER_PORT`` (the
    coordinator, rank 0's host and a free port) and, if set, ``LOCAL_RANK``
    (this process on its host; defaults to ``RANK``).

    Returns:
        None when ``WORLD_SIZE`` is unset (a single process), else a dict
        with ``world_size``, ``rank``, ``local_rank`` (ints), ``addr`` (str)
        and ``port`` (int).

    Raises:
        ValueError: a variable is missing or malformed; the message names it
            and its value.
    """
    environ = os.environ if environ is None else environ
    if environ.get("WORLD_SIZE") in (None, ""):
        return None
    missing = [name for name in LAUNCHER_VARIABLES if environ.get(name) in (None, "")]
    if missing:
        raise ValueError(
            f"WORLD_SIZE is set, so this process is one of several, but "
            f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set "
            "(launch with torchrun, or set WORLD_SIZE, RANK, MASTER_ADDR and "
            "MASTER_PORT for every process). Received: "
            + ", ".join(f"{n}={environ.get(n)!r}" for n in LAUNCHER_VARIABLES)
        )

    def integer(name, low, high=None, default=None):
        raw = environ.get(name, default)
        try:
            value = int(raw)
        except (TypeError, ValueError):
            value = None
        if value is None or value < low or (high is not None and value > high):
            bound = f"between {low} and {high}" if high is not None else f">= {low}"
            raise ValueError(f"{name} must be an integer {bound}. Received: {name}={raw!r}")
        return value

    world_size = integer("WORLD_SIZE", 1)
    rank = integer("RANK", 0, world_size - 1)
    return {
        "world_size": world_size,
        "rank": rank,
        "local_rank": integer("LOCAL_RANK", 0, None, default=str(rank)),
        "addr": environ["MASTER_ADDR"],
        "port": integer("MASTER_PORT", 1, 65535),
    }


def free_port_span(count=3, host="127.0.0.1"):
    """A port P with P .. P + count - 1 free on ``host`` now.

    For a launch on one host: keras-gen's engines listen above
    ``MASTER_PORT`` (JAX's coordinator on P + 1, TensorFlow's worker i on
    P + 1 + i; torchrun's agent holds P). Used by the tests and
    ``benchmarks/distributed.py`` to pick ``MASTER_PORT``.
    """
    import socket

    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
            base = sock.getsockname()[1]
        if base + count > 65536:
            continue
        socks = []
        try:
            for port in range(base, base + count):
                socks.append(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
                socks[-1].bind((host, port))
            return base
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
    raise RuntimeError(f"no span of {count} free ports found on {host}")
