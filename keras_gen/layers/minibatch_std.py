"""Minibatch standard deviation: a discriminator's view of sample diversity."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_gen")
class MinibatchStdDev(keras.layers.Layer):
    """Appends the batch's average feature standard deviation as one channel.

    Karras et al. (2018), "Progressive Growing of GANs", section 3: for
    NHWC features ``h`` of a batch, the standard deviation of every
    feature over the batch, ``sqrt(var_batch(h) + 1e-8)``, is averaged
    over all features and positions into one number, which is appended to
    every image as a constant channel. A generator that makes the same
    image again and again (mode collapse) gives a batch of fakes a much
    smaller value than a batch of real images, so the discriminator can
    see and punish it. The statistic is computed in float32 and cast back
    to the input's dtype; a batch of one image gets 1e-4 (no spread).

    Example:

    >>> import numpy as np
    >>> h = np.stack([np.zeros((2, 2, 3)), np.ones((2, 2, 3))]).astype("float32")
    >>> out = keras.ops.convert_to_numpy(MinibatchStdDev()(h))
    >>> out.shape, round(float(out[0, 0, 0, 3]), 4)
    ((2, 2, 2, 4), 0.5)
    """

    def call(self, inputs):
        h = ops.cast(inputs, "float32")
        spread = ops.mean(ops.sqrt(ops.var(h, axis=0) + 1e-8))
        channel = ops.ones_like(h[..., :1]) * spread
        return ops.cast(ops.concatenate([h, channel], axis=-1), inputs.dtype)

    def compute_output_shape(self, input_shape):
        channels = input_shape[-1]
        return (*input_shape[:-1], None if channels is None else channels + 1)
