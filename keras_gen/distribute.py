"""Data-parallel training on the backends' own distribution engines.

One entry point, :func:`data_parallel`, so that user code reads the same on
JAX and TensorFlow. The backend-specific parts live in ``keras_gen.backend``.
"""

from keras_gen import backend
from keras_gen.backend import _devices

__all__ = ["data_parallel", "initialize", "is_chief", "process_count", "process_index"]


def initialize():
    """Join the processes started together by a launcher, on this backend's engine.

    Call it first thing in a script started once per process (``torchrun
    --nproc-per-node 2 script.py``, or any launcher that sets torchrun's
    variables ``WORLD_SIZE``, ``RANK``, ``MASTER_ADDR``, ``MASTER_PORT``).
    With ``WORLD_SIZE`` unset it does nothing, so the same script runs
    alone. Then :func:`data_parallel` spans every process.

    Returns:
        The number of processes (1 when started alone).

    Raises:
        ValueError: the launcher's variables are incomplete or malformed.
    """
    launch = _devices.launcher_env()
    if launch is None:
        return 1
    backend.initialize_processes(launch)
    return backend.process_count()


def process_index():
    """This process's rank among the processes training together (0 when alone)."""
    return backend.process_index()


def process_count():
    """The number of processes training together (1 when alone)."""
    return backend.process_count()


def is_chief():
    """True in the one process that writes files (rank 0, or the only process)."""
    return backend.process_index() == 0


def data_parallel(devices=None):
    """A context manager under which models train data-parallel.

    Build and compile a model inside it; ``fit``, ``evaluate`` and
    ``predict`` then run on every device, each replica on its slice of the
    global batch, with the variables replicated and the gradients averaged
    over the global batch (the same update as on one device with the same
    batch). The engine is the backend's own:

    * JAX: ``keras.distribution.DataParallel`` (SPMD: the batch is sharded
      over a one-axis device mesh; variables, optimizer slots, metric
      variables, SeedGenerator state and BatchNorm statistics are
      replicated). A keras-gen model created under it keeps using it after
      the ``with`` block.
    * TensorFlow: ``tf.distribute.MirroredStrategy`` (one replica per
      device; each replica's loss is divided by the number of replicas
      before differentiation so that the summed gradients are those of the
      global-batch mean, as Keras does for its built-in losses). The model
      keeps the strategy (``model.distribute_strategy``).
    * PyTorch: not supported yet; raises ``NotImplementedError``.

    ``batch_size`` in ``fit`` is the global batch size; it should be a
    multiple of the number of devices. On one host with no accelerator, set
    ``XLA_FLAGS=--xla_force_host_platform_device_count=2`` (JAX) or split the
    CPU into logical devices (TensorFlow) to try it; see the README section
    "Multiple devices", which also covers several hosts.

    Args:
        devices: None (default: every local GPU/TPU, else every CPU device),
            an int n (the first n of those), or a list of device names such
            as ``["gpu:0", "gpu:1"]`` (``"/device:GPU:0"`` also accepted).

    Returns:
        A context manager; entering it returns the engine
        (``keras.distribution.DataParallel`` on JAX,
        ``tf.distribute.MirroredStrategy`` on TensorFlow). Its
        ``num_replicas`` attribute is the number of devices. The devices are
        checked when ``data_parallel`` is called.

    Randomness: on JAX the model's SeedGenerators draw the noise of the
    whole global batch (SPMD), so training matches one device bit for bit
    up to floating-point reduction order. Under ``MirroredStrategy`` every
    replica draws from the same (mirrored) SeedGenerator state, as Keras
    layers such as ``Dropout`` do: replicas share their latent draws (a
    GAN's z, a VAE's eps) while their images differ. The gradient is still
    that of the global-batch mean loss for those draws.

    Raises:
        ValueError: ``devices`` is not None, a positive int up to the number
            of devices, or a list of distinct available device names.
        NotImplementedError: on the PyTorch backend.

    Example:

    >>> import numpy as np, keras_gen
    >>> with keras_gen.distribute.data_parallel(devices=1):
    ...     enc = keras_gen.networks.dense_encoder((8, 8, 1), 2, variational=True)
    ...     dec = keras_gen.networks.dense_decoder(2, (8, 8, 1))
    ...     vae = keras_gen.VAE(enc, dec, seed=0)
    ...     vae.compile(optimizer="adam")
    >>> x = np.random.rand(32, 8, 8, 1).astype("float32")
    >>> sorted(vae.fit(x, batch_size=16, epochs=1, verbose=0).history)
    ['kl_loss', 'loss', 'neg_elbo', 'reconstruction_loss']
    """
    return backend.data_parallel(devices)
