"""Reparameterised sampling with the KL regulariser."""

import keras
import numpy as np
from keras import ops

from keras_gen import _checks as checks
from keras_gen import losses
from keras_gen.layers._seed_state import load_seed_state, save_seed_state


@keras.saving.register_keras_serializable(package="keras_gen")
class Sampling(keras.layers.Layer):
    """Draws z = mu + sigma * eps and adds the weighted KL term via add_loss.

    Source notes, "Variational Auto-Encoders", re-parameterisation:
    ``z = mu_phi(x) + sigma_phi(x) * eps`` with ``eps ~ N(0, I)`` and
    ``sigma = exp(log sigma)`` (the encoder's raw output is the log of the
    standard deviation). On every call the layer adds
    ``kl_weight * mean_over_batch(KL(N(mu, sigma^2) || N(0, I)))`` through
    ``add_loss`` (the source notes' lambda * L_reg), so it shows in ``layer.losses``
    and ``model.losses`` (a zero term when ``kl_weight=0``).

    ``kl_weight`` (lambda) lives in one place: a non-trainable scalar
    variable of this layer, which the training step reads. Setting
    ``layer.kl_weight = value`` (or ``vae.kl_weight = value``) assigns it,
    so the next training step, ``get_config`` and a saved file all see the
    new value, on every backend and inside compiled steps.

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
        kl_weight = checks.non_negative_float("kl_weight", kl_weight)
        self.free_bits = checks.non_negative_float("free_bits", free_bits)
        self.seed = checks.seed("seed", seed)
        self.seed_generator = keras.random.SeedGenerator(self.seed, name="sampling_seed")
        self.kl_anneal = self.add_weight(
            shape=(),
            initializer="ones",
            trainable=False,
            dtype="float32",
            name="kl_anneal",
        )
        # lambda's one home (see the class docstring).
        self.kl_weight_variable = self.add_weight(
            shape=(),
            initializer=keras.initializers.Constant(kl_weight),
            trainable=False,
            dtype="float32",
            name="kl_weight",
        )

    @property
    def kl_weight(self):
        """lambda, a float >= 0 (the value of ``kl_weight_variable``).

        Read back as the shortest decimal that the float32 variable holds
        exactly (0.3, not 0.30000001192092896).
        """
        return float(str(np.float32(ops.convert_to_numpy(self.kl_weight_variable.value))))

    @kl_weight.setter
    def kl_weight(self, value):
        self.kl_weight_variable.assign(checks.non_negative_float("kl_weight", value))

    def kl_terms(self, z_mean, z_log_sigma):
        """``(kl, regulariser)`` in nats per example, from one KL computation.

        ``kl`` is the batch mean of KL(N(mu, sigma^2) || N(0, I)) summed over
        the latent dimensions (``keras_gen.losses.kl_divergence``); the
        regulariser is the same with the free-bits floor applied per
        dimension (``keras_gen.losses.free_bits_kl``), or ``kl`` itself
        when ``free_bits`` is 0.
        """
        per_dim = losses.kl_per_dimension(z_mean, z_log_sigma)
        kl = ops.mean(ops.sum(per_dim, axis=-1))
        if self.free_bits > 0:
            return kl, losses.free_bits_floor(per_dim, self.free_bits)
        return kl, kl

    def call(self, inputs, training=None, return_kl=False):
        """``z`` (or ``(z, kl)`` with ``return_kl``); adds the weighted regulariser.

        ``kl`` is the unweighted KL of :meth:`kl_terms`, the quantity a VAE
        logs; it is computed once and shared with the added loss.
        """
        z_mean, z_log_sigma = inputs
        kl, regulariser = self.kl_terms(z_mean, z_log_sigma)
        weight = ops.cast(self.kl_weight_variable, regulariser.dtype)
        anneal = ops.cast(self.kl_anneal, regulariser.dtype)
        self.add_loss(weight * anneal * regulariser)
        eps = keras.random.normal(
            ops.shape(z_mean), dtype=z_mean.dtype, seed=self.seed_generator
        )
        z = z_mean + ops.exp(z_log_sigma) * eps
        return (z, kl) if return_kl else z

    # Keras does not save SeedGenerator state; keep it so that a resumed run
    # (BackupAndRestore, a reloaded .keras file) continues the same noise.
    def save_own_variables(self, store):
        super().save_own_variables(store)
        save_seed_state(store, self.seed_generator)

    def load_own_variables(self, store):
        weights = load_seed_state(store, self.seed_generator)
        if "1" not in weights:
            # Saved before lambda was a variable: only kl_anneal was stored;
            # lambda comes from the config, as it did then.
            self.kl_anneal.assign(weights["0"])
            return
        super().load_own_variables(weights)

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        config = super().get_config()
        config.update(
            {"kl_weight": self.kl_weight, "seed": self.seed, "free_bits": self.free_bits}
        )
        return config
