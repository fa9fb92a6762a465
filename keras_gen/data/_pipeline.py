"""tf.data building blocks shared by the loaders: crop, resize, range, batch.

Everything here runs inside `tf.data` (graph mode), whatever
`KERAS_BACKEND` is; Keras `fit` accepts the resulting datasets on every
backend. TensorFlow is imported inside the functions so that importing
`keras_gen.data` stays cheap.
"""

SHUFFLE_BUFFER = 10_000


def center_crop(image, size):
    """Crop the central `size` window of one HWC image.

    Along an axis shorter than the window the whole axis is kept.
    """
    import tensorflow as tf

    shape = tf.shape(image)
    crop_h = tf.minimum(shape[0], size[0])
    crop_w = tf.minimum(shape[1], size[1])
    top = (shape[0] - crop_h) // 2
    left = (shape[1] - crop_w) // 2
    return image[top : top + crop_h, left : left + crop_w, :]


def resize(images, size):
    """Bilinear resize (antialiased when shrinking) to float32.

    Works on one HWC image or an NHWC batch. With `size=None` the images are
    only cast to float32.
    """
    import tensorflow as tf

    if size is None:
        return tf.cast(images, "float32")
    static = images.shape[-3:-1]
    if tuple(static) == tuple(size):
        return tf.cast(images, "float32")
    return tf.image.resize(
        tf.cast(images, "float32"), size, method="bilinear", antialias=True
    )


def to_value_range(images, value_range, from_range=(0.0, 255.0)):
    """Map `images` linearly from `from_range` to `value_range`, clipped."""
    import tensorflow as tf

    low, high = from_range
    new_low, new_high = value_range
    scale = (new_high - new_low) / (high - low)
    images = tf.cast(images, "float32") * scale + (new_low - low * scale)
    return tf.clip_by_value(images, new_low, new_high)


def to_channels(image, channels):
    """Convert one decoded uint8 HWC image with 1-4 channels to `channels`.

    Grey (+alpha) and RGB (+alpha) inputs are converted to grey (1), RGB (3)
    or RGBA (4, opaque alpha added where missing).
    """
    import tensorflow as tf

    count = tf.shape(image)[-1]
    has_color = count >= 3
    if channels == 1:
        out = tf.cond(
            has_color,
            lambda: tf.image.rgb_to_grayscale(image[..., :3]),
            lambda: image[..., :1],
        )
    else:
        out = tf.cond(
            has_color,
            lambda: image[..., :3],
            lambda: tf.image.grayscale_to_rgb(image[..., :1]),
        )
        if channels == 4:
            has_alpha = tf.equal(count % 2, 0)
            alpha = tf.cond(
                has_alpha,
                lambda: image[..., -1:],
                lambda: tf.ones_like(image[..., :1]) * 255,
            )
            out = tf.concat([out, alpha], axis=-1)
    out.set_shape([None, None, channels])
    return out


def batch_and_prefetch(ds, batch_size, drop_remainder, batch_fn=None):
    """Batch `ds`, optionally map `batch_fn` over the batches, prefetch."""
    import tensorflow as tf

    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    if batch_fn is not None:
        ds = ds.map(batch_fn, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)
