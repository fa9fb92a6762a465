"""Feature extractors for FID/KID that keras-gen never uses: a second opinion.

The package's own extractors (`keras_gen.metrics.digits_feature_extractor`,
`keras_gen.metrics.shapes_feature_extractor`) are small classifiers that
the defaults were developed against. A gain measured only on them could be
a gain on their blind spots, so the benchmarks also score samples on
extractors built differently in every respect the package controls:

* `shapes_extractor`: for 64x64 `shapes` images in [0, 1]. A BatchNorm CNN
  (5x5 stride-2 stem with 32 filters, then 3x3 blocks of 64, 128 and 128
  filters, the first two stride 2, each Conv -> BatchNorm -> ReLU) with
  global average pooling; the features are the 128 pooled channels. It is
  trained not only to classify but to *describe* the scene: cross-entropy
  on the shape (4) and colour (6) plus the mean squared error of 12
  standardised continuous factors (`keras_gen.data.shapes.shape_factors`:
  centre, radius, background, colour jitter, background gradient as a
  vector, and the rotation modulo the shape's symmetry as cos/sin), with
  AdamW and a cosine-decayed learning rate, seed 1, on a different draw of
  the dataset (`load_shapes("train", seed=1)`), so none of the images it
  learns from are the ones the GANs train on.
* `digits_extractor`: for 28x28 digits in [0, 1]. Three 3x3 Conv ->
  BatchNorm -> ReLU blocks (24, 48, 64 filters) with max pooling between
  them and global average pooling (64 features), trained with SGD +
  Nesterov momentum and label smoothing 0.1 on the training digits plus
  `DIGITS_SHIFTED_COPIES` copies shifted by random whole pixels (up to 2
  each way), seed 1.

Both scale their features to unit mean square over their training images
(as the package does, so KID's cubic kernel sees values of order 1), carry
`.test_accuracy` and a classifier head, and are cached per process. They
are plain Keras and run on every backend. Nothing in keras_gen imports this
module.
"""

import functools

import keras
import numpy as np
from keras import layers

SHAPES_DATA_SEED = 1  # a different draw of the dataset from the standard seed 0
SHAPES_TRAIN_EXAMPLES = 12_000
SHAPES_EPOCHS = 6
SHAPES_FEATURES = 128
DIGITS_EPOCHS = 10  # passes over the digits and their shifted copies
DIGITS_SHIFTED_COPIES = 3
EXTRACTOR_SEED = 1
# Symmetry order of each shape (rotation is only defined modulo 2 pi / k);
# a circle has none (0: its rotation targets are 0).
_SYMMETRY = np.array([0, 4, 3, 5])


def shape_targets(factors):
    """The 12 regression targets of `shapes_extractor` from a factor dict.

    Columns: centre x, centre y, radius, background (0 dark, 1 light), the
    three colour jitters, the background gradient as `amplitude * (cos,
    sin)(angle)` and its amplitude, and `(cos, sin)(k * rotation)` with `k`
    the shape's symmetry order (0 for circles, whose rotation is
    invisible). Not standardised.
    """
    k = _SYMMETRY[factors["shape"].astype(int)]
    visible = (k > 0).astype("float64")
    amplitude = factors["gradient_amplitude"]
    return np.stack([
        factors["center_x"], factors["center_y"], factors["radius"], factors["background"],
        factors["jitter_r"], factors["jitter_g"], factors["jitter_b"],
        amplitude * np.cos(factors["gradient_angle"]),
        amplitude * np.sin(factors["gradient_angle"]), amplitude,
        visible * np.cos(k * factors["rotation"]), visible * np.sin(k * factors["rotation"]),
    ], axis=1).astype("float32")


def _block(h, filters, kernel, strides, name):
    h = layers.Conv2D(filters, kernel, strides=strides, padding="same", use_bias=False,
                      name=f"{name}_conv")(h)
    h = layers.BatchNormalization(name=f"{name}_bn")(h)
    return layers.ReLU(name=f"{name}_relu")(h)


def shapes_network(image_size=(64, 64), seed=EXTRACTOR_SEED):
    """The untrained multi-task network behind `shapes_extractor`.

    Returns a `keras.Model` images -> `[shape_logits (4), colour_logits (6),
    factors (12)]` whose layer `"features"` is the pooled embedding.
    """
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((*image_size, 3), name="images")
    h = _block(inputs, 32, 5, 2, "stem")
    h = _block(h, 64, 3, 2, "b1")
    h = _block(h, 128, 3, 2, "b2")
    h = _block(h, SHAPES_FEATURES, 3, 1, "b3")
    features = layers.GlobalAveragePooling2D(name="features")(h)
    return keras.Model(
        inputs,
        [layers.Dense(4, name="shape")(features), layers.Dense(6, name="color")(features),
         layers.Dense(12, name="factors")(features)],
        name="independent_shapes_network")


