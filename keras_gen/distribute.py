"""Data-parallel training on the backends' own distribution engines.

One entry point, :func:`data_parallel`, so that user code reads the same on
JAX, TensorFlow and PyTorch, on one host or across processes started by a
launcher (:func:`initialize`). The backend-specific parts live in
``keras_gen.backend``.
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
        ValueError: the launcher's variables are incomplete or malformed
            (the message names the variable); on PyTorch, ``LOCAL_RANK``
            has no GPU on this host; on TensorFlow, processes on several
            hosts without ``TF_CONFIG``, or a ``TF_CONFIG`` that disagrees
            with ``RANK`` / ``WORLD_SIZE``; on JAX, a second call with
            another launch.
        RuntimeError: on PyTorch, the processes could not meet at
            ``MASTER_ADDR:MASTER_PORT`` (the message names the launch); on
            JAX or TensorFlow, the backend had already run an operation
            (call ``initialize()`` first thing in the script).
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
      the ``with`` block. Across processes (after :func:`initialize`:
      ``jax.distributed``, gloo on the CPU) the mesh spans every process's
      devices. Every process passes the same data (arrays or a
      ``tf.data.Dataset``, in the same order) and reads every global batch
      whole; its devices compute on their slice of it (keras-gen's train and
      test steps split the batch over the mesh), so training equals one
      process on the same global batches, noise and BatchNorm statistics
      included. ``fit`` and ``evaluate`` communicate and must run in every
      process; ``predict``, ``sample`` and direct calls of the networks do
      not, so the chief may call them alone. A plain ``keras.Model`` under
      the multi-process engine computes each batch whole on every device
      (correct, not faster).
    * TensorFlow: ``tf.distribute.MirroredStrategy`` (one replica per
      device; each replica's loss is divided by the number of replicas
      before differentiation so that the summed gradients are those of the
      global-batch mean, as Keras does for its built-in losses). The model
      keeps the strategy (``model.distribute_strategy``). Across processes
      it is one ``tf.distribute.MultiWorkerMirroredStrategy`` per process,
      created by :func:`initialize` from ``TF_CONFIG`` (derived from the
      launcher's variables on one host; set it yourself on several hosts)
      before TensorFlow runs anything, and returned by every
      ``data_parallel()``. Every process passes the same data; TensorFlow
      gives each worker its part of every global batch. Replicas share
      their latent draws, as under ``MirroredStrategy``. ``fit``,
      ``evaluate``, ``predict`` and ``sample`` all communicate and must run
      in every process (only direct calls of the networks and
      ``get_weights`` do not).
    * PyTorch: ``torch.distributed`` across processes, one process per
      device (the GPU of its ``LOCAL_RANK``, else the CPU; NCCL with GPUs,
      gloo on the CPU), started by a launcher (``torchrun --nproc-per-node
      N script.py``) with :func:`initialize` first in the script. Every
      process runs the same script on the same data; in ``fit`` each takes
      its contiguous share of every global batch (the first ``batch %
      N`` processes one example more; a process left without one runs on a
      stand-in with weight 0), and :func:`keras_gen.backend.minimize` sums
      the processes' gradients, each weighted by its share of the batch:
      every process applies the gradient of the global-batch mean loss,
      also on an uneven last batch, for both players of a GAN. After each
      train step the floating-point non-trainable variables (BatchNorm
      moving statistics) and the models' loss trackers are averaged over
      the processes, weighted the same way, and the sums and counts of
      ``compile(metrics=...)`` metrics added up, so the logs are the
      global batch's and the same on every process. Rank 0's weights,
      optimizer, metric and SeedGenerator state are broadcast at a model's
      first training step; from there they stay equal. BatchNorm
      normalises each share by its own statistics in training (as
      PyTorch's DDP without SyncBatchNorm). ``evaluate`` and ``predict``
      run the whole batch on every process and never communicate, so the
      chief may call them alone. Processes given different batches (data,
      order, or a shuffle drawn from differently seeded generators) stop
      with a ``ValueError`` at the first step where they differ. Alone (no
      launcher) the engine has one replica and changes nothing. Train
      steps run eagerly (``jit_compile=False``, PyTorch's default); only
      keras-gen models train data-parallel (a plain ``keras.Model`` trains
      alone in each process).

    ``batch_size`` in ``fit`` is the global batch size; it should be a
    multiple of the number of devices. On one host with no accelerator, set
    ``XLA_FLAGS=--xla_force_host_platform_device_count=2`` (JAX) or split the
    CPU into logical devices (TensorFlow) to try it, or start two processes
    (PyTorch); see the README sections "Multiple devices" and "Several
    hosts".

    Args:
        devices: None (default: every local GPU/TPU, else every CPU device),
            an int n (the first n of those), or a list of device names such
            as ``["gpu:0", "gpu:1"]`` (``"/device:GPU:0"`` also accepted).
            On PyTorch each process has one device: None, or the number
            of processes (a lone process: None, 1 or its device's name).
            Across processes on JAX and TensorFlow ``devices`` must be
            None: the engine spans every process's devices.

    Returns:
        A context manager; entering it returns the engine
        (``keras.distribution.DataParallel`` on JAX,
        ``tf.distribute.MirroredStrategy`` on TensorFlow,
        ``tf.distribute.MultiWorkerMirroredStrategy`` across processes on
        TensorFlow, ``keras_gen.backend._torch.ProcessDataParallel`` on
        PyTorch). Its ``num_replicas`` attribute is the number of devices
        (across processes on JAX and TensorFlow, of all processes' devices;
        on PyTorch, the number of processes). The devices are checked when
        ``data_parallel`` is called.

    Randomness: on JAX the model's SeedGenerators draw the noise of the
    whole global batch (SPMD), so training matches one device bit for bit
    up to floating-point reduction order. Under ``MirroredStrategy`` every
    replica draws from the same (mirrored) SeedGenerator state, as Keras
    layers such as ``Dropout`` do: replicas share their latent draws (a
    GAN's z, a VAE's eps) while their images differ. The gradient is still
    that of the global-batch mean loss for those draws. On PyTorch a
    per-example draw of ``keras.random.normal``, ``uniform``, ``randint``
    or ``truncated_normal`` in a train step (a GAN's z, a VAE's eps,
    WGAN-GP's interpolation weights, DiffAugment's parameters: leading
    dimension the process's share) is drawn for the whole global batch
    from the SeedGenerator, whose state is the same on every process, and
    the process keeps its own rows: the same noise as one process on the
    same global batch, so training matches one process up to
    floating-point reduction order (except for BatchNorm, above). Draws
    from torch's global generator (Keras ``Dropout`` without a seed) are
    each process's own, different per process and step; that generator,
    from which Keras shuffles arrays, is left as it was after every step
    so that the processes keep cutting the same batches.

    Raises:
        ValueError: ``devices`` is not None, a positive int up to the number
            of devices, or a list of distinct available device names; or,
            across processes on JAX and TensorFlow, not None (on PyTorch,
            not None or the number of processes).
        NotImplementedError: on PyTorch, in a lone process that sees
            several GPUs (start one process per GPU with ``torchrun``).
        RuntimeError: in a process started by a launcher (``WORLD_SIZE``
            > 1) before :func:`initialize` joined it ("call
            keras_gen.distribute.initialize() first").

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
