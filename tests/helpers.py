"""End-to-end checks shared by the model tests."""

import json
import os
import subprocess
import sys

import keras
import numpy as np

BACKENDS = ("tensorflow", "jax", "torch")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tiny_encoder(input_shape=(8, 8, 1), latent_dim=2, variational=False, batch_norm=False):
    """A small functional encoder (user-written, not keras_gen.networks)."""
    inputs = keras.Input(input_shape)
    h = keras.layers.Flatten()(inputs)
    h = keras.layers.Dense(32)(h)
    if batch_norm:
        h = keras.layers.BatchNormalization()(h)
    h = keras.layers.Activation("relu")(h)
    if variational:
        outputs = [
            keras.layers.Dense(latent_dim, name="z_mean")(h),
            keras.layers.Dense(latent_dim, name="z_log_sigma")(h),
        ]
    else:
        outputs = keras.layers.Dense(latent_dim)(h)
    return keras.Model(inputs, outputs, name="encoder")


class SubclassedEncoder(keras.Model):
    """A variational encoder written as a subclass: it declares no input shape."""

    def __init__(self, latent_dim=2, **kwargs):
        super().__init__(**kwargs)
        self.flatten = keras.layers.Flatten()
        self.mean, self.log_sigma = keras.layers.Dense(latent_dim), keras.layers.Dense(latent_dim)

    def call(self, x):
        h = self.flatten(x)
        return [self.mean(h), self.log_sigma(h)]


