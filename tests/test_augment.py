"""keras_gen.augment: DiffAugment's transforms against NumPy, ADA's probability, GAN use."""

import os
import re

import keras
import numpy as np
import pytest

import keras_gen
from keras_gen.augment import AdaptiveAugment, DiffAugment

BACKEND = keras.backend.backend()
one_backend = pytest.mark.skipif(
    BACKEND != "jax", reason="backend-independent argument checks: tested on JAX only"
)


def _np(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


def _positive_images(shape, seed=0):
    """Images with no zero pixel, so that zero fill and cutout are visible."""
    return np.random.default_rng(seed).uniform(0.1, 1.0, shape).astype("float32")


def _numpy_shift(image, dy, dx):
    """image shifted by (dy, dx) pixels (content moves down / right), zero fill."""
    h, w = image.shape[:2]
    out = np.zeros_like(image)
    ys, xs = slice(max(dy, 0), min(h + dy, h)), slice(max(dx, 0), min(w + dx, w))
    ys_in, xs_in = slice(max(-dy, 0), min(h - dy, h)), slice(max(-dx, 0), min(w - dx, w))
    out[ys, xs] = image[ys_in, xs_in]
    return out


_JITTED = {}


def _jitted(layer, kind, fn):
    """``jax.jit(fn)``, compiled once per layer and kind (the layer is the key: never reused)."""
    import jax

    key = (layer, kind)
    if key not in _JITTED:
        _JITTED[key] = jax.jit(fn)
    return _JITTED[key]


def _augment(layer, x):
    """``layer(x, training=True)`` as NumPy, advancing the layer's seed state.

    On JAX through one jitted ``stateless_call``: eager JAX compiles every op
    on first use, which costs more than compiling the whole call once.
    """
    if BACKEND != "jax":
        return _np(layer(x, training=True))
    import jax

    variables = layer.non_trainable_variables
    call = _jitted(
        layer, "call", lambda values, x: layer.stateless_call([], values, x, training=True)
    )
    y, values = call([v.value for v in variables], x)
    for variable, value in zip(variables, values):
        variable.assign(value)
    return _np(y)


def _augment_and_input_grad(layer, x, w):
    """(layer(x, training=True), gradient of sum(w * layer(x)) w.r.t. x) on this backend."""
    if BACKEND == "tensorflow":
        import tensorflow as tf

        x = tf.convert_to_tensor(x)
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=True)
            loss = tf.reduce_sum(y * w)
        return _np(y), _np(tape.gradient(loss, x))
    if BACKEND == "jax":
        import jax

        def loss(x, values):
            y, _ = layer.stateless_call([], values, x, training=True)
            return (y * w).sum(), y

        step = _jitted(layer, "grad", jax.value_and_grad(loss, has_aux=True))
        (_, y), grad = step(x, [v.value for v in layer.non_trainable_variables])
        return _np(y), _np(grad)
    import torch

    x = torch.tensor(x, requires_grad=True)
    y = layer(x, training=True)
    (y * torch.tensor(w, device=y.device)).sum().backward()
    return _np(y), _np(x.grad)


# ------------------------------------------------------------ DiffAugment
# One image size for most tests (non-square, so rows and columns are told
# apart): eager JAX compiles every op once per shape.
RGB, GRAY = (48, 8, 12, 3), (48, 8, 12, 1)


def test_translation_is_an_integer_zero_filled_shift():
    shape = RGB
    x = _positive_images(shape)
    y = _augment(DiffAugment("translation", seed=3), x)
    max_dy, max_dx = int(shape[1] / 8 + 0.5), int(shape[2] / 8 + 0.5)
    drawn = []
    for image, out in zip(x, y):
        matches = [
            (dy, dx)
            for dy in range(-max_dy, max_dy + 1)
            for dx in range(-max_dx, max_dx + 1)
            if np.array_equal(out, _numpy_shift(image, dy, dx))
        ]
        assert len(matches) == 1, matches  # exactly one shift within range explains it
        drawn.append(matches[0])
    dys, dxs = zip(*drawn)
    # The draws cover the range in both directions (48 images, 3 x 5 shifts).
    assert min(dys) == -max_dy and max(dys) == max_dy
    assert min(dxs) < 0 < max(dxs)


