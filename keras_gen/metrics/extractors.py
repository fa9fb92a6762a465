"""Feature extractors for FID/KID: any Keras model, and an offline default for digits."""

import functools

import numpy as np

import keras

from keras_gen import _checks as checks


def extract_features(extractor, x, batch_size=256):
    """``extractor.predict(x)`` flattened to ``(n, d)`` float64."""
    if not callable(extractor) or not hasattr(extractor, "predict"):
        raise TypeError(
            "extractor must be a keras.Model mapping images to features. "
            f"Received: extractor={extractor!r}"
        )
    features = extractor.predict(np.asarray(x, dtype="float32"), batch_size=batch_size, verbose=0)
    features = np.asarray(features, dtype="float64")
    return features.reshape(len(features), -1)


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
def _trained(image_size, epochs, seed):
    from keras_gen.data import load_digits

    x_train, y_train = load_digits("train", image_size=image_size)
    x_test, y_test = load_digits("test", image_size=image_size)
    model = digits_classifier(image_size, seed=seed)
    model.compile(
        optimizer=keras.optimizers.Adam(2e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.fit(x_train, y_train, epochs=epochs, batch_size=64, verbose=0, shuffle=True)
    accuracy = float(model.evaluate(x_test, y_test, verbose=0)[1])
    features = model.get_layer("features").output
    # Scale the features to unit mean square, |f|^2 / d = 1 on average over
    # the training split, so KID's kernel (x.y / d + 1)^3 sees values of
    # order 1 (as Inception's pooled features do) rather than ~20, where the
    # cube makes the estimate's variance explode.
    raw = keras.Model(model.input, features).predict(x_train, batch_size=256, verbose=0)
    scale = float(np.sqrt(np.mean(np.square(raw))))
    scaled = keras.layers.Rescaling(1.0 / scale, name="unit_scale")(features)
    extractor = keras.Model(model.input, scaled, name="digits_feature_extractor")
    extractor.test_accuracy = accuracy
    extractor.classifier = model  # the trained 10-way classifier (logits)
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

    Inception-v3 features, the usual choice, need downloaded weights and
    were trained on 299x299 photographs; a classifier of the data set's own
    classes measures what matters for digits (class identity and stroke
    shape) and runs offline in seconds.

    Args:
        image_size: int or ``(height, width)``. Defaults to ``(28, 28)``.
        epochs: int, training epochs. Defaults to 20.
        seed: int, seed of the initial weights and shuffling. Defaults to 0.

    Returns:
        A ``keras.Model`` mapping ``(batch, H, W, 1)`` images to ``(batch, 64)``.
    """
    image_size = checks.image_size("image_size", image_size, allow_none=False)
    epochs = checks.positive_int("epochs", epochs)
    seed = checks.integer("seed", seed)
    return _trained(image_size, epochs, seed)
