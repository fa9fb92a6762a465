"""Feature extractors for FID/KID: any Keras model, and offline defaults.

* ``digits_feature_extractor``: a small CNN trained on the offline digits
  (1-channel images);
* ``shapes_feature_extractor``: a small CNN trained on the attributes of
  the offline RGB ``shapes`` dataset, whose classifier also labels images
  (``predict_attributes``);
* ``inception_v3_extractor``: the standard FID features (Inception-v3's
  2048-d pool features), for any image size with 1 or 3 channels; its
  ImageNet weights come from Keras' usual download or a local file.

``select_extractor`` picks one of these for a given image shape (what
``fid`` and ``kid`` do) or says which ones fit.
"""

import functools
import os

import numpy as np

import keras

from keras_gen import _checks as checks
from keras_gen import backend

EXTRACTOR_NAMES = ("digits", "shapes", "inception_v3")


_RANGE_TOLERANCE = 1e-3  # float round-off of a rescaled tanh output


def is_builtin(extractor):
    """Whether ``extractor`` is one of the package's (digits, shapes,
    Inception-v3), which take images in [0, 1]."""
    return getattr(extractor, "keras_gen_extractor", False) is True


def check_finite_images(name, images):
    """ValueError unless ``images`` (an array, as ``check_images`` returns it)
    holds at least one image, every value finite."""
    if len(images) == 0:
        raise ValueError(f"{name} must hold at least one image. Received: {name}.shape={images.shape}")
    # min and max propagate NaN and reach +-Inf: no mask of the whole array
    # unless something is wrong.
    low, high = float(images.min()), float(images.max())
    if not (np.isfinite(low) and np.isfinite(high)):
        raise ValueError(
            f"{name} holds NaN or infinite values ({int((~np.isfinite(images)).sum())} of "
            f"{images.size}); features of such images mean nothing. Received: {name} with NaN/Inf"
        )
    return low, high


def check_unit_range(name, images):
    """``check_finite_images``, then ValueError unless the values are in [0, 1]
    (the built-in extractors' range)."""
    low, high = check_finite_images(name, images)
    if low < -_RANGE_TOLERANCE or high > 1.0 + _RANGE_TOLERANCE:
        raise ValueError(
            f"{name} must hold images in [0, 1], the range of the built-in extractors "
            "(map a tanh generator's samples with (x + 1) / 2 first, uint8 images with x / 255). "
            f"Received: {name} with min={low:.4g}, max={high:.4g}"
        )


def extract_features(extractor, x, batch_size=256):
    """``extractor.predict(x)`` flattened to ``(n, d)`` float64.

    ``x`` must hold at least one image, all values finite; for the
    package's extractors (``digits_feature_extractor``,
    ``shapes_feature_extractor``, ``inception_v3_extractor``) the values
    must also lie in [0, 1], as for ``fid`` and ``kid`` (a ValueError names
    the range received). A ``keras.Model`` of your own takes whatever range
    it was trained on.
    """
    if not callable(extractor) or not hasattr(extractor, "predict"):
        raise TypeError(
            "extractor must be a keras.Model mapping images to features. "
            f"Received: extractor={extractor!r}"
        )
    batch_size = checks.positive_int("batch_size", batch_size)
    try:
        x = np.asarray(x, dtype="float32")
    except (TypeError, ValueError) as error:
        raise checks.ArgumentTypeError(
            f"x must be an array of images. Received: x of type {type(x).__name__}") from error
    if is_builtin(extractor):
        check_unit_range("x", x)
    else:
        check_finite_images("x", x)
    features = backend.predict(extractor, x, batch_size=batch_size, verbose=0)
    features = np.asarray(features, dtype="float64")
    return features.reshape(len(features), -1)