@pytest.mark.parametrize("shape,fraction", [(RGB, 0.5), (GRAY, 0.3)])
def test_cutout_zeroes_one_patch_of_the_right_size(shape, fraction):
    x = _positive_images(shape)
    y = _augment(DiffAugment("cutout", cutout=fraction, seed=1), x)
    size_h, size_w = int(shape[1] * fraction + 0.5), int(shape[2] * fraction + 0.5)
    tops = set()
    for image, out in zip(x, y):
        cut = np.all(out == 0, axis=-1)
        rows, cols = np.nonzero(cut)
        top, left = rows.min(), cols.min()
        expected = np.zeros(cut.shape, bool)
        expected[top : top + size_h, left : left + size_w] = True
        np.testing.assert_array_equal(cut, expected)
        np.testing.assert_array_equal(out[~cut], image[~cut])  # the rest untouched
        assert np.all(out[cut] == 0)
        tops.add((top, left))
    assert len(tops) > 3  # positions vary per image


def _affine_fit(a, b):
    """Least-squares (slope, intercept) of b ~ slope * a + intercept."""
    slope, intercept = np.polyfit(a.ravel(), b.ravel(), 1)
    return slope, intercept


def test_color_matches_the_formulas_rgb():
    x = np.random.default_rng(0).uniform(-1, 1, RGB).astype("float32")
    y = _augment(DiffAugment("color", seed=2), x).astype("float64")
    x = x.astype("float64")
    # brightness b, saturation s, contrast c compose to
    # y = c*s*(x - x_c) + c*(x_c - m) + m + b  (x_c: mean over channels, m: image mean)
    draws = []
    for image, out in zip(x, y):
        m, x_c = image.mean(), image.mean(axis=-1, keepdims=True)
        b = out.mean() - m
        c, _ = _affine_fit(x_c - m, out.mean(axis=-1, keepdims=True))
        cs, _ = _affine_fit(image - x_c, out - out.mean(axis=-1, keepdims=True))
        s = cs / c
        expected = c * s * (image - x_c) + c * (x_c - m) + m + b
        np.testing.assert_allclose(out, expected, atol=2e-5)
        draws.append((b, s, c))
    b, s, c = np.array(draws).T
    assert -0.5 <= b.min() < -0.35 and 0.35 < b.max() <= 0.5
    assert 0.0 <= s.min() < 0.3 and 1.7 < s.max() <= 2.0
    assert 0.5 <= c.min() < 0.65 and 1.35 < c.max() <= 1.5


def test_color_on_one_channel_is_brightness_and_contrast():
    x = np.random.default_rng(1).uniform(-1, 1, GRAY).astype("float32")
    y = _augment(DiffAugment("color", seed=4), x).astype("float64")
    draws = []
    for image, out in zip(x.astype("float64"), y):
        m = image.mean()
        c, intercept = _affine_fit(image - m, out)  # y = c*(x - m) + m + b
        b = intercept - m
        np.testing.assert_allclose(out, c * (image - m) + m + b, atol=2e-5)
        draws.append((b, c))
    b, c = np.array(draws).T
    assert -0.5 <= b.min() < -0.35 and 0.35 < b.max() <= 0.5
    assert 0.5 <= c.min() < 0.65 and 1.35 < c.max() <= 1.5


def test_gradient_is_the_transpose_of_the_drawn_affine_map():
    # For fixed draws every policy is affine in x: y(x) = A x + c, so the
    # gradient g of sum(w * y) satisfies <g, v> = sum(w * (y(x + v) - y(x))).
    # AdaptiveAugment at p = 0.5: every transform, each applied or not per image.
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, RGB).astype("float32")
    v = rng.normal(size=x.shape).astype("float32")
    w = rng.normal(size=x.shape).astype("float32")
    layer = AdaptiveAugment(initial_probability=0.5, seed=5)
    state = _np(layer.seed_generator.state)
    y, grad = _augment_and_input_grad(layer, x, w)
    layer.seed_generator.state.assign(state)  # the same draws again
    y_moved, _ = _augment_and_input_grad(layer, x + v, w)
    assert np.abs(grad).sum() > 0
    assert np.sum(grad * v) == pytest.approx(np.sum(w * (y_moved - y)), rel=1e-3, abs=1e-3)