def _unit_scaled(model, layer, x, name):
    features = model.get_layer(layer).output
    raw = keras.Model(model.input, features).predict(x, batch_size=256, verbose=0)
    scale = float(np.sqrt(np.mean(np.square(raw))))
    scaled = layers.Rescaling(1.0 / scale, name="unit_scale")(features)
    return keras.Model(model.input, scaled, name=name)


@functools.lru_cache(maxsize=2)
def _shapes(image_size, num_examples, epochs, seed, data_seed):
    from keras_gen.data.shapes import load_shapes
    from keras_gen.data.shapes import shape_factors

    x, _ = load_shapes("train", image_size=image_size, num_examples=num_examples,
                       seed=data_seed)
    factors = shape_factors("train", num_examples=num_examples, seed=data_seed)
    targets = shape_targets(factors)
    mean, std = targets.mean(axis=0), targets.std(axis=0) + 1e-6
    y = [factors["shape"].astype("int32"), factors["color"].astype("int32"),
         (targets - mean) / std]
    model = shapes_network(image_size, seed)
    steps = epochs * -(-num_examples // 64)
    model.compile(
        optimizer=keras.optimizers.AdamW(
            keras.optimizers.schedules.CosineDecay(2e-3, steps), weight_decay=1e-4),
        loss=[keras.losses.SparseCategoricalCrossentropy(from_logits=True),
              keras.losses.SparseCategoricalCrossentropy(from_logits=True),
              keras.losses.MeanSquaredError()])
    model.fit(x, y, batch_size=64, epochs=epochs, shuffle=True, verbose=0)

    n_test = min(1000, num_examples)
    x_test, _ = load_shapes("test", image_size=image_size, num_examples=n_test, seed=data_seed)
    f_test = shape_factors("test", num_examples=n_test, seed=data_seed)
    shape_logits, color_logits, pred = model.predict(x_test, batch_size=256, verbose=0)
    residual = np.mean(np.square(pred - (shape_targets(f_test) - mean) / std))
    extractor = _unit_scaled(model, "features", x, "independent_shapes_extractor")
    extractor.classifier = model
    extractor.target_mean, extractor.target_std = mean, std
    extractor.test_accuracy = {
        "shape": float(np.mean(np.argmax(shape_logits, 1) == f_test["shape"])),
        "color": float(np.mean(np.argmax(color_logits, 1) == f_test["color"])),
        "factors_mse_standardised": float(residual),
    }
    return extractor


def shapes_extractor(image_size=(64, 64), num_examples=SHAPES_TRAIN_EXAMPLES,
                     epochs=SHAPES_EPOCHS, seed=EXTRACTOR_SEED, data_seed=SHAPES_DATA_SEED):
    """The independent FID/KID extractor for `shapes` images in [0, 1].

    See the module docstring. Cached per process by its arguments.

    Args:
        image_size: `(height, width)` of the images. Defaults to `(64, 64)`.
        num_examples: int, training images (of `load_shapes("train",
            seed=data_seed)`). Defaults to 12,000.
        epochs: int, training epochs. Defaults to 6.
        seed: int, seed of the weights and shuffling. Defaults to 1.
        data_seed: int, seed of the dataset draw. Defaults to 1 (the
            standard dataset is 0).

    Returns:
        A `keras.Model` images -> `(batch, 128)` unit-scaled features, with
        `.classifier` (the multi-task network: shape logits, colour logits,
        standardised factors) and `.test_accuracy` (a dict: shape and colour
        accuracy and the factors' standardised MSE on 1,000 test images of
        the same draw).
    """
    return _shapes(tuple(int(v) for v in image_size), int(num_examples), int(epochs),
                   int(seed), int(data_seed))


def shapes_groups(images, extractor):
    """Shape and colour class indices of `images` by the independent classifier."""
    shape_logits, color_logits, _ = extractor.classifier.predict(
        np.asarray(images, dtype="float32"), batch_size=256, verbose=0)
    return np.argmax(shape_logits, axis=1), np.argmax(color_logits, axis=1)


def attributes_from_outputs(shape_logits, color_logits, factors, mean, std):
    """The 14 `shapes` attributes (SHAPES_ATTRIBUTES' columns, 0/1) from the network's outputs.

    Shape and colour: the arg-max of their logits. Light_Background, Large,
    Left, Top: the dataset's own rules (background > 0.5, radius > 0.20,
    centre x < 0.5, centre y < 0.5) applied to the regressed factors,
    un-standardised with `mean` and `std` (columns of `shape_targets`).
    """
    raw = np.asarray(factors, dtype="float64") * std + mean
    n = len(raw)
    out = np.zeros((n, 14), dtype="float32")
    out[np.arange(n), np.argmax(shape_logits, axis=1)] = 1
    out[np.arange(n), 4 + np.argmax(color_logits, axis=1)] = 1
    out[:, 10] = raw[:, 3] > 0.5
    out[:, 11] = raw[:, 2] > 0.20
    out[:, 12] = raw[:, 0] < 0.5
    out[:, 13] = raw[:, 1] < 0.5
    return out


def shapes_attributes(images, extractor):
    """The 14 `shapes` attributes of `images` as the independent network reads them."""
    shape_logits, color_logits, factors = extractor.classifier.predict(
        np.asarray(images, dtype="float32"), batch_size=256, verbose=0)
    return attributes_from_outputs(shape_logits, color_logits, factors, extractor.target_mean,
                                   extractor.target_std)


def digits_network(image_size=(28, 28), seed=EXTRACTOR_SEED):
    """The untrained classifier behind `digits_extractor` (10 logits)."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((*image_size, 1), name="images")
    h = _block(inputs, 24, 3, 1, "b1")
    h = layers.MaxPooling2D(2, padding="same")(h)
    h = _block(h, 48, 3, 1, "b2")
    h = layers.MaxPooling2D(2, padding="same")(h)
    h = _block(h, 64, 3, 1, "b3")
    features = layers.GlobalAveragePooling2D(name="features")(h)
    logits = layers.Dense(10, name="logits")(layers.Dropout(0.2, seed=seed)(features))
    return keras.Model(inputs, logits, name="independent_digits_classifier")


def shifted_copies(x, copies, max_shift=2, seed=0):
    """`x` followed by `copies` copies, each image moved by random whole pixels.

    Each image of each copy moves by `(dy, dx)` drawn uniformly from
    `[-max_shift, max_shift]`; pixels moved in from outside are 0.
    """
    rng = np.random.default_rng(seed)
    out = [x]
    h, w = x.shape[1:3]
    padded = np.pad(x, ((0, 0), (max_shift, max_shift), (max_shift, max_shift), (0, 0)))
    for _ in range(copies):
        dy, dx = rng.integers(-max_shift, max_shift + 1, (2, len(x)))
        out.append(np.stack([padded[i, max_shift - dy[i]:max_shift - dy[i] + h,
                                    max_shift - dx[i]:max_shift - dx[i] + w]
                             for i in range(len(x))]))
    return np.concatenate(out).astype(x.dtype)


@functools.lru_cache(maxsize=2)
def _digits(image_size, epochs, seed, num_examples):
    from keras_gen.data import load_digits

    x, y = load_digits("train", image_size=image_size)
    x, y = x[:num_examples], np.asarray(y)[:num_examples]
    x_test, y_test = load_digits("test", image_size=image_size)
    model = digits_network(image_size, seed)
    x_aug = shifted_copies(x, DIGITS_SHIFTED_COPIES, seed=seed)
    y_aug = np.tile(np.asarray(y), DIGITS_SHIFTED_COPIES + 1)
    steps = epochs * -(-len(x_aug) // 32)
    model.compile(
        optimizer=keras.optimizers.SGD(keras.optimizers.schedules.CosineDecay(0.05, steps),
                                       momentum=0.9, nesterov=True),
        loss=keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1))
    model.fit(x_aug, keras.utils.to_categorical(y_aug, 10), batch_size=32, epochs=epochs,
              shuffle=True, verbose=0)
    predicted = np.argmax(model.predict(x_test, batch_size=256, verbose=0), axis=1)
    extractor = _unit_scaled(model, "features", x, "independent_digits_extractor")
    extractor.classifier = model
    extractor.test_accuracy = float(np.mean(predicted == np.asarray(y_test)))
    return extractor


def digits_extractor(image_size=(28, 28), epochs=DIGITS_EPOCHS, seed=EXTRACTOR_SEED,
                     num_examples=None):
    """The independent FID/KID extractor for the offline digits in [0, 1].

    See the module docstring. Cached per process by its arguments.

    Args:
        image_size: `(height, width)` of the digits. Defaults to `(28, 28)`.
        epochs: int, passes over the training digits and their shifted
            copies. Defaults to 10.
        seed: int, seed of the weights, shifts and shuffling. Defaults to 1.
        num_examples: `None` (all 1,437) or int, train on the first
            `num_examples` training digits only (for quick checks).

    Returns:
        A `keras.Model` images `(batch, H, W, 1)` -> `(batch, 64)`
        unit-scaled features (scaled on the unshifted training digits), with
        `.classifier` (10 logits) and `.test_accuracy` on the digits test
        split.
    """
    return _digits(tuple(int(v) for v in image_size), int(epochs), int(seed),
                   None if num_examples is None else int(num_examples))