def check_images(name, images, channels=None):
    """``images`` as a float32 array ``(n, height, width, channels)``, else a ValueError.

    ``channels``: None (any), an int or a tuple of allowed channel counts.
    """
    try:
        array = np.asarray(images, dtype="float32")
    except (TypeError, ValueError) as error:
        raise checks.ArgumentTypeError(
            f"{name} must be an array of images (n, height, width, channels). "
            f"Received: {name} of type {type(images).__name__}"
        ) from error
    if array.ndim != 4 or min(array.shape[1:], default=0) < 1:
        raise ValueError(
            f"{name} must be a batch of images (n, height, width, channels). "
            f"Received: {name}.shape={array.shape}"
        )
    if channels is not None:
        allowed = (channels,) if checks.is_int(channels) else tuple(channels)
        if array.shape[-1] not in allowed:
            wanted = " or ".join(str(c) for c in allowed)
            raise ValueError(
                f"{name} must have {wanted} channel(s) (n, height, width, {wanted}). "
                f"Received: {name}.shape={array.shape}"
            )
    return array


# ------------------------------------------------ small trained extractors
def _fit_and_scale(model, x_train, y_train, loss, epochs, name, batch_size=64,
                   learning_rate=2e-3):
    """Train ``model`` (a classifier with a layer named ``features``); return
    the feature extractor, its features scaled to unit mean square.

    The features are divided by one constant so that |f|^2 / d = 1 on
    average over ``x_train``: KID's kernel (x.y / d + 1)^3 then sees values
    of order 1 (as Inception's pooled features do) rather than ~20, where
    the cube makes the estimate's variance explode. The trained classifier
    is ``extractor.classifier``.
    """
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss)
    model.fit(x_train, y_train, epochs=epochs, batch_size=batch_size, verbose=0, shuffle=True)
    features = model.get_layer("features").output
    raw = keras.Model(model.input, features).predict(x_train, batch_size=256, verbose=0)
    scale = float(np.sqrt(np.mean(np.square(raw))))
    scaled = keras.layers.Rescaling(1.0 / scale, name="unit_scale")(features)
    extractor = keras.Model(model.input, scaled, name=name)
    extractor.classifier = model
    # Both take images in [0, 1] (is_builtin).
    extractor.keras_gen_extractor = model.keras_gen_extractor = True
    return extractor


