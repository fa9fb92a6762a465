"""Bottleneck auto-encoder trained on the seed's reconstruction MSE."""

import keras
from keras import ops

from keras_gen import losses
from keras_gen.models import base


@keras.saving.register_keras_serializable(package="keras_gen")
class AutoEncoder(base.GenerativeModel):
    """A bottleneck auto-encoder: x -> encoder -> z -> decoder -> x_hat.

    Seed, "Auto-Encoders": the encoder f_phi compresses x to a bottleneck
    code z, the decoder g_theta reconstructs it, and both are trained to
    minimise the reconstruction error

        L_rec = 1/D * sum_d (x^(d) - g_theta^(d)(f_phi(x)))^2

    averaged over the batch (``keras_gen.losses.mean_squared_error``). Any
    ``add_loss`` terms and weight regularisers of the sub-models are added.
    A batch given as ``(x, y)`` trains x -> y (e.g. a denoising AE).

    Args:
        encoder: ``keras.Model`` or layer mapping images ``(batch, H, W, C)``
            to codes ``(batch, latent_dim)`` (functional, sequential or
            subclassed).
        decoder: ``keras.Model`` or layer mapping codes back to images of the
            encoder's input shape.
        reconstruction: str, ``"mse"`` (the seed's, default) or ``"bce"``
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
        super().__init__(**kwargs)
        self.encoder = base.check_sub_model("encoder", encoder)
        self.decoder = base.check_sub_model("decoder", decoder)
        self.reconstruction = reconstruction
        self.reconstruction_fn = losses.reconstruction_loss(reconstruction)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.metric_trackers = [self.loss_tracker]
        self.code_dim = None
        input_shape = base.known_input_shape(encoder)
        if input_shape is not None:
            self.build(input_shape)

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
        self.code_dim = int(z.shape[-1])

    def call(self, inputs, training=False):
        return self.decoder(self.encoder(inputs, training=training), training=training)

    def forward_losses(self, x, target, training):
        x_hat = self(x, training=training)
        reconstruction = ops.mean(self.reconstruction_fn(target, x_hat))
        total = reconstruction
        extra = self.losses  # sub-models' add_loss terms and regularisers
        if extra:
            total = total + ops.sum(ops.stack([ops.cast(t, total.dtype) for t in extra]))
        return total, x_hat

    def train_step(self, data):
        x, target = base.unpack(data)
        loss, x_hat = self.minimize(
            lambda: self.forward_losses(x, target, training=True),
            self.trainable_variables,
            has_aux=True,
        )
        return self.update_metrics({"loss": loss}, target, x_hat)

    def test_step(self, data):
        x, target = base.unpack(data)
        loss, x_hat = self.forward_losses(x, target, training=False)
        return self.update_metrics({"loss": loss}, target, x_hat)

    # ---------------------------------------------------------- inference
    def encode(self, x, batch_size=None):
        """Bottleneck codes of ``x`` as a NumPy array ``(n, latent_dim)``."""
        return self.encoder.predict(x, batch_size=batch_size, verbose=0)

    def decode(self, z, batch_size=None):
        """Images decoded from codes ``z`` as a NumPy array."""
        return self.decoder.predict(z, batch_size=batch_size, verbose=0)

    def reconstruct(self, x, batch_size=None):
        """decode(encode(x)) as a NumPy array."""
        return self.predict(x, batch_size=batch_size, verbose=0)

    @property
    def latent_dim(self):
        """Width of the bottleneck (the decoder's input size)."""
        return latent_dim_of(self)

    # -------------------------------------------------------------- config
    def _expected_data_rank(self):
        shape = base.known_input_shape(self.encoder)
        return None if shape is None else len(shape)

    def _required_value_range(self):
        return (0.0, 1.0) if self.reconstruction == "bce" else None

    def _value_range_reason(self):
        return "reconstruction='bce' needs targets in [0, 1]"

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "encoder": keras.saving.serialize_keras_object(self.encoder),
                "decoder": keras.saving.serialize_keras_object(self.decoder),
                "reconstruction": self.reconstruction,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("encoder", "decoder"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)


def check_codes(name, code):
    """ValueError unless ``code`` is a (batch, latent_dim) tensor."""
    if len(code.shape) != 2 or code.shape[-1] is None:
        raise ValueError(
            f"The {name} must output codes of shape (batch, latent_dim). "
            f"Received: {name} output shape {code.shape}"
        )


def check_round_trip(x, z, decoder):
    """ValueError unless the decoder maps codes back to the input shape.

    Returns the symbolic reconstruction.
    """
    expected = base.known_input_shape(decoder)
    if expected is not None and tuple(expected[1:]) != tuple(z.shape[1:]):
        raise ValueError(
            "The decoder's input must match the encoder's code size. "
            f"Received: encoder output shape {tuple(z.shape)}, decoder input "
            f"shape {expected}"
        )
    x_hat = decoder(z)
    if isinstance(x_hat, (list, tuple)) or tuple(x_hat.shape[1:]) != tuple(x.shape[1:]):
        shape = [t.shape for t in x_hat] if isinstance(x_hat, (list, tuple)) else tuple(x_hat.shape)
        raise ValueError(
            "The decoder must map codes back to the encoder's input shape. "
            f"Received: encoder input shape {tuple(x.shape)}, code shape "
            f"{tuple(z.shape)}, decoder output shape {shape}"
        )
    return x_hat


def latent_dim_of(model):
    if getattr(model, "code_dim", None) is not None:
        return model.code_dim
    shape = base.known_input_shape(model.decoder)
    if shape is not None:
        return shape[-1]
    raise AttributeError(
        "latent_dim is unknown until the model is built (the decoder is not "
        "a functional model). Build or call the model first."
    )
