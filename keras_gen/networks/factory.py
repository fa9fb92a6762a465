"""Pick a default encoder or decoder by kind ("conv" or "dense")."""

from keras_gen import _checks as check
from keras_gen.networks.conv import conv_decoder
from keras_gen.networks.conv import conv_encoder
from keras_gen.networks.dense import dense_decoder
from keras_gen.networks.dense import dense_encoder

_ENCODERS = {"conv": conv_encoder, "dense": dense_encoder}
_DECODERS = {"conv": conv_decoder, "dense": dense_decoder}
KINDS = tuple(_ENCODERS)


def encoder(input_shape, latent_dim, kind="conv", variational=False, **kwargs):
    """Build a default image encoder of the given kind.

    Dispatches to `conv_encoder` (`kind="conv"`) or `dense_encoder`
    (`kind="dense"`); see those for the architecture and the extra keyword
    arguments each accepts.

    Args:
        input_shape: tuple `(height, width, channels)` of positive ints, with
            1 to 4 channels.
        latent_dim: int, size of the latent code. Must be positive.
        kind: str, `"conv"` or `"dense"`. Defaults to `"conv"`.
        variational: bool, whether to output `[z_mean, z_log_sigma]` (mean
            and log standard deviation) instead of a single code. Defaults
            to `False`.
        **kwargs: passed on to the builder of that kind.

    Returns:
        A functional `keras.Model`.

    Example:

    >>> from keras_gen.networks import encoder
    >>> enc = encoder((32, 32, 3), latent_dim=2, kind="conv", variational=True)
    >>> enc.output_names
    ['z_mean', 'z_log_sigma']
    """
    kind = check.choice("kind", kind, KINDS)
    return _ENCODERS[kind](
        input_shape, latent_dim, variational=variational, **kwargs
    )


def decoder(latent_dim, output_shape, kind="conv", variational=False, **kwargs):
    """Build a default image decoder of the given kind.

    Dispatches to `conv_decoder` (`kind="conv"`) or `dense_decoder`
    (`kind="dense"`); see those for the architecture and the extra keyword
    arguments each accepts.

    Args:
        latent_dim: int, size of the latent code. Must be positive.
        output_shape: tuple `(height, width, channels)` of positive ints,
            with 1 to 4 channels.
        kind: str, `"conv"` or `"dense"`. Defaults to `"conv"`.
        variational: bool, whether the decoder is a VAE's. For `"conv"` it
            turns BatchNormalization on unless `batch_norm` is given (see
            `conv_decoder`); dense decoders have none, so it changes nothing
            there. Defaults to `False`.
        **kwargs: passed on to the builder of that kind (for example
            `output_activation="tanh"` for images in [-1, 1]).

    Returns:
        A functional `keras.Model` mapping `(batch, latent_dim)` codes to
        `(batch, *output_shape)` images.

    Example:

    >>> from keras_gen.networks import decoder
    >>> decoder(2, (32, 32, 3), kind="dense").output_shape
    (None, 32, 32, 3)
    """
    kind = check.choice("kind", kind, KINDS)
    variational = check.boolean("variational", variational)
    if kind == "conv":
        kwargs["variational"] = variational
    return _DECODERS[kind](latent_dim, output_shape, **kwargs)