class SubclassedDecoder(keras.Model):
    """A decoder written as a subclass: codes to 8x8x1 images in [0, 1]."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = keras.layers.Dense(64, activation="sigmoid")
        self.reshape = keras.layers.Reshape((8, 8, 1))

    def call(self, z):
        return self.reshape(self.dense(z))


def tiny_decoder(latent_dim=2, output_shape=(8, 8, 1)):
    inputs = keras.Input((latent_dim,))
    h = keras.layers.Dense(32, activation="relu")(inputs)
    h = keras.layers.Dense(int(np.prod(output_shape)), activation="sigmoid")(h)
    return keras.Model(inputs, keras.layers.Reshape(output_shape)(h), name="decoder")


def fit_losses(model, x, epochs=15, batch_size=16, key="loss", **kwargs):
    history = model.fit(x, epochs=epochs, batch_size=batch_size, verbose=0, shuffle=False, **kwargs)
    return history.history[key]


def assert_loss_falls(losses, factor=0.9):
    assert np.all(np.isfinite(losses)), losses
    assert losses[-1] < factor * losses[0], f"loss did not fall: {losses}"


def assert_round_trip(model, path, x, outputs_fn):
    """Save to .keras, load without custom_objects, compare outputs."""
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded) is type(model)
    np.testing.assert_allclose(outputs_fn(loaded, x), outputs_fn(model, x), rtol=1e-5, atol=1e-6)
    return loaded


def _backend_env(backend):
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _parse(backend, returncode, stdout, stderr):
    assert returncode == 0, f"{backend} subprocess failed:\n{stderr[-4000:]}"
    return json.loads(stdout.strip().splitlines()[-1])


def run_in_backend(backend, code, timeout=240):
    """Run ``code`` in a fresh Python process under ``backend``; parse JSON from its last line."""
    proc = subprocess.run(
        [sys.executable, "-c", code], env=_backend_env(backend), capture_output=True, text=True,
        timeout=timeout,
    )
    return _parse(backend, proc.returncode, proc.stdout, proc.stderr)


def run_in_backends(codes, timeout=240):
    """``run_in_backend`` for each ``{backend: code}``, the processes running side by side.

    Returns ``{backend: parsed JSON}``; a failed process fails with its stderr.
    """
    procs = {
        backend: subprocess.Popen(
            [sys.executable, "-c", code], env=_backend_env(backend), stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True,
        )
        for backend, code in codes.items()
    }
    try:
        outputs = {backend: proc.communicate(timeout=timeout) for backend, proc in procs.items()}
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return {backend: _parse(backend, procs[backend].returncode, *outputs[backend]) for backend in codes}


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def free_port_span(count=3):
    """A port P with P .. P + count - 1 free on 127.0.0.1 now (MASTER_PORT and the ports above it)."""
    from keras_gen.backend import _devices

    return _devices.free_port_span(count)


def start_processes(backend, code, world_size=2, port=None, env=None, cwd=None):
    """Start ``world_size`` processes of ``code`` as a launcher would (torchrun's variables).

    Each process gets ``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``,
    ``MASTER_ADDR=127.0.0.1`` and ``MASTER_PORT`` (unless given, a port
    with the ``world_size + 1`` ports above it free too), plus ``env``. Returns the list of ``subprocess.Popen`` (text
    stdout/stderr pipes), rank order. Use :func:`wait_processes` to collect
    them; it kills the rest when one fails or the time runs out.
    """
    port = free_port_span(world_size + 2) if port is None else port
    procs = []
    for rank in range(world_size):
        proc_env = _backend_env(backend)
        proc_env.update(
            WORLD_SIZE=str(world_size), RANK=str(rank), LOCAL_RANK=str(rank),
            MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port),
        )
        proc_env.update(env or {})
        procs.append(subprocess.Popen(
            [sys.executable, "-c", code], env=proc_env, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, cwd=cwd,
        ))
    return procs


def wait_processes(procs, timeout=120):
    """Wait for every process of :func:`start_processes`; parse JSON from each one's last line.

    Bounded: after ``timeout`` seconds in all, or as soon as one process
    exits non-zero, the others are killed and the test fails with every
    process's stderr tail. The pipes are read while the processes run (a
    thread per process), so a process that prints a lot never blocks.
    Returns the parsed outputs, rank order.
    """
    import threading
    import time

    outputs = [None] * len(procs)

    def collect(i, proc):
        outputs[i] = proc.communicate()

    readers = [threading.Thread(target=collect, args=(i, p), daemon=True) for i, p in enumerate(procs)]
    for reader in readers:
        reader.start()
    deadline = time.monotonic() + timeout
    failure = None
    while failure is None and any(reader.is_alive() for reader in readers):
        for i, proc in enumerate(procs):
            if not readers[i].is_alive() and proc.returncode not in (None, 0):
                failure = f"rank {i} exited {proc.returncode}"
                break
        else:
            if time.monotonic() > deadline:
                failure = f"processes still running after {timeout} s"
            else:
                time.sleep(0.05)
    if failure is None:
        failure = next(
            (f"rank {i} exited {p.returncode}" for i, p in enumerate(procs) if p.returncode != 0), None
        )
    if failure is not None:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
        for reader in readers:
            reader.join()
        tails = "\n".join(
            f"--- rank {i} (exit {p.returncode}) stderr:\n{(outputs[i] or ('', ''))[1][-3000:]}"
            for i, p in enumerate(procs)
        )
        raise AssertionError(f"{failure}\n{tails}")
    return [json.loads(out[0].strip().splitlines()[-1]) for out in outputs]


# ------------------------------------------- a linear GAN and its NumPy twin
LINEAR_G = [[0.6, -0.2], [0.1, 0.4]]
LINEAR_D = [[0.3], [-0.5]]
LINEAR_SEED = 7


def linear_gan(**kwargs):
    """keras_gen.GAN with linear G (2 -> 2) and D (2 -> 1), no biases, fixed weights."""
    import keras_gen

    g = keras.Sequential([keras.Input((2,)), keras.layers.Dense(
        2, use_bias=False, kernel_initializer=keras.initializers.Constant(LINEAR_G))])
    d = keras.Sequential([keras.Input((2,)), keras.layers.Dense(
        1, use_bias=False, kernel_initializer=keras.initializers.Constant(LINEAR_D))])
    return keras_gen.GAN(g, d, latent_dim=2, seed=LINEAR_SEED, **kwargs)


def linear_gan_by_hand(x, steps, lr, d_penalty=None, d_steps=1):
    """`linear_gan`'s SGD steps in NumPy: the source notes' step, ``d_steps`` D updates
    (a fresh z each) then one G update.

    D's loss is the cross-entropy one plus a penalty: ``d_penalty(x, f, wd)``
    returns ``(its gradient in wd, its logged value)``, computed with the
    weights before that D update (it may keep state of its own). The generator's
    step is the plain non-saturating one. Same z draws as the model (its
    SeedGenerator(7)). Returns ``(wg, wd, logged values per step)``.
    """
    def n(v):
        return keras.ops.convert_to_numpy(v)

    sg = keras.random.SeedGenerator(LINEAR_SEED)
    wg, wd = np.array(LINEAR_G), np.array(LINEAR_D)
    sig = lambda u: 1 / (1 + np.exp(-u))  # noqa: E731
    b = len(x)
    logged = []
    for _ in range(steps):
        for _ in range(d_steps):
            z = n(keras.random.normal((b, 2), seed=sg)).astype("float64")
            f = z @ wg
            grad = (x.T @ -sig(-(x @ wd)) + f.T @ sig(f @ wd)) / b
            if d_penalty is not None:
                extra, value = d_penalty(x, f, wd)
                grad = grad + extra
                logged.append(value)
            wd = wd - lr * grad
        z = n(keras.random.normal((b, 2), seed=sg)).astype("float64")
        lf = (z @ wg) @ wd
        wg = wg - lr * z.T @ (-sig(-lf) @ wd.T) / b
    return wg, wd, logged


def small_image_gan(**kwargs):
    """``(real, gan)``: 64 images of 8x8x1 and a keras_gen.GAN of small conv networks (z of 3)."""
    import keras_gen

    rng = np.random.default_rng(0)
    real = np.tanh(rng.normal(0.3, 0.5, size=(64, 8, 8, 1))).astype("float32")
    g = keras.Sequential([keras.Input((3,)), keras.layers.Dense(64, activation="tanh"),
                          keras.layers.Reshape((8, 8, 1))])
    d = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(4, 3, padding="same"),
                          keras.layers.LeakyReLU(0.2), keras.layers.Flatten(), keras.layers.Dense(1)])
    return real, keras_gen.GAN(g, d, latent_dim=3, seed=3, **kwargs)
