"""Plumbing shared by the models made of an encoder and a decoder."""

import keras

from keras_gen import losses
from keras_gen import backend
from keras_gen.models import base


# Final activations whose outputs are not confined to [0, 1].
_UNBOUNDED = ("linear", "relu", "leaky_relu", "elu", "selu", "gelu", "silu", "swish",
              "softplus", "exponential", "relu6", "mish")


class EncoderDecoderModel(base.GenerativeModel):
    """Base of ``AutoEncoder`` and ``VAE``: sub-models, inference, config.

    Subclasses create their trackers, then call ``self.build_if_known()``,
    and implement ``build``, ``call``, ``train_step``, ``test_step`` and
    ``encode``.
    """

    def __init__(self, encoder, decoder, reconstruction="mse", **kwargs):
        super().__init__(**kwargs)
        self.encoder = base.check_sub_model("encoder", encoder)
        self.decoder = base.check_sub_model("decoder", decoder)
        self.reconstruction = reconstruction
        self.reconstruction_fn = losses.reconstruction_loss(reconstruction)
        if reconstruction == "bce":
            bounded = base.activation_range(self.decoder)
            if bounded is not None and (bounded[0] < 0.0 or bounded[1] > 1.0):
                # The loss clips the outputs to [eps, 1 - eps]: negative
                # outputs would get no gradient and training go wrong silently.
                raise ValueError(
                    "reconstruction='bce' needs a decoder whose outputs are "
                    "probabilities in [0, 1] (a sigmoid final activation). Received: "
                    f"a decoder whose final activation gives outputs in {bounded}"
                )

        self._latent_dim = None

    def _check_for_training(self):
        """BCE with a decoder whose final activation leaves [0, 1] cannot train
        (outputs outside are clipped by the loss: no gradient). Checked by
        ``fit``, so that such a model saved earlier still loads."""
        activation = base.final_activation(self.decoder)
        if (self.reconstruction == "bce" and base.activation_range(self.decoder) is None
                and activation in _UNBOUNDED):
            raise ValueError(
                "reconstruction='bce' needs a decoder whose outputs are "
                "probabilities in [0, 1] (a sigmoid final activation). Received: "
                f"a decoder whose final activation is {activation!r}"
            )

    def build_if_known(self):
        """Build now when the encoder's input shape is known (functional)."""
        input_shape = base.known_input_shape(self.encoder)
        if input_shape is not None:
            self.build(input_shape)

    def decode(self, z, batch_size=None):
        """Images decoded from codes ``z`` as a NumPy array."""
        z = base.latent_input(self, z)
        return base.as_float32(backend.predict(self.decoder, z, batch_size=batch_size, verbose=0))

    def reconstruct(self, x, batch_size=None):
        """Reconstructions of ``x`` (``predict``) as a NumPy array."""
        x = base.image_input(self, x)  # checked once: not again by predict
        return base.as_float32(self._predict_checked(x, batch_size=batch_size, verbose=0))

    # ------------------------------------------------ the model protocol
    @property
    def latent_dim(self):
        """Width of the bottleneck (the decoder's input size)."""
        if self._latent_dim is not None:
            return self._latent_dim
        shape = base.known_input_shape(self.decoder)
        if shape is not None:
            return int(shape[-1])
        # ValueError, not AttributeError: on PyTorch nn.Module.__getattr__
        # replaced an AttributeError's message by "object has no attribute".
        raise ValueError(
            "latent_dim is unknown until the model is built (the decoder is not "
            "a functional model). Build or call the model first."
        )

    @property
    def decoding_network(self):
        """The decoder."""
        return self.decoder

    @property
    def encoding_network(self):
        """The encoder."""
        return self.encoder

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
            f"{tuple(z.shape)}, decoder output shape {shape}. An encoder that "
            "declares no input shape takes the shape of the data it is first "
            "called on: the images must have the decoder's output shape."
        )
    return x_hat
