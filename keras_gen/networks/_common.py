"""Pieces shared by the dense and convolutional builders."""

import math

import keras

# Name of the single latent output of a plain (non-variational) encoder.
Z_NAME = "z"
# Names of the two outputs of a variational encoder, in output order.
Z_MEAN_NAME = "z_mean"
Z_LOG_SIGMA_NAME = "z_log_sigma"


def output_dtype():
    """Dtype for output layers: float32 under a mixed policy, else default.

    Under `keras.mixed_precision` the last layers should compute in float32
    (a log-sigma that is later exponentiated, and sigmoid outputs compared to
    float32 images). Under a plain policy `None` keeps the global default.
    """
    if keras.config.dtype_policy().name.startswith("mixed"):
        return "float32"
    return None


def latent_head(x, latent_dim, variational):
    """Add the latent output layer(s) on top of the feature tensor `x`.

    Plain encoders get one linear `Dense(latent_dim)` named `"z"`.
    Variational encoders get two linear heads, `"z_mean"` and
    `"z_log_sigma"`. The second is the log of the standard deviation (the
    source notes' convention: sigma = exp(z_log_sigma), never a ReLU); its kernel
    and bias start at zero, so every input starts at sigma = 1 exactly,
    which is the N(0, I) prior: the KL term starts with no sigma part and
    exp() cannot overflow at initialisation.

    Returns:
        A tensor (plain) or a list `[z_mean, z_log_sigma]` (variational).
    """
    dtype = output_dtype()
    if not variational:
        return keras.layers.Dense(latent_dim, dtype=dtype, name=Z_NAME)(x)
    z_mean = keras.layers.Dense(latent_dim, dtype=dtype, name=Z_MEAN_NAME)(x)
    z_log_sigma = keras.layers.Dense(
        latent_dim,
        kernel_initializer="zeros",
        bias_initializer="zeros",
        dtype=dtype,
        name=Z_LOG_SIGMA_NAME,
    )(x)
    return [z_mean, z_log_sigma]


def latent_map_head(x, latent_channels, variational):
    """Add a spatial latent head on the feature map `x`: `latent_head` by map.

    A `Conv2D(latent_channels, 1)` per output on the `(h, w, channels)` map,
    flattened to `h * w * latent_channels` values, with the same output
    names (`"z"`, or `"z_mean"` and `"z_log_sigma"`); the 1x1 convolutions
    are named after them with a `"_map"` suffix. The `z_log_sigma` kernel and
    bias start at zero, as in `latent_head`.
    """
    dtype = output_dtype()

    def head(name, **init):
        y = keras.layers.Conv2D(latent_channels, 1, dtype=dtype, name=f"{name}_map", **init)(x)
        return keras.layers.Flatten(dtype=dtype, name=name)(y)

    if not variational:
        return head(Z_NAME)
    zeros = {"kernel_initializer": "zeros", "bias_initializer": "zeros"}
    return [head(Z_MEAN_NAME), head(Z_LOG_SIGMA_NAME, **zeros)]


def output_activation_layer(x, output_activation):
    """Apply the decoder's output activation as a named layer."""
    return keras.layers.Activation(
        output_activation, dtype=output_dtype(), name="output_activation"
    )(x)


def start_size(height, width, num_upsamplings):
    """Smallest map that ``num_upsamplings`` x2 upsamplings grow past (height, width)."""
    scale = 2**num_upsamplings
    return math.ceil(height / scale), math.ceil(width / scale)


def crop_to(x, height, width):
    """Crop an upsampled map to exactly (height, width); the odd row/column
    comes off the bottom/right. Adds a `Cropping2D` named "crop" only if needed."""
    extra_h, extra_w = x.shape[1] - height, x.shape[2] - width
    if not (extra_h or extra_w):
        return x
    return keras.layers.Cropping2D(
        ((extra_h // 2, extra_h - extra_h // 2), (extra_w // 2, extra_w - extra_w // 2)),
        name="crop",
    )(x)
