"""Reparameterised sampling with the KL regulariser."""

import numbers

import keras
from keras import ops

from keras_gen import losses


@keras.saving.register_keras_serializable(package="keras_gen")
class Sampling(keras.layers.Layer):
    """Draws z = mu + sigma * eps and adds the weighted KL term via add_loss.

    Source notes, "Variational Auto-Encoders", re-parameterisation:
    ``z = mu_phi(x) + sigma_phi(x) * eps`` with ``eps ~ N(0, I)`` and
    ``sigma = exp(log sigma)`` (the encoder's raw output is the log of the
    standard deviation). On every call the layer adds
    ``kl_weight * mean_over_batch(KL(N(mu, sigma^2) || N(0, I)))`` through
    ``add_loss`` (the source notes' lambda * L_reg), so it shows in ``layer.losses``
    and ``model.losses``. With ``kl_weight=0`` no loss is added.

    The layer owns a ``keras.random.SeedGenerator``: its randomness is
    explicit, reproducible from ``seed`` and advances correctly inside
    compiled train steps on every backend.

    Two training aids (not in the source notes; what VAE users reach for against
    posterior collapse) change only the *added* loss, never the reported KL:

    * **KL warm-up**: the added term is multiplied by ``kl_anneal``, a
      non-trainable scalar variable (1.0 by default) that
      ``keras_gen.callbacks.KLWarmup`` ramps from 0 to 1 during the first
      steps (Bowman et al., 2016; Sonderby et al., 2016).
    * **Free bits** (Kingma et al., 2016, "Improved Variational Inference
      with Inverse Autoregressive Flow"): with ``free_bits = b > 0`` the
      regulariser is ``sum_d max(b, mean_batch(KL_d))``: a latent dimension
      whose batch-average KL is below ``b`` nats costs a constant, so the
      optimiser gains nothing by shutting it off completely.

    Args:
        kl_weight: float >= 0, lambda in the source notes' L_VAE = L_rec +
            lambda * L_reg. Defaults to 1.0.
        free_bits: float >= 0, the free-bits floor ``b`` in nats per latent
            dimension; 0 is the plain KL. Defaults to 0.0.
        seed: int or None, seed of the layer's SeedGenerator. Defaults to
            None (a random seed).
        **kwargs: base ``keras.layers.Layer`` arguments (``name``, ...).

    Example:

    >>> import numpy as np
    >>> layer = Sampling(kl_weight=1.0, seed=0)
    >>> z = layer([np.zeros((4, 2)), np.zeros((4, 2))])
    >>> tuple(z.shape), float(layer.losses[0])
    ((4, 2), 0.0)
    """

    def __init__(self, kl_weight=1.0, seed=None, free_bits=0.0, **kwargs):
        super().__init__(**kwargs)
        self.kl_weight = check_kl_weight(kl_weight)
        self.free_bits = check_free_bits(free_bits)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise TypeError(f"seed must be an int or None. Received: seed={seed!r}")
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed, name="sampling_seed")
        self.kl_anneal = self.add_weight(
            shape=(),
            initializer="ones",
            trainable=False,
            dtype="float32",
            name="kl_anneal",
        )

    def call(self, inputs, training=None):
        z_mean, z_log_sigma = inputs
        if self.kl_weight > 0:
            if self.free_bits > 0:
                kl = losses.free_bits_kl(z_mean, z_log_sigma, self.free_bits)
            else:
                kl = ops.mean(losses.kl_divergence(z_mean, z_log_sigma))
            self.add_loss(self.kl_weight * ops.cast(self.kl_anneal, kl.dtype) * kl)
        eps = keras.random.normal(
            ops.shape(z_mean), dtype=z_mean.dtype, seed=self.seed_generator
        )
        return z_mean + ops.exp(z_log_sigma) * eps

    # Keras does not save SeedGenerator state; keep it so that a resumed run
    # (BackupAndRestore, a reloaded .keras file) continues the same noise.
    def save_own_variables(self, store):
        super().save_own_variables(store)
        store["seed_state"] = ops.convert_to_numpy(self.seed_generator.state.value)

    def load_own_variables(self, store):
        if "seed_state" in store.keys():
            self.seed_generator.state.assign(store["seed_state"])
        super().load_own_variables({k: store[k] for k in store.keys() if k != "seed_state"})

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        config = super().get_config()
        config.update(
            {"kl_weight": self.kl_weight, "seed": self.seed, "free_bits": self.free_bits}
        )
        return config


def _non_negative_float(value, name):
    """A finite float >= 0, or a Keras-style error naming ``name`` and ``value``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a float >= 0. Received: {name}={value!r}")
    if not value >= 0 or value == float("inf"):
        raise ValueError(f"{name} must be a finite float >= 0. Received: {name}={value!r}")
    return float(value)


def check_kl_weight(kl_weight):
    """Validate lambda: a finite float >= 0."""
    return _non_negative_float(kl_weight, "kl_weight")


def check_free_bits(free_bits):
    """Validate the free-bits floor: a finite float >= 0 (nats per dimension)."""
    return _non_negative_float(free_bits, "free_bits")
