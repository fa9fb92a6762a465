"""tf.data building blocks shared by the loaders: crop, resize, range, batch.

Everything here runs inside `tf.data` (graph mode), whatever
`KERAS_BACKEND` is; Keras `fit` accepts the resulting datasets on every
backend. TensorFlow is imported inside the functions so that importing
`keras_gen.data` stays cheap.
"""

import sys

SHUFFLE_BUFFER = 10_000


def pipeline_options():
    """`tf.data.Options` that keep a pipeline's threads to one core.

    keras-gen applies these to every dataset `keras_gen.data` builds; apply
    them to your own `tf.data` pipelines with `for_busy_machine(ds)`.

    * `threading.private_threadpool_size = 1`: the pipeline's map functions
      run on one thread of its own instead of TensorFlow's shared pool
      (sized to the machine's cores), so the pipeline never occupies more
      than one core alongside the training step;
    * `threading.max_intra_op_parallelism = 1`: each op inside the pipeline
      runs single-threaded;
    * `autotune.cpu_budget = 1`: tf.data's autotuner plans for one core
      (prefetch buffers and parallelism are still tuned).

    None of them changes which elements a pipeline yields or their order
    (`deterministic` is left as it is).

    Returns:
        A new `tf.data.Options`.

    Example:

    >>> options = pipeline_options()
    >>> options.threading.private_threadpool_size
    1
    """
    import tensorflow as tf

    options = tf.data.Options()
    options.threading.private_threadpool_size = 1
    options.threading.max_intra_op_parallelism = 1
    options.autotune.cpu_budget = 1
    return options


def for_busy_machine(ds):
    """Return `ds` with `pipeline_options()` applied (same elements, same order).

    For `tf.data` pipelines you build yourself, so that their threads take
    no more than one core from the training step; options already set on
    `ds` that `pipeline_options()` does not name are kept.

    Args:
        ds: a `tf.data.Dataset`.

    Returns:
        The dataset with the options applied.

    Raises:
        TypeError: if `ds` is not a `tf.data.Dataset`.

    Example:

    >>> import tensorflow as tf
    >>> ds = for_busy_machine(tf.data.Dataset.range(4).batch(2))
    >>> [b.tolist() for b in ds.as_numpy_iterator()]
    [[0, 1], [2, 3]]
    >>> ds.options().threading.max_intra_op_parallelism
    1
    """
    import tensorflow as tf

    if not isinstance(ds, tf.data.Dataset):
        raise TypeError(
            "ds must be a tf.data.Dataset. "
            f"Received: ds={ds!r} of type {type(ds).__name__}"
        )
    return ds.with_options(pipeline_options())


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


# The most float32 data one batch of a loader may hold (a batch of 128 images
# at 4096x4096x3 asked for 26 GB and the process was killed for memory).
MAX_BATCH_GB = 16


def check_batch(batch_size, num_examples, drop_remainder, image_shape=None, what="the split"):
    """Raise ValueError for a batch that is empty or too large to hold.

    `drop_remainder=True` with `batch_size` above `num_examples` (when
    known) yields no batch at all, which Keras' `fit` reports only as an
    empty dataset; `image_shape` `(height, width, channels)` bounds one
    batch's float32 size by `MAX_BATCH_GB`.
    """
    if drop_remainder and num_examples is not None and batch_size > num_examples:
        raise ValueError(
            f"drop_remainder=True drops every image: batch_size={batch_size} is larger than "
            f"the {num_examples} images of {what}, so the dataset would yield no batch. Pass a "
            f"batch_size of at most {num_examples} or drop_remainder=False. "
            f"Received: batch_size={batch_size!r}, drop_remainder={drop_remainder!r}"
        )
    if image_shape is not None:
        height, width, channels = image_shape
        batch = batch_size if num_examples is None else min(batch_size, num_examples)
        gigabytes = batch * height * width * channels * 4 / 1e9
        if gigabytes > MAX_BATCH_GB:
            raise ValueError(
                f"One batch of {batch} float32 images of {height}x{width}x{channels} would take "
                f"{gigabytes:.1f} GB (at most {MAX_BATCH_GB} GB). Pass a smaller batch_size or "
                f"image_size. Received: batch_size={batch_size!r}, "
                f"image_size={(height, width)!r}"
            )


