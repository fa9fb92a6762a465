"""Bottleneck auto-encoder trained on the source notes' reconstruction MSE."""

import keras
from keras import ops

from keras_gen import backend
from keras_gen.models import base
from keras_gen.models.encoder_decoder import EncoderDecoderModel
from keras_gen.models.encoder_decoder import check_codes
from keras_gen.models.encoder_decoder import check_round_trip


@keras.saving.register_keras_serializable(package="keras_gen")
class AutoEncoder(EncoderDecoderModel):
    """A bottleneck auto-encoder: x -> encoder -> z -> decoder -> x_hat.

    Source notes, "Auto-Encoders": the encoder f_phi compresses x to a bottleneck
    code z, the decoder g_theta reconstructs it, and both are trained to
    minimise the reconstruction error

        L_rec = 1/D * sum_d (x^(d) - g_theta^(d)(f_phi(x)))^2

    averaged over the batch (``keras_gen.losses.mean_squared_error``). Any
    ``add_loss`` terms and weight regularisers of the sub-models are added.
    Batches follow ``keras_gen.models.base.split_batch``'s rule: a batch
    ``(x, y)`` with floating-point y of x's shape trains x -> y (a
    denoising AE fed ``(noisy, clean)`` pairs); a y that is labels (integer
    or bool, or rank <= 2 and not x's per-example shape: class ids,
    attribute vectors, as ``keras_gen.data.load(..., with_labels=True)``
    yields) is ignored, and the model trains on x exactly as if fed x
    alone; any other y is a ``ValueError`` before training starts.

    Args:
        encoder: ``keras.Model`` or layer mapping images ``(batch, H, W, C)``
            to codes ``(batch, latent_dim)`` (functional, sequential or
            subclassed).
        decoder: ``keras.Model`` or layer mapping codes back to images of the
            encoder's input shape.
        reconstruction: str, ``"mse"`` (the source notes', default) or ``"bce"``
            (binary cross-entropy, for data in [0, 1] and a sigmoid decoder).
        **kwargs: base ``keras.Model`` arguments (``name``, ...).

    Example:

    >>> import numpy as np, keras_gen
    >>> enc = keras_gen.networks.dense_encoder((8, 8, 1), latent_dim=2)
    >>> dec = keras_gen.networks.dense_decoder(2, (8, 8, 1))
    >>> ae = keras_gen.AutoEncoder(enc, dec)
    >>> ae.compile(optimizer="adam")
    >>> x = np.random.rand(32, 8, 8, 1).astype("float32")
    >>> history = ae.fit(x, epochs=1, batch_size=16, verbose=0)
    >>> ae.encode(x).shape, ae.reconstruct(x).shape
    ((32, 2), (32, 8, 8, 1))
    """

    def __init__(self, encoder, decoder, reconstruction="mse", **kwargs):
        super().__init__(encoder, decoder, reconstruction=reconstruction, **kwargs)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.metric_trackers = [self.loss_tracker]
        self.build_if_known()

    def build(self, input_shape):
        x = keras.KerasTensor(tuple(input_shape))
        z = self.encoder(x)
        if isinstance(z, (list, tuple)):
            raise ValueError(
                "The encoder of an AutoEncoder must return one code tensor "
                f"(batch, latent_dim). Received: encoder outputs {[t.shape for t in z]}"
                " (a VAE encoder returns [z_mean, z_log_sigma]: use keras_gen.VAE)."
            )
        check_codes("encoder", z)
        check_round_trip(x, z, self.decoder)
        self._latent_dim = int(z.shape[-1])

    def call(self, inputs, training=False):
        return self.decoder(self.encoder(inputs, training=training), training=training)

    def forward_losses(self, x, target, training):
        x_hat = self(x, training=training)
        reconstruction = ops.mean(self.reconstruction_fn(target, x_hat))
        # Plus the sub-models' add_loss terms and weight regularisers.
        return base.plus_model_losses(self, reconstruction), x_hat

    def train_step(self, data):
        x, target, _ = base.split_batch(data)
        loss, x_hat = self.minimize(
            lambda: self.forward_losses(x, target, training=True),
            self.trainable_variables,
            has_aux=True,
        )
        return self.update_metrics({"loss": loss}, target, x_hat)

    def test_step(self, data):
        x, target, _ = base.split_batch(data)
        loss, x_hat = self.forward_losses(x, target, training=False)
        return self.update_metrics({"loss": loss}, target, x_hat)

    # ---------------------------------------------------------- inference
    def encode(self, x, batch_size=None):
        """Bottleneck codes of ``x`` as a NumPy array ``(n, latent_dim)``."""
        x = base.image_input(self, x)
        return base.as_float32(backend.predict(self.encoder, x, batch_size=batch_size, verbose=0))

    def latent_codes(self, x, batch_size=None):
        """The codes of ``x`` (``encode``), NumPy ``(n, latent_dim)``."""
        return self.encode(x, batch_size=batch_size)

    def sample(self, n, seed=None, labels=None, batch_size=None):
        """Not available: an AutoEncoder has no prior over its codes.

        Raises ``TypeError``; a ``VAE`` (or a ``GAN``) is the model to
        sample from. Codes of your own choosing decode with ``decode``.
        """
        raise TypeError(
            "An AutoEncoder has no prior over its codes to sample from; use "
            "keras_gen.VAE or keras_gen.GAN, or decode codes of your choosing "
            "with model.decode(z). Received: model of type AutoEncoder"
        )