def test_not_training_is_identity():
    x = _positive_images(RGB)
    for layer in (DiffAugment(seed=0), AdaptiveAugment(initial_probability=1.0, seed=0)):
        np.testing.assert_array_equal(_np(layer(x)), x)
        np.testing.assert_array_equal(_np(layer(x, training=False)), x)


# --------------------------------------------------------------------- ADA
def _p(layer):
    return float(_np(layer.probability))


def test_ada_probability_moves_by_batch_over_ramp_images():
    ada = AdaptiveAugment(ramp_images=100, target=0.6, seed=0)
    overfit = np.full((10, 1), 3.0, "float32")  # r_t = 1 > 0.6
    for step in range(1, 4):
        ada.observe(overfit)
        assert _p(ada) == pytest.approx(0.1 * step, abs=1e-6)
    for _ in range(20):
        ada.observe(overfit)
    assert _p(ada) == 1.0  # clipped
    # r_t = 0.2 (6 positive, 4 negative): below the target, p falls.
    mixed = np.array([[1.0]] * 6 + [[-1.0]] * 4, "float32")
    ada.observe(mixed)
    assert _p(ada) == pytest.approx(0.9, abs=1e-6)
    # r_t exactly at the target (8 positive, 2 negative -> 0.6): not above, p falls.
    ada.observe(np.array([[1.0]] * 8 + [[-1.0]] * 2, "float32"))
    assert _p(ada) == pytest.approx(0.8, abs=1e-6)
    for _ in range(20):
        ada.observe(-overfit)
    assert _p(ada) == 0.0  # clipped
    p_metric, rt_metric = ada.metrics
    assert p_metric.name == "augment_p" and float(_np(p_metric.result())) == 0.0
    assert rt_metric.name == "augment_rt"


def test_ada_applies_each_transform_with_probability_p():
    x = _positive_images(GRAY)
    ada = AdaptiveAugment("cutout", seed=0)
    np.testing.assert_array_equal(_augment(ada, x), x)  # p = 0
    ada.probability.assign(1.0)
    assert np.all(np.any(_augment(ada, x) == 0, axis=(1, 2, 3)))
    ada.probability.assign(0.5)
    changed = np.any(_augment(ada, x) != x, axis=(1, 2, 3)).mean()
    assert 0.3 < changed < 0.7


# ------------------------------------------------------------ with the GAN
def _tiny_gan(augment, d_bias=0.0):
    g = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(8 * 8 * 3, activation="tanh"),
         keras.layers.Reshape((8, 8, 3))]
    )
    d = keras.Sequential(
        [keras.Input((8, 8, 3)), keras.layers.Flatten(),
         keras.layers.Dense(1, bias_initializer=keras.initializers.Constant(d_bias))]
    )
    gan = keras_gen.GAN(g, d, latent_dim=4, seed=0, augment=augment)
    gan.compile(d_optimizer=keras.optimizers.Adam(1e-4), g_optimizer=keras.optimizers.Adam(1e-4))
    return gan