def batch_and_prefetch(ds, batch_size, drop_remainder, batch_fn=None):
    """Batch, optionally map `batch_fn` over the batches, prefetch; options.

    The result carries `pipeline_options()`.
    """
    import tensorflow as tf

    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    if batch_fn is not None:
        ds = ds.map(batch_fn, num_parallel_calls=tf.data.AUTOTUNE)
    return for_busy_machine(ds.prefetch(tf.data.AUTOTUNE))


# Begins and ends the message of a failed class-id check (matched to name it).
_OUT_OF_RANGE = "keras-gen: class ids out of range"
_END = " (end)"


def check_class_ids(ds, num_classes, name):
    """``ds`` with every batch's integer labels checked to lie in
    ``[0, num_classes)``: a ``tf.debugging.Assert`` in the pipeline, which
    runs in TensorFlow whatever the Keras backend; :func:`check_error`
    reads its failure back."""
    import tensorflow as tf

    def check(*element):
        if len(element) < 2 or not element[1].dtype.is_integer:
            return element if len(element) > 1 else element[0]
        labels = element[1]
        valid = tf.reduce_all((labels >= 0) & (labels < num_classes))
        message = tf.strings.format(
            f"{_OUT_OF_RANGE} [0, {num_classes}) (num_classes={num_classes}) in a later batch of "
            f"the tf.data.Dataset {name}: min={{}}, max={{}}{_END}",
            (tf.reduce_min(labels), tf.reduce_max(labels)))
        with tf.control_dependencies([tf.debugging.Assert(valid, [message])]):
            labels = tf.identity(labels)
        return (element[0], labels, *element[2:])

    return ds.map(check)


_UNEVEN = "keras-gen: uneven batch"


def check_even_batches(ds, replicas, name):
    """``ds`` with every batch's size checked to be a multiple of ``replicas``
    (a ``tf.debugging.Assert`` in the pipeline, as :func:`check_class_ids`;
    :func:`check_error` reads its failure back)."""
    import tensorflow as tf

    def check(*element):
        first = tf.nest.flatten(element[0])[0]
        size = tf.shape(first)[0]
        message = tf.strings.format(
            f"{_UNEVEN} {name} must come in batches that split evenly over the {replicas} "
            f"devices of the data-parallel engine: the tf.data.Dataset {name} has a batch of "
            f"{{}} examples. Batch it by a multiple of {replicas} with drop_remainder=True "
            f"(dataset.batch(..., drop_remainder=True), or drop_remainder=True of the "
            f"keras_gen.data loaders){_END}", (size,))
        with tf.control_dependencies([tf.debugging.Assert(tf.equal(size % replicas, 0), [message])]):
            checked = tf.nest.map_structure(tf.identity, element)
        return checked if len(element) > 1 else checked[0]

    return ds.map(check)


def is_pipeline_error(error):
    """Whether ``error`` is TensorFlow's InvalidArgumentError (what an error
    inside a tf.data pipeline, or a PyFunc feeding one, arrives as)."""
    tf = sys.modules.get("tensorflow")
    return tf is not None and isinstance(error, tf.errors.InvalidArgumentError)


def check_error(error):
    """The message of a failed keras-gen pipeline check (:func:`check_class_ids`,
    :func:`check_even_batches`) in ``error``, or None."""
    if not is_pipeline_error(error):
        return None
    text = str(error)
    for marker, lead in ((_OUT_OF_RANGE, "The labels must be class ids in range: "),
                         (_UNEVEN + " ", "")):
        if marker in text and _END in text:
            start = text.index(marker) + (len("keras-gen: ") if lead else len(marker))
            return lead + text[start:text.index(_END, start)]
    return None
