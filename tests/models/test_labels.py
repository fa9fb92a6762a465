"""The batch rule (keras_gen.models.base.split_batch): labels are never targets.

A batch ``(x, y)`` whose y is labels (integer/bool, or rank <= 2 with a
per-example shape other than x's) trains and evaluates an unconditional
model (AutoEncoder, VAE, GAN) exactly as x alone; a floating-point y with
x's shape is a target (denoising pairs); anything else is a named error
before training. Run under each backend.
"""

import keras
import numpy as np
import pytest

import keras_gen
from keras_gen.models import base
from tests import helpers
from tests.models.test_gan import tiny_gan

N, BATCH = 16, 8


class Batches(keras.utils.PyDataset):
    """A PyDataset of ``x`` or ``(x, y)`` batches of ``BATCH``."""

    def __init__(self, x, y=None):
        super().__init__()
        self.x, self.y = x, y

    def __len__(self):
        return len(self.x) // BATCH

    def __getitem__(self, index):
        part = slice(index * BATCH, (index + 1) * BATCH)
        return self.x[part] if self.y is None else (self.x[part], self.y[part])


def make(model):
    """A compiled model, the same weights and seeds on every call."""
    keras.utils.set_random_seed(0)
    if model == "ae":
        # BCE: a target outside [0, 1] is refused, labels must not be checked.
        built = keras_gen.AutoEncoder(helpers.tiny_encoder(), helpers.tiny_decoder(), reconstruction="bce")
        built.compile(optimizer=keras.optimizers.Adam(1e-2), metrics=["mae"])
    elif model == "vae":
        built = keras_gen.VAE(helpers.tiny_encoder(variational=True), helpers.tiny_decoder(), seed=0)
        built.compile(optimizer=keras.optimizers.Adam(1e-2))
    else:
        built = tiny_gan()
        built.compile(d_optimizer=keras.optimizers.Adam(1e-2), g_optimizer=keras.optimizers.Adam(1e-2))
    return built


def data_for(model, images):
    """Training images in the model's range: 8x8x1 in [0, 1], 4x4x1 in [-1, 1] for the GAN."""
    return images[:N, :4, :4] * 2.0 - 1.0 if model == "gan" else images[:N]


def int_labels():
    return (np.arange(N) * 7 % 10).astype("int64")


def attributes():
    # Float attribute vectors of -1/+1, as in CelebA's attribute file: outside
    # [0, 1], so a BCE model that read them as targets would refuse them.
    return np.where(np.random.default_rng(1).random((N, 5)) < 0.5, -1.0, 1.0).astype("float32")