def test_gan_with_ada_moves_p_during_fit_and_round_trips(tmp_path):
    ada = AdaptiveAugment("cutout", ramp_images=100, seed=7)  # the smallest compiled step
    # A discriminator that calls every real image real (bias 50): r_t = 1,
    # so p rises by 8/100 per step: 2 steps of 8 images -> 0.16.
    gan = _tiny_gan(ada, d_bias=50.0)
    real = np.random.default_rng(0).uniform(-1, 1, (16, 8, 8, 3)).astype("float32")
    # The GAN logs the layer's metrics itself: p after the last step, r_t's mean.
    history = gan.fit(real, batch_size=8, epochs=1, verbose=0, shuffle=False)
    assert _p(gan.augment) == pytest.approx(0.16, abs=1e-6)
    assert history.history["augment_p"] == [pytest.approx(0.16, abs=1e-6)]
    assert history.history["augment_rt"] == [pytest.approx(1.0, abs=1e-6)]
    assert np.isfinite(history.history["d_loss"][0])

    path = os.path.join(tmp_path, "gan.keras")
    gan.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded.augment, AdaptiveAugment)
    assert loaded.augment.get_config() == gan.augment.get_config()
    assert _p(loaded.augment) == pytest.approx(0.16, abs=1e-6)
    state = _np(gan.augment.seed_generator.state)
    np.testing.assert_array_equal(_np(loaded.augment.seed_generator.state), state)
    # The state advanced during fit (3 augment calls per step), and that
    # advance is what was restored: the next draws are the same.
    assert not np.array_equal(state, _np(AdaptiveAugment(seed=7).seed_generator.state))


def test_adaptive_augment_is_refused_with_a_wasserstein_critic():
    """A critic's offset is free (the loss and the penalty ignore it), so E[sign(D(x))]
    steered p by an arbitrary bias: p ran to 1 or stayed at 0 by the bias' sign alone."""
    gan = _tiny_gan(None)
    with pytest.raises(ValueError, match=r"does not apply to objective='wgan-gp'.*DiffAugment"):
        keras_gen.GAN(gan.generator, gan.discriminator, latent_dim=4, objective="wgan-gp",
                      augment=AdaptiveAugment(seed=0))
    fixed = keras_gen.GAN(gan.generator, gan.discriminator, latent_dim=4, objective="wgan-gp",
                          augment=DiffAugment(seed=0))
    assert isinstance(fixed.augment, DiffAugment)


def test_a_saved_wasserstein_gan_with_adaptive_augment_still_loads(tmp_path, monkeypatch):
    """Files saved before the pairing was refused (dcgan_celeba.py's grey defaults gave
    wgan-gp ADA) must keep loading: with a warning, the same weights and p."""
    from keras_gen.models import gan as gan_module

    gan = _tiny_gan(None)
    monkeypatch.setattr(gan_module, "_LOADING_ADAPTIVE_CRITIC", True)  # as earlier versions made it
    old = keras_gen.GAN(gan.generator, gan.discriminator, latent_dim=4, objective="wgan-gp", seed=0,
                        augment=AdaptiveAugment("cutout", seed=0, initial_probability=0.3))
    monkeypatch.setattr(gan_module, "_LOADING_ADAPTIVE_CRITIC", False)
    old.compile(d_optimizer=keras.optimizers.Adam(1e-4), g_optimizer=keras.optimizers.Adam(1e-4))
    path = os.path.join(tmp_path, "old.keras")
    old.save(path)
    with pytest.warns(UserWarning, match=r"pairs objective='wgan-gp' with an adaptive augment layer"):
        loaded = keras.saving.load_model(path)
    assert isinstance(loaded.augment, AdaptiveAugment) and _p(loaded.augment) == pytest.approx(0.3)
    np.testing.assert_allclose(_np(loaded.sample(4, seed=1)), _np(old.sample(4, seed=1)), atol=1e-6)


def test_validation_keeps_the_logged_p_and_evaluation_does_not_report_it():
    """Validation reset the trackers before Keras read the epoch's augment_p (TensorFlow,
    PyTorch: 0.0 logged); evaluation never observes, so it reported p = 0 and r_t = 0."""
    ada = AdaptiveAugment("cutout", ramp_images=100, seed=7)
    gan = _tiny_gan(ada, d_bias=50.0)
    real = np.random.default_rng(0).uniform(-1, 1, (16, 8, 8, 3)).astype("float32")
    history = gan.fit(real, batch_size=8, epochs=1, verbose=0, shuffle=False,
                      validation_data=(real,)).history
    assert history["augment_p"] == [pytest.approx(0.16, abs=1e-6)]
    assert history["augment_rt"] == [pytest.approx(1.0, abs=1e-6)]
    assert "val_augment_p" not in history and "val_augment_rt" not in history
    assert "val_d_loss" in history
    scores = gan.evaluate(real, batch_size=8, verbose=0, return_dict=True)
    assert "augment_p" not in scores and "augment_rt" not in scores and "d_loss" in scores
    assert _p(gan.augment) == pytest.approx(0.16, abs=1e-6)  # evaluation leaves p alone