def digits_classifier(image_size=(28, 28), feature_dim=64, seed=0):
    """The untrained CNN behind :func:`digits_feature_extractor`."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((*image_size, 1), name="images")
    h = keras.layers.Conv2D(16, 3, strides=2, padding="same", activation="relu")(inputs)
    h = keras.layers.Conv2D(32, 3, strides=2, padding="same", activation="relu")(h)
    h = keras.layers.GlobalAveragePooling2D()(h) if min(image_size) < 8 else keras.layers.Flatten()(h)
    features = keras.layers.Dense(feature_dim, activation="relu", name="features")(h)
    logits = keras.layers.Dense(10, name="logits")(features)
    return keras.Model(inputs, logits, name="digits_classifier")


@functools.lru_cache(maxsize=4)
def _trained_digits(image_size, epochs, seed):
    from keras_gen.data import load_digits

    x_train, y_train = load_digits("train", image_size=image_size)
    x_test, y_test = load_digits("test", image_size=image_size)
    model = digits_classifier(image_size, seed=seed)
    extractor = _fit_and_scale(
        model, x_train, y_train,
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        epochs, name="digits_feature_extractor",
    )
    logits = model.predict(x_test, batch_size=256, verbose=0)
    extractor.test_accuracy = float(np.mean(np.argmax(logits, axis=-1) == np.asarray(y_test)))
    return extractor


def digits_feature_extractor(image_size=(28, 28), epochs=20, seed=0):
    """The default FID/KID feature extractor for the offline digits.

    A small CNN (two stride-2 3x3 convolutions with 16 and 32 filters, a
    64-unit ReLU layer, a 10-way output) trained with Adam for ``epochs``
    epochs on ``keras_gen.data.load_digits("train")``, seeded; the features
    are its 64-unit penultimate layer, divided by one constant so that
    their mean square over the training split is 1 (which keeps KID's cubic
    kernel well conditioned; FID scales by the square of it). Inputs are images in [0, 1] of shape
    ``(*image_size, 1)``; rescale GAN outputs from [-1, 1] first. The
    trained extractor is cached in the process, keyed by the arguments, and
    carries its digit-classification accuracy on the held-out test split as
    ``extractor.test_accuracy`` (each backend draws its own initial
    weights, so it differs slightly between backends; the figures are in
    docs/evaluation.md), and the trained 10-way classifier (logits) as
    ``extractor.classifier``,
    e.g. to check which digits generated samples show.

    Training calls ``keras.utils.set_random_seed(seed)`` (so the extractor
    is the same in every run), which resets the global Python, NumPy and
    backend seeds; build it before seeding your own work.

    Inception-v3 features (:func:`inception_v3_extractor`), the usual
    choice, need downloaded weights and were trained on 299x299
    photographs; a classifier of the data set's own classes measures what
    matters for digits (class identity and stroke shape) and runs offline
    in seconds.

    Args:
        image_size: int or ``(height, width)``. Defaults to ``(28, 28)``.
        epochs: int, training epochs. Defaults to 20.
        seed: int, seed of the initial weights and shuffling. Defaults to 0.

    Returns:
        A ``keras.Model`` mapping ``(batch, H, W, 1)`` images to ``(batch, 64)``.
    """
    image_size = checks.image_size("image_size", image_size, allow_none=False)
    epochs = checks.positive_int("epochs", epochs)
    seed = checks.seed("seed", seed, allow_none=False)
    return _trained_digits(image_size, epochs, seed)


# The shapes extractor's accuracy keys, one per group of SHAPES_ATTRIBUTE_GROUPS.
SHAPES_GROUP_KEYS = ("shape", "color", "background", "size", "left", "top")
_SHAPES_FILTERS = (32, 64, 128, 128)


def _shapes_groups():
    """``(key, start, stop)`` column ranges of the attribute groups."""
    from keras_gen.data.shapes import SHAPES_ATTRIBUTE_GROUPS

    start, out = 0, []
    for key, group in zip(SHAPES_GROUP_KEYS, SHAPES_ATTRIBUTE_GROUPS):
        out.append((key, start, start + len(group)))
        start += len(group)
    return out


def attributes_from_logits(logits):
    """0/1 float32 ``shapes`` attributes from the classifier's 14 logits.

    Within each one-hot group (shape, colour) the largest logit is 1, the
    others 0; each single attribute is 1 where its logit is > 0
    (probability > 0.5).
    """
    logits = np.asarray(logits, dtype="float32")
    out = np.zeros(logits.shape, dtype="float32")
    for _, start, stop in _shapes_groups():
        if stop - start > 1:
            winner = np.argmax(logits[:, start:stop], axis=-1)
            out[np.arange(len(logits)), start + winner] = 1.0
        else:
            out[:, start] = logits[:, start] > 0
    return out


def shapes_classifier(image_size=(64, 64), feature_dim=128, seed=0):
    """The untrained CNN behind :func:`shapes_feature_extractor`.

    Images in [0, 1] are mapped to [-1, 1], then 1 to 4 stride-2 3x3
    convolutions (32, 64, 128, 128 filters; as many as bring the smaller
    side down to 4-7 pixels), whose last map is flattened (where the object
    is) and max- and average-pooled (what it is, wherever it is), a
    ``feature_dim``-unit ReLU layer named ``features`` and 14 logits.
    """
    height, width = checks.image_size("image_size", image_size, allow_none=False)
    keras.utils.set_random_seed(seed)
    layers = keras.layers
    inputs = keras.Input((height, width, 3), name="images")
    h = layers.Rescaling(2.0, offset=-1.0)(inputs)
    steps = int(np.clip(np.floor(np.log2(min(height, width) / 4.0)), 1, len(_SHAPES_FILTERS)))
    for filters in _SHAPES_FILTERS[:steps]:
        h = layers.Conv2D(filters, 3, strides=2, padding="same", activation="relu")(h)
    h = layers.Concatenate()([
        layers.Flatten()(h), layers.GlobalMaxPooling2D()(h), layers.GlobalAveragePooling2D()(h),
    ])
    features = layers.Dense(feature_dim, activation="relu", name="features")(h)
    logits = layers.Dense(14, name="logits")(features)
    return keras.Model(inputs, logits, name="shapes_classifier")


def _group_accuracy(logits, labels):
    predicted = attributes_from_logits(logits)
    return {
        key: float(np.mean(np.all(predicted[:, start:stop] == labels[:, start:stop], axis=-1)))
        for key, start, stop in _shapes_groups()
    }


SHAPES_BATCH_SIZE = 32
SHAPES_LEARNING_RATE = 1e-3


@functools.lru_cache(maxsize=4)
def _trained_shapes(image_size, epochs, seed, num_examples, learning_rate_decay):
    from keras_gen.data.shapes import load_shapes

    x_train, y_train = load_shapes("train", image_size=image_size, num_examples=num_examples)
    model = shapes_classifier(image_size, seed=seed)
    learning_rate = SHAPES_LEARNING_RATE
    if learning_rate_decay == "cosine":
        steps = epochs * -(-num_examples // SHAPES_BATCH_SIZE)
        learning_rate = keras.optimizers.schedules.CosineDecay(SHAPES_LEARNING_RATE, steps)
    extractor = _fit_and_scale(
        model, x_train, y_train, keras.losses.BinaryCrossentropy(from_logits=True),
        epochs, name="shapes_feature_extractor", batch_size=SHAPES_BATCH_SIZE,
        learning_rate=learning_rate,
    )
    del x_train
    x_test, y_test = load_shapes("test", image_size=image_size)
    logits = model.predict(x_test, batch_size=256, verbose=0)
    extractor.test_accuracy = _group_accuracy(logits, y_test)
    return extractor


def shapes_feature_extractor(image_size=(64, 64), epochs=8, seed=0, num_examples=10_000,
                             learning_rate_decay=None):
    """A FID/KID feature extractor and attribute classifier for ``shapes``.

    A small CNN (:func:`shapes_classifier`: stride-2 convolutions, a
    128-unit ReLU layer, 14 logits) trained with Adam and a sigmoid binary
    cross-entropy per attribute (multi-label) for ``epochs`` epochs on the
    first ``num_examples`` images of
    ``keras_gen.data.load_shapes("train")`` at ``image_size``, seeded
    (batches of 32, learning rate 1e-3; with
    ``learning_rate_decay="cosine"`` it falls to 0 along a cosine over the
    run, which makes the size and side calls more exact: the judge of
    ``recipes/alter_attributes.py``; the FID figures use the default). The
    features are its 128-unit penultimate layer, divided by one constant so
    that their mean square over the training images is 1 (as
    :func:`digits_feature_extractor`'s, for KID). Inputs are RGB images in
    [0, 1] of shape ``(*image_size, 3)``; rescale GAN outputs from [-1, 1]
    first. The trained extractor is cached in the process, keyed by the
    arguments, and carries:

    * ``extractor.classifier``: the trained classifier, images -> 14
      logits, one per name in ``keras_gen.data.SHAPES_ATTRIBUTES`` (turn
      them into 0/1 attributes with :func:`predict_attributes`);
    * ``extractor.test_accuracy``: a dict of accuracies on the 5,000
      images of ``load_shapes("test")``, one per attribute group:
      ``shape`` and ``color`` (the arg-max of the group is right),
      ``background``, ``size``, ``left`` and ``top`` (the single
      attribute's logit has the right sign). The figures at 64x64 are in
      the README; each backend draws its own initial weights, so they
      differ slightly between backends.

    Training calls ``keras.utils.set_random_seed(seed)``, which resets the
    global Python, NumPy and backend seeds; build it before seeding your
    own work.

    Args:
        image_size: int or ``(height, width)``. Defaults to ``(64, 64)``.
        epochs: int, training epochs. Defaults to 8.
        seed: int, seed of the initial weights and shuffling. Defaults to 0.
        num_examples: int, how many training images (the first ones of the
            split). Defaults to 10,000.
        learning_rate_decay: None (a constant learning rate, the default)
            or ``"cosine"``.

    Returns:
        A ``keras.Model`` mapping ``(batch, H, W, 3)`` images to ``(batch, 128)``.
    """
    from keras_gen.data.shapes import SHAPES_SPLIT_SIZES

    image_size = checks.image_size("image_size", image_size, allow_none=False)
    epochs = checks.positive_int("epochs", epochs)
    seed = checks.seed("seed", seed, allow_none=False)
    num_examples = checks.integer("num_examples", num_examples, minimum=2,
                                  maximum=SHAPES_SPLIT_SIZES["train"])
    learning_rate_decay = checks.choice("learning_rate_decay", learning_rate_decay,
                                        (None, "cosine"))
    return _trained_shapes(image_size, epochs, seed, num_examples, learning_rate_decay)


def predict_attributes(images, extractor=None, batch_size=256):
    """The ``shapes`` attributes an attribute classifier sees in ``images``.

    Args:
        images: RGB images ``(n, H, W, 3)`` in [0, 1].
        extractor: a :func:`shapes_feature_extractor` (its ``classifier`` is
            used), or a ``keras.Model`` mapping the images to 14 logits;
            None trains (or reuses) ``shapes_feature_extractor`` at the
            images' size with its defaults.
        batch_size: ``predict`` batch size.

    Returns:
        float32 ``(n, 14)`` of 0/1, columns as in
        ``keras_gen.data.SHAPES_ATTRIBUTES``: exactly one 1 in each one-hot
        group (shape, colour: the largest logit), and each single attribute
        1 where its logit is > 0 (probability > 0.5).

    Raises:
        ValueError: if ``images`` is not ``(n, H, W, 3)`` with n >= 1, holds
            NaN or Inf, is outside [0, 1] (with the package's extractor; a
            model of your own takes its own range), or the classifier does
            not output 14 logits.
        TypeError: if ``extractor`` is neither None nor a Keras model.
    """
    x = check_images("images", images, channels=3)
    batch_size = checks.positive_int("batch_size", batch_size)
    if extractor is None or is_builtin(extractor):
        check_unit_range("images", x)
    else:
        check_finite_images("images", x)
    if extractor is None:
        extractor = shapes_feature_extractor(image_size=x.shape[1:3])
    classifier = getattr(extractor, "classifier", extractor)
    if not isinstance(classifier, keras.Model):
        raise TypeError(
            "extractor must be None, a shapes_feature_extractor or a keras.Model mapping "
            f"images to 14 attribute logits. Received: extractor={extractor!r}"
        )
    logits = np.asarray(backend.predict(classifier, x, batch_size=batch_size, verbose=0))
    if logits.ndim != 2 or logits.shape[1] != 14:
        raise ValueError(
            "extractor's classifier must output 14 attribute logits per image. "
            f"Received: output shape {logits.shape}"
        )
    return attributes_from_logits(logits)


# ------------------------------------------------------------ Inception-v3
INCEPTION_V3_WEIGHTS_FILE = "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"
INCEPTION_V3_WEIGHTS_URL = (
    "https://storage.googleapis.com/tensorflow/keras-applications/inception_v3/"
    + INCEPTION_V3_WEIGHTS_FILE
)
_INCEPTION_V3_WEIGHTS_MD5 = "bcbd6486424b2319ff4ef7d526e38f63"  # as keras.applications checks it
_INCEPTION_MIN_SIZE = 75  # keras.applications.InceptionV3's smallest input


class InceptionWeightsUnavailableError(RuntimeError):
    """Inception-v3's ImageNet weights are neither cached nor downloadable.

    Raised by :func:`inception_v3_extractor` (and by ``fid``/``kid`` on RGB
    images with the default extractor) when the file
    ``inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5`` is not in
    the Keras cache and its download host cannot be reached or the
    download fails. The message names the file, where to download it and
    how to supply it; the original failure is chained as ``__cause__``.

    Example:

    >>> from keras_gen.metrics import InceptionWeightsUnavailableError
    >>> issubclass(InceptionWeightsUnavailableError, RuntimeError)
    True
    """


def _keras_cache_dir():
    """The directory Keras downloads into (``~/.keras`` or ``$KERAS_HOME``)."""
    try:
        from keras.src.backend.config import keras_home
    except ImportError:  # pragma: no cover - a Keras without this accessor
        return os.environ.get("KERAS_HOME", os.path.join(os.path.expanduser("~"), ".keras"))
    return keras_home()


def _unavailable(reason, cache_dir):
    folder = os.path.join(os.path.expanduser(cache_dir), "models")
    return (
        f"Inception-v3's ImageNet weights are not available: {reason}.\n"
        f"The inception_v3 feature extractor needs the file {INCEPTION_V3_WEIGHTS_FILE}.\n"
        "To supply it by hand:\n"
        f"  1. On a machine with internet access, download\n       {INCEPTION_V3_WEIGHTS_URL}\n"
        "  2. Either copy it into the Keras cache directory on this machine,\n"
        f"       {os.path.join(folder, INCEPTION_V3_WEIGHTS_FILE)}\n"
        "     (then weights='imagenet', the default, finds it), or pass its path:\n"
        "       keras_gen.metrics.inception_v3_extractor(weights='/path/to/"
        f"{INCEPTION_V3_WEIGHTS_FILE}')\n"
        "     and give that model to fid/kid as extractor=."
    )


def _imagenet_weights_path():
    """The cached notop weights file, downloaded first if needed (after a fast probe)."""
    from keras_gen.data._tfds import _uses_proxy
    from keras_gen.data._tfds import probe

    cache_dir = _keras_cache_dir()
    cached = os.path.join(os.path.expanduser(cache_dir), "models", INCEPTION_V3_WEIGHTS_FILE)
    if not os.path.exists(cached) and not _uses_proxy():
        error = probe(INCEPTION_V3_WEIGHTS_URL)
        if error is not None:
            host = INCEPTION_V3_WEIGHTS_URL.split("/")[2]
            raise InceptionWeightsUnavailableError(_unavailable(
                f"they are not in the Keras cache and their download host {host} cannot "
                f"be reached ({type(error).__name__}: {error})", cache_dir)) from error
    try:
        return keras.utils.get_file(
            INCEPTION_V3_WEIGHTS_FILE, INCEPTION_V3_WEIGHTS_URL, cache_subdir="models",
            cache_dir=cache_dir, file_hash=_INCEPTION_V3_WEIGHTS_MD5,
        )
    except Exception as error:  # any download or checksum failure
        raise InceptionWeightsUnavailableError(_unavailable(
            f"downloading them failed ({type(error).__name__}: {error})", cache_dir)) from error


class InceptionV3Features(keras.Model):
    """Inception-v3's 2048-d average-pool features of images in [0, 1].

    Takes ``(batch, H, W, C)`` images of any size with ``C`` = 1 (tiled to
    3) or 3, resizes them bilinearly to ``image_size`` x ``image_size`` and
    maps them to [-1, 1] (Inception's preprocessing) before the network.
    Built by :func:`inception_v3_extractor`. ``predict`` runs it without
    XLA (``jit_compile=False``): on JAX, compiling the whole network again
    for each input shape (each image size, each last partial batch) costs
    about as much as running it op by op, whose convolutions dominate anyway.
    """

    input_channels = (1, 3)
    keras_gen_extractor = True  # takes images in [0, 1] (is_builtin)

    def __init__(self, network, image_size, **kwargs):
        super().__init__(**kwargs)
        self.network = network
        self.image_size = int(image_size)
        self.jit_compile = False

    def call(self, images):
        channels = images.shape[-1]
        if channels is not None and channels not in self.input_channels:
            raise ValueError(
                "The inception_v3 extractor takes images with 1 or 3 channels. "
                f"Received: images of shape {tuple(images.shape)}"
            )
        size = (self.image_size, self.image_size)
        images = keras.ops.image.resize(images, size, interpolation="bilinear")
        # 1 channel is tiled to 3 (also when a traced function no longer
        # knows the channels: broadcasting leaves 3 channels as they are).
        images = keras.ops.broadcast_to(images, (keras.ops.shape(images)[0], *size, 3))
        return self.network(images * 2.0 - 1.0)

    def predict(self, x, *args, **kwargs):
        shape = getattr(x, "shape", None)
        if shape is not None and len(shape) == 4 and shape[-1] not in self.input_channels:
            raise ValueError(
                "The inception_v3 extractor takes images (n, height, width, 1 or 3). "
                f"Received: x.shape={tuple(shape)}"
            )
        return super().predict(x, *args, **kwargs)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 2048)


@functools.lru_cache(maxsize=4)
def _inception(weights, image_size):
    path = _imagenet_weights_path() if weights == "imagenet" else weights
    network = keras.applications.InceptionV3(
        include_top=False, weights=None, input_shape=(image_size, image_size, 3), pooling="avg",
    )
    if path is not None:
        try:
            network.load_weights(path)
        except Exception as error:
            raise ValueError(
                "weights must be a Keras Inception-v3 notop weights file "
                f"({INCEPTION_V3_WEIGHTS_FILE}); loading it failed "
                f"({type(error).__name__}: {error}). Received: weights={weights!r}"
            ) from error
    return InceptionV3Features(network, image_size, name="inception_v3_extractor")


def inception_v3_extractor(weights="imagenet", image_size=299):
    """The standard FID/KID features: Inception-v3's 2048-d pool features.

    ``keras.applications.InceptionV3(include_top=False, pooling="avg")``
    (Szegedy et al. 2016, as in Heusel et al. 2017's FID), wrapped in a
    ``keras.Model`` that takes images in [0, 1] of any height and width
    with 1 channel (tiled to 3) or 3, resizes them bilinearly to
    ``image_size`` x ``image_size`` and maps them to [-1, 1], Inception's
    preprocessing. Built extractors are cached in the process, keyed by
    the arguments.

    The ImageNet weights (``weights="imagenet"``) are the file
    ``inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5``, read from
    the Keras cache (``~/.keras/models``, or ``$KERAS_HOME/models``) when it
    is there, else downloaded there by Keras from
    ``https://storage.googleapis.com/tensorflow/keras-applications/inception_v3/``.
    Offline, the download host is probed with a short timeout first, and
    :class:`InceptionWeightsUnavailableError` says how to supply the file.

    Args:
        weights: ``"imagenet"`` (the default), the path of a local copy of
            that weights file, or None (random weights: the code path
            without a download, as the tests use it; not a metric).
        image_size: int >= 75, the side the images are resized to.
            Defaults to 299, Inception's own (and FID's usual) input size.

    Returns:
        A ``keras.Model`` mapping ``(batch, H, W, 1 or 3)`` images to
        ``(batch, 2048)`` features.

    Raises:
        InceptionWeightsUnavailableError: ``weights="imagenet"``, the file
            is not cached and cannot be downloaded now.
        ValueError: ``weights`` is another string that is not an existing
            file, or a file that does not hold these weights;
            ``image_size`` < 75.
    """
    image_size = checks.integer("image_size", image_size, minimum=_INCEPTION_MIN_SIZE)
    if weights is not None and weights != "imagenet":
        path = os.fspath(weights) if isinstance(weights, (str, os.PathLike)) else None
        if path is None or not os.path.isfile(path):
            raise ValueError(
                "weights must be 'imagenet', None or the path of an existing "
                f"weights file ({INCEPTION_V3_WEIGHTS_FILE}). Received: weights={weights!r}"
            )
        weights = os.path.abspath(path)
    return _inception(weights, image_size)


# ------------------------------------------------------ choosing an extractor
def _fitting_names(image_shape):
    channels = image_shape[-1]
    return {1: ("digits", "inception_v3"), 3: ("shapes", "inception_v3")}.get(channels, ())


def _model_input_shape(model):
    """The per-image input shape a model declares (None entries: any), or None."""
    channels = getattr(model, "input_channels", None)
    if channels is not None:  # InceptionV3Features: any size, these channel counts
        return None
    try:
        inputs = model.inputs
    except (AttributeError, ValueError):
        return None
    if not inputs:
        return None
    return tuple(inputs[0].shape[1:])


def _mismatch(image_shape, received):
    names = _fitting_names(image_shape)
    fitting = ", ".join(f"'{n}'" for n in names)
    fitting = (fitting + " or " if fitting else "") + (
        f"a keras.Model taking (batch, {', '.join(str(d) for d in image_shape)}) images"
    )
    return ValueError(
        f"extractor {received} does not fit images of shape {tuple(image_shape)}. "
        f"Extractors that fit them: {fitting}."
    )


def select_extractor(image_shape, extractor=None):
    """The feature extractor ``fid``/``kid`` use for images of ``image_shape``.

    Args:
        image_shape: ``(height, width, channels)`` of one image.
        extractor: None, a name or a ``keras.Model``:

            * None: 1-channel images get :func:`digits_feature_extractor`
              at their size; 3-channel images get
              :func:`inception_v3_extractor` (ImageNet weights);
            * ``"digits"`` (1 channel), ``"shapes"`` (3 channels; the
              :func:`shapes_feature_extractor` at the images' size) or
              ``"inception_v3"`` (1 or 3 channels, any size);
            * a ``keras.Model`` mapping the images to feature vectors, used
              as it is once its declared input shape (if any) fits.

    Returns:
        A ``keras.Model``.

    Raises:
        ValueError: an unknown name, or an extractor that does not fit
            ``image_shape`` (the message lists the ones that do).
        TypeError: ``extractor`` is neither None, a string nor a Keras model.
        InceptionWeightsUnavailableError: Inception-v3 was chosen and its
            weights cannot be found or downloaded (for the offline
            ``shapes`` images, ``extractor="shapes"`` needs no download).
    """
    if not (isinstance(image_shape, (list, tuple)) and len(image_shape) == 3
            and all(checks.is_int(d) and d > 0 for d in image_shape)):
        raise ValueError(
            "image_shape must be a tuple (height, width, channels) of positive integers "
            f"(one image, no batch axis). Received: image_shape={image_shape!r}"
        )
    image_shape = tuple(int(d) for d in image_shape)
    height, width, channels = image_shape
    if extractor is None:
        if channels == 1:
            return digits_feature_extractor(image_size=(height, width))
        if channels == 3:
            try:
                return inception_v3_extractor()
            except InceptionWeightsUnavailableError as error:
                raise InceptionWeightsUnavailableError(
                    f"{error}\nRGB images use the inception_v3 extractor by default. For "
                    "the offline shapes dataset, extractor='shapes' (a classifier trained "
                    "on its attributes) needs no download."
                ) from error.__cause__
        raise _mismatch(image_shape, "None (the default)")
    if isinstance(extractor, str):
        if extractor not in EXTRACTOR_NAMES:
            raise ValueError(
                f"extractor must be None, one of {', '.join(repr(n) for n in EXTRACTOR_NAMES)} "
                f"or a keras.Model. Received: extractor={extractor!r}"
            )
        if extractor not in _fitting_names(image_shape):
            raise _mismatch(image_shape, f"'{extractor}'")
        if extractor == "digits":
            return digits_feature_extractor(image_size=(height, width))
        if extractor == "shapes":
            return shapes_feature_extractor(image_size=(height, width))
        return inception_v3_extractor()
    if not isinstance(extractor, keras.Model):
        raise TypeError(
            "extractor must be None, one of "
            f"{', '.join(repr(n) for n in EXTRACTOR_NAMES)} or a keras.Model mapping "
            f"images to features. Received: extractor={extractor!r}"
        )
    channels_ok = getattr(extractor, "input_channels", None)
    if channels_ok is not None and channels not in channels_ok:
        raise _mismatch(image_shape, f"{extractor.name!r} (takes {channels_ok} channels)")
    declared = _model_input_shape(extractor)
    if declared is not None and (
        len(declared) != 3
        or any(d is not None and d != i for d, i in zip(declared, image_shape))
    ):
        raise _mismatch(image_shape, f"{extractor.name!r} with input shape {(None, *declared)}")
    return extractor
