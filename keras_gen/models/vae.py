"""Variational auto-encoder with the source notes' loss L_rec + lambda * KL."""

import keras
import numpy as np
from keras import ops

from keras_gen import _checks as checks
from keras_gen import backend
from keras_gen import losses
from keras_gen.layers.sampling import Sampling
from keras_gen.models import base
from keras_gen.models.encoder_decoder import EncoderDecoderModel
from keras_gen.models.encoder_decoder import check_codes
from keras_gen.models.encoder_decoder import check_round_trip


@keras.saving.register_keras_serializable(package="keras_gen")
class VAE(EncoderDecoderModel):
    """Variational auto-encoder (source notes, "Variational Auto-Encoders").

    The encoder maps x to the parameters of p_phi(z|x) = N(mu, sigma^2): it
    returns ``[z_mean, z_log_sigma]``, the raw second output being the log of
    the standard deviation (exp applied, never ReLU). A :class:`Sampling`
    layer draws ``z = mu + sigma * eps`` (re-parameterisation) and adds
    ``kl_weight * KL(N(mu, sigma^2) || N(0, I))`` through ``add_loss``; the
    decoder reconstructs x from z. The loss is the source notes'

        L_VAE = L_rec + lambda * L_reg

    **Reductions, and what they do to lambda.** For each example,
    ``L_rec`` is the *mean* over the D data dimensions (the source notes'
    ``1/D sum_d (x - g(z))^2``; with ``reconstruction="bce"`` the mean binary
    cross-entropy) and ``L_reg`` is the KL divergence *summed* over the latent
    dimensions, in nats; both are then averaged over the batch. Because the
    reconstruction is a per-dimension mean while the KL is a sum, lambda = 1
    weighs the prior D times more heavily, relative to the data fit, than
    the evidence lower bound does: with BCE, the negative ELBO in nats per
    image is ``D * L_rec + KL``, i.e. the ELBO corresponds to lambda = 1/D
    (1/784 for 28x28x1 images); with MSE it corresponds to a Gaussian
    decoder of variance s^2 and lambda = 2 s^2 / D. Larger lambda gives a
    smoother latent space and blurrier reconstructions; smaller lambda gives
    sharper reconstructions and more gaps in the latent space (source notes,
    "Applications"). ``kl_loss`` in the logs is the unweighted KL (nats per
    example), so it can be compared across lambdas.

    Against posterior collapse (latent dimensions the decoder ignores), ramp
    lambda up with the ``keras_gen.callbacks.KLWarmup`` callback and/or set
    ``free_bits`` (their effect on the digits: docs/evaluation.md,
    "Measurements behind the defaults").

    Batches follow ``keras_gen.models.base.split_batch``'s rule: x alone,
    or ``(x, y)`` where a floating-point y of x's shape is the image to
    reconstruct from x (denoising pairs), and a y that is labels (integer
    or bool, or rank <= 2 and not x's per-example shape: class ids,
    attribute vectors from ``keras_gen.data.load(..., with_labels=True)``)
    is ignored: the VAE is unconditional and trains on x exactly as if fed
    x alone. Any other y is a ``ValueError`` before training starts.

    Logs: ``loss`` (the total above, including any sub-model regularisers),
    ``reconstruction_loss``, ``kl_loss`` and ``neg_elbo``, the negative
    evidence lower bound in nats per example, which does not depend on
    lambda and so can rank models trained with different lambdas (see
    ``keras_gen.losses.negative_elbo_from_losses``; a single-sample estimate during
    training and evaluation).

    Args:
        encoder: ``keras.Model`` mapping images to ``[z_mean, z_log_sigma]``,
            two tensors of shape ``(batch, latent_dim)``.
        decoder: ``keras.Model`` mapping ``(batch, latent_dim)`` codes to
            images of the encoder's input shape.
        kl_weight: float >= 0, lambda. Defaults to 1.0. It lives in the
            Sampling layer as a variable; assigning ``vae.kl_weight`` later
            changes training, ``get_config`` and saving alike.
        reconstruction: ``"mse"`` (the source notes', default) or ``"bce"``.
        seed: int or None, seed of the sampling noise and of ``sample``.
        free_bits: float >= 0, free-bits floor in nats per latent dimension
            for the *training* regulariser (see ``keras_gen.layers.Sampling``
            and ``keras_gen.losses.free_bits_kl``); the logged ``kl_loss``
            and ``neg_elbo`` stay the plain KL. Defaults to 0.0 (off).
        **kwargs: base ``keras.Model`` arguments (``name``, ...).

    Example:

    >>> import numpy as np, keras_gen
    >>> enc = keras_gen.networks.dense_encoder((8, 8, 1), 2, variational=True)
    >>> dec = keras_gen.networks.dense_decoder(2, (8, 8, 1))
    >>> vae = keras_gen.VAE(enc, dec, kl_weight=1.0, seed=0)
    >>> vae.compile(optimizer="adam")
    >>> x = np.random.rand(32, 8, 8, 1).astype("float32")
    >>> sorted(vae.fit(x, epochs=1, verbose=0).history)
    ['kl_loss', 'loss', 'neg_elbo', 'reconstruction_loss']
    >>> vae.sample(5, seed=1).shape
    (5, 8, 8, 1)
    """

    def __init__(
        self,
        encoder,
        decoder,
        kl_weight=1.0,
        reconstruction="mse",
        seed=None,
        free_bits=0.0,
        **kwargs,
    ):
        super().__init__(encoder, decoder, reconstruction=reconstruction, **kwargs)
        self.seed = checks.seed("seed", seed)
        # lambda and the free-bits floor live in the Sampling layer alone.
        self.sampling = Sampling(
            kl_weight=kl_weight, seed=self.seed, free_bits=free_bits, name="sampling"
        )
        self.prior_seed_generator = keras.random.SeedGenerator(
            checks.derived_seed(self.seed), name="prior_seed"
        )
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.reconstruction_loss_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.kl_loss_tracker = keras.metrics.Mean(name="kl_loss")
        self.neg_elbo_tracker = keras.metrics.Mean(name="neg_elbo")
        self.metric_trackers = [
            self.loss_tracker,
            self.reconstruction_loss_tracker,
            self.kl_loss_tracker,
            self.neg_elbo_tracker,
        ]
        self.build_if_known()

    @property
    def kl_weight(self):
        """lambda (float >= 0), read from the Sampling layer's variable.

        Assigning it (``vae.kl_weight = 0.5``, also from a callback during
        ``fit``) changes the next training step, ``get_config`` and what is
        saved, on every backend.
        """
        return self.sampling.kl_weight

    @kl_weight.setter
    def kl_weight(self, value):
        value = checks.non_negative_float("kl_weight", value)
        backend.assign_during_fit(self, self.sampling.kl_weight_variable, value)

    @property
    def free_bits(self):
        """The free-bits floor in nats per dimension (fixed at construction)."""
        return self.sampling.free_bits

    def build(self, input_shape):
        x = keras.KerasTensor(tuple(input_shape))
        outputs = self.encoder(x)
        z_mean, z_log_sigma = posterior_outputs(outputs, "VAE", "keras_gen.networks.encoder")
        z = self.sampling([z_mean, z_log_sigma])
        check_round_trip(x, z, self.decoder)
        self._latent_dim = int(z_mean.shape[-1])

    def call(self, inputs, training=False):
        """Reconstruct ``inputs``: sampled z when training, else the mean.

        The source notes ("Compression and Reconstruction"): give the mean mu_phi(x)
        to the decoder for a high-quality reconstruction.
        """
        z_mean, z_log_sigma = self.encoder(inputs, training=training)
        z = self.sampling([z_mean, z_log_sigma]) if training else z_mean
        return self.decoder(z, training=training)

    # The networks, as the steps call them. A conditional subclass
    # (keras_gen.ConditionalVAE) overrides _condition (labels -> what the
    # networks take) and _encode / _decode (how the condition reaches them);
    # the unconditional VAE ignores labels (split_batch's rule).
    def _condition(self, labels):
        return None

    def _encode(self, x, condition, training):
        return self.encoder(x, training=training)

    def _decode(self, z, condition, training):
        return self.decoder(z, training=training)

    def forward_losses(self, x, target, training, condition=None):
        z_mean, z_log_sigma = self._encode(x, condition, training)
        # The Sampling layer adds kl_weight * KL through add_loss and returns
        # the unweighted KL (one computation) for the logs.
        z, kl = self.sampling([z_mean, z_log_sigma], training=training, return_kl=True)
        x_hat = self._decode(z, condition, training)
        reconstruction = ops.mean(self.reconstruction_fn(target, x_hat))
        # Plus model.losses: lambda * KL from Sampling, sub-model regularisers.
        total = base.plus_model_losses(self, reconstruction)
        return total, (reconstruction, kl, x_hat)

    def train_step(self, data):
        x, target, labels = base.split_batch(data)
        condition = self._condition(labels)
        loss, (reconstruction, kl, x_hat) = self.minimize(
            lambda: self.forward_losses(x, target, training=True, condition=condition),
            self.trainable_variables,
            has_aux=True,
        )
        return self._logs(loss, reconstruction, kl, target, x_hat)

    def test_step(self, data):
        x, target, labels = base.split_batch(data)
        loss, (reconstruction, kl, x_hat) = self.forward_losses(
            x, target, training=False, condition=self._condition(labels)
        )
        return self._logs(loss, reconstruction, kl, target, x_hat)

    def _logs(self, loss, reconstruction, kl, target, x_hat):
        dims = ops.cast(ops.size(target) // ops.shape(target)[0], "float32")
        neg_elbo = losses.negative_elbo_from_losses(reconstruction, kl, self.reconstruction, dims)
        return self.update_metrics(
            {
                "loss": loss,
                "reconstruction_loss": reconstruction,
                "kl_loss": kl,
                "neg_elbo": neg_elbo,
            },
            target,
            x_hat,
        )

    # ---------------------------------------------------------- inference
    def posterior(self, x, batch_size=None):
        """Posterior parameters of ``x``: NumPy ``(z_mean, z_log_sigma)``.

        The encoder's two outputs as they are: the mean and the *log* of the
        standard deviation of q(z|x) = N(z_mean, exp(z_log_sigma)^2), each
        ``(n, latent_dim)``.
        """
        x = base.image_input(self, x)
        z_mean, z_log_sigma = backend.predict(self.encoder, x, batch_size=batch_size, verbose=0)
        return base.as_float32((z_mean, z_log_sigma))

    def encode(self, x, batch_size=None):
        """Posterior mean and standard deviation of ``x``: NumPy ``(z_mean, z_sigma)``.

        ``z_sigma = exp(z_log_sigma)`` is the standard deviation itself, not
        its log; :meth:`posterior` returns ``(z_mean, z_log_sigma)`` and
        :meth:`latent_codes` the mean alone.
        """
        z_mean, z_log_sigma = self.posterior(x, batch_size=batch_size)
        return z_mean, np.exp(z_log_sigma)

    def latent_codes(self, x, batch_size=None):
        """The posterior means of ``x``, NumPy ``(n, latent_dim)``.

        The source notes ("Compression and Reconstruction"): the mean is the
        code to give the decoder for a faithful reconstruction.
        """
        return self.posterior(x, batch_size=batch_size)[0]

    def _prior_seed_generator(self):
        return self.prior_seed_generator

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "kl_weight": self.kl_weight,
                "seed": self.seed,
                "free_bits": self.free_bits,
            }
        )
        return config