def as_kind(kind, x, y=None):
    """``(data, y, fit kwargs)`` presenting x (and y) as ``kind``."""
    if kind == "array":
        return x, y, {"batch_size": BATCH, "shuffle": False}
    if kind == "PyDataset":
        return Batches(x, y), None, {}
    if kind == "generator":
        def batches():
            for i in range(0, N, BATCH):
                yield (x[i : i + BATCH],) if y is None else (x[i : i + BATCH], y[i : i + BATCH])
        return batches(), None, {"steps_per_epoch": N // BATCH}
    import tensorflow as tf

    return tf.data.Dataset.from_tensor_slices(x if y is None else (x, y)).batch(BATCH), None, {}


def fitted(model, kind, x, y=None, **kwargs):
    built = make(model)
    data, target, fit_kwargs = as_kind(kind, x, y)
    history = built.fit(data, target, epochs=1, verbose=0, **fit_kwargs, **kwargs)
    return built, history.history


def weights(model):
    return [np.asarray(w) for w in model.get_weights()]


def assert_same_weights(a, b):
    for wa, wb in zip(weights(a), weights(b), strict=True):
        np.testing.assert_allclose(wa, wb, rtol=1e-6, atol=1e-6)


def steps(model):
    optimizer = model.g_optimizer if isinstance(model, keras_gen.GAN) else model.optimizer
    return int(keras.ops.convert_to_numpy(optimizer.iterations))


# ------------------------------------------------------------------ the rule
@pytest.mark.parametrize(
    "y_shape,dtype,role",
    [
        ((32,), "int64", base.LABELS),  # class ids
        ((32,), "float32", base.LABELS),  # class ids as floats
        ((32, 1), "float32", base.LABELS),
        ((32, 14), "float32", base.LABELS),  # attribute vectors
        ((32, 10), "bool", base.LABELS),
        ((32, 8, 8), "uint8", base.LABELS),  # per-pixel class masks
        ((32, 8, 8, 1), "float32", base.TARGET),  # denoising targets
        ((32, 8, 8, 1), "float64", base.TARGET),
    ],
)
def test_rule_on_images(y_shape, dtype, role):
    x = np.zeros((32, 8, 8, 1), "float32")
    assert base.batch_role(x, np.zeros(y_shape, dtype)) == role


def test_rule_on_flat_vectors():
    # Rank <= 2 data: a y of x's per-example shape is a target, any other labels.
    x = np.zeros((32, 6), "float32")
    assert base.batch_role(x, np.zeros((32, 6), "float32")) == base.TARGET
    assert base.batch_role(x, np.zeros((32, 3), "float32")) == base.LABELS
    assert base.batch_role(x, np.zeros((32,), "float32")) == base.LABELS


def test_nested_labels_and_unknown_dims():
    x = np.zeros((4, 8, 8, 1), "float32")
    assert base.batch_role(x, {"a": np.zeros(4, "int32"), "b": np.zeros((4, 3), "float32")}) == base.LABELS
    with pytest.raises(ValueError, match=r"y must be labels in every part .* shapes \[\(4,\), \(4, 8, 8, 1\)\]"):
        base.batch_role(x, (np.zeros(4, "int32"), np.zeros((4, 8, 8, 1), "float32")))
    # Shapes as a tracer sees them: unknown batch and spatial sizes.
    symbolic = keras.KerasTensor((None, None, None, 1))
    assert base.batch_role(symbolic, keras.KerasTensor((None, None, None, 1))) == base.TARGET
    assert base.batch_role(symbolic, keras.KerasTensor((None, 14))) == base.LABELS
    assert base.batch_role(symbolic, keras.KerasTensor((None,), dtype="int32")) == base.LABELS


def test_split_batch():
    x = np.zeros((4, 8, 8, 1), "float32")
    labels = np.arange(4)
    assert all(a is b for a, b in zip(base.split_batch(x), (x, x, None)))
    assert all(a is b for a, b in zip(base.split_batch((x, labels)), (x, x, labels)))
    clean = np.ones_like(x)
    assert all(a is b for a, b in zip(base.split_batch((x, clean)), (x, clean, None)))
    with pytest.raises(ValueError, match="do not support sample_weight"):
        base.split_batch((x, clean, np.ones(4)))


# ------------------------------------------- labels train like x alone
CASES = [  # (kind, labels): the brief's four labelled inputs
    ("array", int_labels),
    ("array", attributes),
    ("tf.data", attributes),
    ("PyDataset", int_labels),
]


@pytest.fixture(scope="module")
def baselines():
    return {}


@pytest.mark.parametrize("model", ["ae", "vae", "gan"])
@pytest.mark.parametrize("kind,labels", CASES, ids=[f"{k}-{f.__name__}" for k, f in CASES])
def test_labelled_data_trains_exactly_as_x_alone(model, kind, labels, images, baselines):
    x = data_for(model, images)
    # x alone as an array is the baseline of arrays and tf.data (the same
    # batches, in the same order); a PyDataset is compared with a PyDataset
    # (on TensorFlow a VAE's noise differs between the two input kinds).
    base_kind = "PyDataset" if kind == "PyDataset" else "array"
    if (model, base_kind) not in baselines:
        baselines[(model, base_kind)] = fitted(model, base_kind, x)
    alone, alone_history = baselines[(model, base_kind)]
    labelled, history = fitted(model, kind, x, labels())
    assert steps(labelled) == steps(alone) == N // BATCH
    assert_same_weights(labelled, alone)
    for key in alone_history:
        np.testing.assert_allclose(history[key], alone_history[key], rtol=1e-5, atol=1e-6)
    # Training did something: the weights moved from their initial values.
    assert any(not np.allclose(a, b) for a, b in zip(weights(make(model)), weights(alone)))


def test_labelled_generator_and_validation_data_train_as_x_alone(images):
    # Generators are not peeked at: the rule in train_step alone decides.
    x = images[:N]
    alone, _ = fitted("vae", "generator", x)
    labelled, _ = fitted("vae", "generator", x, int_labels())
    assert_same_weights(labelled, alone)
    # Validation data: a labelled tf.data stream against the images alone.
    val, val_labels = images[N : N + 16], attributes()[:16]
    alone, alone_history = fitted("ae", "array", x, validation_data=as_kind("tf.data", val)[0])
    labelled, history = fitted(
        "ae", "array", x, int_labels(), validation_data=as_kind("tf.data", val, val_labels)[0]
    )
    assert_same_weights(labelled, alone)
    np.testing.assert_allclose(history["val_loss"], alone_history["val_loss"], rtol=1e-5)


@pytest.mark.parametrize("model", ["ae", "vae", "gan"])
def test_evaluate_on_labelled_data_equals_evaluate_on_x(model, images):
    # (Streams reach test_step through the same split_batch: see the
    # labelled validation stream above.)
    x = data_for(model, images)
    logs = {}
    for y in (None, attributes()):
        logs[y is None] = make(model).evaluate(x, y, batch_size=BATCH, verbose=0, return_dict=True)
    assert logs[True].keys() == logs[False].keys()
    for key in logs[True]:
        np.testing.assert_allclose(logs[False][key], logs[True][key], rtol=1e-6, atol=1e-7)
    if model == "ae":  # The loss and compiled metric are against x, from NumPy.
        ae = make("ae")
        x_hat = np.clip(ae.reconstruct(x).astype("float64"), 1e-7, 1 - 1e-7)
        bce = -np.mean(x * np.log(x_hat) + (1 - x) * np.log(1 - x_hat))
        np.testing.assert_allclose(logs[False]["loss"], bce, rtol=1e-4)
        np.testing.assert_allclose(logs[False]["mae"], np.mean(np.abs(x_hat - x)), rtol=1e-4)


# ------------------------------------------ image-shaped y is a target
def test_denoising_pairs_still_train_against_the_target(images):
    clean = images[:N]
    noisy = np.clip(clean + np.random.default_rng(2).normal(0, 0.2, clean.shape), 0, 1).astype("float32")
    # The VAE here; the AutoEncoder's loss is checked against NumPy below.
    alone, _ = fitted("vae", "array", noisy)
    pairs, _ = fitted("vae", "array", noisy, clean)
    assert steps(pairs) == N // BATCH
    assert any(not np.allclose(a, b, atol=1e-5) for a, b in zip(weights(pairs), weights(alone)))


@pytest.mark.parametrize("kind", ["array", "tf.data", "PyDataset"])
def test_denoising_loss_is_against_the_target(kind, images):
    # MSE(clean, AE(noisy)) computed in NumPy, not MSE(noisy, AE(noisy)).
    clean = images[:N]
    noisy = np.clip(clean + np.random.default_rng(2).normal(0, 0.2, clean.shape), 0, 1).astype("float32")
    ae = keras_gen.AutoEncoder(helpers.tiny_encoder(), helpers.tiny_decoder())
    ae.compile(optimizer="adam")
    data, target, fit_kwargs = as_kind(kind, noisy, clean)
    fit_kwargs.pop("shuffle", None)
    logs = ae.evaluate(data, target, verbose=0, return_dict=True, **fit_kwargs)
    x_hat = ae.reconstruct(noisy).astype("float64")
    expected = np.mean((x_hat - clean) ** 2)
    np.testing.assert_allclose(logs["loss"], expected, rtol=1e-5)
    assert abs(expected - np.mean((x_hat - noisy) ** 2)) > 1e-4


# -------------------------------------------------------- neither: an error
@pytest.mark.parametrize("kind", ["array", "tf.data", "PyDataset", "generator"])
def test_a_y_that_is_neither_labels_nor_a_target_is_named(kind, images):
    x = images[:N]
    wrong = np.random.default_rng(0).random((N, 5, 5)).astype("float32")
    where = {  # A generator's first batch is checked as Keras takes it.
        "array": "", "generator": ", in the first batch of the generator x",
        "tf.data": ", in the first batch of the tf.data.Dataset x",
        "PyDataset": ", in the first batch of the PyDataset x",
    }[kind]
    batch = "16" if kind == "array" else "(8|None)"  # Tracing may not know the batch size.
    for model in ("ae", "vae"):
        built = make(model)
        data, target, fit_kwargs = as_kind(kind, x, wrong)
        with pytest.raises(ValueError, match=(
            r"y must be labels \(integer or bool values, or one vector per example.*"
            r"or floating-point target images of the input images' shape \(8, 8, 1\).*"
            rf"Received: y of shape \({batch}, 5, 5\) and dtype float32, with x of shape "
            rf"\({batch}, 8, 8, 1\){where}($|\n)"
        )):
            built.fit(data, target, epochs=1, verbose=0, **fit_kwargs)
        if kind != "generator":  # (JAX leaves the optimizer unreadable after a failed trace.)
            assert steps(built) == 0


@pytest.mark.parametrize("kind", ["array", "tf.data"])
def test_integer_images_as_y_are_named_not_ignored(kind, images):
    # uint8 clean images would be integer "labels" of the images' shape:
    # refused (keras-gen never rescales integer pixels silently).
    x = images[:N]
    pixels = np.round(x * 255).astype("uint8")
    ae = make("ae")
    data, target, fit_kwargs = as_kind(kind, x, pixels)
    with pytest.raises(ValueError, match=r"y has an integer or bool dtype and the shape of the images.*input_range=\(0, 255\).*dtype uint8"):
        ae.fit(data, target, epochs=1, verbose=0, **fit_kwargs)
    gan = make("gan")
    real = data_for("gan", images)
    data, target, fit_kwargs = as_kind(kind, real, np.zeros(real.shape, "int32"))
    with pytest.raises(ValueError, match=r"integer or bool dtype and the shape of the images"):
        gan.fit(data, target, epochs=1, verbose=0, **fit_kwargs)
    assert steps(ae) == steps(gan) == 0


@pytest.mark.parametrize("kind", ["array", "tf.data"])
def test_text_labels_are_named_where_keras_cannot_feed_them(kind, images):
    # Keras' array adapter cannot convert text arrays (it failed deep inside
    # fit with "Invalid dtype: str32"); JAX and PyTorch cannot take text
    # tensors from tf.data either. Only TensorFlow with tf.data carries them.
    x = images[:N]
    names = np.array([f"class_{i % 3}" for i in range(N)])
    ae = make("ae")
    data, target, fit_kwargs = as_kind(kind, x, names)
    if kind == "tf.data" and keras.backend.backend() == "tensorflow":
        ae.fit(data, target, epochs=1, verbose=0, **fit_kwargs)
        assert steps(ae) == N // BATCH
        return
    with pytest.raises(ValueError, match=r"y holds text labels, which Keras cannot feed.*drop them.*"
                                         r"Received: y of dtype string and shape \((16|8),\)"):
        ae.fit(data, target, epochs=1, verbose=0, **fit_kwargs)
    assert steps(ae) == 0