@pytest.mark.skipif(
    BACKEND != "tensorflow", reason="only TensorFlow traces with an unknown batch size"
)
def test_unknown_batch_size_in_a_traced_function():
    import tensorflow as tf

    layer = AdaptiveAugment(initial_probability=1.0, seed=0)
    fn = tf.function(
        lambda x: layer(x, training=True), input_signature=[tf.TensorSpec((None, 8, 8, 3))]
    )
    for batch in (3, 5):
        x = _positive_images((batch, 8, 8, 3))
        y = _np(fn(x))
        assert y.shape == x.shape and not np.array_equal(y, x)


# -------------------------------------------------------------- arguments
@one_backend
@pytest.mark.parametrize(
    "kwargs,fragment",
    [
        ({"policy": "color,rotate"}, "policy=" + repr("color,rotate")),
        ({"policy": ""}, "policy=''"),
        ({"policy": ["cutout", "cutout"]}, "policy=['cutout', 'cutout']"),
        ({"policy": 3}, "policy=3"),
        ({"translation": 0.0}, "translation=0.0"),
        ({"translation": 0.75}, "translation=0.75"),
        ({"cutout": 1.0}, "cutout=1.0"),
        ({"cutout": "half"}, "cutout='half'"),
        ({"seed": 1.5}, "seed=1.5"),
    ],
)
def test_bad_arguments_name_argument_and_value(kwargs, fragment):
    for cls in (DiffAugment, AdaptiveAugment):
        with pytest.raises(ValueError, match="Received: " + re.escape(fragment)):
            cls(**kwargs)


@one_backend
@pytest.mark.parametrize(
    "kwargs,fragment",
    [
        ({"target": 1.0}, "target=1.0"),
        ({"ramp_images": 0}, "ramp_images=0"),
        ({"ramp_images": 10.5}, "ramp_images=10.5"),
        ({"initial_probability": 1.5}, "initial_probability=1.5"),
    ],
)
def test_bad_adaptive_arguments(kwargs, fragment):
    with pytest.raises(ValueError, match="Received: " + re.escape(fragment)):
        AdaptiveAugment(**kwargs)


@one_backend
def test_bad_input_shape_and_config_round_trip():
    with pytest.raises(ValueError, match=r"\(batch, H, W, C\).*Received: input shape \(4, 8, 8\)"):
        DiffAugment()(np.zeros((4, 8, 8), "float32"), training=True)
    ada = AdaptiveAugment("cutout,color", translation=0.25, cutout=0.25, seed=3, target=0.5,
                          ramp_images=500, initial_probability=0.25)
    clone = AdaptiveAugment.from_config(ada.get_config())
    assert clone.get_config() == ada.get_config()
    assert clone.policy == ("cutout", "color") and _p(clone) == 0.25
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(ada))
    assert type(restored) is AdaptiveAugment


@pytest.mark.skipif(
    BACKEND != "torch", reason="layer-level saving is backend-independent: tested on PyTorch"
)
def test_layer_in_a_plain_keras_model_keeps_its_seed_state(tmp_path):
    ada = AdaptiveAugment("cutout", initial_probability=0.25, seed=1)
    model = keras.Sequential([keras.Input((8, 12, 1)), ada])
    _augment(ada, _positive_images(GRAY))  # advance the stream
    path = os.path.join(tmp_path, "plain.keras")
    model.save(path)
    loaded = keras.saving.load_model(path).layers[-1]
    assert isinstance(loaded, AdaptiveAugment) and _p(loaded) == 0.25
    np.testing.assert_array_equal(_np(loaded.seed_generator.state), _np(ada.seed_generator.state))
    fresh = AdaptiveAugment(seed=1).seed_generator.state
    assert not np.array_equal(_np(loaded.seed_generator.state), _np(fresh))