def posterior_outputs(outputs, model_name, builder):
    """``(z_mean, z_log_sigma)`` from a VAE encoder's symbolic ``outputs``, checked.

    ValueError unless they are two tensors of one shape ``(batch, latent_dim)``;
    ``model_name`` and ``builder`` (the network builder to suggest) go in the message.
    """
    if isinstance(outputs, dict):
        raise ValueError(
            f"A {model_name} encoder must return [z_mean, z_log_sigma], a list of two "
            f"tensors, not a dict. Received: encoder outputs a dict with keys "
            f"{sorted(map(str, outputs))} (return the two tensors as a list, z_mean first)"
        )
    if not isinstance(outputs, (list, tuple)) or len(outputs) != 2:
        shapes = ([getattr(t, "shape", type(t).__name__) for t in outputs]
                  if isinstance(outputs, (list, tuple))
                  else getattr(outputs, "shape", type(outputs).__name__))
        raise ValueError(
            f"A {model_name} encoder must return [z_mean, z_log_sigma], two tensors "
            f"of shape (batch, latent_dim). Received: encoder outputs {shapes} "
            f"(build one with {builder}(..., variational=True))"
        )
    z_mean, z_log_sigma = outputs
    check_codes("encoder", z_mean)
    if tuple(z_mean.shape[1:]) != tuple(z_log_sigma.shape[1:]):
        raise ValueError(
            "z_mean and z_log_sigma must have the same shape. Received: "
            f"z_mean shape {z_mean.shape}, z_log_sigma shape {z_log_sigma.shape}"
        )
    return z_mean, z_log_sigma
