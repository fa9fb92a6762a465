"""Minibatch standard deviation: a discriminator's view of sample diversity."""

import keras
from keras import ops

from keras_gen import _checks as checks


@keras.saving.register_keras_serializable(package="keras_gen")
class MinibatchStdDev(keras.layers.Layer):
    """Appends the feature standard deviation over the batch, or over groups of it, as one channel.

    Karras et al. (2018), "Progressive Growing of GANs", section 3: for
    NHWC features ``h`` of a batch, the standard deviation of every
    feature over the batch, ``sqrt(var_batch(h) + 1e-8)``, is averaged
    over all features and positions into one number, which is appended to
    every image as a constant channel. A generator that makes the same
    image again and again (mode collapse) gives a batch of fakes a much
    smaller value than a batch of real images, so the discriminator can
    see and punish it. The statistic is computed in float32 and cast back
    to the input's dtype; a batch of one image gets 1e-4 (no spread).

    With ``group_size=G`` the statistic is taken per group instead, as in
    StyleGAN (Karras et al., 2019/2020): image ``i`` of a batch of ``N``
    joins group ``i mod ceil(N / G)``, so groups hold ``G`` images (or
    ``G - 1`` when ``G`` does not divide ``N``; the whole batch when
    ``N <= G``), and every image gets its own group's number. Each image
    then carries a statistic of a few of its batch mates, which tells the
    discriminator more about each sample than one number for the batch.

    Args:
        group_size: int >= 1 or None, images per group. Defaults to `None`
            (the whole batch, the 2018 paper's form).

    Example:

    >>> import numpy as np
    >>> h = np.stack([np.zeros((2, 2, 3)), np.ones((2, 2, 3))]).astype("float32")
    >>> out = keras.ops.convert_to_numpy(MinibatchStdDev()(h))
    >>> out.shape, round(float(out[0, 0, 0, 3]), 4)
    ((2, 2, 2, 4), 0.5)
    """

    def __init__(self, group_size=None, **kwargs):
        super().__init__(**kwargs)
        self.group_size = checks.positive_int("group_size", group_size, allow_none=True)

    def call(self, inputs):
        h = ops.cast(inputs, "float32")
        if self.group_size is None:
            spread = ops.mean(ops.sqrt(ops.var(h, axis=0) + 1e-8))
        else:
            n = ops.shape(h)[0]
            groups = (n + self.group_size - 1) // self.group_size
            group = ops.arange(n) % groups
            # same[i, j] = 1 where images i and j share a group
            same = ops.cast(ops.equal(group[:, None], group[None, :]), "float32")
            flat = ops.reshape(h, (n, -1))
            count = ops.sum(same, axis=1, keepdims=True)
            mean = ops.matmul(same, flat) / count
            # every image of a group has its group's mean: a two-pass variance
            var = ops.matmul(same, ops.square(flat - mean)) / count
            spread = ops.mean(ops.sqrt(var + 1e-8), axis=1)
            # one number per image, broadcast over its positions (any rank >= 2)
            spread = ops.reshape(spread, (-1,) + (1,) * (len(h.shape) - 1))
        channel = ops.ones_like(h[..., :1]) * spread
        return ops.cast(ops.concatenate([h, channel], axis=-1), inputs.dtype)

    def compute_output_shape(self, input_shape):
        channels = input_shape[-1]
        return (*input_shape[:-1], None if channels is None else channels + 1)

    def get_config(self):
        return {**super().get_config(), "group_size": self.group_size}
